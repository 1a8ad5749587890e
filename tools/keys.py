"""Key names for ``computer_use``'s ``key`` action.

Models write key names in many spellings (``ctrl``, ``Control``, ``Return``, ``cmd``, ``PageDown``);
we accept the common ones, case-insensitively, and turn them into one canonical name per key.
An unknown name is a validation error that goes back to the model, never a silent no-op.
Environments map canonical names to their input library's names.
"""

from __future__ import annotations

import re
import string
import unicodedata

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
    "plus",  # its own key name: "+" joins the keys of a chord
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


def chord(keys: list[str]) -> list[str]:
    """The keys of a ``key`` action, each canonical where we know it (else lower-cased as given);
    ``ctrl+c`` counts as two, as :class:`ComputerUse` validation splits it."""
    parts = [part for key in keys for part in (key.split("+") if key.strip() != "+" else [key])]
    return [canonical_key(part) or part.strip().lower() for part in parts]


# Android's key codes (android.view.KeyEvent), by code: ``input keyevent`` takes the name (with
# or without KEYCODE_) and, on older Android, the number. Codes past the table are refused.
ANDROID_KEYCODES: tuple[str, ...] = tuple(
    """UNKNOWN SOFT_LEFT SOFT_RIGHT HOME BACK CALL ENDCALL 0 1 2 3 4 5 6 7 8 9 STAR POUND DPAD_UP
    DPAD_DOWN DPAD_LEFT DPAD_RIGHT DPAD_CENTER VOLUME_UP VOLUME_DOWN POWER CAMERA CLEAR A B C D E
    F G H I J K L M N O P Q R S T U V W X Y Z COMMA PERIOD ALT_LEFT ALT_RIGHT SHIFT_LEFT
    SHIFT_RIGHT TAB SPACE SYM EXPLORER ENVELOPE ENTER DEL GRAVE MINUS EQUALS LEFT_BRACKET
    RIGHT_BRACKET BACKSLASH SEMICOLON APOSTROPHE SLASH AT NUM HEADSETHOOK FOCUS PLUS MENU
    NOTIFICATION SEARCH MEDIA_PLAY_PAUSE MEDIA_STOP MEDIA_NEXT MEDIA_PREVIOUS MEDIA_REWIND
    MEDIA_FAST_FORWARD MUTE PAGE_UP PAGE_DOWN PICTSYMBOLS SWITCH_CHARSET BUTTON_A BUTTON_B
    BUTTON_C BUTTON_X BUTTON_Y BUTTON_Z BUTTON_L1 BUTTON_R1 BUTTON_L2 BUTTON_R2 BUTTON_THUMBL
    BUTTON_THUMBR BUTTON_START BUTTON_SELECT BUTTON_MODE ESCAPE FORWARD_DEL CTRL_LEFT CTRL_RIGHT
    CAPS_LOCK SCROLL_LOCK META_LEFT META_RIGHT FUNCTION SYSRQ BREAK MOVE_HOME MOVE_END INSERT
    FORWARD MEDIA_PLAY MEDIA_PAUSE MEDIA_CLOSE MEDIA_EJECT MEDIA_RECORD F1 F2 F3 F4 F5 F6 F7 F8
    F9 F10 F11 F12 NUM_LOCK NUMPAD_0 NUMPAD_1 NUMPAD_2 NUMPAD_3 NUMPAD_4 NUMPAD_5 NUMPAD_6
    NUMPAD_7 NUMPAD_8 NUMPAD_9 NUMPAD_DIVIDE NUMPAD_MULTIPLY NUMPAD_SUBTRACT NUMPAD_ADD NUMPAD_DOT
    NUMPAD_COMMA NUMPAD_ENTER NUMPAD_EQUALS NUMPAD_LEFT_PAREN NUMPAD_RIGHT_PAREN VOLUME_MUTE INFO
    CHANNEL_UP CHANNEL_DOWN ZOOM_IN ZOOM_OUT TV WINDOW GUIDE DVR BOOKMARK CAPTIONS SETTINGS
    TV_POWER TV_INPUT STB_POWER STB_INPUT AVR_POWER AVR_INPUT PROG_RED PROG_GREEN PROG_YELLOW
    PROG_BLUE APP_SWITCH BUTTON_1 BUTTON_2 BUTTON_3 BUTTON_4 BUTTON_5 BUTTON_6 BUTTON_7 BUTTON_8
    BUTTON_9 BUTTON_10 BUTTON_11 BUTTON_12 BUTTON_13 BUTTON_14 BUTTON_15 BUTTON_16
    LANGUAGE_SWITCH MANNER_MODE 3D_MODE CONTACTS CALENDAR MUSIC CALCULATOR ZENKAKU_HANKAKU EISU
    MUHENKAN HENKAN KATAKANA_HIRAGANA YEN RO KANA ASSIST BRIGHTNESS_DOWN BRIGHTNESS_UP
    MEDIA_AUDIO_TRACK SLEEP WAKEUP PAIRING MEDIA_TOP_MENU 11 12 LAST_CHANNEL TV_DATA_SERVICE
    VOICE_ASSIST TV_RADIO_SERVICE TV_TELETEXT TV_NUMBER_ENTRY TV_TERRESTRIAL_ANALOG
    TV_TERRESTRIAL_DIGITAL TV_SATELLITE TV_SATELLITE_BS TV_SATELLITE_CS TV_SATELLITE_SERVICE
    TV_NETWORK TV_ANTENNA_CABLE TV_INPUT_HDMI_1 TV_INPUT_HDMI_2 TV_INPUT_HDMI_3 TV_INPUT_HDMI_4
    TV_INPUT_COMPOSITE_1 TV_INPUT_COMPOSITE_2 TV_INPUT_COMPONENT_1 TV_INPUT_COMPONENT_2
    TV_INPUT_VGA_1 TV_AUDIO_DESCRIPTION TV_AUDIO_DESCRIPTION_MIX_UP TV_AUDIO_DESCRIPTION_MIX_DOWN
    TV_ZOOM_MODE TV_CONTENTS_MENU TV_MEDIA_CONTEXT_MENU TV_TIMER_PROGRAMMING HELP
    NAVIGATE_PREVIOUS NAVIGATE_NEXT NAVIGATE_IN NAVIGATE_OUT STEM_PRIMARY STEM_1 STEM_2 STEM_3
    DPAD_UP_LEFT DPAD_DOWN_LEFT DPAD_UP_RIGHT DPAD_DOWN_RIGHT MEDIA_SKIP_FORWARD
    MEDIA_SKIP_BACKWARD MEDIA_STEP_FORWARD MEDIA_STEP_BACKWARD SOFT_SLEEP CUT COPY PASTE
    SYSTEM_NAVIGATION_UP SYSTEM_NAVIGATION_DOWN SYSTEM_NAVIGATION_LEFT SYSTEM_NAVIGATION_RIGHT
    ALL_APPS REFRESH THUMBS_UP THUMBS_DOWN PROFILE_SWITCH VIDEO_APP_1 VIDEO_APP_2 VIDEO_APP_3
    VIDEO_APP_4 VIDEO_APP_5 VIDEO_APP_6 VIDEO_APP_7 VIDEO_APP_8 FEATURED_APP_1 FEATURED_APP_2
    FEATURED_APP_3 FEATURED_APP_4 DEMO_APP_1 DEMO_APP_2 DEMO_APP_3 DEMO_APP_4
    KEYBOARD_BACKLIGHT_DOWN KEYBOARD_BACKLIGHT_UP KEYBOARD_BACKLIGHT_TOGGLE STYLUS_BUTTON_PRIMARY
    STYLUS_BUTTON_SECONDARY STYLUS_BUTTON_TERTIARY STYLUS_BUTTON_TAIL RECENT_APPS MACRO_1 MACRO_2
    MACRO_3 MACRO_4 EMOJI_PICKER SCREENSHOT DICTATE NEW CLOSE DO_NOT_DISTURB PRINT LOCK FULLSCREEN
    F13 F14 F15 F16 F17 F18 F19 F20 F21 F22 F23 F24""".split()
)
_ANDROID_NAMES = frozenset(ANDROID_KEYCODES)
SYSTEM_BUTTON_NAMES = ("Back", "Home", "Menu", "Enter")
"""``mobile_use``'s ``system_button`` buttons; each presses the Android key of its name."""

