"""The agent: a runtime speaking a dialect to an environment, with limits, a policy and a
recorder. ``run(goal)`` does a whole goal; ``start(goal)`` hands back a :class:`~agent.run.Run` to
advance one step at a time; ``iterate(goal)`` yields the steps; ``arun(goal)`` is for asyncio;
``reset(seed)`` starts a new episode and ``run_episodes`` runs several, each recorded apart.

The picture of one step is in docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from vlagent.agent.core.context import RunContext, RunListener
from vlagent.agent.core.history import HistoryWindow
from vlagent.agent.core.policy import Policy
from vlagent.agent.core.run import Run
from vlagent.agent.core.steps import INTERRUPTED, EpisodeOver, RunResult, Step
from vlagent.agent.runtimes.base import Runtime
from vlagent.agent.trajectory import Recorder
from vlagent.agent.trajectory.recorder import Fsync, Keep
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
        run.close("aborted", INTERRUPTED)


class Agent:
    """Runs goals on ``environment`` with ``runtime`` speaking ``dialect``.

    ``toolset`` defaults to the environment's. ``recorder`` (optional) writes the trajectory of
    the next run; ``policy`` may refuse actions; ``listeners`` watch steps as they finish;
    ``change_detector`` says when a scene is unchanged for loop detection (the default suits what
    the environment shows); ``history`` is how much of the run so far each prompt lists (a
    window that keeps a long run's prompt bounded). As a context manager the agent closes its
    runtime and environment on exit.
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
        history: HistoryWindow | None = None,
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
        self.history = history
        self._episode_over = False
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
            if self._episode_over:
                raise EpisodeOver(
                    "the environment ended its episode in the last run; call agent.reset(seed=...) "
                    "to start a new one"
                )
            if self.recorder is not None and self.recorder.closed:
                raise RuntimeError(
                    "this agent's recorder has recorded a run already; give it a new "
                    "Recorder for the next run: agent.reset(recorder=Recorder(...))"
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
            history=self.history,
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
        """``run(goal)`` for asyncio applications: the model is awaited on the run's worker
        thread, and the environment is observed and driven on the event loop's thread (the one
        that owns it). Cancelling the task records the step in progress as cancelled and ends
        the run as ``aborted``."""
        run = self.start(goal)
        try:
            while not run.finished:
                await run.astep()
        except asyncio.CancelledError:
            run.close("aborted", "cancelled")
            raise
        except KeyboardInterrupt:
            run.close("aborted", INTERRUPTED)
        return run.close()

    # -- episodes --------------------------------------------------------------------------------

    def reset(self, seed: int | None = None, recorder: Recorder | None = None) -> None:
        """Start a new episode: the environment's own ``reset(seed)`` (a simulator, a Gymnasium
        environment), and ``recorder`` for the next run when given. An environment without
        ``reset`` can only be given a new recorder."""
        with self._lock:
            if self._active is not None:
                raise RuntimeError("a run is in progress; close it before reset()")
        target = _resettable(self.environment)
        if target is not None:
            target(seed=seed)
        elif seed is not None or self._episode_over:
            raise EpisodeOver(
                f"the {self.environment.name or type(self.environment).__name__} environment has "
                "no reset(seed); make a new one for a new episode"
            )
        self._episode_over = False
        if recorder is not None:
            self.recorder = recorder

    def run_episodes(
        self,
        goal: str,
        episodes: int,
        *,
        seed: int | None = None,
        out: str | Path | None = None,
        fsync: Fsync = "step",
        keep: Keep | None = None,
    ) -> list[RunResult]:
        """``episodes`` runs of ``goal``, each after a reset (seeds ``seed``, ``seed + 1``, …),
        each recorded in its own folder ``out/episode-NNNN`` when ``out`` is given."""
        results = []
        for number in range(episodes):
            self.reset(seed=None if seed is None else seed + number)
            self.recorder = (
                Recorder(Path(out) / f"episode-{number:04d}", fsync=fsync, keep=keep)
                if out is not None
                else None
            )
            results.append(self.run(goal))
        return results

    def stop(self, reason: str = "stopped by the caller") -> None:
        """Stop the current run at its next step boundary (status ``aborted``). Thread-safe."""
        active = self._active
        if active is not None:
            active.stop(reason)

    def _run_ended(self, run: object) -> None:
        with self._lock:
            if self._active is run:
                self._active = None
                self._episode_over = bool(getattr(run, "episode_ended", False))

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


def _resettable(environment: Any) -> Callable[..., Any] | None:
    """The ``reset`` of ``environment`` or of the environment a wrapper wraps, if any."""
    while environment is not None:
        reset = getattr(environment, "reset", None)
        if callable(reset):
            return reset  # type: ignore[no-any-return]
        environment = getattr(environment, "inner", None)
    return None


__all__ = ["Agent"]
