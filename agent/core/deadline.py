"""Deadlines for a step's decision, for control loops that run at a fixed rate.

A model call cannot be interrupted halfway, so a decision that misses its deadline goes on in
the background. The step that overran returns a decision with no action (or raises
:class:`StepOverrun`), and the loop goes on; the late decision is recorded when it arrives, as
not executed (it answered a view of the world that is gone) — unless ``late="act"`` asks to
act on it anyway. Until it arrives no new decision starts (one model, one call at a time).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Literal, Protocol

from vlagent.agent.core.steps import Decision, Step
from vlagent.environments import ActionResult, Observation
from vlagent.tools.errors import VlagentError

Overrun = Literal["skip", "raise"]


class Decides(Protocol):
    """What the clock drives: a run (``vlagent.agent.core.run.Run``)."""

    @property
    def finished(self) -> bool: ...

    def decide(self, observation: Observation | None = None) -> Decision | None: ...

    def report(self, outcome: ActionResult) -> Step: ...


class StepOverrun(VlagentError, TimeoutError):
    """The model did not decide within the step's deadline (``on_overrun="raise"``)."""


class DecisionClock:
    """Runs one run's decisions on a worker thread and waits for each at most its deadline."""

    def __init__(self) -> None:
        self._worker: ThreadPoolExecutor | None = None
        self._late: Future[Decision | None] | None = None
        self._late_since = 0.0

    def decide(
        self, run: Decides, observation: Observation | None, deadline_s: float, on_overrun: Overrun
    ) -> Decision | None:
        started = time.monotonic()
        if self._late is not None:
            try:
                late = self._late.result(timeout=deadline_s)
            except FutureTimeout:
                return self._overrun(observation, deadline_s, on_overrun, still=True)
            self._late = None
            if late is not None and late.pending:
                run.report(
                    ActionResult(
                        ok=False,
                        executed=False,
                        message=(
                            f"not executed: decided {time.monotonic() - self._late_since:.2f} s "
                            "after the step's deadline"
                        ),
                    )
                )
            if run.finished:
                return None
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlagent-decide")
        future = self._worker.submit(run.decide, observation)
        left = max(deadline_s - (time.monotonic() - started), 0.0)
        try:
            return future.result(timeout=left)
        except FutureTimeout:
            self._late, self._late_since = future, time.monotonic()
            return self._overrun(observation, deadline_s, on_overrun, still=False)

    @staticmethod
    def _overrun(
        observation: Observation | None, deadline_s: float, on_overrun: Overrun, still: bool
    ) -> Decision:
        what = "an earlier decision is still being made" if still else "the model is still deciding"
        if on_overrun == "raise":
            raise StepOverrun(f"no decision within the {deadline_s:g} s deadline: {what}")
        return Decision(step=None, call=None, action=None, observation=observation, overrun=True)

    def wait(self) -> None:
        """Let a late decision finish (before the run closes its trajectory)."""
        if self._late is not None:
            try:
                self._late.result()
            except Exception:
                pass
            self._late = None
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
