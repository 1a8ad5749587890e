"""The agent: a runtime speaking a dialect to an environment, with limits, a policy and a
recorder. ``run(goal)`` does a whole goal; ``start(goal)`` hands back a :class:`~agent.run.Run` to
advance one step at a time; ``iterate(goal)`` yields the steps; ``arun(goal)`` is for asyncio.

The picture of one step is in docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import platform
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Protocol


from vlagent.agent.core.policy import Policy
from vlagent.agent.core.run import Decision, Run, RunFinished, now, screen_hash
from vlagent.agent.runtimes.base import Runtime
from vlagent.agent.core.steps import RunResult, Step
from vlagent.agent.trajectory import Recorder
from vlagent.agent.trajectory.records import End, Header, Limits, Totals
from vlagent.environments import Environment, Observation
from vlagent.environments.change import ChangeDetector
from vlagent.prompts import Dialect
from vlagent.tools import ToolSet



class RunListener(Protocol):
    """Something that watches a run live (the CLI's view). Called on the loop's thread."""

    def step_started(self, index: int) -> None: ...

    def step_finished(self, step: Step) -> None: ...


def package_versions() -> dict[str, str]:
    """Versions of what shaped this run. Heavy libraries are named only if already imported."""
    from importlib import metadata

    names = ["vlagent", "pydantic", "pillow"]
    names += [m for m in ("torch", "transformers", "accelerate") if m in sys.modules]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


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
                raise RuntimeError("this agent's recorder has recorded a run already; give it a new "
                                   "Recorder for the next run")
            self._active = Run(self, goal)
            return self._active

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

    def run_ended(self, run: Run) -> None:
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

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- header and closing line ---------------------------------------------------------------

    def header(self, goal: str, obs: Observation) -> Header:
        described = self.environment.describe()
        assert self.recorder is not None
        return Header.model_validate({
            "run_id": self.recorder.run_dir.name, "goal": goal, "started_at": now(),
            "environment": described,
            "screen": {"width": obs.size[0], "height": obs.size[1], "scale": obs.scale},
            "model": self.runtime.describe(), "dialect": self.dialect.name,
            "prompt_source": self.dialect.prompt_source, "tools": self.toolset.function_schemas(), "limits": self.limits,
            "dry_run": bool(described.get("dry_run", False)), "versions": package_versions(),
        })

    @staticmethod
    def end_record(result: RunResult, duration_s: float) -> End:
        timings: dict[str, float] = {}
        for step in result.steps:
            for phase, ms in step.timings_ms.items():
                timings[phase] = round(timings.get(phase, 0.0) + ms, 3)

        def total(values: list[int | None]) -> int | None:
            return None if any(v is None for v in values) or not values else sum(
                v for v in values if v is not None)

        return End(
            status=result.status, reason=result.reason, answer=result.answer,
            steps=len(result.steps), ended_at=now(), duration_s=round(duration_s, 3), replay=result.replay,
            totals=Totals(
                model_calls=sum(1 for s in result.steps if s.output_text is not None),
                executed_actions=sum(1 for s in result.steps if s.executed),
                prompt_tokens=total([s.prompt_tokens for s in result.steps]),
                completion_tokens=total([s.completion_tokens for s in result.steps]),
                timings_ms=timings,
            ),
        )


__all__ = ["Agent", "Decision", "Limits", "Policy", "Run", "RunFinished", "RunListener",
           "package_versions", "screen_hash"]
