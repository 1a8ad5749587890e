"""The size a Qwen-family model sees a screenshot at.

Qwen2-VL, Qwen2.5-VL, Qwen3-VL and UI-TARS resize every image with ``smart_resize``: each side
rounded to a multiple of ``factor`` (patch size × merge size), the area kept within the pixel
budget. Models that answer in pixels of that resized image (Qwen2.5-VL, UI-TARS-1.5) need the exact
size to map their points back.

The arithmetic below is transformers' own (``smart_resize`` of its Qwen2-VL image processors),
Python's banker's ``round`` included (ports with another rounding get other sizes:
docs/models.md). It is written here rather than imported because importing it imports torch, 4 s
of start-up that ``agent parse`` and the trajectory tools must not pay; a test checks it against
transformers' function over thousands of sizes and budgets, and another against what the
processors produce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from vlagent.tools.errors import VlagentError


class ResizeError(VlagentError, ValueError):
    """The image cannot be resized under this rule (e.g. an aspect ratio above 200)."""


@dataclass(frozen=True)
class ResizeRule:
    """How the processor resizes images: side multiple ``factor``, area in [min, max] pixels."""

    factor: int = 28
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1280 * 28 * 28

    def __post_init__(self) -> None:
        if self.factor < 1 or self.min_pixels < 1 or self.max_pixels < self.min_pixels:
            raise ValueError(
                f"invalid resize rule: factor {self.factor}, pixels "
                f"{self.min_pixels}..{self.max_pixels}"
            )

    def resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of an image of ``size`` (width, height) after the processor's resize."""
        return _resized(size[0], size[1], self.factor, self.min_pixels, self.max_pixels)

    def tokens(self, size: tuple[int, int]) -> int:
        """Image tokens for an image of ``size``: one per ``factor`` × ``factor`` square."""
        width, height = self.resized(size)
        return (width // self.factor) * (height // self.factor)


def smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """(height, width) after the Qwen-family resize: transformers' arithmetic, step for step."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"absolute aspect ratio must be smaller than 200, got "
            f"{max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@lru_cache(maxsize=256)
def _resized(
    width: int, height: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    if width < 1 or height < 1:
        raise ResizeError(f"cannot resize an image of {width}x{height}")
    try:
        new_height, new_width = smart_resize(
            height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
        )
    except ValueError as exc:
        raise ResizeError(f"cannot resize a {width}x{height} image: {exc}") from None
    return int(new_width), int(new_height)


def user_budget(rule: ResizeRule, min_pixels: int | None, max_pixels: int | None) -> ResizeRule:
    """``rule`` with the pixel budget a user gave (``--min-pixels`` / ``--max-pixels``; None keeps
    the rule's own). A range left empty names the flag to change."""
    low = rule.min_pixels if min_pixels is None else min_pixels
    high = rule.max_pixels if max_pixels is None else max_pixels
    if low > high and max_pixels is not None:
        raise ResizeError(
            f"--max-pixels {high:,} is below this model's smallest budget ({low:,} pixels): "
            f"give at least {low:,}, or a smaller --min-pixels"
        )
    if low > high:
        raise ResizeError(
            f"--min-pixels {low:,} is above this model's largest budget ({high:,} pixels): "
            f"give at most {high:,}, or a larger --max-pixels"
        )
    if low < 1:
        raise ResizeError(f"--min-pixels must be at least 1, not {low}")
    return ResizeRule(rule.factor, low, high)
