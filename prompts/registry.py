"""Dialects by name, and the choice of a dialect for a model. A plain dict."""

from __future__ import annotations

from collections.abc import Callable

from vlagent.prompts.base import Dialect
from vlagent.prompts.families import family_for
from vlagent.prompts.jsonanswer import JsonAnswer
from vlagent.prompts.qwen import Qwen3FunctionCalling, Qwen25FunctionCalling, QwenFunctionCalling
from vlagent.prompts.resize import ResizeRule
from vlagent.prompts.uitars import UITars, UITars15
from vlagent.tools.errors import VlagentError


class UnknownDialect(VlagentError, LookupError):
    """No dialect by that name, or none known for that model."""


_DIALECTS: dict[str, Callable[[ResizeRule | None], Dialect]] = {
    "qwen2-vl": QwenFunctionCalling,
    "qwen2.5-vl": Qwen25FunctionCalling,
    "qwen3-vl": Qwen3FunctionCalling,
    "ui-tars": UITars,
    "ui-tars-1.5": UITars15,
    "json": JsonAnswer,
}


def available() -> list[str]:
    return list(_DIALECTS)


def get_dialect(name: str, resize: ResizeRule | None = None) -> Dialect:
    """The dialect ``name``; ``resize`` is the model processor's resize rule when known."""
    try:
        factory = _DIALECTS[name]
    except KeyError:
        raise UnknownDialect(
            f"unknown dialect {name!r}; available: {', '.join(available())}"
        ) from None
    return factory(resize)


def dialect_for(
    model: str, model_type: str | None = None, resize: ResizeRule | None = None
) -> Dialect:
    """The dialect for a checkpoint, from its id or folder name and its config's ``model_type``;
    pass ``--dialect`` to force one."""
    family = family_for(model, model_type)
    if family is None:
        what = f"{model!r}" + (f" (model_type {model_type!r})" if model_type else "")
        raise UnknownDialect(
            f"no dialect is known for {what}; pick one with --dialect ({', '.join(available())})"
        )
    return get_dialect(family.dialect, resize)
