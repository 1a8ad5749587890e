"""The plan cache: what each verb of a test did last time, reused without the model where the
screen allows it.

Each verb of a test has one entry: the recorded run of its last success (a trajectory folder,
``trajectory.jsonl`` and its screenshots, as ``agent run`` writes them; readable with ``agent show``
and ``agent report``). Commit the cache folder beside the tests.

Keys. A test's folder is named after its pytest node id (file, class, name, parameters), so two
``test_count`` in two files never share one; inside it an entry is named by its verb, its
instruction and its occurrence (the second ``check("saved")`` of a test is ``…-2``), never by its
position: a verb inserted at the top of a test re-plans that verb only. Instructions are keyed
with every live secret masked (tools/secrets.py), so no value ever names a folder.

- ``act``: the next run replays the entry through self-healing replay. A step is replayed only
  while the live screen matches the screen it was recorded on (agent.compare, around the point
  the step touches), and the model plans every step where it does not, so a stale entry never
  clicks blindly. Its verdict (``terminate``, ``answer``) is reused only on an unchanged screen.
- ``tap`` and the other single-shot gestures: the recorded point is reused when the screen
  matches by the replay rule, around that point.
- ``check``, ``wait_for``, ``query`` and ``locate``: a recorded answer is reused only on a screen
  where no pixel changed beyond rendering noise (``compare_unchanged``): an answer may rest on any
  text anywhere on the screen.

Modes (``--vl-cache``): ``off`` (no cache), ``read`` (use entries, never write), ``write`` (ignore
entries, record new ones), ``update`` (use entries; write one where there was none or where the
model had to answer), ``prune`` (as ``read``, then list the entries no test reached).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from vlagent.agent.replay.healing import identical, verdict_matches
from vlagent.agent.replay.replayer import matches, recorded_screen
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.trajectory import Step, Trajectory, TrajectoryError, read_trajectory
from vlagent.agent.trajectory.recorder import image_digest
from vlagent.prompts import Prompt
from vlagent.tools.secrets import redact

CacheMode = Literal["off", "read", "write", "update", "prune"]
MODES: tuple[CacheMode, ...] = ("off", "read", "write", "update", "prune")
NODE_FILE = "node.json"
"""In a test's folder: the node id it belongs to (what ``prune`` compares with the collection)."""
TEXT_SUFFIXES = (".jsonl", ".json", ".txt", ".html", ".md")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def slug(text: str, length: int = 48) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")[:length]


def folder_of(cache_dir: Path, node_id: str) -> Path:
    """The folder of one test's entries: readable, and unique per node id (two ids that read the
    same after the unsafe characters go still differ in the digest)."""
    return cache_dir / f"{slug(node_id, 80) or 'test'}-{digest(node_id)}"


