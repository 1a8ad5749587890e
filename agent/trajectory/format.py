"""The trajectory format's name, version and JSON schema (docs/trajectory-format.md)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

FORMAT = "vlagent-trajectory"
VERSION = 1


@cache
def schema() -> dict[str, Any]:
    """The JSON schema every line of ``trajectory.jsonl`` satisfies."""
    text = resources.files("agent.trajectory").joinpath("schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
