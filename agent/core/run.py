"""One run of a goal, advanced one step at a time.

:meth:`Run.step` is one straight line: observe → render → generate → parse → validate → gate →
execute → record. A caller that owns its loop (a robot's controller, a UI test) may pass the
observation it captured itself, or split the step in two: :meth:`Run.decide` (everything up to
the gate) and :meth:`Run.report` (the outcome of the action the caller executed itself).
``Agent.run`` is ``step()`` until the run is finished.

Threads: the environment is observed, gated and driven on the thread that calls these methods;
only the model call runs on the run's model worker (agent/core/deadline.py). ``stop()`` is safe
from any thread and wakes a decision that waits for the model; ``close()`` never waits for one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from vlagent.agent.core.deadline import (
    Answer,
    ModelWorker,
    Overrun,
    StopSignal,
    Thinking,
    Waited,
    left,
    overrun_error,
)
from vlagent.agent.core.history import RunHistory
from vlagent.agent.core.recording import StepLines, end_record, header_record
from vlagent.agent.core.stepping import Stepping
from vlagent.agent.core.steps import INTERRUPTED, Decision, RunFinished, RunResult, Status, Step
from vlagent.agent.core.thinking import ask, ms_since, render
from vlagent.agent.trajectory.recorder import RecorderError
from vlagent.agent.trajectory.records import Outcome
from vlagent.environments import EnvironmentFault, EnvironmentUnavailable, Observation, RunAborted
from vlagent.prompts import ResizeError

if TYPE_CHECKING:
    from vlagent.agent.core.context import RunContext

T = TypeVar("T")

CLOSE_WAIT_S = 1.0
"""How long ``close()`` from another thread waits for the owning thread's step to end."""

_CLOSED = "closed before it finished"


