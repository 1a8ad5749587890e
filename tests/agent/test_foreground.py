"""The app in front, where the environment names it, is part of "the same screen": self-healing
replay and cached answers do not reuse a recorded step when another app is in front, however
alike the pixels (the live wiring on real programs: tests/agent/test_replay.py on the virtual
phone, tests/environments/test_desktop.py on a Tk app)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tool_call

from agent import Agent
from agent.healing import HealingRuntime
from agent.runtimes import ScriptedRuntime
from agent.trajectory import Recorder, Trajectory, read_trajectory
from agent.uitest.plans import AnswerReplay
from environments import MemoryEnvironment, Observation
from prompts import get_dialect

CLICK = tool_call("computer_use", action="left_click", coordinate=[500, 500])
DONE = tool_call("computer_use", action="terminate", status="success")


class InFront(MemoryEnvironment):
    """The memory canvas, saying which app is in front (as the desktop and Android do)."""

    def __init__(self, app: str) -> None:
        super().__init__()
        self.app = app

    def observe(self) -> Observation:
        observation = super().observe()
        observation.metadata["foreground"] = self.app
        return observation


def _recorded(tmp_path: Path) -> Trajectory:
    result = Agent(ScriptedRuntime([CLICK, DONE]), get_dialect("qwen2-vl"), InFront("Notes"),
                   recorder=Recorder(tmp_path / "recorded")).run("click the middle")
    assert result.status == "success"
    trajectory = read_trajectory(tmp_path / "recorded")
    assert [(s.metadata or {}).get("foreground") for s in trajectory.steps] == ["Notes", "Notes"]
    return trajectory


@pytest.mark.parametrize(("app", "planned"), [("Notes", []), ("Mail", [0, 1])])
def test_self_healing_plans_every_step_taken_with_another_app_in_front(tmp_path: Path, app: str,
                                                                       planned: list[int]) -> None:
    healing = HealingRuntime(_recorded(tmp_path), ScriptedRuntime([CLICK, DONE]))
    environment = InFront(app)
    assert Agent(healing, get_dialect("qwen2-vl"), environment).run("click the middle").status == "success"
    assert healing.healed == planned
    assert [entry["action"] for entry in environment.log] == ["left_click"]


@pytest.mark.parametrize(("app", "model_calls"), [("Notes", 0), ("Mail", 2)])
def test_a_cached_tap_answer_is_not_reused_with_another_app_in_front(tmp_path: Path, app: str,
                                                                     model_calls: int) -> None:
    cache = AnswerReplay(_recorded(tmp_path), ScriptedRuntime([CLICK, DONE]), at_point=True)
    assert Agent(cache, get_dialect("qwen2-vl"), InFront(app)).run("click the middle").status == "success"
    assert cache.model_calls == model_calls
