"""The loop with the scripted runtime and the in-memory environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.conftest import tool_call
from vlagent.agent import Agent, Limits
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.environments import ActionResult, EnvironmentFault, MemoryEnvironment
from vlagent.prompts import Prompt, get_dialect

CLICK = tool_call(action="click", coordinate=[500, 250])
DONE = tool_call(action="terminate", status="success")


class Spy(ScriptedRuntime):
    """The scripted runtime, keeping every prompt it was shown."""

    def __init__(self, outputs: list[str]) -> None:
        super().__init__(outputs)
        self.prompts: list[Prompt] = []

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        self.prompts.extend(prompts)
        return super().generate(prompts)


def make_agent(
    answers: list[str], tmp_path: Path | None = None, **limits: float
) -> tuple[Agent, MemoryEnvironment, Spy]:
    env = MemoryEnvironment(size=(720, 1280), space="mobile")
    runtime = Spy(answers)
    recorder = Recorder(tmp_path / "run") if tmp_path is not None else None
    agent = Agent(runtime, get_dialect("qwen2-vl"), env, limits=Limits(**limits), recorder=recorder)  # type: ignore[arg-type]
    return agent, env, runtime


def test_success_executes_each_action_in_device_pixels(tmp_path: Path) -> None:
    agent, env, _ = make_agent([CLICK, tool_call(action="type", text="hi"), DONE], tmp_path)
    result = agent.run("tap then type")
    assert result.status == "success" and result.succeeded
    assert [e["action"] for e in env.log] == ["click", "type"]
    assert env.log[0]["coordinate_device"] == (360.0, 320.0)
    assert result.steps[0].action is not None and result.steps[0].action.model_dump() == {
        "tool": "mobile_use",
        "model": {"action": "click", "coordinate": [500, 250]},
        "normalized": {"action": "click", "coordinate": [0.5, 0.25]},
        "device": {"action": "click", "coordinate": [360.0, 320.0]},
    }
    trajectory = read_trajectory(tmp_path / "run")
    assert len(trajectory.steps) == 3 and trajectory.end is not None
    assert trajectory.end.status == "success"


def test_answer_ends_the_run_with_the_answer() -> None:
    agent, env, _ = make_agent([tool_call(action="answer", text="3 alarms")])
    result = agent.run("how many alarms?")
    assert (result.status, result.answer) == ("answered", "3 alarms")
    assert env.log == []


def test_terminate_failure_is_reported_as_failure() -> None:
    agent, _, _ = make_agent([tool_call(action="terminate", status="failure")])
    assert agent.run("impossible").status == "failure"


def test_max_steps_stops_the_run() -> None:
    clicks = [tool_call(action="click", coordinate=[100 * i, 100]) for i in range(1, 6)]
    agent, env, _ = make_agent(clicks, max_steps=3)
    result = agent.run("keep clicking")
    assert result.status == "max_steps" and len(env.log) == 3


def test_invalid_answer_is_fed_back_and_the_model_recovers() -> None:
    agent, env, runtime = make_agent(
        ["I will tap the button", tool_call(action="click", coordinate=[1500, 100]), CLICK, DONE]
    )
    result = agent.run("tap")
    assert result.status == "success"
    assert [s.error.kind if s.error else None for s in result.steps] == [
        "parse",
        "validation",
        None,
        None,
    ]
    assert len(env.log) == 1  # the invalid answers were never executed
    second, third = runtime.prompts[1].text(), runtime.prompts[2].text()
    assert "Your previous answer was not executed: no tool call found" in second
    assert "'coordinate' [1500, 100] is outside the screen" in third
    assert "not executed" not in runtime.prompts[3].text()  # feedback is dropped once fixed


def test_invalid_every_time_stops_after_the_retries() -> None:
    agent, env, runtime = make_agent(["nonsense"] * 10, max_retries=2)
    result = agent.run("tap")
    assert result.status == "error"
    assert "invalid 3 times in a row" in result.reason and "no tool call found" in result.reason
    assert len(runtime.prompts) == 3 and env.log == []


def test_repeated_action_on_an_unchanged_screen_is_detected() -> None:
    agent, env, _ = make_agent([CLICK] * 10, max_repeats=3)
    result = agent.run("tap forever")
    assert result.status == "error" and "proposed 3 times on an unchanged screen" in result.reason
    # The first click changes the screen (a mark is drawn); the second leaves it unchanged.
    assert len(env.log) == 3
    assert result.steps[-1].error is not None and result.steps[-1].error.kind == "loop"


def test_same_action_on_a_changing_screen_is_not_a_loop() -> None:
    typing = [tool_call(action="type", text="a")] * 5 + [DONE]  # each one adds text to the screen
    agent, env, _ = make_agent(typing, max_repeats=2)
    assert agent.run("type").status == "success" and len(env.log) == 5


def test_script_running_out_ends_with_a_clear_error() -> None:
    agent, _, _ = make_agent([CLICK])
    result = agent.run("tap")
    assert result.status == "error" and "ran out of answers (1 in <memory>)" in result.reason


def test_time_limit_stops_the_run() -> None:
    waits = [tool_call(action="wait", time=0.2)] * 20
    agent, env, _ = make_agent(waits, time_limit_s=0.3)
    result = agent.run("wait")
    assert result.status == "time_limit" and 1 <= len(env.log) <= 3


class Interrupting(Runtime):
    name = "interrupting"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return [Completion(tool_call(action="click", coordinate=[100 * self.calls, 100]))]

    def describe(self) -> dict[str, object]:
        return {"id": "interrupting", "runtime": self.name, "options": {}}


def test_ctrl_c_ends_cleanly_with_a_closed_trajectory(tmp_path: Path) -> None:
    env = MemoryEnvironment(space="mobile")
    agent = Agent(Interrupting(), get_dialect("qwen2-vl"), env, recorder=Recorder(tmp_path / "run"))
    result = agent.run("tap")
    assert result.status == "aborted" and len(env.log) == 2
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.end is not None and trajectory.end.status == "aborted"
    assert len(trajectory.steps) == 2 and trajectory.problems == []


class Vanishing(MemoryEnvironment):
    def execute(self, action: BaseModel) -> ActionResult:
        if len(self.log) == 1:
            raise EnvironmentFault("device disconnected")
        return super().execute(action)


def test_environment_fault_ends_with_error_and_keeps_finished_steps(tmp_path: Path) -> None:
    env = Vanishing(space="mobile")
    answers = [tool_call(action="click", coordinate=[100 * i, 100]) for i in range(1, 5)]
    agent = Agent(
        ScriptedRuntime(answers), get_dialect("qwen2-vl"), env, recorder=Recorder(tmp_path / "run")
    )
    result = agent.run("tap")
    assert result.status == "error" and "device disconnected" in result.reason
    trajectory = read_trajectory(tmp_path / "run")
    assert [s.error.model_dump() if s.error else None for s in trajectory.steps] == [
        None,
        {"kind": "environment", "message": "device disconnected"},
    ]
    assert trajectory.end is not None and trajectory.end.status == "error"


def test_a_policy_can_refuse_an_action() -> None:
    env = MemoryEnvironment(space="mobile")
    runtime = ScriptedRuntime([tool_call(action="type", text="password123"), DONE])
    agent = Agent(
        runtime,
        get_dialect("qwen2-vl"),
        env,
        policy=lambda a: "no typing" if getattr(a, "action", "") == "type" else None,
    )
    result = agent.run("log in")
    assert result.status == "success" and env.log == []
    assert result.steps[0].error is not None and result.steps[0].error.kind == "policy"


def test_refused_every_time_ends_saying_refused_not_invalid() -> None:
    """A person (or a rule) said no three times: the end says the answers were refused, not that
    the model wrote invalid ones."""
    env = MemoryEnvironment(space="mobile")
    runtime = ScriptedRuntime([tool_call(action="type", text="password123")] * 5)
    agent = Agent(
        runtime,
        get_dialect("qwen2-vl"),
        env,
        policy=lambda a: "a person declined it",
        limits=Limits(max_retries=2, max_repeats=10),
    )
    result = agent.run("log in")
    assert result.status == "error" and env.log == []
    assert "refused 3 times in a row" in result.reason and "declined" in result.reason


@pytest.mark.parametrize(
    "bad", [{"max_steps": 0}, {"max_retries": -1}, {"max_repeats": 1}, {"time_limit_s": 0}]
)
def test_limits_reject_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Limits(**bad)  # type: ignore[arg-type]
