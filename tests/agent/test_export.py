"""Runs of the simulated arm exported as a LeRobotDataset-layout dataset, loaded back with Hugging
Face ``datasets`` (LeRobot itself reads it in tests/agent/test_lerobot_export.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import need, run_cli
from vlagent.agent.trajectory import read_trajectory


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    need("mujoco")
    from vlagent.agent.cli.demo_robot import run_robot_demo

    runs = []
    for seed in (2, 6):
        out = tmp_path_factory.mktemp("runs") / f"seed{seed}"
        assert run_robot_demo(out, seed=seed).status == "success"
        runs.append(out)
    return runs


def test_the_export_loads_back_with_datasets_frame_for_frame(
    two_runs: list[Path], tmp_path: Path
) -> None:
    datasets = need("datasets")
    from vlagent.agent.outputs.export import export_lerobot

    out = export_lerobot(two_runs, tmp_path / "dataset", fps=2)
    loaded = datasets.load_dataset(
        "parquet", data_files=str(out / "data/chunk-000/file-000.parquet"), split="train"
    )
    info = json.loads((out / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 2 and info["fps"] == 2
    assert info["total_frames"] == len(loaded) == 10
    assert info["features"]["observation.images.top"]["shape"] == [320, 320, 3]
    assert info["features"]["observation.state"]["names"] == [
        *"gripper_position_m.0 gripper_position_m.1 gripper_position_m.2 gripper_closed".split(),
    ]
    row = 0
    for episode, run in enumerate(two_runs):
        steps = read_trajectory(run).steps
        for frame, step in enumerate(steps):
            record = loaded[row]
            assert record["episode_index"] == episode and record["frame_index"] == frame
            assert record["timestamp"] == pytest.approx(frame / 2)
            # Every camera image, pixel for pixel, as decoded by datasets.
            assert np.array_equal(
                np.asarray(record["observation.images.front"]),
                np.asarray(Image.open(run / step.screenshot)),
            )
            assert np.array_equal(
                np.asarray(record["observation.images.top"]),
                np.asarray(Image.open(run / step.views["top"])),
            )
            position = step.state["gripper_position_m"]
            assert record["observation.state"] == pytest.approx(
                [*position, float(step.state["gripper_closed"])]
            )
            assert record["action.tool"] == step.action.tool
            # The call as executed: its points in the camera's pixels, not the model's 0-1000.
            assert json.loads(record["action.arguments"]) == step.action.device
            assert record["next.done"] == (frame == len(steps) - 1)
            row += 1
    # The action's first slot is the executed tool: move_to, grasp, move_to, release, finish.
    assert [loaded[i]["action"][0] for i in range(5)] == [0.0, 1.0, 0.0, 2.0, 3.0]
    import pandas as pd

    tasks = pd.read_parquet(out / "meta/tasks.parquet")  # as LeRobot reads it: by its index
    assert tasks.iloc[0].name == "Put the red cube on the green square"
    assert tasks.iloc[0].task_index == 0
    assert (out / "meta/stats.json").exists()
    episodes = datasets.load_dataset(
        "parquet", data_files=str(out / "meta/episodes/chunk-000/file-000.parquet"), split="train"
    )
    assert episodes["length"] == [5, 5] and episodes["dataset_from_index"] == [0, 5]


def test_agent_export_on_the_command_line(two_runs: list[Path], tmp_path: Path) -> None:
    need("datasets")
    result = run_cli("export", *map(str, two_runs), "--out", str(tmp_path / "ds"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ds/data/chunk-000/file-000.parquet").exists()
    again = run_cli("export", str(two_runs[0]), "--out", str(tmp_path / "ds"), timeout=120)
    assert (
        again.returncode != 0
        and "is not empty; give a new directory" in again.stderr + again.stdout
    )
    missing = run_cli(
        "export", str(tmp_path / "nothing"), "--out", str(tmp_path / "ds2"), timeout=120
    )
    assert missing.returncode != 0 and "no trajectory at" in missing.stderr + missing.stdout
