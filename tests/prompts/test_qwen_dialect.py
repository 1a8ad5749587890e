"""The Qwen function-calling dialect: realistic answers, broken ones, and relative coordinates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vlagent.environments import Observation
from vlagent.prompts import CoordinateFrame, ParseError, dialect_for, get_dialect
from vlagent.tools import ToolCall, ToolSet, computer_tools, mobile_tools

QWEN = get_dialect("qwen2-vl")
FRAME = QWEN.frame_for((1920, 1080))


def parse_one(text: str, tools: ToolSet | None = None) -> ToolCall:
    calls = QWEN.parse(text, FRAME, tools or mobile_tools())
    assert len(calls) == 1
    return calls[0]


def test_qwen2_vl_points_are_relative_to_1000() -> None:
    assert FRAME == CoordinateFrame(1000, 1000)
    call = parse_one(
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", '
        '"coordinate": [500, 500]}}\n</tool_call>',
        computer_tools(),
    )
    action = computer_tools().validate(call)
    screen = Observation(Image.new("RGB", (1920, 1080)))
    assert screen.to_device(action.coordinate) == (960.0, 540.0)  # type: ignore[attr-defined]
    hidpi = Observation(Image.new("RGB", (1920, 1080)), scale=2.0)
    assert hidpi.to_device(action.coordinate) == (1920.0, 1080.0)  # type: ignore[attr-defined]
    assert call.raw_arguments["coordinate"] == [500, 500]


@pytest.mark.parametrize(
    "text",
    [
        # what the cookbook shows
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [639, '
        "1095]}}\n</tool_call>",
        # no closing tag
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [639, '
        "1095]}}",
        # a code fence inside the tag, a trailing comma
        '<tool_call>```json\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": '
        "[639, 1095],}}\n```</tool_call>",
        # reasoning first, with braces in it
        '<think>The button {checkout} is at the bottom.</think>\n<tool_call>{"name": "mobile_use", '
        '"arguments": {"action": "click", "coordinate": [639, 1095]}}</tool_call>',
        # single quotes
        "<tool_call>{'name': 'mobile_use', 'arguments': {'action': 'click', 'coordinate': [639, "
        "1095]}}</tool_call>",
        # the XML form of newer Qwen models
        "<tool_call><function=mobile_use><parameter=action>click</parameter>"
        "<parameter=coordinate>[639, 1095]</parameter></function></tool_call>",
        # arguments as a JSON string (OpenAI style)
        '<tool_call>{"name": "mobile_use", "arguments": "{\\"action\\": \\"click\\", '
        '\\"coordinate\\": [639, 1095]}"}</tool_call>',
        # a missing final brace
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [639, '
        "1095]}</tool_call>",
    ],
)
def test_realistic_answers_parse_to_the_same_call(text: str) -> None:
    call = parse_one(text)
    assert call.name == "mobile_use"
    assert call.raw_arguments == {"action": "click", "coordinate": [639, 1095]}
    assert call.arguments["coordinate"] == pytest.approx([0.639, 1.095])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("I would tap the checkout button.", "no tool call found"),
        ("<tool_call>click(639, 1095)</tool_call>", "holds no readable call"),
        ('<tool_call>{"arguments": {"action": "click"}}</tool_call>', "holds no readable call"),
        # cut inside a number: never guess the rest of a point
        (
            '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": '
            "[639, 10",
            "holds no readable call",
        ),
        ("<think>I should tap {checkout}</think>", "no tool call found"),
        ("", "no tool call found"),
    ],
)
def test_broken_answers_raise_parse_errors_that_teach_the_format(text: str, words: str) -> None:
    with pytest.raises(ParseError) as error:
        QWEN.parse(text, FRAME, mobile_tools())
    assert words in str(error.value)
    assert "<tool_call>" in str(error.value)


def test_several_calls_are_all_returned_in_order() -> None:
    text = (
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "type", "text": '
        '"a"}}</tool_call>\n<tool_call>{"name": "mobile_use", "arguments": {"action": '
        '"system_button", "button": "Enter"}}</tool_call>'
    )
    calls = QWEN.parse(text, FRAME, mobile_tools())
    assert [c.arguments["action"] for c in calls] == ["type", "system_button"]


@settings(max_examples=300, deadline=None)
@given(st.text() | st.builds(lambda a, b: f'<tool_call>{a}{{"name": {b}', st.text(), st.text()))
def test_no_text_makes_the_parser_raise_anything_but_parse_error(text: str) -> None:
    try:
        calls = QWEN.parse(text, FRAME, mobile_tools())
    except ParseError:
        return
    assert all(isinstance(c, ToolCall) for c in calls)


def test_render_follows_the_qwen_evaluation_history_format() -> None:
    image = Image.new("RGB", (720, 1280))
    history = [
        ToolCall(
            "mobile_use",
            {"action": "click", "coordinate": [0.5, 0.5]},
            {"action": "click", "coordinate": [500, 500]},
        )
    ]
    prompt = QWEN.render("Open the clock", history, image, mobile_tools(), feedback="bad JSON")
    text = prompt.text()
    assert "The user query: Open the clock" in text
    assert (
        'Step 1: {"name": "mobile_use", "arguments": {"action": "click", "coordinate": [500, '
        "500]}};" in text
    )
    assert "Your previous answer was not executed: bad JSON" in text
    assert prompt.images() == [image]  # only the current screenshot
    assert prompt.tools is not None
    assert "1000x1000" in prompt.tools[0]["function"]["description"]


def test_dialect_lookup() -> None:
    assert dialect_for("Qwen/Qwen2-VL-7B-Instruct").name == "qwen2-vl"
    assert dialect_for("qwen2_vl").name == "qwen2-vl"
    with pytest.raises(LookupError, match="pick one with --dialect"):
        dialect_for("some/unknown-model")


@pytest.mark.parametrize(("family", "in_system"), [("qwen2.5-vl", 1), ("qwen3-vl", 2)])
def test_a_retry_prompt_holds_the_answer_instruction_once_in_the_systems_format(
    family: str, in_system: int
) -> None:
    from PIL import Image

    from vlagent.prompts import ParseError, get_dialect
    from vlagent.tools import mobile_tools

    dialect = get_dialect(family)
    image = Image.new("RGB", (720, 1280))
    frame = dialect.frame_for(image.size, mobile_tools())
    try:
        dialect.parse("I would tap the button", frame, mobile_tools())
    except ParseError as exc:
        feedback = str(exc)
    retry = dialect.render("Tap OK", [], image, mobile_tools(), feedback)
    user = retry.messages[-1]["content"][0]["text"]
    whole = "\n".join(
        part["text"]
        for m in retry.inline_messages()
        for part in m["content"]
        if part["type"] == "text"
    )
    assert user.count("Answer with one tool call") == 1
    assert "<tool name>" not in whole and "<arguments>" not in whole
    # The system message's own (Qwen3-VL's also in its response format) and the one reminder.
    assert (
        whole.count('{"name": <function-name>, "arguments": <args-json-object>}') == in_system + 1
    )
