"""Gold episodes in one shape, whatever dataset they came from.

A gold action is a ``mobile_use`` (or ``computer_use``) call with normalized points, the same
form the agent's own actions take after validation, plus a *kind* used for type matching:
``click``, ``long_press``, ``swipe``, ``type``, ``back``, ``home``, ``enter``, ``menu``, ``open``,
``wait``, ``key``, ``complete``, ``impossible``, ``answer``. Swipes are always recorded as the
finger moves (``coordinate`` → ``coordinate2``); datasets that name the direction the content
scrolls are converted when loaded (see ``formats.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlagent.environments import UIElement

Box = tuple[float, float, float, float]
"""An element's box, normalized: (left, top, right, bottom) in [0, 1]."""


@dataclass(frozen=True)
class GoldStep:
    index: int
    image: Path
    tool: str
    arguments: dict[str, Any]
    elements: tuple[Box, ...] = ()
    instruction: str | None = None
    """AndroidControl's per-step ("low-level") instruction, when the dataset has one."""
    label: str | None = None
    """The dataset's own description of the gold action (AITZ's ``coat_action_desc``)."""
    targets: tuple[Box, ...] = ()
    ui_tree: tuple[UIElement, ...] | None = None
    """The screen's elements as the model would be shown them (``--ui-tree``), in screenshot
    pixels; None when the dataset has no accessibility tree."""
    """The box(es) of the element the gold action acts on, for rules that score a tap by its
    target alone (AndroidControl: :func:`target_boxes`; an ``open`` answered by a tap: the app's
    icon when its label is on screen)."""


@dataclass(frozen=True)
class Verdict:
    type_match: bool
    exact_match: bool
    reason: str


@dataclass
class Episode:
    id: str
    goal: str
    steps: list[GoldStep] = field(default_factory=list)
    source: str = ""
    benchmark: str = ""
    """The dataset it came from: aitz, aitw, androidcontrol or trajectory (names its protocol)."""
    category: str = ""
    """The dataset's own grouping (AITZ / AITW subset such as GOOGLE_APPS; empty when none)."""
    skipped_steps: list[tuple[int, str]] = field(default_factory=list)
    """Recorded steps that are no gold step (a run's failed step), with why: kept in the record."""
    length: int | None = None
    """How many steps the file says the episode has (AITZ's ``episode_length``), when it says."""


def kind_of(tool: str, arguments: dict[str, Any]) -> str:
    """The action type a type match compares."""
    action = str(arguments.get("action", ""))
    if action in (
        "click",
        "left_click",
        "double_click",
        "triple_click",
        "right_click",
        "middle_click",
    ):
        return "click"
    if action in ("swipe", "left_click_drag", "scroll", "hscroll"):
        return "swipe"
    if action == "system_button":
        return str(arguments.get("button", "")).lower()
    if action == "terminate":
        return "complete" if arguments.get("status") == "success" else "impossible"
    return action


def direction(start: list[float], end: list[float]) -> str:
    """The finger's main direction: up, down, left or right (a tie is vertical)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    if abs(dy) >= abs(dx):
        return "up" if dy < 0 else "down"
    return "left" if dx < 0 else "right"


def enlarged(box: Box, scale: float) -> Box:
    """``box`` scaled by ``scale`` about its centre (no clipping)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w, half_h = (box[2] - box[0]) * scale / 2, (box[3] - box[1]) * scale / 2
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def inside(point: list[float], box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def target_boxes(point: list[float], boxes: tuple[Box, ...]) -> tuple[Box, ...]:
    """The target of a tap at ``point``: the smallest of ``boxes`` that holds it, leaving out
    boxes that cover half the screen or more (a layout container: counting it as the target
    would make almost any tap right). Empty when no such box holds the point."""
    holding = [b for b in boxes if inside(point, b) and (b[2] - b[0]) * (b[3] - b[1]) < 0.5]
    if not holding:
        return ()
    return (min(holding, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])),)
