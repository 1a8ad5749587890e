"""Google's AITW action matching, reproduced: the rule behind the `aitw` and `aitw-strict` scorers.

The reference is google-research ``android_in_the_wild/action_matching.py``
(``check_actions_match``,
Apache-2.0). What it does, and so what this does:

- An action is AITW's: a type (3 type, 4 dual point, 5 back, 6 home, 7 enter, 10 complete,
  11 impossible) and, for dual points, touch and lift as normalized (y, x).
- If either action is not a dual point, the types are compared and nothing else (typed text is
  not compared).
- A dual point is a tap when touch and lift are at most 0.04 apart, else a swipe. A tap and a
  swipe never match.
- Taps match when both touches lie in the same element box, enlarged by 1.4× its height and
  width (0.7× on each side: 2.4× in all), its top and left clipped at 0 and its height and width at
  1 — the bottom is top + height after clipping, so clipping the top also moves the bottom up — or
  when they are at most 0.14 apart.
- Swipes match when their main axis (the larger of |Δy|, |Δx|; a tie is vertical) is the same;
  up matches down. ``aitw-strict`` also asks for the same sign.

The reference computes in float32 (JAX's default), and XLA on a CPU flushes subnormal numbers to
zero; so does this, operation for operation, so that points on a box's edge or at exactly 0.14 get
the reference's verdict. A differential test
compares the verdicts with the reference's on pairs that sit on every edge and threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vlagent.agent.evaluation.gold import Box

F32 = np.float32
TAP_DISTANCE = F32(0.14)
SWIPE_DISTANCE = F32(0.04)
AUGMENT = F32(1.4)
TYPES = {"type": 3, "back": 5, "home": 6, "enter": 7, "complete": 10, "impossible": 11}
DUAL_POINT = 4
VERSION = "google-research android_in_the_wild/action_matching.py (check_actions_match), float32"

Yx = tuple[float, float]
_TINY = np.finfo(F32).tiny


def f32(value: Any) -> Any:
    """``value`` as XLA holds it: float32, a subnormal flushed to zero."""
    number = F32(value)
    return F32(0) if abs(number) < _TINY else number


def as_aitw(kind: str, arguments: dict[str, Any]) -> tuple[int, Yx, Yx] | None:
    """Our action (kind and normalized ``mobile_use`` arguments) as AITW's type, touch and lift;
    None for actions AITW has no type for (open, wait, key, answer)."""
    if kind in ("click", "long_press"):
        x, y = arguments["coordinate"]
        return DUAL_POINT, (y, x), (y, x)
    if kind == "swipe":
        (x1, y1), (x2, y2) = arguments["coordinate"], arguments["coordinate2"]
        return DUAL_POINT, (y1, x1), (y2, x2)
    if kind in TYPES:
        return TYPES[kind], (-1.0, -1.0), (-1.0, -1.0)
    return None


def _norm(a: Yx, b: Yx) -> Any:
    dy, dx = f32(f32(a[0]) - f32(b[0])), f32(f32(a[1]) - f32(b[1]))
    return f32(np.sqrt(f32(f32(dy * dy) + f32(dx * dx)), dtype=F32))


def is_tap(touch: Yx, lift: Yx) -> bool:
    return bool(_norm(touch, lift) <= SWIPE_DISTANCE)


def _in_enlarged(yx: Yx, box: Box) -> bool:
    """``yx`` inside ``box`` (left, top, right, bottom) enlarged and clipped as the reference
    does."""
    left, top = f32(box[0]), f32(box[1])
    height, width = f32(f32(box[3]) - top), f32(f32(box[2]) - left)
    height_change, width_change = f32(AUGMENT * height), f32(AUGMENT * width)
    top2 = max(F32(0), f32(top - f32(height_change / F32(2))))
    left2 = max(F32(0), f32(left - f32(width_change / F32(2))))
    height2 = min(F32(1), f32(height + height_change))
    width2 = min(F32(1), f32(width + width_change))
    y, x = f32(yx[0]), f32(yx[1])
    return bool(top2 <= y <= f32(top2 + height2) and left2 <= x <= f32(left2 + width2))


def _main_axis(touch: Yx, lift: Yx) -> tuple[int, bool]:
    """The axis with the larger change (0: y, 1: x; a tie is y) and whether the change is
    positive."""
    deltas = [f32(f32(lift[0]) - f32(touch[0])), f32(f32(lift[1]) - f32(touch[1]))]
    axis = 1 if abs(deltas[1]) > abs(deltas[0]) else 0  # argmax: the first of equals
    return axis, bool(deltas[axis] > 0)


def actions_match(
    gold: tuple[int, Yx, Yx],
    predicted: tuple[int, Yx, Yx],
    boxes: Sequence[Box],
    same_sign: bool = False,
) -> tuple[bool, str]:
    """The reference's verdict for two AITW actions, and why."""
    (gold_type, gold_touch, gold_lift), (type_, touch, lift) = gold, predicted
    if gold_type != DUAL_POINT or type_ != DUAL_POINT:
        same = gold_type == type_
        return same, "same action type" if same else f"action type {type_} vs gold {gold_type}"
    gold_tap, tap = is_tap(gold_touch, gold_lift), is_tap(touch, lift)
    if gold_tap != tap:
        return False, "a tap and a swipe"
    if tap:
        if any(_in_enlarged(gold_touch, b) and _in_enlarged(touch, b) for b in boxes):
            return True, "both in one element box (enlarged 2.4x)"
        distance = _norm(gold_touch, touch)
        if distance <= TAP_DISTANCE:
            return True, f"distance {float(distance):.4f} <= 0.14"
        return False, f"distance {float(distance):.4f} > 0.14 and no shared element box"
    (gold_axis, gold_up), (axis, up) = _main_axis(gold_touch, gold_lift), _main_axis(touch, lift)
    same = gold_axis == axis and (not same_sign or gold_up == up)
    what = ("y", "x")
    return same, f"main axis {what[axis]} vs gold {what[gold_axis]}" + (
        " (sign compared)" if same_sign else ""
    )
