"""The validation matrix of both published action spaces (docs/tools.md)."""

from __future__ import annotations

from typing import Any

import pytest

from vlagent.tools import ComputerUse, MobileUse, ToolCall, ToolError, computer_tools, mobile_tools

P = [0.25, 0.75]

MOBILE_GOOD: dict[str, dict[str, Any]] = {
    "key": {"text": "volume_up"},
    "click": {"coordinate": P},
    "long_press": {"coordinate": P, "time": 2},
    "swipe": {"coordinate": P, "coordinate2": [0.25, 0.1]},
    "type": {"text": "héllo 你好"},
    "system_button": {"button": "Back"},
    "open": {"text": "Settings"},
    "wait": {"time": 1.5},
    "terminate": {"status": "success"},
    "answer": {"text": "42"},
}

# action → (arguments, words the error must contain)
MOBILE_BAD: list[tuple[str, dict[str, Any], str]] = [
    ("key", {}, "needs 'text'"),
    ("click", {}, "needs 'coordinate'"),
    ("click", {"coordinate": [0.1]}, "exactly two numbers"),
    ("click", {"coordinate": ["a", 0.2]}, "must be a number"),
    ("click", {"coordinate": P, "text": "x"}, "does not take 'text'"),
    ("long_press", {"coordinate": P}, "needs 'time'"),
    ("long_press", {"coordinate": P, "time": 0}, "greater than 0"),
    ("swipe", {"coordinate": P}, "needs 'coordinate2'"),
    ("type", {"text": ""}, "at least 1 character"),
    ("type", {"text": 5}, "valid string"),
    ("system_button", {"button": "back"}, "'Back', 'Home', 'Menu' or 'Enter'"),
    ("system_button", {}, "needs 'button'"),
    ("open", {"coordinate": P, "text": "Clock"}, "does not take 'coordinate'"),
    ("wait", {"time": 600}, "less than or equal to 60"),
    ("terminate", {"status": "done"}, "'success' or 'failure'"),
    ("answer", {}, "needs 'text'"),
]

COMPUTER_GOOD: dict[str, dict[str, Any]] = {
    "key": {"keys": ["ctrl", "c"]},
    "type": {"text": '<a & "b">'},
    "mouse_move": {"coordinate": P},
    "left_click": {"coordinate": P},
    "left_click_drag": {"coordinate": P},
    "right_click": {"coordinate": P},
    "middle_click": {"coordinate": P},
    "double_click": {"coordinate": P},
    "triple_click": {"coordinate": P},
    "scroll": {"pixels": -300},
    "hscroll": {"pixels": 200, "coordinate": P},
    "wait": {"time": 1},
    "terminate": {"status": "failure"},
    "answer": {"text": "Paris"},
}

COMPUTER_BAD: list[tuple[str, dict[str, Any], str]] = [
    ("key", {}, "needs 'keys'"),
    ("key", {"keys": []}, "at least 1 item"),
    ("key", {"keys": "ctrl+c"}, "valid list"),
    ("type", {"text": "a", "keys": ["a"]}, "does not take 'keys'"),
    ("mouse_move", {}, "needs 'coordinate'"),
    ("left_click", {"coordinate": [0.1, 0.2, 0.3]}, "exactly two numbers"),
    ("left_click_drag", {}, "needs 'coordinate'"),
    ("right_click", {"text": "x"}, "does not take 'text'"),
    ("scroll", {}, "needs 'pixels'"),
    ("scroll", {"pixels": 1.5}, "valid integer"),
    ("hscroll", {"coordinate": P}, "needs 'pixels'"),
    ("wait", {"time": -1}, "greater than 0"),
    ("terminate", {}, "needs 'status'"),
    ("answer", {"text": ""}, "at least 1 character"),
]


@pytest.mark.parametrize("action", sorted(MOBILE_GOOD))
def test_every_mobile_action_validates(action: str) -> None:
    parsed = mobile_tools().validate(
        ToolCall("mobile_use", {"action": action, **MOBILE_GOOD[action]})
    )
    assert isinstance(parsed, MobileUse)
    assert parsed.arguments() == {"action": action, **_as_json(MOBILE_GOOD[action])}


@pytest.mark.parametrize("action", sorted(COMPUTER_GOOD))
def test_every_computer_action_validates(action: str) -> None:
    parsed = computer_tools().validate(
        ToolCall("computer_use", {"action": action, **COMPUTER_GOOD[action]})
    )
    assert isinstance(parsed, ComputerUse)
    assert parsed.arguments() == {"action": action, **_as_json(COMPUTER_GOOD[action])}


