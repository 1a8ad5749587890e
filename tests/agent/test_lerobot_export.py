"""The export read back by LeRobot's own ``LeRobotDataset`` (in a venv of its own: CI makes one,
.ci/lerobot-venv) and by an oracle that reads the files as LeRobot's v3.0 loader does, frame for
frame against the trajectories: images, state, the action in device units, the invalid steps
flagged, the task, and the metadata LeRobot reads (tasks, episodes, stats, info)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import need, tool_call
from vlagent.agent import Agent, Limits
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.trajectory import Recorder, Step, read_trajectory
from vlagent.environments import FromGym, MemoryEnvironment, discrete_tool
from vlagent.prompts import get_dialect

READER = Path(__file__).parents[1] / "data" / "lerobot" / "read_with_lerobot.py"
EPISODE_COLUMNS = {
    "episode_index",
    "tasks",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
    "meta/episodes/chunk_index",
    "meta/episodes/file_index",
}
"""The columns LeRobot 0.4 writes to meta/episodes (its stats/… columns besides)."""


def _lerobot_python() -> str | None:
    """A Python that has LeRobot: ``VLAGENT_LEROBOT_PYTHON`` (CI makes a venv of its own for it:
    LeRobot pins its own torch), else this one if it has it; None otherwise, except under
    CI=true, where it must be there."""
    given = os.environ.get("VLAGENT_LEROBOT_PYTHON")
    if given:
        return given
    if importlib.util.find_spec("lerobot") is not None:
        return sys.executable
    if os.environ.get("CI") == "true":
        pytest.fail("CI reads the export with LeRobot itself: set VLAGENT_LEROBOT_PYTHON (.ci/run)")
    return None


def _read(dataset: Path, python: str | None) -> dict[str, Any]:
    """The dataset as LeRobot (``python``) or the oracle (None) hands it out."""
    command = (
        [python, str(READER), str(dataset)]
        if python
        else [sys.executable, str(READER), "--oracle", str(dataset)]
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    read: dict[str, Any] = json.loads(done.stdout)
    return read


def _readers() -> list[str | None]:
    python = _lerobot_python()
    return [None, python] if python else [None]


# -- what the trajectory says each frame must be -----------------------------------------------


def _digest(path: Path) -> str:
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def _slot(name: str, step: Step, tools: list[dict[str, Any]]) -> float:
    """The value of action slot ``name`` for ``step``: by the spec, from the step's device-unit
    arguments and the tools' schemas."""
    valid = step.action is not None and step.error is None
    names = [t["function"]["name"] for t in tools]
    if name == "tool":
        return float(names.index(step.action.tool)) if valid and step.action else -1.0
    tool, argument, *position = name.split(".")
    if not valid or step.action is None or step.action.tool != tool:
        return 0.0
    value = step.action.device.get(argument)
    schema = tools[names.index(tool)]["function"]["parameters"]["properties"][argument]
    if value is None:
        return 0.0
    if "enum" in schema:
        return float(schema["enum"].index(value))
    return float(value[int(position[0])] if position else value)


def _expected(runs: list[Path], fps: int, drop_invalid: bool) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for episode, run in enumerate(runs):
        trajectory = read_trajectory(run)
        steps = [s for s in trajectory.steps if s.screenshot]
        if drop_invalid:
            steps = [s for s in steps if s.action is not None and s.error is None]
        for frame, step in enumerate(steps):
            valid = step.action is not None and step.error is None
            state: list[float] = []
            for value in (step.state or {}).values():
                state.extend(float(v) for v in (value if isinstance(value, list) else [value]))
            images = {f"observation.images.{step.image_name or 'screen'}": run / step.screenshot}
            images.update(
                {f"observation.images.{k}": run / v for k, v in (step.views or {}).items()}
            )
            frames.append(
                {
                    **{key: _digest(path) for key, path in images.items()},
                    "state": state,
                    "step": step,
                    "tools": trajectory.header.tools,
                    "action.tool": step.action.tool if valid and step.action else "",
                    "action.arguments": step.action.device if valid and step.action else {},
                    "action.valid": valid,
                    "action.executed": step.executed,
                    "timestamp": frame / fps,
                    "frame_index": frame,
                    "episode_index": episode,
                    "index": len(frames),
                    "task": trajectory.header.goal,
                    "next.done": frame == len(steps) - 1,
                }
            )
    return frames


