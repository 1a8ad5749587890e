"""The simulated phone's UI elements, and the two views made from a list of them.

A screen of :class:`environments.virtual_android.phone.Phone` is a list of :class:`Element`;
:func:`render_elements` draws it with Pillow and :func:`dump_elements` writes it in
``uiautomator dump``'s XML format, so what the dump reports is exactly what is drawn (same
bounds, same text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from PIL import Image, ImageDraw, ImageFont

Bounds = tuple[int, int, int, int]
_DARK_FILL = {
    "#f8f9fa": "#202124",
    "#ffffff": "#303134",
    "#e3f2fd": "#174ea6",
    "#fff8e1": "#5f4b00",
    "#c8e6c9": "#1e4620",
}
_DARK_TEXT = {"#202124": "#e8eaed"}


@dataclass
class Element:
    """One UI element: drawn, dumped, and (when ``on_tap`` is set) tappable."""

    cls: str
    bounds: Bounds
    text: str = ""
    resource_id: str = ""
    package: str = "com.android.launcher"
    fill: str | None = None
    colour: str = "#202124"
    size: int = 40
    checked: bool | None = None
    focused: bool = False
    scrollable: bool = False
    on_tap: Callable[[], None] | None = None
    on_long_press: Callable[[], None] | None = None

    def contains(self, x: float, y: float) -> bool:
        left, top, right, bottom = self.bounds
        return left <= x < right and top <= y < bottom


def load_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (or Noto Sans CJK) at ``size``; Pillow's default font when neither is there."""
    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    ):
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def render_elements(
    elements: list[Element],
    size: tuple[int, int],
    dark: bool,
    foreground: str,
    font: Callable[[int], Any],
) -> Image.Image:
    """The picture of ``elements`` on a screen of ``size``; with ``dark``, the elements of the
    ``foreground`` app in the dark theme (the bars keep their colours); ``font(size)`` gives the
    font of a text size."""
    image = Image.new("RGB", size, "#f8f9fa")
    draw = ImageDraw.Draw(image)
    for element in elements:
        left, top, right, bottom = element.bounds
        themed = dark and element.package == foreground  # the bars keep their colours
        fill = _DARK_FILL.get(element.fill or "", element.fill) if themed else element.fill
        colour = _DARK_TEXT.get(element.colour, element.colour) if themed else element.colour
        if fill:
            draw.rectangle(
                [left, top, right - 1, bottom - 1],
                fill=fill,
                outline="#dadce0" if element.cls != "android.widget.FrameLayout" else None,
            )
        if element.checked is not None:
            knob = "#34a853" if element.checked else "#9aa0a6"
            cy, r = (top + bottom) // 2, (bottom - top) // 5
            draw.rounded_rectangle(
                [right - 6 * r, cy - r, right - 2 * r, cy + r], radius=r, fill=knob
            )
        if element.text:
            draw.text(
                (left + 24, (top + bottom) // 2),
                _NOT_DRAWN.sub("", element.text),
                fill=colour,
                font=font(element.size),
                anchor="lm",
            )
    return image


# What uiautomator's dumper writes as "." (AccessibilityNodeInfoDumper.stripInvalidXMLChars):
# characters XML cannot hold. NUL too, which it passes on and an XML reader refuses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufdd0-\ufddf\ud800-\udfff]")
# What the renderer draws of a text: no control character (the text engine fails on some).
_NOT_DRAWN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def dump_elements(elements: list[Element]) -> str:
    """The UI hierarchy in ``uiautomator dump``'s XML format."""
    nodes = []
    for index, e in enumerate(elements):
        left, top, right, bottom = e.bounds
        attributes = {
            "index": str(index),
            "text": _NOT_XML.sub(".", e.text),
            "resource-id": e.resource_id,
            "class": e.cls,
            "package": e.package,
            "content-desc": "",
            "checkable": str(e.checked is not None).lower(),
            "checked": str(bool(e.checked)).lower(),
            "clickable": str(e.on_tap is not None).lower(),
            "enabled": "true",
            "focusable": str(e.cls == "android.widget.EditText").lower(),
            "focused": str(e.focused).lower(),
            "scrollable": str(e.scrollable).lower(),
            "long-clickable": str(e.on_long_press is not None).lower(),
            "password": "false",
            "selected": "false",
            "bounds": f"[{left},{top}][{right},{bottom}]",
        }
        nodes.append(
            "<node " + " ".join(f"{k}={quoteattr(v)}" for k, v in attributes.items()) + " />"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
        f'<hierarchy rotation="0">{"".join(nodes)}</hierarchy>'
    )
