"""The parts of a LeRobotDataset v3.0 that describe its frames, as LeRobot's own loader reads them
(``lerobot.datasets.utils``: ``load_info``, ``load_tasks``, ``load_episodes``, ``load_stats``):

- ``meta/info.json``: the features, with the fields LeRobot's ``create_empty_dataset_info``
  writes (``data_files_size_in_mb``, ``video_files_size_in_mb`` among them);
- ``meta/tasks.parquet``: indexed by the task's text, its ``task_index`` a column, so that
  ``tasks.iloc[i].name`` is task ``i``;
- ``meta/episodes/…parquet``: one row per episode with LeRobot's columns, its ``stats/<feature>/
  <stat>`` included;
- ``meta/stats.json``: min, max, mean, std, count and the q01…q99 quantiles of every number
  feature (images per channel, in [0, 1], shaped (3, 1, 1)).

And the action's layout: one slot per number an executed call can carry, from the tools the runs
offered (agent/outputs/export.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
"""LeRobot's defaults (``DEFAULT_CHUNK_SIZE``, ``DEFAULT_DATA_FILE_SIZE_IN_MB``, …)."""
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
"""LeRobot's ``DEFAULT_QUANTILES``: stats name them q01, q10, q50, q90, q99."""
STATS_IMAGE_SIDE = 150
"""Images are thinned to about this many pixels a side for their stats, as LeRobot samples them."""


# -- the action's layout ---------------------------------------------------------------------------


