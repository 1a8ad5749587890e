"""Screen comparison against a corpus of real screenshot pairs (tests/data/screen-pairs: the
virtual phone through adb, a Tk window and Chromium on Xvfb; make_pairs.py made them). Each pair is
labelled from what it shows: "same" (a clock tick, a blinking cursor, a notification dot,
rendering noise) or "different" (another app, a dialog, a scrolled list, other text where the
recorded action will touch)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from vlagent.agent.replay.compare import (
    CHANGED_TILES,
    TARGET_CHANGE,
    compare_screens,
    compare_unchanged,
)

CORPUS = Path(__file__).parents[1] / "data" / "screen-pairs"
PAIRS: list[dict[str, Any]] = json.loads((CORPUS / "pairs.json").read_text())


def _open(name: str) -> Image.Image:
    with Image.open(CORPUS / name) as image:
        return image.convert("RGB")


def _compare(pair: dict[str, Any]) -> Any:
    return _compared(pair["name"])


@cache
def _compared(name: str) -> Any:
    pair = next(p for p in PAIRS if p["name"] == name)
    target = tuple(pair["target"]) if pair["target"] else None
    return compare_screens(_open(pair["a"]), _open(pair["b"]), target)


@pytest.mark.parametrize("pair", PAIRS, ids=[p["name"] for p in PAIRS])
def test_each_pair_reads_as_labelled(pair: dict[str, Any]) -> None:
    comparison = _compare(pair)
    assert comparison.same == (pair["expect"] == "same"), (pair["what"], comparison)
    assert bool(comparison.reason) != comparison.same


def test_the_corpus_covers_what_replay_meets() -> None:
    names = {p["name"] for p in PAIRS}
    sources = {p["name"].split("-")[0] for p in PAIRS}
    assert sources == {"phone", "tk", "web"}
    for kind in ("clock", "cursor-blink|caret-blink", "notification-dot", "subpixel|jpeg-noise"):
        assert any(any(k in n for k in kind.split("|")) for n in names if n), kind
    for kind in ("other-app", "dialog", "scrolled", "text-at-target|button-text"):
        assert any(any(k in n for k in kind.split("|")) for n in names), kind


def test_the_thresholds_keep_a_margin_on_both_sides() -> None:
    """Each threshold sits at least 1.4x away from every score that must stay on its side, so a
    little more noise or a little less change does not flip a verdict."""
    same = [_compare(p) for p in PAIRS if p["expect"] == "same"]
    assert max(c.changed_tiles for c in same) * 1.4 <= CHANGED_TILES
    assert max(c.at_target or 0.0 for c in same) * 1.4 <= TARGET_CHANGE
    for pair in (p for p in PAIRS if p["expect"] == "different"):
        c = _compare(pair)
        if c.reason.startswith("another app") or "shape" in c.reason:
            continue
        decisive = c.changed_tiles / CHANGED_TILES
        if c.at_target is not None:
            decisive = max(decisive, c.at_target / TARGET_CHANGE)
        assert decisive >= 1.4, (pair["name"], c)


def test_the_case_a_whole_screen_distance_missed() -> None:
    """Home screen versus Notes on the virtual phone: under 0.03 by a mean over 64x64 thumbnails
    (below the old 0.04 threshold), plainly different here, with or without a target point."""
    pair = next(p for p in PAIRS if p["name"] == "phone-other-app")
    assert not compare_screens(_open(pair["a"]), _open(pair["b"])).same


def test_rotation_and_foreground_decide_without_pixels() -> None:
    portrait = Image.new("RGB", (1080, 2400), "white")
    turned = compare_screens(portrait, Image.new("RGB", (2400, 1080), "white"))
    assert not turned.same and "rotated" in turned.reason
    other = compare_screens(
        portrait, portrait, foreground=("com.vlagent.notes", "com.android.settings")
    )
    assert not other.same and "com.android.settings" in other.reason
    assert compare_screens(
        portrait, portrait, foreground=("a", None)
    ).same  # unknown: pixels decide


def test_a_live_screen_of_another_size_is_compared_at_the_recorded_one() -> None:
    pair = next(p for p in PAIRS if p["name"] == "tk-clock")
    a, b = _open(pair["a"]), _open(pair["b"])
    assert compare_screens(a, b.resize((a.width * 2, a.height * 2)), tuple(pair["target"])).same
    shifted = b.copy()
    ImageDraw.Draw(shifted).rectangle([0, 0, a.width // 2, a.height // 2], fill="black")
    assert not compare_screens(a, shifted.resize((a.width // 2, a.height // 2))).same


@pytest.mark.parametrize("pair", PAIRS, ids=[p["name"] for p in PAIRS])
def test_a_cached_answer_is_reused_only_where_nothing_but_noise_differs(
    pair: dict[str, Any],
) -> None:
    """The plan cache's rule for a check's verdict or a query's value: every pair that shows a
    change, even one replay lets through (a clock, a note's text away from the target, a blinking
    cursor, a minute tick of 20 pixels), means asking again; pure rendering noise does not."""
    noise_only = any(kind in pair["name"] for kind in ("jpeg-noise", "subpixel"))
    comparison = compare_unchanged(_open(pair["a"]), _open(pair["b"]))
    assert comparison.same == noise_only, (pair["what"], comparison)
