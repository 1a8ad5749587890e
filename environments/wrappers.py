"""Wrappers: behaviour layered on any environment (Gymnasium's idea)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from vlagent.environments.base import (
    ActionResult,
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
)
from vlagent.tools import ToolSet


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


class Secrets(Wrapper):
    """Secrets the model may type without ever seeing them: the model writes ``{{NAME}}``, the
    environment types the value. The value reaches no prompt, trajectory, report, log or error
    of vlagent's: a result or error of an action that carried one is reported without its
    message (docs/safety.md)."""

    def __init__(self, inner: Environment, values: dict[str, str]) -> None:
        super().__init__(inner)
        for name, value in values.items():
            if not value:
                raise EnvironmentUnavailable(f"the secret {name} is empty")
        self._values = dict(values)

    def placeholder(self, name: str) -> str:
        return "{{" + name + "}}"

    def _fill(self, action: BaseModel) -> tuple[BaseModel, bool]:
        update: dict[str, str] = {}
        for field, value in action:
            if isinstance(value, str) and "{{" in value:
                filled = value
                for name, secret in self._values.items():
                    filled = filled.replace(self.placeholder(name), secret)
                if filled != value:
                    update[field] = filled
        return (action.model_copy(update=update), True) if update else (action, False)

    def execute(self, action: BaseModel) -> ActionResult:
        filled, carries = self._fill(action)
        if not carries:
            return self.inner.execute(action)
        try:
            result = self.inner.execute(filled)
        except EnvironmentFault:
            raise EnvironmentFault(
                "an action that types a secret failed (its message is withheld, "
                "as it may hold the secret)"
            ) from None
        message = result.message
        if any(secret in message for secret in self._values.values()):
            message = "done (message withheld: it held a secret)"
        return ActionResult(ok=result.ok, message=message, executed=result.executed)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "secrets": sorted(self._values)}