def _check(read: dict[str, Any], runs: list[Path], fps: int, drop_invalid: bool = False) -> None:
    """``read`` (one reader's view of the export of ``runs``) against the trajectories."""
    expected = _expected(runs, fps, drop_invalid)
    info = read["info"]
    names = info["features"]["action"]["names"]
    assert len(read["frames"]) == len(expected) == info["total_frames"]
    for got, want in zip(read["frames"], expected, strict=True):
        for key in [k for k in want if k.startswith("observation.images.")]:
            assert got[key] == want[key], key  # pixel for pixel
        if want["state"]:
            state = np.atleast_1d(got["observation.state"]).tolist()  # (1,) reads as a number
            assert state == pytest.approx(want["state"], rel=1e-6, abs=1e-6)
        else:
            assert "observation.state" not in got  # a screen has no state
        action = [_slot(name, want["step"], want["tools"]) for name in names]
        assert np.atleast_1d(got["action"]).tolist() == pytest.approx(action, rel=1e-6, abs=1e-4)
        assert json.loads(got["action.arguments"]) == want["action.arguments"]
        for key in ("action.tool", "action.valid", "action.executed", "frame_index"):
            assert got[key] == want[key], key
        for key in ("episode_index", "index", "task", "next.done"):
            assert got[key] == want[key], key
        assert got["timestamp"] == pytest.approx(want["timestamp"])
    goal = read_trajectory(runs[0]).header.goal
    assert read["tasks"][0] == goal and read["task_index"][goal] == 0  # tasks.iloc[0].name
    assert EPISODE_COLUMNS <= set(read["episodes"])
    assert info["data_files_size_in_mb"] == 100 and info["video_files_size_in_mb"] == 200
    stats = read["stats"]
    vectors = np.array([[_slot(n, w["step"], w["tools"]) for n in names] for w in expected])
    assert stats["action"]["mean"] == pytest.approx(vectors.mean(axis=0).tolist(), abs=1e-4)
    assert stats["action"]["count"] == [len(expected)]
    for camera in read["camera_keys"]:
        assert np.array(stats[camera]["mean"]).shape == (3, 1, 1)
        assert 0.0 <= np.min(stats[camera]["min"]) <= np.max(stats[camera]["max"]) <= 1.0


# -- the runs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arm_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    need("mujoco")
    from vlagent.agent.cli.demo_robot import run_robot_demo

    runs = []
    for seed in (2, 6):
        out = tmp_path_factory.mktemp("arm") / f"seed{seed}"
        assert run_robot_demo(out, seed=seed).status == "success"
        runs.append(out)
    return runs


