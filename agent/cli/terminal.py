"""Text from outside vlagent on the terminal: what a model answered, what a recording, a dataset, a
device or a server holds. Such text can carry escape sequences that a terminal obeys (clear the
screen, set the window title, write the clipboard with OSC 52), bidirectional overrides that make
it read as something else, and Rich markup (``[/x]``) that the console would interpret or choke
on. Every command prints it through :func:`terminal_text` (or :func:`terminal_json` for JSON
output), the one place that decides what reaches the terminal (docs/cli.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.segment import Segment

from vlagent.tools.secrets import redact, redact_data

__all__ = ["UNSAFE", "RedactingConsole", "terminal_json", "terminal_text"]

# An escape sequence goes as a whole (its payload too: an OSC 52 clipboard write leaves no base64
# behind, a window title no title): ESC or its 8-bit C1 form, then
#   a control string (OSC, DCS, SOS, PM, APC) up to BEL or ST, or to the end when unterminated,
#   as a terminal swallows it;
#   a CSI with its parameter, intermediate and final bytes;
#   any other escape (ESC c resets the terminal, ESC ( B picks a character set).
_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]"
)

# Line breaks of every kind: one line (an error, a step) shows them as a space; a block keeps
# them as newlines. A lone carriage return would let the text overwrite its own line.
_BREAK = re.compile(r"\r\n|[\n\r\v\f\u2028\u2029]")

# What never reaches the terminal, whatever the mode: C0 controls (tab and newline are handled
# above for blocks), DEL, C1 controls, and the bidirectional embeddings, overrides, isolates and
# marks (text that reads differently from what it holds, as in "Trojan Source").
_UNSAFE_CHARS = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
UNSAFE = re.compile(f"[{_UNSAFE_CHARS}]")

_BACKSLASH_BEFORE_BRACKET = re.compile(r"\\(?=\[(?![a-z#/@][^[]*?\]))")

# A lone surrogate (from a JSON "\ud800") cannot be encoded: printing it would crash.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def terminal_text(value: object, *, block: bool = False, markup: bool = True) -> str:
    """``value`` as text that is safe to print on a Rich console with markup: escape sequences
    removed as a whole, other control and bidi characters removed, lone surrogates replaced by
    U+FFFD, and Rich markup escaped so that it prints literally. One line (line breaks and tabs
    become spaces) unless ``block``, where newlines and tabs stay. ``markup=False``: for a
    terminal that reads no markup (pytest's report, a plain ``print``), not escaped."""
    # Secrets first, while the text still has the form they were escaped into (tools/secrets.py).
    text = _SEQUENCE.sub("", redact(str(value)))
    text = _BREAK.sub("\n" if block else " ", text)
    if not block:
        text = text.replace("\t", " ")
    text = UNSAFE.sub("", _SURROGATE.sub("\ufffd", text))
    # Again once the invisible parts are gone: removing them may have joined a secret's pieces.
    text = redact(text)
    if not markup:
        return text
    # rich.markup.escape escapes tags only, and rich reads any other "\\[" as an escaped "[": one
    # more backslash keeps the text's own.
    text = _BACKSLASH_BEFORE_BRACKET.sub(r"\\\\", text)
    # Backslashes at the end would escape the next tag of the line (and an unmatched closing tag
    # after it is a MarkupError). Doubled and closed by an empty tag they print as they are,
    # whatever follows; rich's own escape doubles one only and shows two when nothing follows.
    trailing = len(text) - len(text.rstrip("\\"))
    if trailing:
        return escape(text[:-trailing]) + "\\" * (2 * trailing) + "[dim][/dim]"
    return escape(text)


def terminal_json(data: Any) -> str:
    """``data`` as indented JSON that is safe to print: characters the terminal would obey are
    written as ``\\uXXXX`` escapes, so a JSON reader still gets exactly the same strings while the
    rest of the text stays readable (not ASCII-escaped)."""
    text = json.dumps(redact_data(data), indent=2, ensure_ascii=False)
    # Outside strings JSON is plain ASCII with newlines and spaces, so every match is inside one.
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# In JSON, lone surrogates and the Unicode line separators are escaped as well (they are valid
# JSON either way; escaped, they neither crash the print nor break the line).
_UNSAFE_IN_JSON = re.compile(f"[{_UNSAFE_CHARS}\\ud800-\\udfff\\u2028\\u2029]")


class RedactingConsole(Console):
    """A console whose every output, vlagent's own lines included, passes the one redaction of
    secrets (tools/secrets.py) as it is written."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return redact(super()._render_buffer(buffer))
