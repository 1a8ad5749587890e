"""What a step shows the model beyond its first image: further cameras and the robot's state.

Each further image gets its own coordinate frame (a pixel-space model sees each at its own
resized size); a tool that takes an argument named ``camera`` gives its points on the image of
that name, and they are read in that image's frame (docs/embedding.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from vlagent.agent.trajectory.recorder import Recorder
from vlagent.environments import Observation
from vlagent.prompts import CoordinateFrame, Dialect, Prompt
from vlagent.tools import ToolSet

CAMERA_ARGUMENT = "camera"
"""The argument that names the image a tool's points are on."""

__all__ = ["CAMERA_ARGUMENT", "record_views", "show_views", "state_text"]


def _plain(value: Any, digits: int | None = None) -> Any:
    """A state value as JSON: arrays become lists, non-finite floats and values JSON has no form
    for become text; ``digits`` rounds floats (the model reads millimetres, not float noise)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return (
            (round(value, digits) if digits is not None else value)
            if math.isfinite(value)
            else str(value)
        )
    if isinstance(value, (list, tuple)):
        return [_plain(v, digits) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, digits) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def state_text(state: Mapping[str, Any]) -> str:
    """The state as the model reads it: one ``name: value`` line each, values as JSON."""
    lines = [
        f"{name}: {json.dumps(_plain(value, 4), ensure_ascii=False)}"
        for name, value in state.items()
    ]
    return "Robot state:\n" + "\n".join(lines)


def recorded_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state (or metadata) as the trajectory records it: JSON-ready, full precision."""
    return {str(name): _plain(value) for name, value in state.items()}


def show_views(
    prompt: Prompt, obs: Observation, dialect: Dialect, toolset: ToolSet
) -> dict[str, CoordinateFrame]:
    """Add ``obs``'s further images and its state to ``prompt``; the frame of every image by name.
    With one image and no state the prompt is left as the dialect rendered it."""
    frames = {obs.name: prompt.frame}
    if obs.views:
        names = ", ".join(f"'{name}'" for name in obs.images)
        prompt.add_text(
            f"The images are, in order: {names}. The first is '{obs.name}' "
            f"({_size(prompt.frame)}). Points on an image are given with "
            f"'{CAMERA_ARGUMENT}' naming it, in that image's own size."
        )
        for name, image in obs.views.items():
            frame = frames[name] = dialect.frame_for(image.size, toolset)
            prompt.add_image(f"'{name}' ({_size(frame)}):", image, dialect.pixel_size(frame))
    if obs.state:
        prompt.add_text(state_text(obs.state))
    return frames


def _size(frame: CoordinateFrame) -> str:
    return f"{frame.width:g}x{frame.height:g}"


def record_views(recorder: Recorder | None, index: int, obs: Observation) -> dict[str, Any]:
    """The step fields that record what ``obs`` holds beyond its pixels; its images (screenshot,
    further cameras, depth maps) go to the recorder's writer now, beside the model call."""
    fields: dict[str, Any] = {}
    if obs.name != "screen":
        fields["image_name"] = obs.name
    if obs.state:
        fields["state"] = recorded_state(obs.state)
    if obs.metadata:
        fields["metadata"] = recorded_state(obs.metadata)
    if recorder is not None:
        captured = recorder.capture(
            index,
            obs.image if obs.has_image else None,
            obs.views,
            obs.depth,
            digest_of="" if obs.has_image else json.dumps(fields.get("state"), sort_keys=True),
        )
        fields["screenshot"] = captured.screenshot
        if captured.views:
            fields["views"] = captured.views
        if captured.depth:
            fields["depth"] = captured.depth
    return fields
