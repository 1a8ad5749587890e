"""Trajectories out as a robot-learning dataset: the LeRobotDataset v3.0 layout, loaded by LeRobot's
own ``LeRobotDataset``, images stored in the parquet files (``dtype: image``) rather than as
videos, so no video decoder is needed.

One run is one episode; its goal is the task. Each recorded step is a frame:
``observation.images.<name>`` for every image; ``observation.state`` (the state's numbers,
flattened, named in ``info.json``) when the runs report a state (a robot; a phone or a desktop
has none); ``action``, the executed call in physical units: the tool's index, then one slot per
number any tool takes (agent/outputs/lerobot_meta.py), filled with the call's arguments resolved
for the device (metres, radians, device pixels: the trajectory's ``action.device``), 0 in the
slots of other tools; the exact call as ``action.tool`` and ``action.arguments`` (JSON, device
units); ``action.valid`` (the model's answer was a call the policy allowed) and
``action.executed`` (it reached the device). A step whose answer was invalid is a frame flagged
``action.valid`` false, its action all 0 but the tool slot -1; ``drop_invalid`` leaves such
frames out. ``next.reward`` is there when the environment reported rewards (Gymnasium).
``timestamp`` is ``frame_index / fps``: agent steps are events, not a clock (docs/embedding.md).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlagent.agent.core.views import recorded_state
from vlagent.agent.outputs import lerobot_meta as meta
from vlagent.agent.trajectory import Step, Trajectory, TrajectoryError, read_trajectory
from vlagent.agent.trajectory.files import (
    IMAGE_ERRORS,
    Content,
    FileError,
    read_inside,
    write_inside,
)
from vlagent.tools.errors import VlagentError
from vlagent.tools.files import sound_text

CODEBASE_VERSION = "v3.0"
DATA_FILE = "data/chunk-000/file-000.parquet"
EPISODES_FILE = "meta/episodes/chunk-000/file-000.parquet"
_COLUMNS = (
    "observation.state",
    "action",
    "action.tool",
    "action.arguments",
    "action.valid",
    "action.executed",
    "next.reward",
    "timestamp",
    "frame_index",
    "episode_index",
    "index",
    "task_index",
    "next.done",
)
"""The columns of every frame; one ``observation.images.<name>`` per image comes first.
``observation.state`` and ``next.reward`` are left out when no run has them."""


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
    episodes: list[tuple[int, str, int, int, str]] = field(default_factory=list)
    """(episode, task, first frame, frame after the last, the run's end status)"""
    image_shapes: dict[str, tuple[int, int]] = field(default_factory=dict)
    state_names: list[str] | None = None
    layout: list[tuple[str, str, Any]] | None = None
    tool_names: list[str] = field(default_factory=list)
    rewarded: bool = False


def export_lerobot(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    fps: int = 1,
    robot_type: str | None = None,
    drop_invalid: bool = False,
) -> Path:
    """Write ``run_dirs`` as one dataset in ``out`` (made; must be new or empty). Returns
    ``out``. ``drop_invalid``: leave out the frames of steps whose answer was invalid."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file; give a new directory")
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; give a new directory")
    dataset = _Dataset()
    environment = robot_type
    for run_dir in run_dirs:
        trajectory, steps = _recorded_steps(run_dir, drop_invalid)
        environment = environment or str(
            trajectory.header.environment.model_dump().get("name", "unknown")
        )
        _add_episode(dataset, run_dir, trajectory, steps, fps)
    if not dataset.episodes:
        raise ExportError("give at least one run directory")
    _write_dataset(out, dataset, fps, environment or "unknown")
    return out


def _recorded_steps(run_dir: str | Path, drop_invalid: bool) -> tuple[Trajectory, list[Step]]:
    """The run and its steps that have a screenshot (a step without one is no frame); without
    the invalid ones when ``drop_invalid``."""
    try:
        trajectory = read_trajectory(run_dir)
    except TrajectoryError as exc:
        raise ExportError(str(exc)) from None
    steps = [s for s in trajectory.steps if s.screenshot]
    if drop_invalid:
        steps = [s for s in steps if _valid(s)]
    if not steps:
        kept = "valid " if drop_invalid else ""
        raise ExportError(f"{run_dir} has no recorded {kept}steps")
    return trajectory, steps


def _valid(step: Step) -> bool:
    """The model's answer was a call, valid and allowed (whether or not it then worked)."""
    return step.action is not None and step.error is None


def _add_episode(
    dataset: _Dataset, run_dir: str | Path, trajectory: Trajectory, steps: list[Step], fps: int
) -> None:
    """One run as the next episode: its goal as a task, its steps as frames."""
    _check_tools(dataset, run_dir, trajectory)
    goal = sound_text(trajectory.header.goal)  # a parquet column takes no lone surrogate
    if goal not in dataset.tasks:
        dataset.tasks.append(goal)
    episode = len(dataset.episodes)
    start = len(dataset.columns["index"])
    states = _states(dataset, run_dir, steps)
    for frame, step in enumerate(steps):
        _add_images(dataset, trajectory, step)
        _add_frame(dataset, step, frame, states[frame], frame == len(steps) - 1)
        columns = dataset.columns
        columns["timestamp"].append(frame / fps)
        columns["episode_index"].append(episode)
        columns["task_index"].append(dataset.tasks.index(goal))
    status = trajectory.end.status if trajectory.end else "killed"
    dataset.episodes.append((episode, goal, start, len(dataset.columns["index"]), status))


def _check_tools(dataset: _Dataset, run_dir: str | Path, trajectory: Trajectory) -> None:
    """Every run must offer the same tools: they lay out the action vector."""
    tools = trajectory.header.tools
    names = [str(t.get("function", t).get("name", "")) for t in tools]
    if dataset.layout is None:
        dataset.layout, dataset.tool_names = meta.action_layout(tools), names
    elif [slot[0] for slot in meta.action_layout(tools)] != [s[0] for s in dataset.layout]:
        raise ExportError(
            f"{run_dir} offered the tools {names}, the runs before it {dataset.tool_names}: "
            "one dataset's actions need the same tools"
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


def _add_frame(dataset: _Dataset, step: Step, frame: int, state: list[float], last: bool) -> None:
    """The step's row in the columns of its action, state and place in the episode."""
    columns, layout = dataset.columns, dataset.layout or []
    action = step.action if _valid(step) else None
    if action is not None:
        vector = meta.action_vector(layout, dataset.tool_names, action.tool, action.device)
    else:
        vector = [-1.0] + [0.0] * (len(layout) - 1)
    said = step.result.data.get("reward") if step.result is not None else None
    reward = float(said) if isinstance(said, (int, float)) and not isinstance(said, bool) else None
    dataset.rewarded = dataset.rewarded or reward is not None
    columns["observation.state"].append(state)
    columns["action"].append(vector)
    columns["action.tool"].append(action.tool if action else "")
    columns["action.arguments"].append(json.dumps(action.device if action else {}))
    columns["action.valid"].append(action is not None)
    columns["action.executed"].append(step.executed)
    columns["next.reward"].append(reward or 0.0)
    columns["frame_index"].append(frame)
    columns["index"].append(len(columns["index"]))
    columns["next.done"].append(last)


def _write_dataset(out: Path, dataset: _Dataset, fps: int, robot_type: str) -> None:
    """Check the columns line up, then write the frames, the metadata and the stats."""
    columns = dict(dataset.columns)
    if not dataset.state_names:
        del columns["observation.state"]  # a phone or a desktop: no state to learn from
    if not dataset.rewarded:
        del columns["next.reward"]
    frames = len(columns["index"])
    missing = [name for name, values in columns.items() if len(values) != frames]
    if missing:
        raise ExportError(f"the runs do not all have the same images: {missing}")
    features = _features(columns, dataset)
    for key in ("observation.state", "action"):
        if key in features and features[key]["shape"] == [1]:  # LeRobot reads (1,) as a number
            columns[key] = [vector[0] for vector in columns[key]]
    stats = [meta.episode_stats(columns, features, a, b) for _, _, a, b, _ in dataset.episodes]
    rows = [
        {**meta.episode_row(e, task, a, b, s), "status": status}
        for (e, task, a, b, status), s in zip(dataset.episodes, stats, strict=True)
    ]
    _write_parquet(out, columns, features, rows, meta.tasks_table(dataset.tasks))
    info = meta.info(features, len(rows), frames, len(dataset.tasks), fps, robot_type)
    _write(out, "meta/stats.json", _json(meta.as_json(meta.aggregate(stats))))
    _write(out, "meta/info.json", _json(info))


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def _features(columns: dict[str, list[Any]], dataset: _Dataset) -> dict[str, dict[str, Any]]:
    """Each column as ``info.json`` describes it, in the columns' order."""
    state = dataset.state_names or []
    kinds = {
        "observation.state": meta.feature("float32", [len(state)], state),
        "action": meta.feature(
            "float32", [len(dataset.layout or [])], [slot[0] for slot in dataset.layout or []]
        ),
        "action.tool": meta.feature("string", [1]),
        "action.arguments": meta.feature("string", [1]),
        "action.valid": meta.feature("bool", [1]),
        "action.executed": meta.feature("bool", [1]),
        "next.reward": meta.feature("float32", [1]),
        "timestamp": meta.feature("float32", [1]),
        "next.done": meta.feature("bool", [1]),
    }
    described = {}
    for key in columns:
        if key.startswith("observation.images."):
            height, width = dataset.image_shapes[key.removeprefix("observation.images.")]
            described[key] = meta.feature(
                "image", [height, width, 3], ["height", "width", "channels"]
            )
        else:
            described[key] = kinds.get(key, meta.feature("int64", [1]))
    return described


def _write_parquet(
    out: Path,
    columns: dict[str, list[Any]],
    features: dict[str, dict[str, Any]],
    episodes: list[dict[str, Any]],
    tasks: Any,
) -> None:
    """The frames, the episodes and the tasks, each as the parquet file LeRobot reads."""
    import datasets

    datasets.disable_progress_bars()  # a library call, not a terminal session
    frames = datasets.Dataset.from_dict(columns, features=_arrow_types(features))
    _write(out, DATA_FILE, frames.to_parquet)
    _write(out, EPISODES_FILE, datasets.Dataset.from_list(episodes).to_parquet)
    _write(out, "meta/tasks.parquet", tasks.to_parquet)


def _arrow_types(features: dict[str, dict[str, Any]]) -> Any:
    """The ``datasets`` types LeRobot's ``get_hf_features_from_features`` gives these features."""
    import datasets

    types: dict[str, Any] = {}
    for key, described in features.items():
        shape = described["shape"]
        if described["dtype"] == "image":
            types[key] = datasets.Image()
        elif shape == [1]:
            types[key] = datasets.Value(described["dtype"])
        else:
            types[key] = datasets.Sequence(datasets.Value(described["dtype"]), length=shape[0])
    return datasets.Features(types)


def _write(out: Path, name: str, content: Content) -> None:
    """One file of the dataset, through the file layer (a link planted in ``out`` is replaced,
    never written through); a folder that cannot be written is one line."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_inside(out, name, content)
    except OSError as exc:
        raise ExportError(f"cannot write the dataset in {out}: {exc}") from None
