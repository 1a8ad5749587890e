"""Bounds on what a model may ask for, and plain numbers only.

Models write arguments as JSON, and JSON lets through what no action should get: numbers written
as strings or booleans (``["1", "1"]`` would otherwise be read as the corner of the screen),
``NaN`` and infinities, integers hundreds of digits long, and lengths no device should spend
minutes on. Every GUI argument is checked here; the limits are documented in docs/tools.md. They
are enforced by validation, not written into the prompt's schemas, which keep the published shape.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

MAX_TEXT = 2000
"""Characters of ``text`` (typing, app names, answers)."""
MAX_KEYS = 6
"""Keys pressed together in one ``key`` action (``ctrl+shift+t`` is three)."""
MAX_SCROLL_PIXELS = 10_000
"""|pixels| of one ``scroll`` / ``hscroll`` (100 wheel clicks)."""
MAX_WAIT_S = 60
"""Seconds of ``wait``, ``long_press`` and ``swipe``."""
MAX_MAGNITUDE = 10**9
"""Any number's absolute value, before it is scaled or bounded by its field."""


def plain_number(value: Any) -> Any:
    """A finite int or float of sane size; a string, a boolean or anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, not {type(value).__name__} {_short(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"is too large (at most {MAX_MAGNITUDE:,} in size)")
    return value


def _bounded_text(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise ValueError(f"is {len(text):,} characters long; at most {MAX_TEXT:,} per action")
    return text


def _bounded_scroll(pixels: int) -> int:
    if abs(pixels) > MAX_SCROLL_PIXELS:
        raise ValueError(f"is more than {MAX_SCROLL_PIXELS:,} pixels; scroll in several steps")
    return pixels


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


Number = Annotated[float, BeforeValidator(plain_number)]
"""A coordinate or a duration: an int or float, finite, not a string or a boolean."""
ScrollPixels = Annotated[int, BeforeValidator(plain_number), AfterValidator(_bounded_scroll)]
Seconds = Annotated[float, Field(gt=0, le=MAX_WAIT_S), BeforeValidator(plain_number)]
Text = Annotated[str, Field(min_length=1), AfterValidator(_bounded_text)]