@pytest.fixture(scope="module")
def phone_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GUI run (no state) with an invalid answer in the middle."""
    out = tmp_path_factory.mktemp("phone") / "run"
    answers = [
        tool_call(action="click", coordinate=[500, 250]),
        "no call here",  # invalid: fed back, recorded as a step with an error
        tool_call(action="type", text="hello"),
        tool_call(action="terminate", status="success"),
    ]
    agent = Agent(
        ScriptedRuntime(answers),
        get_dialect("qwen2-vl"),
        MemoryEnvironment(size=(360, 640), space="mobile"),
        recorder=Recorder(out),
        limits=Limits(max_steps=10),
    )
    assert agent.run("Type hello").status == "success"
    return out


@pytest.mark.parametrize("reader", _readers(), ids=lambda r: "lerobot" if r else "oracle")
def test_the_arms_runs_load_in_lerobot_frame_for_frame(
    arm_runs: list[Path], tmp_path: Path, reader: str | None
) -> None:
    need("datasets")
    from vlagent.agent.outputs.export import export_lerobot

    out = export_lerobot(arm_runs, tmp_path / "arm", fps=2)
    read = _read(out, reader)
    _check(read, arm_runs, fps=2)
    first = read["frames"][0]  # move_to a point on the top camera, in its pixels
    names = read["info"]["features"]["action"]["names"]
    assert names[:4] == ["tool", "move_to.camera", "move_to.point.0", "move_to.point.1"]
    assert first["action"][2] == pytest.approx(88.96, abs=1e-3)  # 0.278 of 320 pixels
    assert read["info"]["features"]["observation.state"]["names"][0] == "gripper_position_m.0"


@pytest.mark.parametrize("reader", _readers(), ids=lambda r: "lerobot" if r else "oracle")
def test_a_gui_run_exports_too_its_invalid_step_flagged(
    phone_run: Path, tmp_path: Path, reader: str | None
) -> None:
    need("datasets")
    from vlagent.agent.outputs.export import export_lerobot

    read = _read(export_lerobot([phone_run], tmp_path / "phone"), reader)
    _check(read, [phone_run], fps=1)
    assert [f["action.valid"] for f in read["frames"]] == [True, False, True, True]
    click = read["frames"][0]
    names = read["info"]["features"]["action"]["names"]
    x = names.index("mobile_use.coordinate.0")
    assert click["action"][x] == pytest.approx(180.0)  # 500 of 1000 → 180 of 360 device pixels


def test_invalid_steps_can_be_left_out(phone_run: Path, tmp_path: Path) -> None:
    need("datasets")
    from vlagent.agent.outputs.export import export_lerobot

    out = export_lerobot([phone_run], tmp_path / "valid", drop_invalid=True)
    read = _read(out, None)
    _check(read, [phone_run], fps=1, drop_invalid=True)
    assert len(read["frames"]) == 3 and all(f["action.valid"] for f in read["frames"])


def test_a_gymnasium_episode_exports_its_rewards_and_discrete_actions(tmp_path: Path) -> None:
    gymnasium = need("gymnasium")
    need("pygame")
    need("datasets")
    from vlagent.agent.outputs.export import export_lerobot

    moves = ["down", "down", "right", "down", "right", "right"]
    lake = FromGym(
        gymnasium.make("FrozenLake-v1", render_mode="rgb_array", is_slippery=False),
        [discrete_tool(["left", "down", "right", "up"])],
        success="terminated and total_return > 0",
    )
    run = tmp_path / "lake"
    answers = [tool_call("act", move=m) for m in moves]
    agent = Agent(ScriptedRuntime(answers), get_dialect("qwen2-vl"), lake, recorder=Recorder(run))
    assert agent.run("Reach the gift").status == "success"
    read = _read(export_lerobot([run], tmp_path / "ds"), None)
    _check(read, [run], fps=1)
    assert [f["action"][1] for f in read["frames"]] == [1.0, 1.0, 2.0, 1.0, 2.0, 2.0]
    assert [f["next.reward"] for f in read["frames"]] == [0.0] * 5 + [1.0]


def _oracle(dataset: Path) -> dict[str, Any]:
    """The oracle reader, in this process (the subprocess costs seconds an example)."""
    import importlib.util as util

    spec = util.spec_from_file_location("read_with_lerobot", READER)
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    read: dict[str, Any] = json.loads(json.dumps(module.with_oracle(dataset), default=str))
    return read


_ANSWERS = st.one_of(
    st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(
        lambda p: tool_call(action="click", coordinate=list(p))
    ),
    st.text("abc xyz", min_size=1, max_size=8).map(lambda t: tool_call(action="type", text=t)),
    st.sampled_from(["no call", '<tool_call>{"name": "nope"}</tool_call>']),  # invalid answers
    st.just(tool_call(action="click", coordinate=[5000, 10])),  # off the screen: invalid
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(_ANSWERS, min_size=1, max_size=5), drop=st.booleans())
def test_any_gui_run_exports_frame_for_frame_its_invalid_steps_flagged_or_dropped(
    answers: list[str], drop: bool
) -> None:
    """The class: any run, any mix of valid and invalid answers. Every frame's action is the
    executed call in device pixels, every invalid step is flagged (or gone with drop_invalid),
    and the export never fails on a run that has a valid step."""
    need("datasets")
    from vlagent.agent.outputs.export import ExportError, export_lerobot

    with tempfile.TemporaryDirectory() as folder:
        run, out = Path(folder) / "run", Path(folder) / "ds"
        agent = Agent(
            ScriptedRuntime([*answers, tool_call(action="terminate", status="success")]),
            get_dialect("qwen2-vl"),
            MemoryEnvironment(size=(200, 120), space="mobile"),
            recorder=Recorder(run),
            limits=Limits(max_steps=8, max_retries=8),
        )
        agent.run("Try")
        steps = read_trajectory(run).steps
        if drop and not any(s.action is not None and s.error is None for s in steps):
            with pytest.raises(ExportError, match="no recorded valid steps"):
                export_lerobot([run], out, drop_invalid=True)
            return
        _check(_oracle(export_lerobot([run], out, drop_invalid=drop)), [run], 1, drop)
