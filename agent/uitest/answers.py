"""The tools a UI test asks the model to answer with: a verdict for ``check`` and ``wait_for``, a
point for ``tap`` and the other gestures, a box for ``locate``, and a typed answer for ``query``.
Answers are validated like every other action (a wrong type goes back to the model with the
error), never read out of free text."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, Field, create_model

from vlagent.tools import Point, ToolCall, ToolSet
from vlagent.tools.errors import VlagentError


class Verdict(BaseModel):
    """Say whether the statement holds on the current screen, and what on the screen shows it."""

    tool_name: ClassVar[str] = "verdict"
    holds: bool = Field(description="true if the statement holds on the current screen, else false")
    reason: str = Field(description="what on the screen shows it, in one sentence")


class Tap(BaseModel):
    """Tap (click) the one element the instruction describes."""

    tool_name: ClassVar[str] = "tap"
    coordinate: Point = Field(description="the [x, y] point to tap, at the element's centre")


class Locate(BaseModel):
    """Give the box around the one element the instruction describes."""

    tool_name: ClassVar[str] = "locate"
    top_left: Point = Field(description="the [x, y] of the element's top-left corner")
    bottom_right: Point = Field(description="the [x, y] of the element's bottom-right corner")


class Box(NamedTuple):
    """An element's box in pixels of the screenshot the model was shown."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)


def box_of(answer: Locate, size: tuple[int, int]) -> Box:
    """The box of a validated ``locate`` answer (normalized points) on a screen of ``size``."""
    (x1, y1), (x2, y2) = answer.top_left, answer.bottom_right
    width, height = size
    return Box(min(x1, x2) * width, min(y1, y2) * height, max(x1, x2) * width, max(y1, y2) * height)


ANSWER_DOC = "Give the answer to the question, read from the current screen."


def answer_tool(schema: Any) -> type[BaseModel]:
    """The tool ``query`` asks for: a pydantic model's own fields (flat: the function-calling
    schemas models read have no nested objects), or for a plain type such as ``int`` or
    ``list[str]``, one argument ``value`` of that type."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return create_model("Answer", __base__=schema, __doc__=ANSWER_DOC)
    model: type[BaseModel] = create_model(
        "Answer", __doc__=ANSWER_DOC, value=(schema, Field(description="the answer"))
    )
    return model


def answer_value(schema: Any, answer: BaseModel) -> Any:
    """What ``query`` returns: an instance of the caller's model, or the plain value."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_validate(answer.model_dump())
    return getattr(answer, "value")


def only(tool: type[BaseModel], name: str | None = None) -> ToolSet:
    tools = ToolSet()
    tools.register(tool, name)
    return tools


class GestureUnsupported(VlagentError, TypeError):
    """A gesture this environment has no action for (hover on a phone, any gesture off-screen)."""


Gesture = Literal["tap", "double_click", "right_click", "hover"]
# Each gesture in the environment's own actions: (action, extra arguments), repeated for a
# double tap on a phone; a right click is a phone's long press (its context-menu gesture).
_MOBILE: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "tap": [("click", {})],
    "double_click": [("click", {}), ("click", {})],
    "right_click": [("long_press", {"time": 1.0})],
}
_DESKTOP: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "tap": [("left_click", {})],
    "double_click": [("double_click", {})],
    "right_click": [("right_click", {})],
    "hover": [("mouse_move", {})],
}


def _screen_tool(tools: ToolSet, what: str) -> str:
    for name in ("mobile_use", "computer_use"):
        if name in tools.names:
            return name
    raise GestureUnsupported(
        f"{what} needs a screen environment (mobile_use or computer_use); this one has "
        f"{tools.names}"
    )


def gesture_on(tools: ToolSet, gesture: str, point: tuple[float, float]) -> list[BaseModel]:
    """The environment's own actions for ``gesture`` at a normalized point."""
    tool = _screen_tool(tools, gesture)
    steps = (_MOBILE if tool == "mobile_use" else _DESKTOP).get(gesture)
    if steps is None:
        raise GestureUnsupported(f"{gesture} has no action on {tool}: use a desktop environment")
    return [
        tools.validate(ToolCall(tool, {"action": a, "coordinate": list(point), **extra}))
        for a, extra in steps
    ]


def click_on(environment_tools: ToolSet, point: tuple[float, float]) -> BaseModel:
    """The environment's own click at a normalized point (mobile_use or computer_use)."""
    return gesture_on(environment_tools, "tap", point)[0]


SCROLL = 0.3  # a phone swipe's length, in screen heights or widths
SCROLL_PIXELS = 500  # a desktop scroll: five wheel clicks
_DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def scroll_on(tools: ToolSet, direction: str, point: tuple[float, float]) -> BaseModel:
    """Scroll the content at ``point`` so that what lies ``direction`` comes into view."""
    if direction not in _DIRECTIONS:
        raise GestureUnsupported(f"scroll {direction!r}: give up, down, left or right")
    dx, dy = _DIRECTIONS[direction]
    tool = _screen_tool(tools, "scroll")
    if tool == "mobile_use":  # the finger moves against the direction the content comes from
        end = [
            min(max(point[0] - dx * SCROLL, 0.0), 1.0),
            min(max(point[1] - dy * SCROLL, 0.0), 1.0),
        ]
        arguments: dict[str, Any] = {
            "action": "swipe",
            "coordinate": list(point),
            "coordinate2": end,
        }
    else:  # the wheel: positive scrolls up (or right)
        action, sign = ("scroll", -dy) if dy else ("hscroll", dx)
        arguments = {
            "action": action,
            "coordinate": list(point),
            "pixels": sign * SCROLL_PIXELS,
        }
    return tools.validate(ToolCall(tool, arguments))


def key_on(tools: ToolSet, keys: str) -> BaseModel:
    """Press ``keys`` (``"enter"``, ``"ctrl+s"``; on a phone an adb key name such as ``ENTER``)."""
    tool = _screen_tool(tools, "key")
    if tool == "mobile_use":
        return tools.validate(ToolCall(tool, {"action": "key", "text": keys}))
    return tools.validate(ToolCall(tool, {"action": "key", "keys": keys.split("+")}))


def type_on(tools: ToolSet, text: str) -> BaseModel:
    """Type ``text`` into whatever has the focus."""
    return tools.validate(
        ToolCall(_screen_tool(tools, "type_text"), {"action": "type", "text": text})
    )
