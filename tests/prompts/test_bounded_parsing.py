"""Reading an answer is bounded: an answer over the size limit is refused before any parser runs,
JSON nested too deep and numbers that do not fit are parse errors fed back to the model, and an
exponent is read as the number it is. Whatever the text, every dialect ends in calls or in a
ParseError (the time each parser takes per KB is checked by benchmarks/parse_scaling.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlagent.agent.cli import main
from vlagent.agent.core.interpret import AnswerError, read_answer
from vlagent.prompts import CoordinateFrame, Dialect, ParseError, Prompt, available, get_dialect
from vlagent.prompts.bounds import MAX_ANSWER_CHARS, MAX_DEPTH, MAX_NUMBER_CHARS, read_number
from vlagent.prompts.jsontext import first_object, loads_or_text
from vlagent.tools import ToolCall, ToolSet, computer_tools

DIALECTS = available()
QWEN_LIKE = [d for d in DIALECTS if not d.startswith("ui-tars")]
SCREEN = (1280, 800)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read(dialect_name: str, text: str) -> Any:
    """``text`` read as a run reads it: the first call validated, or AnswerError."""
    dialect = get_dialect(dialect_name)
    toolset = computer_tools()
    frame = dialect.frame_for(SCREEN, toolset)
    return read_answer(text, dialect, frame, toolset, lambda p: p)


def parse(dialect_name: str, text: str) -> list[ToolCall]:
    dialect = get_dialect(dialect_name)
    toolset = computer_tools()
    return dialect.parse(text, dialect.frame_for(SCREEN, toolset), toolset)


def click(dialect_name: str, x: str, y: str) -> str:
    """A click at the literals ``x`` and ``y`` as written, in the dialect's own format."""
    if dialect_name.startswith("ui-tars"):
        return f"Thought: go\nAction: click(start_box='({x},{y})')"
    arguments = f'{{"action": "left_click", "coordinate": [{x}, {y}]}}'
    body = f'{{"name": "computer_use", "arguments": {arguments}}}'
    return body if dialect_name == "json" else f"<tool_call>{body}</tool_call>"


def xml_click(x: str, y: str) -> str:
    return (
        "<tool_call><function=computer_use><parameter=action>left_click</parameter>"
        f"<parameter=coordinate>[{x}, {y}]</parameter></function></tool_call>"
    )


