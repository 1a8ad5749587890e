"""What UI-TARS is told: its action spaces, and earlier actions written in its own action language.

UI-TARS-1.5 gets its official prompts (ByteDance's ``codes/ui_tars/prompt.py``, also in the
``ui-tars`` package: ``COMPUTER_USE_DOUBAO`` and ``MOBILE_USE_DOUBAO``), to the byte: a model
answers best in the words it was trained on, and a test compares them with the package. UI-TARS
1.0 gets the 1.0 ``start_box`` action space in our words.
"""

from __future__ import annotations

from typing import Any

DESKTOP_SPACE = """\
click(start_box='<|box_start|>(x1,y1)<|box_end|>')
left_double(start_box='<|box_start|>(x1,y1)<|box_end|>')
right_single(start_box='<|box_start|>(x1,y1)<|box_end|>')
drag(start_box='<|box_start|>(x1,y1)<|box_end|>', end_box='<|box_start|>(x3,y3)<|box_end|>')
hotkey(key='ctrl c')  # keys pressed together, lowercase, separated by spaces
type(content='')  # end the content with \\n to submit
scroll(start_box='<|box_start|>(x1,y1)<|box_end|>', direction='down or up or right or left')
wait()  # wait 5 seconds and look again
finished(content='')  # the task is done; content holds the answer, if one was asked for
call_user()  # the task cannot go on without the user"""

MOBILE_SPACE = """\
click(start_box='<|box_start|>(x1,y1)<|box_end|>')
long_press(start_box='<|box_start|>(x1,y1)<|box_end|>')
type(content='')  # end the content with \\n to submit
scroll(start_box='<|box_start|>(x1,y1)<|box_end|>', direction='down or up or right or left')
drag(start_box='<|box_start|>(x1,y1)<|box_end|>', end_box='<|box_start|>(x3,y3)<|box_end|>')
open_app(app_name='')
press_home()
press_back()
wait()  # wait 5 seconds and look again
finished(content='')  # the task is done; content holds the answer, if one was asked for"""


_FINISHED_NOTE_INSTRUCTION = (
    "finished(content='xxx') # Use escape characters \\', \\\", and \\n in content part to ensure "
    "we can parse the content in normal python string format.\n\n\n## Note\n- Use {language} in "
    "`Thought` part.\n- Write a small plan and finally summarize your next action (with its target "
    "element) in one sentence in `Thought` part.\n\n## User Instruction\n{instruction}\n"
)
"""The end both UI-TARS-1.5 prompts share: ``finished``, the note, the instruction."""


DESKTOP_15 = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need "
    "to perform the next action to complete the task.\n\n## Output Format\n```\nThought: "
    "...\nAction: ...\n```\n\n## Action Space\n\nclick(point='<point>x1 "
    "y1</point>')\nleft_double(point='<point>x1 y1</point>')\nright_single(point='<point>x1 "
    "y1</point>')\ndrag(start_point='<point>x1 y1</point>', end_point='<point>x2 "
    "y2</point>')\nhotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not "
    "use more than 3 keys in one hotkey action.\ntype(content='xxx') # Use escape characters \\', "
    '\\", and \\n in content part to ensure we can parse the content in normal python string '
    "format. If you want to submit your input, use \\n at the end of content. "
    "\nscroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Show more "
    "information on the `direction` side.\nwait() #Sleep for 5s and take a screenshot to check for "
    "any changes.\n" + _FINISHED_NOTE_INSTRUCTION
)
"""UI-TARS-1.5's desktop prompt; ``{language}`` and ``{instruction}`` are filled in."""

MOBILE_15 = (
    "You are a GUI agent. You are given a task and your action history, with screenshots. You need "
    "to perform the next action to complete the task. \n## Output Format\n```\nThought: "
    "...\nAction: ...\n```\n## Action Space\n\nclick(point='<point>x1 "
    "y1</point>')\nlong_press(point='<point>x1 y1</point>')\ntype(content='') #If you want to "
    "submit your input, use \"\\n\" at the end of `content`.\nscroll(point='<point>x1 y1</point>', "
    "direction='down or up or right or left')\nopen_app(app_name='')\ndrag(start_point='<point>x1 "
    "y1</point>', end_point='<point>x2 y2</point>')\npress_home()\npress_back()\n"
    + _FINISHED_NOTE_INSTRUCTION
)
"""UI-TARS-1.5's mobile prompt; ``{language}`` and ``{instruction}`` are filled in."""


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


