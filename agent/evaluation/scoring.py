"""Step-wise scoring rules, each named and versioned so a number says how it was computed.

- ``aitw``: Google's Android-in-the-Wild action matching, reproduced in ``aitw.py`` (its rules and
  float32 arithmetic there): taps in the same element box enlarged by 1.4× its size (2.4× in all,
  clipped at the screen's edge) or within 0.14; swipes on the main axis (up matches down); other
  actions on their type. A differential test holds it to the reference's verdicts.
- ``aitw-strict``: the same, but swipes must also agree on the sign (same direction).
- ``aitz``: AITZ's own evaluator (IMNearth/CoAT), reproduced in ``aitz.py`` with its departures.
- ``qwen-aitz``: the AITZ evaluator behind the Qwen team's published numbers, in ``qwen_eval.py``.
- ``qwen-androidcontrol``: the AndroidControl evaluator behind them, in ``qwen_eval.py``.
- ``os-atlas-androidcontrol``: OS-Atlas's AndroidControl rules (UI-TARS follows them), in
  ``osatlas.py``.

Directions are the finger's (``formats.py`` converts datasets that record the content's).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass
from typing import Any

from vlagent.agent.evaluation.aitw import actions_match, as_aitw
from vlagent.agent.evaluation.aitz import score_aitz
from vlagent.agent.evaluation.gold import GoldStep, Verdict, direction, enlarged, inside, kind_of
from vlagent.agent.evaluation.osatlas import score_os_atlas
from vlagent.agent.evaluation.qwen_eval import score_qwen_aitz, score_qwen_androidcontrol

SCORING_VERSION = 5
"""2: ``aitw`` reproduces the reference's boxes (2.4×, clipped), float32 and tap/swipe split.
3: ``aitz`` reproduces AITZ's evaluator; ``qwen-aitz`` added.
4: ``qwen-androidcontrol`` and ``os-atlas-androidcontrol`` added; AndroidControl steps carry their
target element's box.
5: ``aitz`` counts a tap at the gold point (within 0.001) as right where no box holds it."""

_AITW = (
    "google-research/google-research android_in_the_wild/action_matching.py (check_actions_match)"
)
_AITZ = (
    "IMNearth/CoAT coat/evaluate.py (ActionEvaluator) and coat/action_utils.py, "
    "commit 9ab1a9f0e76581c50c84f8ebc6ada1a2084a0c71"
)
_QWEN_AC = (
    "Reallm-Labs/InfiGUI-R1 eval/android_control/evaluate_android_control.py "
    "(evaluate_android_control_action; the evaluator the Qwen team shared for Qwen2.5-VL), "
    "commit d280ab8786cb3b063ae5cc62dc5fa91c4ceb348e"
)
_OS_ATLAS = (
    "OS-Copilot/OS-Atlas eval/eval_scripts/android_control/evaluation_unify.py, "
    "commit bad08407ab54b5bf6c17a69fe1ced476b9494926"
)
_QWEN_AITZ = (
    "OpenBMB/AgentCPM-GUI eval/utils/evaluator.py (ActionEvaluator, AITZ setting; after the "
    "Qwen2.5-VL evaluator), commit acbaf509b8afb3f58b782486f4e8c0e33d8a486b"
)


@dataclass(frozen=True)
class Scorer:
    name: str
    box_scale: float
    distance: float
    swipe_sign: bool
    compare_text: bool
    text_similarity: float = 0.8
    reference: str = ""
    departures: tuple[str, ...] = ()
    """Where this scorer knowingly does not do what its reference code does, and why."""

    def settings(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "departures": list(self.departures),
            "version": SCORING_VERSION,
            "directions": "finger (touch → lift); AndroidControl's content directions are inverted "
            "on load",
        }


_NO_AITW_TYPE = (
    "open, wait, key and answer have no AITW action type: they match only an action of "
    "their own kind (the reference cannot express them)"
)
SCORERS = {
    # box_scale: the enlarged box is (1 + 1.4) = 2.4 times the element's size (aitw.py).
    "aitw": Scorer(
        "aitw",
        box_scale=2.4,
        distance=0.14,
        swipe_sign=False,
        compare_text=False,
        reference=_AITW,
        departures=(_NO_AITW_TYPE,),
    ),
    "aitw-strict": Scorer(
        "aitw-strict",
        box_scale=2.4,
        distance=0.14,
        swipe_sign=True,
        compare_text=False,
        reference=_AITW,
        departures=(
            "swipes must also agree on the sign (the reference compares the axis only)",
            _NO_AITW_TYPE,
        ),
    ),
    "aitz": Scorer(
        "aitz",
        box_scale=1.2,
        distance=0.0,
        swipe_sign=True,
        compare_text=True,
        reference=_AITZ,
        departures=(
            "clicks are compared with the gold tap's point (the reference compares them "
            "with the point [0, 0], a bug)",
            "a predicted click is a point, right when it lies in the 1.2x box of a gold "
            "element that holds the gold point (the reference scores a predicted box)",
            "a predicted click at the gold point (within 0.001 on each axis, one step of the "
            "0-1000 grid the reference reads points on) is right even where no element box "
            "holds the gold point (the reference's gold-point-in-predicted-box branch)",
        ),
    ),
    "qwen-aitz": Scorer(
        "qwen-aitz",
        box_scale=1.2,
        distance=0.14,
        swipe_sign=True,
        compare_text=True,
        reference=_QWEN_AITZ,
    ),
    "qwen-androidcontrol": Scorer(
        "qwen-androidcontrol",
        box_scale=1.2,
        distance=0.04,
        swipe_sign=True,
        compare_text=True,
        reference=_QWEN_AC,
        departures=(
            "the target element's box (the reference's candidate_bbox, made by an unpublished "
            "preprocessing) is the smallest accessibility node holding the gold point that is "
            "clickable or a leaf and covers less than half the screen; an open's is the node "
            "labelled with the app's name",
            "the gold swipe's direction is the finger's (AndroidControl's content direction "
            "inverted), the same convention the reference reads predicted swipes in",
        ),
    ),
    "os-atlas-androidcontrol": Scorer(
        "os-atlas-androidcontrol",
        box_scale=0.0,
        distance=0.14,
        swipe_sign=True,
        compare_text=True,
        reference=_OS_ATLAS,
        departures=(
            "points are put on the 0-1000 grid by rounding (gold: OS-Atlas's conversion is not "
            "published; predicted: our parser reads the answer, not the reference's digit regex)",
            "a predicted swipe's direction is read from its finger movement (main axis; a tie is "
            "vertical) and written as the content's, as AndroidControl names it",
        ),
    ),
}


def _axis(name: str) -> str:
    return "vertical" if name in ("up", "down") else "horizontal"


def _swipe(arguments: dict[str, Any]) -> str | None:
    action = arguments.get("action")
    if action in ("swipe",) and arguments.get("coordinate") and arguments.get("coordinate2"):
        return direction(arguments["coordinate"], arguments["coordinate2"])
    if action == "left_click_drag" and arguments.get("coordinate"):
        return direction(
            arguments.get("start_coordinate") or arguments["coordinate"], arguments["coordinate"]
        )
    if action in ("scroll", "hscroll"):
        pixels = arguments.get("pixels") or 0  # positive: content up / right
        if action == "scroll":
            return "down" if pixels > 0 else "up"  # wheel up moves the page like a finger down
        return "left" if pixels > 0 else "right"
    return None


def _texts_match(gold: str, predicted: str, scorer: Scorer) -> bool:
    a, b = gold.strip().lower(), predicted.strip().lower()
    if not a or not b:
        return a == b
    return a in b or b in a or difflib.SequenceMatcher(None, a, b).ratio() > scorer.text_similarity


def score(
    gold: GoldStep,
    tool: str | None,
    arguments: dict[str, Any] | None,
    scorer: Scorer,
    seen: tuple[int, int] | None = None,
) -> Verdict:
    """Compare one predicted call (normalized points) with the gold step. ``seen``: the (width,
    height) the model saw the screenshot at, for rules that measure in those pixels."""
    if arguments is None or tool is None:
        return Verdict(False, False, "no valid prediction")
    reproduced = _by_reproduced_evaluator(gold, tool, arguments, scorer, seen)
    if reproduced is not None:
        return reproduced
    gold_kind, kind = kind_of(gold.tool, gold.arguments), kind_of(tool, arguments)
    if scorer.name in ("aitw", "aitw-strict"):
        gold_aitw, predicted_aitw = as_aitw(gold_kind, gold.arguments), as_aitw(kind, arguments)
        if gold_aitw is not None and predicted_aitw is not None:
            same, why = actions_match(
                gold_aitw, predicted_aitw, gold.elements, same_sign=scorer.swipe_sign
            )
            return Verdict(gold_aitw[0] == predicted_aitw[0], same, why)
    if gold_kind != kind:
        return Verdict(False, False, f"type: predicted {kind}, gold {gold_kind}")
    return _same_kind(kind, gold, arguments, scorer)


def _by_reproduced_evaluator(
    gold: GoldStep,
    tool: str,
    arguments: dict[str, Any],
    scorer: Scorer,
    seen: tuple[int, int] | None,
) -> Verdict | None:
    """The verdict of a scorer whose reference evaluator is reproduced in a module of its own;
    None for the rules scored here."""
    if scorer.name == "qwen-androidcontrol":
        if seen is None:
            raise ValueError(
                "the qwen-androidcontrol rule measures in the pixels the model saw: pass seen"
            )
        return score_qwen_androidcontrol(gold, tool, arguments, seen)
    if scorer.name == "os-atlas-androidcontrol":
        return score_os_atlas(gold, tool, arguments)
    if scorer.name == "aitz":
        return score_aitz(gold, tool, arguments)
    if scorer.name == "qwen-aitz":
        return score_qwen_aitz(gold, tool, arguments)
    return None


def _same_kind(kind: str, gold: GoldStep, arguments: dict[str, Any], scorer: Scorer) -> Verdict:
    """The verdict on a prediction of the gold step's own kind: its point, direction, text or
    keys against the gold's."""
    g = gold.arguments
    if kind in ("click", "long_press"):
        return _same_point(gold, arguments, scorer)
    if kind == "swipe":
        mine, theirs = _swipe(arguments), _swipe(g)
        if mine is None or theirs is None:
            return Verdict(True, False, "no direction to compare")
        same = mine == theirs if scorer.swipe_sign else _axis(mine) == _axis(theirs)
        rule = "direction" if scorer.swipe_sign else "axis"
        return Verdict(True, same, f"{rule}: predicted {mine}, gold {theirs}")
    if kind in ("type", "open", "answer"):
        if not scorer.compare_text and kind == "type":
            return Verdict(True, True, "type matches (text not compared by this rule)")
        same = _texts_match(str(g.get("text", "")), str(arguments.get("text", "")), scorer)
        return Verdict(True, same, f"text {arguments.get('text')!r} vs {g.get('text')!r}")
    if kind == "key":
        same = [k.lower() for k in (arguments.get("keys") or [arguments.get("text")])] == [
            k.lower() for k in (g.get("keys") or [g.get("text")])
        ]
        return Verdict(True, same, "keys" if same else "other keys")
    return Verdict(True, True, f"{kind} matches")


def _same_point(gold: GoldStep, arguments: dict[str, Any], scorer: Scorer) -> Verdict:
    """A click or long press is right within ``scorer.distance`` of the gold point, or when both
    points lie in one gold element's box enlarged by ``scorer.box_scale``."""
    g = gold.arguments
    if not arguments.get("coordinate") or not g.get("coordinate"):
        return Verdict(True, False, "no point to compare")
    p, q = arguments["coordinate"], g["coordinate"]
    distance = math.dist(p, q)
    if distance <= scorer.distance:
        return Verdict(True, True, f"distance {distance:.3f} ≤ {scorer.distance}")
    for box in gold.elements:
        big = enlarged(box, scorer.box_scale)
        if inside(p, big) and inside(q, big):
            return Verdict(True, True, f"same element (box ×{scorer.box_scale})")
    return Verdict(
        True, False, f"distance {distance:.3f} > {scorer.distance} and no shared element"
    )
