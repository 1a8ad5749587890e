"""The agent: a runtime speaking a dialect to an environment, with limits, a policy and a
recorder. ``run(goal)`` does a whole goal; ``start(goal)`` hands back a :class:`~agent.run.Run` to
advance one step at a time; ``iterate(goal)`` yields the steps; ``arun(goal)`` is for asyncio.

The picture of one step is in docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType

from vlagent.agent.core.context import RunContext, RunListener
from vlagent.agent.core.policy import Policy
from vlagent.agent.core.run import Run
from vlagent.agent.core.steps import RunResult, Step
from vlagent.agent.runtimes.base import Runtime
from vlagent.agent.trajectory import Recorder
from vlagent.agent.trajectory.records import Limits
from vlagent.environments import Environment
from vlagent.environments.change import ChangeDetector
from vlagent.prompts import Dialect
from vlagent.tools import ToolSet


def _until_finished(run: Run) -> None:
    """Step until the run ends. Ctrl-C (or SIGTERM turned into it) ends the run as ``aborted``
    wherever it lands, between phases included, with the trajectory closed."""
    try:
        while not run.finished:
            run.step()
    except KeyboardInterrupt:
        run.close("aborted", "interrupted by the user")


class Agent:
    """Runs goals on ``environment`` with ``runtime`` speaking ``dialect``.

    ``toolset`` defaults to the environment's. ``recorder`` (optional) writes the trajectory of
    the next run; ``policy`` may refuse actions; ``listeners`` watch steps as they finish;
    ``change_detector`` says when a scene is unchanged for loop detection (the default suits what
    the environment shows). As a context manager the agent closes its runtime and environment on
    exit.
    """

    def __init__(
        self,
        runtime: Runtime,
        dialect: Dialect,
        environment: Environment,
        toolset: ToolSet | None = None,
        limits: Limits | None = None,
        recorder: Recorder | None = None,
        policy: Policy | None = None,
        listeners: Sequence[RunListener] = (),
        review: Callable[[RunResult], RunResult] | None = None,
        change_detector: ChangeDetector | None = None,
    ) -> None:
        self.runtime = runtime
        self.dialect = dialect
        self.environment = environment
        self.toolset = toolset or environment.toolset
        self.limits = limits or Limits()
        self.recorder = recorder
        self.policy = policy
        self.listeners = list(listeners)
        # The last word on how a run ended, before its end record is written: self-healing
        # replay turns a "success" that never re-joined its recording into "unverified".
        self.review = review
        # Loop detection's "unchanged": exact pixels for screens, tolerant cells for cameras.
        self.change_detector = change_detector
        self._active: Run | None = None
        self._lock = threading.Lock()

    # -- runs ----------------------------------------------------------------------------------

    def start(self, goal: str) -> Run:
        """Begin a run of ``goal``; advance it with ``Run.step()`` or ``Run.decide()``."""
        if not isinstance(goal, str) or not goal.strip():
            raise ValueError(f"the goal is {goal!r}: say what the agent should do")
        with self._lock:
            if self._active is not None:
                raise RuntimeError("this agent is already running a goal; finish or close it first")
            if self.recorder is not None and self.recorder.closed:
                raise RuntimeError(
                    "this agent's recorder has recorded a run already; give it a new "
                    "Recorder for the next run"
                )
            self._active = Run(self._context(), goal)
            return self._active

    def _context(self) -> RunContext:
        return RunContext(
            runtime=self.runtime,
            dialect=self.dialect,
            environment=self.environment,
            toolset=self.toolset,
            limits=self.limits,
            recorder=self.recorder,
            policy=self.policy,
            listeners=tuple(self.listeners),
            review=self.review,
            change_detector=self.change_detector,
            on_end=self._run_ended,
        )

    def run(self, goal: str) -> RunResult:
        """Do ``goal`` until it is done, fails, or a limit is hit."""
        with self.start(goal) as run:
            _until_finished(run)
            return run.close()

    def iterate(self, goal: str) -> Iterator[Step]:
        """The steps of a run of ``goal``, as they finish. Leaving the loop early closes the run
        (status ``aborted``)."""
        with self.start(goal) as run:
            while not run.finished:
                step = run.step()
                if step is not None:
                    yield step

    async def arun(self, goal: str) -> RunResult:
        """``run(goal)`` for asyncio applications: the steps run in a worker thread. Cancelling
        the task stops the run at the next step boundary."""
        run = self.start(goal)

        def until_finished() -> RunResult:
            _until_finished(run)
            return run.close()

        try:
            return await asyncio.to_thread(until_finished)
        except asyncio.CancelledError:
            run.stop("cancelled")
            raise

    def stop(self, reason: str = "stopped by the caller") -> None:
        """Stop the current run at its next step boundary (status ``aborted``). Thread-safe."""
        active = self._active
        if active is not None:
            active.stop(reason)

    def _run_ended(self, run: object) -> None:
        with self._lock:
            if self._active is run:
                self._active = None

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close a run in progress, then the runtime and the environment."""
        active = self._active
        try:
            if active is not None:
                active.close()
        finally:
            try:
                self.environment.close()
            finally:
                self.runtime.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["Agent"]
