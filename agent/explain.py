"""Why did it click there? A model answer read the way a run reads it, with every point shown in
the model's space, normalized, and in screen pixels. Backs ``agent parse``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PIL import Image

from environments import Observation
from prompts import Dialect, ParseError, ResizeRule, get_dialect
from tools import ToolError, ToolSet, computer_tools, mobile_tools
from tools.computer_use import ComputerUse
from tools.mobile_use import MobileUse


class ExplainError(ValueError):
    """The text holds no valid call; ``stage`` is parse or validation."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


def toolset_for(space: str | None) -> ToolSet:
    """computer, mobile, or both (None)."""
    if space == "computer":
        return computer_tools()
    if space == "mobile":
        return mobile_tools()
    return ToolSet([ComputerUse, MobileUse])


def dialect_with_budget(name: str, max_pixels: int | None, min_pixels: int | None) -> Dialect:
    """The dialect ``name`` with its family's resize rule, pixel budget overridden if given."""
    dialect = get_dialect(name)
    if dialect.resize is not None and (max_pixels or min_pixels):
        rule: ResizeRule = replace(dialect.resize, max_pixels=max_pixels or dialect.resize.max_pixels,
                                   min_pixels=min_pixels or dialect.resize.min_pixels)
        dialect = get_dialect(name, rule)
    return dialect


def explain(text: str, dialect: Dialect, screen: tuple[int, int], toolset: ToolSet,
            scale: float = 1.0) -> dict[str, Any]:
    """Every call in ``text``, validated, with points in three spaces. Raises :class:`ExplainError`."""
    frame = dialect.frame_for(screen)
    try:
        calls = dialect.parse(text, frame, toolset)
    except ParseError as exc:
        raise ExplainError("parse", str(exc)) from None
    view = Observation(Image.new("RGB", screen), scale=scale)
    explained = []
    for call in calls:
        try:
            action = toolset.validate(call)
        except ToolError as exc:
            raise ExplainError("validation", str(exc)) from None
        normalized = action.model_dump(mode="json", exclude_none=True)
        pixels = dict(normalized)
        for name in toolset.point_fields(call.name):
            point = getattr(action, name, None)
            if point is not None:
                pixels[name] = [round(v, 2) for v in view.to_device(point)]
                normalized[name] = [round(v, 6) for v in point]
        explained.append({"name": call.name, "model": call.raw(), "normalized": normalized,
                          "screen": pixels})
    seen = dialect.model_image_size(screen)
    return {
        "dialect": dialect.name,
        "screen": {"width": screen[0], "height": screen[1], "scale": scale},
        "model_image": {"width": seen[0], "height": seen[1]} if seen else None,
        "frame": {"width": frame.width, "height": frame.height},
        "calls": explained,
    }
