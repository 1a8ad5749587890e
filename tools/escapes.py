"""Every form a text takes when it is quoted or escaped on its way out, so that redaction
(tools/secrets.py) finds a secret however a message quoted it.

A form is what the secret becomes *inside* a quoted or escaped text: the escapers below all work
character by character (Python's ``repr``/``ascii`` and bytes ``repr``, JSON with and without
``ensure_ascii``, the shells' quoting including the Android ``input text`` spelling, URL
encoding, HTML escaping), so the secret's part of a larger escaped message is its own form,
whatever surrounds it. The quote a ``repr`` picks depends on the whole message, so each quoting
choice is a form. One escaper inside another (a command line quoted, then ``repr``'d in an error)
is covered for the escapers that wrap others in practice: ``repr``, ``ascii`` and JSON; deeper
nesting, and invisible characters put between a value's characters, are undone by
:func:`unnested`, the view of a text in which a form is searched a second time.
"""

from __future__ import annotations

import base64
import html
import html.entities
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Literal
from urllib.parse import quote, quote_plus

Encoder = Callable[[str], Iterable[str]]

MIN_BASE64_CHUNK = 8
"""Base64 text shorter than this is too likely to occur by chance to be masked."""


def _python_char(c: str, escaped_quotes: str, ascii_only: bool) -> str:
    if c == "\\":
        return "\\\\"
    if c in escaped_quotes:
        return "\\" + c
    if c in "'\"":
        return c
    return (ascii(c) if ascii_only else repr(c))[1:-1]


def _bytes_char(byte: int, escaped_quotes: str) -> str:
    c = chr(byte)
    if c == "\\" or c in escaped_quotes:
        return "\\" + c
    special = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
    if c in special:
        return special[c]
    return c if 0x20 <= byte < 0x7F else f"\\x{byte:02x}"


def python_forms(value: str) -> Iterator[str]:
    """``repr``, ``ascii`` and the ``repr`` of the UTF-8 bytes, for each choice of quote."""
    for quotes in ("", "'", '"', "'\""):
        for ascii_only in (False, True):
            yield "".join(_python_char(c, quotes, ascii_only) for c in value)
    data = value.encode("utf-8", "surrogatepass")
    for quotes in ("", "'", '"'):
        yield "".join(_bytes_char(b, quotes) for b in data)


def json_forms(value: str) -> Iterator[str]:
    """JSON string contents, with and without ``ensure_ascii``, and with ``/`` escaped."""
    for ascii_only in (True, False):
        form = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        yield form
        yield form.replace("/", "\\/")


def shell_forms(value: str) -> Iterator[str]:
    """POSIX shell quoting (``shlex.quote``: ``'`` becomes ``'"'"'``), inside double quotes, with a
    backslash before every other character, and the Android ``input text`` spelling (spaces as
    ``%s``, then ``shlex.quote``)."""
    yield value.replace("'", "'\"'\"'")
    yield re.sub(r'([\\$`"])', r"\\\1", value)
    yield re.sub(r"([^A-Za-z0-9_])", r"\\\1", value)
    android = value.replace(" ", "%s")
    yield android
    yield android.replace("'", "'\"'\"'")


def url_forms(value: str) -> Iterator[str]:
    """Percent-encoding as ``quote`` and ``quote_plus`` write it (``/`` kept or not)."""
    for safe in ("", "/"):
        yield quote(value, safe=safe, errors="surrogatepass")
        yield quote_plus(value, safe=safe, errors="surrogatepass")


def html_forms(value: str) -> Iterator[str]:
    """HTML escaping: ``html.escape`` with and without quotes, the ``&#34;``/``&#39;`` spelling,
    and characters outside ASCII as decimal, hex and named references."""
    yield html.escape(value)
    yield html.escape(value, quote=False)
    yield html.escape(value, quote=False).replace('"', "&#34;").replace("'", "&#39;")
    escaped = html.escape(value)
    yield escaped.encode("ascii", "xmlcharrefreplace").decode("ascii")
    yield "".join(c if ord(c) < 0x80 else f"&#x{ord(c):x};" for c in escaped)
    names = html.entities.codepoint2name
    yield "".join(f"&{names[ord(c)]};" if ord(c) in names else c for c in value)


def flattened_forms(value: str) -> Iterator[str]:
    """The text as a one-line terminal shows it: line breaks and tabs as spaces, other control
    characters left out."""
    spaced = re.sub(r"[\r\n\t\v\f]", " ", value)
    yield spaced
    yield re.sub(r"[\x00-\x1f\x7f]", "", spaced)


