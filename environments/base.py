"""The environment protocol: where actions happen. The only layer that touches a device."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

from PIL import Image
from pydantic import BaseModel

from tools import ToolSet


class EnvironmentUnavailable(RuntimeError):
    """The environment cannot start (no display, no device, bad option). Says what to do."""


class EnvironmentFault(RuntimeError):
    """The environment broke during a run (device disconnected, display gone)."""


class RunAborted(Exception):
    """The user stopped the run from the device's side (e.g. pyautogui's fail-safe corner)."""


@dataclass(frozen=True)
class UIElement:
    """One element of the UI hierarchy, in image pixels: ``bounds`` = (left, top, right, bottom).
    ``kind`` is its class (``android.widget.Button``); ``description`` its content description."""

    bounds: tuple[int, int, int, int]
    text: str = ""
    kind: str = ""
    resource_id: str = ""
    description: str = ""
    clickable: bool = False


@dataclass
class Observation:
    """What the agent sees: an RGB screenshot and how its pixels map to the device's.

    ``scale`` is device pixels per image pixel (2 on a HiDPI desktop captured at logical size).
    """

    image: Image.Image
    scale: float = 1.0
    elements: list[UIElement] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image in pixels."""
        return self.image.size

    @property
    def device_size(self) -> tuple[float, float]:
        return (self.image.width * self.scale, self.image.height * self.scale)

    def to_device(self, point: tuple[float, float]) -> tuple[float, float]:
        """A normalized [0, 1] point in device pixels, unrounded (what trajectories record)."""
        width, height = self.device_size
        return (point[0] * width, point[1] * height)

    def to_pixel(self, point: tuple[float, float]) -> tuple[int, int]:
        """The device pixel an input library should receive: rounded, kept on the screen."""
        x, y = self.to_device(point)
        width, height = self.device_size
        return (
            min(max(round(x), 0), max(int(width) - 1, 0)),
            min(max(round(y), 0), max(int(height) - 1, 0)),
        )


@dataclass(frozen=True)
class ActionResult:
    """What executing one action did. ``ok=False`` carries a message the model should read."""

    ok: bool = True
    message: str = ""
    executed: bool = True
    data: dict[str, Any] = field(default_factory=dict)


class Environment(ABC):
    """Observe, execute, close. Drivers subclass this; :func:`environments.check_environment`
    tells whether a new one keeps the contract."""

    name: ClassVar[str] = ""

    @property
    @abstractmethod
    def toolset(self) -> ToolSet:
        """The tools this environment can execute."""

    @abstractmethod
    def observe(self) -> Observation:
        """Capture the current screen."""

    @abstractmethod
    def execute(self, action: BaseModel) -> ActionResult:
        """Perform one validated action (screen points normalized to [0, 1])."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for the trajectory header (device, screen, options)."""
        return {"name": self.name}

    def close(self) -> None:
        """Release the device. Safe to call twice."""

    def __enter__(self) -> Environment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
