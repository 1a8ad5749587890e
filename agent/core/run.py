"""One run of a goal, advanced one step at a time.

:meth:`Run.step` is one straight line: observe → render → generate → parse → validate → gate →
execute → record. A caller that owns its loop (a robot's controller, a UI test) may pass the
observation it captured itself, or split the step in two: :meth:`Run.decide` (everything up to
the gate) and :meth:`Run.report` (the outcome of the action the caller executed itself).
``Agent.run`` is ``step()`` until the run is finished.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from vlagent.agent.core.deadline import DecisionClock, Overrun
from vlagent.agent.core.policy import decide
from vlagent.agent.core.recording import StepLines, end_record, header_record
from vlagent.agent.core.steps import (
    MODEL_OUTPUT_ERRORS,
    Decision,
    RunFinished,
    RunResult,
    Status,
    Step,
    StepError,
)
from vlagent.agent.core.thinking import generate, ms_since, read, render
from vlagent.agent.runtimes.base import answer_by
from vlagent.agent.trajectory.recorder import RecorderError
from vlagent.agent.trajectory.records import Outcome
from vlagent.environments import (
    ActionResult,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
)
from vlagent.environments.base import run_handler
from vlagent.environments.change import detector_for
from vlagent.prompts import ResizeError
from vlagent.tools import RunEnd, ToolCall

if TYPE_CHECKING:
    from vlagent.agent.core.context import RunContext

T = TypeVar("T")

_END_REASONS = {
    "success": "the model reported success",
    "failure": "the model reported failure",
    "answered": "the model answered",
}


class Run:
    """The state of one run: history, retries, loop detection, the trajectory. Made by
    ``Agent.start(goal)``, which hands it a :class:`~vlagent.agent.core.context.RunContext` (what
    to work with); usable as a context manager that closes it."""

    def __init__(self, context: RunContext, goal: str) -> None:
        self.context = context
        self.goal = goal
        self.steps: list[Step] = []
        self.result: RunResult | None = None
        self._history: list[ToolCall] = []
        self._feedback: str | None = None
        self._invalid_streak = 0
        self._last_seen: tuple[object, str] | None = (
            None  # (scene signature, action) of the last step
        )
        self._repeats = 0
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._stop_reason = "stopped by the caller"
        self._pending: Decision | None = None
        self._lines = StepLines()
        self._clock = DecisionClock()

    @property
    def finished(self) -> bool:
        return self.result is not None

    # -- stepping ------------------------------------------------------------------------------

    def step(self, observation: Observation | None = None) -> Step | None:
        """Take one step (observe unless ``observation`` is given, think, execute, record).
        Returns the step, or None when the run ended at this boundary (a limit, ``stop()``)."""
        decision = self.decide(observation)
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
        ``on_overrun="raise"``); it is recorded, not executed, when it arrives
        (agent/deadline.py)."""
        if deadline_s is not None:
            return self._clock.decide(self, observation, deadline_s, on_overrun)
        if self._pending is not None:
            raise RuntimeError("the previous decision waits for report(): report its outcome first")
        if self.finished:
            raise RunFinished(f"the run has ended ({self.result.status if self.result else ''})")
        if self._at_boundary():
            return None
        return self._guarded(lambda: self._decide(observation))

    async def adecide(self, observation: Observation | None = None) -> Decision | None:
        """:meth:`decide` on a worker thread: an asyncio control loop is never blocked by the
        model."""
        return await asyncio.to_thread(self.decide, observation)

    def report(self, outcome: ActionResult) -> Step:
        """Finish the pending decision with the outcome of executing its action yourself."""
        decision = self._pending
        if decision is None:
            raise RuntimeError("no decision waits for an outcome")
        self._pending = None
        step = decision.step
        assert step is not None  # a pending decision always has its step
        self._record_outcome(step, outcome)
        self._after(step, outcome.ends, outcome.message)
        return step

    def stop(self, reason: str = "stopped by the caller") -> None:
        """End the run at the next step boundary with status ``aborted``. Safe from any thread."""
        self._stop_reason = reason
        self._stop.set()

    def close(
        self, status: Status = "aborted", reason: str = "closed before it finished"
    ) -> RunResult:
        """End the run now (if it has not ended) and close its trajectory."""
        self._clock.wait()
        if self.result is None:
            self._finish(status, reason)
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

    # -- the phases of a step ------------------------------------------------------------------

    def _at_boundary(self) -> bool:
        """Check the limits and stop requests between steps; end the run when one applies."""
        limits = self.context.limits
        if self._stop.is_set():
            self._finish("aborted", self._stop_reason)
        elif len(self.steps) >= limits.max_steps:
            self._finish("max_steps", f"reached the limit of {limits.max_steps} steps")
        elif (
            limits.time_limit_s is not None
            and time.monotonic() - self._started > limits.time_limit_s
        ):
            self._finish("time_limit", f"ran past the {limits.time_limit_s:g} s limit")
        return self.finished

    def _observe(self, observation: Observation | None) -> tuple[Observation, float | None]:
        if observation is not None:
            return observation, None
        t = time.perf_counter()
        observed = self.context.environment.observe()
        return observed, ms_since(t)

    def _decide(self, given: Observation | None) -> Decision:
        index = len(self.steps)
        obs, observe_ms = self._observe(given)
        recorder = self.context.recorder
        if recorder is not None and not recorder.started:
            recorder.start(header_record(self.context, self.goal, obs))
        for listener in self.context.listeners:
            listener.step_started(index)
        step, call, action = self._think(index, obs)
        if observe_ms is not None:
            step.timings_ms = {"observe": observe_ms, **step.timings_ms}
        decision = Decision(step, None, None, obs)
        if action is None or call is None:
            self._after(step, None)
            return decision
        detector = self.context.change_detector or detector_for(obs)
        seen = (detector.signature(obs), step.action.model_dump_json() if step.action else "")
        last, self._last_seen = self._last_seen, seen
        repeated = last is not None and last[1] == seen[1] and detector.same(last[0], seen[0])
        self._repeats = self._repeats + 1 if repeated else 1
        if self._repeats >= self.context.limits.max_repeats:
            step.error = StepError(
                kind="loop",
                message=(
                    f"the same action was proposed {self._repeats} times on an unchanged "
                    f"{obs.surface}"
                ),
            )
            self._after(step, None)
            return decision
        self._history.append(call)
        ends_run = getattr(action, "ends_run", None)
        end = ends_run() if callable(ends_run) else None
        if isinstance(end, RunEnd):
            step.result = Outcome(ok=True, executed=False, message="ends the run")
            self._after(step, end)
            return decision
        decision.call, decision.action = call, action
        self._pending = decision
        return decision

    def _think(
        self, index: int, obs: Observation
    ) -> tuple[Step, ToolCall | None, BaseModel | None]:
        """Render, generate, read the answer, gate. Returns the step so far, the call and the
        action to execute (both None when the answer cannot be executed)."""
        ctx = self.context
        step, prompt, frames = render(ctx, self.goal, self._history, self._feedback, index, obs)
        limit = ctx.limits.time_limit_s
        # --time-limit holds within the model call too: a remote runtime gives up by then.
        with answer_by(None if limit is None else self._started + limit):
            completion = generate(ctx, step, prompt)
        if completion is None:
            return step, None, None
        step.prompt_text = completion.prompt_text or step.prompt_text
        reading = read(ctx, step, completion.text, prompt, frames, obs)
        if reading is None:
            return step, None, None
        step.calls, step.action = reading.call_records(), reading.record
        policy = self.context.policy
        # Judged by what the action will do on this device, not by how it is spelled.
        refusal = (
            decide(policy, reading.action, ctx.environment.facts()) if policy is not None else None
        )
        if refusal:
            step.error = StepError(kind="policy", message=f"the action was refused: {refusal}")
            return step, None, None
        return step, reading.call, reading.action

    def _execute(self, decision: Decision) -> None:
        self._pending = None
        step = decision.step
        assert decision.action is not None and step is not None
        t = time.perf_counter()
        action = self._within_time_limit(decision.action)
        handler, environment = self.context.toolset.handler(action), self.context.environment
        try:
            # A tool the agent was given beyond the environment's runs its own handler.
            outcome = (
                run_handler(handler, action)
                if handler is not None and not environment.toolset.knows(action)
                else environment.execute(action)
            )
        except (EnvironmentFault, EnvironmentUnavailable) as exc:
            step.error = StepError(kind="environment", message=str(exc))
            self._after(step, None)
            return
        except RunAborted as exc:  # a person stopped it from the device (a fail-safe corner)
            step.result = Outcome(ok=False, executed=False, message=f"not executed: {exc}")
            self._after(step, None)
            self._finish("aborted", str(exc))
            return
        finally:
            step.timings_ms["execute"] = ms_since(t)
        self._record_outcome(step, outcome)
        self._after(step, outcome.ends, outcome.message)

    def _within_time_limit(self, action: BaseModel) -> BaseModel:
        """A wait, press or swipe cut to the time the run has left: ``--time-limit`` holds within
        a step, not only between steps."""
        limit, seconds = self.context.limits.time_limit_s, getattr(action, "time", None)
        if limit is None or not isinstance(seconds, (int, float)):
            return action
        left = limit - (time.monotonic() - self._started)
        return action if seconds <= left else action.model_copy(update={"time": max(left, 0.001)})

    def _record_outcome(self, step: Step, outcome: ActionResult) -> None:
        message = outcome.message
        if len(step.calls) > 1:
            message = f"{message} (only the first of {len(step.calls)} calls was executed)".strip()
        step.result = Outcome(
            ok=outcome.ok, executed=outcome.executed, message=message, data=dict(outcome.data)
        )

    def _after(self, step: Step, end: RunEnd | None, end_reason: str | None = None) -> None:
        """Record the finished step, then decide whether the run goes on (``end_reason``: the
        environment's word when it ended the episode)."""
        self.steps.append(step)
        if self.context.recorder is not None:
            self.context.recorder.write_step(self._lines.line(step))
        for listener in self.context.listeners:
            listener.step_finished(step)
        error = step.error
        if error is not None and error.kind in MODEL_OUTPUT_ERRORS:
            self._invalid_streak += 1
            self._feedback = error.message
            if self._invalid_streak > self.context.limits.max_retries:
                self._finish(
                    "error",
                    f"the model's answer was invalid {self._invalid_streak} times "
                    f"in a row: {error.message}",
                )
            return
        if error is not None:
            limit = self.context.limits.time_limit_s
            late = limit is not None and time.monotonic() - self._started >= limit
            if late and error.kind == "model":
                # A model call cut short by the limit: the run ran out of time, as between steps.
                self._finish("time_limit", f"ran past the {limit:g} s limit: {error.message}")
            else:
                self._finish("error", error.message)
            return
        self._invalid_streak = 0
        self._feedback = None
        if end is not None:
            self._finish(end.status, end_reason or _END_REASONS[end.status], end.answer)
        elif step.result is not None and not step.result.ok:
            self._feedback = step.result.message

    def _guarded(self, work: Callable[[], T]) -> T | None:
        """Run one phase; an interruption or a broken environment ends the run cleanly (the
        finished steps are on disk), and a bug closes the trajectory before it surfaces."""
        try:
            return work()
        except KeyboardInterrupt:
            self._finish("aborted", "interrupted by the user")
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
        self._pending = None
        ctx = self.context
        self.result = RunResult(
            status, reason, answer, self.steps, ctx.recorder.run_dir if ctx.recorder else None
        )
        if ctx.review is not None:
            self.result = ctx.review(self.result)
        if ctx.recorder is not None and not ctx.recorder.closed:
            try:
                ctx.recorder.close(end_record(self.result, time.monotonic() - self._started))
            except KeyboardInterrupt:
                pass  # a second Ctrl-C while closing: the steps are on disk already
        ctx.on_end(self)
