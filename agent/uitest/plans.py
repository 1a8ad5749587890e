"""The plan cache: what ``act`` did last time, replayed without the model while the screens match.

Each verb of a test has one entry: the recorded run of its last success (a trajectory folder,
``trajectory.jsonl`` and its screenshots, as ``agent run`` writes them; readable with ``agent show``
and ``agent report``), under ``<cache dir>/<test name>/<n>-<verb>-<instruction>/``. Commit the
cache folder beside the tests.

- ``act``: the next run replays the entry through self-healing replay. A step is replayed only
  while the live screen matches the screen it was recorded on (agent.compare, around the point
  the step touches), and the model plans every step where it does not, so a stale entry never
  clicks blindly.
- ``tap``: the recorded answer (a point) is reused when the screen matches by the same rule.
- ``check``, ``wait_for`` and ``query``: a recorded answer is reused only on a screen where no
  pixel changed beyond rendering noise (``compare_unchanged``): an answer may rest on any text
  anywhere on the screen.

Modes (``--vl-cache``): ``off`` (no cache), ``read`` (use entries, never write), ``write`` (ignore
entries, record new ones), ``update`` (use entries; write one where there was none or where the
model had to plan a step).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from vlagent.agent.replay.compare import ScreenComparison, compare_unchanged
from vlagent.agent.replay.replayer import matches, recorded_screen
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.trajectory import Step, Trajectory, TrajectoryError, read_trajectory
from vlagent.prompts import Prompt

CacheMode = Literal["off", "read", "write", "update"]
MODES: tuple[CacheMode, ...] = ("off", "read", "write", "update")


@dataclass
class PlanCache:
    """The plans of one test: ``folder`` is ``<cache dir>/<test name>``."""

    folder: Path
    mode: CacheMode = "update"
    used: list[str] = field(default_factory=list)  # the entries this test has looked up, in order

    def entry(self, verb: str, instruction: str) -> Path:
        """The folder of this test's next verb (the n-th verb, whatever it is)."""
        slug = re.sub(r"[^a-z0-9]+", "-", instruction.lower()).strip("-")[:48] or verb
        name = f"{len(self.used):02d}-{verb}-{slug}"
        self.used.append(name)
        return self.folder / name

    def lookup(self, entry: Path) -> Trajectory | None:
        """The recorded plan at ``entry`` when the mode reads plans and a readable one is there."""
        if self.mode not in ("read", "update") or not (entry / "trajectory.jsonl").is_file():
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
        """Make the recorded run ``run_dir`` the entry (replacing what was there)."""
        staging = entry.with_name(entry.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(run_dir, staging, ignore=shutil.ignore_patterns("report.html"))
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)


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
        self._answers: list[tuple[Step, Image.Image]] = []
        for step in reversed(answered):
            screen = recorded_screen(plan, step)
            if screen is not None:
                self._answers.append((step, screen))
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
        for step, screen in self._answers:
            if screen.size == live.size and self._compare(screen, step, live, said).same:
                return step  # the same pixel size, so the same frame: the answer's numbers hold
        return None

    def _compare(
        self, screen: Image.Image, step: Step, live: Image.Image, said: dict[str, Any]
    ) -> ScreenComparison:
        if self.at_point:
            return matches(
                screen, step, live, foreground=said.get("foreground"), elements=said.get("elements")
            )
        return compare_unchanged(screen, live)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.model.describe()
        return {**described, "cached_answers_of": str(self.plan.path)}

    def close(self) -> None:
        self.model.close()
