"""Runtimes by model spec. The CLI is the only caller that turns a name into a runtime."""

from __future__ import annotations

from agent.runtime import ModelUnavailable, Runtime
from agent.runtimes.scripted import ScriptedRuntime


def runtime_for(model: str) -> Runtime:
    """``scripted:PATH`` → the scripted runtime. Hugging Face ids and local folders need the
    transformers runtime, which this version does not have yet."""
    if model.startswith("scripted:"):
        return ScriptedRuntime.from_file(model.removeprefix("scripted:"))
    raise ModelUnavailable(
        f"cannot run {model!r}: this version of vlagent has no local (transformers) runtime yet; "
        "use --model scripted:FILE"
    )


__all__ = ["ScriptedRuntime", "runtime_for"]
