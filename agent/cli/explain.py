"""Why did it click there? A model answer read the way a run reads it, with every point shown in
the model's space, normalized, and in screen pixels. Backs ``agent parse``."""

from __future__ import annotations

from typing import Any

from vlagent.agent.core.interpret import AnswerError, read_answer
from vlagent.prompts import Dialect
from vlagent.tools import ToolSet, computer_tools, mobile_tools
from vlagent.tools.computer_use import ComputerUse
from vlagent.tools.errors import VlagentError
from vlagent.tools.mobile_use import MobileUse


class ExplainError(VlagentError, ValueError):
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


def explain(
    text: str, dialect: Dialect, screen: tuple[int, int], toolset: ToolSet, scale: float = 1.0
) -> dict[str, Any]:
    """Every call in ``text``, validated, with points in three spaces. Raises
    :class:`ExplainError`."""
    frame = dialect.frame_for(screen, toolset)
    device = (screen[0] * scale, screen[1] * scale)  # as Observation.to_device, with no screenshot
    try:
        reading = read_answer(
            text,
            dialect,
            frame,
            toolset,
            lambda p: (p[0] * device[0], p[1] * device[1]),
            every_call=True,
        )
    except AnswerError as exc:
        raise ExplainError(exc.stage, str(exc)) from None
    explained = []
    for call, record in zip(reading.calls, reading.records):
        normalized = dict(record.normalized)
        for name in toolset.point_fields(call.name):
            if name in normalized:
                normalized[name] = [round(v, 6) for v in normalized[name]]
        explained.append(
            {
                "name": call.name,
                "model": record.model,
                "normalized": normalized,
                "screen": record.device,
            }
        )
    seen = dialect.model_image_size(screen)
    return {
        "dialect": dialect.name,
        "screen": {"width": screen[0], "height": screen[1], "scale": scale},
        "model_image": {"width": seen[0], "height": seen[1]} if seen else None,
        # The budget the answer is read under: stock deployments (vLLM, the Qwen cookbooks, the
        # UI-TARS code) resize with max 16384*28*28; pass --max-pixels to match the model's.
        "pixel_budget": (
            {
                "factor": dialect.resize.factor,
                "min_pixels": dialect.resize.min_pixels,
                "max_pixels": dialect.resize.max_pixels,
            }
            if dialect.resize
            else None
        ),
        "frame": {"width": frame.width, "height": frame.height},
        "calls": explained,
    }
