"""Has the scene changed since the last step? Loop detection asks this before it counts a repeated
action. A screen either changed or did not: the exact pixels say. A camera never repeats a frame
exactly (sensor noise, flicker), so a camera's default compares coarse cells instead: noise
averages out over a cell, while a moved object changes the cells it left and entered."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from vlagent.environments.base import Observation

__all__ = ["ChangeDetector", "ExactPixels", "TolerantPixels", "detector_for", "pixel_digest"]


def pixel_digest(obs: Observation) -> str:
    """A digest of the first image's pixels and size: equal digests mean an unchanged screen.
    Computed once per observation (about 9 ms at 1920×1080): the step record and loop detection
    both ask for it."""
    cached = obs._derived.get("digest")
    if cached is not None and cached[0] is obs.image:
        return str(cached[1])
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


class ExactPixels:
    """Unchanged means every pixel of every image is equal (screens)."""

    def signature(self, obs: Observation) -> tuple[str, ...]:
        views = (
            hashlib.blake2b(image.tobytes() + repr(image.size).encode(), digest_size=16).hexdigest()
            for image in obs.views.values()
        )
        return (pixel_digest(obs), *views)

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
    """The default for what ``obs`` shows: exact pixels for a screen, tolerant cells otherwise."""
    return ExactPixels() if obs.surface == "screen" else TolerantPixels()
