"""``make(name, **options)``: environments by name. A plain dict; no plugin framework."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from vlagent.environments.base import Environment, EnvironmentUnavailable

Factory = Callable[..., Environment]

_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Make ``factory(**options)`` available as ``make(name, **options)``."""
    if name in _REGISTRY:
        raise ValueError(f"an environment named {name!r} is already registered")
    _REGISTRY[name] = factory


def available() -> list[str]:
    return sorted(_REGISTRY)


def options_of(name: str) -> list[str]:
    """The option names environment ``name`` accepts."""
    return [p.name for p in _options(_factory(name))]


def _options(factory: Factory) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(factory).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def make(name: str, **options: Any) -> Environment:
    """Create environment ``name``. Unknown names and options raise a one-line
    :class:`EnvironmentUnavailable` that lists what exists."""
    factory = _factory(name)
    parameters = _options(factory)
    accepted = [p.name for p in parameters]
    unknown = [key for key in options if key not in accepted]
    if unknown:
        takes = ", ".join(accepted) or "no options"
        raise EnvironmentUnavailable(
            f"environment {name!r} has no option {', '.join(repr(u) for u in unknown)} "
            f"(it takes: {takes})"
        )
    missing = [p.name for p in parameters if p.default is p.empty and p.name not in options]
    if missing:
        flags = ", ".join(f"--{m.replace('_', '-')}" for m in missing)
        raise EnvironmentUnavailable(f"environment {name!r} needs {flags} (agent envs lists every option)")
    return factory(**options)


def _factory(name: str) -> Factory:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise EnvironmentUnavailable(
            f"unknown environment {name!r}; available: {', '.join(available())}"
        ) from None
