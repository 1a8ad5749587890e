"""The plan cache: what ``act`` did last time, replayed without the model while the screens match.

Each ``act`` of a test has one entry: the recorded run of its last success (a trajectory folder,
``trajectory.jsonl`` and its screenshots, as ``agent run`` writes them; readable with ``agent show``
and ``agent report``), under ``<cache dir>/<test name>/<n>-<instruction>/``. The next run replays
it through self-healing replay: a step is replayed only while the live screen matches the screen
it was recorded on (agent.compare), and the model plans every step where it does not, so a stale
entry never clicks blindly. Commit the cache folder beside the tests.

Modes (``--vl-cache``): ``off`` (no cache), ``read`` (use entries, never write), ``write`` (ignore
entries, record new ones), ``update`` (use entries; write one where there was none or where the
model had to plan a step).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent.trajectory import Trajectory, TrajectoryError, read_trajectory

CacheMode = Literal["off", "read", "write", "update"]
MODES: tuple[CacheMode, ...] = ("off", "read", "write", "update")


@dataclass
class PlanCache:
    """The plans of one test: ``folder`` is ``<cache dir>/<test name>``."""

    folder: Path
    mode: CacheMode = "update"
    used: list[str] = field(default_factory=list)  # the entries this test has looked up, in order

    def entry(self, instruction: str) -> Path:
        """The folder of the next ``act`` of this test (the n-th act with this instruction)."""
        slug = re.sub(r"[^a-z0-9]+", "-", instruction.lower()).strip("-")[:48] or "act"
        name = f"{len(self.used):02d}-{slug}"
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
