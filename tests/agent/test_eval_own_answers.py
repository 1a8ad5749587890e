"""``agent eval`` of a recording against its own answers: every step right under the default
protocol (own-runs, the qwen-aitz rules), whatever actions it holds, ``open`` included (AITZ has
no ``open``); and a type mismatch names both types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import tool_call, write_script
from vlagent.agent.cli import main
from vlagent.agent.evaluation import GoldStep
from vlagent.agent.evaluation.qwen_eval import score_qwen_aitz

POINTS = st.lists(st.integers(0, 1000), min_size=2, max_size=2)
ACTIONS = st.one_of(
    st.builds(lambda app: {"action": "open", "text": app}, st.sampled_from(["Notes", "Settings"])),
    st.builds(lambda p: {"action": "click", "coordinate": p}, POINTS),
    st.builds(lambda p: {"action": "long_press", "coordinate": p, "time": 1}, POINTS),
    st.builds(lambda t: {"action": "type", "text": t}, st.sampled_from(["milk", "Call Bob"])),
    st.builds(
        lambda b: {"action": "system_button", "button": b}, st.sampled_from(["Back", "Home"])
    ),
    st.just({"action": "key", "text": "volume_up"}),
)


def _evaluated(tmp_path: Path, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calls = [tool_call(**a) for a in actions] + [tool_call(action="terminate", status="success")]
    script = write_script(tmp_path / "script.txt", calls)
    run = [*"run --env memory --space mobile --goal note --model".split(), f"scripted:{script}"]
    assert main([*run, "--out", str(tmp_path / "runs" / "one")]) == 0
    out = tmp_path / "eval"
    assert (
        main(["eval", str(tmp_path / "runs"), "--model", f"scripted:{script}", "--out", str(out)])
        == 0
    )
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=st.lists(ACTIONS, min_size=1, max_size=4))
def test_a_recording_scored_against_its_own_answers_is_all_right(
    tmp_path_factory: pytest.TempPathFactory, actions: list[dict[str, Any]]
) -> None:
    predictions = _evaluated(tmp_path_factory.mktemp("own"), actions)
    assert len(predictions) == len(actions) + 1
    assert all(p["exact_match"] for p in predictions), [p["reason"] for p in predictions]


def test_the_open_step_of_the_report_is_right(tmp_path: Path) -> None:
    predictions = _evaluated(tmp_path, [{"action": "open", "text": "Notes"}])
    assert predictions[0]["exact_match"] and predictions[0]["reason"] == "app 'notes' vs 'notes'"


def test_a_type_mismatch_names_both_types() -> None:
    gold = GoldStep(0, Path("x.png"), "mobile_use", {"action": "open", "text": "Notes"})
    verdict = score_qwen_aitz(gold, "mobile_use", {"action": "click", "coordinate": [0.5, 0.5]})
    assert not verdict.type_match and "predicted click" in verdict.reason
    assert "gold open" in verdict.reason
    other = score_qwen_aitz(gold, "mobile_use", {"action": "type", "text": "Notes"})
    assert "predicted type" in other.reason and "gold open" in other.reason
