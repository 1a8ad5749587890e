"""Key names for ``computer_use``'s ``key`` action.

Models write key names in many spellings (``ctrl``, ``Control``, ``Return``, ``cmd``, ``PageDown``);
we accept the common ones, case-insensitively, and turn them into one canonical name per key.
An unknown name is a validation error that goes back to the model, never a silent no-op.
Environments map canonical names to their input library's names.
"""

from __future__ import annotations

import string

# Canonical names (pyautogui's spelling where it has one).
_NAMED = [
    "enter",
    "esc",
    "tab",
    "space",
    "backspace",
    "delete",
    "insert",
    "home",
    "end",
    "pageup",
    "pagedown",
    "up",
    "down",
    "left",
    "right",
    "ctrl",
    "alt",
    "shift",
    "win",
    "capslock",
    "numlock",
    "scrolllock",
    "printscreen",
    "pause",
    "menu",
    "volumeup",
    "volumedown",
    "volumemute",
    "playpause",
    "nexttrack",
    "prevtrack",
    *(f"f{i}" for i in range(1, 25)),
]
_CHARACTERS = list(string.ascii_lowercase + string.digits + "`-=[]\\;',./")

KEY_NAMES: frozenset[str] = frozenset(_NAMED + _CHARACTERS)

ALIASES: dict[str, str] = {
    "return": "enter",
    "kp_enter": "enter",
    "escape": "esc",
    "control": "ctrl",
    "ctl": "ctrl",
    "control_l": "ctrl",
    "control_r": "ctrl",
    "ctrlleft": "ctrl",
    "ctrlright": "ctrl",
    "alt_l": "alt",
    "alt_r": "alt",
    "altleft": "alt",
    "altright": "alt",
    "option": "alt",
    "shift_l": "shift",
    "shift_r": "shift",
    "shiftleft": "shift",
    "shiftright": "shift",
    "cmd": "win",
    "command": "win",
    "super": "win",
    "super_l": "win",
    "meta": "win",
    "windows": "win",
    "winleft": "win",
    "winright": "win",
    "del": "delete",
    "ins": "insert",
    "bksp": "backspace",
    "back_space": "backspace",
    "page_up": "pageup",
    "pgup": "pageup",
    "prior": "pageup",
    "page_down": "pagedown",
    "pgdn": "pagedown",
    "next": "pagedown",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    "up_arrow": "up",
    "down_arrow": "down",
    "left_arrow": "left",
    "right_arrow": "right",
    "spacebar": "space",
    "caps_lock": "capslock",
    "print": "printscreen",
    "prtsc": "printscreen",
    "apps": "menu",
    "context_menu": "menu",
    "audiovolumeup": "volumeup",
    "audiovolumedown": "volumedown",
    "audiomute": "volumemute",
    "plus": "=",
    "minus": "-",
    "comma": ",",
    "period": ".",
    "slash": "/",
    "backslash": "\\",
    "semicolon": ";",
    "apostrophe": "'",
    "grave": "`",
    "bracketleft": "[",
    "bracketright": "]",
    "equal": "=",
}


def canonical_key(name: str) -> str | None:
    """The canonical name of ``name``, or None when it names no key we know."""
    key = name.strip().lower().replace(" ", "")
    if key in KEY_NAMES:
        return key
    return ALIASES.get(key)
