"""Screenshots for the HTML reports (:mod:`vlagent.agent.outputs.report`): each inlined as a JPEG
data URL, with the action and the listed elements drawn over it as SVG.

Kept apart from the pages themselves so that each module stays short; every value drawn here is
escaped, as the report's own text is.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from typing import Any

from PIL import Image

from vlagent.agent.trajectory import ElementRecord

MAX_SHOT_WIDTH = 4000
"""And at most this wide (JPEG holds at most 65,500 pixels a side)."""
MAX_SHOT_HEIGHT = 900
"""Screenshots are shown (and embedded) at most this tall, as JPEG: a 30-step phone run stays a
few MB."""

_LABELLED_ACTIONS = ("key", "system_button", "open", "scroll", "hscroll")
"""Actions with no point of their own to draw: a label along the bottom names them instead."""


def as_number(value: object) -> float:
    """A metric as a float; anything else (a crafted file) shows as 0."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


class Unreadable(str):
    """Why a screenshot could not be drawn (the page says so in its place)."""


def data_url(data: bytes | None, name: str) -> tuple[str, tuple[int, int]] | Unreadable | None:
    """The screenshot ``name`` (its bytes, read through the file layer by the caller) as a data
    URL with its size; None when there is none; :class:`Unreadable` when the file is damaged (one
    damaged file must not cost the whole report)."""
    if data is None:
        return None
    buffer = io.BytesIO()
    try:  # reading, scaling and encoding: any image a file holds is drawn or named, never fatal
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            shown = image.convert("RGB")
        scale = min(1.0, MAX_SHOT_HEIGHT / shown.height, MAX_SHOT_WIDTH / shown.width)
        if scale < 1:
            shown = shown.resize(
                (max(1, round(shown.width * scale)), max(1, round(shown.height * scale)))
            )
        shown.save(buffer, format="JPEG", quality=85)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return Unreadable(f"{name} is unreadable ({type(exc).__name__})")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), size


def figure_html(
    shot: tuple[str, tuple[int, int]] | Unreadable | None,
    marks: Callable[[tuple[int, int]], str],
    alt: str,
) -> str:
    """The screenshot with ``marks`` (drawn for its size) over it, or why it could not be shown."""
    if isinstance(shot, Unreadable):
        return f'<p class="error">screenshot {html.escape(shot)}</p>'
    if shot is None:
        return ""
    url, size = shot
    return (
        f'<figure><img class="screen" src="{url}" alt="{html.escape(alt)}">{marks(size)}</figure>'
    )


def overlay(
    normalized: dict[str, Any] | None,
    size: tuple[int, int],
    key: str = "0",
    colour: str = "#ea4335",
    svg: bool = True,
) -> str:
    """SVG marks for an action's normalized arguments (points scaled to the image): a ring for a
    click, an arrow for a swipe or drag, the text for typing, a label for keys and buttons."""
    if not normalized:
        return ""
    width, height = size
    marks = _point_marks(normalized, size, key, colour)
    label = _action_label(normalized)
    if label:
        marks.append(_label_mark(label, size))
    head = (
        f'<defs><marker id="head-{key}" markerWidth="4" markerHeight="4" refX="2" refY="2" '
        f'orient="auto"><path d="M0,0 L4,2 L0,4 z" fill="{colour}"/></marker></defs>'
    )
    if not svg:
        return head + "".join(marks)
    return (
        f'<svg class="overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none">'
        f"{head}{''.join(marks)}</svg>"
    )


def _at(normalized: dict[str, Any], name: str, size: tuple[int, int]) -> tuple[float, float] | None:
    """The argument ``name`` as a point in pixels of ``size``; None unless it is two numbers (a
    crafted file may hold anything there)."""
    point = normalized.get(name)
    if not (isinstance(point, list) and len(point) == 2 and all(as_number(v) == v for v in point)):
        return None
    return (point[0] * size[0], point[1] * size[1])


def _point_marks(
    normalized: dict[str, Any], size: tuple[int, int], key: str, colour: str
) -> list[str]:
    """An arrow from start to end for a swipe or drag, else a ring for a single point."""
    r = max(size) / 40
    start = (
        _at(normalized, "start_coordinate", size)
        or _at(normalized, "coordinate", size)
        or _at(normalized, "point", size)  # point: custom tools (move_to)
    )
    end = _at(normalized, "coordinate2", size) or (
        _at(normalized, "coordinate", size) if _at(normalized, "start_coordinate", size) else None
    )
    if start and end:
        return [
            f'<line class="arrow" x1="{start[0]:.1f}" y1="{start[1]:.1f}" x2="{end[0]:.1f}" '
            f'y2="{end[1]:.1f}" stroke="{colour}" stroke-width="{r / 4:.1f}" '
            f'marker-end="url(#head-{key})"/>',
            f'<circle cx="{start[0]:.1f}" cy="{start[1]:.1f}" r="{r / 2:.1f}" fill="{colour}"/>',
        ]
    if start:
        return [
            f'<circle class="click" cx="{start[0]:.1f}" cy="{start[1]:.1f}" r="{r:.1f}" '
            f'fill="none" stroke="{colour}" stroke-width="{r / 4:.1f}"/>',
            f'<circle cx="{start[0]:.1f}" cy="{start[1]:.1f}" r="{r / 5:.1f}" fill="{colour}"/>',
        ]
    return []


def _action_label(normalized: dict[str, Any]) -> str | None:
    """The text typed, or the key, button, app or scroll named; None for other actions."""
    kind = str(normalized.get("action", ""))
    if kind == "type":
        return f"⌨ {normalized.get('text', '')}"
    if kind in _LABELLED_ACTIONS:
        value = (
            normalized.get("keys")
            or normalized.get("button")
            or normalized.get("text")
            or normalized.get("pixels")
        )
        return f"{kind}: {' + '.join(value) if isinstance(value, list) else value}"
    return None


def _label_mark(label: str, size: tuple[int, int]) -> str:
    """``label`` as white text on a dark band along the image's bottom edge."""
    width, height = size
    font = max(height / 35, 12)
    return (
        f'<rect x="0" y="{height - font * 1.8:.1f}" width="{width}" height="{font * 1.8:.1f}" '
        f'fill="#202124" fill-opacity="0.8"/><text class="label" x="{font / 2:.1f}" '
        f'y="{height - font * 0.55:.1f}" font-size="{font:.1f}" '
        f'fill="#fff">{html.escape(label)}</text>'
    )


def element_boxes(
    elements: list[ElementRecord], size: tuple[int, int], recorded: tuple[int, int], chosen: object
) -> str:
    """Each listed element outlined, with its number; the one the model named stands out."""
    sx, sy = size[0] / max(recorded[0], 1), size[1] / max(recorded[1], 1)
    font = max(size[1] / 70, 10)
    parts = []
    for index, element in enumerate(elements):
        left, top, right, bottom = element.bounds
        colour, width = ("#ea4335", 4) if index == chosen else ("#1a73e8", 1.5)
        parts.append(
            f'<rect class="element" x="{left * sx:.1f}" y="{top * sy:.1f}" '
            f'width="{(right - left) * sx:.1f}" height="{(bottom - top) * sy:.1f}" fill="none" '
            f'stroke="{colour}" stroke-width="{width}"/><text x="{left * sx + 2:.1f}" '
            f'y="{top * sy + font:.1f}" font-size="{font:.1f}" fill="{colour}">{index}</text>'
        )
    return "".join(parts)
