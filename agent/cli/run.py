"""``agent run`` (one goal, recorded) and ``agent demo`` (a scripted goal on the virtual phone)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.common import (
    LiveView,
    app,
    console,
    default_run_dir,
    end_of_run,
    errors,
    fail,
    with_model_options,
)
from vlagent.agent.cli.env_flags import EnvFlags, env_options, with_env_flags
from vlagent.agent.cli.terminal import terminal_text
from vlagent.tools.secrets import Secret

if TYPE_CHECKING:
    from vlagent.agent.core.build import ModelSpec, RunSpec
    from vlagent.agent.core.loop import Agent
    from vlagent.agent.core.policy import Policy, Region

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"


# The options of `agent run` (its environment and model options come from with_env_flags and
# with_model_options).
EnvName = Annotated[
    str,
    typer.Option(
        "--env", help="Environment: android, desktop, memory, sim-pick, gym (agent envs)."
    ),
]
Goal = Annotated[str, typer.Option("--goal", help="What the agent should do.")]
MaxSteps = Annotated[int, typer.Option("--max-steps", min=1, help="Model calls at most.")]
MaxRetries = Annotated[
    int,
    typer.Option("--max-retries", min=0, help="Invalid answers in a row fed back before stopping."),
]
MaxRepeats = Annotated[
    int,
    typer.Option(
        "--max-repeats", min=2, help="Same action on an unchanged screen this often stops."
    ),
]
TimeLimit = Annotated[
    float | None, typer.Option("--time-limit", min=0.001, help="Stop after this many seconds.")
]
Out = Annotated[
    Path | None, typer.Option("--out", help="Run directory (default runs/<UTC time>-<goal>/).")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Observe and plan, but execute nothing.")]
ConfirmFlag = Annotated[
    bool,
    typer.Option("--confirm", help="Ask on the terminal before risky actions (docs/safety.md)."),
]
RegionText = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Only touch points inside LEFT,TOP,RIGHT,BOTTOM (fractions, e.g. 0,0.1,1,1).",
    ),
]
AllowApp = Annotated[
    list[str] | None,
    typer.Option("--allow-app", help="[android] Only these apps may be opened. Repeatable."),
]
DenyApp = Annotated[
    list[str] | None,
    typer.Option("--deny-app", help="[android] These apps may not be opened. Repeatable."),
]
SecretNames = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        help="A secret the model types as {{NAME}} without seeing it; its value comes "
        "from the environment variable NAME (or is asked for). Repeatable.",
    ),
]


@app.command()
@with_env_flags
@with_model_options(default_model=DEFAULT_MODEL)
def run(
    env: EnvName,
    goal: Goal,
    model: ModelSpec,  # the model options (with_model_options)
    env_flags: EnvFlags,  # every environment's options (with_env_flags)
    max_steps: MaxSteps = 30,
    max_retries: MaxRetries = 2,
    max_repeats: MaxRepeats = 3,
    time_limit: TimeLimit = None,
    out: Out = None,
    dry_run: DryRun = False,
    confirm: ConfirmFlag = False,
    region: RegionText = None,
    allow_app: AllowApp = None,
    deny_app: DenyApp = None,
    secret: SecretNames = None,
) -> None:
    """Run one goal: observe, ask the model, act, record — until done or a limit is hit."""
    from vlagent.agent.core.build import RunSpec
    from vlagent.agent.trajectory.records import Limits

    view = LiveView(dry_run)
    if not goal.strip():
        fail("--goal is empty: say what the agent should do", exitcodes.USAGE)
    policy = _policy(view, confirm, region, allow_app, deny_app)
    spec = RunSpec(
        env=env,
        model=model,
        out=out or default_run_dir(goal),
        dry_run=dry_run,
        secrets=_secrets(secret or []),
        policy=policy,
        env_options=env_options(env, env_flags),
        limits=Limits(
            max_steps=max_steps,
            max_retries=max_retries,
            max_repeats=max_repeats,
            time_limit_s=time_limit,
        ),
    )
    agent = _build(spec, view)
    console.print(
        f"goal: {terminal_text(goal)}  [dim]env {terminal_text(env)} · model "
        f"{terminal_text(model.model)} · dialect {terminal_text(agent.dialect.name)}[/dim]"
    )
    with agent:
        result = agent.run(goal)
    end_of_run(result, spec.out)


def _policy(
    view: LiveView,
    confirm: bool,
    region: str | None,
    allow_app: list[str] | None,
    deny_app: list[str] | None,
) -> Policy | None:
    """The rules the user gave on the command line, as one policy (None: no rules)."""
    import sys

    from vlagent.agent.core.policy import AppRules, Confirm, all_of
    from vlagent.environments.android_apps import label_words

    if confirm and not sys.stdin.isatty():
        fail("--confirm asks on a terminal, and standard input is not one", exitcodes.USAGE)
    for flag, names in (("--allow-app", allow_app), ("--deny-app", deny_app)):
        for name in names or ():
            if not label_words(name):  # a name without letters or digits matches no app
                fail(
                    f"{flag} {name!r}: give an app's name or package (e.g. Settings, "
                    "com.android.settings)",
                    exitcodes.USAGE,
                )
    apps = AppRules(allow_app or (), deny_app or ()) if allow_app or deny_app else None
    area = _region(region) if region else None
    return all_of(apps, area, Confirm(view.ask) if confirm else None)


def _region(text: str) -> Region:
    from vlagent.agent.core.policy import Region

    try:
        left, top, right, bottom = (float(v) for v in text.split(","))
        return Region((left, top, right, bottom))
    except ValueError as exc:
        fail(
            f"--region {text!r}: {exc}"
            if "region" in str(exc)
            else f"--region {text!r} is not LEFT,TOP,RIGHT,BOTTOM (four fractions, e.g. 0,0.1,1,1)",
            exitcodes.USAGE,
        )


SHORT_SECRET = 8
"""A secret shorter than this is likely to occur by chance in other text (a PIN in a clock)."""


def _secrets(names: list[str]) -> dict[str, Secret]:
    """Each ``--secret NAME``'s value: ``$NAME``, else asked for on the terminal (not echoed),
    as a :class:`~vlagent.tools.secrets.Secret` (masked wherever text leaves vlagent). ``$NAME``
    is then taken out of this process's environment: no program started later inherits it."""
    import getpass
    import os
    import re
    import sys

    values = {}
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            fail(
                f"--secret {name!r}: a secret's name is letters, digits and _ (e.g. PASSWORD)",
                exitcodes.USAGE,
            )
        value = os.environ.get(name)
        if value is None and sys.stdin.isatty():
            value = getpass.getpass(f"value of the secret {name} (not shown): ")
        if not value:
            fail(
                f"--secret {name}: set the environment variable {name} to its value (or run "
                "on a terminal to be asked for it)",
                exitcodes.USAGE,
            )
        values[name] = Secret(value, name)
        os.environ.pop(name, None)
        if len(value) < SHORT_SECRET:
            errors.print(
                f"[yellow]warning:[/yellow] the secret {name} is {len(value)} characters long: "
                "wherever those characters occur (a clock, a word, text on the screen) they are "
                "masked too, and where they are masked shows them; a longer value is safer"
            )
    return values


