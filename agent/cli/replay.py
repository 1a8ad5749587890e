"""``agent replay``: re-execute a recorded run, or with ``--model`` let a model plan the steps whose
screen changed (self-healing), recorded as a new run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.common import (
    LiveView,
    app,
    console,
    default_run_dir,
    end_of_run,
    fail,
    load_model_or_fail,
    with_model_options,
)
from vlagent.agent.cli.env_flags import EnvFlags, env_options, with_env_flags
from vlagent.agent.cli.terminal import terminal_text

if TYPE_CHECKING:
    from vlagent.agent.core.build import ModelSpec
    from vlagent.agent.replay.replayer import ReplayResult
    from vlagent.agent.trajectory import Trajectory
    from vlagent.environments import Environment


# The options of `agent replay` (its environment and model options come from with_env_flags and
# with_model_options).
RunDir = Annotated[Path, typer.Argument(help="A recorded run directory.")]
EnvName = Annotated[
    str | None, typer.Option("--env", help="Environment (default: the recorded one).")
]
Speed = Annotated[
    float, typer.Option("--speed", min=0.0, help="Recorded pauses ÷ this (0: no pauses).")
]
Start = Annotated[int, typer.Option("--from", min=0, help="Resume at this step.")]
Threshold = Annotated[
    float,
    typer.Option(
        "--threshold",
        min=0.0,
        max=1.0,
        help="Share of the screen that may change before replay stops (docs/replay.md).",
    ),
]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Where a divergence report goes (default RUN_DIR/replay/); with --model, the new run.",
    ),
]
NoCheck = Annotated[
    bool,
    typer.Option(
        "--no-check", help="Replay steps whose recorded screenshot is missing, without comparing."
    ),
]
Patience = Annotated[
    float,
    typer.Option(
        "--patience",
        min=0.0,
        help="Seconds a screen that differs is watched before replay stops "
        "(an app still starting or loading catches up).",
    ),
]


@app.command()
@with_env_flags
@with_model_options()
def replay(
    run_dir: RunDir,
    model: ModelSpec | None,  # the model options (with_model_options): self-healing when given
    env_flags: EnvFlags,  # every environment's options (with_env_flags)
    env: EnvName = None,
    speed: Speed = 1.0,
    start: Start = 0,
    threshold: Threshold = 0.04,
    out: Out = None,
    no_check: NoCheck = False,
    patience: Patience = 2.0,
) -> None:
    """Re-execute a recorded run's actions, stopping where the screen no longer matches. With
    --model (and any model option of agent run), a model plans the steps whose screen differs."""
    from vlagent import environments
    from vlagent.agent.replay.replayer import replay as run_replay

    trajectory = _recording(run_dir, start, screens=not no_check or model is not None)
    recorded = trajectory.header.environment
    name = env or recorded.name
    given = env_options(name, env_flags)
    options = {**_as_recorded(name, env, recorded.name, recorded.model_extra or {}, given), **given}
    try:
        environment = environments.make(name, **options)
    except environments.EnvironmentUnavailable as exc:
        fail(str(exc))
    if model is not None:
        _heal(trajectory, environment, model, start, threshold, out)
    try:
        result = run_replay(
            trajectory,
            environment,
            start=start,
            speed=speed,
            threshold=threshold,
            out=out,
            check=not no_check,
            patience=patience,
        )
    except (environments.EnvironmentFault, environments.EnvironmentUnavailable) as exc:
        fail(f"environment: {exc}", exitcodes.RUN_ERROR)
    finally:
        environment.close()
    _say_how_it_ended(result)


def _recording(run_dir: Path, start: int, screens: bool) -> Trajectory:
    """The recorded run, checked for replay from step ``start``; usage errors are one line."""
    from vlagent.agent.replay.replayer import check_recording
    from vlagent.agent.trajectory import TrajectoryError, read_trajectory

    try:
        trajectory = read_trajectory(run_dir)
        check_recording(trajectory, screens=screens)
    except TrajectoryError as exc:
        fail(str(exc))
    last = max((step.index for step in trajectory.steps), default=-1)
    if start > last:
        fail(
            f"--from {start}: the recording's steps are 0 to {last}"
            if last >= 0
            else f"--from {start}: the recording has no steps",
            exitcodes.USAGE,
        )
    return trajectory


def _say_how_it_ended(result: ReplayResult) -> None:
    console.print(f"replayed steps: {', '.join(map(str, result.replayed)) or 'none'}")
    if result.ok:
        console.print("[green]replayed to the end[/green]")
        return
    if result.report is not None:
        console.print(
            f"[red]diverged[/red] at step {result.diverged_at}: {terminal_text(result.reason)}"
        )
        console.print(f"divergence report: {terminal_text(result.report)}")
    else:
        console.print(f"[red]stopped[/red]: {terminal_text(result.reason)}")
    raise typer.Exit(exitcodes.NOT_DONE)


def _heal(
    trajectory: Trajectory,
    environment: Environment,
    model: ModelSpec,
    start: int,
    threshold: float,
    out: Path | None,
) -> NoReturn:
    """Self-healing replay: the loop runs the recorded actions while the screen matches and asks
    the model where it does not; the result is a new run with its own trajectory and report."""
    from vlagent.agent.core.loop import Agent
    from vlagent.agent.replay.healing import HealingRuntime
    from vlagent.agent.trajectory import Recorder, RecorderError
    from vlagent.agent.trajectory.records import Limits

    try:
        if model.scripted and model.dialect is None:  # a scripted planner speaks the recording's
            model = model.model_copy(update={"dialect": trajectory.header.dialect})
        planner, dialect = load_model_or_fail(model)
        healing = HealingRuntime(trajectory, planner, start=start, threshold=threshold)
        if dialect.name.startswith("ui-tars"):
            healing.close()
            fail(
                "self-healing replay replays recorded steps as tool calls: use a function-calling "
                "or json dialect (--dialect)",
                exitcodes.USAGE,
            )
        run_dir = out or default_run_dir(f"replay {trajectory.header.goal}")
        try:
            recorder = Recorder(run_dir)
        except RecorderError as exc:
            healing.close()
            fail(str(exc))
        limits = Limits(max_steps=max(len(trajectory.steps) * 2, 5))
        with Agent(
            healing,
            dialect,
            environment,
            limits=limits,
            recorder=recorder,
            listeners=[LiveView()],
            review=healing.review,
        ) as agent:
            result = agent.run(trajectory.header.goal)
    finally:
        environment.close()  # whatever ended it: a private Xvfb or an adb connection goes too
    end_of_run(
        result,
        run_dir,
        f"steps planned by the model: {', '.join(map(str, healing.healed)) or 'none'}",
    )


def _as_recorded(
    name: str, env: str | None, recorded: str, extra: dict[str, Any], given: dict[str, Any]
) -> dict[str, Any]:
    """The options that make the environment observe as it did when the run was recorded (flags
    the user gives, ``given``, override them). They come from the recording's header: one of the
    wrong type is refused here, in one line, rather than deep inside the environment."""
    if name == "memory" and env is None:  # the same canvas as recorded
        size = extra.get("size") or [1280, 800]
        chosen = {
            "size": f"{size[0]}x{size[1]}" if _is_size(size) else size,
            "space": extra.get("space"),
            "scale": extra.get("scale"),
        }
    elif name == "android" == recorded:  # observed as recorded: the same UI tree (and its app)
        chosen = {"ui_tree": extra.get("ui_tree") or None, "marks": extra.get("marks") or None}
    else:
        chosen = {}
    chosen = {key: value for key, value in chosen.items() if value is not None and key not in given}
    for key, value in chosen.items():
        kind = _RECORDED_TYPES[key]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            fail(
                f"the recording's environment option {key} is {repr(value)[:80]}, "
                f"not {_RECORDED_NAMES[key]}: its header is damaged; give --"
                f"{key.replace('_', '-')} to choose one (agent replay --help)"
            )
    return chosen


# The type each option taken from a recording must have (``size`` after _as_recorded made it
# WxH), and how the refusal names it.
_RECORDED_TYPES: dict[str, type | tuple[type, ...]] = {
    "size": str,
    "space": str,
    "scale": (int, float),
    "ui_tree": bool,
    "marks": bool,
}
_RECORDED_NAMES = {
    "size": "[WIDTH, HEIGHT]",
    "space": "a name",
    "scale": "a number",
    "ui_tree": "true or false",
    "marks": "true or false",
}


def _is_size(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )
