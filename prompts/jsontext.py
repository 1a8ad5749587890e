"""Lenient reading of the JSON that models write.

Models wrap JSON in code fences, leave trailing commas, use single quotes, or stop before the
closing brace. We repair the common slips with plain string rules; model text is never evaluated
as code. Every step is one pass over the text: the brackets are counted once (a value nested over
``MAX_DEPTH`` deep is refused before the decoder sees it), numbers are read by
:func:`~vlagent.prompts.bounds.read_number`, and only the first object is tried.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from vlagent.prompts.bounds import MAX_DEPTH, ParseError, read_number

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_TOKEN = re.compile(r'\\.|["{}\[\]]', re.DOTALL)
"""What bracket counting looks at: an escape pair (skipped whole), a quote, a bracket."""
_FENCE = "```"

# The decoder every dialect reads JSON with: numbers go through read_number, so a 5,000-digit
# integer or 1e400 is a ParseError, not Python's int-string ValueError or an infinity.
_DECODER = json.JSONDecoder(parse_int=read_number, parse_float=read_number)


def strip_fences(text: str) -> str:
    """The inside of the first code fence (```json … ```), or ``text`` when it has none; a fence
    left open runs to the end."""
    start = text.find(_FENCE)
    if start < 0:
        return text
    start += len(_FENCE)
    if text.startswith(("json", "JSON"), start):
        start += 4
    end = text.find(_FENCE, start)
    return text[start : end if end >= 0 else len(text)].strip()


@dataclass
class _Shape:
    """The brackets of the first JSON value in a text: where it ends (-1 when it does not), how
    deep it goes, and what is still open where the text stops."""

    end: int = -1
    depth: int = 0
    open: list[str] = field(default_factory=list)
    in_string: bool = False


def _shape(text: str) -> _Shape:
    """One pass over ``text`` (which starts with the value's first bracket)."""
    shape = _Shape()
    for token in _TOKEN.finditer(text):
        char = token.group()
        if char == '"':
            shape.in_string = not shape.in_string
        elif shape.in_string or len(char) > 1:
            continue  # a bracket inside a string, or an escape pair
        elif char in "{[":
            shape.open.append("}" if char == "{" else "]")
            shape.depth = max(shape.depth, len(shape.open))
            if shape.depth > MAX_DEPTH:
                return shape  # refused whatever follows: no need to read it
        elif not shape.open:
            return shape  # a closing bracket that nothing opened: not JSON
        else:
            shape.open.pop()
            if not shape.open:
                shape.end = token.end()
                return shape
    return shape


def check_depth(text: str) -> _Shape:
    """The shape of the value at the start of ``text``; :class:`ParseError` when it nests more
    than :data:`MAX_DEPTH` deep."""
    shape = _shape(text)
    if shape.depth > MAX_DEPTH:
        raise ParseError(
            f"the JSON in the answer nests brackets more than {MAX_DEPTH} deep; "
            "write the arguments as one flat object"
        )
    return shape


def _candidates(text: str) -> list[str]:
    base = _TRAILING_COMMA.sub(r"\1", text)
    out = [text, base]
    if "'" in base and '"' not in base:
        out.append(base.replace("'", '"'))
    return out


def first_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` after light repairs, or None. Raises
    :class:`ParseError` for a value nested too deep or a number that does not fit."""
    start = text.find("{")
    if start < 0:
        return None
    body = text[start:]
    shape = check_depth(body)
    if shape.end > 0:
        body = body[: shape.end]  # what follows the object is not read again
    for candidate in _candidates(body):
        try:
            value, _ = _DECODER.raw_decode(candidate)
        except json.JSONDecodeError:
            # A truncated answer: close the braces it opened and try once more.
            closed = _close_brackets(candidate)
            try:
                value, _ = _DECODER.raw_decode(closed) if closed else (None, 0)
            except json.JSONDecodeError:
                continue
        if isinstance(value, dict):
            return value
    return None


def _close_brackets(text: str) -> str | None:
    shape = _shape(text)
    tail = text.rstrip().rstrip(",").rstrip()
    # Only close after a complete value: "[500, 5" may have been cut inside a number, and
    # executing a guessed point is worse than asking again.
    if shape.end >= 0 or shape.in_string or not shape.open:
        return None
    if not tail.endswith(("}", "]", '"')):
        return None
    return tail + "".join(reversed(shape.open))


def loads_or_text(value: str) -> Any:
    """A parameter value: JSON when it parses as JSON, else the text itself. Raises
    :class:`ParseError` for JSON nested too deep or a number that does not fit."""
    stripped = value.lstrip()
    if stripped[:1] in ("{", "["):
        check_depth(stripped)
    try:
        return _DECODER.decode(value)
    except json.JSONDecodeError:
        return value
