"""Has the scene changed since the last step? Loop detection asks this before it counts a repeated
action. A screen either changed or did not: the exact pixels say. A camera never repeats a frame
exactly (sensor noise, flicker), so a camera's default compares coarse cells instead: noise
averages out over a cell, while a moved object changes the cells it left and entered.

And has the screen reacted to an action yet? :func:`settle` waits until it changed and then
stayed still, so the screenshot after an action shows what the action did."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from PIL import Image, ImageChops

from vlagent.environments.base import Observation

__all__ = [
    "ChangeDetector",
    "ExactPixels",
    "SameState",
    "Settled",
    "TolerantPixels",
    "detector_for",
    "pixel_digest",
    "settle",
]


def pixel_digest(obs: Observation) -> str:
    """A digest of the first image's pixels and size (of the state for an observation without
    one): equal digests mean an unchanged screen. About 9 ms at 1920×1080, so the recorder's
    writer thread computes it for the step's line, never the control loop."""
    cached = obs._derived.get("digest")
    if cached is not None and cached[0] is obs.image:
        return str(cached[1])
    if not obs.has_image:
        return hashlib.blake2b(state_key(obs.state).encode(), digest_size=16).hexdigest()
    digest = hashlib.blake2b(obs.image.tobytes(), digest_size=16)
    digest.update(repr(obs.size).encode())
    text = digest.hexdigest()
    obs._derived["digest"] = (
        obs.image,
        text,
    )  # kept with its image: a swapped image is hashed anew
    return text


class ChangeDetector(Protocol):
    """``signature`` sums up an observation; ``same`` says whether two of them show one scene."""

    def signature(self, obs: Observation) -> Any: ...

    def same(self, first: Any, second: Any) -> bool: ...


def state_key(state: dict[str, Any]) -> str:
    """The state as one comparable text (arrays as lists)."""

    def plain(value: Any) -> Any:
        return value.tolist() if hasattr(value, "tolist") else repr(value)

    return json.dumps(state, default=plain, sort_keys=True)


class ExactPixels:
    """Unchanged means every pixel of every image is equal (screens), and the state too.

    The signature is the images themselves, neither copied nor hashed: a control loop pays for
    the comparison (about 0.4 ms at 1280×800) only when the same action comes again, instead of a
    hash of every frame (11 ms) on every step. An observation's images are not changed after it
    is handed out (environments return new images), so holding on to them is safe."""

    def signature(self, obs: Observation) -> tuple[tuple[tuple[str, Image.Image], ...], str]:
        images = tuple(obs.images.items()) if obs.has_image else ()
        return images, state_key(obs.state) if obs.state else ""

    def same(self, first: Any, second: Any) -> bool:
        try:
            (images, state), (other_images, other_state) = first, second
        except (TypeError, ValueError):
            return bool(first == second)
        if state != other_state or len(images) != len(other_images):
            return False
        return all(
            name == other_name and _equal_pixels(image, other)
            for (name, image), (other_name, other) in zip(images, other_images)
        )


def _equal_pixels(first: Image.Image, second: Image.Image) -> bool:
    if first is second:
        return True
    if first.size != second.size or first.mode != second.mode:
        return False
    return ImageChops.difference(first, second).getbbox() is None


class SameState:
    """Unchanged means an equal state (an observation without images)."""

    def signature(self, obs: Observation) -> str:
        return state_key(obs.state)

    def same(self, first: Any, second: Any) -> bool:
        return bool(first == second)


