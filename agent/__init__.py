"""The loop and everything around it: runtimes, the Agent, trajectories, the CLI.

Importing ``agent`` is light; the loop and its dependencies load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from agent.build import ModelSpec, RunSpec, build_agent
    from agent.loop import Agent, Decision, Limits, Run
    from agent.runtime import RuntimeOptions
    from agent.steps import RunResult, Step

_LAZY = {"Agent": "agent.loop", "Limits": "agent.loop", "Run": "agent.loop", "Decision": "agent.loop",
         "RunResult": "agent.steps", "Step": "agent.steps", "ModelSpec": "agent.build",
         "RunSpec": "agent.build", "build_agent": "agent.build", "RuntimeOptions": "agent.runtime"}


def __getattr__(name: str) -> Any:
    # The CLI imports this package for __version__; the loop's imports (Pillow, pydantic
    # models) wait until someone asks for it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")


__all__ = ["Agent", "Decision", "Limits", "ModelSpec", "Run", "RunResult", "RunSpec", "RuntimeOptions",
           "Step", "__version__", "build_agent"]
