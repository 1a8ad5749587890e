"""What one run works with. :meth:`Agent.start` hands a :class:`RunContext` to the
:class:`~vlagent.agent.core.run.Run` it makes; the run reads these and nothing else of the agent,
and tells the agent it has ended through ``on_end``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vlagent.agent.core.history import HistoryWindow
from vlagent.agent.core.policy import Policy
from vlagent.agent.core.steps import RunResult, Step
from vlagent.agent.runtimes.base import Runtime
from vlagent.agent.trajectory import Recorder
from vlagent.agent.trajectory.records import Limits
from vlagent.environments import Environment
from vlagent.environments.change import ChangeDetector
from vlagent.prompts import Dialect
from vlagent.tools import ToolSet


class RunListener(Protocol):
    """Something that watches a run live (the CLI's view). Called on the loop's thread."""

    def step_started(self, index: int) -> None: ...

    def step_finished(self, step: Step) -> None: ...


@dataclass(frozen=True)
class RunContext:
    """The runtime, dialect, environment and tools of one run, with its limits, policy, recorder
    and watchers. ``review`` has the last word on how the run ended (self-healing replay turns an
    unproven success into ``unverified``); ``change_detector`` says when a scene is unchanged for
    loop detection (None: the default for what the environment shows)."""

    runtime: Runtime
    dialect: Dialect
    environment: Environment
    toolset: ToolSet
    limits: Limits
    recorder: Recorder | None = None
    policy: Policy | None = None
    listeners: Sequence[RunListener] = ()
    review: Callable[[RunResult], RunResult] | None = None
    change_detector: ChangeDetector | None = None
    history: HistoryWindow | None = None
    """How much of the run so far each prompt lists (None: the default window)."""
    on_end: Callable[[object], None] = lambda run: None
    """Called once with the run when it has ended (the agent then accepts a new goal)."""