# Desktop names (the one alias table above) whose Android key has another name.
_FROM_DESKTOP = {
    "esc": "ESCAPE",
    "backspace": "DEL",
    "delete": "FORWARD_DEL",
    "pageup": "PAGE_UP",
    "pagedown": "PAGE_DOWN",
    "up": "DPAD_UP",
    "down": "DPAD_DOWN",
    "left": "DPAD_LEFT",
    "right": "DPAD_RIGHT",
    "ctrl": "CTRL_LEFT",
    "alt": "ALT_LEFT",
    "shift": "SHIFT_LEFT",
    "win": "META_LEFT",
    "capslock": "CAPS_LOCK",
    "numlock": "NUM_LOCK",
    "scrolllock": "SCROLL_LOCK",
    "printscreen": "SYSRQ",
    "pause": "BREAK",
    "volumeup": "VOLUME_UP",
    "volumedown": "VOLUME_DOWN",
    "volumemute": "VOLUME_MUTE",
    "playpause": "MEDIA_PLAY_PAUSE",
    "nexttrack": "MEDIA_NEXT",
    "prevtrack": "MEDIA_PREVIOUS",
}


def android_keycode(name: str) -> str | None:
    """The Android key ``name`` means (``SETTINGS`` for ``keycode_settings``, ``176``, ``Settings``;
    ``ESCAPE`` for ``esc``), or None when it names no key. The android environment presses
    exactly this key, and policies judge exactly this key."""
    key = re.sub(r"[\s-]+", "_", name.strip().upper()).removeprefix("KEYCODE_")
    if key in _ANDROID_NAMES:  # names first: "1" is the key 1, not key code 1
        return key if key != "UNKNOWN" else None
    if key.isascii() and key.isdigit():
        code = int(key)
        return ANDROID_KEYCODES[code] if 0 < code < len(ANDROID_KEYCODES) else None
    desktop = canonical_key(name)
    if desktop is None:
        return None
    found = _FROM_DESKTOP.get(desktop, desktop.upper())
    return found if found in _ANDROID_NAMES else None


