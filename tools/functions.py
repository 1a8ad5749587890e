"""Tools made from typed Python functions: the signature becomes the argument model, the docstring
the description, and the function itself the handler that executes a validated call.

>>> def grasp(force: float = 10.0) -> str:
...     '''Close the gripper.
...
...     Args:
...         force: Grip force in newtons.
...     '''
...     return f"closed at {force} N"
>>> Grasp = tool_from_function(grasp)
>>> Grasp.model_validate({"force": 5}).force
5.0
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

_ARG_LINE = re.compile(r"^\s{2,}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description before an ``Args:`` section, and each argument's description in it
    (Google style; a continuation line is joined to the argument above it)."""
    lines = inspect.cleandoc(doc).splitlines()
    for start, line in enumerate(lines):  # noqa: B007 (start is read after the loop)
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            break
    else:
        return "\n".join(lines).strip(), {}
    described: dict[str, str] = {}
    current: str | None = None
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith(" "):
            break  # the next section (Returns:, Raises:)
        found = _ARG_LINE.match(line)
        if found and len(line) - len(line.lstrip()) <= 4:
            current = found.group(1)
            described[current] = found.group(2).strip()
        elif current is not None and line.strip():
            described[current] += " " + line.strip()
    return "\n".join(lines[:start]).strip(), described


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) or "Tool"


def tool_from_function(function: Callable[..., Any], name: str | None = None) -> type[BaseModel]:
    """The argument model of ``function``: one field per parameter, typed by its annotation
    (``Point`` for a point on the screen or camera image), required unless it has a default. The
    model's ``tool_name`` is ``name`` or the function's name. Unannotated parameters and
    ``*args`` / ``**kwargs`` are refused: a model cannot be told what they take."""
    tool_name = name or function.__name__
    hints = get_type_hints(function, include_extras=True)
    description, argument_help = _split_docstring(function.__doc__ or "")
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(
                f"tool {tool_name}: *{parameter.name} cannot be described to a model; "
                "give each argument its own parameter"
            )
        if parameter.name not in hints:
            raise TypeError(
                f"tool {tool_name}: parameter {parameter.name!r} has no type annotation; "
                "annotate it so the model is told what it takes"
            )
        annotation = hints[parameter.name]
        if parameter.name in argument_help:
            annotation = Annotated[annotation, Field(description=argument_help[parameter.name])]
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model: type[BaseModel] = create_model(
        _camel(tool_name),
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=description or None,
        __module__=getattr(function, "__module__", __name__),
        **fields,
    )
    model.tool_name = tool_name  # type: ignore[attr-defined]
    return model


def call_with(function: Callable[..., Any]) -> Callable[[BaseModel], Any]:
    """A handler that calls ``function`` with a validated action's fields as keyword arguments."""

    def handler(action: BaseModel) -> Any:
        return function(**{name: getattr(action, name) for name in type(action).model_fields})

    handler.__name__ = getattr(function, "__name__", "handler")
    return handler
