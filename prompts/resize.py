"""The size a Qwen-family model sees a screenshot at.

Qwen2-VL, Qwen2.5-VL, Qwen3-VL and UI-TARS resize every image with ``smart_resize``: each side
rounded to a multiple of ``factor`` (patch size × merge size), the area kept within the pixel
budget. Models that answer in pixels of that resized image (Qwen2.5-VL, UI-TARS-1.5) need the exact
size to map their points back, so we call the function transformers itself resizes with
(ports with another rounding get other sizes: docs/models.md) rather than a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


class ResizeError(ValueError):
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
                f"invalid resize rule: factor {self.factor}, pixels {self.min_pixels}..{self.max_pixels}"
            )

    def resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of an image of ``size`` (width, height) after the processor's resize."""
        return _resized(size[0], size[1], self.factor, self.min_pixels, self.max_pixels)

    def tokens(self, size: tuple[int, int]) -> int:
        """Image tokens for an image of ``size``: one per ``factor`` × ``factor`` square."""
        width, height = self.resized(size)
        return (width // self.factor) * (height // self.factor)


@lru_cache(maxsize=256)
def _resized(width: int, height: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    # Imported here: transformers takes seconds to import, and only Qwen-family dialects need it.
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    if width < 1 or height < 1:
        raise ResizeError(f"cannot resize an image of {width}x{height}")
    try:
        new_height, new_width = smart_resize(
            height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
        )
    except ValueError as exc:
        raise ResizeError(f"cannot resize a {width}x{height} image: {exc}") from None
    return int(new_width), int(new_height)
