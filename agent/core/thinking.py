"""The thinking half of a step: render the prompt, ask the model, read its answer. Each phase
records what it did on the step (its text, tokens, errors) and how long it took. Rendering and
reading run on the thread that owns the run; only :func:`ask`'s call runs on the model worker,
and it touches nothing but the runtime."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from PIL import Image

from vlagent.agent.core.deadline import Answer
from vlagent.agent.core.elements import element_points, element_records, list_elements
from vlagent.agent.core.interpret import AnswerError, Reading, read_answer
from vlagent.agent.core.recording import now
from vlagent.agent.core.steps import Step, StepError
from vlagent.agent.core.views import record_views, show_views
from vlagent.agent.runtimes.base import Completion, answer_by
from vlagent.agent.trajectory.records import CallRecord
from vlagent.environments import Observation
from vlagent.prompts import CoordinateFrame, Message, Prompt
from vlagent.tools import ToolCall
from vlagent.tools.secrets import redact_data

if TYPE_CHECKING:
    from vlagent.agent.core.context import RunContext

_STAND_IN = Image.new("RGB", (448, 448))
"""What a dialect is given to render for an observation without an image; the prompt is then
stripped of it, so the model reads the state alone."""


def ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def encodable(text: str) -> str:
    """``text`` with lone surrogates replaced: printing, recording and parsing must not fail on
    it."""
    return text.encode("utf-8", "replace").decode("utf-8")


def render(
    ctx: RunContext,
    goal: str,
    history: Sequence[ToolCall],
    feedback: str | None,
    index: int,
    obs: Observation,
) -> tuple[Step, Prompt, dict[str, CoordinateFrame]]:
    """The prompt for ``obs``, the frame of each image it shows, and the step that records
    them (its ``render`` time included). The step's images go to the recorder's writer now, to
    be on disk by the time the model has answered."""
    timings = dict[str, float]()
    started_at = now()
    t = time.perf_counter()
    image = obs.image if obs.has_image else _STAND_IN
    prompt = ctx.dialect.render(goal, history, image, ctx.toolset, feedback, surface=obs.surface)
    if not obs.has_image:
        prompt.messages = [_without_images(message) for message in prompt.messages]
    # What the environment said about the screen, for runtimes that compare screens (replay),
    # and the observation itself, as data, for a model that is a Python function.
    prompt.metadata.update(obs.metadata, elements=obs.elements, observation=obs)
    list_elements(prompt, obs)
    frames = show_views(prompt, obs, ctx.dialect, ctx.toolset)
    # The one place a prompt is made: the goal, the feedback on the last step and what the screen
    # says reach the model with every secret masked (tools/secrets.py).
    prompt.messages = redact_data(prompt.messages)
    timings["render"] = ms_since(t)
    step = Step(
        index=index,
        started_at=started_at,
        image_size=obs.size if obs.has_image else (0, 0),
        scale=obs.scale,
        frame=(prompt.frame.width, prompt.frame.height),
        prompt_text=prompt.text(),
        timings_ms=timings,
        elements=element_records(obs.elements),
        **record_views(ctx.recorder, index, obs),
    )
    return step, prompt, frames


def _without_images(message: Message) -> Message:
    content = message["content"]
    if isinstance(content, str):
        return message
    return {**message, "content": [part for part in content if part.get("type") != "image"]}


def ask(ctx: RunContext, prompt: Prompt, by: float | None) -> Callable[[], Completion]:
    """The model call for the worker thread: ``prompt`` answered by ``by`` (``time.monotonic``,
    None: no limit) for runtimes that can stop waiting."""

    def call() -> Completion:
        with answer_by(by):
            return ctx.runtime.generate([prompt])[0]

    return call


def apply(step: Step, answer: Answer) -> Completion | None:
    """Record the model's answer on ``step`` (its text, tokens, times). None (the error on
    ``step``) when the runtime failed."""
    timings = step.timings_ms
    timings["generate"] = answer.ms
    completion = answer.completion
    if completion is None:
        step.error = StepError(kind="model", message=answer.failure or "the model failed")
        return None
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