@dataclass
class PlanCache:
    """The plans of one test: ``folder`` is :func:`folder_of` its node id."""

    folder: Path
    mode: CacheMode = "update"
    node_id: str = ""
    used: list[str] = field(default_factory=list)  # the entries this test has looked up, in order
    _seen: Counter[str] = field(default_factory=Counter, init=False, repr=False)

    @property
    def reads(self) -> bool:
        return self.mode in ("read", "update", "prune")

    @property
    def writes(self) -> bool:
        return self.mode in ("write", "update")

    def entry(self, verb: str, instruction: str) -> Path:
        """The folder of this verb with this instruction, at its occurrence in the test."""
        said = redact(instruction)  # a secret's value never names (or keys) a folder
        key = f"{verb}\n{said}"
        self._seen[key] += 1
        words = re.sub(r"[^a-z0-9]+", "-", said.lower()).strip("-")[:48] or verb
        count = self._seen[key]
        name = f"{verb}-{words}-{digest(key)}" + (f"-{count}" if count > 1 else "")
        self.used.append(name)
        return self.folder / name

    def lookup(self, entry: Path) -> Trajectory | None:
        """The recorded plan at ``entry`` when the mode reads plans and a readable one is there."""
        if not self.reads or not (entry / "trajectory.jsonl").is_file():
            return None
        try:
            plan = read_trajectory(entry)
        except TrajectoryError:
            return None  # a damaged entry is planned again, and rewritten in update mode
        if plan.damaged_lines or plan.end is None or not plan.end.succeeded:
            return None
        return plan

    def should_store(self, had_plan: bool, model_planned: bool) -> bool:
        return self.mode == "write" or (self.mode == "update" and (not had_plan or model_planned))

    def store(self, entry: Path, run_dir: Path) -> None:
        """Make the recorded run ``run_dir`` the entry (replacing what was there). Every text file
        of it passes the secret redaction again: a plan folder is meant to be committed."""
        staging = entry.with_name(entry.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(run_dir, staging, ignore=shutil.ignore_patterns("report.html"))
        for path in staging.rglob("*"):
            if path.suffix in TEXT_SUFFIXES and path.is_file():
                # Every escaped form too: a JSON line holds "\u00e9" where the value has "é".
                text = path.read_text(encoding="utf-8", errors="surrogateescape")
                masked = redact(text)
                if masked != text:
                    path.write_text(masked, encoding="utf-8", errors="surrogateescape")
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)
        marker = self.folder / NODE_FILE
        if self.node_id and not marker.is_file():
            marker.write_text(json.dumps({"node": redact(self.node_id)}) + "\n", encoding="utf-8")

    def unreached(self) -> list[Path]:
        """This test's entries it did not look up (after a complete, passing run: stale)."""
        if not self.folder.is_dir():
            return []
        return sorted(
            p for p in self.folder.iterdir() if p.is_dir() and p.name not in set(self.used)
        )


class AnswerReplay(Runtime):
    """The model of a ``tap``, ``check``, ``wait_for`` or ``query`` with a cached entry: a prompt
    whose screen matches a recorded step's screen gets that step's answer back, any other prompt
    goes to ``model``. ``at_point``: match around the recorded answer's point (tap) instead of
    requiring an unchanged screen."""

    name = "cached-answers"

    def __init__(self, plan: Trajectory, model: Runtime, at_point: bool = False) -> None:
        self.plan, self.model, self.at_point = plan, model, at_point
        self.model_calls = 0
        # Latest first: a wait_for's answer that held is the one most worth reusing.
        answered = [
            s for s in plan.steps if s.action is not None and s.error is None and s.output_text
        ]
        self._answers = answered[::-1]
        self._screens: dict[int, Image.Image | None] = {}  # read only where the pixels differ
        self.model_id, self.model_type, self.resize = model.model_id, model.model_type, model.resize

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        answers: list[Completion] = []
        for prompt in prompts:
            recorded = self._matching(prompt)
            if recorded is None:
                self.model_calls += 1
                answers.extend(self.model.generate([prompt]))
            else:
                answers.append(
                    Completion(text=recorded.output_text or "", timings_ms={"cache": 0.0})
                )
        return answers

    def _matching(self, prompt: Prompt) -> Step | None:
        images = prompt.images()
        if not images:
            return None
        live, said = images[-1], prompt.metadata
        digest = image_digest(live)
        for step in self._answers:
            words = self.at_point and step.elements is not None and said.get("elements")
            if identical(step, digest, said.get("foreground")) and not words:
                return step
            if step.index not in self._screens:
                self._screens[step.index] = recorded_screen(self.plan, step)
            screen = self._screens[step.index]
            if screen is None or screen.size != live.size:
                continue  # the same pixel size, so the same frame: the answer's numbers hold
            if self._compare(screen, step, live, said):
                return step
        return None

    def _compare(
        self, screen: Image.Image, step: Step, live: Image.Image, said: dict[str, Any]
    ) -> bool:
        app, elements = said.get("foreground"), said.get("elements")
        if self.at_point:
            return matches(screen, step, live, foreground=app, elements=elements).same
        return verdict_matches(screen, step, live, app)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.model.describe()
        return {**described, "cached_answers_of": str(self.plan.path)}

    def close(self) -> None:
        self.model.close()
