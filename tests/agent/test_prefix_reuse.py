"""Prefix reuse in the local runtime: the kept key/value states of the text before the screenshot
change how long prefill takes, never what the model answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.runtimes.prefix import VERIFIED_SINCE, reuse_is_exact
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


def _first_logits(runtime: TransformersRuntime) -> list[Any]:
    """The logits of the first answer token of every later ``generate`` call of ``runtime``."""
    captured: list[Any] = []
    original = runtime.model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **{**kwargs, "output_logits": True})
        captured.append(output.logits[0].float().cpu())
        return output

    runtime.model.generate = generate
    return captured


@pytest.mark.parametrize("family", FAMILIES)
def test_reuse_gives_the_same_greedy_answers(family: str, checkpoint: Callable[..., Path]) -> None:
    import torch

    folder = str(checkpoint(family))
    plain_runtime = TransformersRuntime(
        folder, RuntimeOptions(max_new_tokens=12, reuse_prefix=False)
    )
    reuse_runtime = TransformersRuntime(folder, RuntimeOptions(max_new_tokens=12))
    plain_logits, reused_logits = _first_logits(plain_runtime), _first_logits(reuse_runtime)
    plain, reused = _steps(plain_runtime), _steps(reuse_runtime)
    assert [text for text, _ in reused] == [text for text, _ in plain]
    # The same text can hide wrong positions (a random model's argmax rarely moves): the first
    # answer token's logits must agree too. On transformers 5.17 Qwen2.5-VL's were 0.07 apart.
    for step, (a, b) in enumerate(zip(plain_logits, reused_logits)):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (step, float((a - b).abs().max()))
    assert all(count == 0 for _, count in plain)
    counts = [count for _, count in reused]
    assert counts[0] == 0 and all(
        count > 1000 for count in counts[1:5]
    )  # the tools section at least
    assert counts[5:] == [0, 0]  # batches are left alone


@given(
    model_type=st.sampled_from(sorted(VERIFIED_SINCE) + ["qwen3_vl_moe", "mllama", ""]),
    major=st.integers(4, 6),
    minor=st.integers(0, 40),
    suffix=st.sampled_from(["", ".0", ".2", ".0.dev0", "rc1", ".1+local"]),
)
def test_reuse_is_on_only_where_it_was_verified_exact(
    model_type: str, major: int, minor: int, suffix: str
) -> None:
    since = VERIFIED_SINCE.get(model_type)
    expected = since is not None and (major, minor) >= since
    assert reuse_is_exact(model_type, f"{major}.{minor}{suffix}") is expected


@pytest.mark.parametrize("version", ["", "dev", "five.twenty", "5"])
def test_an_unreadable_transformers_version_turns_reuse_off(version: str) -> None:
    assert reuse_is_exact("qwen2_5_vl", version) is False


def test_a_release_where_reuse_changed_answers_prefills_in_full(
    checkpoint: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # On transformers 5.22.2 a Qwen3-VL answer differed with reuse (checked by running the test
    # above against it); a runtime there must not reuse.
    import transformers

    monkeypatch.setattr(transformers, "__version__", "5.22.2")
    with caplog.at_level("INFO", logger="vlagent.local"):
        runtime = TransformersRuntime(str(checkpoint("qwen3-vl")), RuntimeOptions(max_new_tokens=4))
    assert runtime.prefix is None
    assert "prefix reuse is off" in caplog.text and "5.22.2" in caplog.text
    assert [reused for _, reused in _steps(runtime)] == [0] * 7


@pytest.mark.parametrize("family", FAMILIES)
def test_steps_without_an_image_leave_answers_unchanged_too(
    family: str, checkpoint: Callable[..., Path]
) -> None:
    # A robot without a camera, or a frame dropped: prompts without an image between prompts
    # with one. Continued from a kept prefix, the Qwen families placed an image-less prompt at the
    # last image prompt's positions (first-token logits 0.03 apart, then different answers).
    import dataclasses

    import torch

    folder = str(checkpoint(family))
    plain_runtime = TransformersRuntime(
        folder, RuntimeOptions(max_new_tokens=8, reuse_prefix=False)
    )
    reuse_runtime = TransformersRuntime(folder, RuntimeOptions(max_new_tokens=8))
    plain_logits, reused_logits = _first_logits(plain_runtime), _first_logits(reuse_runtime)
    dialect = dialect_for(reuse_runtime.model_id, reuse_runtime.model_type, reuse_runtime.resize)
    history = [
        ToolCall("mobile_use", {"action": "wait", "time": n + 1}, {"action": "wait", "time": n + 1})
        for n in range(5)
    ]
    for step, with_image in enumerate([True, False, False, True, False, True]):
        prompt = dialect.render(
            "Move the arm to the red cube", history[:step], _screen(step), mobile_tools()
        )
        if not with_image:  # as the loop renders an observation without an image
            prompt = dataclasses.replace(
                prompt,
                messages=[
                    {**m, "content": [c for c in m["content"] if c.get("type") != "image"]}
                    if isinstance(m["content"], list)
                    else m
                    for m in prompt.messages
                ],
            )
        plain, reused = plain_runtime.generate([prompt])[0], reuse_runtime.generate([prompt])[0]
        assert reused.text == plain.text, step
        a, b = plain_logits[-1], reused_logits[-1]
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (step, float((a - b).abs().max()))
