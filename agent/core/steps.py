"""What a run hands back: its :class:`RunResult`, each :class:`Decision`, and the records of its
steps.

A :class:`Step` is the same typed record the trajectory stores (agent.trajectory.records).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from vlagent.agent.trajectory.records import ReplayOutcome, Status, Step, StepError
from vlagent.environments import Observation
from vlagent.tools import ToolCall
from vlagent.tools.errors import VlagentError

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


class RunFinished(VlagentError, RuntimeError):
    """A step was asked of a run that has ended (``Run.result`` says how)."""


@dataclass
class Decision:
    """What the model decided at one step. ``action`` is the validated action to execute, or None
    when there is nothing to execute (an invalid answer, a refusal, a run-ending call): then the
    step is already recorded. Otherwise the step waits for :meth:`Run.report`.

    ``overrun``: no decision came within the deadline given to :meth:`Run.decide`; there is no
    step (yet) and nothing to do this tick."""

    step: Step | None
    call: ToolCall | None
    action: BaseModel | None
    observation: Observation | None
    overrun: bool = False

    @property
    def pending(self) -> bool:
        return self.action is not None


__all__ = [
    "MODEL_OUTPUT_ERRORS",
    "Decision",
    "RunFinished",
    "RunResult",
    "Status",
    "Step",
    "StepError",
]
