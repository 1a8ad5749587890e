"""Tools of one's own on an existing environment (``WithTools``), and a model that is a Python
function reading the observation as data: its state and its images, beside the prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need, tool_call
from vlagent.agent import Agent, Limits
from vlagent.agent.runtimes.function import FunctionRuntime
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.environments import (
    EnvironmentUnavailable,
    MemoryEnvironment,
    Observation,
    WithTools,
    to_gym,
)
from vlagent.prompts import Prompt, get_dialect
from vlagent.tools import ToolCall, ToolSet


def test_a_set_gripper_tool_of_ones_own_drives_the_arm_for_a_model_reading_its_state(
    sim_arm,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    arm = sim_arm(5)
    tools = ToolSet()

    @tools.add_function
    def set_gripper(closed: bool) -> str:
        """Close the gripper (it holds the cube when its tip is at it) or open it."""
        if closed:
            return "closed on the cube" if arm.scene.grasp() else "closed on nothing"
        arm.scene.release()
        return "open"

    env = WithTools(arm, tools)
    assert env.toolset.names == ["move_to", "grasp", "release", "finish", "set_gripper"]
    seen: list[Observation] = []
    cube = arm.scene.cube

    def model(prompt: Prompt, observation: Observation) -> str:
        seen.append(observation)
        if len(seen) == 1:
            return tool_call("move_to", position=[cube[0], cube[1], 0.035])
        if not observation.state["gripper_closed"]:
            return tool_call("set_gripper", closed=True)
        return tool_call("finish", status="failure")  # the state says it holds the cube

    agent = Agent(
        FunctionRuntime(model),
        get_dialect("qwen2-vl"),
        env,
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=6),
    )
    result = agent.run("Pick up the red cube")
    assert [o.state["gripper_closed"] for o in seen] == [False, False, True]
    assert seen[0].state["gripper_position_m"] == [0.0, -0.2, 0.25]
    assert set(seen[0].images) == {"front", "top"} and seen[0].depth["top"].shape == (320, 320)
    assert result.status == "failure"  # the simulator's verdict: the cube is not on the target
    steps = read_trajectory(tmp_path / "run").steps
    assert steps[1].action is not None and steps[1].action.tool == "set_gripper"
    assert steps[1].result is not None and steps[1].result.message == "closed on the cube"
    gym = to_gym(env)  # the added tool is a tool like the others
    assert gym.unwrapped.tool_names[-1] == "set_gripper"
    assert gym.observation_space["state"]["gripper_position_m"].high[2] == 0.5


def test_a_memory_screen_takes_a_tool_of_ones_own_beside_its_gui_tool() -> None:
    env = MemoryEnvironment(size=(320, 180), space="mobile")
    tools = ToolSet()
    lights: list[bool] = []

    @tools.add_function
    def set_light(on: bool) -> str:
        """Switch the room light."""
        lights.append(on)
        return "light on" if on else "light off"

    extended = WithTools(env, tools)
    action = extended.toolset.validate(ToolCall("set_light", {"on": True}))
    assert extended.execute(action).message == "light on" and lights == [True]
    click = extended.toolset.validate(
        ToolCall("mobile_use", {"action": "click", "coordinate": [0.5, 0.5]})
    )
    assert extended.execute(click).ok and env.log[-1]["action"] == "click"


def test_a_tool_named_like_one_the_environment_has_is_refused() -> None:
    tools = ToolSet()

    @tools.add_function
    def mobile_use(action: str) -> None:
        """Shadow the phone's own tool."""

    with pytest.raises(EnvironmentUnavailable, match="already has a tool named mobile_use"):
        WithTools(MemoryEnvironment(space="mobile"), tools)


def test_a_one_argument_model_function_still_gets_the_prompt_alone() -> None:
    calls: list[Any] = []

    def one(prompt: Prompt) -> str:
        calls.append(prompt)
        return "x"

    def two(prompt: Prompt, observation: Observation | None) -> str:
        calls.append(observation)
        return "y"

    def defaulted(prompt: Prompt, verbose: bool = False) -> str:
        calls.append(verbose)
        return "z"

    prompt = Prompt(messages=[], frame=get_dialect("qwen2-vl").frame_for((100, 100)))
    texts = [FunctionRuntime(f).generate([prompt])[0].text for f in (one, two, defaulted)]
    assert texts == ["x", "y", "z"] and calls == [prompt, None, False]


def test_a_model_function_reads_a_phone_screens_pixels_as_data() -> None:
    need("numpy")
    import numpy as np

    env = MemoryEnvironment(size=(180, 320), space="mobile")
    sizes: list[tuple[int, int]] = []

    def model(prompt: Prompt, observation: Observation) -> str:
        sizes.append(np.asarray(observation.image).shape[:2])
        return tool_call(action="terminate", status="success")

    result = Agent(FunctionRuntime(model), get_dialect("qwen2-vl"), env).run("Look")
    assert result.status == "success" and sizes == [(320, 180)]


def test_the_extension_example_in_the_docs_runs_as_printed() -> None:
    need("mujoco")
    import re

    doc = (Path(__file__).parents[2] / "docs" / "embedding.md").read_text(encoding="utf-8")
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", doc, re.DOTALL) if "WithTools(arm" in b
    )
    scope: dict[str, Any] = {"ToolSet": ToolSet}
    exec(block, scope)
    try:
        assert scope["env"].toolset.names[-1] == "set_gripper"
        action = scope["env"].toolset.validate(ToolCall("set_gripper", {"closed": True}))
        assert scope["env"].execute(action).message == "closed on nothing"
    finally:
        scope["env"].close()