# -- the size limit, before any parser ---------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@given(
    unit=st.text(alphabet="a(\"'[{<,= \n)1e.:", min_size=1, max_size=6),
    extra=st.integers(1, 3 * MAX_ANSWER_CHARS),
)
@settings(max_examples=20, deadline=None)
def test_an_answer_over_the_limit_is_refused_before_parsing(
    dialect: str, unit: str, extra: int
) -> None:
    text = (unit * ((MAX_ANSWER_CHARS + extra) // len(unit) + 1))[: MAX_ANSWER_CHARS + extra]
    with pytest.raises(AnswerError, match="over the limit of 65,536") as refused:
        read(dialect, text)
    assert refused.value.stage == "parse"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_valid_call_padded_to_the_limit_is_still_read(dialect: str) -> None:
    frame = get_dialect(dialect).frame_for(SCREEN, computer_tools())
    call = click(dialect, f"{frame.width / 2:g}", f"{frame.height / 4:g}")
    padded = call + " " * (MAX_ANSWER_CHARS - len(call))
    assert len(padded) == MAX_ANSWER_CHARS
    assert read(dialect, padded).record.normalized["coordinate"] == pytest.approx([0.5, 0.25])


def test_the_100_kb_ui_tars_answer_is_refused_at_once() -> None:
    """The attacker's answer: 36 s of scanning under --time-limit 3."""
    text = "Action: type(content='" + "x' " * 34_000
    with pytest.raises(ParseError, match="over the limit"):
        parse("ui-tars", text)


def test_a_10_mb_answer_is_refused_without_reading_it() -> None:
    with pytest.raises(ParseError, match="10,485,760 characters long"):
        parse("ui-tars-1.5", "Action: " * (10 * 1024 * 1024 // 8))


def test_a_dialect_cannot_step_around_the_size_check() -> None:
    with pytest.raises(TypeError, match="implement parse_answer"):

        class Sloppy(Dialect):  # defining it is the test
            name = "sloppy"

            def render(self, *args: Any, **kwargs: Any) -> Prompt:
                raise NotImplementedError

            def parse(self, text: str, frame: CoordinateFrame, toolset: ToolSet) -> list[ToolCall]:
                return []


# -- adversarial text: calls or a ParseError, whatever the text --------------------------------

PIECES = [
    "Action:", "Action: ", "Thought:", "Reflection:", "\n", " ", "\t", "a", "1", "e", ".", "-",
    "(", ")", "'", '"', ",", "=", "[", "]", "{", "}", "<", ">", "\\", ":", "<tool_call>",
    "</tool_call>", "<function=", "<parameter=", "<think>", "</think>", "```", "```json",
    "click(", "type(content='", "start_box='", "<point>", "<|box_start|>", "NaN", "1e400",
    '"name": "computer_use"', '"arguments": {', "9" * 80, "\ud800",
]  # fmt: skip


@pytest.mark.parametrize("dialect", DIALECTS)
@given(
    head=st.lists(st.sampled_from(PIECES), max_size=6).map("".join),
    unit=st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join),
    size=st.sampled_from([10, 1000, 20_000, MAX_ANSWER_CHARS]),
)
@FAST
def test_adversarial_text_up_to_the_limit_ends_in_calls_or_a_parse_error(
    dialect: str, head: str, unit: str, size: int
) -> None:
    text = (head + unit * (size // len(unit) + 1))[:size]
    try:
        calls = parse(dialect, text)
    except ParseError as exc:
        assert len(str(exc)) < 500  # a message for the model, not a copy of the answer
        return
    assert all(isinstance(call, ToolCall) for call in calls)


# -- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", QWEN_LIKE)
@given(
    depth=st.integers(MAX_DEPTH + 1, 20_000),
    opener=st.sampled_from(["[", '{"a": ', '[{"k": ']),
    closed=st.booleans(),
)
@FAST
def test_json_nested_over_the_limit_is_a_parse_error(
    dialect: str, depth: int, opener: str, closed: bool
) -> None:
    nested = opener * depth + ("1" + "]" * depth if closed and opener == "[" else "")
    args = f'{{"action": "left_click", "coordinate": {nested}}}'
    body = f'{{"name": "computer_use", "arguments": {args}}}'
    text = body if dialect == "json" else f"<tool_call>{body}</tool_call>"
    with pytest.raises(ParseError, match=f"more than {MAX_DEPTH} deep"):
        parse(dialect, text[:MAX_ANSWER_CHARS])


@given(depth=st.integers(0, MAX_DEPTH - 3))
@settings(max_examples=30, deadline=None)
def test_json_within_the_depth_limit_is_read(depth: int) -> None:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    obj = first_object(json.dumps({"name": "x", "arguments": {"v": value}}))
    assert obj == {"name": "x", "arguments": {"v": value}}


def test_a_hundred_thousand_open_brackets_are_a_parse_error_not_a_recursion_error() -> None:
    with pytest.raises(ParseError, match="deep"):
        first_object("{" + "[" * 100_000)
    with pytest.raises(ParseError, match="deep"):
        loads_or_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ParseError, match="deep"):
        parse("qwen2-vl", xml_click("[" * 60_000, "1"))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"name": "x", "arguments": {"text": "[" * 1000}})
    assert first_object(text) == {"name": "x", "arguments": {"text": "[" * 1000}}


# -- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@given(digits=st.integers(MAX_NUMBER_CHARS + 1, 20_000), sign=st.sampled_from(["", "-"]))
@FAST
def test_a_number_too_long_to_read_is_a_parse_error(dialect: str, digits: int, sign: str) -> None:
    with pytest.raises(AnswerError, match="too large to read") as refused:
        read(dialect, click(dialect, sign + "7" * digits, "5"))
    assert refused.value.stage == "parse"


@pytest.mark.parametrize("dialect", DIALECTS)
@given(
    mantissa=st.integers(1, 9),
    exponent=st.integers(309, 10**6),
    e=st.sampled_from(["e", "E", "e+"]),
)
@FAST
def test_an_exponent_beyond_a_float_is_a_parse_error(
    dialect: str, mantissa: int, exponent: int, e: str
) -> None:
    with pytest.raises(AnswerError, match="out of range") as refused:
        read(dialect, click(dialect, f"{mantissa}{e}{exponent}", "5"))
    assert refused.value.stage == "parse"


@pytest.mark.parametrize("dialect", DIALECTS)
@given(
    x=st.floats(0, 1, allow_nan=False),
    y=st.floats(0, 1, allow_nan=False),
    style=st.sampled_from(["{:e}", "{:E}", "{:.3e}", "{:.10E}", "{!r}"]),
)
@FAST
def test_exponent_forms_are_read_as_the_numbers_they_are(
    dialect: str, x: float, y: float, style: str
) -> None:
    """``5E2`` is 500, never 5 (nor 5 and 2 as a point)."""
    extent = get_dialect(dialect).frame_for(SCREEN, computer_tools())
    xs, ys = style.format(x * extent.width), style.format(y * extent.height)
    (call,) = parse(dialect, click(dialect, xs, ys))
    assert call.arguments["coordinate"] == pytest.approx(
        [float(xs) / extent.width, float(ys) / extent.height], rel=1e-12, abs=1e-12
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_1e3_is_a_thousand(dialect: str) -> None:
    frame = get_dialect(dialect).frame_for(SCREEN, computer_tools())
    (call,) = parse(dialect, click(dialect, "1e2", "5E1"))
    assert call.raw()["coordinate"] == [100, 50]
    assert call.arguments["coordinate"] == pytest.approx([100 / frame.width, 50 / frame.height])


def test_an_xml_parameter_reads_numbers_by_the_same_rule() -> None:
    (call,) = parse("qwen2-vl", xml_click("5E2", "2.5e2"))
    assert call.raw()["coordinate"] == [500.0, 250.0]
    with pytest.raises(ParseError, match="too large to read"):
        parse("qwen2-vl", xml_click("9" * 5000, "1"))
    with pytest.raises(ParseError, match="out of range"):
        parse("qwen2-vl", xml_click("1e400", "1"))


@pytest.mark.parametrize("literal", ["0x10", "1e", "1.2.3", "1-2", "10px", "١٠٠"])
def test_a_ui_tars_point_that_is_not_plain_numbers_is_refused(literal: str) -> None:
    """Nothing is read as another number: "0x10" is not 0 and 10, "1-2" not 1 and -2."""
    with pytest.raises(ParseError, match="is not a point"):
        parse("ui-tars", f"Action: click(start_box='({literal},5)')")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_never_executed(dialect: str, value: str) -> None:
    text = click(dialect, value, "5")
    with pytest.raises(AnswerError):
        read(dialect, text)


@given(
    value=st.one_of(
        st.integers(-(10**40), 10**40),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    style=st.sampled_from(["{!r}", "{:e}", "{:E}", "{:.17g}", "{:f}"]),
)
@settings(max_examples=200, deadline=None)
def test_read_number_is_exact_or_refuses(value: float, style: str) -> None:
    literal = style.format(value)
    if len(literal) > MAX_NUMBER_CHARS:
        with pytest.raises(ParseError, match="too large to read"):
            read_number(literal)
        return
    read = read_number(literal)
    assert read == (int(literal) if isinstance(read, int) else float(literal))
    assert isinstance(read, int) == literal.lstrip("-").isdigit()
    assert math.isfinite(read)


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", '
        '"coordinate": [' + "1" * 5000 + ", 2]}}</tool_call>",
        "Action: click(start_box='(" + "1" * 5000 + ",2)')",
    ],
    ids=["json", "ui-tars"],
)
def test_agent_parse_of_a_5000_digit_number_is_not_a_crash(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dialect = "ui-tars" if text.startswith("Action") else "qwen2-vl"
    code = main(["parse", "--dialect", dialect, "--screen", "1280x800", text])
    _, err = capsys.readouterr()
    assert code not in (0, 70)
    assert "too large to read" in err
