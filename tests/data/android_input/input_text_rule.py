# Copyright (C) 2007 The Android Open Source Project
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# A Python port of what Android's `input` does with its arguments, kept as test data: the oracle
# the driver's typing is checked against. See SOURCE.md for the files and commit it follows.
"""What Android's ``input`` command types for its arguments.

Run as a program it is an ``input`` stub: ``input_text_rule.py ARG...`` appends what a phone
would type to the file named by ``$INPUT_TYPED`` (``input keyevent KEYCODE_ENTER`` types a
newline, as Virtual.kcm maps Enter to ``\\n``), and exits 255 with the exception's message, as
``cmd input`` does, when the text has a character the virtual keyboard cannot type.
"""

from __future__ import annotations

import os
import sys

# InputShellCommand.SOURCES: an optional first argument naming the input source.
SOURCES = {
    "keyboard",
    "dpad",
    "gamepad",
    "touchscreen",
    "mouse",
    "stylus",
    "trackball",
    "touchpad",
    "touchnavigation",
    "joystick",
}

# data/keyboards/Virtual.kcm: the characters the virtual keyboard's keys produce (base, shift).
KEYBOARD = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    ")!@#$%^&*( \n\t,<.>/?`~-_=+[{]}\\|;:'\"*+"
)


class NoKeyForCharacter(Exception):
    """KeyCharacterMap.getEvents returned null: ``input`` throws (a NullPointerException)."""


def send_text(text: str) -> str:
    """InputShellCommand.sendText: the characters whose key events it injects for ``text``."""
    buff = list(text)
    escape_flag = False
    i = 0
    while i < len(buff):
        if escape_flag:
            escape_flag = False
            if buff[i] == "s":
                buff[i] = " "
                i -= 1
                del buff[i]
        if buff[i] == "%":
            escape_flag = True
        i += 1
    chars = "".join(buff)
    if not KEYBOARD.issuperset(chars):
        raise NoKeyForCharacter(chars)
    return chars


def input_command(args: list[str]) -> str:
    """InputShellCommand.onCommand for ``text`` and ``keyevent ENTER``: what ``input ARGS`` types.
    (A text argument after the first is never read.)"""
    if args and args[0] in SOURCES:
        args = args[1:]
    if args[:1] == ["-d"]:
        args = args[2:]
    if args[0] == "text":
        return send_text(args[1])
    if args[0] == "keyevent":
        return "".join("\n" for key in args[1:] if key in ("KEYCODE_ENTER", "ENTER", "66"))
    raise ValueError(f"this stub types text only, not {args[0]!r}")


def main() -> int:
    try:
        typed = input_command(sys.argv[1:])
    except NoKeyForCharacter as exc:
        print(f"Exception occurred while executing 'text':\n{exc!r}", file=sys.stderr)
        return 255
    with open(os.environ["INPUT_TYPED"], "a", encoding="utf-8", newline="") as out:
        out.write(typed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
