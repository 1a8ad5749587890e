"""The options of ``agent eval`` that say what to score and how to treat what goes wrong
(damaged data, missing ids, another benchmark, failing model calls, filters and samples): one
group, handed to the command as a :class:`Choice` (docs/evaluation.md)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer

from vlagent.agent.cli.common import with_options

F = TypeVar("F", bound=Any)


def _flag(name: str, kind: Any, default: Any, *flags: str, **info: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, typer.Option(*flags, **info)],
    )


# What to score and how to treat what goes wrong: one group, passed to the command as ``choice``.
CHOICE_OPTIONS = [
    _flag(
        "skip_damaged",
        bool,
        False,
        "--skip-damaged",
        help="Score around damaged files and empty episodes (each recorded) instead of stopping.",
    ),
    _flag(
        "skip_missing",
        bool,
        False,
        "--skip-missing",
        help="Score the episodes found when ids of --split or --episode are missing (recorded).",
    ),
    _flag(
        "allow_other_benchmark",
        bool,
        False,
        "--allow-other-benchmark",
        help="Score data of another benchmark than the protocol's (recorded as an override).",
    ),
    _flag(
        "failed_steps",
        str,
        "wrong",
        "--failed-steps",
        help="How a step whose model call kept failing counts: wrong (default) or excluded.",
    ),
    _flag(
        "step_retries",
        int,
        1,
        "--step-retries",
        min=0,
        help="Model calls tried again for a step whose call failed, before it counts as failed.",
    ),
    _flag("episode", list[str] | None, None, "--episode", help="Only this episode id (repeat)."),
    _flag(
        "category",
        list[str] | None,
        None,
        "--category",
        help="Only episodes of this category, e.g. GOOGLE_APPS (repeat).",
    ),
    _flag(
        "action_type",
        list[str] | None,
        None,
        "--action-type",
        help="Only steps whose gold action is of this type, e.g. click (repeat).",
    ),
    _flag("sample", int | None, None, "--sample", min=1, help="N episodes drawn at random."),
    _flag("sample_seed", int, 0, "--sample-seed", help="The seed of --sample."),
]


@dataclass(frozen=True)
class Choice:
    skip_damaged: bool = False
    skip_missing: bool = False
    allow_other_benchmark: bool = False
    failed_steps: str = "wrong"
    step_retries: int = 1
    episode: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    action_type: tuple[str, ...] = ()
    sample: int | None = None
    sample_seed: int = 0


def _choice(given: dict[str, Any]) -> Choice:
    lists = ("episode", "category", "action_type")
    values: dict[str, Any] = {k: tuple(v or ()) if k in lists else v for k, v in given.items()}
    return Choice(**values)


def with_choice_options(command: F) -> F:
    return with_options(command, "choice", CHOICE_OPTIONS, _choice)
