"""AITW and AndroidControl as they are distributed: GZIP TFRecord files of ``tf.train.Example``.

- AITW (google-research ``android_in_the_wild``): one Example per step — ``episode_id``,
  ``step_id``, ``goal_info``, the screenshot as raw uint8 pixels (``image/encoded``,
  ``image/height``, ``image/width``, ``image/channels``), element boxes as normalized
  ``(y, x, h, w)`` quadruples (``image/ui_annotations_positions``), and the action
  (``results/action_type``, ``results/yx_touch``, ``results/yx_lift``, ``results/type_action``).
- AndroidControl (google-research ``android_control``): one Example per episode —
  ``episode_id``, ``goal``, PNG ``screenshots`` (one more than actions), ``accessibility_trees``
  (android_env ``AndroidAccessibilityForest``), ``screenshot_widths`` / ``heights``, JSON
  ``actions`` and ``step_instructions``. Its element boxes are the visible *leaf* nodes of each
  tree: the containers above them (a full-screen layout holds every point) would make every tap
  land "in the target element". A step's *target* (rules that score a tap by the element it should
  hit) is the smallest visible node holding the gold point that is clickable or a leaf and covers
  less than half the screen; an ``open_app``'s is the node labelled with the app's name (its icon).

Screenshots are written once as PNG files under ``$VLAGENT_CACHE/screens/`` (default
``~/.cache/vlagent``): the rest of evaluation, and the report, read images from files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from vlagent.agent.evaluation.actions import aitw_action, androidcontrol_action
from vlagent.agent.evaluation.gold import Box, Episode, GoldStep, target_boxes
from vlagent.agent.evaluation.tfrecord import accessibility_nodes
from vlagent.environments.ui_tree import for_model, from_accessibility_nodes

LEVELS = ("high", "low")
AITW_SUBSETS = ("general", "google_apps", "install", "single", "web_shopping")


def cache_folder(path: Path) -> Path:
    """Where the screenshots of dataset file ``path`` are extracted to (one folder per file
    version)."""
    stat = path.stat()
    key = hashlib.sha256(
        f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    ).hexdigest()[:20]
    root = Path(os.environ.get("VLAGENT_CACHE") or Path.home() / ".cache" / "vlagent")
    return root / "screens" / key


def _text(features: dict[str, list[Any]], key: str, default: str = "") -> str:
    values = features.get(key) or []
    return values[0].decode("utf-8") if values else default


def _number(features: dict[str, list[Any]], key: str) -> int:
    values = features.get(key) or []
    if not values:
        raise ValueError(f"feature {key!r} is missing")
    return int(values[0])


def aitw_steps(examples: Iterator[dict[str, list[Any]]], source: Path) -> list[Episode]:
    """AITW Examples (one per step, in any order) grouped into episodes, steps by ``step_id``."""
    folder = cache_folder(source)
    folder.mkdir(parents=True, exist_ok=True)
    # AITW is distributed as one folder per subset (general/, google_apps/, ...).
    category = source.parent.name.upper() if source.parent.name in AITW_SUBSETS else ""
    by_episode: dict[str, tuple[str, list[tuple[int, GoldStep]]]] = {}
    for features in examples:
        episode_id, step_id = _text(features, "episode_id"), _number(features, "step_id")
        width, height = _number(features, "image/width"), _number(features, "image/height")
        channels = _number(features, "image/channels")
        image = folder / f"{episode_id}_{step_id}.png"
        if not image.exists():
            pixels = (features.get("image/encoded") or [b""])[0]
            if len(pixels) != width * height * channels:
                raise ValueError(
                    f"episode {episode_id} step {step_id}: image/encoded holds {len(pixels)} "
                    f"bytes, not {width}x{height}x{channels}"
                )
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
            Image.frombytes(mode, (width, height), pixels).save(image)
        flat = features.get("image/ui_annotations_positions") or []
        boxes: tuple[Box, ...] = tuple(
            (x, y, x + w, y + h) for y, x, h, w in zip(*[iter(flat)] * 4)
        )
        arguments = aitw_action(
            _number(features, "results/action_type"),
            list(features.get("results/yx_touch") or [-1, -1]),
            list(features.get("results/yx_lift") or [-1, -1]),
            _text(features, "results/type_action"),
        )
        goal, steps = by_episode.setdefault(episode_id, (_text(features, "goal_info"), []))
        steps.append((step_id, GoldStep(step_id, image, "mobile_use", arguments, boxes)))
    episodes = []
    for episode_id, (goal, steps) in by_episode.items():
        episode = Episode(id=episode_id, goal=goal, source=str(source), category=category)
        episode.steps = [step for _, step in sorted(steps, key=lambda pair: pair[0])]
        episodes.append(episode)
    return episodes


def _shown(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes visible to the user that have an area."""
    return [
        n
        for n in nodes
        if n["visible"] and n["bounds"][2] > n["bounds"][0] and n["bounds"][3] > n["bounds"][1]
    ]


