"""The `os-atlas-androidcontrol` scorer against OS-Atlas's AndroidControl evaluation
(OS-Copilot/OS-Atlas `eval/eval_scripts/android_control/evaluation_unify.py`, Apache-2.0), run
once on generated pairs by `tests/data/os-atlas-androidcontrol-oracle/make_verdicts.py`, its
verdicts stored in `verdicts.json`. Zero disagreements."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vlagent.agent.evaluation.gold import GoldStep
from vlagent.agent.evaluation.scoring import SCORERS, score

DATA = json.loads(
    (
        Path(__file__).parents[1] / "data" / "os-atlas-androidcontrol-oracle" / "verdicts.json"
    ).read_text("utf-8")
)
STEPS: list[dict[str, Any]] = DATA["steps"]
# OS-Atlas names the direction the content scrolls; a call names the finger's move.
FINGER = {"UP": [0.5, 0.8], "DOWN": [0.5, 0.2], "LEFT": [0.8, 0.5], "RIGHT": [0.2, 0.5]}
SIMPLE = {
    "PRESS_BACK": {"action": "system_button", "button": "Back"},
    "PRESS_HOME": {"action": "system_button", "button": "Home"},
    "PRESS_RECENT": {"action": "system_button", "button": "Menu"},
    "WAIT": {"action": "wait", "time": 2},
    "COMPLETE": {"action": "terminate", "status": "success"},
}


def call(action: str) -> dict[str, Any]:
    """An OS-Atlas action string as the `mobile_use` call (normalized points) it stands for."""
    word = action.split()[0]
    if word in ("CLICK", "LONG_PRESS"):
        x, y = (int(v) for v in re.findall(r"\d+", action)[:2])
        return {
            "action": "click" if word == "CLICK" else "long_press",
            "coordinate": [x / 1000, y / 1000],
        }
    text = action[action.index("[") + 1 : action.rindex("]")] if "[" in action else ""
    if word == "TYPE":
        return {"action": "type", "text": text}
    if word == "OPEN_APP":
        return {"action": "open", "text": text}
    if word == "SCROLL":
        return {"action": "swipe", "coordinate": [0.5, 0.5], "coordinate2": FINGER[text]}
    return dict(SIMPLE[word])


def test_the_stored_verdicts_cover_every_decision() -> None:
    assert len(STEPS) > 500
    exact = [s for s in STEPS if s["exact_match"]]
    assert {s["prediction"].split()[0] for s in exact} >= {
        *"CLICK LONG_PRESS TYPE OPEN_APP SCROLL PRESS_BACK WAIT COMPLETE".split(),
    }
    assert any(s["type_match"] and not s["exact_match"] for s in STEPS)


def test_our_verdicts_are_the_reference_verdicts() -> None:
    scorer, wrong = SCORERS["os-atlas-androidcontrol"], []
    for step in STEPS:
        gold = GoldStep(0, Path("screen.png"), "mobile_use", call(step["gold"]))
        predicted = call(step["prediction"]) if step["prediction"] is not None else None
        verdict = score(gold, "mobile_use", predicted, scorer)
        if (verdict.type_match, verdict.exact_match) != (step["type_match"], step["exact_match"]):
            wrong.append(
                (
                    step["gold"],
                    step["prediction"],
                    step["type_match"],
                    step["exact_match"],
                    verdict.reason,
                )
            )
    assert not wrong, f"{len(wrong)} disagreements, first: {wrong[:3]}"
