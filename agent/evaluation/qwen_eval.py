"""The Qwen-derived step evaluators behind the Qwen team's published agent numbers.

``qwen-aitz``: the AITZ evaluator the Qwen team published with Qwen2.5-VL's agent
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

``qwen-androidcontrol``: the AndroidControl evaluator the Qwen team shared for Qwen2.5-VL, as
Reallm-Labs/InfiGUI-R1 keeps it (``eval/android_control/evaluate_android_control.py``), reproduced
and held to its verdicts (``tests/data/qwen-androidcontrol-oracle``). Its rules:
- a click or long press (each its own type) is right inside the target element's box enlarged
  1.2× about its centre (no clipping), or within 0.04·max(W, H) of the gold point, W × H being the
  size the model saw the screenshot at (distances in those pixels);
- an ``open`` is right by lowercase containment of the app name either way, or answered by a click
  by the click rule on the app's icon box (its centre as the gold point); with no icon box, such a
  click is wrong in type too;
- typed text by lowercase containment either way; a system button is one type, right on the same
  button; a wait on its type;
- a swipe on its main direction (horizontal only when |dx| > |dy|) against the gold's.
"""

from __future__ import annotations

import math
from typing import Any

from vlagent.agent.evaluation.gold import Box, GoldStep, Verdict, enlarged, inside, kind_of

VERSION = 2
"""2: ``qwen-androidcontrol`` added."""
BOX_SCALE = 1.2
TAP_DISTANCE = 0.14
PREDICTED_TIE = 1e-9
_DIRECTIONS = (
    ("up", (0.0, -1.0)),
    ("down", (0.0, 1.0)),
    ("left", (-1.0, 0.0)),
    ("right", (1.0, 0.0)),
)


def _action(
    tool: str | None, arguments: dict[str, Any] | None, tie: float = 0.0
) -> tuple[str | None, Any]:
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
    length = math.sqrt(vx**2 + vy**2)
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
    return (
        max(0.0, y - h_delta / 2),
        max(0.0, x - w_delta / 2),
        min(1.0, h + h_delta),
        min(1.0, w + w_delta),
    )


def _inside(point: list[float], box: tuple[float, float, float, float]) -> bool:
    y, x, h, w = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def _tap(
    predicted: list[float] | None, target: list[float], elements: tuple[Box, ...]
) -> tuple[bool, str]:
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
    if kind is None and gold_type is None and tool is not None and arguments is not None:
        return _outside_types(gold, tool, arguments)
    if kind is None or kind != gold_type:
        mine, theirs = kind or _raw(tool, arguments), gold_type or _raw(gold.tool, gold.arguments)
        return Verdict(False, False, f"type: predicted {mine}, gold {theirs}")
    if kind in ("click", "long_point"):
        same, why = _tap(detail, gold_detail, gold.elements)
        return Verdict(True, same, why)
    if kind == "type":
        mine, theirs = detail.lower().strip(), gold_detail.lower().strip()
        return Verdict(
            True, mine in theirs or theirs in mine, f"text {detail!r} vs {gold_detail!r}"
        )
    if kind in ("scroll", "press"):
        return Verdict(
            True, detail == gold_detail, f"{kind}: predicted {detail}, gold {gold_detail}"
        )
    return Verdict(True, True, "stop matches")


def _raw(tool: str | None, arguments: dict[str, Any] | None) -> str:
    """A call's own action name, for a type outside the evaluator's (an ``open``, a ``key``)."""
    if tool is None or arguments is None:
        return "no action"
    return f"{kind_of(tool, arguments)} (not one of its types)"


def _outside_types(gold: GoldStep, tool: str, arguments: dict[str, Any]) -> Verdict:
    """Gold and prediction both outside the evaluator's types (a recording of ``agent run`` holds
    ``open``, which AITZ has not): the same action is right on the same arguments, an ``open`` on
    its app name by lowercase containment either way, as AndroidControl's rule reads it."""
    mine, theirs = kind_of(tool, arguments), kind_of(gold.tool, gold.arguments)
    if mine != theirs:
        return Verdict(False, False, f"type: predicted {mine}, gold {theirs}")
    if mine == "open":
        a, b = (str(x.get("text", "")).lower().strip() for x in (arguments, gold.arguments))
        return Verdict(True, bool(a) and (a in b or b in a), f"app {a!r} vs {b!r}")
    same = dict(arguments) == dict(gold.arguments)
    return Verdict(True, same, f"{mine}: {'same' if same else 'other'} arguments")


