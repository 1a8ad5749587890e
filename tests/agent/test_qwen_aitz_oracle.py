"""The `qwen-aitz` scorer against the Qwen-derived AITZ evaluator (OpenBMB/AgentCPM-GUI
`eval/utils/evaluator.py`, Apache-2.0, based on the evaluator the Qwen team published for
Qwen2.5-VL), run once on generated pairs by `tests/data/qwen-aitz-oracle/make_verdicts.py`, its
verdicts stored in `verdicts.json`. Zero disagreements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlagent.agent.evaluation.formats import aitw_action
from vlagent.agent.evaluation.gold import GoldStep
from vlagent.agent.evaluation.scoring import SCORERS, score

DATA = json.loads(
    (Path(__file__).parents[1] / "data" / "qwen-aitz-oracle" / "verdicts.json").read_text("utf-8")
)
BOXES = tuple((x, y, x + w, y + h) for y, x, h, w in DATA["ui_positions_yxhw"])
STEPS: list[dict[str, Any]] = DATA["steps"]


def predicted_call(prediction: dict[str, Any]) -> dict[str, Any] | None:
    """The evaluator's prediction as the `mobile_use` call a model of ours would have made."""
    action, args, status = prediction["ACTION"], prediction["ARGS"], prediction["STATUS"]
    if status in ("finish", "impossible"):
        return {"action": "terminate", "status": "success" if status == "finish" else "failure"}
    if "TYPE" in action:
        return {"action": "type", "text": action["TYPE"]}
    if "PRESS" in action:
        return {"action": "system_button", "button": action["PRESS"].capitalize()}
    if "POINT" in action:
        point = [v / 1000 for v in action["POINT"]]
        if "to" in action:
            return {
                "action": "swipe",
                "coordinate": point,
                "coordinate2": [v / 1000 for v in action["to"]],
            }
        if args["duration"] > 200:
            return {"action": "long_press", "coordinate": point, "time": args["duration"] / 1000}
        return {"action": "click", "coordinate": point}
    return {"action": "wait", "time": args["duration"] / 1000}


def test_the_stored_verdicts_cover_every_decision() -> None:
    assert len(STEPS) > 500
    exact = [s for s in STEPS if s["exact_match"]]
    assert 30 < len(exact) < len(STEPS) // 2
    kinds = {next(iter(s["prediction"]["ACTION"]), s["prediction"]["STATUS"]) for s in exact}
    assert kinds >= {"POINT", "TYPE", "PRESS", "finish"}


@pytest.mark.parametrize("index", range(len(STEPS)))
def test_our_verdict_is_the_reference_verdict(index: int) -> None:
    step = STEPS[index]
    g = step["gold"]
    arguments = aitw_action(
        g["result_action_type"], g["result_touch_yx"], g["result_lift_yx"], g["result_action_text"]
    )
    gold = GoldStep(0, Path("screen.png"), "mobile_use", arguments, BOXES)
    call = predicted_call(step["prediction"])
    verdict = score(gold, "mobile_use", call, SCORERS["qwen-aitz"])
    assert (verdict.type_match, verdict.exact_match) == (step["type_match"], step["exact_match"]), (
        verdict.reason
    )
