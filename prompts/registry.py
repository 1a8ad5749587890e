"""Dialects by name, and the choice of a dialect for a model. A plain dict."""

from __future__ import annotations

from collections.abc import Callable

from prompts.base import Dialect
from prompts.qwen import QwenFunctionCalling


class UnknownDialect(LookupError):
    """No dialect by that name, or none known for that model."""


_DIALECTS: dict[str, Callable[[], Dialect]] = {
    "qwen2-vl": QwenFunctionCalling,
}

# Substrings of a checkpoint's model_type or name, most specific first.
_BY_MODEL: list[tuple[str, str]] = [
    ("qwen2_vl", "qwen2-vl"),
    ("qwen2-vl", "qwen2-vl"),
]


def available() -> list[str]:
    return sorted(_DIALECTS)


def get_dialect(name: str) -> Dialect:
    try:
        return _DIALECTS[name]()
    except KeyError:
        raise UnknownDialect(
            f"unknown dialect {name!r}; available: {', '.join(available())}"
        ) from None


def dialect_for(model: str) -> Dialect:
    """The dialect for a model id, folder name or ``model_type``; pass ``--dialect`` to force one."""
    key = model.lower()
    for fragment, name in _BY_MODEL:
        if fragment in key:
            return get_dialect(name)
    raise UnknownDialect(
        f"no dialect is known for {model!r}; pick one with --dialect ({', '.join(available())})"
    )