AC_DISTANCE = 0.04
_AC_NAMES = {
    "click": "click",
    "long_press": "long_press",
    "swipe": "swipe",
    "type": "type",
    "open": "open",
    "wait": "wait",
    "back": "system_button",
    "home": "system_button",
    "enter": "system_button",
    "menu": "system_button",
    "complete": "terminate",
    "impossible": "terminate",
}


def _ac_name(tool: str, arguments: dict[str, Any]) -> str:
    kind = kind_of(tool, arguments)
    return _AC_NAMES.get(kind, kind)


def _ac_direction(start: list[float], end: list[float]) -> str:
    """The evaluator's direction of a move: horizontal only when |dx| > |dy|; no move reads "up"."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    if abs(dx) > abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def _ac_click(
    point: list[float], targets: tuple[Box, ...], gold: list[float] | None, seen: tuple[int, int]
) -> tuple[bool, str]:
    for box in targets:
        if inside(point, enlarged(box, BOX_SCALE)):
            return True, f"in the target's box ×{BOX_SCALE}"
    if gold is None:
        return False, "no target box holds it"
    width, height = seen
    dx, dy = (gold[0] - point[0]) * width, (gold[1] - point[1]) * height
    distance, limit = math.sqrt(dx**2 + dy**2), AC_DISTANCE * max(width, height)
    rule = "≤" if distance <= limit else ">"
    return distance <= limit, f"distance {distance:.1f} px {rule} {limit:.1f} px ({width}x{height})"


def _contains(predicted: str, gold: str) -> bool:
    a, b = predicted.lower().strip(), gold.lower().strip()
    return a in b or b in a


def score_qwen_androidcontrol(
    gold: GoldStep, tool: str | None, arguments: dict[str, Any] | None, seen: tuple[int, int]
) -> Verdict:
    """``seen``: the (width, height) the model saw the screenshot at (its resized size)."""
    if tool is None or arguments is None:
        return Verdict(False, False, "no valid prediction")
    want, got, g = _ac_name(gold.tool, gold.arguments), _ac_name(tool, arguments), gold.arguments
    mismatch = Verdict(False, False, f"type: predicted {got}, gold {want}")
    try:
        if want == "open" and got == "click":
            if not gold.targets:
                return Verdict(
                    False, False, "an open answered by a click, with no icon box to click"
                )
            box = gold.targets[0]
            same, why = _ac_click(
                arguments["coordinate"],
                gold.targets,
                [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2],
                seen,
            )
            return Verdict(True, same, f"open answered by a click: {why}")
        if got != want:
            return mismatch
        if want == "wait":
            return Verdict(True, True, "wait matches")
        if want == "system_button":
            same = str(g["button"]).lower().strip() == str(arguments["button"]).lower().strip()
            return Verdict(
                True, same, f"button: predicted {arguments['button']}, gold {g['button']}"
            )
        if want in ("type", "open"):
            same = _contains(str(arguments["text"]), str(g["text"]))
            return Verdict(True, same, f"text {arguments['text']!r} vs {g['text']!r}")
        if want == "swipe":
            mine = _ac_direction(arguments["coordinate"], arguments["coordinate2"])
            theirs = _ac_direction(g["coordinate"], g["coordinate2"])
            return Verdict(True, mine == theirs, f"swipe: predicted {mine}, gold {theirs}")
        if want in ("click", "long_press"):
            same, why = _ac_click(arguments["coordinate"], gold.targets, g["coordinate"], seen)
            return Verdict(True, same, why)
    except (
        KeyError,
        TypeError,
        IndexError,
    ) as exc:  # the reference counts a step it cannot read as wrong
        return Verdict(False, False, f"the prediction lacks what its action needs ({exc})")
    return Verdict(False, False, f"the evaluator has no rule for a gold {want}")
