"""The environment protocol: where actions happen. The only layer that touches a device."""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

from PIL import Image
from pydantic import BaseModel

from vlagent.tools import Handler, RunEnd, ToolSet
from vlagent.tools.errors import VlagentError


class EnvironmentUnavailable(VlagentError, RuntimeError):
    """The environment cannot start (no display, no device, bad option). Says what to do."""


class EnvironmentFault(VlagentError, RuntimeError):
    """The environment broke during a run (device disconnected, display gone)."""


class RunAborted(VlagentError):
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


_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def as_rgb(image: Any, what: str) -> Image.Image:
    """``image`` as an RGB PIL image: a PIL image of any mode, or an array (H×W×3 or H×W; uint8,
    or floats in [0, 1]) as cameras and simulators hand them out."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if hasattr(image, "__array__"):
        import numpy as np

        array = np.asarray(image)
        if array.dtype.kind == "f":
            array = (np.clip(array, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        if (
            array.dtype != np.uint8
            or array.ndim not in (2, 3)
            or (array.ndim == 3 and array.shape[2] not in (3, 4))
        ):
            raise ValueError(
                f"{what}: an array image is H×W×3 (or ×4, or H×W) of uint8 or floats in "
                f"[0, 1]; got shape {array.shape} of {array.dtype}"
            )
        return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")
    raise ValueError(f"{what}: expected a PIL image or an array, got {type(image).__name__}")


NO_IMAGE = Image.new("RGB", (1, 1))
"""The image of an observation made without one (a robot known by its state alone)."""


def _no_image() -> Image.Image:
    return NO_IMAGE


@dataclass
class Observation:
    """What the agent sees: an RGB image and how its pixels map to the device's.

    ``scale`` is device pixels per image pixel (2 on a HiDPI desktop captured at logical size).

    A robot sees more than one image: ``image`` is the one called ``name`` (the first the model is
    shown); ``views`` are further named images (other cameras, any size); ``depth`` holds depth
    maps in metres by image name; ``state`` is what the robot knows of itself (joints, gripper,
    pose), shown to the model as text. ``surface`` is the word prompts use for these images ("a
    camera image" is not "a screen"). Arrays are accepted wherever images are.

    An observation may have no image at all (``Observation(state={...})``): ``has_image`` is then
    False and the prompt holds the state as text only. ``timestamp`` is when it was captured, on
    ``time.monotonic()``'s clock (by default: when it was made).
    """

    image: Image.Image = field(default_factory=_no_image)
    scale: float = 1.0
    elements: list[UIElement] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = "screen"
    views: dict[str, Image.Image] = field(default_factory=dict)
    depth: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    surface: str = "screen"
    timestamp: float = field(default_factory=time.monotonic, compare=False)
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Values derived from the pixels once and asked for twice (the pixel digest)."""

    def __post_init__(self) -> None:
        if self.image is not NO_IMAGE:
            self.image = as_rgb(self.image, "observation image")
        elif not self.state:
            raise ValueError("an observation without an image needs its state")
        self.views = {name: as_rgb(view, f"view {name!r}") for name, view in self.views.items()}
        for name in [self.name, *self.views, *self.depth]:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(
                    f"image name {name!r}: use 1 to 40 letters, digits, '_' or '-' "
                    "(it becomes part of a file name)"
                )
        unknown = [name for name in self.depth if name not in self.images]
        if unknown:
            raise ValueError(f"depth given for {unknown}, which are not images of this observation")

    @property
    def has_image(self) -> bool:
        """False for an observation of state alone."""
        return self.image is not NO_IMAGE

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image in pixels."""
        return self.image.size

    @property
    def images(self) -> dict[str, Image.Image]:
        """Every image by name, ``image`` first."""
        return {self.name: self.image, **self.views}

    def image_named(self, name: str | None) -> Image.Image:
        """The image called ``name`` (``image`` for None). Raises KeyError naming the images."""
        if name is None or name == self.name:
            return self.image
        try:
            return self.views[name]
        except KeyError:
            raise KeyError(
                f"no image named {name!r}; the images are: {', '.join(self.images)}"
            ) from None

    @property
    def device_size(self) -> tuple[float, float]:
        return (self.image.width * self.scale, self.image.height * self.scale)

    def to_device(self, point: tuple[float, float], on: str | None = None) -> tuple[float, float]:
        """A normalized [0, 1] point in device pixels, unrounded (what trajectories record).
        ``on`` names a view: its pixels are its own (views have no device scale)."""
        if on is not None and on != self.name:
            view = self.image_named(on)
            return (point[0] * view.width, point[1] * view.height)
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
    """What executing one action did. ``ok=False`` carries a message the model should read.
    ``ends`` ends the run when the environment says the episode is over (a simulator's task
    done, a Gymnasium episode terminated), whatever the model meant to do next."""

    ok: bool = True
    message: str = ""
    executed: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    ends: RunEnd | None = None


ACTION_DEADLINE: ContextVar[float | None] = ContextVar("vlagent_action_deadline", default=None)
"""When the run must have its action back (``time.monotonic()``; None: no limit): set by the run
around ``execute`` under ``--time-limit``, read by an environment that waits after an action."""


def time_left(wanted: float) -> float:
    """``wanted`` seconds, or what is left before :data:`ACTION_DEADLINE` if that is less."""
    deadline = ACTION_DEADLINE.get()
    return wanted if deadline is None else max(0.0, min(wanted, deadline - time.monotonic()))


def release_all(*steps: Callable[[], object]) -> None:
    """Run every cleanup step, even after one fails (the X server died under a screen grabber,
    a device vanished): a step that raises must not leave the ones after it undone (a launched
    program running, a lock held). The first failure is raised once all have run."""
    failure: BaseException | None = None
    for step in steps:
        try:
            step()
        except Exception as exc:  # the rest still runs; the first is told
            failure = failure or exc
    if failure is not None:
        raise failure


def run_handler(handler: Handler, action: BaseModel) -> ActionResult:
    """Execute ``action`` with its tool's handler. The handler may return None, a message or an
    :class:`ActionResult`; a ``ValueError`` it raises is a failed action whose message the model
    reads (any other exception is a bug, and surfaces)."""
    try:
        returned = handler(action)
    except ValueError as exc:
        return ActionResult(ok=False, message=str(exc) or type(exc).__name__)
    if isinstance(returned, ActionResult):
        return returned
    if returned is None:
        return ActionResult()
    return ActionResult(message=str(returned))


def _unknown(*_: object) -> None:
    return None


def _as_written(action: BaseModel) -> BaseModel:
    return action


@dataclass(frozen=True)
class DeviceFacts:
    """What only the device knows about where an action lands, asked for lazily by the policy's
    effect resolution (``vlagent.agent.core.effects``). None means the device cannot tell, and a
    policy that needs the answer then refuses.

    ``pointer()``: where the pointer is now, normalized to the observed image as action points
    are (outside [0, 1] when it is off the observed screen). ``app_package(name)``: the package
    ``open name`` would start, by the environment's own lookup. ``executed(action)``: the action
    as the device will receive it (a secret's ``{{NAME}}`` filled in, in any field), so that a
    policy judges the app a secret names, the key it presses and the Enter inside its value."""

    pointer: Callable[[], tuple[float, float] | None] = _unknown
    app_package: Callable[[str], str | None] = _unknown
    executed: Callable[[BaseModel], BaseModel] = _as_written


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

    def execute(self, action: BaseModel) -> ActionResult:
        """Perform one validated action (screen points normalized to [0, 1]). By default the
        handler its tool was registered with does it; drivers override this for tools of their
        own (computer_use, mobile_use)."""
        handler = self.toolset.handler(action)
        if handler is None:
            raise EnvironmentUnavailable(
                f"{type(self).__name__} has no handler for {type(action).__name__}: register the "
                "tool with handler=, or override execute()"
            )
        return run_handler(handler, action)

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for the trajectory header (device, screen, options)."""
        return {"name": self.name}

    def facts(self) -> DeviceFacts:
        """What policies need to know of the device to resolve an action's effect (where the
        pointer is, which package an app name starts); by default the device tells nothing."""
        return DeviceFacts()

    def ended(self) -> ActionResult | None:
        """Whether the episode ended by itself since the last action (the launched program
        exited while the model thought): the result that ends the run, else None. Asked before
        a run ends on the model's word, so that a crash is never reported as a success."""
        return None

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
