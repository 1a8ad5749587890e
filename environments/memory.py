"""An in-memory environment: a canvas that draws and records every action done to it.

For tests, demos and library users who want to see the loop work without a device. It is not a
stand-in for the desktop or Android drivers: it executes nothing outside this process.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

from PIL import Image, ImageDraw
from pydantic import BaseModel

from vlagent.environments.base import (
    ActionResult,
    DeviceFacts,
    Environment,
    EnvironmentUnavailable,
    Observation,
)
from vlagent.environments.registry import Option
from vlagent.tools import ComputerUse, GuiTool, MobileUse, ToolSet, computer_tools, mobile_tools

_MARK = {
    "click": "red",
    "left_click": "red",
    "double_click": "purple",
    "triple_click": "purple",
    "right_click": "blue",
    "middle_click": "green",
    "long_press": "orange",
    "mouse_move": "gray",
}


MAX_SIDE = 16384
"""The largest screen side accepted (a 16K display); beyond it one screenshot is gigabytes."""


def parse_size(text: str) -> tuple[int, int]:
    """'1280x800' → (1280, 800), with a one-line error for anything else."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise EnvironmentUnavailable(f"size {text!r} is not WIDTHxHEIGHT, e.g. 1280x800") from None
    if width <= 0 or height <= 0:
        raise EnvironmentUnavailable(f"size {text!r} must be positive")
    if max(width, height) > MAX_SIDE:
        raise EnvironmentUnavailable(
            f"size {text!r} is too large: at most {MAX_SIDE} pixels a side"
        )
    return width, height


class MemoryEnvironment(Environment):
    """A white canvas of ``size`` pixels (device pixels = ``scale`` × image pixels).

    ``space`` picks the action space: ``computer`` (``computer_use``) or ``mobile``
    (``mobile_use``). Every executed action is appended to :attr:`log` with its device points.
    """

    name = "memory"
    option_help: ClassVar[dict[str, Option]] = {
        "size": Option("Screen size WxH (default 1280x800)."),
        "space": Option("Action space: computer or mobile."),
        "scale": Option("Device pixels per image pixel (HiDPI).", min=0.01),
    }

    def __init__(
        self,
        size: str | tuple[int, int] = (1280, 800),
        space: Literal["computer", "mobile"] = "computer",
        scale: float = 1.0,
    ) -> None:
        self.width, self.height = parse_size(size) if isinstance(size, str) else size
        if space not in ("computer", "mobile"):
            raise EnvironmentUnavailable(f"space {space!r} is not 'computer' or 'mobile'")
        if scale <= 0:
            raise EnvironmentUnavailable(f"scale {scale} must be positive")
        self.space = space
        self.scale = float(scale)
        self._toolset = computer_tools() if space == "computer" else mobile_tools()
        self.canvas = Image.new("RGB", (self.width, self.height), "white")
        self.log: list[dict[str, Any]] = []
        self.typed = ""
        self.pointer: tuple[float, float] = (0.5, 0.5)  # normalized; where a drag starts
        self.closed = False

    @property
    def toolset(self) -> ToolSet:
        return self._toolset

    def observe(self) -> Observation:
        if self.closed:
            raise EnvironmentUnavailable("the memory environment is closed")
        return Observation(
            image=self.canvas.copy(), scale=self.scale, metadata={"actions": len(self.log)}
        )

    def execute(self, action: BaseModel) -> ActionResult:
        if not isinstance(action, (ComputerUse, MobileUse)):
            return ActionResult(
                ok=False,
                executed=False,
                message=f"the memory environment cannot execute {type(action).__name__}",
            )
        view = Observation(image=self.canvas, scale=self.scale)
        entry: dict[str, Any] = {"tool": action.tool_name, **action.arguments()}
        for name in ("coordinate", "coordinate2", "start_coordinate"):
            point = getattr(action, name, None)
            if point is not None:
                entry[f"{name}_device"] = view.to_device(point)
        self.log.append(entry)
        self._draw(action, view)
        if action.action == "wait" and action.time:
            time.sleep(action.time)
        return ActionResult(ok=True, message=f"{action.action} done")

    def _draw(self, action: GuiTool, view: Observation) -> None:
        draw = ImageDraw.Draw(self.canvas)
        point: tuple[float, float] | None = getattr(action, "coordinate", None)
        end: tuple[float, float] | None = getattr(action, "coordinate2", None)
        drag_from: tuple[float, float] | None = getattr(action, "start_coordinate", None)
        if point is not None and action.action in ("swipe", "left_click_drag"):
            # A swipe names both ends; a drag goes to the point from its start or the pointer.
            start, finish = (point, end) if end is not None else (drag_from or self.pointer, point)
            draw.line([view.to_pixel(start), view.to_pixel(finish)], fill="black", width=3)
        elif point is not None:
            x, y = view.to_pixel(point)
            draw.ellipse([x - 6, y - 6, x + 6, y + 6], fill=_MARK.get(action.action, "black"))
        if point is not None:
            self.pointer = point
        text = getattr(action, "text", None)
        if action.action == "type" and text:
            self.typed += text
            draw.rectangle([0, self.height - 24, self.width, self.height], fill="white")
            draw.text((4, self.height - 20), self.typed[-120:], fill="black")
        elif action.action in ("key", "system_button", "open", "scroll", "hscroll"):
            label = " ".join(str(v) for k, v in action.arguments().items() if k != "coordinate")
            draw.rectangle([0, 0, self.width, 20], fill="white")
            draw.text((4, 4), label[:120], fill="black")

    def facts(self) -> DeviceFacts:
        return DeviceFacts(pointer=lambda: self.pointer)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "space": self.space,
            "size": [self.width, self.height],
            "scale": self.scale,
        }

    def close(self) -> None:
        self.closed = True
