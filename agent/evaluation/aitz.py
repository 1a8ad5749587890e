"""The ``aitz`` scorer: AITZ's own evaluator (IMNearth/CoAT ``coat/evaluate.py``,
``ActionEvaluator``), reproduced rule by rule and held to its verdicts by a differential test
(``tests/data/aitz-oracle``).

Its rules: five action types — ``click``, ``scroll``, ``type``, ``press`` (back, home and enter are
one type) and ``stop`` (complete and impossible are one type); anything else is no type at all.
A scroll matches on its direction word; a press on its button; a stop on its type; typed text
when one contains the other or their Levenshtein ratio exceeds 0.8, case-sensitively (an empty
prediction is contained in every text, so it matches, as there). Gold types and directions come
from the dataset's own action label (``coat_action_desc``, e.g. "scroll up"); without one they are
derived as AITZ derived them (``coat/action_utils.py``): a swipe is vertical when its vertical
change is at least 0.9 times its horizontal change.

Departures, both forced by the reference's click rule, which scores a predicted *box* and
compares it with the point [0, 0] instead of the gold point (a bug: a box around the right element
is wrong, a box over the top-left corner is right):
- the gold point is the gold tap's point;
- the prediction is a point: it is right when it lies in the 1.2×-enlarged box of a gold element
  that also holds the gold point (the reference's "same element" branch, with "inside" for its
  box overlap, which a point cannot have), or when it is the gold point itself, within
  ``EXACT_TOLERANCE`` on each axis (the reference's first branch: the gold point inside the
  predicted box) — so a gold tap that lies in no element box can still be matched.
"""

from __future__ import annotations

from typing import Any

from rapidfuzz.distance import Indel

from vlagent.agent.evaluation.gold import GoldStep, Verdict, enlarged, inside, kind_of

VERSION = 2
"""2: a tap at the gold point is right even where no element box holds it."""
BOX_SCALE = 1.2
EXACT_TOLERANCE = 0.001
"""A predicted point this close to the gold point on each axis (normalized) *is* the gold point:
one step of the 0-1000 grid the reference reads predicted points on."""
TEXT_RATIO = 0.8
VERTICAL_RATIO = 0.9
_TYPES = ("click", "scroll", "type", "press", "stop")
_BUTTONS = ("enter", "back", "home")  # the reference looks for them in this order


def _type_of(word: str) -> str | None:
    """The reference's ``action_map``: the first of its five types named inside the word."""
    word = word.lower()
    if word == "input":
        return "type"
    return next((t for t in _TYPES if t in word), None)


def swipe_direction(start: list[float], end: list[float]) -> str:
    """A finger's swipe as AITZ labels it: vertical when |dy| ≥ 0.9·|dx| (up when it ends higher),
    else left or right (float64, in the reference's order of operations)."""
    vertical_change = abs(start[1] - end[1])
    horizontal_change = abs(end[0] - start[0])
    if vertical_change >= VERTICAL_RATIO * horizontal_change:
        return "up" if end[1] < start[1] else "down"
    return "left" if end[0] < start[0] else "right"


def _gold(step: GoldStep) -> tuple[str | None, str]:
    """(type, detail) of a gold step: from its label when the dataset has one."""
    if step.label:
        words = step.label.split(" ")
        kind = _type_of(words[0])
        if kind == "scroll":
            return kind, words[1].strip() if len(words) > 1 else ""
        if kind == "press":
            return kind, next((b for b in _BUTTONS if b in step.label), "")
        return kind, str(step.arguments.get("text", "")) if kind == "type" else ""
    return _prediction(step.tool, step.arguments)


def _prediction(tool: str, arguments: dict[str, Any]) -> tuple[str | None, str]:
    kind = kind_of(tool, arguments)
    if kind == "click":
        return "click", ""
    if kind == "swipe" and arguments.get("coordinate") and arguments.get("coordinate2"):
        return "scroll", swipe_direction(arguments["coordinate"], arguments["coordinate2"])
    if kind == "type":
        return "type", str(arguments.get("text", ""))
    if kind in _BUTTONS:
        return "press", kind
    if kind in ("complete", "impossible"):
        return "stop", ""
    return None, ""


def texts_match(gold: str, predicted: str) -> tuple[bool, float]:
    """The reference's text rule and the Levenshtein ratio it computed."""
    ratio = Indel.normalized_similarity(predicted, gold)  # == Levenshtein.ratio
    return predicted in gold or gold in predicted or ratio > TEXT_RATIO, ratio


def score_aitz(gold: GoldStep, tool: str, arguments: dict[str, Any]) -> Verdict:
    gold_type, gold_detail = _gold(gold)
    kind, detail = _prediction(tool, arguments)
    if kind is None or kind != gold_type:
        return Verdict(
            False, False, f"type: predicted {kind or 'none of AITZ types'}, gold {gold_type}"
        )
    if kind == "click":
        point, target = arguments.get("coordinate"), gold.arguments.get("coordinate")
        if not point or not target:
            return Verdict(True, False, "no point to compare")
        if all(abs(p - t) <= EXACT_TOLERANCE for p, t in zip(point, target)):
            return Verdict(True, True, f"at the gold point (within {EXACT_TOLERANCE} on each axis)")
        for box in gold.elements:
            big = enlarged(box, BOX_SCALE)
            if inside(target, big) and inside(point, big):
                return Verdict(True, True, f"in the gold element's box ×{BOX_SCALE}")
        return Verdict(True, False, f"not in a box ×{BOX_SCALE} of an element under the gold point")
    if kind == "type":
        same, ratio = texts_match(gold_detail, detail)
        return Verdict(True, same, f"text {detail!r} vs {gold_detail!r} (ratio {ratio:.2f})")
    if kind in ("scroll", "press"):
        return Verdict(
            True, detail == gold_detail, f"{kind}: predicted {detail}, gold {gold_detail}"
        )
    return Verdict(True, True, "stop matches")