_CLICKS = {
    "left_click": "click",
    "click": "click",
    "double_click": "left_double",
    "right_click": "right_single",
    "long_press": "long_press",
    "mouse_move": "hover",
}
"""The UI-TARS action of each click-like ``action``."""


def _point(point: Any, kind: Any, version: str, key: str = "start_box") -> str:
    """A point argument of a ``kind`` action: ``point='<point>x y</point>'`` (a drag's start is
    ``start_point``) for 1.5, ``start_box='(x,y)'`` for 1.0."""
    x, y = (round(float(v)) for v in point)
    if version == "1.5":
        name = {"start_box": "point", "end_box": "end_point"}[key]
        name = (
            "start_point" if key == "start_box" and kind in ("left_click_drag", "swipe") else name
        )
        return f"{name}='<point>{x} {y}</point>'"
    return f"{key}='({x},{y})'"


def _drag_text(arguments: dict[str, Any], kind: Any, version: str) -> str:
    """A drag or swipe as ``drag``: a drag starts at ``start_coordinate`` and ends at
    ``coordinate``; a swipe goes from ``start_coordinate`` to ``coordinate2``."""
    start = arguments.get("start_coordinate", arguments.get("coordinate"))
    end = arguments.get("coordinate2", arguments.get("coordinate"))
    if kind == "left_click_drag":
        start, end = arguments.get("start_coordinate") or end, arguments["coordinate"]
    return f"drag({_point(start, kind, version)}, {_point(end, kind, version, 'end_box')})"


def _scroll_text(arguments: dict[str, Any], kind: Any, version: str) -> str:
    """A scroll as ``scroll``: positive pixels scroll up (right for ``hscroll``)."""
    pixels = float(arguments.get("pixels", 0))
    direction = (
        ("up" if pixels > 0 else "down")
        if kind == "scroll"
        else ("right" if pixels > 0 else "left")
    )
    coordinate = arguments.get("coordinate")
    point = f"{_point(coordinate, kind, version)}, " if coordinate is not None else ""
    return f"scroll({point}direction='{direction}')"


def action_text(arguments: dict[str, Any], version: str) -> str:
    """An earlier ``computer_use`` / ``mobile_use`` call (points in the model's frame) as the
    UI-TARS action that means it: ``click(point='<point>235 512</point>')`` for 1.5,
    ``click(start_box='(235,512)')`` for 1.0."""
    kind = arguments.get("action")
    if kind in _CLICKS and arguments.get("coordinate") is not None:
        return f"{_CLICKS[kind]}({_point(arguments['coordinate'], kind, version)})"
    if kind in ("left_click_drag", "swipe"):
        return _drag_text(arguments, kind, version)
    if kind == "key":
        return f"hotkey(key={_quoted(' '.join(arguments.get('keys', [])))})"
    if kind == "type":
        return f"type(content={_quoted(str(arguments.get('text', '')))})"
    if kind in ("scroll", "hscroll"):
        return _scroll_text(arguments, kind, version)
    if kind == "open":
        return f"open_app(app_name={_quoted(str(arguments.get('text', '')))})"
    if kind == "system_button":
        return {"Home": "press_home()", "Back": "press_back()"}.get(
            str(arguments.get("button")), "press_enter()"
        )
    if kind == "wait":
        return "wait()"
    if kind == "answer":
        return f"finished(content={_quoted(str(arguments.get('text', '')))})"
    if kind == "terminate":
        return "finished(content='')" if arguments.get("status") == "success" else "call_user()"
    return str(kind)


__all__ = ["DESKTOP_15", "DESKTOP_SPACE", "MOBILE_15", "MOBILE_SPACE", "action_text"]
