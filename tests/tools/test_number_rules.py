"""One number rule for every tool, checked once in ``ToolSet.validate``: a number argument is an
int or float, finite and at most 2**53 in size, never a string or a boolean, at every depth. It
holds for the GUI tools, the arm's tools, typed functions and any model a user brings; a refused
call is a ToolError for the model and its handler never runs."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, NewType, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, create_model

from vlagent.agent.core.interpret import AnswerError, read_answer
from vlagent.environments.sim_pick.environment import Finish, Grasp, MoveTo, Release
from vlagent.prompts import get_dialect
from vlagent.tools import ToolCall, ToolError, ToolSet, computer_tools, mobile_tools
from vlagent.tools.limits import MAX_NUMBER, number_problem

BAD_NUMBERS = [math.nan, math.inf, -math.inf, "0.1", True, False, 10**400, "1", None]
"""What a model or a caller hands over where a number belongs (None where it is required)."""

bad_scalars = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, True, False, 10**400, -(10**400)]),
    st.integers(MAX_NUMBER + 1, 10**500),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not math.isfinite(v)),
    st.floats(min_value=2.0**54, allow_infinity=False),
    st.from_regex(r"-?[0-9]{1,5}(\.[0-9]{1,3})?", fullmatch=True),
    st.text(max_size=8),
)
good_floats = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
)

# Field kinds a user's tool may have: (annotation, a way to put a number into it).
KINDS: dict[str, tuple[Any, Any]] = {
    "float": (float, lambda v: v),
    "int": (int, lambda v: v),
    "optional float": (Optional[float], lambda v: v),  # noqa: UP045 (the old spelling too)
    "float or none": (float | None, lambda v: v),
    "bounded float": (Annotated[float, Field(ge=-(10**7), le=10**7)], lambda v: v),
    "list of floats": (list[float], lambda v: [0.5, v]),
    "tuple of three": (tuple[float, float, float], lambda v: [0.1, v, 0.2]),
    "variadic tuple": (tuple[int, ...], lambda v: [1, v]),
    "nested lists": (list[list[float]], lambda v: [[1.0], [2.0, v]]),
    "dict of floats": (dict[str, float], lambda v: {"a": v}),
    "float or text": (float | str, lambda v: v),
    "new type": (NewType("Metres", float), lambda v: v),
}


def tool_with(kind: str) -> type[BaseModel]:
    annotation, _ = KINDS[kind]
    return create_model(
        "UserTool",
        __config__=ConfigDict(extra="forbid"),
        value=(annotation, ...),
        label=(str, "x"),
    )


def validate(tool: type[BaseModel], arguments: dict[str, Any]) -> BaseModel:
    tools = ToolSet([tool])
    return tools.validate(ToolCall(tools.names[0], arguments))


# -- tools a user brings -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(bad=bad_scalars)
@settings(max_examples=40, deadline=None)
def test_a_user_tool_refuses_every_unruly_number(kind: str, bad: Any) -> None:
    if kind == "float or text" and isinstance(bad, str):
        return  # a string is what the str branch takes
    _, put = KINDS[kind]
    with pytest.raises(ToolError, match="'value'"):
        validate(tool_with(kind), {"value": put(bad)})


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(good=good_floats)
@settings(max_examples=30, deadline=None)
def test_a_user_tool_takes_finite_numbers_unchanged(kind: str, good: float) -> None:
    if kind in ("int", "variadic tuple") and isinstance(good, float) and not good.is_integer():
        return  # an int field takes whole numbers (pydantic's rule, not ours)
    _, put = KINDS[kind]
    action = validate(tool_with(kind), {"value": put(good)})
    assert _plain(action.value) == _plain(put(good))  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    """Lists for tuples, so that what was given and what was validated compare."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
def test_every_listed_value_is_refused_for_a_float(bad: Any) -> None:
    class Speed(BaseModel):
        """Drive."""

        metres_per_second: float

    with pytest.raises(ToolError, match="metres_per_second"):
        validate(Speed, {"metres_per_second": bad})


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
def test_every_listed_value_is_refused_for_a_decimal(bad: Any) -> None:
    class Pay(BaseModel):
        """Pay."""

        amount: Decimal

    with pytest.raises(ToolError, match="amount"):
        validate(Pay, {"amount": bad})


