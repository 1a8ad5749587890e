"""The environment flags of ``agent run`` and ``agent replay``, made from what each registered
environment declares: the options of its factory's signature and their ``option_help``. One
flag per option name, its help tagged with the environments that take it; ``--env-option
KEY=VALUE`` sets any option, including those of environments registered in your own code."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.common import F, fail, with_options

# Option names that a flag cannot take: pytest-style --help and --env-option itself.
RESERVED = frozenset({"help", "env_option", "env_flags"})
_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool, "list": list[str]}


@dataclass
class EnvFlags:
    """What the user gave: flags by option name (None when not given), and KEY=VALUE pairs."""

    given: dict[str, Any] = field(default_factory=dict)
    pairs: list[str] = field(default_factory=list)


@functools.cache
def flag_parameters() -> list[inspect.Parameter]:
    """One keyword parameter (a typer option) per environment option, then ``--env-option``."""
    from vlagent import environments

    takers: dict[str, list[str]] = {}
    specs: dict[str, environments.OptionSpec] = {}
    kinds: dict[str, set[str]] = {}
    for env in environments.available():
        for spec in environments.option_specs(env):
            takers.setdefault(spec.name, []).append(env)
            specs.setdefault(spec.name, spec)
            kinds.setdefault(spec.name, set()).add(spec.kind)
    parameters = []
    for name, spec in specs.items():
        if name in RESERVED:
            continue  # reachable as --env-option only
        # Environments that disagree on a kind get the text, converted for the chosen one.
        kind = spec.kind if len(kinds[name]) == 1 else "str"
        declared = spec.declared
        words = declared.help if declared is not None else ""
        numeric = kind in ("int", "float") and declared is not None
        option = typer.Option(
            spec.flag,
            help=f"[{', '.join(takers[name])}] {words}".strip(),
            min=declared.min if numeric and declared is not None else None,
        )
        annotation = _annotated(_TYPES[kind] | None, option)
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
            )
        )
    pairs = typer.Option(
        "--env-option",
        metavar="KEY=VALUE",
        help="Any option of the environment, e.g. serial=virtual. Repeatable.",
    )
    parameters.append(
        inspect.Parameter(
            "env_option",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[list[str] | None, pairs],
        )
    )
    return parameters


def _needs_check(value: Any) -> bool:
    return isinstance(value, (str, float)) and not isinstance(value, bool)


def _annotated(kind: Any, option: Any) -> Any:
    return Annotated[kind, option]


def with_env_flags(command: F) -> F:
    """Give a command every environment flag; it receives them as ``env_flags: EnvFlags``. An
    option named like one of the command's own (``--seed``, ``--out``) stays an --env-option."""
    own = set(inspect.signature(command).parameters)
    flags = [p for p in flag_parameters() if p.name not in own]

    def build(given: dict[str, Any]) -> EnvFlags:
        pairs = given.pop("env_option") or []
        return EnvFlags(given, list(pairs))

    return with_options(command, "env_flags", flags, build)


def env_options(env: str, flags: EnvFlags) -> dict[str, Any]:
    """The options the user gave for ``env`` (flags, then KEY=VALUE pairs), checked against what
    ``env`` takes and converted to the kinds its factory asks for. Usage errors are one line."""
    from vlagent import environments

    try:
        specs = {spec.name: spec for spec in environments.option_specs(env)}
    except environments.EnvironmentUnavailable as exc:
        fail(str(exc))
    takes = ", ".join(spec.flag for spec in specs.values()) or "none"
    options = {key: value for key, value in flags.given.items() if value is not None}
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key not in specs:
            fail(f"{flag} is not an option of --env {env} (its options: {takes})", exitcodes.USAGE)
        try:  # a flag given as text (environments disagree on its kind), or a number like inf
            options[key] = specs[key].convert(str(value)) if _needs_check(value) else value
        except ValueError as exc:
            fail(f"{flag}: {exc}", exitcodes.USAGE)
    for pair in flags.pairs:
        key, sep, text = pair.partition("=")
        spec = specs.get(key.strip().replace("-", "_"))
        if not sep or spec is None:
            fail(
                f"--env-option {pair!r}: --env {env} takes KEY=VALUE with KEY one of "
                f"{', '.join(specs) or 'none'}",
                exitcodes.USAGE,
            )
        try:
            value = spec.convert(text)
        except ValueError as exc:
            fail(f"--env-option {pair!r}: {exc}", exitcodes.USAGE)
        options[spec.name] = [*options.get(spec.name, []), *value] if spec.kind == "list" else value
    return options
