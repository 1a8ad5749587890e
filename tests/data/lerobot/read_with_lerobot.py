"""Read a vlagent export as LeRobot reads it and print every frame and the metadata as JSON.

    PYTHON_WITH_LEROBOT read_with_lerobot.py DATASET_DIR        # LeRobot's own LeRobotDataset
    python read_with_lerobot.py --oracle DATASET_DIR             # its v3.0 loader, step by step

The second reads the files with pandas, pyarrow and ``datasets`` exactly as LeRobot 0.4's
``LeRobotDatasetMetadata.load_metadata`` and ``LeRobotDataset.load_hf_dataset`` /
``__getitem__`` do (``lerobot/datasets/utils.py``: ``load_info``, ``load_tasks``,
``load_episodes``, ``load_stats``, ``get_hf_features_from_features``): for machines where LeRobot
cannot be installed. Images come out as sha256 digests of their H×W×3 uint8 pixels.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _digest(image: Any) -> str:
    """An image as LeRobot hands it out (C×H×W floats in [0, 1], or a PIL image) → the digest
    of its H×W×3 uint8 pixels."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.transpose(np.rint(array * 255.0), (1, 2, 0)).astype(np.uint8)
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _plain(value: Any) -> Any:
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def with_lerobot(root: Path) -> dict[str, Any]:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/vlagent-export", root=root)
    camera_keys = set(dataset.meta.camera_keys)
    frames = []
    for index in range(len(dataset)):
        item = dataset[index]
        frames.append({k: _digest(v) if k in camera_keys else _plain(v) for k, v in item.items()})
    meta = dataset.meta
    return {
        "frames": frames,
        "info": meta.info,
        "tasks": [str(meta.tasks.iloc[i].name) for i in range(len(meta.tasks))],
        "task_index": {str(t): int(meta.tasks.loc[t].task_index) for t in meta.tasks.index},
        "episodes": meta.episodes.column_names,
        "episode_rows": [dict(meta.episodes[i]) for i in range(len(meta.episodes))],
        "stats": {k: {s: _plain(v) for s, v in st.items()} for k, st in (meta.stats or {}).items()},
        "camera_keys": sorted(camera_keys),
    }


def with_oracle(root: Path) -> dict[str, Any]:
    """LeRobot 0.4's v3.0 loading, line for line, without torch."""
    import datasets
    import pandas as pd

    info = json.loads((root / "meta/info.json").read_text())  # load_info
    for ft in info["features"].values():
        ft["shape"] = tuple(ft["shape"])
    tasks = pd.read_parquet(root / "meta/tasks.parquet")  # load_tasks
    paths = sorted((root / "meta/episodes").glob("*/*.parquet"))  # load_episodes
    episodes = datasets.Dataset.from_parquet([str(p) for p in paths])
    episodes = episodes.select_columns([k for k in episodes.features if not k.startswith("stats/")])
    stats_file = root / "meta/stats.json"  # load_stats
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else None
    hf_features = {}  # get_hf_features_from_features
    for key, ft in info["features"].items():
        if ft["dtype"] == "image":
            hf_features[key] = datasets.Image()
        elif ft["shape"] == (1,):
            hf_features[key] = datasets.Value(dtype=ft["dtype"])
        elif len(ft["shape"]) == 1:
            hf_features[key] = datasets.Sequence(
                length=ft["shape"][0], feature=datasets.Value(dtype=ft["dtype"])
            )
        else:
            raise ValueError(f"Corresponding feature is not valid: {ft}")
    data = sorted((root / "data").glob("*/*.parquet"))  # load_nested_dataset
    frames_data = datasets.Dataset.from_parquet(
        [str(p) for p in data], features=datasets.Features(hf_features)
    )
    camera_keys = {k for k, ft in info["features"].items() if ft["dtype"] in ("image", "video")}
    frames = []
    for index in range(info["total_frames"]):
        item = frames_data[index]
        out = {k: _digest(v) if k in camera_keys else _plain(v) for k, v in item.items()}
        out["task"] = str(tasks.iloc[item["task_index"]].name)  # __getitem__
        frames.append(out)
    return {
        "frames": frames,
        "info": info,
        "tasks": [str(tasks.iloc[i].name) for i in range(len(tasks))],
        "task_index": {str(t): int(tasks.loc[t].task_index) for t in tasks.index},
        "episodes": episodes.column_names,
        "episode_rows": [dict(episodes[i]) for i in range(len(episodes))],
        "stats": {
            k: {s: np.array(v).tolist() for s, v in st.items()} for k, st in (stats or {}).items()
        },
        "camera_keys": sorted(camera_keys),
    }


if __name__ == "__main__":
    oracle = sys.argv[1] == "--oracle"
    read = with_oracle if oracle else with_lerobot
    print(json.dumps(read(Path(sys.argv[-1])), default=_plain))
