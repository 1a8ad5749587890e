"""The simulated arm against MuJoCo itself: what its cameras render is where its physics says."""

from __future__ import annotations

import pytest

from tests.conftest import need, run_cli
from vlagent.agent.cli.demo_robot import colour_centre
from vlagent.environments import check_environment
from vlagent.environments.sim_pick.environment import Finish, Grasp, MoveTo, SimPickEnvironment


@pytest.fixture
def arm(sim_arm) -> SimPickEnvironment:  # type: ignore[no-untyped-def]
    return sim_arm(1)


def test_the_arm_keeps_the_environment_protocol() -> None:
    need("mujoco")
    check_environment(SimPickEnvironment(seed=2))


@pytest.mark.parametrize("seed", [0, 4, 9])
@pytest.mark.parametrize("camera", ["top", "front"])
def test_a_point_on_either_camera_reaches_the_cube_it_shows(seed: int, camera: str) -> None:
    # The cube's pixels as MuJoCo rendered them, turned back into metres through the depth map,
    # land on the cube as MuJoCo's physics holds it.
    need("mujoco")
    env = SimPickEnvironment(seed=seed)
    try:
        obs = env.observe()
        point = [v / 1000 for v in colour_centre(obs, camera, "red")]
        x, y, z = env.scene.unproject(camera, (point[0], point[1]), obs.depth[camera])
        cx, cy, cz = env.scene.cube
        assert abs(x - cx) < 0.02 and abs(y - cy) < 0.02 and 0.0 < z < 0.045
        assert env.execute(MoveTo(camera=camera, point=(point[0], point[1]))).ok
        assert env.execute(Grasp()).ok and env.state()["gripper_closed"] is True
    finally:
        env.close()


def test_grasping_nothing_and_reaching_too_far_are_told_to_the_model(
    arm: SimPickEnvironment,
) -> None:
    result = arm.execute(Grasp())
    assert not result.ok and "move the tip onto the cube" in result.message
    # The top camera sees past the arm's reach: the table at its corner is out of it.
    result = arm.execute(MoveTo(camera="top", point=(0.0, 0.0)))
    assert not result.ok and not result.executed and "out of reach" in result.message
    assert arm.scene.gripper == (0.0, -0.2, 0.25)  # nothing moved


def test_the_arms_reach_is_in_its_schema() -> None:
    from pydantic import ValidationError

    for far in [(0.9, 0.0, 0.1), (0.0, -0.36, 0.1), (0.0, 0.0, 0.51), (0.0, 0.0, -0.01)]:
        with pytest.raises(ValidationError, match="than or equal to"):
            MoveTo(position=far)
    position = MoveTo.model_json_schema()["properties"]["position"]["anyOf"][0]
    assert [(i["minimum"], i["maximum"]) for i in position["prefixItems"]] == [
        (-0.35, 0.35),
        (-0.35, 0.35),
        (0.0, 0.5),
    ]


def test_moving_by_position_and_placing_by_hand_satisfies_the_simulator(
    arm: SimPickEnvironment,
) -> None:
    cx, cy, _ = arm.scene.cube
    assert arm.execute(MoveTo(position=(cx, cy, 0.035))).ok
    assert arm.execute(Grasp()).ok
    arm.execute(MoveTo(position=(0.15, 0.10, 0.08)))
    verdict = arm.execute(Finish(status="success"))
    assert verdict.ends is not None and verdict.ends.status == "failure"  # still held
    from vlagent.environments.sim_pick.environment import Release

    arm.execute(Release())
    verdict = arm.execute(Finish(status="failure"))
    assert verdict.ends is not None and verdict.ends.status == "success" and verdict.data["success"]


def test_move_to_needs_one_target() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="either 'point'"):
        MoveTo()
    with pytest.raises(ValidationError, match="'point' needs 'camera'"):
        MoveTo(point=(0.5, 0.5))


def test_a_negative_seed_is_refused_in_one_line_before_anything_renders() -> None:
    need("mujoco")
    with pytest.raises(ValueError, match="seed -1: a seed is 0 or more"):
        SimPickEnvironment(seed=-1)
    result = run_cli(
        "run", "--env", "sim-pick", "--env-seed", "-1", "--goal", "g", "--model", "scripted:x"
    )
    assert (
        result.returncode == 2
        and "'--env-seed'" in result.stderr
        and "Traceback" not in result.stderr
    )