class Run(Stepping):
    """The state of one run: history, retries, loop detection, the trajectory. Made by
    ``Agent.start(goal)``, which hands it a :class:`~vlagent.agent.core.context.RunContext` (what
    to work with); usable as a context manager that closes it."""

    def __init__(self, context: RunContext, goal: str) -> None:
        self.context = context
        self.goal = goal
        self.steps: list[Step] = []
        self.result: RunResult | None = None
        self.history = RunHistory(context.history)
        self.episode_ended = False
        self._feedback: str | None = None
        self._invalid_streak = 0
        self._last_seen: tuple[Observation, str, object] | None = None
        self._repeats = 0
        self._started = time.monotonic()
        self._stop = StopSignal()
        self._pending: Decision | None = None
        self._thinking: Thinking | None = None
        self._worker = ModelWorker()
        self._lines = StepLines()
        self._idle = threading.Event()
        self._idle.set()
        self._depth = 0
        self._owner = threading.get_ident()

    @property
    def finished(self) -> bool:
        return self.result is not None

    # -- stepping ------------------------------------------------------------------------------

    def step(self, observation: Observation | None = None) -> Step | None:
        """Take one step (observe unless ``observation`` is given, think, execute, record).
        Returns the step, or None when the run ended at this boundary (a limit, ``stop()``)."""
        with self._owning():
            decision = self.decide(observation)
            if decision is None:
                return None
            if decision.pending:
                self._guarded(lambda: self._execute(decision))
            return decision.step

    async def astep(self, observation: Observation | None = None) -> Step | None:
        """:meth:`step` for asyncio: the model call is awaited; the environment is observed and
        driven on the event loop's thread."""
        with self._owning():
            decision = await self.adecide(observation)
            if decision is None:
                return None
            if decision.pending:
                self._guarded(lambda: self._execute(decision))
            return decision.step

    def decide(
        self,
        observation: Observation | None = None,
        *,
        deadline_s: float | None = None,
        on_overrun: Overrun = "skip",
    ) -> Decision | None:
        """Think one step without executing it. When ``Decision.pending``, execute
        ``decision.action`` yourself and call :meth:`report`. None when the run ended.

        With ``deadline_s`` the call returns within that time: a decision not made by then is an
        ``overrun`` decision with nothing to do (or :class:`~agent.deadline.StepOverrun` with
        ``on_overrun="raise"``); it is recorded, not executed, when it arrives."""
        with self._owning():
            budget = self._check(deadline_s)
            blocker = self._blocker()
            if blocker is not None:
                waited = self._stop.wait_for(blocker, left(budget))
                if not self._unblocked(waited, deadline_s, on_overrun):
                    return self._overrun(observation) if waited == "overrun" else None
            if self._at_boundary():
                return None
            thinking = self._guarded(lambda: self._start_thinking(observation))
            if thinking is None:
                return None
            waited = self._stop.wait_for(thinking.answer, left(budget))
            return self._settle(thinking, waited, deadline_s, on_overrun)

    async def adecide(
        self,
        observation: Observation | None = None,
        *,
        deadline_s: float | None = None,
        on_overrun: Overrun = "skip",
    ) -> Decision | None:
        """:meth:`decide` for asyncio: the model is awaited, never blocking the loop. Cancelling
        the task records the step in progress as cancelled (not executed) and lets the model's
        late answer go; the run goes on (``Agent.arun`` ends it as ``aborted``)."""
        with self._owning():
            budget = self._check(deadline_s)
            try:
                blocker = self._blocker()
                if blocker is not None:
                    waited = await self._stop.await_for(blocker, left(budget))
                    if not self._unblocked(waited, deadline_s, on_overrun):
                        return self._overrun(observation) if waited == "overrun" else None
                if self._at_boundary():
                    return None
                thinking = self._guarded(lambda: self._start_thinking(observation))
                if thinking is None:
                    return None
                waited = await self._stop.await_for(thinking.answer, left(budget))
            except BaseException:  # cancelled (or interrupted) while the model was deciding
                if self._thinking is not None and not self.finished:
                    self._abandon(self._thinking, "cancelled while the model was deciding")
                raise
            return self._settle(thinking, waited, deadline_s, on_overrun)

    def report(self, outcome: object) -> Step:
        """Finish the pending decision with the outcome (an ``ActionResult``) of executing its
        action yourself."""
        with self._owning():
            return self._report(outcome)

    def stop(self, reason: str = "stopped by the caller") -> None:
        """End the run with status ``aborted`` and ``reason``: at once if it waits for the
        model (the decision in flight is recorded, not executed), else at the next step
        boundary. Safe from any thread; returns at once."""
        self._stop.set(reason)

    def close(self, status: Status = "aborted", reason: str | None = None) -> RunResult:
        """End the run now (if it has not ended) and close its trajectory. A decision in flight
        is recorded as not executed; the model is not waited for. ``reason`` defaults to the
        one given to :meth:`stop`, else "closed before it finished". From another thread
        while a step is under way, the step is stopped and waited for at most
        :data:`CLOSE_WAIT_S`. Returns once the queued steps are written."""
        why = reason or (self._stop.reason if self._stop.is_set() else _CLOSED)
        if threading.get_ident() != self._owner and not self._idle.is_set():
            self._stop.set(why)
            self._idle.wait(CLOSE_WAIT_S)
        if self.result is None:
            self._finish(status, why)
        self._worker.close()
        assert self.result is not None
        return self.result

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- waiting for the model -----------------------------------------------------------------

    @contextmanager
    def _owning(self) -> Iterator[None]:
        """Marks the calling thread as the run's owner while a step is under way there."""
        self._owner = threading.get_ident()
        self._depth += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._idle.set()

    def _check(self, deadline_s: float | None) -> float | None:
        if self._pending is not None:
            raise RuntimeError("the previous decision waits for report(): report its outcome first")
        if self.finished:
            raise RunFinished(f"the run has ended ({self.result.status if self.result else ''})")
        return None if deadline_s is None else time.monotonic() + deadline_s

    def _blocker(self) -> Future[Answer] | None:
        """What must end before a new model call: a late decision, or a call whose step was
        abandoned (one model, one call at a time)."""
        if self._thinking is not None:
            return self._thinking.answer
        return None if self._worker.free() else self._worker.busy

    def _unblocked(self, waited: Waited, deadline_s: float | None, on_overrun: Overrun) -> bool:
        """After waiting for the blocker: True when a new decision may start."""
        if waited == "stopped":
            self._finish("aborted", self._stop.reason)
            return False
        if waited == "overrun":
            if on_overrun == "raise" and deadline_s is not None:
                raise overrun_error(deadline_s, still=True)
            return False
        late = self._thinking
        if late is not None:
            self._thinking = None
            self._guarded(lambda: self._conclude(late, late=True))
        return not self.finished

    def _start_thinking(self, given: Observation | None) -> Thinking:
        index = len(self.steps)
        if given is None:
            t = time.perf_counter()
            obs, observe_ms = self.context.environment.observe(), ms_since(t)
        else:
            obs, observe_ms = given, None
        recorder = self.context.recorder
        if recorder is not None and not recorder.started:
            recorder.start(header_record(self.context, self.goal, obs))
        for listener in self.context.listeners:
            listener.step_started(index)
        step, prompt, frames = render(
            self.context, self.goal, self.history.shown(), self._feedback, index, obs
        )
        if observe_ms is not None:
            step.timings_ms = {"observe": observe_ms, **step.timings_ms}
        limit = self.context.limits.time_limit_s
        # --time-limit holds within the model call too: a remote runtime gives up by then.
        by = None if limit is None else self._started + limit
        answer = self._worker.submit(ask(self.context, prompt, by))
        self._thinking = Thinking(step, prompt, frames, obs, answer)
        return self._thinking

    def _settle(
        self, thinking: Thinking, waited: Waited, deadline_s: float | None, on_overrun: Overrun
    ) -> Decision | None:
        if self.finished or self._thinking is not thinking:
            return None  # closed while it waited: the step is recorded already
        if waited == "answered":
            self._thinking = None
            return self._guarded(lambda: self._conclude(thinking))
        if waited == "stopped":
            self._finish("aborted", self._stop.reason)
            return None
        thinking.late_since = time.monotonic()
        if on_overrun == "raise" and deadline_s is not None:
            raise overrun_error(deadline_s, still=False)
        return self._overrun(thinking.observation)

    @staticmethod
    def _overrun(observation: Observation | None) -> Decision:
        return Decision(step=None, call=None, action=None, observation=observation, overrun=True)

    def _abandon(self, thinking: Thinking, why: str) -> None:
        """Record a step whose answer will not be used (stopped, closed, cancelled)."""
        if self._thinking is thinking:
            self._thinking = None
        step = thinking.step
        step.timings_ms["generate"] = round((time.monotonic() - thinking.since) * 1000, 3)
        step.result = Outcome(ok=False, executed=False, message=f"not executed: {why}")
        self._record(step)

    # -- the end -------------------------------------------------------------------------------

    def _guarded(self, work: Callable[[], T]) -> T | None:
        """Run one phase; an interruption or a broken environment ends the run cleanly (the
        finished steps are on disk), and a bug closes the trajectory before it surfaces."""
        try:
            return work()
        except KeyboardInterrupt:
            self._finish("aborted", INTERRUPTED)
        except RunAborted as exc:
            self._finish("aborted", str(exc))
        except (EnvironmentFault, EnvironmentUnavailable) as exc:
            self._finish("error", f"environment: {exc}")
        except ResizeError as exc:
            self._finish("error", f"the screen cannot be shown to this model: {exc}")
        except RecorderError as exc:
            self._finish("error", str(exc))
        except Exception as exc:
            self._finish("error", f"internal error: {type(exc).__name__}: {exc}")
            raise
        return None

    def _finish(self, status: Status, reason: str, answer: str | None = None) -> None:
        if self.result is not None:
            return
        ctx = self.context
        self.result = RunResult(  # first: a step recorded below must not end the run again
            status, reason, answer, self.steps, ctx.recorder.run_dir if ctx.recorder else None
        )
        self._record_in_flight(reason)
        self._worker.close()  # its thread ends once a call in progress returns
        if ctx.recorder is not None and not ctx.recorder.closed:
            ctx.recorder.flush()
            if ctx.recorder.error is not None and status != "error":
                self.result.status, self.result.reason = "error", str(ctx.recorder.error)
        if ctx.review is not None:
            self.result = ctx.review(self.result)
        if ctx.recorder is not None and not ctx.recorder.closed:
            try:
                ctx.recorder.close(end_record(self.result, time.monotonic() - self._started))
            except KeyboardInterrupt:
                pass  # a second Ctrl-C while closing: the steps are on disk already
        ctx.on_end(self)

    def _record_in_flight(self, reason: str) -> None:
        """The decision the run ended in the middle of, recorded as not executed."""
        if self._thinking is not None:
            self._abandon(self._thinking, f"{reason} while the model was deciding")
        pending, self._pending = self._pending, None
        if pending is not None and pending.step is not None:
            pending.step.result = Outcome(
                ok=False, executed=False, message=f"not executed: {reason} before it was done"
            )
            if pending.number is not None:
                self.history.not_executed(pending.number)
            self._record(pending.step)
