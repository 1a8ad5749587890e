"""Gymnasium both ways, checked by Gymnasium's own ``check_env`` and its own environments."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need, run_cli, tool_call, write_script
from vlagent.environments import FromGym, MemoryEnvironment, box_tool, discrete_tool, to_gym
from vlagent.tools import ToolCall, ToolError

LAKE = ["left", "down", "right", "up"]
TO_THE_GIFT = [
    *"down down right down right right".split(),
]  # FrozenLake's 4x4 map, not slippery


def _check_env(env) -> None:  # type: ignore[no-untyped-def]
    """Gymnasium's own checker, its every warning an error (bounds, render fps, spec)."""
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=False)


def test_the_simulated_arm_as_a_gymnasium_env_passes_check_env_and_does_the_task() -> None:
    need("gymnasium")
    need("mujoco")
    from vlagent.environments.sim_pick import SimPickEnvironment

    env = to_gym(lambda: SimPickEnvironment(seed=3))
    try:
        _check_env(env)
        assert set(env.observation_space.spaces) == {"front", "top", "state"}
        assert env.metadata["render_fps"] == 1
        observation, _ = env.reset(seed=3)
        assert observation["top"].shape == (320, 320, 3) and observation["state"][
            "gripper_closed"
        ].shape == (1,)
        inner = env.unwrapped.environment
        cube = inner.scene.cube

        def act(tool: str, **arguments):  # type: ignore[no-untyped-def]
            return env.step(env.unwrapped.action(tool, **arguments))

        bad = env.unwrapped.action("move_to", position=[0.0, 0.0, 0.1])
        bad["arguments"]["move_to"]["values"]["position"][0] = 0.9  # past the arm's reach
        _, reward, terminated, _, info = env.step(bad)
        assert "less than or equal to 0.35" in info["error"] and reward == 0.0  # not executed
        assert inner.scene.gripper == (0.0, -0.2, 0.25)
        for tool, arguments in [
            ("move_to", {"position": [cube[0], cube[1], 0.035]}),
            ("grasp", {}),
            ("move_to", {"position": [0.15, 0.1, 0.08]}),
            ("release", {}),
        ]:
            _, reward, terminated, _, info = act(tool, **arguments)
            assert info["ok"] and reward == 0.0 and not terminated, info
        _, reward, terminated, truncated, info = act("finish", status="success")
        assert terminated and not truncated and reward == 1.0 and info["success"] is True
    finally:
        env.close()


