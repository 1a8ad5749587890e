"""A deterministic model for the example tests: a Python function that looks at the virtual
phone's screenshot (the colours of the Notes icon, the text field, the Save button and the saved
notes) and answers in Qwen2-VL's tool-call format (points on a 0-1000 grid).

Real suites use a real model (--vl-model Qwen/Qwen2.5-VL-3B-Instruct); this one makes the examples
run in seconds, offline, and still fail when the screen is not what the test expects.
"""

from __future__ import annotations

import json
import re
from typing import Any

from PIL import Image

from vlagent.prompts import Prompt

NOTES_ICON = (0xFB, 0xBC, 0x04)
SAVE_BUTTON = (0x1A, 0x73, 0xE8)
FIELD_FOCUSED = (0xE3, 0xF2, 0xFD)
FIELD_FOCUSED_DARK = (0x17, 0x4E, 0xA6)
SAVED_NOTE = (0xFF, 0xF8, 0xE1)


def call(name: str, **arguments: Any) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def find(image: Image.Image, colour: tuple[int, int, int]) -> list[int] | None:
    """The centre of the pixels painted ``colour``, on the 0-1000 grid."""
    pixels = image.load()
    assert pixels is not None
    xs, ys = [], []
    for y in range(0, image.height, 8):
        for x in range(0, image.width, 8):
            if pixels[x, y][:3] == colour:
                xs.append(x)
                ys.append(y)
    if not xs:
        return None
    return [
        round((min(xs) + max(xs)) / 2 / image.width * 1000),
        round((min(ys) + max(ys)) / 2 / image.height * 1000),
    ]


def count_rows(image: Image.Image, colour: tuple[int, int, int]) -> int:
    """How many separate bands of ``colour`` the screen's middle column crosses."""
    pixels = image.load()
    assert pixels is not None
    x, rows, inside = image.width // 2, 0, False
    for y in range(image.height):
        here = pixels[x, y][:3] == colour
        rows += here and not inside
        inside = here
    return rows


def verdict(statement: str, image: Image.Image) -> str:
    statement = statement.lower()
    seen = {
        "a note is saved": find(image, SAVED_NOTE),
        "the notes app is open": find(image, SAVE_BUTTON),
        "the home screen is shown": find(image, NOTES_ICON),
    }
    for known, found in seen.items():
        if known in statement:
            return call(
                "verdict",
                holds=found is not None,
                reason=f"{known}: {'yes' if found else 'no'}, judged by its colour on the screen",
            )
    return call("verdict", holds=False, reason=f"this model cannot judge {statement!r}")


def act(goal: str, history: str, image: Image.Image) -> str:
    quoted = re.search(r"'([^']+)'", goal)
    note = quoted.group(1) if quoted else "note"
    save = find(image, SAVE_BUTTON)
    typed = history.find('"action": "type"')
    if save is None:
        icon = find(image, NOTES_ICON)
        return (
            call("mobile_use", action="click", coordinate=icon)
            if icon
            else call("mobile_use", action="system_button", button="Home")
        )
    if typed < 0:
        if find(image, FIELD_FOCUSED) is None and find(image, FIELD_FOCUSED_DARK) is None:
            # the field sits one row and a quarter above Save
            return call("mobile_use", action="click", coordinate=[500, save[1] - 87])
        return call("mobile_use", action="type", text=note)
    if '"action": "click"' not in history[typed:]:
        return call("mobile_use", action="click", coordinate=save)
    return call("mobile_use", action="terminate", status="success")


def answer(prompt: Prompt) -> str:
    tools = {tool["function"]["name"] for tool in prompt.tools or []}
    text = prompt.text()
    goal = text.split("The user query: ", 1)[-1].split("\n", 1)[0].split("<image", 1)[0]
    image = prompt.images()[-1].convert("RGB")
    if "verdict" in tools:
        return verdict(goal, image)
    if "answer" in tools:
        return call("answer", value=count_rows(image, SAVED_NOTE))
    if "tap" in tools:
        target = find(image, SAVE_BUTTON if "save" in goal.lower() else NOTES_ICON)
        return call("tap", coordinate=target) if target else "I cannot see it."
    return act(goal, text.split("Task progress", 1)[-1] if "Task progress" in text else "", image)
