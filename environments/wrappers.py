"""Wrappers: behaviour layered on any environment (Gymnasium's idea)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from vlagent.environments.base import (
    ActionResult,
    DeviceFacts,
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
)
from vlagent.tools import ToolSet
from vlagent.tools.secrets import Secret, SecretError, redact, redact_data


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

    def facts(self) -> DeviceFacts:
        return self.inner.facts()

    def ended(self) -> ActionResult | None:
        return self.inner.ended()

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
    environment types the value. Each value is a :class:`~vlagent.tools.secrets.Secret`, masked
    in every text vlagent shows or writes (tools/secrets.py); here, what an action that carried
    one reports (its result, its data, its error) is masked before it goes anywhere, and a fault
    of such an action is reported without its message, which may hold part of the value
    (docs/safety.md)."""

    def __init__(self, inner: Environment, values: Mapping[str, str | Secret]) -> None:
        super().__init__(inner)
        try:
            self._values = {name: Secret(value, name) for name, value in values.items()}
        except SecretError as exc:
            raise EnvironmentUnavailable(str(exc)) from None

    def placeholder(self, name: str) -> str:
        return "{{" + name + "}}"

    def observe(self) -> Observation:
        # What the device shows as text (a field holding a typed secret) is masked as it comes
        # in, before anything cuts or reshapes it (the UI tree's lines squeeze spaces and cut
        # at 60 characters): a cut or squeezed value is no longer a form redaction knows.
        obs = self.inner.observe()
        elements = obs.elements
        if elements:
            elements = [
                replace(
                    element,
                    text=redact(element.text),
                    description=redact(element.description),
                    resource_id=redact(element.resource_id),
                )
                for element in elements
            ]
        return replace(
            obs, elements=elements, metadata=redact_data(obs.metadata), state=redact_data(obs.state)
        )

    def facts(self) -> DeviceFacts:
        # Policies judge what the device will receive: the app a secret names, the key it
        # presses, a line break inside its value (an Enter).
        return replace(self.inner.facts(), executed=lambda action: self._fill(action)[0])

    def _filled_text(self, text: str) -> str:
        for name, secret in self._values.items():
            text = text.replace(self.placeholder(name), secret.reveal())
        return text

    def _fill(self, action: BaseModel) -> tuple[BaseModel, bool]:
        update: dict[str, str] = {}
        for field, value in action:
            if isinstance(value, str) and "{{" in value:
                filled = self._filled_text(value)
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
        except (EnvironmentUnavailable, RunAborted) as exc:
            raise type(exc)(redact(str(exc))) from None
        return replace(result, message=redact(result.message), data=redact_data(dict(result.data)))

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "secrets": sorted(self._values)}