def _build(spec: RunSpec, view: LiveView) -> Agent:
    """build_agent with its failures as one-line errors."""
    from vlagent import environments, prompts
    from vlagent.agent.core.build import build_agent
    from vlagent.agent.runtimes.base import ModelUnavailable
    from vlagent.agent.trajectory import RecorderError

    try:
        with console.status(f"loading {terminal_text(spec.model.model)}…"):
            return build_agent(spec, listeners=[view])
    except (
        environments.EnvironmentUnavailable,
        ModelUnavailable,
        prompts.UnknownDialect,
        RecorderError,
    ) as exc:
        fail(str(exc))


@app.command()
def demo(
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<UTC time>-demo/).")
    ] = None,
    robot: Annotated[
        bool,
        typer.Option(
            "--robot", help="The simulated arm (sim-pick, MuJoCo) instead of the virtual phone."
        ),
    ] = False,
) -> None:
    """A scripted episode on the embedded virtual Android phone (or, with --robot, the simulated
    arm), offline: trajectory and report."""
    from vlagent.environments import EnvironmentFault, EnvironmentUnavailable

    run_dir = out or default_run_dir("demo")
    try:
        if robot:
            from vlagent.agent.cli.demo_robot import GOAL as ROBOT_GOAL
            from vlagent.agent.cli.demo_robot import run_robot_demo

            console.print(
                f"goal: {terminal_text(ROBOT_GOAL)}  "
                f"[dim]env sim-pick (MuJoCo) · model scripted[/dim]"
            )
            result = run_robot_demo(run_dir, listeners=[LiveView()])
        else:
            from vlagent.agent.cli.demo import GOAL, run_demo

            console.print(
                f"goal: {terminal_text(GOAL)}  "
                f"[dim]env android (virtual phone) · model scripted[/dim]"
            )
            result = run_demo(run_dir, listeners=[LiveView()])
    except (EnvironmentUnavailable, EnvironmentFault) as exc:
        fail(f"the demo could not start: {exc}")
    end_of_run(result, run_dir)
