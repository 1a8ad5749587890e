"""An environment's tools extended with tools of one's own: ``WithTools(env, tools)`` offers the
model every tool of ``env`` and every tool of ``tools``, and executes the latter with the
handlers they were registered with (docs/embedding.md).

    tools = ToolSet()

    @tools.add_function
    def set_gripper(closed: bool) -> str:
        "Close or open the gripper."
        ...

    env = WithTools(SimPickEnvironment(), tools)
"""

from __future__ import annotations

from pydantic import BaseModel

from vlagent.environments.base import (
    ActionResult,
    Environment,
    EnvironmentUnavailable,
    run_handler,
)
from vlagent.environments.wrappers import Wrapper
from vlagent.tools import ToolSet


class WithTools(Wrapper):
    """``inner`` with the tools of ``tools`` added; each is executed by its own handler, every
    other action by ``inner``. A name ``inner`` already uses is refused."""

    def __init__(self, inner: Environment, tools: ToolSet) -> None:
        super().__init__(inner)
        taken = sorted(set(tools.names) & set(inner.toolset.names))
        if taken:
            raise EnvironmentUnavailable(
                f"{type(inner).__name__} already has a tool named {', '.join(taken)}; give yours "
                "another name"
            )
        self.added = tools

    @property
    def toolset(self) -> ToolSet:
        """``inner``'s tools, then the added ones: what the model is offered and validated by."""
        merged = ToolSet()
        own = self.inner.toolset
        for name in own.names:
            merged.register(own[name], name=name)
        for name in self.added.names:
            merged.register(self.added[name], name=name)
        return merged

    def execute(self, action: BaseModel) -> ActionResult:
        if not self.added.knows(action):
            return self.inner.execute(action)
        handler = self.added.handler(action)
        if handler is None:
            raise EnvironmentUnavailable(
                f"the added tool {self.added.name_of(action)} has no handler: register it with "
                "handler=, or with add_function"
            )
        return run_handler(handler, action)
