"""The thinking half of a step: render the prompt, ask the model, read its answer. Each phase
records what it did on the step (its text, tokens, errors) and how long it took."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from vlagent.agent.core.elements import element_points, element_records, list_elements
from vlagent.agent.core.interpret import AnswerError, Reading, read_answer
from vlagent.agent.core.recording import now
from vlagent.agent.core.steps import Step, StepError
from vlagent.agent.core.views import record_views, show_views
from vlagent.agent.runtimes.base import RuntimeFailure
from vlagent.agent.trajectory.records import CallRecord
from vlagent.environments import Observation
from vlagent.environments.change import pixel_digest
from vlagent.prompts import CoordinateFrame, Prompt
from vlagent.tools import ToolCall
from vlagent.tools.secrets import redact_data

if TYPE_CHECKING:
    from vlagent.agent.core.context import RunContext
    from vlagent.agent.runtimes.base import Completion

screen_hash = pixel_digest
"""A digest of the first image's pixels: equal hashes mean an unchanged screen."""


def ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def encodable(text: str) -> str:
    """``text`` with lone surrogates replaced: printing, recording and parsing must not fail on
    it."""
    return text.encode("utf-8", "replace").decode("utf-8")


def render(
    ctx: RunContext,
    goal: str,
    history: list[ToolCall],
    feedback: str | None,
    index: int,
    obs: Observation,
) -> tuple[Step, Prompt, dict[str, CoordinateFrame]]:
    """The prompt for ``obs``, the frame of each image it shows, and the step that records
    them (its ``render`` time included)."""
    timings = dict[str, float]()
    started_at = now()
    # Start encoding the screenshot now, so it is on disk by the time the model has answered.
    shot = ctx.recorder.screenshot(index, obs.image) if ctx.recorder is not None else None
    t = time.perf_counter()
    prompt = ctx.dialect.render(
        goal, history, obs.image, ctx.toolset, feedback, surface=obs.surface
    )
    # What the environment said about the screen, for runtimes that compare screens (replay).
    prompt.metadata.update(obs.metadata, elements=obs.elements)
    list_elements(prompt, obs)
    frames = show_views(prompt, obs, ctx.dialect, ctx.toolset)
    # The one place a prompt is made: the goal, the feedback on the last step and what the screen
    # says reach the model with every secret masked (tools/secrets.py).
    prompt.messages = redact_data(prompt.messages)
    timings["render"] = ms_since(t)
    step = Step(
        index=index,
        started_at=started_at,
        image_size=obs.size,
        scale=obs.scale,
        frame=(prompt.frame.width, prompt.frame.height),
        screen_hash=screen_hash(obs),
        prompt_text=prompt.text(),
        timings_ms=timings,
        screenshot=shot,
        elements=element_records(obs.elements),
        **record_views(ctx.recorder, index, obs),
    )
    return step, prompt, frames


def generate(ctx: RunContext, step: Step, prompt: Prompt) -> Completion | None:
    """Ask the model; record its answer, tokens and times on ``step``. None (the error on
    ``step``) when the runtime failed."""
    timings = step.timings_ms  # pydantic copied the dict: time into the step's own
    t = time.perf_counter()
    try:
        completion = ctx.runtime.generate([prompt])[0]
    except RuntimeFailure as exc:
        step.error = StepError(kind="model", message=str(exc))
        return None
    finally:
        timings["generate"] = ms_since(t)
    completion.text = encodable(completion.text)
    step.output_text = completion.text
    for phase, ms in completion.timings_ms.items():
        timings[f"generate.{phase}"] = ms
    step.prompt_tokens, step.completion_tokens = (
        completion.prompt_tokens,
        completion.completion_tokens,
    )
    return completion


def read(
    ctx: RunContext,
    step: Step,
    text: str,
    prompt: Prompt,
    frames: dict[str, CoordinateFrame],
    obs: Observation,
) -> Reading | None:
    """Parse and validate the model's answer (timed as ``parse``). None (the calls read and
    the error on ``step``) when it cannot be read."""
    t = time.perf_counter()
    try:
        images = {name: (frame, partial(obs.to_device, on=name)) for name, frame in frames.items()}
        return read_answer(
            text,
            ctx.dialect,
            prompt.frame,
            ctx.toolset,
            obs.to_device,
            element_points=element_points(obs),
            images=images if obs.views else None,
        )
    except AnswerError as exc:
        step.calls = [CallRecord(name=c.name, arguments=c.raw()) for c in exc.calls]
        step.error = StepError(kind=exc.stage, message=str(exc))
        return None
    finally:
        step.timings_ms["parse"] = ms_since(t)
