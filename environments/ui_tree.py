"""The UI tree for the model: a phone's elements as a short numbered list, and numbered marks on
the screenshot (set-of-marks).

One representation, :class:`~environments.base.UIElement`, serves a live ``uiautomator dump``
and the accessibility trees recorded in datasets (AndroidControl's android_env protos), so a
model sees the same list in a run and in evaluation.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from vlagent.environments.base import UIElement
from vlagent.tools.secrets import redact

_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
_PACKAGE = re.compile(r'<node\b[^>]*?\spackage="([^"]+)"')
MAX_TEXT = 60  # characters of an element's text shown to the model
MARK_COLOURS = ("#d93025", "#1a73e8", "#188038", "#e37400", "#9334e6", "#007b83")


def parse_hierarchy(xml: str) -> list[UIElement]:
    """``uiautomator dump`` XML → every node with bounds, in document order."""
    elements = []
    for node in ET.fromstring(xml).iter("node"):
        match = _BOUNDS.fullmatch(node.get("bounds", ""))
        if match is None:
            continue
        left, top, right, bottom = (int(v) for v in match.groups())
        elements.append(
            UIElement(
                bounds=(left, top, right, bottom),
                text=node.get("text", ""),
                kind=node.get("class", ""),
                resource_id=node.get("resource-id", ""),
                description=node.get("content-desc", ""),
                clickable=node.get("clickable") == "true" or node.get("long-clickable") == "true",
            )
        )
    return elements


def dump_package(xml: str) -> str | None:
    """The app in front when ``xml`` was dumped: the package of its first node (the window's
    root). None when no node names one."""
    found = _PACKAGE.search(xml)
    return found.group(1) if found else None


def from_accessibility_nodes(nodes: Iterable[Mapping[str, Any]]) -> list[UIElement]:
    """Accessibility nodes as datasets record them (``bounds``, ``class_name``, ``text``,
    ``content_description``, ``clickable``, ``visible``) → elements; invisible nodes dropped."""
    return [
        UIElement(
            bounds=tuple(int(v) for v in node["bounds"]),  # type: ignore[arg-type]
            text=node.get("text") or "",
            kind=node.get("class_name") or "",
            resource_id=node.get("resource_id") or "",
            description=node.get("content_description") or "",
            clickable=bool(node.get("clickable")),
        )
        for node in nodes
        if node.get("visible", True)
    ]


def for_model(elements: Iterable[UIElement], size: tuple[int, int]) -> list[UIElement]:
    """The elements worth a line: on screen (bounds clipped to ``size``), with some area, and
    saying something (text or description) or clickable. Repeats (same bounds, same words) and
    containers that say nothing are left out; document order is kept (it reads like the screen)."""
    width, height = size
    kept: list[UIElement] = []
    seen: set[tuple[Any, ...]] = set()
    for element in elements:
        left, top, right, bottom = element.bounds
        left, top = max(left, 0), max(top, 0)
        right, bottom = min(right, width), min(bottom, height)
        if right - left < 2 or bottom - top < 2:
            continue
        if not (element.text or element.description or element.clickable):
            continue
        key = (left, top, right, bottom, element.text, element.description)
        if key in seen:
            continue
        seen.add(key)
        kept.append(
            UIElement(
                bounds=(left, top, right, bottom),
                text=element.text,
                kind=element.kind,
                resource_id=element.resource_id,
                description=element.description,
                clickable=element.clickable,
            )
        )
    return kept


def element_lines(elements: list[UIElement], scale: tuple[float, float] = (1.0, 1.0)) -> str:
    """The numbered list the model reads. Bounds are multiplied by ``scale`` (image pixels →
    the model's own coordinate space)."""
    lines = [
        'Elements on the screen, as number: kind "text" (description) [left,top][right,bottom]. '
        "To act on one, give its number as `element` instead of `coordinate`."
    ]
    for index, element in enumerate(elements):
        left, top, right, bottom = element.bounds
        box = (
            f"[{round(left * scale[0])},{round(top * scale[1])}]"
            f"[{round(right * scale[0])},{round(bottom * scale[1])}]"
        )
        words = f' "{_short(element.text)}"' if element.text else ""
        if element.description and element.description != element.text:
            words += f" ({_short(element.description)})"
        clickable = " clickable" if element.clickable else ""
        lines.append(f"{index}: {short_kind(element.kind)}{words} {box}{clickable}")
    return "\n".join(lines)


def short_kind(kind: str) -> str:
    """``android.widget.Button`` → ``Button``."""
    return kind.rsplit(".", 1)[-1] or "View"


def centre(element: UIElement) -> tuple[float, float]:
    left, top, right, bottom = element.bounds
    return ((left + right) / 2, (top + bottom) / 2)


def draw_marks(image: Image.Image, elements: list[UIElement]) -> Image.Image:
    """A copy of ``image`` with each element outlined and its number in a filled tag at its
    top-left corner (set-of-marks)."""
    marked = image.convert("RGB")
    draw = ImageDraw.Draw(marked)
    size = max(12, round(min(image.size) / 40))
    font = ImageFont.load_default(size=size)
    for index, element in enumerate(elements):
        colour = MARK_COLOURS[index % len(MARK_COLOURS)]
        left, top, right, bottom = element.bounds
        draw.rectangle([left, top, right - 1, bottom - 1], outline=colour, width=max(2, size // 8))
        label = str(index)
        box = draw.textbbox((left, top), label, font=font)
        draw.rectangle([left, top, box[2] + 6, box[3] + 4], fill=colour)
        draw.text((left + 3, top + 1), label, fill="white", font=font)
    return marked


def _short(text: str) -> str:
    # Masked before it is squeezed and cut: a cut secret is no longer one redaction finds.
    text = " ".join(redact(text).split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
