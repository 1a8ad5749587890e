"""Reading gold episodes: AITW / AITZ episode JSON, AndroidControl episodes, our own trajectories.

Each dataset's actions become ``mobile_use`` arguments in ``actions.py`` (scroll conventions
there); TFRecord files as distributed are read in ``published.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from vlagent.agent.evaluation import published, tfrecord
from vlagent.agent.evaluation.actions import aitw_action, androidcontrol_action
from vlagent.agent.evaluation.gold import Episode, GoldStep, target_boxes
from vlagent.agent.trajectory import TrajectoryError, read_trajectory
from vlagent.tools.errors import VlagentError

FORMATS = ("auto", "aitz", "aitw", "androidcontrol", "trajectory")
_NOT_DATA = {".png", ".jpg", ".jpeg", ".webp", ".html", ".md", ".txt", ".py"}


class DatasetError(VlagentError, ValueError):
    """A dataset that cannot be read; the message names the file and what is wrong."""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def load_aitz(path: Path) -> Episode:
    """One AITZ episode file: a list of steps with AITW action fields and ``ui_positions``
    (``[y, x, h, w]`` pixels). Screenshots are found beside the file or under ``image_path``."""
    try:
        steps = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(steps, list) or not steps:
            raise DatasetError(f"{path}: an AITZ episode is a non-empty JSON list of steps")
        episode = Episode(
            id=str(steps[0]["episode_id"]), goal=str(steps[0]["instruction"]), source=str(path)
        )
        for raw in sorted(steps, key=lambda s: int(s["step_id"])):
            image = _find_image(path.parent, str(raw["image_path"]))
            with Image.open(image) as opened:
                width, height = opened.size
            boxes = tuple(
                (x / width, y / height, (x + w) / width, (y + h) / height)
                for y, x, h, w in _json(raw.get("ui_positions", "[]"))
            )
            arguments = aitw_action(
                int(raw["result_action_type"]),
                _json(raw["result_touch_yx"]),
                _json(raw["result_lift_yx"]),
                str(raw.get("result_action_text", "")),
            )
            label = raw.get("coat_action_desc")
            episode.steps.append(
                GoldStep(
                    int(raw["step_id"]),
                    image,
                    "mobile_use",
                    arguments,
                    boxes,
                    label=str(label) if label else None,
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: not an AITZ episode ({type(exc).__name__}: {exc})") from None
    return episode


def load_androidcontrol(path: Path) -> Episode:
    """One AndroidControl episode as JSON: ``episode_id``, ``goal``, ``screenshots`` (paths
    beside the file), ``actions`` (AndroidControl's action dicts, points in pixels), optional
    ``step_instructions`` and ``elements`` (per step, boxes ``[left, top, right, bottom]`` in
    pixels; a tap's target is the smallest of them holding the gold point, a box covering half the
    screen or more never is)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        episode = Episode(id=str(data["episode_id"]), goal=str(data["goal"]), source=str(path))
        instructions = data.get("step_instructions") or []
        if len(data["screenshots"]) < len(
            data["actions"]
        ):  # AndroidControl has one more (the last screen)
            raise DatasetError(
                f"{path}: {len(data['actions'])} actions but {len(data['screenshots'])} "
                "screenshots; each action needs the screenshot it was taken on"
            )
        for index, (shot, action) in enumerate(zip(data["screenshots"], data["actions"])):
            image = _find_image(path.parent, str(shot))
            with Image.open(image) as opened:
                width, height = opened.size
            boxes = tuple(
                (b[0] / width, b[1] / height, b[2] / width, b[3] / height)
                for b in (data.get("elements") or [[]] * len(data["actions"]))[index]
            )
            arguments = androidcontrol_action(action, width, height)
            tap = arguments["action"] in ("click", "long_press")
            targets = target_boxes(arguments["coordinate"], boxes) if tap else ()
            episode.steps.append(
                GoldStep(
                    index,
                    image,
                    "mobile_use",
                    arguments,
                    boxes,
                    instructions[index] if index < len(instructions) else None,
                    targets=targets,
                )
            )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DatasetError(
            f"{path}: not an AndroidControl episode ({type(exc).__name__}: {exc})"
        ) from None
    return episode


def load_trajectory_episode(path: Path) -> Episode:
    """A run recorded by ``agent run``: its executed actions (and how it ended) are the gold."""
    try:
        trajectory = read_trajectory(path)
    except TrajectoryError as exc:
        raise DatasetError(str(exc)) from None
    episode = Episode(id=trajectory.path.name, goal=trajectory.header.goal, source=str(path))
    for step in trajectory.steps:
        action, shot = step.action, trajectory.screenshot(step)
        if action is None or step.error is not None or shot is None:
            continue
        episode.steps.append(
            GoldStep(len(episode.steps), shot, action.tool, dict(action.normalized))
        )
    return episode


def _find_image(folder: Path, image_path: str) -> Path:
    for candidate in (folder / Path(image_path).name, folder / image_path):
        if candidate.is_file():
            return candidate
    raise ValueError(f"screenshot {image_path!r} not found beside the episode")


def _guess(path: Path) -> str | None:
    if path.is_dir():
        return "trajectory" if (path / "trajectory.jsonl").is_file() else None
    if path.name == "trajectory.jsonl":
        return "trajectory"
    if path.suffix != ".json":
        return _guess_tfrecord(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        isinstance(data, list)
        and data
        and isinstance(data[0], dict)
        and "result_action_type" in data[0]
    ):
        return "aitz"
    if isinstance(data, dict) and "actions" in data and "goal" in data:
        return "androidcontrol"
    return None


def _guess_tfrecord(path: Path) -> str | None:
    """AITW or AndroidControl, for a TFRecord file, from the features of its first record."""
    if path.suffix.lower() in _NOT_DATA or not tfrecord.is_tfrecord(path):
        return None
    try:
        features = tfrecord.example(next(tfrecord.records(path)))
    except (tfrecord.RecordError, StopIteration):
        return None
    if "results/action_type" in features:
        return "aitw-tfrecord"
    if "accessibility_trees" in features or "step_instructions" in features:
        return "androidcontrol-tfrecord"
    return None


def _load_tfrecord(path: Path, kind: str, level: str | None) -> list[Episode]:
    try:
        examples = (tfrecord.example(record) for record in tfrecord.records(path))
        if kind == "aitw-tfrecord":
            return published.aitw_steps(examples, path)
        return [
            published.androidcontrol_episode(features, path, level or "high")
            for features in examples
        ]
    except tfrecord.RecordError as exc:
        raise DatasetError(str(exc)) from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DatasetError(
            f"{path}: not {kind.split('-')[0]} data ({type(exc).__name__}: {exc})"
        ) from None


LOADERS = {
    "aitz": load_aitz,
    "androidcontrol": load_androidcontrol,
    "trajectory": load_trajectory_episode,
}


def load_dataset(
    path: str | Path, fmt: str = "auto", level: str | None = None, split: str | None = None
) -> list[Episode]:
    """Every episode in ``path`` (a file, a run directory, or a folder searched recursively).

    ``level`` (AndroidControl): "high" gives the goal only, "low" adds each step's instruction;
    None keeps JSON episodes' instructions and reads TFRecords as "high". ``split`` keeps the
    episodes of that split of the dataset's ``splits.json``."""
    root = Path(path)
    if not root.exists():
        raise DatasetError(f"no dataset at {root}")
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if level is not None and level not in published.LEVELS:
        raise DatasetError(f"unknown level {level!r}; high or low")
    episodes: list[Episode] = []
    for candidate in _candidates(root):
        kind = _guess(candidate)
        if kind is None or (fmt != "auto" and kind.split("-")[0] != fmt):
            continue
        if kind.endswith("-tfrecord"):
            found = _load_tfrecord(candidate, kind, level)
        else:
            found = [LOADERS[kind](candidate)]
            if level == "high":
                found[0].steps = [replace(step, instruction=None) for step in found[0].steps]
        for episode in found:
            episode.benchmark = kind.split("-")[0]
        episodes += found
    if split is not None:
        try:
            wanted = published.split_ids(root, split)
        except (OSError, ValueError) as exc:
            raise DatasetError(str(exc)) from None
        episodes = [e for e in episodes if e.id in wanted]
    if not episodes:
        raise DatasetError(
            f"no {'' if fmt == 'auto' else fmt + ' '}episodes found in {root}"
            + (f" (split {split})" if split else "")
        )
    return episodes


def _candidates(root: Path) -> Iterator[Path]:
    if root.is_file() or (root / "trajectory.jsonl").is_file():
        yield root
        return
    for found in sorted(root.rglob("*")):
        if found.is_file() and found.suffix.lower() not in _NOT_DATA:
            yield found
        elif found.is_dir() and (found / "trajectory.jsonl").is_file():
            yield found
