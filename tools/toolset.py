"""``ToolSet``: the tools an agent may use, as prompt schemas and as a validator of raw calls."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from vlagent.tools.errors import VlagentError
from vlagent.tools.functions import call_with, tool_from_function
from vlagent.tools.limits import number_gate, number_problem
from vlagent.tools.points import is_on_screen, point_fields
from vlagent.tools.schema import describe, parameters_schema


class ToolError(VlagentError, ValueError):
    """A call that cannot be executed. The message is written for the model to act on."""


@dataclass(frozen=True)
class ToolCall:
    """A call as parsed from model text.

    ``arguments`` holds screen points normalized to [0, 1]; ``raw_arguments`` holds what the
    model wrote, in its own coordinate space (quoted in error messages and kept in trajectories).
    """

    name: str
    arguments: dict[str, Any]
    raw_arguments: dict[str, Any] = field(default_factory=dict)

    def raw(self) -> dict[str, Any]:
        return self.raw_arguments or self.arguments


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


Handler = Callable[[Any], Any]
"""Executes one validated action. Returns None, a message, or the environment's ``ActionResult``;
raising ``ValueError`` says the action failed, in words the model reads."""


class ToolSet:
    """A named set of pydantic argument models, each optionally with the handler that executes it.

    >>> from pydantic import BaseModel
    >>> class MoveTo(BaseModel):
    ...     '''Move the gripper to a point in metres.'''
    ...     x: float
    ...     y: float
    ...     z: float
    >>> tools = ToolSet([MoveTo])
    >>> tools.validate(ToolCall("move_to", {"x": 0.1, "y": 0.2, "z": 0.3}))
    MoveTo(x=0.1, y=0.2, z=0.3)
    """

    def __init__(self, tools: Iterable[type[BaseModel]] = ()) -> None:
        self._tools: dict[str, type[BaseModel]] = {}
        self._handlers: dict[str, Handler] = {}
        # Built once per screen note: pydantic's schema generation takes ~3 ms a step otherwise.
        self._schemas: dict[str, list[dict[str, Any]]] = {}
        for tool in tools:
            self.register(tool)

    def register(
        self, tool: type[BaseModel], name: str | None = None, handler: Handler | None = None
    ) -> str:
        """Add a tool; returns its name. Its name is ``name``, else its ``tool_name`` attribute,
        else the class name in snake_case (``MoveTo`` → ``move_to``); its description is the class
        docstring. ``handler`` executes its validated actions (see :meth:`handler`)."""
        tool_name = name or getattr(tool, "tool_name", None) or _snake(tool.__name__)
        if tool_name in self._tools:
            raise ValueError(f"a tool named {tool_name!r} is already registered")
        parameters_schema(tool)  # fail now, not at the first prompt, if it cannot be a schema
        self._tools[tool_name] = tool
        self._schemas.clear()
        if handler is not None:
            self._handlers[tool_name] = handler
        return tool_name

    def add_function(
        self, function: Callable[..., Any], name: str | None = None
    ) -> Callable[..., Any]:
        """Make a typed function a tool (its signature the schema, its docstring the description)
        whose handler is the function itself. Returns the function, so it works as a decorator."""
        tool = tool_from_function(function, name)
        self.register(tool, handler=call_with(function))
        return function

    def knows(self, action: BaseModel) -> bool:
        """True when ``action`` is an action of one of these tools."""
        return self._find(action) is not None

    def handler(self, action: BaseModel) -> Handler | None:
        """The handler registered for ``action``'s tool, if any."""
        name = self._find(action)
        return self._handlers.get(name) if name is not None else None

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> type[BaseModel]:
        return self._tools[name]

    def _find(self, action: BaseModel) -> str | None:
        return next((name for name, tool in self._tools.items() if type(action) is tool), None)

    def name_of(self, action: BaseModel) -> str:
        name = self._find(action)
        if name is None:
            raise KeyError(f"{type(action).__name__} is not a tool of this set")
        return name

    def point_fields(self, name: str) -> frozenset[str]:
        """Fields of tool ``name`` that hold screen points (empty for an unknown tool)."""
        tool = self._tools.get(name)
        return point_fields(tool) if tool is not None else frozenset()

    def function_schemas(self, screen_note: str = "") -> list[dict[str, Any]]:
        """Tools in the OpenAI / chat-template form. ``screen_note`` (the dialect's sentence about
        the screen size in the model's coordinate space) is added to tools that take points.
        The schemas are built once and shared between calls: read them, do not change them."""
        cached = self._schemas.get(screen_note)
        if cached is not None:
            return list(cached)
        schemas = []
        for name, tool in self._tools.items():
            description = describe(tool)
            if screen_note and point_fields(tool):
                description = f"{description}\n{screen_note}"
            schemas.append(
                {
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": description,
                        "parameters": parameters_schema(tool),
                    },
                }
            )
        if len(self._schemas) >= 16:  # a screen that changes size every step: keep it bounded
            self._schemas.clear()
        self._schemas[screen_note] = schemas
        return list(schemas)

    def validate(self, call: ToolCall) -> BaseModel:
        """Turn a parsed call into a typed action, or raise :class:`ToolError` saying what to
        fix. Every tool obeys the number rule here (``tools/limits.py``, docs/tools.md): a
        number argument is a finite int or float of at most 2**53, never a string or a
        boolean, at any depth."""
        tool = self._tools.get(call.name)
        if tool is None:
            raise ToolError(
                f"unknown tool {_cut(call.name)!r}; the tools are: {', '.join(self._tools)}"
            )
        _check_numbers(call)
        # The number rule, for every tool: checked on what the model wrote, before the tool's
        # own model (which would read "0.1" or True as a number) and its validators see it.
        gate = number_gate(tool)
        try:
            if gate is not None and isinstance(call.arguments, dict):
                gate.model_validate(call.arguments)
            action = tool.model_validate(call.arguments)
        except ValidationError as exc:
            raise ToolError(_describe_errors(call, exc)) from None
        for name in point_fields(tool):
            point = getattr(action, name)
            if point is not None and not is_on_screen(point):
                raise ToolError(
                    f"{call.name}: '{name}' {_show(call.raw().get(name))} is outside the screen; "
                    "give a point inside the screen size stated in the tool description"
                )
        return action


