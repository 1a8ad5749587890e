"""The desktop's keyboard: text and key chords as key events (XTEST), never through the clipboard.

Every character is one key press, as a person types it, so every X program gets it the same way
(a terminal, GTK, Chromium, Tk). Pasting is not typing: a terminal reads ctrl+v as "insert the
next key literally", and the clipboard is readable by every program on the display (clipboard
managers keep a history of it). Key events go to the focused window only.

A character is the key of the keyboard map that has it (with Shift when it is on the shifted
level) or, when the map has no key for it (CJK, emoji, accents, RTL scripts), a spare keycode (one
with no keysym) lent the character's keysym, as ``xdotool type`` does. A lent keycode keeps its
character until a keycode is needed for another one, and all are given back (empty) when the
environment closes: a program looks a key up when it handles the event, which may be well after
it was sent, and must never find the keycode empty or holding another character by then. So a
keycode is lent anew only ``RELEND_AFTER_S`` after the last key press, and a text with more
distinct such characters than there are spare keycodes is typed in parts. A line
break is the Enter key, a tab the Tab key, ``\\b`` BackSpace, ESC Escape, DEL Delete; other control
characters have no key and are left out, and the action's message names them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from vlagent.environments.base import EnvironmentFault
from vlagent.tools.keys import CONTROL_KEYS, KEY_MARK, typed_pieces

REMAP_SETTLE_S = 0.05
"""After spare keycodes get their keysyms: the focused program is told the map changed (a
MappingNotify, queued before the keys) and re-reads it before the first lent key arrives."""
RELEND_AFTER_S = 0.5
"""Between the last key press and lending a keycode anew (to another character) or giving it
back: a busy program has handled the keys before its map changes under them."""

RETURN, TAB, BACKSPACE, ESCAPE, DELETE, SHIFT_L = 0xFF0D, 0xFF09, 0xFF08, 0xFF1B, 0xFFFF, 0xFFE1

# Canonical key names (tools/keys.py) → X keysyms (X11 keysymdef.h, XF86keysym.h).
KEYSYMS: dict[str, int] = {
    "plus": 0x2B,  # on the "=" key with Shift, as a person types it
    "enter": RETURN,
    "esc": ESCAPE,
    "tab": TAB,
    "space": 0x20,
    "backspace": BACKSPACE,
    "delete": DELETE,
    "insert": 0xFF63,
    "home": 0xFF50,
    "end": 0xFF57,
    "pageup": 0xFF55,
    "pagedown": 0xFF56,
    "left": 0xFF51,
    "up": 0xFF52,
    "right": 0xFF53,
    "down": 0xFF54,
    "ctrl": 0xFFE3,
    "alt": 0xFFE9,
    "shift": SHIFT_L,
    "win": 0xFFEB,  # Super_L
    "capslock": 0xFFE5,
    "numlock": 0xFF7F,
    "scrolllock": 0xFF14,
    "printscreen": 0xFF61,
    "pause": 0xFF13,
    "menu": 0xFF67,
    "volumeup": 0x1008FF13,
    "volumedown": 0x1008FF11,
    "volumemute": 0x1008FF12,
    "playpause": 0x1008FF14,
    "nexttrack": 0x1008FF17,
    "prevtrack": 0x1008FF16,
    **{f"f{i}": 0xFFBE + i - 1 for i in range(1, 25)},
}

Where = dict[int, tuple[int, int]]
"""keysym → (keycode, level): level 1 is pressed with Shift."""


# The control characters a key types, as tools/keys.CONTROL_KEYS says for every device.
_SPECIAL = {char: KEYSYMS[name] for char, name in CONTROL_KEYS.items()}


def keysym_of(char: str) -> int:
    """The X keysym of ``char``: Latin-1 characters are their own code, the rest of Unicode is
    ``0x1000000 + code point`` (X11 keysymdef.h)."""
    if char in _SPECIAL:
        return _SPECIAL[char]
    code = ord(char)
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 | code


def keystrokes(text: str) -> tuple[list[int], list[str]]:
    """The keysyms that type ``text``, one per character (``\\r\\n`` is one Enter), and the
    characters no key types (control characters, lone surrogates), which are left out: the one
    rule of tools/keys.typed_pieces, as the phone types too."""
    pieces, left_out = typed_pieces(text)
    strokes: list[int] = []
    for piece in pieces:
        if piece.startswith(KEY_MARK):
            strokes.append(KEYSYMS[piece[1:]])
        else:
            strokes += [keysym_of(char) for char in piece]
    return strokes, left_out


def keyboard_map(display: Any) -> tuple[Where, list[int]]:
    """Where each keysym is on the first two levels, and the keycodes with no keysym (spare)."""
    first = display.display.info.min_keycode
    mapping = display.get_keyboard_mapping(first, display.display.info.max_keycode - first + 1)
    found: Where = {}
    spare: list[int] = []
    for offset, keysyms in enumerate(mapping):
        if not any(keysyms):
            spare.append(first + offset)
            continue
        for level in (0, 1):
            if level < len(keysyms) and keysyms[level]:
                found.setdefault(keysyms[level], (first + offset, level))
    return found, spare


def parts(strokes: list[int], found: Where, spare: int) -> Iterator[list[int]]:
    """``strokes`` cut where the keysyms to lend would outnumber the ``spare`` keycodes."""
    part: list[int] = []
    lent: set[int] = set()
    for keysym in strokes:
        if keysym not in found and keysym not in lent:
            if len(lent) == spare:
                yield part
                part, lent = [], set()
            lent.add(keysym)
        part.append(keysym)
    if part:
        yield part


class Keyboard:
    """Key events on one X connection (python-xlib ``Display``), and the spare keycodes it has
    lent characters (keysym → keycode, least recently used first)."""

    def __init__(self, display: Any) -> None:
        self.display = display
        self.lent: dict[int, int] = {}
        self.last_press = 0.0

    def type(self, text: str) -> list[str]:
        """Type ``text`` as key presses; returns the characters left out (no key types them)."""
        strokes, left_out = keystrokes(text)
        found, pool = self._map()
        if not pool and any(k not in found for k in strokes):
            raise EnvironmentFault(
                "the keyboard map of the display has no key for some of the characters and no "
                "spare keycode to lend them; type them on a display with a standard keyboard map"
            )
        shift = found.get(SHIFT_L, (0, 0))[0]
        for part in parts(strokes, found, len(pool)):
            where = self._lend(part, found, pool)
            for keysym in part:
                keycode, level = where[keysym]
                self._tap([shift, keycode] if level == 1 and shift else [keycode])
        return left_out

    def chord(self, names: list[str]) -> None:
        """Press the keys ``names`` (canonical names, tools/keys.py) in order, release them in
        reverse: ``ctrl+shift+t``, ``win``, ``f5``. A key the map lacks (``f13``) is lent."""
        keysyms = [KEYSYMS[n] if n in KEYSYMS else keysym_of(n) for n in names]
        found, pool = self._map()
        if not pool and any(k not in found for k in keysyms):
            raise EnvironmentFault(f"the keyboard map has no key for {'+'.join(names)}")
        where = self._lend(keysyms, found, pool)
        codes = [where[k][0] for k in keysyms]
        shift = found.get(SHIFT_L, (0, 0))[0]
        if shift and shift not in codes and any(where[k][1] == 1 for k in keysyms):
            codes.insert(0, shift)  # a shifted character named as a key ("T", "!")
        self._tap(codes)

    def give_back(self) -> None:
        """Every lent keycode empty again (when the environment closes)."""
        if self.lent:
            self._after_last_press()
            for keycode in self.lent.values():
                self.display.change_keyboard_mapping(keycode, [(0, 0)])
            self.lent.clear()
            self.display.sync()

    def _map(self) -> tuple[Where, list[int]]:
        """The keyboard map without our lent keys, and the keycodes we may lend: the spare ones
        and ours (those still holding what we lent them)."""
        found, spare = keyboard_map(self.display)
        self.lent = {k: c for k, c in self.lent.items() if found.get(k) == (c, 0)}
        ours = set(self.lent.values())
        found = {k: at for k, at in found.items() if at[0] not in ours}
        return found, spare + list(self.lent.values())

    def _lend(self, keysyms: list[int], found: Where, pool: list[int]) -> Where:
        """Where each of ``keysyms`` is: on its own key, or on a keycode lent to it (already,
        or now: a spare one first, else the one of ours used least recently)."""
        needed = list(dict.fromkeys(k for k in keysyms if k not in found))
        for keysym in needed:  # already lent: most recently used now
            if keysym in self.lent:
                self.lent[keysym] = self.lent.pop(keysym)
        busy = {self.lent[k] for k in needed if k in self.lent}
        free = [c for c in pool if c not in set(self.lent.values())]
        free += [c for k, c in self.lent.items() if c not in busy]  # least recently used first
        new = [k for k in needed if k not in self.lent]
        if any(c in set(self.lent.values()) for c in free[: len(new)]):
            self._after_last_press()  # a keycode changes character: the last keys are handled
        for keysym, keycode in zip(new, free):
            self.lent = {k: c for k, c in self.lent.items() if c != keycode}
            self.lent[keysym] = keycode
            self.display.change_keyboard_mapping(keycode, [(keysym, keysym)])
        if new:
            self.display.sync()
            time.sleep(REMAP_SETTLE_S)
        return {**found, **{k: (c, 0) for k, c in self.lent.items()}}

    def _after_last_press(self) -> None:
        time.sleep(max(0.0, self.last_press + RELEND_AFTER_S - time.monotonic()))

    def _tap(self, codes: list[int]) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        for code in codes:
            xtest.fake_input(self.display, X.KeyPress, code)
        for code in reversed(codes):
            xtest.fake_input(self.display, X.KeyRelease, code)
        # One round trip a key: the server has handled it before the next is sent, so a program
        # that is slow to read never finds thousands of keys queued at once.
        self.display.sync()
        self.last_press = time.monotonic()