def test_a_phone_screen_as_a_gymnasium_env_passes_check_env(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    need("gymnasium")
    monkeypatch.setattr("vlagent.environments.memory.time.sleep", lambda seconds: None)
    env = to_gym(lambda: MemoryEnvironment(size=(180, 320), space="mobile"))
    _check_env(env)
    tool = env.action_space["arguments"]["mobile_use"]
    assert {"coordinate", "text"} <= set(tool["values"].spaces)
    assert tool["values"]["coordinate"].shape == (2,)


def test_a_gymnasium_env_wrapped_the_other_way_passes_check_env_again() -> None:
    gymnasium = need("gymnasium")
    need("pygame")  # FrozenLake draws its rgb_array with pygame

    def lake() -> FromGym:
        return FromGym(
            gymnasium.make("FrozenLake-v1", render_mode="rgb_array", is_slippery=False),
            [discrete_tool(LAKE)],
            seed=0,
        )

    obs = lake().observe()
    assert obs.size == (256, 256) and obs.state == {"observation": 0}
    env = to_gym(lake)  # a function that makes it: check_env makes copies
    _check_env(env)
    assert env.observation_space["state"]["observation"].high[0] == 15  # the lake's 16 cells


def test_a_continuous_action_space_is_a_tool_with_its_bounds() -> None:
    gymnasium = need("gymnasium")
    need("pygame")
    inner = gymnasium.make("Pendulum-v1", render_mode="rgb_array")
    pendulum = FromGym(
        inner, [box_tool(["torque"], inner.action_space.low, inner.action_space.high)], seed=0
    )
    for refused in (2.5, -3, float("nan"), float("inf")):
        with pytest.raises(ToolError):
            pendulum.toolset.validate(ToolCall("act", {"torque": refused}))
    before = pendulum.observe().state["observation"].copy()
    result = pendulum.execute(pendulum.toolset.validate(ToolCall("act", {"torque": 2})))
    assert result.ok and result.data["reward"] <= 0.0
    after = pendulum.observe().state["observation"]
    # Gymnasium's own dynamics with torque 2: the angular velocity grows by 3·2/(m·l²)·dt = 0.3
    # plus gravity's share; the same step taken directly says by exactly how much.
    inner.reset(seed=0)
    expected, *_ = inner.step(np.array([2.0], dtype=np.float32))
    assert np.allclose(after, expected) and not np.allclose(before, after)
    pendulum.close()
    env = to_gym(
        lambda: FromGym(
            gymnasium.make("Pendulum-v1", render_mode="rgb_array"),
            [box_tool(["torque"], inner.action_space.low, inner.action_space.high)],
        )
    )
    _check_env(env)  # and back: the bounds survive as a Box
    assert env.action_space["arguments"]["act"]["values"]["torque"].high == 2.0


def test_agent_run_drives_a_continuous_gymnasium_env_and_refuses_a_value_out_of_bounds(
    tmp_path: Path,
) -> None:
    need("gymnasium")
    need("pygame")
    answers = [
        tool_call("act", force=1.0),
        tool_call("act", force=5.0),
        tool_call("act", force=-0.5),
    ]
    out = tmp_path / "car"
    result = run_cli(
        *"run --env gym --gym-id MountainCarContinuous-v0 --gym-actions force --goal".split(),
        "Drive up the hill",
        "--max-steps",
        "3",
        "--model",
        f"scripted:{write_script(tmp_path / 'car.txt', answers)}",
        "--out",
        str(out),
        timeout=120,
    )
    lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
    steps = [line for line in lines[1:] if "index" in line]
    assert len(steps) == 3, result.stdout + result.stderr
    assert steps[0]["result"]["executed"] and steps[0]["action"]["model"] == {"force": 1.0}
    assert (
        steps[1]["error"]["kind"] == "validation"
        and "less than or equal to 1" in steps[1]["error"]["message"]
    )
    assert steps[2]["result"]["executed"] and steps[2]["action"]["model"] == {"force": -0.5}
    result = run_cli(
        *"run --env gym --gym-id MountainCarContinuous-v0".split(),
        *"--gym-actions a,b --goal g --model".split(),
        f"scripted:{write_script(tmp_path / 'x.txt', answers)}",
        "--out",
        str(tmp_path / "r"),
    )
    assert (
        "--gym-actions names 2 dimensions; MountainCarContinuous-v0 has 1"
        in result.stdout + result.stderr
    )


def test_agent_run_plays_a_gymnasium_episode_to_its_end(tmp_path: Path) -> None:
    need("gymnasium")
    need("pygame")
    reached = "--gym-success=terminated and total_return > 0"  # FrozenLake's gift pays 1
    for moves, rule, status, code in (
        (TO_THE_GIFT, reached, "success", 0),
        (["right", "down"], reached, "failure", 1),  # a hole
        (TO_THE_GIFT, None, "ended", 5),  # no rule, no is_success: neither
    ):
        answers = [tool_call("act", move=move) for move in moves]
        out = tmp_path / status
        result = run_cli(
            *"run --env gym --gym-id FrozenLake-v1".split(),
            *"--gym-option is_slippery=false --gym-actions".split(),
            ",".join(LAKE),
            *([rule] if rule else []),
            "--goal",
            "Reach the gift",
            "--model",
            f"scripted:{write_script(tmp_path / f'{status}.txt', answers)}",
            "--out",
            str(out),
            timeout=120,
        )
        lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
        assert lines[-1]["status"] == status, result.stdout + result.stderr
        assert result.returncode == code
        assert lines[-1]["steps"] == len(moves)
        assert lines[-2]["result"]["data"]["terminated"] is True
        assert lines[0]["environment"]["gym_id"] == "FrozenLake-v1"


def test_a_wrong_gym_command_line_says_what_to_do(tmp_path: Path) -> None:
    need("gymnasium")
    script = write_script(tmp_path / "a.txt", [tool_call("act", move="up")])
    result = run_cli(
        *"run --env gym --gym-id FrozenLake-v1 --gym-actions a,b --goal g --model".split(),
        f"scripted:{script}",
        "--out",
        str(tmp_path / "r"),
    )
    assert (
        result.returncode != 0
        and "--gym-actions names 2 actions; FrozenLake-v1 has 4" in result.stdout + result.stderr
    )
    result = run_cli(
        *"run --env gym --gym-id NoSuchEnv-v0 --goal g --model".split(),
        f"scripted:{script}",
        "--out",
        str(tmp_path / "r2"),
    )
    assert (
        result.returncode != 0
        and "Gymnasium cannot make 'NoSuchEnv-v0'" in result.stdout + result.stderr
    )
    result = run_cli(
        *"run --env gym --goal g --model".split(),
        f"scripted:{script}",
        "--out",
        str(tmp_path / "r3"),
    )
    assert result.returncode == 3 and result.stderr.startswith(
        "error: environment 'gym' needs --gym-id"
    )
    result = run_cli(
        *"run --env gym --gym-id FrozenLake-v1 --gym-success".split(),
        "().__class__",
        *"--goal g --model".split(),
        f"scripted:{script}",
        "--out",
        str(tmp_path / "r4"),
    )
    assert result.returncode == 3 and "Attribute is not allowed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
