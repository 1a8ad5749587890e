"""Embedding in a robot stack: the caller owns the loop and the observations, tools are typed
functions, a noisy camera does not defeat loop detection, and a decision has a deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tool_call
from vlagent.agent import Agent, Limits
from vlagent.agent.cli.demo_robot import GOAL, pick_script
from vlagent.agent.core.deadline import StepOverrun
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.runtimes.base import Completion
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.environments import MemoryEnvironment, Observation, Wrapper
from vlagent.environments.change import ExactPixels, TolerantPixels
from vlagent.prompts import Prompt, get_dialect
from vlagent.tools import ToolSet


@pytest.fixture
def arm(sim_arm):  # type: ignore[no-untyped-def]
    return sim_arm(7)


def test_a_caller_owned_loop_does_the_task_one_step_at_a_time_with_its_own_observations(
    arm, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # The robot's own loop: it captures, asks for a decision, executes, reports; vlagent records.
    agent = Agent(
        ScriptedRuntime(pick_script(arm.observe())),
        get_dialect("qwen2-vl"),
        arm,
        recorder=Recorder(tmp_path / "run"),
    )
    seen_by_the_caller = []
    with agent.start(GOAL) as run:
        while not run.finished:
            obs = arm.observe()  # the caller's camera frame
            seen_by_the_caller.append(obs.state["gripper_position_m"])
            decision = run.decide(obs)
            if decision is not None and decision.pending:
                run.report(arm.execute(decision.action))
        result = run.close()
    assert result.status == "success" and arm.scene.success()
    steps = read_trajectory(tmp_path / "run").steps
    assert [s.state["gripper_position_m"] for s in steps if s.state] == seen_by_the_caller


def test_a_typed_function_is_a_tool_whose_wrong_arguments_get_the_retry_path(
    tmp_path: Path,
) -> None:
    tools = ToolSet()
    moved: list[tuple[float, float]] = []

    @tools.add_function
    def move_base(forward_m: float, turn_deg: float = 0.0) -> str:
        """Drive the robot's base.

        Args:
            forward_m: metres to drive forward (negative: backward).
            turn_deg: degrees to turn left first.
        """
        if abs(forward_m) > 2:
            raise ValueError("at most 2 m per move")
        moved.append((forward_m, turn_deg))
        return f"drove {forward_m} m"

    env = MemoryEnvironment(size=(320, 240), space="mobile")
    answers = [
        tool_call("move_base", forward_m="far"),
        tool_call("move_base", forward_m=5),
        tool_call("move_base", forward_m=0.5, turn_deg=90),
        tool_call("mobile_use", action="terminate", status="success"),
    ]
    prompts: list[Prompt] = []

    class Watching(ScriptedRuntime):
        def generate(self, batch: list[Prompt]) -> list[Completion]:
            prompts.extend(batch)
            return super().generate(batch)

    with Agent(
        Watching(answers),
        get_dialect("qwen2-vl"),
        env,
        toolset=ToolSet([env.toolset[n] for n in env.toolset.names]),
        recorder=Recorder(tmp_path / "run"),
    ) as agent:
        agent.toolset.add_function(move_base)
        result = agent.run("drive half a metre")
    assert result.status == "success" and moved == [(0.5, 90.0)]
    schema = next(t for t in prompts[0].tools or [] if t["function"]["name"] == "move_base")[
        "function"
    ]
    assert schema["description"] == "Drive the robot's base."
    assert schema["parameters"]["required"] == ["forward_m"]
    assert (
        schema["parameters"]["properties"]["turn_deg"]["description"]
        == "degrees to turn left first."
    )
    steps = read_trajectory(tmp_path / "run").steps
    assert steps[0].error is not None and steps[0].error.kind == "validation"
    assert "'forward_m' \"far\": must be a number" in prompts[1].text()  # the number rule
    assert steps[1].result is not None and not steps[1].result.ok  # the handler said no
    assert "at most 2 m per move" in prompts[2].text()
    assert steps[2].result is not None and steps[2].result.message == "drove 0.5 m"


class NoisyCamera(Wrapper):
    """The arm seen through a sensor: Gaussian noise of σ 6 on every pixel, new each frame."""

    def __init__(self, inner, seed: int = 0) -> None:  # type: ignore[no-untyped-def]
        super().__init__(inner)
        self.rng = np.random.default_rng(seed)

    def observe(self) -> Observation:
        obs = self.inner.observe()

        def noisy(image):  # type: ignore[no-untyped-def]
            pixels = np.asarray(image).astype(np.float32) + self.rng.normal(
                0, 6, (image.height, image.width, 3)
            )
            return np.clip(pixels, 0, 255).astype(np.uint8)

        return Observation(
            noisy(obs.image),
            name=obs.name,
            views={k: noisy(v) for k, v in obs.views.items()},
            state=obs.state,
            surface=obs.surface,
        )


def _repeat(agent_toolset: ToolSet, env, answer: str, steps: int = 6):  # type: ignore[no-untyped-def]
    agent = Agent(
        ScriptedRuntime([answer] * steps),
        get_dialect("qwen2-vl"),
        env,
        toolset=agent_toolset,
        limits=Limits(max_steps=steps, max_repeats=3),
    )
    return agent.run(GOAL)


def test_a_noisy_static_camera_still_stops_a_repeated_action(arm) -> None:  # type: ignore[no-untyped-def]
    camera = NoisyCamera(arm)
    first, second = camera.observe(), camera.observe()
    assert first.image.tobytes() != second.image.tobytes()  # no two frames are equal
    assert not ExactPixels().same(ExactPixels().signature(first), ExactPixels().signature(second))
    result = _repeat(arm.toolset, camera, tool_call("move_to", position=[0.0, 0.0, 0.2]))
    assert result.status == "error" and "3 times on an unchanged camera image" in result.reason
    # The first move changed the scene; the three after it did not, and the third is not executed.
    assert len(result.steps) == 4 and [s.executed for s in result.steps] == [
        True,
        True,
        True,
        False,
    ]


def test_a_repeated_action_that_moves_the_object_is_not_a_loop(arm) -> None:  # type: ignore[no-untyped-def]
    tools = ToolSet([arm.toolset[name] for name in arm.toolset.names])

    @tools.add_function
    def push(dx: float) -> None:
        """Push the cube to the right."""
        x, y, z = arm.scene.cube
        address = arm.scene._cube_joint
        arm.scene.data.qpos[address : address + 3] = [x + dx, y, z]
        arm.scene._simulate(50)

    before = arm.scene.cube[0]
    result = _repeat(tools, NoisyCamera(arm), tool_call("push", dx=0.03))
    assert result.status == "max_steps" and len(result.steps) == 6
    assert arm.scene.cube[0] == pytest.approx(before + 0.18, abs=0.01)


def test_the_tolerant_detector_sees_a_small_move_through_heavy_noise() -> None:
    rng = np.random.default_rng(1)
    scene = np.full((480, 640, 3), 120, np.uint8)
    scene[200:230, 300:330] = (200, 30, 30)  # a 30-pixel object
    moved = np.roll(scene, 30, axis=1)

    def shot(pixels: np.ndarray) -> Observation:
        noisy = np.clip(pixels + rng.normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)
        return Observation(noisy, surface="camera image")

    detector = TolerantPixels()
    base = detector.signature(shot(scene))
    assert detector.same(base, detector.signature(shot(scene)))
    assert detector.same(
        base, detector.signature(shot(np.clip(scene.astype(int) + 15, 0, 255).astype(np.uint8)))
    )
    assert not detector.same(base, detector.signature(shot(moved)))


# Long beside the deadlines below, so a busy machine's stall does not read as a late answer.
THINK_S = 1.5


class SlowModel(ScriptedRuntime):
    def generate(self, batch: list[Prompt]) -> list[Completion]:
        time.sleep(THINK_S)
        return super().generate(batch)


def test_a_decision_past_its_deadline_is_no_action_and_is_recorded_unexecuted(
    tmp_path: Path,
) -> None:
    env = MemoryEnvironment(size=(320, 240), space="mobile")
    answers = [
        tool_call(action="click", coordinate=[100, 100]),
        tool_call(action="click", coordinate=[500, 500]),
    ]
    agent = Agent(
        SlowModel(answers),
        get_dialect("qwen2-vl"),
        env,
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=2),
    )
    with agent.start("tap") as run:
        started = time.monotonic()
        decision = run.decide(deadline_s=0.05)
        assert time.monotonic() - started < THINK_S / 2  # the control loop got its answer in time
        assert decision is not None and decision.overrun and decision.action is None
        with pytest.raises(StepOverrun, match="an earlier decision is still being made"):
            run.decide(deadline_s=0.01, on_overrun="raise")
        decision = run.decide(deadline_s=10)  # the late one is put aside, a fresh one is made
        assert decision is not None and decision.pending
        run.report(env.execute(decision.action))
        run.close()
    steps = read_trajectory(tmp_path / "run").steps
    assert steps[0].result is not None and not steps[0].result.executed
    assert "after the step's deadline" in steps[0].result.message
    assert steps[1].result is not None and steps[1].result.executed
    assert len(env.log) == 1 and env.log[0]["action"] == "click"  # only the fresh decision acted


def test_a_control_loop_keeps_its_rate_while_the_model_thinks() -> None:
    env = MemoryEnvironment(size=(320, 240), space="mobile")
    agent = Agent(SlowModel([tool_call(action="wait", time=0.01)]), get_dialect("qwen2-vl"), env)

    async def control_loop() -> int:
        ticks = 0
        run = agent.start("hold still")
        thinking = asyncio.ensure_future(run.adecide())
        while not thinking.done():
            ticks += 1  # hold the last command, read sensors...
            await asyncio.sleep(0.02)
        decision = await thinking
        assert decision is not None and decision.pending
        run.close()
        return ticks

    assert asyncio.run(control_loop()) >= 8


def test_an_async_decision_has_a_deadline_and_its_late_answer_is_recorded_unexecuted(
    tmp_path: Path,
) -> None:
    env = MemoryEnvironment(size=(320, 240), space="mobile")
    answers = [tool_call(action="click", coordinate=[100, 100])]
    agent = Agent(
        SlowModel(answers * 2),
        get_dialect("qwen2-vl"),
        env,
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=2),
    )

    async def control_loop() -> None:
        run = agent.start("tap")
        started = time.monotonic()
        decision = await run.adecide(deadline_s=0.05)
        assert time.monotonic() - started < THINK_S / 2  # the loop got its answer in time
        assert decision is not None and decision.overrun
        decision = await run.adecide(deadline_s=10)
        assert decision is not None and decision.pending
        run.report(env.execute(decision.action))
        run.close()

    asyncio.run(control_loop())
    steps = read_trajectory(tmp_path / "run").steps
    assert [s.executed for s in steps] == [False, True] and len(env.log) == 1


class QuickSlowModel(ScriptedRuntime):
    def generate(self, batch: list[Prompt]) -> list[Completion]:
        time.sleep(0.3)  # always past the deadline below
        return super().generate(batch)


def test_late_decisions_the_robot_held_still_for_are_not_a_loop(tmp_path: Path) -> None:
    """The same action decided late again and again, on a scene unchanged because the robot held
    still as told: never executed, so never counted as a model stuck in a loop."""
    env = MemoryEnvironment(size=(320, 240), space="mobile")
    answers = [tool_call(action="click", coordinate=[100, 100])] * 12
    agent = Agent(
        QuickSlowModel(answers),
        get_dialect("qwen2-vl"),
        env,
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=20, max_repeats=3),
    )
    with agent.start("hold") as run:
        for _ in range(10):  # each tick waits long enough for the last tick's late answer
            decision = run.decide(deadline_s=0.2)
            assert not run.finished, run.result
            assert decision is None or decision.action is None  # late: nothing to execute
        run.close()
    steps = read_trajectory(tmp_path / "run").steps
    assert len(steps) >= 4 and all(not s.executed for s in steps)
    assert all(s.error is None or s.error.kind != "loop" for s in steps)
    assert env.log == []