def test_the_rule_reads_the_alias_the_model_writes() -> None:
    class Aliased(BaseModel):
        """Aim."""

        angle: float = Field(alias="angleDegrees")

    assert validate(Aliased, {"angleDegrees": 12.5}).angle == 12.5  # type: ignore[attr-defined]
    with pytest.raises(ToolError, match="must be a number"):
        validate(Aliased, {"angleDegrees": "12.5"})


@given(bad=bad_scalars.filter(lambda v: not isinstance(v, str)))
@settings(max_examples=30, deadline=None)
def test_numbers_inside_untyped_arguments_obey_the_rule_too(bad: Any) -> None:
    class Free(BaseModel):
        """Anything."""

        payload: Any = None
        tags: dict[str, Any] = {}

    if isinstance(bad, bool):
        validate(Free, {"payload": [bad]})  # a boolean is a boolean where anything goes
        return
    with pytest.raises(ToolError, match="finite|too large"):
        validate(Free, {"payload": {"deep": [[1, bad]]}})
    with pytest.raises(ToolError, match="finite|too large"):
        validate(Free, {"tags": {"x": bad}})


def test_a_user_validator_never_sees_an_unruly_number() -> None:
    from pydantic import field_validator

    seen: list[Any] = []

    class Watched(BaseModel):
        """Set a level."""

        level: float

        @field_validator("level")
        @classmethod
        def _log(cls, value: float) -> float:
            seen.append(value)
            return value

    for bad in BAD_NUMBERS:
        with pytest.raises(ToolError):
            validate(Watched, {"level": bad})
    assert seen == []


# -- typed functions ---------------------------------------------------------------------------


@given(bad=bad_scalars, where=st.sampled_from(["force", "offsets", "target", "count"]))
@settings(max_examples=60, deadline=None)
def test_a_typed_function_is_never_called_with_an_unruly_number(bad: Any, where: str) -> None:
    calls: list[dict[str, Any]] = []
    tools = ToolSet()

    @tools.add_function
    def push(
        force: float = 1.0,
        offsets: list[float] | None = None,
        target: tuple[float, float, float] = (0.0, 0.0, 0.0),
        count: int = 1,
    ) -> str:
        """Push the object."""
        calls.append({"force": force, "offsets": offsets, "target": target, "count": count})
        return "pushed"

    value = {"force": bad, "offsets": [0.0, bad], "target": [0.0, bad, 0.0], "count": bad}[where]
    with pytest.raises(ToolError, match=f"'{where}'"):
        tools.validate(ToolCall("push", {where: value}))
    action = tools.validate(ToolCall("push", {"force": 2, "offsets": [1e-3], "target": [1, 2, 3]}))
    handler = tools.handler(action)
    assert handler is not None and handler(action) == "pushed"
    assert calls == [{"force": 2.0, "offsets": [0.001], "target": (1.0, 2.0, 3.0), "count": 1}]


def test_a_typed_function_refuses_nan_read_from_a_model_answer() -> None:
    tools = ToolSet()

    @tools.add_function
    def grip(force: float) -> str:
        """Close the gripper."""
        raise AssertionError("never called")

    dialect = get_dialect("qwen2-vl")
    frame = dialect.frame_for((640, 480), tools)
    for written in ("NaN", "Infinity", '"0.1"', "true", "1e400"):
        text = f'<tool_call>{{"name": "grip", "arguments": {{"force": {written}}}}}</tool_call>'
        with pytest.raises(AnswerError):
            read_answer(text, dialect, frame, tools, lambda p: p)


# -- the arm and the GUI tools ----------------------------------------------------------------

ARM = ToolSet([MoveTo, Grasp, Release, Finish])


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
@pytest.mark.parametrize("index", [0, 1, 2])
def test_the_arm_refuses_every_unruly_position(bad: Any, index: int) -> None:
    position: list[Any] = [0.05, 0.0, 0.1]
    position[index] = bad
    with pytest.raises(ToolError, match="'position'"):
        ARM.validate(ToolCall("move_to", {"position": position}))


@pytest.mark.parametrize("bad", [math.nan, "0.05", True, 10**400])
def test_the_arm_refuses_an_unruly_height(bad: Any) -> None:
    with pytest.raises(ToolError, match="'height'"):
        ARM.validate(ToolCall("move_to", {"camera": "top", "point": [0.5, 0.5], "height": bad}))


