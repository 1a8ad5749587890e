"""Runtimes by model spec. The CLI is the only caller that turns a name into a runtime.

``scripted:PATH`` → canned answers; with an endpoint → an OpenAI-compatible server; anything else
is a Hugging Face id or a local folder for the transformers runtime. Heavy imports happen here,
inside the call, never when the package is imported.
"""

from __future__ import annotations

from vlagent.agent.runtimes.base import ModelUnavailable, Runtime, RuntimeOptions
from vlagent.agent.runtimes.scripted import ScriptedRuntime


def _is_local_runtime(model: str, endpoint: str | None) -> bool:
    return endpoint is None and not model.startswith(("scripted:", "python:"))


def check_model(model: str, endpoint: str | None = None) -> None:
    """Fail at once, in one line, when ``model`` names a checkpoint that cannot be had (not
    downloaded, no network): cheap, so callers ask before starting anything else."""
    if _is_local_runtime(model, endpoint):
        from vlagent.agent.runtimes.hub import check_obtainable

        check_obtainable(model)


def runtime_for(
    model: str, options: RuntimeOptions | None = None, endpoint: str | None = None
) -> Runtime:
    if model.startswith("scripted:"):
        if endpoint is not None:
            raise ModelUnavailable("--endpoint and a scripted: model exclude each other")
        return ScriptedRuntime.from_file(model.removeprefix("scripted:"))
    if model.startswith("python:"):
        if endpoint is not None:
            raise ModelUnavailable("--endpoint and a python: model exclude each other")
        from vlagent.agent.runtimes.function import FunctionRuntime

        return FunctionRuntime.from_name(model.removeprefix("python:"))
    if endpoint is not None:
        from vlagent.agent.runtimes.remote import OpenAIRuntime

        return OpenAIRuntime(endpoint, model, options)
    from vlagent.agent.runtimes.local import TransformersRuntime

    return TransformersRuntime(model, options)


__all__ = ["ScriptedRuntime", "check_model", "runtime_for"]
