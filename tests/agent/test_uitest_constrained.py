"""query() through a local model with grammar-constrained decoding: a random-weight checkpoint,
whose free text never parses (test_local_runtime.py shows that side), returns a validated
instance of the caller's schema on its first answer, because xgrammar only lets it write answers
that fit the answer tool's JSON schema."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.uitest.tester import UITester
from vlagent.environments.memory import MemoryEnvironment
from vlagent.prompts import get_dialect


class Panel(BaseModel):
    count: int
    state: Literal["on", "off"]
    labels: list[str]


def test_query_answers_are_constrained_to_the_callers_schema(
    checkpoint: Callable[..., Path],
) -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("xgrammar")
    runtime = TransformersRuntime(
        str(checkpoint("idefics2")), RuntimeOptions(max_new_tokens=300, constrained="on")
    )
    tester = UITester(runtime, get_dialect("json"), MemoryEnvironment((320, 240)))
    panel = tester.query("What does the panel show?", Panel)
    assert isinstance(panel, Panel) and panel.state in ("on", "off")
    assert isinstance(tester.query("How many rows are there?", int), int)
    assert tester.model_calls == 2  # each first answer validated: no feedback round was needed