def test_the_published_action_names_are_all_there() -> None:
    assert set(MobileUse.ACTIONS) == set(MOBILE_GOOD)
    assert set(ComputerUse.ACTIONS) == set(COMPUTER_GOOD)


BAD = [("mobile_use", *case) for case in MOBILE_BAD] + [
    ("computer_use", *case) for case in COMPUTER_BAD
]
SPACES = {"mobile_use": mobile_tools, "computer_use": computer_tools}


@pytest.mark.parametrize(
    ("tool", "action", "arguments", "words"), BAD, ids=[f"{t}-{a}-{w}" for t, a, _, w in BAD]
)
def test_bad_arguments_say_what_is_wrong(
    tool: str, action: str, arguments: dict[str, Any], words: str
) -> None:
    with pytest.raises(ToolError) as error:
        SPACES[tool]().validate(ToolCall(tool, {"action": action, **arguments}))
    assert words in str(error.value)
    assert str(error.value).startswith(f"{tool}: ")


@pytest.mark.parametrize(
    "tools,name", [(mobile_tools, "mobile_use"), (computer_tools, "computer_use")]
)
def test_unknown_action_lists_the_real_ones(tools: Any, name: str) -> None:
    with pytest.raises(ToolError, match="unknown action 'tap'; use one of: .*wait"):
        tools().validate(ToolCall(name, {"action": "tap"}))
    with pytest.raises(ToolError, match="'action' is missing"):
        tools().validate(ToolCall(name, {"coordinate": P}))


def test_unknown_argument_is_named() -> None:
    with pytest.raises(ToolError, match="there is no argument 'speed'"):
        mobile_tools().validate(
            ToolCall("mobile_use", {"action": "click", "coordinate": P, "speed": 3})
        )


def test_unknown_tool_lists_the_tools() -> None:
    with pytest.raises(ToolError, match="unknown tool 'computer_use'; the tools are: mobile_use"):
        mobile_tools().validate(ToolCall("computer_use", {"action": "left_click"}))


@pytest.mark.parametrize("point", [[1.2, 0.5], [0.5, -0.01], [1.0001, 1.0]])
def test_off_screen_points_are_refused_in_the_models_own_numbers(point: list[float]) -> None:
    raw = [round(point[0] * 1000), round(point[1] * 1000)]
    call = ToolCall(
        "mobile_use",
        {"action": "click", "coordinate": point},
        {"action": "click", "coordinate": raw},
    )
    with pytest.raises(ToolError) as error:
        mobile_tools().validate(call)
    assert f"'coordinate' [{raw[0]}, {raw[1]}] is outside the screen" in str(error.value)


def test_screen_edges_are_on_screen() -> None:
    for point in ([0.0, 0.0], [1.0, 1.0]):
        mobile_tools().validate(ToolCall("mobile_use", {"action": "click", "coordinate": point}))


def test_end_actions_report_the_outcome() -> None:
    tools = mobile_tools()
    done = tools.validate(ToolCall("mobile_use", {"action": "terminate", "status": "failure"}))
    said = tools.validate(ToolCall("mobile_use", {"action": "answer", "text": "7 alarms"}))
    click = tools.validate(ToolCall("mobile_use", {"action": "click", "coordinate": P}))
    assert (
        isinstance(done, MobileUse) and isinstance(said, MobileUse) and isinstance(click, MobileUse)
    )
    assert done.ends_run() is not None and done.ends_run().status == "failure"  # type: ignore[union-attr]
    assert said.ends_run() is not None and said.ends_run().answer == "7 alarms"  # type: ignore[union-attr]
    assert click.ends_run() is None


def _as_json(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in arguments.items()}


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        (["Control", "c"], ["ctrl", "c"]),
        (["ctrl+shift+T"], ["ctrl", "shift", "t"]),
        (["Return"], ["enter"]),
        (["cmd", "space"], ["win", "space"]),
        (["Page_Down"], ["pagedown"]),
        (["F5"], ["f5"]),
        (["escape"], ["esc"]),
    ],
)
def test_key_names_are_made_canonical(given: list[str], canonical: list[str]) -> None:
    action = computer_tools().validate(ToolCall("computer_use", {"action": "key", "keys": given}))
    assert action.keys == canonical  # type: ignore[attr-defined]


def test_an_unknown_key_is_a_validation_error_not_a_no_op() -> None:
    with pytest.raises(ToolError, match="unknown key 'hyperspace'; use names like ctrl"):
        computer_tools().validate(
            ToolCall("computer_use", {"action": "key", "keys": ["ctrl", "hyperspace"]})
        )