def action_layout(tools: Sequence[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """The action vector's slots for the tools a run offered (function schemas, as the
    trajectory header lists them): ``tool`` (the executed tool's index), then per tool each
    argument that is a number, a flag, a choice (its index) or a fixed number of numbers (one
    slot each, a point's x and y). Each slot: (name, tool, how to read it)."""
    slots: list[tuple[str, str, Any]] = [("tool", "", None)]
    for tool in tools:
        function = tool.get("function", tool)
        name = str(function.get("name", ""))
        properties = function.get("parameters", {}).get("properties", {})
        for argument, schema in properties.items():
            for suffix, read in _argument_slots(schema):
                slots.append((f"{name}.{argument}{suffix}", name, (argument, read)))
    return slots


def _argument_slots(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    kind = schema.get("type")
    if "enum" in schema:
        choices = list(schema["enum"])
        return [("", lambda v, c=choices: float(c.index(v)) if v in c else -1.0)]
    if kind in ("number", "integer", "boolean"):
        return [("", float)]
    items = schema.get("items", {})
    count = schema.get("minItems")
    if (
        kind == "array"
        and isinstance(items, dict)
        and items.get("type") in ("number", "integer")
        and count is not None
        and count == schema.get("maxItems")
    ):
        return [(f".{i}", lambda v, i=i: float(v[i])) for i in range(int(count))]
    return []  # text and lists of words stay in action.arguments


def action_vector(
    layout: list[tuple[str, str, Any]], tool_names: list[str], tool: str, device: dict[str, Any]
) -> list[float]:
    """The executed call ``tool(**device)`` (its arguments resolved to device units: pixels,
    metres) in ``layout``'s slots; the slots of other tools, and arguments it left out, are 0."""
    vector = [float(tool_names.index(tool)) if tool in tool_names else -1.0]
    for _, owner, how in layout[1:]:
        argument, read = how
        value = device.get(argument) if owner == tool else None
        try:
            vector.append(0.0 if value is None else read(value))
        except (TypeError, ValueError, IndexError):
            vector.append(0.0)
    return vector


# -- info, tasks, episodes ----------------------------------------------------------------------


def feature(dtype: str, shape: Sequence[int], names: Any = None) -> dict[str, Any]:
    return {"dtype": dtype, "shape": list(shape), "names": names}


def info(
    features: dict[str, dict[str, Any]],
    episodes: int,
    frames: int,
    tasks: int,
    fps: int,
    robot_type: str,
) -> dict[str, Any]:
    """``meta/info.json`` as LeRobot's ``create_empty_dataset_info`` makes it, filled in."""
    return {
        "codebase_version": "v3.0",
        "robot_type": robot_type,
        "total_episodes": episodes,
        "total_frames": frames,
        "total_tasks": tasks,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
        "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
        "fps": fps,
        "splits": {"train": f"0:{episodes}"},
        "data_path": DATA_PATH,
        "video_path": None,
        "features": features,
    }


def tasks_table(tasks: list[str]) -> Any:
    """``meta/tasks.parquet``: indexed by the task's text, as LeRobot's ``save_episode_tasks``
    writes it (``tasks.iloc[i].name`` is task ``i``; ``tasks.loc[text].task_index`` its index)."""
    import pandas as pd

    return pd.DataFrame({"task_index": list(range(len(tasks)))}, index=tasks)


def episode_row(
    episode: int, task: str, start: int, stop: int, stats: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One row of ``meta/episodes``: LeRobot's columns, its stats flattened as
    ``stats/<feature>/<stat>``."""
    row: dict[str, Any] = {
        "episode_index": episode,
        "tasks": [task],
        "length": stop - start,
        "data/chunk_index": 0,
        "data/file_index": 0,
        "dataset_from_index": start,
        "dataset_to_index": stop,
        "meta/episodes/chunk_index": 0,
        "meta/episodes/file_index": 0,
    }
    for key, values in stats.items():
        for stat, value in values.items():
            row[f"stats/{key}/{stat}"] = value.tolist()
    return row


# -- stats ---------------------------------------------------------------------------------------


def episode_stats(
    columns: dict[str, list[Any]], features: dict[str, dict[str, Any]], start: int, stop: int
) -> dict[str, dict[str, Any]]:
    """The stats of frames ``start``…``stop`` of every number and image feature."""
    import numpy as np

    found: dict[str, dict[str, Any]] = {}
    for key, described in features.items():
        values = columns[key][start:stop]
        if described["dtype"] == "image":
            found[key] = _image_stats(values)
        elif described["dtype"] in ("float32", "int64", "bool"):
            array = np.asarray(values, dtype=np.float64)
            found[key] = _stats(array.reshape(len(values), -1), len(values))
    return found


def _stats(array: Any, count: int) -> dict[str, Any]:
    """Per column of ``array`` (samples × values): LeRobot's statistics."""
    import numpy as np

    found = {
        "min": array.min(axis=0),
        "max": array.max(axis=0),
        "mean": array.mean(axis=0),
        "std": array.std(axis=0),
        "count": np.array([count]),
    }
    for q in QUANTILES:
        found[f"q{round(q * 100):02d}"] = np.quantile(array, q, axis=0)
    return found


def _image_stats(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Per channel, over every frame's pixels (thinned), in [0, 1], shaped (3, 1, 1)."""
    import io

    import numpy as np
    from PIL import Image

    pixels = []
    for cell in cells:
        with Image.open(io.BytesIO(cell["bytes"])) as image:
            array = np.asarray(image.convert("RGB"))
        step = max(1, max(array.shape[:2]) // STATS_IMAGE_SIDE)
        pixels.append(array[::step, ::step].reshape(-1, 3))
    found = _stats(np.concatenate(pixels).astype(np.float64) / 255.0, len(cells))
    return {k: v if k == "count" else v.reshape(3, 1, 1) for k, v in found.items()}


def aggregate(stats: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The dataset's stats from its episodes', as LeRobot's ``aggregate_stats`` combines them:
    min of mins, max of maxes, means and variances weighted by count, quantiles weighted too."""
    import numpy as np

    combined: dict[str, dict[str, Any]] = {}
    for key in stats[0]:
        parts = [s[key] for s in stats]
        counts = np.stack([p["count"] for p in parts]).astype(np.float64)
        total = counts.sum(axis=0)
        means = np.stack([p["mean"] for p in parts])
        weights = counts.reshape(-1, *[1] * (means.ndim - 1))
        mean = (means * weights).sum(axis=0) / total
        variance = ((np.stack([p["std"] for p in parts]) ** 2 + (means - mean) ** 2) * weights).sum(
            axis=0
        ) / total
        found = {
            "min": np.min(np.stack([p["min"] for p in parts]), axis=0),
            "max": np.max(np.stack([p["max"] for p in parts]), axis=0),
            "mean": mean,
            "std": np.sqrt(variance),
            "count": total.astype(np.int64),
        }
        for q in [k for k in parts[0] if k.startswith("q")]:
            found[q] = (np.stack([p[q] for p in parts]) * weights).sum(axis=0) / total
        combined[key] = found
    return combined


def as_json(stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: {stat: v.tolist() for stat, v in values.items()} for key, values in stats.items()}
