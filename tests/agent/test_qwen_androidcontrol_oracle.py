"""The `qwen-androidcontrol` scorer against the evaluator the Qwen team shared for Qwen2.5-VL's
AndroidControl numbers (Reallm-Labs/InfiGUI-R1 `eval/android_control/evaluate_android_control.py`,
Apache-2.0), run once on generated pairs by
`tests/data/qwen-androidcontrol-oracle/make_verdicts.py`,
its verdicts stored in `verdicts.json`. Zero disagreements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlagent.agent.evaluation.gold import GoldStep
from vlagent.agent.evaluation.scoring import SCORERS, score

DATA = json.loads(
    (Path(__file__).parents[1] / "data" / "qwen-androidcontrol-oracle" / "verdicts.json").read_text(
        "utf-8"
    )
)
STEPS: list[dict[str, Any]] = DATA["steps"]
FINGER = {"up": (0.0, -0.3), "down": (0.0, 0.3), "left": (-0.3, 0.0), "right": (0.3, 0.0)}


def normalized(point: list[float], width: int, height: int) -> list[float]:
    return [point[0] / width, point[1] / height]


def gold_step(pam: dict[str, Any], width: int, height: int) -> GoldStep:
    """A check pam (original pixels) as our gold step; its swipe direction is the finger's."""
    arguments = {k: v for k, v in pam.items() if k not in ("candidate_bbox", "direction")}
    if "coordinate" in pam:
        arguments["coordinate"] = normalized(pam["coordinate"], width, height)
    if pam["action"] == "swipe":
        dx, dy = FINGER[pam["direction"]]
        arguments.update(coordinate=[0.5, 0.5], coordinate2=[0.5 + dx, 0.5 + dy])
    targets = tuple(
        (b[0] / width, b[1] / height, b[2] / width, b[3] / height)
        for b in pam.get("candidate_bbox", [])
    )
    return GoldStep(0, Path("screen.png"), "mobile_use", arguments, targets=targets)


def predicted_call(pred: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    """A prediction in resized pixels as the normalized call our parser produces from it."""
    call = dict(pred)
    for key in ("coordinate", "coordinate2"):
        if key in call:
            call[key] = normalized(call[key], width, height)
    return call


def test_the_stored_verdicts_cover_every_decision() -> None:
    assert len(STEPS) > 1000
    exact = [s for s in STEPS if s["exact_match"]]
    assert 100 < len(exact) < len(STEPS) // 2
    assert {s["prediction"]["action"] for s in exact} >= {
        *"click long_press swipe type open system_button wait".split(),
    }
    clicks = [
        s for s in STEPS if s["gold"]["action"] == "click" and s["prediction"]["action"] == "click"
    ]
    assert {s["exact_match"] for s in clicks} == {True, False}
    opened = [
        s for s in STEPS if s["gold"]["action"] == "open" and s["prediction"]["action"] == "click"
    ]
    assert {(s["type_match"], s["exact_match"]) for s in opened} == {
        (True, True),
        (True, False),
        (False, False),
    }


def test_our_verdicts_are_the_reference_verdicts() -> None:
    scorer, wrong = SCORERS["qwen-androidcontrol"], []
    for index, step in enumerate(STEPS):
        (width, height), (rw, rh) = step["screen"], step["resized"]
        gold = gold_step(step["gold"], width, height)
        verdict = score(
            gold, "mobile_use", predicted_call(step["prediction"], rw, rh), scorer, seen=(rw, rh)
        )
        if (verdict.type_match, verdict.exact_match) != (step["type_match"], step["exact_match"]):
            wrong.append((index, step["gold"], step["prediction"], verdict.reason))
    assert not wrong, f"{len(wrong)} disagreements, first: {wrong[:3]}"
