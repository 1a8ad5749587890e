"""A small phone drawn with Pillow: what the virtual Android device shows and how it reacts.

Screens: a home screen with app icons; "Settings" (a list longer than the screen, scrolled by
swipes, with toggles); "Notes" (a text field, a Save button, the saved notes). A status bar and a
navigation bar (Back, Home) frame every screen; Back and Home behave as on a phone.

Every screen is built as a list of elements first; the picture and ``uiautomator dump`` are both
made from that list, so what the dump reports is exactly what is drawn (same bounds, same text).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from vlagent.environments.virtual_android.elements import (
    Element,
    dump_elements,
    load_font,
    render_elements,
)

SETTINGS = "com.android.settings"
NOTES = "com.vlagent.notes"
ADB_KEYBOARD = "com.android.adbkeyboard"
APPS = {SETTINGS: ("Settings", ".Settings"), NOTES: ("Notes", ".MainActivity")}
SETTING_NAMES = [
    "Wi-Fi",
    "Bluetooth",
    "Airplane mode",
    "Mobile data",
    "Hotspot",
    "NFC",
    "Dark theme",
    "Battery saver",
    "Auto-rotate",
    "Location",
    "Do not disturb",
    "Night light",
] + [f"Option {i}" for i in range(13, 31)]
TOGGLES = SETTING_NAMES[:12]
KEYCODES = {
    3: "HOME",
    4: "BACK",
    24: "VOLUME_UP",
    25: "VOLUME_DOWN",
    26: "POWER",
    66: "ENTER",
    67: "DEL",
    82: "MENU",
    61: "TAB",
    111: "ESCAPE",
    84: "SEARCH",
    187: "APP_SWITCH",
}


@dataclass
class Phone:
    width: int = 1080
    height: int = 2400
    density: int = 420
    ime_installed: bool = True
    stack: list[str] = field(default_factory=list)  # packages, the top one shown
    scroll: int = 0
    toggles: dict[str, bool] = field(default_factory=lambda: {name: False for name in TOGGLES})
    note: str = ""
    notes: list[str] = field(default_factory=list)
    field_focused: bool = False
    keys: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    # System UI demo mode (settings global sysui_demo_allowed, then the com.android.systemui.demo
    # broadcast), as screenshot tests use it: a frozen status-bar clock.
    demo_allowed: bool = False
    demo_clock: str | None = None
    fonts: dict[int, Any] = field(default_factory=dict)

    # -- geometry --------------------------------------------------------------------------------

    @property
    def status_bar(self) -> int:
        return round(self.height * 0.035)

    @property
    def nav_bar(self) -> int:
        return round(self.height * 0.055)

    @property
    def row(self) -> int:
        return round(self.height * 0.07)

    def packages(self) -> list[str]:
        found = ["com.android.launcher", *APPS]
        return found + ([ADB_KEYBOARD] if self.ime_installed else [])

    @property
    def foreground(self) -> str:
        return self.stack[-1] if self.stack else "com.android.launcher"

    # -- the screens, as elements --------------------------------------------------------------

    def elements(self) -> list[Element]:
        w, h = self.width, self.height
        items = [
            Element(
                "android.widget.FrameLayout", (0, 0, w, h), package=self.foreground, fill="#f8f9fa"
            )
        ]
        screen = {SETTINGS: self._settings, NOTES: self._notes}.get(self.foreground, self._home)
        items += screen()
        now = self.demo_clock or datetime.datetime.now().strftime("%H:%M")
        items.append(
            Element(
                "android.widget.TextView",
                (0, 0, w, self.status_bar),
                now,
                "com.android.systemui:id/clock",
                "com.android.systemui",
                "#e8eaed",
                size=self.status_bar // 2,
            )
        )
        top = h - self.nav_bar
        third = w // 3
        items += [
            Element(
                "android.widget.ImageView",
                (0, top, third, h),
                "◀",
                "com.android.systemui:id/back",
                "com.android.systemui",
                "#e8eaed",
                size=self.nav_bar // 2,
                on_tap=self.back,
            ),
            Element(
                "android.widget.ImageView",
                (third, top, 2 * third, h),
                "●",
                "com.android.systemui:id/home",
                "com.android.systemui",
                "#e8eaed",
                size=self.nav_bar // 2,
                on_tap=self.home,
            ),
            Element(
                "android.widget.ImageView",
                (2 * third, top, w, h),
                "■",
                "com.android.systemui:id/recent_apps",
                "com.android.systemui",
                "#e8eaed",
                size=self.nav_bar // 2,
            ),
        ]
        return items

    def _home(self) -> list[Element]:
        w = self.width
        icon = w // 5
        items = []
        for i, (package, (label, _)) in enumerate(APPS.items()):
            left = w // 10 + i * (icon + w // 10)
            top = self.status_bar + self.row
            items.append(
                Element(
                    "android.widget.TextView",
                    (left, top, left + icon, top + icon + self.row // 2),
                    label,
                    f"com.android.launcher:id/app_{label.lower()}",
                    fill="#4285f4" if package == SETTINGS else "#fbbc04",
                    colour="#ffffff",
                    size=self.row // 4,
                    on_tap=self._starter(package),
                )
            )
        return items

    def _settings(self) -> list[Element]:
        w, top_of_list = self.width, self.status_bar + self.row
        items = [
            Element(
                "android.widget.TextView",
                (0, self.status_bar, w, top_of_list),
                "Settings",
                "com.android.settings:id/title",
                SETTINGS,
                "#ffffff",
                size=self.row // 2,
            )
        ]
        bottom = self.height - self.nav_bar
        items.append(
            Element(
                "android.widget.ListView",
                (0, top_of_list, w, bottom),
                "",
                "com.android.settings:id/list",
                SETTINGS,
                scrollable=True,
            )
        )
        for i, name in enumerate(SETTING_NAMES):
            y = top_of_list + i * self.row - self.scroll
            if y + self.row <= top_of_list or y >= bottom:
                continue  # off screen: neither drawn nor dumped
            y0, y1 = max(y, top_of_list), min(y + self.row, bottom)
            checked = self.toggles.get(name)
            items.append(
                Element(
                    "android.widget.Switch" if checked is not None else "android.widget.TextView",
                    (0, y0, w, y1),
                    name,
                    f"com.android.settings:id/item_{i}",
                    SETTINGS,
                    "#c8e6c9" if checked else "#ffffff",
                    size=self.row // 3,
                    checked=checked,
                    on_tap=self._toggler(name) if checked is not None else None,
                )
            )
        return items

    def _notes(self) -> list[Element]:
        w, row = self.width, self.row
        top = self.status_bar
        items = [
            Element(
                "android.widget.TextView",
                (0, top, w, top + row),
                "Notes",
                "com.vlagent.notes:id/title",
                NOTES,
                "#ffffff",
                size=row // 2,
            ),
            Element(
                "android.widget.EditText",
                (w // 20, top + row + row // 4, w - w // 20, top + 2 * row + row // 4),
                self.note,
                "com.vlagent.notes:id/note",
                NOTES,
                "#ffffff" if not self.field_focused else "#e3f2fd",
                size=row // 3,
                focused=self.field_focused,
                on_tap=self._focus,
            ),
            Element(
                "android.widget.Button",
                (w // 20, top + 2 * row + row // 2, w // 3, top + 3 * row + row // 2),
                "Save",
                "com.vlagent.notes:id/save",
                NOTES,
                "#1a73e8",
                "#ffffff",
                size=row // 3,
                on_tap=self.save,
            ),
        ]
        for i, text in enumerate(self.notes):
            y = top + (4 + i) * row
            if y + row > self.height - self.nav_bar:
                break
            items.append(
                Element(
                    "android.widget.TextView",
                    (w // 20, y, w - w // 20, y + row - 10),
                    text,
                    f"com.vlagent.notes:id/saved_{i}",
                    NOTES,
                    "#fff8e1",
                    size=row // 3,
                    on_long_press=self._deleter(i),
                )
            )
        return items

    # -- reactions -----------------------------------------------------------------------------

    def start(self, package: str) -> bool:
        if package not in APPS:
            return False
        if package in self.stack:
            self.stack.remove(package)
        self.stack.append(package)
        self.field_focused = False
        return True

    def _starter(self, package: str) -> Callable[[], None]:
        return lambda: None if self.start(package) else None

    def back(self) -> None:
        if self.field_focused:
            self.field_focused = False  # Back first closes the keyboard
        elif self.stack:
            self.stack.pop()

    def home(self) -> None:
        self.stack.clear()
        self.field_focused = False

    def _toggler(self, name: str) -> Callable[[], None]:
        def toggle() -> None:
            self.toggles[name] = not self.toggles[name]

        return toggle

    def _deleter(self, index: int) -> Callable[[], None]:
        def delete() -> None:
            del self.notes[index]

        return delete

    def _focus(self) -> None:
        self.field_focused = True

    def save(self) -> None:
        if self.note:
            self.notes.append(self.note)
            self.note = ""

    def tap(self, x: float, y: float) -> None:
        for element in reversed(self.elements()):
            if element.contains(x, y) and element.on_tap is not None:
                element.on_tap()
                return

    def long_press(self, x: float, y: float) -> None:
        for element in reversed(self.elements()):
            if element.contains(x, y) and (element.on_long_press or element.on_tap) is not None:
                (element.on_long_press or element.on_tap)()  # type: ignore[misc]
                return

    def swipe(self, x1: float, y1: float, x2: float, y2: float, duration_ms: int) -> None:
        if abs(x2 - x1) < 10 and abs(y2 - y1) < 10:
            (self.long_press if duration_ms >= 400 else self.tap)(x1, y1)
            return
        if self.foreground == SETTINGS:
            visible = self.height - self.nav_bar - self.status_bar - self.row
            longest = max(len(SETTING_NAMES) * self.row - visible, 0)
            self.scroll = int(min(max(self.scroll + (y1 - y2), 0), longest))

    def type_text(self, text: str) -> None:
        if self.foreground == NOTES and self.field_focused:
            self.note += text

    def key(self, name: str) -> None:
        self.keys.append(name)
        if name == "BACK":
            self.back()
        elif name == "HOME":
            self.home()
        elif name == "DEL" and self.field_focused:
            self.note = self.note[:-1]
        elif name == "ENTER" and self.foreground == NOTES and self.field_focused:
            self.save()

    # -- pictures and dumps --------------------------------------------------------------------

    def _font(self, size: int) -> Any:
        if size not in self.fonts:
            self.fonts[size] = load_font(size)
        return self.fonts[size]

    @property
    def dark(self) -> bool:
        """Apps (not the launcher) follow Settings' "Dark theme" toggle."""
        return self.toggles.get("Dark theme", False) and self.foreground in APPS

    def render(self) -> Image.Image:
        return render_elements(
            self.elements(), (self.width, self.height), self.dark, self.foreground, self._font
        )

    def dump(self) -> str:
        """The UI hierarchy in ``uiautomator dump``'s XML format."""
        return dump_elements(self.elements())

    def state(self) -> dict[str, Any]:
        return {
            "foreground": self.foreground,
            "stack": list(self.stack),
            "scroll": self.scroll,
            "toggles": dict(self.toggles),
            "note": self.note,
            "notes": list(self.notes),
            "field_focused": self.field_focused,
            "keys": list(self.keys),
        }
