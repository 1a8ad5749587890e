"""``make(name, **options)``: environments by name. A plain dict; no plugin framework."""

from __future__ import annotations

import collections.abc
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vlagent.environments.base import Environment, EnvironmentUnavailable

Factory = Callable[..., Environment]
Kind = Literal["str", "int", "float", "bool", "list"]


@dataclass(frozen=True)
class Option:
    """What an environment says about one of its options, for the command line: ``help`` is the
    flag's help text, ``min`` the smallest number it takes. An environment declares them once,
    as ``option_help`` on its class (or factory function); the CLI makes its flags from them."""

    help: str
    min: float | None = None


@dataclass(frozen=True)
class OptionSpec:
    """One option of one environment: its name, the kind of value (from the factory's
    signature), whether it must be given, and what the environment declared about it."""

    name: str
    kind: Kind
    required: bool
    declared: Option | None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def convert(self, text: str) -> Any:
        """``text`` (from ``--env-option KEY=VALUE``) as this option's kind of value."""
        if self.kind == "bool":
            if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(f"{self.name}={text!r} is not true or false")
            return text.lower() in ("1", "true", "yes", "on")
        if self.kind in ("int", "float"):
            number = int(text) if self.kind == "int" else float(text)
            if not math.isfinite(number):
                raise ValueError(f"{self.name}={text} is not a finite number")
            if (
                self.declared is not None
                and self.declared.min is not None
                and number < self.declared.min
            ):
                raise ValueError(f"{self.name}={text} is below {self.declared.min:g}")
            return number
        return [text] if self.kind == "list" else text


_KINDS: dict[Any, Kind] = {int: "int", float: "float", bool: "bool", str: "str"}


def _kind(annotation: Any) -> Kind:
    """The kind of value an annotation asks for: None is left out of a union (``int | None``,
    ``Optional[int]``), then the first alternative decides; sequences of anything are lists."""
    if isinstance(annotation, str):  # not resolvable: read the text
        first = annotation.replace("Optional[", "").split("|")[0].strip().rstrip("]")
        if first.startswith(("Sequence[", "list[", "tuple[")):
            return "list"
        return first if first in ("int", "float", "bool") else "str"  # type: ignore[return-value]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kind(kept[0]) if kept else "str"
    if origin in (list, tuple, collections.abc.Sequence):
        return "list"
    return _KINDS.get(annotation, "str")


def _hints(factory: Factory) -> dict[str, Any]:
    """The factory's annotations, resolved where they can be (postponed annotations are text)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # a name only a type checker knows: fall back to the text
        return {}


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


def option_specs(name: str) -> list[OptionSpec]:
    """Every option of environment ``name``: read from its factory's signature, with what it
    declares in ``option_help``."""
    factory = _factory(name)
    declared: Mapping[str, Option] = getattr(factory, "option_help", {})
    hints = _hints(factory)
    return [
        OptionSpec(
            p.name,
            _kind(hints.get(p.name, p.annotation)),
            p.default is p.empty,
            declared.get(p.name),
        )
        for p in _options(factory)
    ]


def _options(factory: Factory) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


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
        raise EnvironmentUnavailable(
            f"environment {name!r} needs {flags} (agent envs lists every option)"
        )
    return factory(**options)


def _factory(name: str) -> Factory:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise EnvironmentUnavailable(
            f"unknown environment {name!r}; available: {', '.join(available())}"
        ) from None
