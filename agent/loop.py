"""The perception-action loop: observe → render → generate → parse → validate → gate → execute →
record, one straight line per step (DESIGN.md, "The one picture")."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from pydantic import BaseModel

from agent.runtime import Runtime, RuntimeFailure
from agent.steps import MODEL_OUTPUT_ERRORS, RunResult, Status, Step, StepError
from agent.trajectory import FORMAT, VERSION, Recorder
from environments import (
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
)
from prompts import Dialect, ParseError
from tools import RunEnd, ToolCall, ToolError, ToolSet

Policy = Callable[[BaseModel], "str | None"]
"""Looks at a validated action before it runs; returns None to allow it, or the reason to refuse
(the reason goes back to the model)."""


@dataclass
class Limits:
    """When a run stops on its own.

    ``max_retries``: invalid answers in a row (unparseable, invalid, refused) that are fed back to
    the model before the run stops. ``max_repeats``: the same action proposed this many times in
    a row on an unchanged screen stops the run (the last one is not executed).
    """

    max_steps: int = 30
    max_retries: int = 2
    max_repeats: int = 3
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.max_repeats < 2:
            raise ValueError("max_repeats must be at least 2")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive")


class RunListener(Protocol):
    """Something that watches a run live (the CLI's view). Called on the loop's thread."""

    def step_started(self, index: int) -> None: ...

    def step_finished(self, step: Step) -> None: ...


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def screen_hash(obs: Observation) -> str:
    """A digest of the pixels: equal hashes mean an unchanged screen."""
    digest = hashlib.blake2b(obs.image.tobytes(), digest_size=16)
    digest.update(repr(obs.size).encode())
    return digest.hexdigest()


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


class Agent:
    """Runs one goal at a time on ``environment`` with ``runtime`` speaking ``dialect``.

    ``toolset`` defaults to the environment's. ``recorder`` (optional) writes the trajectory;
    ``policy`` may refuse actions; ``listeners`` watch steps as they finish.
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
    ) -> None:
        self.runtime = runtime
        self.dialect = dialect
        self.environment = environment
        self.toolset = toolset or environment.toolset
        self.limits = limits or Limits()
        self.recorder = recorder
        self.policy = policy
        self.listeners = list(listeners)

    # -- one run -------------------------------------------------------------------------------

    def run(self, goal: str) -> RunResult:
        steps: list[Step] = []
        history: list[ToolCall] = []
        started = time.monotonic()
        status: Status = "error"
        reason = ""
        answer: str | None = None
        feedback: str | None = None
        invalid_streak = 0
        repeat_key: str | None = None
        repeats = 0
        pending: BaseException | None = None
        try:
            t = time.perf_counter()
            first = self.environment.observe()
            observe_ms = _ms(t)
            if self.recorder is not None:
                self.recorder.start(self._header(goal, first))
            obs: Observation | None = first
            for index in range(self.limits.max_steps + 1):
                if index == self.limits.max_steps:
                    status, reason = "max_steps", f"reached the limit of {index} steps"
                    break
                if self.limits.time_limit_s is not None and (
                    time.monotonic() - started > self.limits.time_limit_s
                ):
                    status, reason = "time_limit", f"ran past the {self.limits.time_limit_s:g} s limit"
                    break
                for listener in self.listeners:
                    listener.step_started(index)
                if obs is None:
                    t = time.perf_counter()
                    obs = self.environment.observe()
                    observe_ms = _ms(t)
                step, call, action = self._think(index, goal, history, obs, feedback)
                step.timings_ms = {"observe": observe_ms, **step.timings_ms}
                end: RunEnd | None = None
                if action is not None and call is not None:
                    key = step.screen_hash + json.dumps(step.action, sort_keys=True)
                    repeats = repeats + 1 if key == repeat_key else 1
                    repeat_key = key
                    if repeats >= self.limits.max_repeats:
                        step.error = StepError(
                            "loop", f"the same action was proposed {repeats} times on an unchanged screen"
                        )
                    else:
                        end = self._act(step, action, obs)
                        history.append(call)
                self._finish(steps, step)
                obs = None
                if step.error is not None and step.error.kind in MODEL_OUTPUT_ERRORS:
                    invalid_streak += 1
                    feedback = step.error.message
                    if invalid_streak > self.limits.max_retries:
                        status = "error"
                        reason = f"the model's answer was invalid {invalid_streak} times in a row: {feedback}"
                        break
                    continue
                if step.error is not None:
                    status, reason = "error", step.error.message
                    break
                invalid_streak = 0
                feedback = None
                if end is not None:
                    status, answer = end.status, end.answer
                    reason = {"success": "the model reported success",
                              "failure": "the model reported failure",
                              "answered": "the model answered"}[end.status]
                    break
                if step.result is not None and not step.result["ok"]:
                    feedback = step.result["message"]
        except KeyboardInterrupt:
            status, reason = "aborted", "interrupted by the user"
        except RunAborted as exc:
            status, reason = "aborted", str(exc)
        except (EnvironmentFault, EnvironmentUnavailable) as exc:
            status, reason = "error", f"environment: {exc}"
        except Exception as exc:  # a bug: close the trajectory, then let it surface
            status, reason = "error", f"internal error: {type(exc).__name__}: {exc}"
            pending = exc
        result = RunResult(status, reason, answer, steps,
                           self.recorder.run_dir if self.recorder else None)
        if self.recorder is not None and not self.recorder.closed:
            try:
                self.recorder.close(self._end(result, time.monotonic() - started))
            except KeyboardInterrupt:
                pass  # a second Ctrl-C while closing: the steps are on disk already
        if pending is not None:
            raise pending
        return result

    # -- the phases of a step ------------------------------------------------------------------

    def _think(
        self, index: int, goal: str, history: list[ToolCall], obs: Observation, feedback: str | None
    ) -> tuple[Step, ToolCall | None, BaseModel | None]:
        """Render, generate, parse, validate, gate. Returns the step so far, the call and the
        action to execute (both None when the answer cannot be executed)."""
        timings: dict[str, float] = {}
        started_at = _now()
        # Start encoding the screenshot now, so it is on disk by the time the model has answered.
        shot = self.recorder.screenshot(index, obs.image) if self.recorder is not None else None

        t = time.perf_counter()
        prompt = self.dialect.render(goal, history, obs.image, self.toolset, feedback)
        timings["render"] = _ms(t)
        step = Step(index=index, started_at=started_at, image_size=obs.size, scale=obs.scale,
                    frame=(prompt.frame.width, prompt.frame.height), screen_hash=screen_hash(obs),
                    prompt_text=prompt.text(), timings_ms=timings, screenshot=shot)

        t = time.perf_counter()
        try:
            completion = self.runtime.generate([prompt])[0]
        except RuntimeFailure as exc:
            step.error = StepError("model", str(exc))
            return step, None, None
        finally:
            timings["generate"] = _ms(t)
        step.output_text = completion.text
        step.prompt_text = completion.prompt_text or step.prompt_text
        for phase, ms in completion.timings_ms.items():
            timings[f"generate.{phase}"] = ms
        step.prompt_tokens = completion.prompt_tokens
        step.completion_tokens = completion.completion_tokens

        t = time.perf_counter()
        try:
            calls = self.dialect.parse(completion.text, prompt.frame, self.toolset)
        except ParseError as exc:
            step.error = StepError("parse", str(exc))
            return step, None, None
        finally:
            timings["parse"] = _ms(t)
        step.calls = [{"name": c.name, "arguments": c.raw()} for c in calls]
        call = calls[0]

        t = time.perf_counter()
        try:
            action = self.toolset.validate(call)
        except ToolError as exc:
            step.error = StepError("validation", str(exc))
            return step, None, None
        finally:
            timings["validate"] = _ms(t)
        step.action = self._three_spaces(call, action, obs)

        refusal = self.policy(action) if self.policy is not None else None
        if refusal:
            step.error = StepError("policy", f"the action was refused: {refusal}")
            return step, None, None
        return step, call, action

    def _three_spaces(self, call: ToolCall, action: BaseModel, obs: Observation) -> dict[str, Any]:
        normalized = action.model_dump(mode="json", exclude_none=True)
        device = dict(normalized)
        for name in self.toolset.point_fields(call.name):
            point = getattr(action, name, None)
            if point is not None:
                device[name] = [round(v, 3) for v in obs.to_device(point)]
        return {"tool": call.name, "model": call.raw(), "normalized": normalized, "device": device}

    def _act(self, step: Step, action: BaseModel, obs: Observation) -> RunEnd | None:
        """Execute the action, or end the run when the action says so."""
        ends_run = getattr(action, "ends_run", None)
        end = ends_run() if callable(ends_run) else None
        if isinstance(end, RunEnd):
            step.result = {"ok": True, "executed": False, "message": "ends the run", "data": {}}
            return end
        t = time.perf_counter()
        try:
            result = self.environment.execute(action)
        except (EnvironmentFault, EnvironmentUnavailable) as exc:
            step.error = StepError("environment", str(exc))
            return None
        finally:
            step.timings_ms["execute"] = _ms(t)
        message = result.message
        if len(step.calls) > 1:
            message = f"{message} (only the first of {len(step.calls)} calls was executed)".strip()
        step.result = {"ok": result.ok, "executed": result.executed, "message": message,
                       "data": result.data}
        return None

    def _finish(self, steps: list[Step], step: Step) -> None:
        steps.append(step)
        if self.recorder is not None:
            self.recorder.write_step(step)
        for listener in self.listeners:
            listener.step_finished(step)

    # -- header and closing line ---------------------------------------------------------------

    def _header(self, goal: str, obs: Observation) -> dict[str, Any]:
        described = self.environment.describe()
        assert self.recorder is not None
        return {
            "type": "header", "format": FORMAT, "version": VERSION,
            "run_id": self.recorder.run_dir.name, "goal": goal, "started_at": _now(),
            "environment": described,
            "screen": {"width": obs.size[0], "height": obs.size[1], "scale": obs.scale},
            "model": self.runtime.describe(), "dialect": self.dialect.name,
            "tools": self.toolset.function_schemas(), "limits": asdict(self.limits),
            "dry_run": bool(described.get("dry_run", False)), "versions": package_versions(),
        }

    @staticmethod
    def _end(result: RunResult, duration_s: float) -> dict[str, Any]:
        timings: dict[str, float] = {}
        for step in result.steps:
            for phase, ms in step.timings_ms.items():
                timings[phase] = round(timings.get(phase, 0.0) + ms, 3)

        def total(values: list[int | None]) -> int | None:
            return None if any(v is None for v in values) or not values else sum(
                v for v in values if v is not None)

        return {
            "type": "end", "status": result.status, "reason": result.reason,
            "answer": result.answer, "steps": len(result.steps), "ended_at": _now(),
            "duration_s": round(duration_s, 3),
            "totals": {
                "model_calls": sum(1 for s in result.steps if s.output_text is not None),
                "executed_actions": sum(1 for s in result.steps
                                        if s.result is not None and s.result["executed"]),
                "prompt_tokens": total([s.prompt_tokens for s in result.steps]),
                "completion_tokens": total([s.completion_tokens for s in result.steps]),
                "timings_ms": timings,
            },
        }
