"""The loop and everything around it: runtimes, the Agent, trajectories, the CLI.

Importing ``agent`` is light; the loop and its dependencies load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from vlagent.agent.core.build import ModelSpec, RunSpec, build_agent
    from vlagent.agent.core.loop import Agent
    from vlagent.agent.core.run import Run
    from vlagent.agent.core.steps import Decision, RunResult, Step
    from vlagent.agent.runtimes.base import RuntimeOptions
    from vlagent.agent.trajectory.records import Limits
    from vlagent.tools.errors import VlagentError

# The public names and the one module each lives in.
_LAZY = {
    "Agent": "vlagent.agent.core.loop",
    "Run": "vlagent.agent.core.run",
    "Decision": "vlagent.agent.core.steps",
    "RunResult": "vlagent.agent.core.steps",
    "Step": "vlagent.agent.core.steps",
    "Limits": "vlagent.agent.trajectory.records",
    "ModelSpec": "vlagent.agent.core.build",
    "RunSpec": "vlagent.agent.core.build",
    "build_agent": "vlagent.agent.core.build",
    "RuntimeOptions": "vlagent.agent.runtimes.base",
    "VlagentError": "vlagent.tools.errors",
}


def __getattr__(name: str) -> Any:
    # The CLI imports this package for __version__; the loop's imports (Pillow, pydantic
    # models) wait until someone asks for it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")


__all__ = [
    "Agent",
    "Decision",
    "Limits",
    "ModelSpec",
    "Run",
    "RunResult",
    "RunSpec",
    "RuntimeOptions",
    "VlagentError",
    "Step",
    "__version__",
    "build_agent",
]
