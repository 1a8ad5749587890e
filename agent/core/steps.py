"""What a run hands back: its :class:`RunResult`, and the records of its steps.

A :class:`Step` is the same typed record the trajectory stores (agent.trajectory.records).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlagent.agent.trajectory.records import ReplayOutcome, Status, Step, StepError

# Errors in the model's answer: the step is retried with feedback. The others end the run.
MODEL_OUTPUT_ERRORS: frozenset[str] = frozenset({"parse", "validation", "policy"})


@dataclass
class RunResult:
    """How a run ended. ``reason`` is one line for people; ``answer`` is set by ``answer``."""

    status: Status
    reason: str
    answer: str | None
    steps: list[Step]
    run_dir: Path | None = None
    replay: ReplayOutcome | None = None
    """Set by self-healing replay: what the model planned and whether the run re-joined."""

    @property
    def succeeded(self) -> bool:
        return self.status in ("success", "answered")


__all__ = ["MODEL_OUTPUT_ERRORS", "RunResult", "Status", "Step", "StepError"]
