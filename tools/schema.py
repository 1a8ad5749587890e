"""Function schemas for prompts, made from pydantic models.

Chat templates and OpenAI-compatible servers take tools as ``{"type": "function", "function":
{"name", "description", "parameters"}}``. Pydantic's JSON schema spells optional fields as
``anyOf [X, null]`` with ``default: null`` and titles on every property; models were trained on
plain schemas, so we strip that noise: an optional field becomes ``X`` and is left out of
``required``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    schema = {k: v for k, v in schema.items() if k != "title"}
    options = schema.get("anyOf")
    if options is not None:
        non_null = [s for s in options if s.get("type") != "null"]
        if len(non_null) == 1:
            merged = {**non_null[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
            schema = _plain(merged)
    if schema.get("default", 0) is None:
        del schema["default"]
    if "properties" in schema:
        schema["properties"] = {k: _plain(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        schema["items"] = _plain(schema["items"])
    if "prefixItems" in schema:
        # [x, y] pairs: the common readers of function schemas (chat templates, vLLM) know
        # "array of numbers with two items" better than prefixItems.
        kinds = {item.get("type") for item in schema["prefixItems"]}
        count = len(schema.pop("prefixItems"))
        if len(kinds) == 1:
            schema["items"] = {"type": kinds.pop()}
        schema.setdefault("minItems", count)
        schema.setdefault("maxItems", count)
    return schema


def parameters_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of ``model``'s arguments, in the plain form prompts use."""
    raw = model.model_json_schema()
    if "$defs" in raw:
        raise ValueError(
            f"tool {model.__name__} uses nested models; flatten its arguments so models see "
            "one schema"
        )
    schema = _plain(raw)
    schema.pop("description", None)
    schema["required"] = [name for name, field in model.model_fields.items() if field.is_required()]
    return schema


def describe(model: type[BaseModel]) -> str:
    """The tool's description: its docstring, dedented, each paragraph on one line (the line
    breaks of source code are not part of what the model should read)."""
    lines: list[str] = []
    for line in inspect.cleandoc(model.__doc__ or "").strip().splitlines():
        item = re.match(r"\s*([-*]|\d+[.)])\s", line)
        if lines and lines[-1] and line.strip() and not item:
            lines[-1] += " " + line.strip()  # a wrapped line of the same paragraph or item
        else:
            lines.append(line.strip())
    return "\n".join(lines)


def strict_parameters_schema(
    model: type[BaseModel], point: dict[str, Any], max_text: int = 200
) -> dict[str, Any]:
    """A schema every instance of which validates: for grammar-constrained decoding.

    The prompt schema keeps the published flat shape; this one spells the per-action rules of
    the GUI tools (``ACTIONS``: one branch per action with exactly its arguments), puts the
    dialect's ``point`` schema (bounded to its coordinate space) in place of screen points, and
    bounds every string so a constrained answer always ends. A tool may give fields a stricter
    schema of its own in ``STRICT_FIELDS`` (e.g. the key names ``computer_use`` accepts).
    """
    from vlagent.tools.points import point_fields

    base = parameters_schema(model)
    points = point_fields(model)
    actions = getattr(model, "ACTIONS", None)

    overrides: dict[str, dict[str, Any]] = getattr(model, "STRICT_FIELDS", {})

    def field_schema(name: str) -> dict[str, Any]:
        if name in points:
            return point
        if name in overrides:
            return overrides[name]
        schema = dict(base["properties"][name])
        schema.pop("description", None)
        if schema.get("type") in ("integer", "number"):
            _bound_number(schema, whole=isinstance(actions, dict))
        if schema.get("type") == "string" and "enum" not in schema:
            schema["maxLength"] = min(schema.get("maxLength", max_text), max_text)
            schema.setdefault("minLength", 1)
        if schema.get("type") == "array" and schema.get("items", {}).get("type") == "string":
            schema["items"] = {"type": "string", "minLength": 1, "maxLength": 32}
            schema["maxItems"] = min(schema.get("maxItems", 4), 4)
        return schema

    def branch(required: list[str], optional: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {**extra, **{n: field_schema(n) for n in required + optional}},
            "required": list(extra) + required,
            "additionalProperties": False,
        }

    if isinstance(actions, dict):
        return {
            "anyOf": [
                branch(list(spec.required), list(spec.optional), {"action": {"const": name}})
                for name, spec in actions.items()
            ]
        }
    names = list(base["properties"])
    return branch(
        [n for n in names if n in base["required"]],
        [n for n in names if n not in base["required"]],
        {},
    )


NUMBER_LIMIT = 100_000
"""Unbounded numbers get this bound in strict schemas: a grammar must let every answer end."""


def _bound_number(schema: dict[str, Any], whole: bool) -> None:
    """Bound a number in place. ``whole``: GUI tools take whole seconds and pixels, so their
    numbers become integers (a decimal fraction has no length limit in a grammar)."""
    import math

    low = schema.pop("exclusiveMinimum", None)
    if low is not None:
        schema["minimum"] = math.floor(low) + 1 if whole else low + 1e-6
    high = schema.pop("exclusiveMaximum", None)
    if high is not None:
        schema["maximum"] = math.ceil(high) - 1 if whole else high - 1e-6
    schema.setdefault("minimum", -NUMBER_LIMIT)
    schema.setdefault("maximum", NUMBER_LIMIT)
    if whole:
        schema["type"] = "integer"
        schema["minimum"] = math.ceil(schema["minimum"])
        schema["maximum"] = math.floor(schema["maximum"])