def leaf_boxes(nodes: list[dict[str, Any]], width: int, height: int) -> tuple[Box, ...]:
    """Normalized boxes of the visible leaf nodes with an area (containers are left out)."""
    return tuple(
        _normalized(n["bounds"], width, height) for n in _shown(nodes) if not n["children"]
    )


def _normalized(bounds: tuple[int, int, int, int], width: int, height: int) -> Box:
    return (bounds[0] / width, bounds[1] / height, bounds[2] / width, bounds[3] / height)


def action_targets(
    arguments: dict[str, Any], nodes: list[dict[str, Any]], width: int, height: int
) -> tuple[Box, ...]:
    """The box of the element a gold tap (or ``open``) acts on, from the step's accessibility
    nodes."""
    shown = _shown(nodes)
    if arguments.get("action") == "open":
        name = str(arguments.get("text", "")).strip().lower()
        return tuple(
            _normalized(n["bounds"], width, height)
            for n in shown
            if name
            and name in (n["text"].strip().lower(), n["content_description"].strip().lower())
        )
    if arguments.get("action") not in ("click", "long_press"):
        return ()
    candidates = tuple(
        _normalized(n["bounds"], width, height)
        for n in shown
        if n["clickable"] or not n["children"]
    )
    return target_boxes(arguments["coordinate"], candidates)


def androidcontrol_episode(features: dict[str, list[Any]], source: Path, level: str) -> Episode:
    """One AndroidControl Example as an episode (``level`` "low" adds the step instructions)."""
    episode_id = str(_number(features, "episode_id"))
    folder = cache_folder(source)
    folder.mkdir(parents=True, exist_ok=True)
    episode = Episode(id=episode_id, goal=_text(features, "goal"), source=str(source))
    shots, actions = features.get("screenshots") or [], features.get("actions") or []
    widths, heights = (
        features.get("screenshot_widths") or [],
        features.get("screenshot_heights") or [],
    )
    trees = features.get("accessibility_trees") or []
    instructions = [s.decode("utf-8") for s in features.get("step_instructions") or []]
    if len(shots) < len(actions) or len(widths) < len(actions) or len(heights) < len(actions):
        raise ValueError(
            f"episode {episode_id}: {len(actions)} actions but {len(shots)} screenshots"
        )
    for index, raw in enumerate(actions):
        image = folder / f"{episode_id}_{index}.png"
        if not image.exists():
            image.write_bytes(shots[index])
        width, height = int(widths[index]), int(heights[index])
        nodes = accessibility_nodes(trees[index]) if index < len(trees) else []
        instruction = instructions[index] if level == "low" and index < len(instructions) else None
        arguments = androidcontrol_action(json.loads(raw), width, height)
        ui_tree = (
            tuple(for_model(from_accessibility_nodes(nodes), (width, height))) if nodes else None
        )
        episode.steps.append(
            GoldStep(
                index,
                image,
                "mobile_use",
                arguments,
                leaf_boxes(nodes, width, height),
                instruction,
                targets=action_targets(arguments, nodes, width, height),
                ui_tree=ui_tree,
            )
        )
    return episode


def split_ids(dataset: Path, split: str) -> tuple[Path, set[str]]:
    """The ``splits.json`` beside the dataset (the file the AndroidControl release ships; any
    ``*splits*.json`` there is accepted) and the episode ids of its ``split``."""
    folder = dataset if dataset.is_dir() else dataset.parent
    found = sorted(folder.glob("*splits*.json"))
    if not found:
        raise ValueError(f"--split needs the dataset's splits.json in {folder}")
    splits = json.loads(found[0].read_text(encoding="utf-8"))
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise ValueError(f"{found[0]}: not a splits file (an object of split name: episode ids)")
    if split not in splits:
        raise ValueError(f"{found[0]} has no split {split!r}; it has {', '.join(splits)}")
    return found[0], {str(i) for i in splits[split]}
