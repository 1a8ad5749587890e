"""UI-TARS: a Thought/Action text format instead of function calling (docs/models.md).

UI-TARS 1.0 (Qwen2-VL based) answers in relative 0–1000 coordinates; UI-TARS-1.5 (Qwen2.5-VL
based) in pixels of the smart-resized image. Its actions are translated into the toolset's
``computer_use`` or ``mobile_use`` calls; the text is read by a small scanner and never evaluated
as code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from vlagent.prompts.base import (
    CoordinateFrame,
    Dialect,
    Message,
    ParseError,
    Prompt,
    normalize_call,
)
from vlagent.prompts.bounds import is_number, read_number, shorten
from vlagent.prompts.qwen import _THINK, _default_resize
from vlagent.prompts.uitars_prompts import (
    DESKTOP_15,
    DESKTOP_SPACE,
    MOBILE_15,
    MOBILE_SPACE,
    action_text,
)
from vlagent.tools import ToolCall, ToolSet

SCROLL_PIXELS = 500
"""``scroll(direction=…)`` has no amount; a desktop scroll moves the wheel this many pixels."""
SWIPE_FRACTION = 0.4
"""A phone ``scroll`` swipes this fraction of the screen from its start point."""
WAIT_SECONDS = 5.0
LONG_PRESS_SECONDS = 1.0

# ``Action:`` may follow text on the same line ("… close it. Action: click(…)"), as the official
# parsers accept; a word that ends in "action" (Reaction:) is not a header.
#
# The scanner is linear in the answer's length (benchmarks/parse_scaling.py): every pattern is
# matched at a position in the text (never on a copied slice of the rest), a name starts only
# where a word starts (a run of letters is not retried from each of its letters), and a section
# header's blanks stay on its line (a run of blank lines is not rescanned from each one).
_ACTION_HEADER = re.compile(r"(?<![A-Za-z_])Action\s*[:：]")
_SECTION = re.compile(r"^[ \t]*(?:Thought|Reflection|Action_Summary)[ \t]*[:：]", re.MULTILINE)
_NAME = re.compile(r"(?<![A-Za-z_0-9])([A-Za-z_][A-Za-z_0-9]*)\(")
_STARTS_ACTION = re.compile(r"\s*[A-Za-z_]\w*\(")
_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*=\s*")
_CLOSE = re.compile(r"\s*\)")
_COMMA = re.compile(r"\s*,")
_BARE = re.compile(r"[^,)]*")
_NEXT_KEY = re.compile(r"\s*,\s*[A-Za-z_]\w*\s*=")
_ACTION_END = re.compile(r"\s*\)\s*(?:$|\n|[A-Za-z_]\w*\()")
_POINT_MARKS = re.compile(r"<\|box_(?:start|end)\|>|</?(?:point|bbox)>|[(),\[\]]")
"""What surrounds and separates the numbers of a point: the rest must be numbers."""


@dataclass
class _Action:
    name: str
    args: dict[str, str]


# -- scanning the Action text ----------------------------------------------------------------


def _string_end(text: str, start: int, quote: str) -> int:
    """Index of the quote closing a value opened at ``start``. Quotes inside a value are common
    (``type(content='it's')``), so the closing one is the first followed by ``, key=`` or ``)``
    and then the end of the action."""
    pos = start
    while True:
        pos = text.find(quote, pos)
        if pos < 0:
            return -1
        if _NEXT_KEY.match(text, pos + 1) or _ACTION_END.match(text, pos + 1):
            return pos
        pos += 1


def _value(text: str, pos: int, key: str, name: str) -> tuple[str, int]:
    """The value of ``key`` starting at ``pos``, and the position after it."""
    if pos < len(text) and text[pos] in "'\"":
        end = _string_end(text, pos + 1, text[pos])
        if end < 0:
            raise ParseError(f"the value of {shorten(key)!r} in {shorten(name)}(...) is not closed")
        return text[pos + 1 : end], end + 1
    bare = _BARE.match(text, pos)
    value = bare.group(0) if bare else ""
    return value.strip(), pos + len(value)


def _scan(text: str) -> Iterator[_Action]:
    """The actions in ``text``, one at a time: an answer whose first action is refused is not
    read further, and a million of them are never held at once."""
    pos = 0
    while True:
        match = _NAME.search(text, pos)
        if match is None:
            return
        name, pos = match.group(1), match.end()
        args: dict[str, str] = {}
        while True:
            close = _CLOSE.match(text, pos)
            if close is not None:
                pos = close.end()
                break
            key = _KEY.match(text, pos)
            if key is None:
                break  # not an action after all, or cut short: keep what was read
            value, pos = _value(text, key.end(), key.group(1), name)
            args[key.group(1)] = value.replace("\\n", "\n").replace("\\'", "'").replace('\\"', '"')
            comma = _COMMA.match(text, pos)
            if comma is not None:
                pos = comma.end()
        yield _Action(name, args)


def _action_text(text: str) -> str | None:
    """The text after the last ``Action:`` header that starts an action, up to a ``Thought:`` or
    ``Reflection:`` after it, as the official parsers take it (actions separated by blank lines
    inside it all count); "" when no header starts one, None when there is no header. A header
    inside typed text (``type(content='Action: x')``) is skipped: the last one that starts an
    action wins."""
    found, start = False, -1
    for header in _ACTION_HEADER.finditer(text):
        found = True
        if _STARTS_ACTION.match(text, header.end()):
            start = header.end()
    if start < 0:
        return "" if found else None
    after = _SECTION.search(text, start)
    return text[start : after.start() if after is not None else len(text)]


def _point(value: str | None, what: str) -> list[float | int]:
    """A point from ``(x,y)``, ``<point>x y</point>``, ``[x, y]``; a box's centre from four
    numbers (``<bbox>``, ``(x1,y1,x2,y2)``). Anything else in the value is refused, so a number
    is never read as another (``1e3`` is 1000, ``0x10`` is no point)."""
    if value is None:
        raise ParseError(f"{what} is missing")
    tokens = _POINT_MARKS.sub(" ", value).split()
    if len(tokens) not in (2, 4) or not all(is_number(t) for t in tokens):
        raise ParseError(f"{what} {shorten(value)!r} is not a point (x,y) or a box (x1,y1,x2,y2)")
    numbers = [float(read_number(t)) for t in tokens]
    if len(numbers) == 2:
        return [_number(n) for n in numbers]
    return [_number((numbers[0] + numbers[2]) / 2), _number((numbers[1] + numbers[3]) / 2)]


def _start(args: dict[str, str]) -> str | None:
    return args.get("start_box", args.get("point", args.get("start_point")))


def _end(args: dict[str, str]) -> str | None:
    return args.get("end_box", args.get("end_point"))


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


# -- UI-TARS action → our tool arguments, in the model's frame ---------------------------------


def _desktop(action: _Action, frame: CoordinateFrame) -> dict[str, Any]:
    a, name = action.args, action.name
    clicks = {
        "click": "left_click",
        "left_single": "left_click",
        "left_double": "double_click",
        "right_single": "right_click",
        "hover": "mouse_move",
    }
    if name in clicks:
        return {"action": clicks[name], "coordinate": _point(_start(a), "start_box")}
    if name in ("drag", "select"):
        return {
            "action": "left_click_drag",
            "start_coordinate": _point(_start(a), "start_box"),
            "coordinate": _point(_end(a), "end_box"),
        }
    if name == "hotkey":
        keys = (a.get("key") or a.get("hotkey") or "").split()
        return {"action": "key", "keys": keys}
    if name == "scroll":
        direction = a.get("direction", "").strip().lower()
        sign = {"up": 1, "down": -1, "right": 1, "left": -1}.get(direction)
        if sign is None:
            raise ParseError(
                f"scroll direction {shorten(direction)!r} is not up, down, left or right"
            )
        call: dict[str, Any] = {
            "action": "hscroll" if direction in ("left", "right") else "scroll",
            "pixels": sign * SCROLL_PIXELS,
        }
        if _start(a) is not None:
            call["coordinate"] = _point(_start(a), "start_box")
        return call
    return _common(action)


def _mobile(action: _Action, frame: CoordinateFrame) -> dict[str, Any]:
    a, name = action.args, action.name
    if name == "click":
        return {"action": "click", "coordinate": _point(_start(a), "start_box")}
    if name == "long_press":
        return {
            "action": "long_press",
            "coordinate": _point(_start(a), "start_box"),
            "time": LONG_PRESS_SECONDS,
        }
    if name == "drag":
        return {
            "action": "swipe",
            "coordinate": _point(_start(a), "start_box"),
            "coordinate2": _point(_end(a), "end_box"),
        }
    if name == "scroll" and "direction" not in a and _end(a) is not None:
        # The older mobile form: scroll(start_box=…, end_box=…) is a swipe from start to end.
        return {
            "action": "swipe",
            "coordinate": _point(_start(a), "start_box"),
            "coordinate2": _point(_end(a), "end_box"),
        }
    if name == "scroll":
        # direction = the side whose content should come into view: the finger moves the other way.
        direction = a.get("direction", "").strip().lower()
        move = {"down": (0, -1), "up": (0, 1), "right": (-1, 0), "left": (1, 0)}.get(direction)
        if move is None:
            raise ParseError(
                f"scroll direction {shorten(direction)!r} is not up, down, left or right"
            )
        x, y = _point(_start(a), "start_box") if _start(a) else [frame.width / 2, frame.height / 2]
        end = [
            min(max(x + move[0] * SWIPE_FRACTION * frame.width, 0), frame.width),
            min(max(y + move[1] * SWIPE_FRACTION * frame.height, 0), frame.height),
        ]
        return {"action": "swipe", "coordinate": [x, y], "coordinate2": [round(v, 1) for v in end]}
    if name == "open_app":
        return {"action": "open", "text": a.get("app_name", "")}
    if name in ("press_home", "press_back"):
        return {"action": "system_button", "button": "Home" if name == "press_home" else "Back"}
    if name == "press_enter":
        return {"action": "system_button", "button": "Enter"}
    return _common(action)


def _common(action: _Action) -> dict[str, Any]:
    a, name = action.args, action.name
    if name == "type":
        return {"action": "type", "text": a.get("content", "")}
    if name == "wait":
        return {"action": "wait", "time": WAIT_SECONDS}
    if name == "finished":
        content = a.get("content", "").strip()
        return (
            {"action": "answer", "text": content}
            if content
            else {"action": "terminate", "status": "success"}
        )
    if name == "call_user":
        return {"action": "terminate", "status": "failure"}
    raise ParseError(f"unknown action {shorten(name)}(...)")


_SPACES: dict[str, tuple[str, str, Callable[[_Action, CoordinateFrame], dict[str, Any]]]] = {
    "computer_use": (DESKTOP_SPACE, DESKTOP_15, _desktop),
    "mobile_use": (MOBILE_SPACE, MOBILE_15, _mobile),
}


def _tool(toolset: ToolSet) -> str:
    for name in _SPACES:
        if name in toolset:
            return name
    raise ParseError("the ui-tars dialect needs the computer_use or mobile_use tool")


class UITars(Dialect):
    """UI-TARS 1.0: relative 0–1000 coordinates."""

    name = "ui-tars"
    default_resize = _default_resize("ui-tars")
    version = "1.0"
    prompt_source = "UI-TARS's published 1.0 action-space prompt, then the chat template"

    def coordinates_note(self) -> str:
        return "Points are (x,y) with x and y from 0 to 1000 across the screenshot."

    def history_text(self, call: ToolCall) -> str:
        """Earlier actions in the action language the model answers in, not as JSON."""
        return action_text(call.raw(), self.version)

    def instructions(self, toolset: ToolSet, goal: str) -> str:
        space, _, _ = _SPACES[_tool(toolset)]
        return (
            "You are a GUI agent. You are given a task, the actions taken so far and a "
            "screenshot. Give the next action.\n\n## Output Format\n```\nThought: ...\nAction: "
            f"...\n```\n\n## Action Space\n{space}\n\n## Note\n- {self.coordinates_note()}\n- "
            f"Write a short Thought, then exactly one Action.\n\n## User Instruction\n{goal}\n"
        )

    def render(
        self,
        goal: str,
        history: Sequence[ToolCall],
        image: Image.Image,
        toolset: ToolSet,
        feedback: str | None = None,
        surface: str = "screen",
    ) -> Prompt:
        frame = self.frame_for(image.size, toolset)
        text = self.instructions(toolset, goal)
        if history:
            text += "\n## Actions taken\n" + "\n".join(self.history_lines(history)) + "\n"
        if feedback:
            text += "\n" + self.feedback_line(feedback) + "\n"
        messages: list[Message] = [
            {
                "role": "user",
                "content": [{"type": "text", "text": text}, {"type": "image", "image": image}],
            },
        ]
        return Prompt(messages=messages, frame=frame, model_image_size=self.pixel_size(frame))

    def parse_answer(self, text: str, frame: CoordinateFrame, toolset: ToolSet) -> list[ToolCall]:
        tool = _tool(toolset)
        visible = _THINK.sub("", text)
        actions = _action_text(visible)
        if actions is None and _SECTION.search(visible):
            raise ParseError("no 'Action:' line found; answer as Thought: … then Action: …")
        _, _, translate = _SPACES[tool]
        calls = [
            normalize_call(tool, translate(action, frame), frame, toolset)
            for action in _scan(visible if actions is None else actions)
        ]
        if not calls:
            raise ParseError(
                "no action found after 'Action:'; write e.g. Action: click(start_box='(x,y)')"
            )
        return calls


class UITars15(UITars):
    """UI-TARS-1.5: pixels of the smart-resized screenshot."""

    name = "ui-tars-1.5"
    default_resize = _default_resize("ui-tars-1.5")
    pixel_space = True
    version = "1.5"
    prompt_source = (
        "UI-TARS-1.5's official prompt (bytedance/UI-TARS codes/ui_tars/prompt.py, "
        "as the ui-tars package ships it), then the chat template"
    )
    language = "English"

    def instructions(self, toolset: ToolSet, goal: str) -> str:
        """UI-TARS-1.5's official prompt for the toolset's device, to the byte."""
        _, official, _ = _SPACES[_tool(toolset)]
        return official.format(language=self.language, instruction=goal)
