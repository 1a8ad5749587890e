"""What an answer may be before any dialect reads it, and how its numbers are read.

Model text is input from outside: a runaway generation, a broken server or a hostile page the
model copies can hand us megabytes of brackets, quotes or digits. Every dialect's parser is
linear in the length of the answer, and :meth:`Dialect.parse` refuses an answer longer than
:data:`MAX_ANSWER_CHARS` before any parser runs, so reading one answer takes bounded time.
Numbers are read here, once, for every dialect: a literal that is too long or does not fit in a
float is a :class:`ParseError` the model is told about, never a crash and never a different number
(``1e3`` is 1000, not 1). The limits are documented in docs/tools.md.
"""

from __future__ import annotations

import math
import re

from vlagent.tools.errors import VlagentError
from vlagent.tools.secrets import redact

MAX_ANSWER_CHARS = 65_536
"""Characters of one answer. At about four characters a token that is some 16,000 tokens: far
above the default ``--max-new-tokens 256`` (about 1,000 characters) and any one tool call."""
MAX_DEPTH = 32
"""Brackets nested in one JSON value (a tool call needs three or four)."""
MAX_NUMBER_CHARS = 64
"""Characters of one number literal, sign, point and exponent included (a double has 17
significant digits)."""

_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
"""A decimal number as models write it, in ASCII digits as JSON has them: ``12``, ``-0.5``,
``.5``, ``1e-3``, ``5E2``."""


class ParseError(VlagentError, ValueError):
    """Model text that holds no usable tool call. The message is written for the model to act on."""


def check_answer(text: object) -> str:
    """``text`` when it is a string of at most :data:`MAX_ANSWER_CHARS` characters."""
    if not isinstance(text, str):
        raise ParseError("the answer is not text")
    if len(text) > MAX_ANSWER_CHARS:
        raise ParseError(
            f"the answer is {len(text):,} characters long, over the limit of "
            f"{MAX_ANSWER_CHARS:,}; answer with one short tool call"
        )
    return text


def read_number(literal: str) -> int | float:
    """The number ``literal`` stands for: an int when it has no point or exponent, else a float.
    Raises :class:`ParseError` for a literal that is not a number, is over
    :data:`MAX_NUMBER_CHARS` characters, or whose value is beyond a float's range."""
    shown = literal if len(literal) <= 24 else f"{literal[:20]}... ({len(literal):,} characters)"
    if len(literal) > MAX_NUMBER_CHARS:
        raise ParseError(
            f"the number {shown} is too large to read (at most {MAX_NUMBER_CHARS} "
            "characters); write plain numbers"
        )
    if not is_number(literal):
        raise ParseError(f"{shown} is not a number")
    if any(mark in literal for mark in ".eE"):
        value = float(literal)
        if not math.isfinite(value):
            raise ParseError(
                f"the number {shown} is out of range, not a finite number; write plain numbers"
            )
        return value
    return int(literal)  # at most 64 digits: far below Python's int-string limit


def is_number(literal: str) -> bool:
    """True when ``literal`` is written as a decimal number (whatever its size)."""
    return _NUMBER.fullmatch(literal) is not None


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to about ``limit`` characters, for a message that quotes the answer (masked
    first: a cut secret is no longer one redaction finds)."""
    text = redact(text)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
