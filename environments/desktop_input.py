"""The desktop driver's input: ``computer_use`` actions on the X display.

:class:`PyAutoGuiInput` is the part of :class:`environments.desktop.DesktopEnvironment` that acts:
clicks, moves, drags in steps and wheel scrolls through pyautogui (with its module-wide settings
set for this display while it runs); key chords and typing as key events through XTEST
(environments/xkeys.py), for every text alike, secrets included. Nothing goes through the
clipboard.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from vlagent.environments.base import EnvironmentFault
from vlagent.environments.xkeys import Keyboard
from vlagent.tools import ComputerUse
from vlagent.tools.keys import left_out_words

PIXELS_PER_WHEEL_CLICK = 100
"""``scroll``/``hscroll`` ``pixels`` become wheel clicks: round(pixels / 100), at least one."""
DRAG_STEPS = 12


def wheel_clicks(pixels: int) -> int:
    if pixels == 0:
        return 0
    clicks = round(abs(pixels) / PIXELS_PER_WHEEL_CLICK) or 1
    return clicks if pixels > 0 else -clicks


class PyAutoGuiInput:
    """Actions through pyautogui; mixed into the desktop driver, which sets the attributes below
    when it connects to the display."""

    display: str
    private: bool  # a private Xvfb: nobody holds its mouse, so no fail-safe
    _child_env: dict[str, str]  # the environment of programs started on the display
    _gui: Any  # the pyautogui module
    _x11: Any  # pyautogui's X11 backend module, when it has one
    _x_display: Any  # this environment's own X connection, lent to pyautogui
    _keys: Keyboard  # key events on that connection, made at the first key or text

    def _run(self, action: ComputerUse, points: dict[str, tuple[int, int]]) -> str:
        gui, kind, at = self._gui, action.action, points.get("coordinate")
        clicks = {
            "left_click": ("left", 1),
            "right_click": ("right", 1),
            "middle_click": ("middle", 1),
            "double_click": ("left", 2),
            "triple_click": ("left", 3),
        }
        if kind in clicks:
            button, count = clicks[kind]
            if at is not None:
                gui.moveTo(*at)
            # pyautogui sleeps `interval` after every click, the last one too.
            gui.click(button=button, clicks=count, interval=0.05 if count > 1 else 0.0)
        elif kind == "mouse_move":
            gui.moveTo(*points["coordinate"])
        elif kind == "left_click_drag":
            self._drag(points.get("start_coordinate"), points["coordinate"])
        elif kind in ("scroll", "hscroll"):
            if at is not None:
                gui.moveTo(*at)
            count = wheel_clicks(action.pixels or 0)
            (gui.scroll if kind == "scroll" else gui.hscroll)(count)
            return f"{kind} {count} wheel clicks"
        elif kind == "key":
            self._keyboard().chord(action.keys or [])
        elif kind == "type":
            left_out = self._keyboard().type(action.text or "")
            if left_out:
                return f"type done; {left_out_words(left_out)}"
        elif kind == "wait":
            time.sleep(action.time or 0)
        else:
            return f"{kind} needs nothing from the desktop"
        return f"{kind} done"

    @contextlib.contextmanager
    def _driving(self) -> Iterator[None]:
        """pyautogui's module-wide settings as this environment needs them, for one action, then
        as they were: its X connection (this display's), the fail-safe (on, but for a private
        screen nobody holds the mouse of), and no pause after each call (waits are ours: settle)."""
        gui, x11 = self._gui, self._x11
        saved = (gui.FAILSAFE, gui.PAUSE, getattr(x11, "_display", None))
        gui.FAILSAFE, gui.PAUSE = not self.private, 0.0
        if x11 is not None:
            x11._display = self._x_display
        try:
            yield
        finally:
            gui.FAILSAFE, gui.PAUSE = saved[0], saved[1]
            if x11 is not None:
                x11._display = saved[2]

    def _drag(self, start: tuple[int, int] | None, end: tuple[int, int]) -> None:
        # Press, move in steps, release: applications see real motion events in between.
        gui = self._gui
        if start is not None:
            gui.moveTo(*start)
        x0, y0 = gui.position()
        gui.mouseDown(button="left")
        for i in range(1, DRAG_STEPS + 1):
            gui.moveTo(x0 + (end[0] - x0) * i / DRAG_STEPS, y0 + (end[1] - y0) * i / DRAG_STEPS)
            time.sleep(0.01)
        gui.mouseUp(button="left")

    def _keyboard(self) -> Keyboard:
        """Key events on this environment's own X connection (XTEST)."""
        keyboard: Keyboard | None = getattr(self, "_keys", None)
        if keyboard is None:
            display = getattr(self, "_x_display", None)
            if display is None:
                raise EnvironmentFault(
                    f"typing needs key events, and {self.display} offers no X keyboard"
                )
            keyboard = self._keys = Keyboard(display)
        return keyboard

    def _give_keys_back(self) -> None:
        """The spare keycodes lent to characters, empty again (when the environment closes)."""
        keyboard: Keyboard | None = getattr(self, "_keys", None)
        if keyboard is not None:
            keyboard.give_back()
