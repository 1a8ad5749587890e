"""Prefix reuse in the local runtime: the kept key/value states of the text before the screenshot
change how long prefill takes, never what the model answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.testing import FAMILIES
from vlagent.prompts import dialect_for
from vlagent.tools import ToolCall, mobile_tools


def _screen(step: int) -> Image.Image:
    image = Image.new("RGB", (200, 300), "white")
    ImageDraw.Draw(image).rectangle([10 * step, 10, 80, 60], fill="red")
    return image


def _steps(runtime: TransformersRuntime) -> list[tuple[str, int]]:
    """Four agent steps (history grows at its end), then a different goal (a shorter shared
    prefix), then a batch of two: the answers and how many prompt tokens each step reused."""
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    history: list[ToolCall] = []
    seen = []
    for step in range(4):
        prompt = dialect.render("Open the Clock app", history, _screen(step), mobile_tools())
        completion = runtime.generate([prompt])[0]
        seen.append((completion.text, completion.reused_prompt_tokens))
        history.append(
            ToolCall(
                "mobile_use",
                {"action": "wait", "time": step + 1},
                {"action": "wait", "time": step + 1},
            )
        )
    other = dialect.render("Turn on airplane mode", history[:1], _screen(5), mobile_tools())
    completion = runtime.generate([other])[0]
    seen.append((completion.text, completion.reused_prompt_tokens))
    batch = runtime.generate([other, other])
    seen += [(c.text, c.reused_prompt_tokens) for c in batch]
    return seen


@pytest.mark.parametrize("family", FAMILIES)
def test_reuse_gives_the_same_greedy_answers(family: str, checkpoint: Callable[..., Path]) -> None:
    folder = str(checkpoint(family))
    plain = _steps(
        TransformersRuntime(folder, RuntimeOptions(max_new_tokens=12, reuse_prefix=False))
    )
    reused = _steps(TransformersRuntime(folder, RuntimeOptions(max_new_tokens=12)))
    assert [text for text, _ in reused] == [text for text, _ in plain]
    assert all(count == 0 for _, count in plain)
    counts = [count for _, count in reused]
    assert counts[0] == 0 and all(
        count > 1000 for count in counts[1:5]
    )  # the tools section at least
    assert counts[5:] == [0, 0]  # batches are left alone
