"""Wrappers: behaviour layered on any environment (Gymnasium's idea)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from environments.base import ActionResult, Environment, Observation
from tools import ToolSet


class Wrapper(Environment):
    """Passes everything through to ``inner``; subclasses override what they change."""

    def __init__(self, inner: Environment) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]

    @property
    def toolset(self) -> ToolSet:
        return self.inner.toolset

    def observe(self) -> Observation:
        return self.inner.observe()

    def execute(self, action: BaseModel) -> ActionResult:
        return self.inner.execute(action)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


class DryRun(Wrapper):
    """Observes for real, executes nothing: shows what a run would do (``agent run --dry-run``)."""

    def execute(self, action: BaseModel) -> ActionResult:
        return ActionResult(ok=True, executed=False, message="dry run: not executed")

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "dry_run": True}
