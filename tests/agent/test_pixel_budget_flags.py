"""A pixel budget outside a model's range is one line that names the flag to change, whichever
way the model is reached: a local checkpoint, scripted answers, an endpoint, or ``agent parse``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli, write_script
from vlagent.prompts import get_dialect
from vlagent.prompts.resize import ResizeError, user_budget

CALL = '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [1, 1]}}</tool_call>'  # noqa: E501


@settings(max_examples=200)
@given(
    dialect=st.sampled_from(["qwen2-vl", "qwen2.5-vl", "qwen3-vl", "ui-tars", "ui-tars-1.5"]),
    low=st.none() | st.integers(1, 20_000_000),
    high=st.none() | st.integers(784, 20_000_000),
)
def test_a_budget_is_taken_or_refused_naming_the_flag(
    dialect: str, low: int | None, high: int | None
) -> None:
    rule = get_dialect(dialect).resize
    assert rule is not None
    want_low = rule.min_pixels if low is None else low
    want_high = rule.max_pixels if high is None else high
    if want_low <= want_high:
        taken = user_budget(rule, low, high)
        assert (taken.min_pixels, taken.max_pixels) == (want_low, want_high)
        return
    with pytest.raises(ResizeError) as refused:
        user_budget(rule, low, high)
    flag = "--max-pixels" if high is not None else "--min-pixels"
    assert str(refused.value).startswith(flag)


@pytest.mark.parametrize(
    "how",
    [
        ["--model", "scripted:{script}"],
        ["--model", "scripted:{script}", "--dialect", "qwen3-vl"],
        ["--endpoint", "http://127.0.0.1:9", "--model", "Qwen/Qwen2.5-VL-7B-Instruct"],
        ["--model", "{checkpoint}"],
    ],
)
def test_agent_run_says_which_flag_to_change(
    how: list[str], tmp_path: Path, checkpoint: object
) -> None:
    script = write_script(tmp_path / "a.txt", [CALL])
    folder = checkpoint("qwen2.5-vl")  # type: ignore[operator]
    args = [a.format(script=script, checkpoint=folder) for a in how]
    result = run_cli(
        *"run --env memory --goal x --max-pixels 3000".split(), "--out", str(tmp_path / "r"), *args
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode not in (0, 70), result.stderr[-2000:]
    assert len(lines) == 1 and "--max-pixels 3,000 is below" in lines[0], result.stderr[-2000:]


def test_agent_parse_says_which_flag_to_change() -> None:
    result = run_cli(
        *"parse --dialect qwen2.5-vl --screen 720x1280 --max-pixels 3000".split(), CALL
    )
    assert result.returncode not in (0, 70)
    assert "--max-pixels 3,000 is below" in result.stderr
