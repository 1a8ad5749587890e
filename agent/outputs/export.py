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

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlagent.agent.core.views import recorded_state
from vlagent.agent.trajectory import Step, Trajectory, TrajectoryError, read_trajectory
from vlagent.agent.trajectory.files import (
    IMAGE_ERRORS,
    Content,
    FileError,
    read_inside,
    write_inside,
)
from vlagent.tools.errors import VlagentError

CODEBASE_VERSION = "v3.0"
DATA_FILE = "data/chunk-000/file-000.parquet"
EPISODES_FILE = "meta/episodes/chunk-000/file-000.parquet"
_COLUMNS = (
    "observation.state",
    "action",
    "action.tool",
    "action.arguments",
    "timestamp",
    "frame_index",
    "episode_index",
    "index",
    "task_index",
    "next.done",
)
"""The columns every frame fills; one ``observation.images.<name>`` per image comes after."""


class ExportError(VlagentError, ValueError):
    """The runs cannot make one dataset (no steps, images that differ from run to run, a full out
    dir)."""


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


def _images(step: Step) -> dict[str, str]:
    """The step's images by name: the files the recording names for them, relative to the run."""
    name = step.image_name or "screen"
    found = {name: step.screenshot} if step.screenshot else {}
    found.update(step.views or {})
    return found


@dataclass
class _Dataset:
    """What the runs add up to, gathered run by run: nothing is written until every run has been
    read and checked."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {key: [] for key in _COLUMNS})
    tasks: list[str] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    image_shapes: dict[str, tuple[int, int]] = field(default_factory=dict)
    state_names: list[str] | None = None


def export_lerobot(
    run_dirs: Sequence[str | Path], out: str | Path, fps: int = 1, robot_type: str | None = None
) -> Path:
    """Write ``run_dirs`` as one dataset in ``out`` (made; must be new or empty). Returns
    ``out``."""
    import datasets

    datasets.disable_progress_bars()  # a library call, not a terminal session
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file; give a new directory")
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; give a new directory")
    dataset = _Dataset()
    environment = robot_type
    for episode, run_dir in enumerate(run_dirs):
        trajectory, steps = _recorded_steps(run_dir)
        environment = environment or str(
            trajectory.header.environment.model_dump().get("name", "unknown")
        )
        _add_episode(dataset, episode, run_dir, trajectory, steps, fps)
    if not dataset.episodes:
        raise ExportError("give at least one run directory")
    frames = len(dataset.columns["index"])
    missing = [name for name, values in dataset.columns.items() if len(values) != frames]
    if missing:
        raise ExportError(f"the runs do not all have the same images: {missing}")
    features = _features(dataset.columns, len(dataset.state_names or []))
    _write_parquet(out, dataset, features)
    info = _info(
        features,
        dataset.image_shapes,
        dataset.state_names or [],
        len(dataset.episodes),
        frames,
        len(dataset.tasks),
        fps,
        environment or "unknown",
    )
    _write(out, "meta/info.json", (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    return out


def _recorded_steps(run_dir: str | Path) -> tuple[Trajectory, list[Step]]:
    """The run and its steps that have a screenshot (a step without one is no frame)."""
    try:
        trajectory = read_trajectory(run_dir)
    except TrajectoryError as exc:
        raise ExportError(str(exc)) from None
    steps = [s for s in trajectory.steps if s.screenshot]
    if not steps:
        raise ExportError(f"{run_dir} has no recorded steps")
    return trajectory, steps


def _add_episode(
    dataset: _Dataset,
    episode: int,
    run_dir: str | Path,
    trajectory: Trajectory,
    steps: list[Step],
    fps: int,
) -> None:
    """One run as episode number ``episode``: its goal as a task, its steps as frames."""
    goal = trajectory.header.goal
    if goal not in dataset.tasks:
        dataset.tasks.append(goal)
    start = len(dataset.columns["index"])
    states = _states(dataset, run_dir, steps)
    for frame, step in enumerate(steps):
        _add_images(dataset, trajectory, step)
        _add_frame(dataset.columns, step, frame, states, episode, dataset.tasks.index(goal), fps)
    dataset.episodes.append(
        {
            "episode_index": episode,
            "tasks": [goal],
            "length": len(steps),
            "dataset_from_index": start,
            "dataset_to_index": len(dataset.columns["index"]),
            "data/chunk_index": 0,
            "data/file_index": 0,
            "status": trajectory.end.status if trajectory.end else "killed",
        }
    )


def _states(dataset: _Dataset, run_dir: str | Path, steps: list[Step]) -> list[list[float]]:
    """Each step's state as numbers; every step of every run must name the same ones (the first
    step read sets them)."""
    states = []
    for step in steps:
        names, values = _flat(step.state or {})
        if dataset.state_names is None:
            dataset.state_names = names
        elif names != dataset.state_names:
            raise ExportError(
                f"{run_dir} step {step.index}: state {names} differs from {dataset.state_names}"
            )
        states.append(values)
    return states


def _add_images(dataset: _Dataset, trajectory: Trajectory, step: Step) -> None:
    """The step's images, as parquet image cells; each name keeps the size it first had."""
    from PIL import Image

    for name, file in _images(step).items():
        path = trajectory.path / file
        try:  # the file layer: only a regular file inside the run, reached without a link
            data = read_inside(trajectory.path, file)
            with Image.open(io.BytesIO(data)) as image:
                size = (image.height, image.width)
        except FileError as exc:
            raise ExportError(
                f"step {step.index}: {exc}; a run's images are read from inside it"
            ) from None
        except IMAGE_ERRORS as exc:
            raise ExportError(f"{path}: not a picture ({type(exc).__name__})") from None
        if dataset.image_shapes.setdefault(name, size) != size:
            raise ExportError(
                f"{path}: image {name!r} is {size}, earlier ones {dataset.image_shapes[name]}"
            )
        dataset.columns.setdefault(f"observation.images.{name}", []).append(
            {"bytes": data, "path": None}
        )


