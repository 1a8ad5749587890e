"""Lenient reading of the JSON that models write.

Models wrap JSON in code fences, leave trailing commas, use single quotes, or stop before the
closing brace. We repair the common slips with plain string rules; model text is never evaluated
as code.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)\s*(?:```|$)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def strip_fences(text: str) -> str:
    match = _FENCE.search(text)
    return match.group(1) if match else text


def _candidates(text: str) -> list[str]:
    base = _TRAILING_COMMA.sub(r"\1", text)
    out = [text, base]
    if "'" in base and '"' not in base:
        out.append(base.replace("'", '"'))
    return out


def first_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` after light repairs, or None."""
    start = text.find("{")
    if start < 0:
        return None
    body = text[start:]
    decoder = json.JSONDecoder()
    for candidate in _candidates(body):
        try:
            value, _ = decoder.raw_decode(candidate)
        except (json.JSONDecodeError, RecursionError):
            # A truncated answer: close the braces it opened and try once more.
            closed = _close_brackets(candidate)
            try:
                value, _ = decoder.raw_decode(closed) if closed else (None, 0)
            except (json.JSONDecodeError, RecursionError):
                continue
        if isinstance(value, dict):
            return value
    return None


def _close_brackets(text: str) -> str | None:
    stack: list[str] = []
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]":
            if not stack:
                return None
            stack.pop()
    tail = text.rstrip().rstrip(",").rstrip()
    # Only close after a complete value: "[500, 5" may have been cut inside a number, and
    # executing a guessed point is worse than asking again.
    if in_string or not stack or not tail.endswith(("}", "]", '"')):
        return None
    return tail + "".join(reversed(stack))


def loads_or_text(value: str) -> Any:
    """A parameter value: JSON when it parses as JSON, else the text itself."""
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        return value