def base64_forms(value: str) -> Iterator[str]:
    """The base64 characters that only the secret decides, wherever it starts in the encoded
    bytes (ADB Keyboard types text given in base64)."""
    data = value.encode("utf-8", "surrogatepass")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        chunk = encoded[-(-shift * 8 // 6) : (shift + len(data)) * 8 // 6]
        if len(chunk) >= MIN_BASE64_CHUNK:
            yield chunk
            yield chunk.replace("+", "-").replace("/", "_")


ENCODERS: tuple[Encoder, ...] = (
    python_forms,
    json_forms,
    shell_forms,
    url_forms,
    html_forms,
    flattened_forms,
)
OUTER: tuple[Encoder, ...] = (python_forms, json_forms)
"""The escapers that wrap another escaper's output in practice (an error's ``repr`` of a
quoted command line, JSON inside JSON)."""

_HEX_ESCAPE = re.compile(r"(\\[xuU]|%|&#[xX])([0-9a-fA-F]{2,8})")


def _hex_cases(form: str) -> Iterator[str]:
    yield form
    yield _HEX_ESCAPE.sub(lambda m: m.group(1) + m.group(2).upper(), form)
    yield _HEX_ESCAPE.sub(lambda m: m.group(1) + m.group(2).lower(), form)


def _apply(encoders: Iterable[Encoder], value: str) -> set[str]:
    forms: set[str] = set()
    for encoder in encoders:
        try:
            forms.update(encoder(value))
        except (UnicodeError, ValueError):  # a lone surrogate some escaper refuses: no such form
            continue
    return forms


NORMAL_FORMS: tuple[Literal["NFC", "NFD", "NFKC", "NFKD"], ...] = ("NFC", "NFD", "NFKC", "NFKD")


def escaped_forms(value: str) -> frozenset[str]:
    """``value`` and every escaped form of it (one escaper, or one of :data:`OUTER` around
    another), in both cases of hex digits. Empty forms are left out."""
    # The value as each Unicode normal form spells it: NFD "é" is another string that shows the
    # same (a text field or a browser may hand back either).
    spellings = {value} | {unicodedata.normalize(form, value) for form in NORMAL_FORMS}
    first = set(spellings).union(*(_apply(ENCODERS, spelled) for spelled in spellings))
    forms = set(first)
    for form in first:
        forms |= _apply(OUTER, form)
    forms |= set(base64_forms(value))
    return frozenset(case for form in forms for case in _hex_cases(form) if case)


# -- one view for every depth of nesting -----------------------------------------------------------

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), and the C0/C1 controls but
# tab and newline: characters that show nothing.
_SHOW_NOTHING = (
    (0x00, 0x08), (0x0B, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x34F, 0x34F), (0x61C, 0x61C),
    (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
IGNORABLE = "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _SHOW_NOTHING) + "]"
"""Characters that show nothing: put between a secret's characters, they would hide it from a
plain search while a browser or a terminal still shows the value whole."""
_IGNORABLE = re.compile(IGNORABLE + "+")

# Each layer of repr/JSON around another doubles every backslash and may put one before each
# quote; each layer of shell quoting spells a ' as '"'"' (itself escaped by the next layer). A
# text quoted n layers deep differs from its one-layer form only in these, so both are read in a
# view where they are undone, layer by layer: a run of backslashes is one, backslashes before a
# quote go, and the shell's spelling of ' is '.
_NESTING = re.compile(r"""(\\*'\\*"\\*'\\*"\\*')|(\\+(?=['"]))|(\\+)""")
_UNNESTED = ("'", "", "\\")
MAX_LAYERS = 8


class View:
    """A text as :func:`unnested` reads it, with where each of its characters came from:
    ``view[i:j]`` stands for ``text[view.span(i, j)]``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.view = text
        self._starts: list[int] | None = None
        self._ends: list[int] | None = None

    def span(self, i: int, j: int) -> slice:
        if self._starts is None or self._ends is None:
            return slice(i, j)
        return slice(self._starts[i], self._ends[j - 1])

    def rewrite(self, pattern: re.Pattern[str], spelled: Callable[[re.Match[str]], str]) -> bool:
        """Each match of ``pattern`` in the view replaced by ``spelled(match)`` (at most one
        character); whether anything changed."""
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        at = 0
        for match in pattern.finditer(self.view):
            pieces.append(self.view[at : match.start()])
            starts.extend(range(at, match.start()))
            ends.extend(range(at + 1, match.start() + 1))
            new = spelled(match)
            if new == match.group():
                starts.extend(range(match.start(), match.end()))
                ends.extend(range(match.start() + 1, match.end() + 1))
            elif new:
                starts.append(match.start())
                ends.append(match.end())
            pieces.append(new)
            at = match.end()
        if not at:
            return False
        pieces.append(self.view[at:])
        starts.extend(range(at, len(self.view)))
        ends.extend(range(at + 1, len(self.view) + 1))
        view = "".join(pieces)
        if view == self.view:
            return False
        self._compose(starts, ends)
        self.view = view
        return True

    def _compose(self, starts: list[int], ends: list[int]) -> None:
        if self._starts is not None and self._ends is not None:
            old_starts, old_ends = self._starts, self._ends
            starts = [old_starts[i] for i in starts]
            ends = [old_ends[i - 1] for i in ends]
        self._starts, self._ends = starts, ends


_ESCAPED_CHARACTER = re.compile(
    r"\\+u([dD][89abAB][0-9a-fA-F]{2})\\+u([dD][c-fC-F][0-9a-fA-F]{2})"  # JSON's surrogate pair
    r"|\\+(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2})"
)


def _without_ignorable(match: re.Match[str]) -> str:
    """An escaped character (``\\u200b``) that shows nothing goes, like the character itself."""
    high, low = match.group(1), match.group(2)
    if high is not None and low is not None:
        code = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
    else:
        code = int(match.group().lstrip("\\")[1:], 16)
    shows_nothing = code <= 0x10FFFF and _IGNORABLE.fullmatch(chr(code)) is not None
    return "" if shows_nothing else match.group()


def unnested(text: str) -> View:
    """``text`` without invisible characters and with its layers of nested quoting undone (at
    most :data:`MAX_LAYERS`): a secret quoted any number of layers deep, or split by characters
    that show nothing, reads as its one-layer form."""
    view = View(text)
    view.rewrite(_IGNORABLE, lambda match: "")
    view.rewrite(_ESCAPED_CHARACTER, _without_ignorable)  # one repr'd or JSON'd, at any depth
    for _ in range(MAX_LAYERS):
        if not view.rewrite(_NESTING, lambda match: _UNNESTED[(match.lastindex or 3) - 1]):
            break
    return view
