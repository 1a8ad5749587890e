"""One step of an offline evaluation: the prompt ``agent run`` would build for it (goal as the
protocol words it, the gold history, that step's screenshot), the model's answer read as a run
reads it, and the verdict; a model call that keeps failing becomes a failed line, not an abort.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from vlagent.agent.core.elements import element_points, list_elements
from vlagent.agent.core.interpret import AnswerError, read_answer
from vlagent.agent.evaluation.gold import Episode, GoldStep, Verdict, kind_of
from vlagent.agent.evaluation.protocols import Protocol
from vlagent.agent.evaluation.scoring import Scorer, score
from vlagent.agent.runtimes.base import Completion, Runtime, RuntimeFailure
from vlagent.environments import Observation
from vlagent.prompts import Dialect, Prompt, model_call
from vlagent.tools import ToolCall, ToolSet, action_space_of, mobile_tools


def history_call(step: GoldStep, dialect: Dialect, image_size: tuple[int, int]) -> ToolCall:
    """A gold step as the history shows it: points in the model's own space."""
    return model_call(
        step.tool,
        step.arguments,
        dialect.frame_for(image_size, action_space_of(step.tool)),
        action_space_of(step.tool),
    )


@dataclass
class Item:
    episode: Episode
    step: GoldStep
    position: int


def guarded(
    batch: list[Item], predict: Callable[[list[Item]], list[dict[str, Any]]], retries: int
) -> list[dict[str, Any]]:
    """``predict(batch)``, never failing: a batch whose model call fails is asked again one step
    at a time, so that one bad step does not sink the others; a step still failing after
    ``retries`` more calls becomes a failed line, with the error. ``attempts``: the calls a
    step's answer took."""
    error: RuntimeFailure | None = None
    tries = 1 if len(batch) > 1 else retries + 1
    for attempt in range(1, tries + 1):
        try:
            lines = predict(batch)
        except RuntimeFailure as exc:
            error = exc
            continue
        for line in lines:
            line["attempts"] = line.get("attempts", attempt)
        return lines
    if len(batch) > 1:
        return [
            line | {"attempts": line["attempts"] + 1}
            for item in batch
            for line in guarded([item], predict, retries)
        ]
    return [_failed_line(batch[0], f"the model call failed: {error}", tries)]


def _failed_line(item: Item, error: str, attempts: int) -> dict[str, Any]:
    return {
        **_gold_part(item),
        "output": None,
        "parsed": None,
        "type_match": False,
        "exact_match": False,
        "reason": error,
        "failed": True,
        "error": error,
        "attempts": attempts,
    }


def _gold_part(item: Item) -> dict[str, Any]:
    return {
        "episode": item.episode.id,
        "step": item.step.index,
        "image": str(item.step.image),
        "gold": {
            "tool": item.step.tool,
            "arguments": item.step.arguments,
            "kind": kind_of(item.step.tool, item.step.arguments),
        },
    }


def predict(
    batch: list[Item],
    runtime: Runtime,
    dialect: Dialect,
    scorer: Scorer,
    protocol: Protocol,
    ui_tree: bool = False,
) -> list[dict[str, Any]]:
    """Predict one batch in a single generate call; score each answer as a predictions line. A
    step whose screenshot cannot be read is a failed line (no model call can be made for it)."""
    asked: list[tuple[Item, Prompt, Observation]] = []
    unreadable: dict[int, dict[str, Any]] = {}
    for n, item in enumerate(batch):
        try:
            prompt, screen = _prompt(item, dialect, protocol, ui_tree)
        except (OSError, Image.DecompressionBombError) as exc:
            error = f"a screenshot of this step cannot be read ({type(exc).__name__}: {exc})"
            unreadable[n] = _failed_line(item, error, 0)
            continue
        asked.append((item, prompt, screen))
    started = time.perf_counter()
    completions = runtime.generate([prompt for _, prompt, _ in asked]) if asked else []
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    answered = iter(
        _line(item, prompt, screen, completion, dialect, scorer, ui_tree)
        | {"latency_ms": elapsed, "batched_with": len(asked)}
        for (item, prompt, screen), completion in zip(asked, completions)
    )
    return [unreadable[n] if n in unreadable else next(answered) for n in range(len(batch))]


def _prompt(
    item: Item, dialect: Dialect, protocol: Protocol, ui_tree: bool
) -> tuple[Prompt, Observation]:
    """The prompt ``agent run`` would build for this step (goal as the protocol words it, the
    gold history, this step's screenshot), and the screen the answer is read against."""
    with Image.open(item.step.image) as opened:
        image = opened.convert("RGB")
    history = []
    for earlier in item.episode.steps[: item.position]:
        with Image.open(earlier.image) as shot:
            size = shot.size
        history.append(history_call(earlier, dialect, size))
    goal = protocol.goal_for(item.episode.goal, item.step.instruction)
    prompt = dialect.render(goal, history, image, _tools(item, ui_tree))
    screen = _screen(item, image, ui_tree)
    list_elements(prompt, screen)
    # Never sent to a model; lets a runtime that looks answers up (an oracle) know the step.
    prompt.metadata["gold_step"] = {"episode": item.episode.id, "step": item.step.index}
    return prompt, screen


def _line(
    item: Item,
    prompt: Prompt,
    screen: Observation,
    completion: Completion,
    dialect: Dialect,
    scorer: Scorer,
    ui_tree: bool,
) -> dict[str, Any]:
    """The model's answer for one step read as a run would read it, scored against the gold
    step: one line of predictions.jsonl (an unreadable answer is a miss, with the reason)."""
    tools, output = _tools(item, ui_tree), completion.text
    tool, arguments, parsed, problem = None, None, False, ""
    try:
        record = read_answer(
            output,
            dialect,
            prompt.frame,
            tools,
            screen.to_device,
            element_points=element_points(screen),
        ).record
        tool, arguments, parsed = record.tool, record.normalized, True
    except AnswerError as exc:
        problem = str(exc)
    seen = prompt.model_image_size or screen.size
    verdict = (
        score(item.step, tool, arguments, scorer, seen)
        if parsed
        else Verdict(False, False, problem)
    )
    return {
        **_gold_part(item),
        "output": output,
        "parsed": {"tool": tool, "arguments": arguments} if parsed else None,
        "type_match": verdict.type_match,
        "exact_match": verdict.exact_match,
        "reason": verdict.reason,
        "failed": False,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
    }


def _screen(item: Item, image: Image.Image, ui_tree: bool) -> Observation:
    listed = ui_tree and item.step.ui_tree is not None
    return Observation(image, elements=list(item.step.ui_tree or ()) if listed else None)


def _tools(item: Item, ui_tree: bool) -> ToolSet:
    if ui_tree and item.step.ui_tree is not None and item.step.tool == "mobile_use":
        return mobile_tools(elements=True)
    return action_space_of(item.step.tool)