# -- control characters in typed text: one rule for every device ---------------------------------

CONTROL_KEYS: dict[str, str] = {
    "\n": "enter",
    "\r": "enter",
    "\t": "tab",
    "\b": "backspace",
    "\x1b": "esc",
    "\x7f": "delete",
}
"""The control characters typed text may hold that a key types: a line break is Enter (``\\r\\n``
is one), a tab Tab, ``\\b`` BackSpace, ESC Escape, DEL Delete. Any other control character (or a
lone surrogate) has no key, and is left out (the step's message names it)."""


def typed_pieces(text: str, literal: str = "") -> tuple[list[str], list[str]]:
    """``text`` as the desktop and the phone type it: runs of plain characters, and between them
    the canonical key names of :data:`CONTROL_KEYS` as one-item markers ``"\\0enter"``; and the
    characters left out. ``literal``: control characters the device types as text itself
    (Android's ``input text`` types a tab)."""
    pieces: list[str] = []
    left_out: list[str] = []
    run: list[str] = []
    for char in text.replace("\r\n", "\n"):
        if char in literal:
            run.append(char)
        elif char in CONTROL_KEYS:
            pieces += (["".join(run)] if run else []) + [KEY_MARK + CONTROL_KEYS[char]]
            run = []
        elif unicodedata.category(char) in ("Cc", "Cs"):
            left_out.append(char)
        else:
            run.append(char)
    return pieces + (["".join(run)] if run else []), left_out


KEY_MARK = "\0"
"""What starts a piece of :func:`typed_pieces` that is a key, not text (NUL is never typed)."""


def left_out_words(left_out: list[str]) -> str:
    """The message part that names the characters no key types."""
    codes = ", ".join(f"U+{ord(c):04X}" for c in left_out[:5])
    return f"left out {len(left_out)} control character(s) ({codes}): no key"