def _add_frame(
    columns: dict[str, list[Any]],
    step: Step,
    frame: int,
    states: list[list[float]],
    episode: int,
    task: int,
    fps: int,
) -> None:
    """The step's row in every column but the images; its action is the next step's state (the
    last frame repeats its own)."""
    last = len(states) - 1
    columns["observation.state"].append(states[frame])
    columns["action"].append(states[min(frame + 1, last)])
    columns["action.tool"].append(step.action.tool if step.action else "")
    columns["action.arguments"].append(json.dumps(step.action.model if step.action else {}))
    columns["timestamp"].append(frame / fps)
    columns["frame_index"].append(frame)
    columns["episode_index"].append(episode)
    columns["index"].append(len(columns["index"]))
    columns["task_index"].append(task)
    columns["next.done"].append(frame == last)


def _features(columns: dict[str, list[Any]], width: int) -> Any:
    """The ``datasets`` types of the columns: images, state and action vectors ``width`` long."""
    import datasets

    return datasets.Features(
        {
            **{key: datasets.Image() for key in columns if key.startswith("observation.images.")},
            # A run with no state (a phone, a desktop) has empty vectors: arrow has no fixed size
            # 0, so their length is left open (-1).
            "observation.state": datasets.Sequence(datasets.Value("float32"), length=width or -1),
            "action": datasets.Sequence(datasets.Value("float32"), length=width or -1),
            "action.tool": datasets.Value("string"),
            "action.arguments": datasets.Value("string"),
            "timestamp": datasets.Value("float32"),
            "frame_index": datasets.Value("int64"),
            "episode_index": datasets.Value("int64"),
            "index": datasets.Value("int64"),
            "task_index": datasets.Value("int64"),
            "next.done": datasets.Value("bool"),
        }
    )


def _write_parquet(out: Path, dataset: _Dataset, features: Any) -> None:
    """The frames, the episodes and the tasks, each as the parquet file LeRobot reads."""
    import datasets

    tasks = dataset.tasks
    for name, table in (
        (DATA_FILE, datasets.Dataset.from_dict(dataset.columns, features=features)),
        (EPISODES_FILE, datasets.Dataset.from_list(dataset.episodes)),
        (
            "meta/tasks.parquet",
            datasets.Dataset.from_dict({"task_index": list(range(len(tasks))), "task": tasks}),
        ),
    ):
        _write(out, name, table.to_parquet)


def _write(out: Path, name: str, content: Content) -> None:
    """One file of the dataset, through the file layer (a link planted in ``out`` is replaced,
    never written through); a folder that cannot be written is one line."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_inside(out, name, content)
    except OSError as exc:
        raise ExportError(f"cannot write the dataset in {out}: {exc}") from None


def _info(
    features: Any,
    images: dict[str, tuple[int, int]],
    state: list[str],
    episodes: int,
    frames: int,
    tasks: int,
    fps: int,
    robot_type: str,
) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for key in features:
        if key.startswith("observation.images."):
            height, width = images[key.removeprefix("observation.images.")]
            described[key] = {
                "dtype": "image",
                "shape": [height, width, 3],
                "names": ["height", "width", "channels"],
            }
        elif key in ("observation.state", "action"):
            described[key] = {"dtype": "float32", "shape": [len(state)], "names": state}
        else:
            dtype = features[key].dtype
            described[key] = {"dtype": dtype, "shape": [1], "names": None}
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": episodes,
        "total_frames": frames,
        "total_tasks": tasks,
        "chunks_size": 1000,
        "fps": fps,
        "splits": {"train": f"0:{episodes}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": None,
        "features": described,
    }
