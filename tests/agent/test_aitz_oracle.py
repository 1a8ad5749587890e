"""The `aitz` scorer against AITZ's own evaluator (IMNearth/CoAT `coat/evaluate.py` and
`coat/action_utils.py`, Apache-2.0), run once on generated pairs by
`tests/data/aitz-oracle/make_verdicts.py`, its verdicts stored in `verdicts.json`: every gold type
against every predicted type, texts on both sides of the 0.8 ratio and of containment (case
included), every scroll direction, gold scroll labels around the 0.9 axis ratio. Zero
disagreements, apart from the documented departure on clicks, which this file also pins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlagent.agent.evaluation.formats import aitw_action
from vlagent.agent.evaluation.gold import GoldStep
from vlagent.agent.evaluation.scoring import SCORERS, score

DATA = json.loads(
    (Path(__file__).parents[1] / "data" / "aitz-oracle" / "verdicts.json").read_text("utf-8")
)
WIDTH, HEIGHT = DATA["screen"]
BOXES = tuple(
    (x / WIDTH, y / HEIGHT, (x + w) / WIDTH, (y + h) / HEIGHT)
    for y, x, h, w in DATA["ui_positions"]
)
STEPS: list[dict[str, Any]] = DATA["steps"]
FINGER = {
    "up": ([0.5, 0.7], [0.5, 0.3]),
    "down": ([0.5, 0.3], [0.5, 0.7]),
    "left": ([0.8, 0.5], [0.2, 0.5]),
    "right": ([0.2, 0.5], [0.8, 0.5]),
}


def gold_step(gold: dict[str, Any], label: bool = True) -> GoldStep:
    arguments = aitw_action(
        gold["result_action_type"],
        gold["result_touch_yx"],
        gold["result_lift_yx"],
        gold["result_action_text"],
    )
    return GoldStep(
        0,
        Path("screen.png"),
        "mobile_use",
        arguments,
        BOXES,
        label=gold["coat_action_desc"] if label else None,
    )


def predicted_call(prediction: dict[str, Any]) -> dict[str, Any] | None:
    """The evaluator's prediction as the `mobile_use` call a model of ours would have made."""
    action, args = prediction.get("ACTION"), prediction.get("ARGS", {})
    if action == "CLICK":
        x1, y1, x2, y2 = args["bbox"]
        return {"action": "click", "coordinate": [(x1 + x2) / 2000, (y1 + y2) / 2000]}
    if action == "SCROLL":
        start, end = FINGER[args["direction"]]
        return {"action": "swipe", "coordinate": start, "coordinate2": end}
    if action in ("TYPE", "INPUT"):
        return {"action": "type", "text": args["text"]}
    if action in ("PRESS_BACK", "PRESS_HOME", "PRESS_ENTER"):
        return {"action": "system_button", "button": action.split("_")[1].capitalize()}
    if action == "STOP":
        return {"action": "terminate", "status": "success"}
    if action == "OPEN_APP":
        return {"action": "open", "text": "Clock"}
    return None


def _is_click_pair(step: dict[str, Any]) -> bool:
    return (
        step["gold"]["coat_action_desc"].startswith("click")
        and step["prediction"].get("ACTION") == "CLICK"
    )


def test_the_stored_verdicts_cover_every_decision() -> None:
    assert len(STEPS) > 500
    exact = [s for s in STEPS if s["exact_match"]]
    assert 20 < len(exact) < len(STEPS) // 2
    assert {s["prediction"].get("ACTION") for s in exact} >= {
        *"SCROLL TYPE PRESS_HOME STOP".split(),
    }


@pytest.mark.parametrize("index", [i for i, s in enumerate(STEPS) if not _is_click_pair(s)])
@pytest.mark.parametrize("labelled", [True, False])
def test_our_verdict_is_the_reference_verdict(index: int, labelled: bool) -> None:
    step = STEPS[index]
    call = predicted_call(step["prediction"])
    verdict = score(
        gold_step(step["gold"], labelled), "mobile_use" if call else None, call, SCORERS["aitz"]
    )
    assert (verdict.type_match, verdict.exact_match) == (step["type_match"], step["exact_match"]), (
        verdict.reason
    )


def test_the_click_departure() -> None:
    """The reference compares a predicted box with the point [0, 0]: the box over the top-left
    corner is right and the box around the gold element wrong. We score the gold point instead."""
    clicks = {
        tuple(s["prediction"]["ARGS"]["bbox"]): s["exact_match"] for s in STEPS if _is_click_pair(s)
    }
    assert clicks == {
        (0, 0, 100, 100): True,
        (450, 450, 550, 550): False,
        (800, 800, 900, 900): False,
        (500, 495, 505, 505): False,
    }
    gold = gold_step(next(s["gold"] for s in STEPS if _is_click_pair(s)))
    ours = {
        bbox: score(
            gold,
            "mobile_use",
            predicted_call({"ACTION": "CLICK", "ARGS": {"bbox": bbox}}),
            SCORERS["aitz"],
        ).exact_match
        for bbox in clicks
    }
    assert ours == {
        (0, 0, 100, 100): False,
        (450, 450, 550, 550): True,
        (800, 800, 900, 900): False,
        (500, 495, 505, 505): True,
    }


@pytest.mark.parametrize("case", DATA["gold_labels"])
def test_gold_scroll_directions_are_derived_as_aitz_labels_them(case: dict[str, Any]) -> None:
    from vlagent.agent.evaluation.aitz import swipe_direction

    (ty, tx), (ly, lx) = case["touch_yx"], case["lift_yx"]
    assert "scroll " + swipe_direction([tx, ty], [lx, ly]) == case["label"]
