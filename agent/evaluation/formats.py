"""Reading gold episodes: AITW / AITZ episode JSON, AndroidControl episodes, our own trajectories.

Each dataset's actions become ``mobile_use`` arguments in ``actions.py`` (scroll conventions
there); TFRecord files as distributed are read in ``published.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from vlagent.agent.evaluation import published, tfrecord
from vlagent.agent.evaluation.actions import aitw_action, androidcontrol_action
from vlagent.agent.evaluation.gold import Episode, GoldStep, target_boxes
from vlagent.agent.trajectory import TrajectoryError, read_trajectory
from vlagent.tools.errors import VlagentError
from vlagent.tools.files import FileError, MissingFile, check_inside

FORMATS = ("auto", "aitz", "aitw", "androidcontrol", "trajectory")
_SHARD = re.compile(r"(-\d+-of-\d+|\.tfrecords?(\.gz)?)$", re.IGNORECASE)
"""How TFRecord shards are named (``android_control-00003-of-00020``, ``x.tfrecord.gz``)."""
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
        first = steps[0]
        episode = Episode(
            id=str(first["episode_id"]),
            goal=str(first["instruction"]),
            source=str(path),
            category=_aitz_category(first),
            length=_said_length(steps),
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


def _said_length(steps: list[dict[str, Any]]) -> int | None:
    """How many steps the episode says it has: every step says it (AITZ's ``episode_length``),
    and steps that disagree are damage."""
    said = {int(step["episode_length"]) for step in steps if "episode_length" in step}
    if len(said) > 1:
        raise ValueError(
            f"its steps disagree on episode_length ({', '.join(map(str, sorted(said)))})"
        )
    return said.pop() if said else None


def _aitz_category(step: dict[str, Any]) -> str:
    """The AITZ subset (GOOGLE_APPS, GENERAL, ...): its own field, else the first folder of its
    ``image_path`` (``google_apps/GOOGLE_APPS-…/…png``)."""
    parts = Path(str(step.get("image_path", ""))).parts
    return str(step.get("subset") or (parts[0] if len(parts) > 1 else "")).upper()


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
    for number, step in enumerate(trajectory.steps):
        action, shot = step.action, trajectory.screenshot(step)
        if action is None or step.error is not None or shot is None:
            why = "no action" if action is None else "an error" if step.error else "no screenshot"
            episode.skipped_steps.append((number, f"the recorded step has {why}: not gold"))
            continue
        episode.steps.append(
            GoldStep(len(episode.steps), shot, action.tool, dict(action.normalized))
        )
    return episode


def _find_image(folder: Path, image_path: str) -> Path:
    """The episode's screenshot, beside it or below it: through the file layer, so a path the
    data names never leaves its folder (absolute, ``..``, a link) nor reads a special file."""
    refusal: FileError | None = None
    for candidate in (PurePosixPath(image_path).name, image_path):
        try:
            return check_inside(folder, candidate)
        except MissingFile:
            continue
        except FileError as exc:
            refusal = exc
    if refusal is not None:
        raise ValueError(f"screenshot {image_path!r} refused: {refusal}")
    raise ValueError(f"screenshot {image_path!r} not found beside the episode")


DAMAGED = "damaged"
"""The kind of a file that is a dataset file by its make (JSON, GZIP, TFRecord framing) but
cannot be read: never skipped without a word (``dataset.py`` decides)."""


def classify(path: Path) -> tuple[str | None, str]:
    """What ``path`` holds: (kind, why) with kind one of ``aitz``, ``androidcontrol``,
    ``trajectory``, ``aitw-tfrecord``, ``androidcontrol-tfrecord``, :data:`DAMAGED`, or None for
    a file that is no dataset file at all; ``why`` says how that was decided."""
    if path.is_dir():
        if (path / "trajectory.jsonl").is_file():
            return "trajectory", "a run directory"
        return None, "a folder without trajectory.jsonl"
    if path.name == "trajectory.jsonl":
        return "trajectory", "a trajectory file"
    if path.suffix.lower() == ".json":
        return _classify_json(path)
    return _classify_binary(path)


def _classify_json(path: Path) -> tuple[str | None, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return DAMAGED, f"not readable JSON ({type(exc).__name__}: {str(exc)[:120]})"
    if (
        isinstance(data, list)
        and data
        and isinstance(data[0], dict)
        and "result_action_type" in data[0]
    ):
        return "aitz", "an AITZ episode (a list of steps with result_action_type)"
    if isinstance(data, dict) and "actions" in data and "goal" in data:
        return "androidcontrol", "an AndroidControl episode (goal and actions)"
    return None, "JSON that is neither an AITZ nor an AndroidControl episode"


def _classify_binary(path: Path) -> tuple[str | None, str]:
    """AITW or AndroidControl, for a TFRecord file, from the features of its first record; a
    compressed or TFRecord-framed file that cannot be read is damaged."""
    if path.suffix.lower() in _NOT_DATA:
        return None, f"a {path.suffix.lower()} file"
    framed = tfrecord.is_tfrecord(path)
    if not framed and not tfrecord.is_gzip(path):
        if _SHARD.search(path.name):  # named as a shard is: one cut short or emptied
            return DAMAGED, "named as a TFRecord shard but not readable as one"
        return None, "neither JSON nor a TFRecord file"
    try:
        features = tfrecord.example(next(tfrecord.records(path)))
    except StopIteration:  # a shard emptied or cut to nothing: no dataset ships one
        return DAMAGED, "a compressed or TFRecord file that holds no records"
    except tfrecord.RecordError as exc:
        if not framed:  # a GZIP file: a TFRecord shard whose stream broke, or another archive
            return DAMAGED, f"compressed data that is no readable TFRecord file ({exc})"
        return DAMAGED, str(exc)
    if "results/action_type" in features:
        return "aitw-tfrecord", "AITW TFRecords (results/action_type)"
    if "accessibility_trees" in features or "step_instructions" in features:
        return "androidcontrol-tfrecord", "AndroidControl TFRecords (accessibility_trees)"
    return None, "a TFRecord file of neither AITW nor AndroidControl examples"


def load_tfrecord(path: Path, kind: str, level: str | None) -> list[Episode]:
    try:
        examples = (tfrecord.example(record) for record in tfrecord.records(path))
        if kind == "aitw-tfrecord":
            return published.aitw_steps(examples, path)
        return [
            published.androidcontrol_episode(features, path, level or "high")
            for features in examples
        ]
    except tfrecord.RecordError as exc:
        message = str(exc)
        raise DatasetError(message if str(path) in message else f"{path}: {message}") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DatasetError(
            f"{path}: not {kind.split('-')[0]} data ({type(exc).__name__}: {exc})"
        ) from None


LOADERS = {
    "aitz": load_aitz,
    "androidcontrol": load_androidcontrol,
    "trajectory": load_trajectory_episode,
}


def candidates(root: Path) -> tuple[list[Path], int, list[Path]]:
    """The files (and run directories) under ``root`` that may hold episodes, in a stable order,
    how many other files there are (screenshots and documents, by their suffix), and the links
    found (to files or folders, broken or not: a dataset is read without following links, and
    each is accounted for rather than dropped without a word). Files inside a run directory
    belong to it."""
    if root.is_file() or (root / "trajectory.jsonl").is_file():
        return [root], 0, []
    found: list[Path] = []
    links: list[Path] = []
    other = 0
    for folder, folders, names in os.walk(root):  # does not descend into linked folders
        here = Path(folder)
        if (here / "trajectory.jsonl").is_file() and not (here / "trajectory.jsonl").is_symlink():
            found.append(here)
            folders.clear()  # the run's own files belong to it
            continue
        for name in sorted(folders + names):
            path = here / name
            if path.is_symlink():
                links.append(path)
            elif name in names and path.suffix.lower() in _NOT_DATA:
                other += 1
            elif name in names:
                found.append(path)
    return sorted(found), other, sorted(links)
