"""The trajectory format's name, version and JSON schema (docs/trajectory-format.md).

``schema.json`` is generated from the record models; ``python -m vlagent.agent.trajectory`` rewrites
it, and a test fails when the committed file differs from what the models generate.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from vlagent.agent.trajectory.records import FORMAT, VERSION, End, Header, Step

__all__ = ["FORMAT", "LINE", "VERSION", "generate_schema", "schema", "schema_text", "write_schema"]

Line = Annotated[Header | Step | End, Field(discriminator="type")]
LINE: TypeAdapter[Header | Step | End] = TypeAdapter(Line)
"""Validates one line of ``trajectory.jsonl`` into a Header, Step or End."""


def generate_schema() -> dict[str, Any]:
    """The JSON schema of one line, as the record models define it."""
    generated = LINE.json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{FORMAT}/{VERSION}",
        "title": f"One line of a vlagent trajectory.jsonl (format version {VERSION})",
        **generated,
    }


def schema_text() -> str:
    return json.dumps(generate_schema(), indent=2, ensure_ascii=False) + "\n"


@cache
def schema() -> dict[str, Any]:
    """The JSON schema every line of ``trajectory.jsonl`` satisfies (the committed file)."""
    text = resources.files("vlagent.agent.trajectory").joinpath("schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def write_schema() -> Path:
    """Rewrite the packaged ``schema.json`` from the record models."""
    target = Path(__file__).with_name("schema.json")
    target.write_text(schema_text(), encoding="utf-8")
    return target
