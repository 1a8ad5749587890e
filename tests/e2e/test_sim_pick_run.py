"""``agent run --env sim-pick`` and ``agent demo --robot`` in subprocesses: MuJoCo's physics
judges the task, and the trajectory holds every camera image, depth map and state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_schema_valid, need, run_cli, write_script
from vlagent.agent.cli.demo_robot import pick_script

GOAL = "Put the red cube on the green square"


@pytest.fixture(scope="module")
def sim_pick():  # type: ignore[no-untyped-def]
    need("mujoco")
    from vlagent.environments.sim_pick import SimPickEnvironment

    def make(seed: int) -> SimPickEnvironment:
        return SimPickEnvironment(seed=seed)

    return make


def _lines(out: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]


def test_a_scripted_model_picks_and_places_the_cube_and_the_simulator_confirms(
    sim_pick, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    env = sim_pick(5)
    try:
        answers = pick_script(env.observe())  # the cube and the square, found by colour
    finally:
        env.close()
    out = tmp_path / "run"
    result = run_cli(
        *"run --env sim-pick --env-seed 5 --goal".split(),
        GOAL,
        "--model",
        f"scripted:{write_script(tmp_path / 'a.txt', answers)}",
        "--out",
        str(out),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "success: the simulator says the cube is on the target" in result.stdout
    lines = _lines(out)
    assert_schema_valid(lines)
    steps, end = lines[1:-1], lines[-1]
    assert end["status"] == "success" and len(steps) == 5
    assert steps[-1]["result"]["data"]["success"] is True
    cube = steps[-1]["result"]["data"]["cube_m"]
    assert abs(cube[0] - 0.15) <= 0.05 and abs(cube[1] - 0.10) <= 0.05 and cube[2] < 0.03
    for step in steps:  # every camera image, every depth map and the state of every step
        assert step["image_name"] == "front"
        assert Image.open(out / step["screenshot"]).size == (480, 360)
        assert Image.open(out / step["views"]["top"]).size == (320, 320)
        for camera, size in (("front", (360, 480)), ("top", (320, 320))):
            depth = np.load(out / step["depth"][camera])
            assert depth.shape == size and depth.dtype == np.float32
            # metres from the camera: the table below the middle of each image is within reach
            assert (
                0.3 < float(depth.min())
                and 0.3 < float(depth[size[0] * 3 // 4, size[1] // 2]) < 1.5
            )
        assert set(step["state"]) == {"gripper_position_m", "gripper_closed"}
        assert "Robot state:" in lines[1]["prompt_text"] or "Robot state:" in step["prompt_text"]
    # The state follows the arm: open and high at first, closed on the cube after the grasp.
    assert (
        steps[0]["state"]["gripper_closed"] is False and steps[2]["state"]["gripper_closed"] is True
    )
    assert steps[1]["state"]["gripper_position_m"][2] < 0.06
    # The first point was given on the top camera and is recorded in that image's pixels.
    assert steps[0]["action"]["model"]["camera"] == "top"
    x, y = steps[0]["action"]["device"]["point"]
    assert 0 <= x <= 320 and 0 <= y <= 320
    # The report shows both cameras of each step, the point drawn on the camera it was given on.
    report = (out / "report.html").read_text()
    assert report.count('alt="step 0, top"') == 1 and "<td>state</td>" in report
    step0 = report[report.index('id="step-0"') : report.index('id="step-1"')]
    front, top = step0.split('alt="step 0, top"')
    assert 'class="click"' in top and 'class="click"' not in front
    # The model was told the frame of each image.
    assert "'top' (1000x1000):<image 320x320>" in steps[0]["prompt_text"]


def test_a_claimed_success_the_simulator_does_not_see_ends_as_failure(
    sim_pick, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    claim = '<tool_call>\n{"name": "finish", "arguments": {"status": "success"}}\n</tool_call>'
    result = run_cli(
        *"run --env sim-pick --goal".split(),
        GOAL,
        "--model",
        f"scripted:{write_script(tmp_path / 'a.txt', [claim])}",
        "--out",
        str(out),
        timeout=120,
    )
    assert "failure: the simulator says the cube is not on the target" in result.stdout, (
        result.stderr
    )
    end = _lines(out)[-1]
    assert end["status"] == "failure"


def test_a_tiny_checkpoint_runs_three_steps_on_the_arm(
    sim_pick, checkpoint, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    result = run_cli(
        *"run --env sim-pick --goal".split(),
        GOAL,
        "--model",
        str(checkpoint("qwen2.5-vl")),
        *"--max-steps 3 --max-retries 5 --out".split(),
        str(out),
        timeout=300,
    )
    lines = _lines(out)
    assert lines[-1]["type"] == "end", result.stderr
    assert lines[-1]["status"] == "max_steps", lines[-1]
    steps = lines[1:-1]
    assert len(steps) == 3 and all(
        s["prompt_tokens"] > 0 and s["views"] and s["state"] for s in steps
    )
    # Qwen2.5-VL answers in pixels of each resized image: each camera has its own frame.
    assert "'top' (308x308):<|vision_start|><|image_pad|>" in steps[0]["prompt_text"]
    assert "'front' (476x364)" in steps[0]["prompt_text"]
    # ... and what it sees, in a camera's words (the tools section, as the template wrote it).
    assert "The camera image's resolution is 476x364" in steps[0]["prompt_text"]


def test_agent_demo_robot(sim_pick, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "demo"
    result = run_cli("demo", "--robot", "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _lines(out)[-1]["status"] == "success" and (out / "report.html").exists()
