"""A tool's arguments as a Gymnasium space a learner can sample: each tool is a ``Dict`` of a
``form`` (which arguments this call gives: one per way of calling the tool that validates) and
``values`` (one space per argument, its bounds from the tool's JSON schema). A sampled call
gives only its form's arguments; the other values are ignored.

A GUI tool's forms are its actions, each with a subset of the action's optional arguments. Any
other tool's forms are the subsets of its ``None``-default arguments with which it validates
(``move_to``: ``position``, or ``camera`` with ``point``), found once by sampling. So every
sample names one way of calling the tool that validates, with values inside the schema's bounds.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from vlagent.environments.base import EnvironmentUnavailable
from vlagent.tools import ToolCall, ToolError, ToolSet, point_fields
from vlagent.tools.limits import MAX_WAIT_S

Reader = Callable[[Any], Any]


@dataclass(frozen=True)
class Value:
    """One argument's space: ``read`` turns a sample into the JSON value the tool validates,
    ``write`` a JSON value back into a sample."""

    space: Any
    read: Reader
    write: Reader


TEXT_LIMIT = 64
"""The longest text a sampled string argument has."""
_TRIES = 8
"""Samples a form must validate on, all of them, to be kept."""
_MOST_OPTIONAL = 8
"""Beyond this many optional arguments, their subsets are not tried one by one."""


@dataclass(frozen=True)
class Form:
    """One way of calling a tool: ``fixed`` values (a GUI tool's ``action``) and the arguments
    whose sampled values it gives."""

    fixed: dict[str, Any]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ToolSpace:
    """A tool's Gymnasium space, its forms, and how each value space reads back as JSON."""

    name: str
    space: Any
    forms: tuple[Form, ...]
    values: dict[str, Value]
    defaults: dict[str, Any]
    """The arguments a call may leave out although every form gives them, and their values."""

    def arguments(self, sample: Any) -> dict[str, Any]:
        """The call a sample of ``space`` stands for: its form's arguments only."""
        form = self.forms[int(sample["form"])]
        values = sample.get("values", {})
        return {**form.fixed, **{k: self.values[k].read(values[k]) for k in form.fields}}

    def sample_for(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """A sample of ``space`` standing for ``arguments`` (the first form that gives them, an
        argument left out taking its default; the values of the other arguments are the space's
        own samples, ignored)."""
        for index, form in enumerate(self.forms):
            fixed = all(arguments.get(k) == v for k, v in form.fixed.items())
            given = {**self.defaults, **arguments}
            if fixed and set(arguments) <= set(form.fixed) | set(form.fields) <= set(given):
                sample: dict[str, Any] = {"form": index}
                if "values" in self.space.spaces:
                    values = self.space["values"].sample()
                    written = {k: self.values[k].write(given[k]) for k in form.fields}
                    sample["values"] = {**values, **written}
                return sample
        raise ValueError(f"{self.name}: no form gives exactly {sorted(arguments)}")


def tool_space(toolset: ToolSet, name: str, tool: type[BaseModel]) -> ToolSpace:
    """The space of tool ``name`` of ``toolset``: its forms that validate, and their values."""
    spaces = _gym_spaces()
    values = {field: _value(tool, field, schema) for field, schema in _properties(tool).items()}
    forms = tuple(_valid_forms(toolset, name, tool, values))
    if not forms:
        raise EnvironmentUnavailable(
            f"tool {name}: no way of calling it validates with values inside its schema's "
            "bounds; bound its arguments in its schema, or check its validators"
        )
    used = {field for form in forms for field in form.fields}
    parts: dict[str, Any] = {"form": spaces.Discrete(len(forms))}
    if used:
        parts["values"] = spaces.Dict({k: v.space for k, v in values.items() if k in used})
    defaults = {
        field: info.default
        for field, info in tool.model_fields.items()
        if not info.is_required() and info.default is not None and field in used
    }
    return ToolSpace(name, spaces.Dict(parts), forms, values, defaults)


LEARNING_WAIT_S = 1.0
"""The longest duration (a ``wait``, a long press, a swipe) the action space samples, in seconds;
the tool itself still takes up to its own limit when called directly."""


def _gym_spaces() -> Any:
    import gymnasium

    return gymnasium.spaces


def _properties(tool: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Each argument's JSON schema, ``X | None`` read as X, with the tool's stricter
    ``STRICT_FIELDS`` in place of its own where it gives one (``computer_use``'s key names)."""
    schema = tool.model_json_schema()
    strict: dict[str, dict[str, Any]] = getattr(tool, "STRICT_FIELDS", {})
    found = {}
    for name, prop in schema.get("properties", {}).items():
        options = [s for s in prop.get("anyOf", [prop]) if s.get("type") != "null"]
        found[name] = {**(options[0] if len(options) == 1 else prop), **strict.get(name, {})}
    return found


def _bounds(schema: dict[str, Any], whole: bool) -> tuple[float, float]:
    low = float(schema.get("minimum", -math.inf))
    high = float(schema.get("maximum", math.inf))
    if "exclusiveMinimum" in schema:
        edge = float(schema["exclusiveMinimum"])
        low = math.floor(edge) + 1 if whole else math.nextafter(edge, math.inf)
    if "exclusiveMaximum" in schema:
        edge = float(schema["exclusiveMaximum"])
        high = math.ceil(edge) - 1 if whole else math.nextafter(edge, -math.inf)
    return low, high


def _value(tool: type[BaseModel], name: str, schema: dict[str, Any]) -> Value:
    """The space of one argument, and how its samples read back as JSON values."""
    import numpy as np

    spaces = _gym_spaces()
    kind = schema.get("type")
    choices = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if name in point_fields(tool):
        return Value(spaces.Box(0.0, 1.0, (2,), dtype="float64"), _floats, _array)
    if choices is not None:
        listed = list(choices)
        return Value(spaces.Discrete(len(listed)), lambda v: listed[int(v)], listed.index)
    if kind == "boolean":
        return Value(spaces.Discrete(2), lambda v: bool(v), int)
    if kind == "integer":
        low, high = _bounds(schema, whole=True)
        if math.isfinite(low) and math.isfinite(high) and high - low <= 1_000_000:
            return Value(spaces.Discrete(int(high - low) + 1, start=int(low)), int, np.int64)
        return Value(spaces.Box(low, high, (), dtype="float64"), _whole, np.float64)
    if kind == "number":
        low, high = _bounds(schema, whole=False)
        if schema.get("maximum") == MAX_WAIT_S and schema.get("exclusiveMinimum") == 0:
            # A duration (wait, long press, swipe): a sample blocks for as long as it says, so a
            # learner (and Gymnasium's check_env) would spend up to a minute on one.
            high = LEARNING_WAIT_S
        return Value(spaces.Box(low, high, (), dtype="float64"), float, np.float64)
    if kind == "string":
        longest = min(int(schema.get("maxLength", TEXT_LIMIT)), TEXT_LIMIT)
        shortest = min(max(int(schema.get("minLength", 1)), 1), longest)
        return Value(spaces.Text(longest, min_length=shortest), str, str)
    if kind == "array":
        return _array_value(tool, name, schema)
    raise EnvironmentUnavailable(
        f"tool {tool.__name__}: argument {name!r} ({kind or schema}) has no Gymnasium space; "
        "give it a number, choice, string or list of numbers"
    )


def _floats(sample: Any) -> list[float]:
    return [float(x) for x in sample]


def _wholes(sample: Any) -> list[int]:
    return [int(round(float(x))) for x in sample]


def _whole(sample: Any) -> int:
    return int(round(float(sample)))


def _array(value: Any) -> Any:
    import numpy as np

    return np.asarray(value, dtype=np.float64)


def _array_value(tool: type[BaseModel], name: str, schema: dict[str, Any]) -> Value:
    """A list: fixed-length numbers (a tuple) as a ``Box``; a list of choices or of strings as
    one item."""
    import numpy as np

    items = schema.get("prefixItems")
    if items is None and schema.get("minItems") is not None:
        if schema.get("minItems") == schema.get("maxItems"):
            items = [schema.get("items", {})] * int(schema["minItems"])
    if items and all(i.get("type") in ("number", "integer") for i in items):
        lows, highs = zip(*(_bounds(i, whole=False) for i in items), strict=True)
        box = _gym_spaces().Box(np.array(lows), np.array(highs), dtype=np.float64)
        whole = all(i.get("type") == "integer" for i in items)
        return Value(box, _wholes if whole else _floats, _array)
    item = schema.get("items", {})
    if isinstance(item, dict) and (item.get("enum") or item.get("type") == "string"):
        one = _value(tool, name, item)
        return Value(one.space, lambda v: [one.read(v)], lambda v: one.write(v[0]))
    raise EnvironmentUnavailable(
        f"tool {tool.__name__}: argument {name!r} (a list) has no Gymnasium space; give it a "
        "fixed number of numbers, or items that are choices or strings"
    )


def _candidates(tool: type[BaseModel]) -> Iterator[Form]:
    """Every way of calling ``tool`` worth trying: per GUI action, each subset of its optional
    arguments; otherwise the required and defaulted arguments with each subset of the
    ``None``-default ones."""
    actions = getattr(tool, "ACTIONS", None)
    if isinstance(actions, dict):
        for action, spec in actions.items():
            for subset in _subsets(spec.optional):
                yield Form({"action": action}, (*spec.required, *subset))
        return
    fields = tool.model_fields
    given = tuple(n for n, f in fields.items() if f.is_required() or f.default is not None)
    maybe = tuple(n for n, f in fields.items() if not f.is_required() and f.default is None)
    for subset in _subsets(maybe):
        yield Form({}, (*given, *subset))


def _subsets(names: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if len(names) > _MOST_OPTIONAL:  # 2**n forms would be too many: none, or all of them
        yield from ((), names)
        return
    for size in range(len(names) + 1):
        yield from itertools.combinations(names, size)


def _valid_forms(
    toolset: ToolSet, name: str, tool: type[BaseModel], values: dict[str, Value]
) -> Iterator[Form]:
    """The candidate forms whose every one of a few seeded samples validates (sampled from
    copies: the spaces handed out keep their own random state)."""
    trial = {field: copy.deepcopy(value.space) for field, value in values.items()}
    for number, form in enumerate(_candidates(tool)):
        for attempt in range(_TRIES):
            arguments = dict(form.fixed)
            for offset, field in enumerate(form.fields):
                space = trial[field]
                space.seed(number * 1000 + attempt * 50 + offset)
                arguments[field] = values[field].read(space.sample())
            try:
                toolset.validate(ToolCall(name, arguments))
            except ToolError:
                break
        else:
            yield form
