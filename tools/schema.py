"""Function schemas for prompts, made from pydantic models.

Chat templates and OpenAI-compatible servers take tools as ``{"type": "function", "function":
{"name", "description", "parameters"}}``. Pydantic's JSON schema spells optional fields as
``anyOf [X, null]`` with ``default: null`` and titles on every property; models were trained on
plain schemas, so we strip that noise: an optional field becomes ``X`` and is left out of
``required``.
"""

from __future__ import annotations

import inspect
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
            f"tool {model.__name__} uses nested models; flatten its arguments so models see one schema"
        )
    schema = _plain(raw)
    schema.pop("description", None)
    schema["required"] = [
        name for name, field in model.model_fields.items() if field.is_required()
    ]
    return schema


def describe(model: type[BaseModel]) -> str:
    """The tool's description: its docstring, dedented."""
    return inspect.cleandoc(model.__doc__ or "").strip()
