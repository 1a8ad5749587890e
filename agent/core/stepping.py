"""The phases of a step once the model has answered, on the thread that owns the run: read the
answer, gate it, check for a loop, execute, record; and whether the run goes on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from vlagent.agent.core.deadline import ModelWorker, Thinking
from vlagent.agent.core.history import RunHistory
from vlagent.agent.core.policy import decide
from vlagent.agent.core.recording import StepLines
from vlagent.agent.core.steps import MODEL_OUTPUT_ERRORS, Decision, RunResult, Status, Step
from vlagent.agent.core.thinking import apply, ms_since, read
from vlagent.agent.trajectory.records import Outcome, StepError
from vlagent.environments import (
    ActionResult,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
)
from vlagent.environments.base import ACTION_DEADLINE, run_handler
from vlagent.environments.change import detector_for
from vlagent.tools import RunEnd, ToolCall

if TYPE_CHECKING:
    from vlagent.agent.core.context import RunContext

T = TypeVar("T")

_END_REASONS = {
    "success": "the model reported success",
    "failure": "the model reported failure",
    "answered": "the model answered",
}


class Stepping:
    """What :class:`~vlagent.agent.core.run.Run` does with an answer. The attributes are the
    run's."""

    context: RunContext
    steps: list[Step]
    result: RunResult | None
    history: RunHistory
    episode_ended: bool
    """True once the environment said its episode is over (an outcome that ``ends``)."""
    _feedback: str | None
    _invalid_streak: int
    _last_seen: tuple[Observation, str, object] | None
    _repeats: int
    _started: float
    _pending: Decision | None
    _lines: StepLines
    _stop: Any
    _worker: ModelWorker

    def _finish(self, status: Status, reason: str, answer: str | None = None) -> None:
        raise NotImplementedError

    def _guarded(self, work: Callable[[], T]) -> T | None:
        raise NotImplementedError

    # -- after the answer ----------------------------------------------------------------------

    def _conclude(self, thinking: Thinking, late: bool = False) -> Decision:
        """The decision in ``thinking``'s answer. ``late``: it came after its step's deadline,
        so an action in it is recorded as not executed (the world it answered is gone)."""
        step, obs = thinking.step, thinking.observation
        decision = Decision(step, None, None, obs)
        found = self._read(thinking)
        if found is None:
            self._after(step, None)
            return decision
        call, action = found
        # A late decision is never executed: the scene it repeats on is unchanged because the
        # robot held still, as told, so it is no sign of a stuck model.
        if not late and self._looping(step, obs):
            self._after(step, None)
            return decision
        number = self.history.add(call)
        ends_run = getattr(action, "ends_run", None)
        end = ends_run() if callable(ends_run) else None
        if isinstance(end, RunEnd):
            # The model's verdict counts only if the episode did not end by itself meanwhile
            # (the app under test crashed while the model thought).
            gone = self.context.environment.ended()
            if gone is not None and gone.ends is not None:
                step.result = Outcome(ok=False, executed=False, message=gone.message)
                self._after(step, gone.ends, gone.message)
                return decision
            step.result = Outcome(ok=True, executed=False, message="ends the run")
            self._after(step, end)
            return decision
        decision.call, decision.action, decision.number = call, action, number
        self._pending = decision
        if late and thinking.late_since is not None:
            waited = time.monotonic() - thinking.late_since
            self.history.not_executed(number)
            self._report(
                ActionResult(
                    ok=False,
                    executed=False,
                    message=f"not executed: decided {waited:.2f} s after the step's deadline",
                )
            )
        return decision

    def _read(self, thinking: Thinking) -> tuple[ToolCall, BaseModel] | None:
        """Read, validate and gate the answer; None (the error on the step) when it cannot be
        executed."""
        ctx, step = self.context, thinking.step
        answer = thinking.answer.result()
        completion = apply(step, answer)
        if completion is None:
            return None
        step.prompt_text = completion.prompt_text or step.prompt_text
        reading = read(
            ctx, step, completion.text, thinking.prompt, thinking.frames, thinking.observation
        )
        if reading is None:
            return None
        step.calls, step.action = reading.call_records(), reading.record
        policy = ctx.policy
        # Judged by what the action will do on this device, not by how it is spelled.
        refusal = (
            decide(policy, reading.action, ctx.environment.facts()) if policy is not None else None
        )
        if refusal:
            step.error = StepError(kind="policy", message=f"the action was refused: {refusal}")
            return None
        return reading.call, reading.action

    def _looping(self, step: Step, obs: Observation) -> bool:
        """True (the error on ``step``) when the same action comes again on an unchanged scene
        ``max_repeats`` times. The scene is compared only when the action repeats: a control
        loop whose actions change pays nothing for it."""
        detector = self.context.change_detector or detector_for(obs)
        action = step.action.model_dump_json() if step.action else ""
        last, signature, before = self._last_seen, None, None
        repeated = False
        if last is not None and last[1] == action:
            before = last[2] if last[2] is not None else detector.signature(last[0])
            signature = detector.signature(obs)
            repeated = detector.same(before, signature)
        self._last_seen = (obs, action, signature)
        self._worker.drop((last, before))
        del last, before
        self._repeats = self._repeats + 1 if repeated else 1
        if self._repeats < self.context.limits.max_repeats:
            return False
        step.error = StepError(
            kind="loop",
            message=(
                f"the same action was proposed {self._repeats} times on an unchanged {obs.surface}"
            ),
        )
        return True

    # -- executing -----------------------------------------------------------------------------

    def _report(self, outcome: object) -> Step:
        decision = self._pending
        if decision is None:
            raise RuntimeError("no decision waits for an outcome")
        if not isinstance(outcome, ActionResult):
            raise TypeError(f"report() takes an ActionResult, not {type(outcome).__name__}")
        self._pending = None
        step = decision.step
        assert step is not None  # a pending decision always has its step
        self._record_outcome(step, outcome)
        self.episode_ended = self.episode_ended or outcome.ends is not None
        self._after(step, outcome.ends, outcome.message)
        return step

    def _execute(self, decision: Decision) -> None:
        self._pending = None
        step = decision.step
        assert decision.action is not None and step is not None
        t = time.perf_counter()
        action = self._within_time_limit(decision.action)
        handler, environment = self.context.toolset.handler(action), self.context.environment
        limit = self.context.limits.time_limit_s
        token = ACTION_DEADLINE.set(None if limit is None else self._started + limit)
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
            ACTION_DEADLINE.reset(token)
            step.timings_ms["execute"] = ms_since(t)
        self._record_outcome(step, outcome)
        self.episode_ended = self.episode_ended or outcome.ends is not None
        self._after(step, outcome.ends, outcome.message)

    def _within_time_limit(self, action: BaseModel) -> BaseModel:
        """A wait, press or swipe cut to the time the run has left: ``--time-limit`` holds within
        a step, not only between steps."""
        limit, seconds = self.context.limits.time_limit_s, getattr(action, "time", None)
        if limit is None or not isinstance(seconds, (int, float)):
            return action
        left = limit - (time.monotonic() - self._started)
        return action if seconds <= left else action.model_copy(update={"time": max(left, 0.001)})

    @staticmethod
    def _record_outcome(step: Step, outcome: ActionResult) -> None:
        message = outcome.message
        if len(step.calls) > 1:
            message = f"{message} (only the first of {len(step.calls)} calls was executed)".strip()
        step.result = Outcome(
            ok=outcome.ok, executed=outcome.executed, message=message, data=dict(outcome.data)
        )

    # -- recording and going on ----------------------------------------------------------------

    def _record(self, step: Step) -> None:
        """Hand the finished step over: to the run's list, the recorder's writer, the
        listeners."""
        self.steps.append(step)
        recorder = self.context.recorder
        if recorder is not None and not recorder.closed:
            recorder.write_step(self._lines.maker(step), step.index)
        for listener in self.context.listeners:
            listener.step_finished(step)

    def _at_boundary(self) -> bool:
        """Check the limits and stop requests between steps; end the run when one applies."""
        limits = self.context.limits
        if self._stop.is_set():
            self._finish("aborted", self._stop.reason)
        elif len(self.steps) >= limits.max_steps:
            self._finish("max_steps", f"reached the limit of {limits.max_steps} steps")
        elif (
            limits.time_limit_s is not None
            and time.monotonic() - self._started > limits.time_limit_s
        ):
            self._finish("time_limit", f"ran past the {limits.time_limit_s:g} s limit")
        return self.result is not None

    def _after(self, step: Step, end: RunEnd | None, end_reason: str | None = None) -> None:
        """Record the finished step, then decide whether the run goes on (``end_reason``: the
        environment's word when it ended the episode)."""
        self._record(step)
        error = step.error
        if error is not None and error.kind in MODEL_OUTPUT_ERRORS:
            self._invalid_streak += 1
            self._feedback = error.message
            if self._invalid_streak > self.context.limits.max_retries:
                what = "refused" if error.kind == "policy" else "invalid"  # said as it was
                self._finish(
                    "error",
                    f"the model's answer was {what} {self._invalid_streak} times "
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