class TolerantPixels:
    """Unchanged means no cell of any image moved by more than ``threshold`` (0–255) once the
    images are averaged into cells ``cells`` to the longer side, and a global brightness shift
    (auto-exposure, flicker) is taken out. Gaussian noise of σ 25 per pixel on a 640×480 camera
    moves a cell by about 1; an object a cell across that moves changes its cells by tens."""

    def __init__(self, cells: int = 32, threshold: float = 8.0) -> None:
        self.cells = cells
        self.threshold = threshold

    def signature(self, obs: Observation) -> dict[str, Any]:
        import numpy as np

        signature = {}
        for name, image in obs.images.items():
            scale = self.cells / max(image.size)
            grid = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            # reduce() averages whole blocks (a box filter) before the resize takes the rest.
            factor = max(1, min(image.width // grid[0], image.height // grid[1]))
            small = image.reduce(factor) if factor > 1 else image
            small = small.resize(grid, resample=2)  # bilinear over the already averaged blocks
            signature[name] = np.asarray(small, dtype=np.float32)
        return signature

    def same(self, first: Any, second: Any) -> bool:
        import numpy as np

        if (
            not isinstance(first, dict)
            or not isinstance(second, dict)
            or first.keys() != second.keys()
        ):
            return False
        for name, cells in first.items():
            other = second[name]
            if cells.shape != other.shape:
                return False
            difference = cells - other
            difference -= np.median(difference)
            if float(np.abs(difference).max()) > self.threshold:
                return False
        return True


def detector_for(obs: Observation) -> ChangeDetector:
    """The default for what ``obs`` shows: exact pixels for a screen, tolerant cells otherwise,
    the state alone when it has no image."""
    if not obs.has_image:
        return SameState()
    return ExactPixels() if obs.surface == "screen" else TolerantPixels()


SETTLE_QUIET_S = 0.2
"""Stillness that counts as done: longer than the gap between two frames of a redraw or an
animation (Tk draws a new window's focus ~0.2 s after it), shorter than a caret's blink."""
SETTLE_POLL_S = 0.05

SettleOutcome = Literal["changed", "still", "timed out"]


@dataclass(frozen=True)
class Settled:
    """How the wait after an action ended: ``changed`` (the screen changed, then stayed still for
    the quiet time), ``still`` (nothing changed within the reaction window), ``timed out`` (the
    bound passed while the screen was still changing); ``waited_s`` after the action."""

    outcome: SettleOutcome
    waited_s: float

    def record(self) -> dict[str, Any]:
        """For the step's ``result.data``."""
        return {"outcome": self.outcome, "waited_ms": round(self.waited_s * 1000)}


def settle(
    grab: Callable[[], Any],
    before: Any,
    react_s: float,
    limit_s: float,
    quiet_s: float = SETTLE_QUIET_S,
    poll_s: float = SETTLE_POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    reacts: Callable[[Any, Any], bool] | None = None,
) -> Settled:
    """Wait until the screen (``grab()``, compared with ``==``) differs from ``before`` (what it
    showed before the action) and then stays the same for ``quiet_s``; or until ``react_s``
    passed with no change at all; at most ``limit_s`` in all.

    A still screen alone is not "done": a program that has not reacted yet (a dialog closing
    after Enter, a page after a click) shows the old screen, perfectly still. So a first change
    is waited for, for as long as the action kind may take to show one (``react_s``).
    ``reacts(old, new)`` may say that a change is none of the action's doing (a caret's blink):
    such a change before the first reaction neither ends nor starts the wait for stillness."""
    start = clock()
    react_by, deadline = start + min(react_s, limit_s), start + limit_s
    previous, changed_at = before, None
    while True:
        current = grab()
        now = clock()
        if current != previous:
            if changed_at is not None or reacts is None or reacts(previous, current):
                changed_at = now
            previous = current
        elif changed_at is not None and now - changed_at >= quiet_s:
            return Settled("changed", now - start)
        if changed_at is None and now >= react_by:
            return Settled("still", now - start)
        if now >= deadline:
            return Settled("timed out", now - start)
        sleep(min(poll_s, max(deadline - now, 0.0)))


CARET_WIDTH_PX = 3
"""A change no wider than this is a text caret blinking (or a one-pixel flicker)."""


def beyond_a_caret(size: tuple[int, int]) -> Callable[[Any, Any], bool]:
    """For :func:`settle`'s ``reacts``, on BGRX screens of ``size`` (mss's raw pixels): whether a
    change is wider than a caret. A focused text field blinks its caret every 0.3–0.6 s whatever
    the action did; taken for the reaction, a blink would end the wait before a slow program
    (a dialog closing after Enter) had drawn anything."""
    from PIL import Image, ImageChops

    def wider(old: Any, new: Any) -> bool:
        first, second = (Image.frombuffer("RGB", size, r, "raw", "BGRX", 0, 1) for r in (old, new))
        box = ImageChops.difference(first, second).getbbox()
        return box is not None and box[2] - box[0] > CARET_WIDTH_PX

    return wider
