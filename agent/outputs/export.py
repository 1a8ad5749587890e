"""Trajectories out as a robot-learning dataset: the LeRobotDataset v3.0 layout, images stored in
the parquet files (``dtype: image``) rather than as videos, so Hugging Face ``datasets`` reads it
with no video decoder.

One run is one episode; its goal is the task. Each recorded step is a frame:
``observation.images.<name>`` for every image, ``observation.state`` (the state's numbers,
flattened, named in ``info.json``), ``action`` (the state the step's action led to, read from the
next step: the command a position-controlled arm was given; the last frame repeats its own
state), and the exact call as ``action.tool`` and ``action.arguments`` (JSON). Depth maps stay in
the run directory. ``timestamp`` is ``frame_index / fps``: agent steps are events, not a clock
(docs/embedding.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlagent.agent.trajectory import Trajectory, TrajectoryError, read_trajectory
from vlagent.agent.core.views import recorded_state

CODEBASE_VERSION = "v3.0"
DATA_FILE = "data/chunk-000/file-000.parquet"
EPISODES_FILE = "meta/episodes/chunk-000/file-000.parquet"


class ExportError(ValueError):
    """The runs cannot make one dataset (no steps, images that differ from run to run, a full out dir)."""


def _flat(state: dict[str, Any]) -> tuple[list[str], list[float]]:
    names: list[str] = []
    values: list[float] = []
    for key, value in recorded_state(state).items():
        items = value if isinstance(value, list) else [value]
        for position, item in enumerate(items):
            if isinstance(item, bool) or isinstance(item, (int, float)):
                names.append(key if len(items) == 1 else f"{key}.{position}")
                values.append(float(item))
    return names, values


def _images(trajectory: Trajectory, step: Any) -> dict[str, Path]:
    name = step.image_name or "screen"
    found = {name: trajectory.path / step.screenshot} if step.screenshot else {}
    found.update({view: trajectory.path / path for view, path in (step.views or {}).items()})
    return found


def export_lerobot(run_dirs: Sequence[str | Path], out: str | Path, fps: int = 1,
                   robot_type: str | None = None) -> Path:
    """Write ``run_dirs`` as one dataset in ``out`` (made; must be new or empty). Returns ``out``."""
    import datasets
    from PIL import Image

    datasets.disable_progress_bars()  # a library call, not a terminal session
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; give a new directory")
    columns: dict[str, list[Any]] = {key: [] for key in (
        "observation.state", "action", "action.tool", "action.arguments", "timestamp", "frame_index",
        "episode_index", "index", "task_index", "next.done")}
    tasks: list[str] = []
    episodes: list[dict[str, Any]] = []
    image_shapes: dict[str, tuple[int, int]] = {}
    state_names: list[str] | None = None
    environment = robot_type
    for episode, run_dir in enumerate(run_dirs):
        try:
            trajectory = read_trajectory(run_dir)
        except TrajectoryError as exc:
            raise ExportError(str(exc)) from None
        steps = [s for s in trajectory.steps if s.screenshot]
        if not steps:
            raise ExportError(f"{run_dir} has no recorded steps")
        environment = environment or str(trajectory.header.environment.model_dump().get("name", "unknown"))
        goal = trajectory.header.goal
        if goal not in tasks:
            tasks.append(goal)
        start = len(columns["index"])
        states = []
        for step in steps:
            names, values = _flat(step.state or {})
            if state_names is None:
                state_names = names
            elif names != state_names:
                raise ExportError(f"{run_dir} step {step.index}: state {names} differs from {state_names}")
            states.append(values)
        for frame, step in enumerate(steps):
            for name, path in _images(trajectory, step).items():
                with Image.open(path) as image:
                    size = (image.height, image.width)
                if image_shapes.setdefault(name, size) != size:
                    raise ExportError(f"{path}: image {name!r} is {size}, earlier ones {image_shapes[name]}")
                columns.setdefault(f"observation.images.{name}", []).append(
                    {"bytes": path.read_bytes(), "path": None})
            columns["observation.state"].append(states[frame])
            columns["action"].append(states[min(frame + 1, len(steps) - 1)])
            columns["action.tool"].append(step.action.tool if step.action else "")
            columns["action.arguments"].append(json.dumps(step.action.model if step.action else {}))
            columns["timestamp"].append(frame / fps)
            columns["frame_index"].append(frame)
            columns["episode_index"].append(episode)
            columns["index"].append(len(columns["index"]))
            columns["task_index"].append(tasks.index(goal))
            columns["next.done"].append(frame == len(steps) - 1)
        episodes.append({"episode_index": episode, "tasks": [goal], "length": len(steps),
                         "dataset_from_index": start, "dataset_to_index": len(columns["index"]),
                         "data/chunk_index": 0, "data/file_index": 0,
                         "status": trajectory.end.status if trajectory.end else "killed"})
    if not episodes:
        raise ExportError("give at least one run directory")
    missing = [name for name, values in columns.items() if len(values) != len(columns["index"])]
    if missing:
        raise ExportError(f"the runs do not all have the same images: {missing}")
    width = len(state_names or [])
    features = datasets.Features({
        **{key: datasets.Image() for key in columns if key.startswith("observation.images.")},
        "observation.state": datasets.Sequence(datasets.Value("float32"), length=width),
        "action": datasets.Sequence(datasets.Value("float32"), length=width),
        "action.tool": datasets.Value("string"), "action.arguments": datasets.Value("string"),
        "timestamp": datasets.Value("float32"), "frame_index": datasets.Value("int64"),
        "episode_index": datasets.Value("int64"), "index": datasets.Value("int64"),
        "task_index": datasets.Value("int64"), "next.done": datasets.Value("bool"),
    })
    (out / "data/chunk-000").mkdir(parents=True, exist_ok=True)
    (out / "meta/episodes/chunk-000").mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(out / DATA_FILE))
    datasets.Dataset.from_list(episodes).to_parquet(str(out / EPISODES_FILE))
    datasets.Dataset.from_dict({"task_index": list(range(len(tasks))), "task": tasks}).to_parquet(
        str(out / "meta/tasks.parquet"))
    info = _info(features, image_shapes, state_names or [], len(episodes), len(columns["index"]),
                 len(tasks), fps, environment or "unknown")
    (out / "meta/info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


def _info(features: Any, images: dict[str, tuple[int, int]], state: list[str], episodes: int,
          frames: int, tasks: int, fps: int, robot_type: str) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for key in features:
        if key.startswith("observation.images."):
            height, width = images[key.removeprefix("observation.images.")]
            described[key] = {"dtype": "image", "shape": [height, width, 3],
                              "names": ["height", "width", "channels"]}
        elif key in ("observation.state", "action"):
            described[key] = {"dtype": "float32", "shape": [len(state)], "names": state}
        else:
            dtype = features[key].dtype
            described[key] = {"dtype": dtype, "shape": [1], "names": None}
    return {"codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": episodes,
            "total_frames": frames, "total_tasks": tasks, "chunks_size": 1000, "fps": fps,
            "splits": {"train": f"0:{episodes}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": None, "features": described}
