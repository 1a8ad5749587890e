"""Typing text as key events (XTEST), never through the clipboard: how the desktop types a secret.
Every program on the display may read the clipboard, and clipboard managers keep a history of it;
key events go to the focused window only.

Each character is one key press: a key of the keyboard map that has the character (with Shift
when it is on the shifted level), or else a spare keycode given the character's keysym while the
text is typed, as xdotool does, and given back afterwards. Line breaks are the Enter key, tabs
the Tab key.
"""

from __future__ import annotations

import time
from typing import Any

from vlagent.environments.base import EnvironmentFault

REMAP_SETTLE_S = 0.05
"""After spare keycodes get their keysyms: the focused program re-reads the keyboard map (it is
told with a MappingNotify) before the first key arrives."""
RESTORE_AFTER_S = 0.3
"""Before the spare keycodes are given back: the program has looked up the last key."""

_RETURN, _TAB, _BACKSPACE, _SHIFT_L = 0xFF0D, 0xFF09, 0xFF08, 0xFFE1
_SPECIAL = {"\n": _RETURN, "\r": _RETURN, "\t": _TAB, "\b": _BACKSPACE}


def keysym_of(char: str) -> int:
    """The X keysym of ``char``: Latin-1 characters are their own code, the rest of Unicode is
    ``0x1000000 + code point`` (X11 keysymdef.h)."""
    if char in _SPECIAL:
        return _SPECIAL[char]
    code = ord(char)
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 | code


def _keyboard(display: Any) -> tuple[dict[int, tuple[int, int]], list[int]]:
    """Where each keysym is on the first two levels (keycode, level), and the keycodes that have
    no keysym at all (spare)."""
    first = display.display.info.min_keycode
    mapping = display.get_keyboard_mapping(first, display.display.info.max_keycode - first + 1)
    found: dict[int, tuple[int, int]] = {}
    spare: list[int] = []
    for offset, keysyms in enumerate(mapping):
        if not any(keysyms):
            spare.append(first + offset)
            continue
        for level in (0, 1):
            if level < len(keysyms) and keysyms[level]:
                found.setdefault(keysyms[level], (first + offset, level))
    return found, spare


def type_keys(display: Any, text: str) -> None:
    """Type ``text`` on ``display`` (a python-xlib ``Display``) as key presses."""
    from Xlib import X
    from Xlib.ext import xtest

    found, spare = _keyboard(display)
    missing = sorted({keysym_of(c) for c in text} - set(found))
    if len(missing) > len(spare):
        raise EnvironmentFault(
            f"the text has {len(missing)} characters the keyboard map lacks and only "
            f"{len(spare)} spare keys to lend them; type it in parts"
        )
    lent = dict(zip(missing, spare))
    for keysym, keycode in lent.items():
        display.change_keyboard_mapping(keycode, [(keysym, keysym)])
        found[keysym] = (keycode, 0)
    try:
        if lent:
            display.sync()
            time.sleep(REMAP_SETTLE_S)
        shift = found.get(_SHIFT_L, (0, 0))[0]
        for char in text:
            keycode, level = found[keysym_of(char)]
            pressed = [shift, keycode] if level == 1 and shift else [keycode]
            for code in pressed:
                xtest.fake_input(display, X.KeyPress, code)
            for code in reversed(pressed):
                xtest.fake_input(display, X.KeyRelease, code)
            display.sync()
    finally:
        if lent:
            time.sleep(RESTORE_AFTER_S)
            for keycode in lent.values():
                display.change_keyboard_mapping(keycode, [(0, 0)])
            display.sync()
