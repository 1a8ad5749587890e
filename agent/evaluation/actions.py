"""Dataset actions as ``mobile_use`` arguments with normalized points: AITW's (also AITZ's) and
AndroidControl's. Scroll conventions are made explicit here (docs/evaluation.md): AITW records the
finger (touch → lift); AndroidControl names the direction the content scrolls, so its swipe goes
the other way.
"""

from __future__ import annotations

from typing import Any

from vlagent.agent.evaluation.aitw import is_tap

SWIPE_FROM, SWIPE_TO = 0.7, 0.3
"""Where a gold swipe with only a direction (AndroidControl) starts and ends, as a fraction."""


def aitw_action(
    action_type: int, touch_yx: list[float], lift_yx: list[float], text: str
) -> dict[str, Any]:
    """An AITW action as ``mobile_use`` arguments (points normalized, x before y)."""
    if action_type == 4:
        touch, lift = [touch_yx[1], touch_yx[0]], [lift_yx[1], lift_yx[0]]
        if is_tap(
            (touch_yx[0], touch_yx[1]), (lift_yx[0], lift_yx[1])
        ):  # as AITW decides, in float32
            return {"action": "click", "coordinate": touch}
        return {"action": "swipe", "coordinate": touch, "coordinate2": lift}
    simple = {
        3: {"action": "type", "text": text},
        5: {"action": "system_button", "button": "Back"},
        6: {"action": "system_button", "button": "Home"},
        7: {"action": "system_button", "button": "Enter"},
        10: {"action": "terminate", "status": "success"},
        11: {"action": "terminate", "status": "failure"},
    }
    if action_type not in simple:
        raise ValueError(f"unknown AITW action type {action_type}")
    return simple[action_type]


def androidcontrol_action(action: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    """An AndroidControl action (points in pixels of a ``width`` x ``height`` screen) as
    ``mobile_use`` arguments; a scroll becomes the finger's swipe (the dataset names the content's
    direction)."""
    kind = action["action_type"]
    if kind in ("click", "long_press"):
        point = [action["x"] / width, action["y"] / height]
        return {
            "action": kind,
            "coordinate": point,
            **({"time": 1.0} if kind == "long_press" else {}),
        }
    if kind == "scroll":
        # Content direction → the finger moves the other way.
        finger = {"down": (0, -1), "up": (0, 1), "right": (-1, 0), "left": (1, 0)}[
            action["direction"]
        ]
        start = [0.5 - finger[0] * (SWIPE_FROM - 0.5), 0.5 - finger[1] * (SWIPE_FROM - 0.5)]
        end = [0.5 + finger[0] * (0.5 - SWIPE_TO), 0.5 + finger[1] * (0.5 - SWIPE_TO)]
        return {"action": "swipe", "coordinate": start, "coordinate2": end}
    if kind == "input_text":
        return {"action": "type", "text": action["text"]}
    if kind == "open_app":
        return {"action": "open", "text": action["app_name"]}
    simple: dict[str, dict[str, Any]] = {
        "navigate_back": {"action": "system_button", "button": "Back"},
        "navigate_home": {"action": "system_button", "button": "Home"},
        "wait": {"action": "wait", "time": 2.0},
    }
    if kind not in simple:
        raise ValueError(f"unknown AndroidControl action {kind!r}")
    return dict(simple[kind])
