"""Is the live screen the one a recording expects? Replay, self-healing and the plan cache ask this
before they act on a recorded step.

A single distance over the whole picture is fooled by a mostly-equal background: the home screen
and a mostly-white app differ on a few percent of pixels, less than a clock tick plus noise on a
busy screen. So two screens are compared where it matters:

1. **Changed tiles.** Both screens, each colour channel slightly blurred (so that antialiasing and
   compression noise, which move ink by a fraction of a pixel, do not count), are cut into square
   tiles; a tile changed when a noticeable part of its pixels changed. A clock tick, a blinking
   cursor or a notification dot changes a tile or two; another app, a dialog or a scrolled list
   changes many.
2. **The target.** Around the point the recorded action will touch, any real change counts: a
   button whose label now says "Delete" is a different screen even if nothing else moved. The
   one exception is a text cursor blinking where the action clicks (a change only a few pixels
   wide); the price is that a single narrow character changing there is not seen either.
3. **The foreground app**, when the caller knows it for both screens: environments that can
   name it cheaply put it in the observation's metadata as ``foreground`` (the desktop's window
   class, Android's package with the UI tree); a recording keeps it with each step.
4. **The element at the target**, when both screens list their UI elements: what the element
   under the target says (its text, description or id). Its words changing is another screen
   even where the pixels barely moved (a "1" becoming a "7" under the cursor rule above).

The thresholds were chosen from a corpus of real screen pairs (the virtual phone, a Tk window and
Chromium) and are documented with their margins in docs/replay.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

# Screens are compared at most this long (an integer factor down, so pixels stay square and a
# phone's 2400 rows become 1200); a tile is this many working pixels square.
WORK_LONG_SIDE = 1600
TILE = 32
BLUR = 1.5
PIXEL_CHANGE = 32  # of 255, after the blur: what a fraction-of-a-pixel shift of text stays under
TILE_CHANGE = 0.02  # a tile changed when this share of its pixels changed
# Verdict thresholds (docs/replay.md has the corpus margins they were chosen from).
CHANGED_TILES = 0.04
TARGET_CHANGE = 0.015
TARGET_RADIUS = 48  # working pixels: the window around the target is 96 px square
CURSOR_WIDTH = 8  # working pixels: a change near the target narrower than this is a text cursor


@dataclass(frozen=True)
class ScreenComparison:
    """What changed between a recorded screen and the live one, and the verdict."""

    changed_tiles: float
    """Share of tiles that changed, 0 (none) to 1 (all)."""
    at_target: float | None
    """Share of changed pixels around the target point; None without a target."""
    same: bool
    reason: str
    """Why the screens differ (empty when they are the same)."""
    thresholds: tuple[float, float] = (CHANGED_TILES, TARGET_CHANGE)
    """The (changed tiles, at target) shares above which screens differ."""

    def describe(self) -> dict[str, object]:
        return {
            "changed_tiles": round(self.changed_tiles, 4),
            "at_target": None if self.at_target is None else round(self.at_target, 4),
            "same": self.same,
            "reason": self.reason,
            "thresholds": {"changed_tiles": self.thresholds[0], "at_target": self.thresholds[1]},
        }


def compare_screens(
    recorded: Image.Image,
    live: Image.Image,
    target: tuple[float, float] | None = None,
    foreground: tuple[str | None, str | None] = (None, None),
    changed_tiles: float = CHANGED_TILES,
    at_target: float = TARGET_CHANGE,
    words: tuple[str | None, str | None] = (None, None),
) -> ScreenComparison:
    """Compare ``live`` with ``recorded``. ``target`` is the normalized [0, 1] point the next action
    touches; ``foreground`` the (recorded, live) foreground app or activity where known; ``words``
    what the element under the target says, (recorded, live), where both screens list elements."""
    limits = (changed_tiles, at_target)
    was, now = foreground
    if was and now and was != now:
        return ScreenComparison(
            1.0, None, False, f"another app is in front ({now}, recorded {was})", limits
        )
    if abs(recorded.width / recorded.height - live.width / live.height) > 0.02:
        return ScreenComparison(
            1.0,
            None,
            False,
            f"the screen's shape changed ({live.width}x{live.height}, "
            f"recorded {recorded.width}x{recorded.height}): rotated?",
            limits,
        )
    changed = _changed_pixels(recorded, live)
    share = _changed_tile_share(changed)
    near = None if target is None else _share_near(changed, target)
    if share > changed_tiles:
        return ScreenComparison(
            share,
            near,
            False,
            f"{share:.0%} of the screen changed (at most {changed_tiles:.0%} may)",
            limits,
        )
    if words[0] is not None and words[1] is not None and words[0] != words[1]:
        return ScreenComparison(
            share,
            near,
            False,
            f"the element where the action will touch now says {words[1]!r} "
            f"(recorded {words[0]!r})",
            limits,
        )
    if near is not None and near > at_target:
        return ScreenComparison(
            share, near, False, "the screen changed where the action will touch it", limits
        )
    return ScreenComparison(share, near, True, "", limits)


def compare_unchanged(recorded: Image.Image, live: Image.Image) -> ScreenComparison:
    """The strict rule for reusing an answer about a screen (a check's verdict, a query's value):
    no pixel may have changed beyond rendering noise (the same blur and threshold as above, which
    JPEG and subpixel noise stay under). An answer may rest on any text anywhere, so a one-digit
    change too small to change a tile counts here, and so does a blinking cursor (it cannot be
    told from a changed digit). A ticking clock on the screen defeats the rule: freeze it
    (docs/testing.md)."""
    limits = (0.0, 0.0)
    if recorded.size != live.size:
        return ScreenComparison(
            1.0,
            None,
            False,
            f"the screen is {live.width}x{live.height}, the answer "
            f"was given on {recorded.width}x{recorded.height}",
            limits,
        )
    changed = _changed_pixels(recorded, live)
    pixels = int(changed.sum())
    share = _changed_tile_share(changed)
    if pixels == 0:
        return ScreenComparison(share, None, True, "", limits)
    return ScreenComparison(
        share,
        None,
        False,
        f"{pixels} pixels changed since the answer was given (an "
        "answer is reused only on an unchanged screen)",
        limits,
    )


def _working(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    rgb = image.convert("RGB")
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.BOX)
    return np.asarray(rgb.filter(ImageFilter.GaussianBlur(BLUR)), dtype=np.int16)


def _changed_pixels(recorded: Image.Image, live: Image.Image) -> np.ndarray:
    factor = max(1, math.ceil(max(recorded.size) / WORK_LONG_SIDE))
    size = (max(1, recorded.width // factor), max(1, recorded.height // factor))
    # Each colour channel on its own: green and red of one brightness are one grey, and a status
    # light turning from one to the other is the change a check is about.
    difference = np.abs(_working(recorded, size) - _working(live, size)).max(axis=2)
    changed: np.ndarray = difference > PIXEL_CHANGE
    return changed


def _changed_tile_share(changed: np.ndarray) -> float:
    rows, cols = math.ceil(changed.shape[0] / TILE), math.ceil(changed.shape[1] / TILE)
    padded = np.zeros((rows * TILE, cols * TILE), dtype=np.float32)
    padded[: changed.shape[0], : changed.shape[1]] = changed
    per_tile = padded.reshape(rows, TILE, cols, TILE).mean(axis=(1, 3))
    return float((per_tile > TILE_CHANGE).mean())


def _share_near(changed: np.ndarray, target: tuple[float, float]) -> float:
    height, width = changed.shape
    x = min(max(round(target[0] * width), 0), width - 1)
    y = min(max(round(target[1] * height), 0), height - 1)
    window = changed[
        max(0, y - TARGET_RADIUS) : y + TARGET_RADIUS, max(0, x - TARGET_RADIUS) : x + TARGET_RADIUS
    ]
    columns = np.flatnonzero(window.any(axis=0))
    if columns.size == 0 or columns[-1] - columns[0] + 1 < CURSOR_WIDTH:
        return 0.0  # nothing, or a blinking text cursor
    return float(window.mean())
