"""What a run hands back: its :class:`RunResult`, each :class:`Decision`, and each :class:`Step`.

These are the library's types, apart from the lines of ``trajectory.jsonl``
(agent.trajectory.records): a step here holds its whole prompt, the file's line holds only what
changed since the step before, and the recorder turns one into the other. So the file format can
change its version without changing what a run hands its caller, and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vlagent.agent.trajectory.records import (
    ActionRecord,
    CallRecord,
    ElementRecord,
    Outcome,
    ReplayOutcome,
    Status,
    StepError,
)
from vlagent.environments import Observation
from vlagent.tools import ToolCall
from vlagent.tools.errors import VlagentError

# Errors in the model's answer: the step is retried with feedback. The others end the run.
MODEL_OUTPUT_ERRORS: frozenset[str] = frozenset({"parse", "validation", "policy"})


class Step(BaseModel):
    """One model call and what came of it, filled in as the step goes.

    Its parts (the calls as written, the action three ways, the outcome, the error, the listed
    elements) are the value types the file stores too; docs/trajectory-format.md says what each
    field means."""

    index: int = Field(ge=0)
    started_at: str
    image_size: tuple[int, int]
    scale: float = Field(gt=0)
    frame: tuple[float, float]
    """The size of the image in the model's own coordinate space."""
    screen_hash: str | None = None
    """Not computed on the control loop (a hash of every frame cost 11 ms): the trajectory's
    line has it, computed by the recorder's writer thread."""
    prompt_text: str = ""
    """The whole prompt as the model read it."""
    prompt_tokens: int | None = None
    output_text: str | None = None
    completion_tokens: int | None = None
    calls: list[CallRecord] = Field(default_factory=list)
    action: ActionRecord | None = None
    result: Outcome | None = None
    error: StepError | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    screenshot: str | None = None
    """The screenshot's path inside the run folder (None when nothing is recorded)."""
    elements: list[ElementRecord] | None = None
    image_name: str | None = None
    views: dict[str, str] | None = None
    depth: dict[str, str] | None = None
    state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @property
    def executed(self) -> bool:
        """True when the step's action reached the device."""
        return self.error is None and self.result is not None and self.result.executed


INTERRUPTED = "interrupted by the user"
"""The reason of a run that Ctrl-C (or SIGTERM) ended: ``status`` aborted."""


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

    @property
    def interrupted(self) -> bool:
        """Ended by Ctrl-C: a caller that runs more (a test session) stops too."""
        return self.status == "aborted" and self.reason == INTERRUPTED


class RunFinished(VlagentError, RuntimeError):
    """A step was asked of a run that has ended (``Run.result`` says how)."""


class EpisodeOver(VlagentError, RuntimeError):
    """A run was started on an environment whose episode the last run saw end."""


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
    number: int | None = None
    """The call's number in the run's history (what the prompt's list calls it)."""

    @property
    def pending(self) -> bool:
        return self.action is not None


__all__ = [
    "MODEL_OUTPUT_ERRORS",
    "Decision",
    "EpisodeOver",
    "RunFinished",
    "RunResult",
    "Status",
    "Step",
    "StepError",
]
