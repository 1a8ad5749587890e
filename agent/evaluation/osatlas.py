"""The ``os-atlas-androidcontrol`` scorer: OS-Atlas's AndroidControl evaluation (OS-Copilot/OS-Atlas
``eval/eval_scripts/android_control/evaluation_unify.py``, the rules UI-TARS reports with),
reproduced and held to its verdicts (``tests/data/os-atlas-androidcontrol-oracle``).

The reference compares action *strings* in OS-Atlas's action language — ``CLICK <point>[[x,
y]]</point>`` and ``LONG_PRESS …`` (0–1000), ``TYPE [text]``, ``SCROLL [UP]`` (the content's
direction, as AndroidControl names it), ``OPEN_APP [name]``, ``PRESS_BACK``, ``PRESS_HOME``,
``WAIT``, ``COMPLETE``. Both actions are written in that language here, then:
- the type is the first word of each string;
- a click or long press is right within 140 of the gold point on the 0–1000 grid (no boxes);
- ``TYPE`` and ``OPEN_APP`` are right when the strings are equal or the token F1 of their second
  words (the first word of the text, its ``[`` included, lower-cased) exceeds 0.5 — in effect, when
  the first words agree;
- every other action is right when the strings are equal.
"""

from __future__ import annotations

import math
from typing import Any

from vlagent.agent.evaluation.gold import GoldStep, Verdict, direction, kind_of

VERSION = 1
DISTANCE = 0.14 * 1000
_FINGER_TO_CONTENT = {"up": "DOWN", "down": "UP", "left": "RIGHT", "right": "LEFT"}
_WORDS = {
    "back": "PRESS_BACK",
    "home": "PRESS_HOME",
    "enter": "PRESS_ENTER",
    "menu": "PRESS_RECENT",
    "wait": "WAIT",
    "complete": "COMPLETE",
    "impossible": "COMPLETE",
}


def _grid(point: list[float]) -> tuple[int, int]:
    """A normalized point on the 0–1000 integer grid OS-Atlas answers are written on."""
    return round(point[0] * 1000), round(point[1] * 1000)


def action_string(tool: str, arguments: dict[str, Any]) -> str:
    """A call written in OS-Atlas's action language."""
    kind = kind_of(tool, arguments)
    if kind in ("click", "long_press"):
        x, y = _grid(arguments["coordinate"])
        return f"{'CLICK' if kind == 'click' else 'LONG_PRESS'} <point>[[{x},{y}]]</point>"
    if kind == "swipe":
        return f"SCROLL [{_FINGER_TO_CONTENT[direction(arguments['coordinate'], arguments['coordinate2'])]}]"  # noqa: E501
    if kind == "type":
        return f"TYPE [{arguments.get('text', '')}]"
    if kind == "open":
        return f"OPEN_APP [{arguments.get('text', '')}]"
    if kind in _WORDS:
        return _WORDS[kind]
    return kind.upper() or "NONE"


def token_f1(predicted: str, gold: str) -> float:
    """The reference's F1 over the sets of lower-cased whitespace tokens."""
    mine, theirs = set(predicted.lower().split()), set(gold.lower().split())
    common = mine & theirs
    precision = len(common) / len(mine) if mine else 0
    recall = len(common) / len(theirs) if theirs else 0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def score_os_atlas(gold: GoldStep, tool: str | None, arguments: dict[str, Any] | None) -> Verdict:
    if tool is None or arguments is None:
        return Verdict(False, False, "no valid prediction")
    try:
        mine = action_string(tool, arguments)
    except (KeyError, TypeError, IndexError) as exc:
        return Verdict(False, False, f"the prediction lacks what its action needs ({exc})")
    theirs = action_string(gold.tool, gold.arguments)
    kind, gold_kind = mine.split()[0], theirs.split()[0]
    if kind != gold_kind:
        return Verdict(False, False, f"type: predicted {kind}, gold {gold_kind}")
    if kind in ("CLICK", "LONG_PRESS"):
        (px, py), (gx, gy) = _grid(arguments["coordinate"]), _grid(gold.arguments["coordinate"])
        distance = math.sqrt((px - gx) ** 2 + (py - gy) ** 2)
        rule = "≤" if distance <= DISTANCE else ">"
        return Verdict(True, distance <= DISTANCE, f"distance {distance:.1f} {rule} 140 (0–1000)")
    if kind in ("TYPE", "OPEN_APP"):
        # Both strings have a second word: the text is written in brackets.
        same = mine == theirs or token_f1(mine.split()[1], theirs.split()[1]) > 0.5
        return Verdict(True, same, f"{mine!r} vs {theirs!r}")
    return Verdict(True, mine == theirs, f"{mine!r} vs {theirs!r}")
