"""Every dialect: coordinate spaces with real numbers, realistic and broken answers, and the
guarantee that no text makes a parser raise anything but ParseError."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vlagent.environments import Observation
from vlagent.prompts import (
    CoordinateFrame,
    ParseError,
    ResizeError,
    ResizeRule,
    available,
    dialect_for,
    get_dialect,
)
from vlagent.prompts.jsonanswer import answer_schema
from vlagent.tools import ToolCall, ToolSet, computer_tools, mobile_tools

FIXTURE = Path(__file__).parents[1] / "data" / "screens" / "qwen-cookbook-mobile-720x1280.jpg"
COOKBOOK_ANSWER = (
    '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", '
    '"coordinate": [639, 1095]}}\n</tool_call>'
)


def device_point(
    dialect_name: str,
    text: str,
    screen: tuple[int, int],
    tools: ToolSet,
    scale: float = 1.0,
    field: str = "coordinate",
) -> tuple[float, float]:
    """Where the first call in ``text`` lands on the device, through the public path."""
    dialect = get_dialect(dialect_name)
    image = Image.new("RGB", screen)
    prompt = dialect.render("goal", [], image, tools)
    action = tools.validate(dialect.parse(text, prompt.frame, tools)[0])
    point: tuple[float, float] = getattr(action, field)
    return Observation(image, scale=scale).to_device(point)


# -- coordinates, with published numbers (docs/models.md) ------------------------------------------


def test_qwen25_taps_the_cookbook_checkout_button() -> None:
    image = Image.open(FIXTURE)
    assert image.size == (720, 1280)
    dialect = get_dialect("qwen2.5-vl")
    prompt = dialect.render("Buy it", [], image, mobile_tools())
    assert prompt.frame == CoordinateFrame(728, 1288)  # what the model was shown
    assert prompt.model_image_size == (728, 1288)
    assert prompt.tools is not None and "728x1288" in prompt.tools[0]["function"]["description"]
    action = mobile_tools().validate(
        dialect.parse(COOKBOOK_ANSWER, prompt.frame, mobile_tools())[0]
    )
    x, y = Observation(image).to_device(action.coordinate)  # type: ignore[attr-defined]
    assert x == pytest.approx(631.9, abs=0.5) and y == pytest.approx(1088.2, abs=0.5)


def test_hidpi_scale_doubles_device_pixels() -> None:
    one = device_point("qwen2.5-vl", COOKBOOK_ANSWER, (720, 1280), mobile_tools())
    two = device_point("qwen2.5-vl", COOKBOOK_ANSWER, (720, 1280), mobile_tools(), scale=2.0)
    assert two == pytest.approx((2 * one[0], 2 * one[1]))


def test_qwen2_vl_is_relative_1000() -> None:
    text = (
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", '
        '"coordinate": [500, 500]}}</tool_call>'
    )
    assert device_point("qwen2-vl", text, (1920, 1080), computer_tools()) == (960.0, 540.0)


@pytest.mark.parametrize(
    "tools, stated, x",
    [
        (
            computer_tools(),
            "1000x1000",
            250 / 1000 * 1920,
        ),  # the computer-use cookbook: 1000, x/1000
        (mobile_tools(), "999x999", 250 / 999 * 1920),  # the mobile cookbook: 999, x/999
    ],
)
def test_qwen3_vl_states_one_size_and_divides_by_it(tools: ToolSet, stated: str, x: float) -> None:
    name = tools.names[0]
    action = "left_click" if name == "computer_use" else "click"
    text = (
        '<tool_call>{"name": "' + name + '", "arguments": {"action": "' + action + '", '
        '"coordinate": [250, 750]}}</tool_call>'
    )
    point = device_point("qwen3-vl", text, (1920, 1080), tools)
    assert point[0] == pytest.approx(x)
    prompt = get_dialect("qwen3-vl").render("g", [], Image.new("RGB", (1920, 1080)), tools)
    assert f"resolution is {stated}" in prompt.messages[0]["content"][0]["text"]
    edge = text.replace("[250, 750]", "[" + stated.split("x")[0] + ", 0]")
    assert device_point("qwen3-vl", edge, (1920, 1080), tools)[0] == pytest.approx(
        1920
    )  # the stated edge is the edge


def test_ui_tars_is_relative_1000() -> None:
    text = "Thought: the button.\nAction: click(start_box='<|box_start|>(235,512)<|box_end|>')"
    x, y = device_point("ui-tars", text, (1920, 1080), computer_tools())
    assert x == pytest.approx(451.2, abs=0.5) and y == pytest.approx(552.96, abs=0.5)


def test_ui_tars_15_is_in_resized_pixels() -> None:
    # 1920x1080 under the default budget is shown as 1316x728 (docs/models.md, pixel budgets).
    text = "Action: click(start_box='(658,364)')"
    assert device_point("ui-tars-1.5", text, (1920, 1080), computer_tools()) == pytest.approx(
        (960, 540)
    )


def test_json_is_relative_1000() -> None:
    text = '{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [100, 900]}}'
    assert device_point("json", text, (1080, 2400), mobile_tools()) == pytest.approx((108, 2160))


@pytest.mark.parametrize(
    ("screen", "default_budget", "budget_1280"),
    [
        ((720, 1280), (728, 1288), (728, 1288)),
        ((1080, 2400), (1092, 2408), (672, 1484)),
        ((1920, 1080), (1932, 1092), (1316, 728)),
        ((1280, 800), (1288, 812), (1260, 784)),
    ],
)
def test_resize_matches_the_reference_table(
    screen: tuple[int, int], default_budget: tuple[int, int], budget_1280: tuple[int, int]
) -> None:
    assert ResizeRule(28, 3136, 16384 * 28 * 28).resized(screen) == default_budget
    assert ResizeRule(28, 3136, 1280 * 28 * 28).resized(screen) == budget_1280


def _processor_size(rule: ResizeRule, patch: int, size: tuple[int, int]) -> tuple[int, int]:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil(
        patch_size=patch,
        merge_size=2,
        size={"shortest_edge": rule.min_pixels, "longest_edge": rule.max_pixels},
    )
    grid = processor(images=[Image.new("RGB", size)], return_tensors="np")["image_grid_thw"][0]
    return int(grid[2]) * patch, int(grid[1]) * patch


@settings(max_examples=25, deadline=None)
@given(
    st.integers(28, 3000),
    st.integers(28, 3000),
    st.sampled_from([(28, 14), (32, 16)]),
    st.sampled_from([256 * 28 * 28, 1280 * 28 * 28]),
)
def test_resized_size_is_what_the_processor_produces(
    width: int, height: int, factor_patch: tuple[int, int], budget: int
) -> None:
    factor, patch = factor_patch
    rule = ResizeRule(factor, 4 * factor * factor, budget)
    assert rule.resized((width, height)) == _processor_size(rule, patch, (width, height))


def test_an_impossible_aspect_ratio_is_a_resize_error() -> None:
    with pytest.raises(ResizeError, match="aspect ratio"):
        ResizeRule().resized((10000, 20))


def test_a_smaller_pixel_budget_changes_the_frame() -> None:
    small = get_dialect("qwen2.5-vl", ResizeRule(28, 3136, 256 * 28 * 28))
    assert small.frame_for((1920, 1080)) == CoordinateFrame(588, 336)
    assert ResizeRule(28, 3136, 256 * 28 * 28).tokens((1920, 1080)) == 21 * 12


# -- UI-TARS: the text format and its variants seen in the wild --------------------------------

UITARS = get_dialect("ui-tars")
F1000 = CoordinateFrame(1000, 1000)


def uitars(text: str, tools: ToolSet | None = None) -> list[dict[str, object]]:
    return [c.raw() for c in UITARS.parse(text, F1000, tools or computer_tools())]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Thought: I click.\nAction: click(start_box='<|box_start|>(235,512)<|box_end|>')",
            {"action": "left_click", "coordinate": [235, 512]},
        ),
        (
            "Action: left_double(point='<point>10 20</point>')",
            {"action": "double_click", "coordinate": [10, 20]},
        ),
        (
            "Action: right_single(start_box='<bbox>10 20 30 40</bbox>')",
            {"action": "right_click", "coordinate": [20, 30]},
        ),
        (
            "Action: click(start_box='(100,200,300,400)')",
            {"action": "left_click", "coordinate": [200, 300]},
        ),
        ("Action: hotkey(key='ctrl c')", {"action": "key", "keys": ["ctrl", "c"]}),
        (
            "Action: scroll(start_box='(500,500)', direction='down')",
            {"action": "scroll", "pixels": -500, "coordinate": [500, 500]},
        ),
        ("Action: scroll(direction='right')", {"action": "hscroll", "pixels": 500}),
        (
            "Action: drag(start_box='(1,2)', end_box='(3,4)')",
            {"action": "left_click_drag", "start_coordinate": [1, 2], "coordinate": [3, 4]},
        ),
        ("Action: wait()", {"action": "wait", "time": 5.0}),
        ("Action: finished(content='42')", {"action": "answer", "text": "42"}),
        ("Action: finished()", {"action": "terminate", "status": "success"}),
        ("Action: call_user()", {"action": "terminate", "status": "failure"}),
        # Full-width colon, quotes and "Action:" inside the typed text, \n meaning submit.
        (
            "Thought: type it\nAction：type(content='He said \"it's fine\" Action: go\\n')",
            {"action": "type", "text": 'He said "it\'s fine" Action: go\n'},
        ),
    ],
)
def test_ui_tars_desktop_actions(text: str, expected: dict[str, object]) -> None:
    assert uitars(text) == [expected]


def test_ui_tars_mobile_actions() -> None:
    tools = mobile_tools()
    assert uitars("Action: open_app(app_name='Clock')", tools) == [
        {"action": "open", "text": "Clock"}
    ]
    assert uitars("Action: press_back()", tools) == [{"action": "system_button", "button": "Back"}]
    assert uitars("Action: long_press(start_box='(5,6)')", tools) == [
        {"action": "long_press", "coordinate": [5, 6], "time": 1.0}
    ]
    # scroll down = show what is below: the finger moves up.
    assert uitars("Action: scroll(start_box='(500,800)', direction='down')", tools) == [
        {"action": "swipe", "coordinate": [500, 800], "coordinate2": [500, 400]}
    ]
    assert uitars("Action: scroll(start_box='(500,100)', direction='up')", tools) == [
        {"action": "swipe", "coordinate": [500, 100], "coordinate2": [500, 500]}
    ]


def test_ui_tars_several_actions_and_trailing_sections() -> None:
    text = (
        "Thought: two things\nAction: click(start_box='(1,1)')\n\n"
        "type(content='hi')\n\nReflection: that went well (I think)"
    )
    assert uitars(text) == [
        {"action": "left_click", "coordinate": [1, 1]},
        {"action": "type", "text": "hi"},
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Thought: I am not sure what to do.", "no 'Action:' line"),
        ("Action: click(start_box='(1,2", "not closed"),
        ("Action: fly(to='moon')", "unknown action fly"),
        ("Action: click(start_box='(1,2,3)')", "not a point"),
        ("Action: scroll(direction='sideways')", "not up, down"),
        ("Action: nothing here", "no action found"),
    ],
)
def test_ui_tars_broken_answers(text: str, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        uitars(text)


def test_ui_tars_prompt_lists_the_action_space_of_the_toolset() -> None:
    mobile = UITARS.render("Open Clock", [], Image.new("RGB", (720, 1280)), mobile_tools()).text()
    desktop = UITARS.render(
        "Open Clock", [], Image.new("RGB", (1280, 800)), computer_tools()
    ).text()
    assert "open_app(app_name='')" in mobile and "hotkey(" not in mobile
    assert "hotkey(key='ctrl c')" in desktop and "open_app" not in desktop
    assert "Open Clock" in mobile


# -- json ------------------------------------------------------------------------------------

JSON = get_dialect("json")


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [10, 20]}}',
        '```json\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [10, '
        "20],}}\n```",
        "Sure! {'name': 'mobile_use', 'arguments': {'action': 'click', 'coordinate': [10, 20]}}",
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [10, '
        "20]}}",
    ],
)
def test_json_answers(text: str) -> None:
    calls = JSON.parse(text, F1000, mobile_tools())
    assert calls[0].arguments == {"action": "click", "coordinate": [0.01, 0.02]}


def test_json_broken_answer() -> None:
    with pytest.raises(ParseError, match="no JSON tool call"):
        JSON.parse("I would tap the clock.", F1000, mobile_tools())


def test_json_prompt_carries_the_tools_and_a_strict_schema() -> None:
    prompt = JSON.render("g", [], Image.new("RGB", (10, 10)), mobile_tools())
    assert '"name": "mobile_use"' in prompt.text()
    schema = prompt.json_schema
    assert schema is not None
    good = {
        "name": "mobile_use",
        "arguments": {"action": "swipe", "coordinate": [0, 1000], "coordinate2": [5, 5]},
    }
    jsonschema.validate(good, schema)
    for bad in (
        {"name": "mobile_use", "arguments": {"action": "click"}},  # click needs a point
        {"name": "mobile_use", "arguments": {"action": "click", "coordinate": [5, 1001]}},
        {"name": "mobile_use", "arguments": {"action": "wait", "time": 0}},
        {"name": "mobile_use", "arguments": {"action": "home"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_every_instance_of_the_strict_schema_validates() -> None:
    """The schema promises more than the prompt: whatever a constrained decoder writes within it
    must pass ToolSet.validate. Checked on one instance per action, at the edges."""
    for tools in (mobile_tools(), computer_tools()):
        schema = answer_schema(tools, F1000)
        for name in tools.names:
            tool = tools[name]
            for action, spec in tool.ACTIONS.items():  # type: ignore[attr-defined]
                values = {
                    "coordinate": [1000, 0],
                    "coordinate2": [0, 1000],
                    "start_coordinate": [0, 0],
                    "text": "x",
                    "time": 60,
                    "button": "Home",
                    "status": "failure",
                    "keys": ["ctrl"],
                    "pixels": -3,
                }
                arguments = {
                    "action": action,
                    **{a: values[a] for a in spec.required + spec.optional},
                }
                jsonschema.validate({"name": name, "arguments": arguments}, schema)
                call = JSON.parse(
                    f'{{"name": "{name}", "arguments": {arguments}}}'.replace("'", '"'),
                    F1000,
                    tools,
                )[0]
                tools.validate(call)


# -- every dialect -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", available())
@settings(max_examples=150, deadline=None)
@given(
    text=st.text()
    | st.builds(
        lambda a, b: f"Action: click(start_box='{a}') {b}<tool_call>{{\"name\": {b}",
        st.text(),
        st.text(),
    )
)
def test_no_text_makes_any_parser_raise_anything_but_parse_error(name: str, text: str) -> None:
    dialect = get_dialect(name)
    for tools in (mobile_tools(), computer_tools()):
        try:
            calls = dialect.parse(text, CoordinateFrame(728, 1288), tools)
        except ParseError:
            continue
        assert calls and all(isinstance(c, ToolCall) for c in calls)


@pytest.mark.parametrize(
    ("model", "model_type", "dialect"),
    [
        ("Qwen/Qwen2-VL-7B-Instruct", None, "qwen2-vl"),
        ("Qwen/Qwen2.5-VL-3B-Instruct", None, "qwen2.5-vl"),
        ("/models/my-finetune", "qwen2_5_vl", "qwen2.5-vl"),
        ("Qwen/Qwen3-VL-8B-Instruct", None, "qwen3-vl"),
        ("/x", "qwen3_vl_moe", "qwen3-vl"),
        ("bytedance-research/UI-TARS-7B-DPO", "qwen2_vl", "ui-tars"),
        ("ByteDance-Seed/UI-TARS-1.5-7B", "qwen2_5_vl", "ui-tars-1.5"),
        ("/ckpt/ui-tars-2b", "qwen2_5_vl", "ui-tars-1.5"),
        ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava_onevision", "json"),
        ("HuggingFaceM4/idefics2-8b", None, "json"),
    ],
)
def test_the_dialect_follows_the_checkpoint(
    model: str, model_type: str | None, dialect: str
) -> None:
    assert dialect_for(model, model_type).name == dialect


def test_an_unknown_checkpoint_says_how_to_pick_a_dialect() -> None:
    with pytest.raises(LookupError, match=r"model_type 'gpt2'.*--dialect"):
        dialect_for("/models/x", "gpt2")


# -- Qwen2.5-VL and Qwen3-VL: realistic answers -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        # Qwen2.5-VL, as in the cookbook: a newline-wrapped call.
        ("qwen2.5-vl", COOKBOOK_ANSWER, {"action": "click", "coordinate": [639, 1095]}),
        # Qwen3-VL thinking first, a decoy call inside the thoughts.
        (
            "qwen3-vl",
            '<think>I could use <tool_call>{"name": "mobile_use", "arguments": {"action": "wait", '
            '"time": 1}}</tool_call> but no.</think>\n<tool_call>\n{"name": "mobile_use", '
            '"arguments": {"action": "answer", "text": "It is 7:30"}}\n</tool_call>',
            {"action": "answer", "text": "It is 7:30"},
        ),
        # Qwen3 XML form, no closing tags at the end of the budget.
        (
            "qwen3-vl",
            "<tool_call>\n<function=mobile_use>\n<parameter=action>\nswipe\n</parameter>\n"
            "<parameter=coordinate>\n[500, 800]\n</parameter>\n<parameter=coordinate2>\n[500, 200]",
            {"action": "swipe", "coordinate": [500, 800], "coordinate2": [500, 200]},
        ),
        # Qwen2.5-VL cut off after the closing brace, no </tool_call>.
        (
            "qwen2.5-vl",
            '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "system_button", '
            '"button": "Back"}}',
            {"action": "system_button", "button": "Back"},
        ),
    ],
)
def test_qwen_family_realistic_answers(name: str, text: str, expected: dict[str, object]) -> None:
    dialect = get_dialect(name)
    calls = dialect.parse(text, dialect.frame_for((720, 1280)), mobile_tools())
    assert calls[0].raw() == expected
    mobile_tools().validate(calls[0])


def test_qwen25_cut_inside_a_point_is_never_guessed() -> None:
    dialect = get_dialect("qwen2.5-vl")
    text = '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [639, 10'  # noqa: E501
    with pytest.raises(ParseError):
        dialect.parse(text, dialect.frame_for((720, 1280)), mobile_tools())


@settings(max_examples=3000, deadline=None)
@given(
    width=st.integers(1, 8000),
    height=st.integers(1, 8000),
    factor=st.sampled_from([14, 28, 32]),
    min_tokens=st.integers(1, 300),
    max_tokens=st.sampled_from([256, 1280, 4096, 16384]),
)
def test_our_resize_arithmetic_is_transformers_own(
    width: int, height: int, factor: int, min_tokens: int, max_tokens: int
) -> None:
    """transformers' smart_resize as the oracle: same size, or the same error, for every input."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as theirs

    from vlagent.prompts.resize import smart_resize as ours

    budget = (min_tokens * factor * factor, max_tokens * factor * factor)
    try:
        expected: object = theirs(
            height, width, factor=factor, min_pixels=budget[0], max_pixels=budget[1]
        )
    except ValueError as exc:
        expected = str(exc)
    try:
        got: object = ours(height, width, factor, budget[0], budget[1])
    except ValueError as exc:
        got = str(exc)
    assert got == expected