def _check_numbers(call: ToolCall) -> None:
    """No NaN, infinity, oversized integer or runaway nesting in any argument, of any type."""
    arguments = call.arguments if isinstance(call.arguments, dict) else {}
    for name, value in arguments.items():
        problem = number_problem(value)
        if problem is not None:
            shown = _show(call.raw().get(name, value))
            raise ToolError(f"{call.name}: '{_cut(str(name))}' {shown}: {problem}")


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any) -> str:
    """A value as the model wrote it, cut short: an error must not copy 100 KB of text."""
    if isinstance(value, str) and len(value) > 80:
        value = value[:80]  # no need to encode all of it to show the start
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        try:
            shown = repr(value)
        except (ValueError, RecursionError):  # an int over Python's int-string limit
            shown = f"(a {type(value).__name__} too large to show)"
    return _cut(shown)


MAX_PROBLEMS = 8
"""Problems one error message lists: enough to fix a call, short enough to read."""


def _describe_errors(call: ToolCall, exc: ValidationError) -> str:
    problems: dict[str, None] = {}
    shown: dict[str, str] = {}  # each field's value is written out once, however many errors
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = error["loc"]
        if not loc:
            problems[message] = None
        elif error["type"] == "extra_forbidden":
            problems[f"there is no argument '{_cut(str(loc[0]))}'"] = None
        else:
            name = str(loc[0])
            if name not in shown:
                shown[name] = _show(call.raw().get(name, error.get("input")))
            problems[f"'{_cut(name)}' {shown[name]}: {message[0].lower()}{message[1:]}"] = None
        # A list reports each bad element; say each problem once, and only the first few.
        if len(problems) >= MAX_PROBLEMS:
            break
    return f"{call.name}: " + "; ".join(problems)