def test_the_arm_takes_plain_positions_unchanged() -> None:
    action = ARM.validate(ToolCall("move_to", {"position": [0.05, -0.1, 0.2]}))
    assert action.position == (0.05, -0.1, 0.2)  # type: ignore[attr-defined]


@pytest.mark.parametrize("tools", [computer_tools(), mobile_tools(), mobile_tools(elements=True)])
@given(bad=bad_scalars)
@settings(max_examples=30, deadline=None)
def test_gui_tools_refuse_unruly_numbers(tools: ToolSet, bad: Any) -> None:
    name = tools.names[0]
    click = "left_click" if name == "computer_use" else "click"
    with pytest.raises(ToolError):
        tools.validate(ToolCall(name, {"action": click, "coordinate": [0.5, bad]}))
    with pytest.raises(ToolError):
        tools.validate(ToolCall(name, {"action": "wait", "time": bad}))


# -- the walk itself ---------------------------------------------------------------------------


def test_a_list_that_holds_itself_ends() -> None:
    loop: list[Any] = [1.0]
    loop.append(loop)
    assert number_problem(loop) is None
    loop.append(math.nan)
    assert number_problem(loop) is not None


def test_nesting_past_the_limit_is_refused_without_recursion() -> None:
    deep: Any = 1.0
    for _ in range(100_000):
        deep = [deep]
    assert "levels deep" in (number_problem(deep) or "")


def test_the_message_for_fifty_thousand_bad_elements_is_short() -> None:
    class Many(BaseModel):
        """Values."""

        values: list[float]

    with pytest.raises(ToolError) as refused:
        validate(Many, {"values": ["x"] * 50_000})
    assert len(str(refused.value)) < 400


@given(
    values=st.lists(
        st.one_of(st.integers(-1000, 1000), st.floats(-1e3, 1e3, allow_nan=False)),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    given_value=st.sampled_from([True, False, "1", "0.5", math.nan]),
)
@settings(max_examples=60, deadline=None)
def test_a_literal_of_numbers_takes_numbers_only(values: list[Any], given_value: Any) -> None:
    """``True`` equals 1 and a lax reader takes ``"1"`` for 1: neither may choose a number."""
    from typing import Literal

    choice = Literal[tuple(values)]  # type: ignore[valid-type]
    Chosen = create_model("Chosen", __doc__="Pick one.", v=(choice, ...))
    assert validate(Chosen, {"v": values[0]}).v == values[0]  # type: ignore[attr-defined]
    with pytest.raises(ToolError):
        validate(Chosen, {"v": given_value})


def test_literal_numbers_beside_words_refuse_a_bool() -> None:
    from typing import Literal

    class Mixed(BaseModel):
        """One of them."""

        v: Literal[1, "auto"]

    assert validate(Mixed, {"v": "auto"}).v == "auto"  # type: ignore[attr-defined]
    with pytest.raises(ToolError):
        validate(Mixed, {"v": True})


def _python_numbers() -> list[Any]:
    """Numbers a Python caller may hand a tool, beside int and float."""
    from fractions import Fraction

    import numpy as np

    return [
        np.float32("nan"),
        np.float16("inf"),
        np.float64("-inf"),
        np.int64(2**62),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal(10) ** 400,
        Fraction(10**400, 3),
        complex(1, 1),
        complex("inf"),
    ]


@pytest.mark.parametrize("bad", _python_numbers(), ids=repr)
def test_any_kind_of_number_obeys_the_rule_where_anything_goes(bad: Any) -> None:
    class Free(BaseModel):
        """Anything."""

        payload: Any = None
        tags: dict[str, Any] = {}

    with pytest.raises(ToolError, match="finite|too large|real number"):
        validate(Free, {"payload": {"deep": [[1, bad]]}})
    with pytest.raises(ToolError, match="finite|too large|real number"):
        validate(Free, {"tags": {"x": bad}})


def test_a_fraction_field_takes_no_string() -> None:
    from fractions import Fraction

    class Ratio(BaseModel):
        """A ratio."""

        model_config = ConfigDict(arbitrary_types_allowed=True)
        r: Fraction

    with pytest.raises(ToolError, match="must be a number"):
        validate(Ratio, {"r": "1/3"})
