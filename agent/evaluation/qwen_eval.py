"""The ``qwen-aitz`` scorer: the AITZ evaluator the Qwen team published with Qwen2.5-VL's agent
numbers, as OpenBMB/AgentCPM-GUI keeps it (``eval/utils/evaluator.py``, AITZ setting), reproduced
rule by rule and held to its verdicts by a differential test (``tests/data/qwen-aitz-oracle``).

Its rules, on normalized coordinates:
- types: ``click``, ``long_point`` (a long press), ``scroll``, ``type``, ``press`` (back, home,
  enter and menu are one type) and ``stop`` (complete, impossible and a wait are one type);
- a tap (or long press) is right when it lies in a gold element box holding the gold point, each
  box enlarged 1.2× about its centre with its top and left clipped at 0 and its height and width
  at 1, or within 0.14 of the gold point;
- a swipe on the direction (up, down, left, right) closest to its vector, ties going to the first
  in that order; the gold swipe's direction is its finger's;
- typed text when one contains the other after lower-casing and stripping spaces;
- a press on its button; a stop on its type.
"""

from __future__ import annotations

import math
from typing import Any

from agent.evaluation.gold import Box, GoldStep, Verdict, kind_of

VERSION = 1
BOX_SCALE = 1.2
TAP_DISTANCE = 0.14
PREDICTED_TIE = 1e-9
_DIRECTIONS = (("up", (0.0, -1.0)), ("down", (0.0, 1.0)), ("left", (-1.0, 0.0)), ("right", (1.0, 0.0)))


def _action(tool: str | None, arguments: dict[str, Any] | None, tie: float = 0.0) -> tuple[str | None, Any]:
    """(type, detail) of a call in the evaluator's terms."""
    if tool is None or arguments is None:
        return None, None
    kind = kind_of(tool, arguments)
    if kind == "click":
        return "click", arguments.get("coordinate")
    if kind == "long_press":
        return "long_point", arguments.get("coordinate")
    if kind == "swipe" and arguments.get("coordinate") and arguments.get("coordinate2"):
        return "scroll", direction(arguments["coordinate"], arguments["coordinate2"], tie=tie)
    if kind == "type":
        return "type", str(arguments.get("text", ""))
    if kind in ("back", "home", "enter", "menu"):
        return "press", kind
    if kind in ("complete", "impossible", "wait"):
        return "stop", None
    return None, None


def direction(start: list[float], end: list[float], tie: float = 0.0) -> str:
    """The direction whose unit vector is closest (largest cosine) to the move; the first of up,
    down, left, right on a tie (cosines within ``tie`` of each other); "no direction" for no
    move."""
    vx, vy = end[0] - start[0], end[1] - start[1]
    length = math.sqrt(vx ** 2 + vy ** 2)
    if length == 0:
        return "no direction"
    ux, uy = vx / length, vy / length
    best, best_cosine = "no direction", -math.inf
    for name, (dx, dy) in _DIRECTIONS:
        cosine = ux * dx + uy * dy
        if cosine > best_cosine + tie:
            best, best_cosine = name, cosine
    return best


def _enlarged(box: Box) -> tuple[float, float, float, float]:
    """(y, x, h, w) of a box enlarged as the evaluator enlarges it (clips included)."""
    y, x, h, w = box[1], box[0], box[3] - box[1], box[2] - box[0]
    h_delta, w_delta = (BOX_SCALE - 1) * h, (BOX_SCALE - 1) * w
    return max(0.0, y - h_delta / 2), max(0.0, x - w_delta / 2), min(1.0, h + h_delta), min(1.0, w + w_delta)


def _inside(point: list[float], box: tuple[float, float, float, float]) -> bool:
    y, x, h, w = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def _tap(predicted: list[float] | None, target: list[float], elements: tuple[Box, ...]) -> tuple[bool, str]:
    if not predicted:
        return False, "no point to compare"
    for box in (_enlarged(b) for b in elements):
        if _inside(target, box) and _inside(predicted, box):
            return True, f"in the gold element's box ×{BOX_SCALE}"
    distance = math.sqrt((target[0] - predicted[0]) ** 2 + (target[1] - predicted[1]) ** 2)
    rule = "≤" if distance <= TAP_DISTANCE else ">"
    return distance <= TAP_DISTANCE, f"distance {distance:.3f} {rule} {TAP_DISTANCE}"


def score_qwen_aitz(gold: GoldStep, tool: str | None, arguments: dict[str, Any] | None) -> Verdict:
    gold_type, gold_detail = _action(gold.tool, gold.arguments)
    # The evaluator reads predicted swipes in the model's integer 0–1000 space, where an exact
    # diagonal is a tie; normalized, it may be one rounding off a tie.
    kind, detail = _action(tool, arguments, tie=PREDICTED_TIE)
    if kind is None or kind != gold_type:
        return Verdict(False, False, f"type: predicted {kind or 'none of its types'}, gold {gold_type}")
    if kind in ("click", "long_point"):
        same, why = _tap(detail, gold_detail, gold.elements)
        return Verdict(True, same, why)
    if kind == "type":
        mine, theirs = detail.lower().strip(), gold_detail.lower().strip()
        return Verdict(True, mine in theirs or theirs in mine, f"text {detail!r} vs {gold_detail!r}")
    if kind in ("scroll", "press"):
        return Verdict(True, detail == gold_detail, f"{kind}: predicted {detail}, gold {gold_detail}")
    return Verdict(True, True, "stop matches")
