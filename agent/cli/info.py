"""Commands that look rather than act: ``parse``, ``models``, ``envs``, ``show``, ``report``,
``devices``, and ``virtual-device`` (a phone to look at)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.common import app, console, errors, fail
from vlagent.agent.cli.terminal import terminal_json, terminal_text

if TYPE_CHECKING:
    from vlagent.environments.virtual_android.profile import CostProfile


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory or an eval --out folder.")],
) -> None:
    """Write DIR/report.html for a run (steps, screenshots, actions) or an evaluation (metrics)."""
    from vlagent.agent.outputs.report import render_eval_report, render_run_report
    from vlagent.agent.trajectory import TrajectoryError

    evaluation = (run_dir / "metrics.json").is_file()  # an evaluation's output folder
    try:
        path = render_eval_report(run_dir) if evaluation else render_run_report(run_dir)
    except TrajectoryError as exc:
        fail(str(exc))
    except (OSError, ValueError, KeyError) as exc:
        fail(f"cannot read the {'evaluation' if evaluation else 'run'} in {run_dir}: {exc}")
    console.print(f"report: {terminal_text(path)}")


def _screen_size(text: str) -> tuple[int, int]:
    from vlagent.environments import EnvironmentUnavailable
    from vlagent.environments.memory import parse_size

    try:
        return parse_size(text)
    except EnvironmentUnavailable as exc:
        fail(f"--screen: {exc}", exitcodes.USAGE)


@app.command()
def parse(
    text: Annotated[str, typer.Argument(help="The model's answer, or - to read it from stdin.")],
    dialect: Annotated[str, typer.Option("--dialect", help="How the model speaks (agent models).")],
    screen: Annotated[str, typer.Option("--screen", help="Screen size WxH the answer was about.")],
    max_pixels: Annotated[
        int | None,
        typer.Option("--max-pixels", help="Pixel budget the model was run with (Qwen family)."),
    ] = None,
    min_pixels: Annotated[int | None, typer.Option("--min-pixels")] = None,
    scale: Annotated[
        float, typer.Option("--scale", min=0.01, help="Device pixels per screen pixel.")
    ] = 1.0,
    space: Annotated[
        str | None, typer.Option("--space", help="computer or mobile (default: both tools).")
    ] = None,
) -> None:
    """Read a model answer as a run would: every call, validated, points in pixels and [0, 1]."""
    from vlagent import prompts
    from vlagent.agent.cli.explain import ExplainError, explain, toolset_for
    from vlagent.agent.core.build import with_budget

    if space not in (None, "computer", "mobile"):
        fail(f"--space must be computer or mobile, not {space!r}", exitcodes.USAGE)
    size = _screen_size(screen)
    if text == "-":
        text = sys.stdin.read()
    try:
        chosen = with_budget(dialect, max_pixels, min_pixels)
    except prompts.UnknownDialect as exc:
        fail(str(exc), exitcodes.USAGE)
    except ValueError as exc:
        fail(str(exc), exitcodes.USAGE)
    try:
        result = explain(text, chosen, size, toolset_for(space), scale)
    except ExplainError as exc:
        fail(str(exc), exitcodes.NOT_DONE)
    except prompts.ResizeError as exc:
        fail(str(exc), exitcodes.USAGE)
    print(terminal_json(result))


@app.command()
def models() -> None:
    """List the supported model families: dialect, coordinate space, default pixel budget."""
    from vlagent.prompts import FAMILIES

    for family in FAMILIES:
        if family.resize is not None:
            rule = family.resize
            budget = (
                f"max {rule.max_pixels:,} px ({rule.max_pixels // rule.factor**2:,} tokens at "
                f"factor {rule.factor}), min {rule.min_pixels:,} px"
            )
        else:
            budget = "set by the checkpoint's processor"
        note = f"; {family.note}" if family.note else ""
        console.print(
            f"[bold]{family.name}[/bold]  dialect {family.dialect} · {family.space} · "
            f"{budget}[dim]{terminal_text(note)}[/dim]"
        )


@app.command()
def devices() -> None:
    """List the Android devices the adb server knows, with model, screen size and state."""
    from vlagent.environments import EnvironmentUnavailable
    from vlagent.environments.adb_server import list_devices

    try:
        found = list_devices()
    except EnvironmentUnavailable as exc:
        fail(str(exc))
    except Exception as exc:  # adbutils and socket errors: the server is not reachable
        fail(f"cannot reach the adb server: {exc}; is adb installed?")
    if not found:
        console.print(
            "no devices (plug one in with USB debugging on, adb connect HOST:PORT, or "
            "agent virtual-device --port 15555)"
        )
    for row in found:
        shown = (terminal_text(row[key]) for key in ("serial", "state", "model", "size"))
        console.print("  ".join(shown))  # as the device reports itself


@app.command("virtual-device")
def virtual_device(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on.")
    ] = 15555,
    size: Annotated[str, typer.Option("--size", help="Screen size WxH.")] = "1080x2400",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    no_ime: Annotated[
        bool, typer.Option("--no-ime", help="Without ADB Keyboard (ASCII typing only).")
    ] = False,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help="Costs to imitate: none, or phone (PNG encoding, input start-up, USB 2; "
            "see docs/environments.md).",
        ),
    ] = "none",
    png_ms_per_mp: Annotated[
        float | None,
        typer.Option(
            "--png-ms-per-mp", min=0, help="Override: ms to encode one megapixel of screencap -p."
        ),
    ] = None,
    input_ms: Annotated[
        float | None,
        typer.Option("--input-ms", min=0, help="Override: ms to start each input command."),
    ] = None,
    usb_mb_s: Annotated[
        float | None,
        typer.Option("--usb-mb-s", min=0, help="Override: transfer speed in MB/s (0: no limit)."),
    ] = None,
    dump_ms: Annotated[
        float | None,
        typer.Option("--dump-ms", min=0, help="Override: ms for each uiautomator dump."),
    ] = None,
) -> None:
    """Run a virtual Android phone (a test and demo target) until Ctrl-C; attach it with
    adb connect HOST:PORT."""
    from vlagent.environments import EnvironmentUnavailable
    from vlagent.environments.memory import parse_size
    from vlagent.environments.virtual_android import Phone, VirtualDevice

    try:
        width, height = parse_size(size)
    except EnvironmentUnavailable as exc:
        fail(f"--size: {exc}", exitcodes.USAGE)
    costs = _costs(profile, png_ms_per_mp, input_ms, usb_mb_s, dump_ms)
    device = VirtualDevice(
        Phone(width, height, ime_installed=not no_ime), host=host, port=port, profile=costs
    )
    _announce_device(host, port, width, height, costs)
    try:
        device.serve_forever()
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        raise typer.Exit(exitcodes.OK) from None


def _costs(
    profile: str,
    png_ms_per_mp: float | None,
    input_ms: float | None,
    usb_mb_s: float | None,
    dump_ms: float | None,
) -> CostProfile:
    """The named cost profile with the overrides the user gave (``--usb-mb-s`` is in MB/s, the
    profile counts bytes per second)."""
    import dataclasses

    from vlagent.environments.virtual_android.profile import PROFILES

    if profile not in PROFILES:
        fail(
            f"--profile: no profile {profile!r}; choose one of {', '.join(PROFILES)}",
            exitcodes.USAGE,
        )
    costs = PROFILES[profile]
    return dataclasses.replace(
        costs,
        png_ms_per_megapixel=costs.png_ms_per_megapixel if png_ms_per_mp is None else png_ms_per_mp,
        input_startup_ms=costs.input_startup_ms if input_ms is None else input_ms,
        bytes_per_second=costs.bytes_per_second if usb_mb_s is None else usb_mb_s * 1e6,
        dump_ms=costs.dump_ms if dump_ms is None else dump_ms,
    )


def _announce_device(host: str, port: int, width: int, height: int, costs: CostProfile) -> None:
    """How to attach the device, its costs when it imitates any, and a warning about ports the
    adb server takes for emulators."""
    from vlagent.environments.virtual_android.profile import PROFILES

    host = terminal_text(host)
    console.print(
        f"virtual device on {host}:{port} ({width}x{height}); attach it with: "
        f"adb connect {host}:{port}   (Ctrl-C stops it)"
    )
    if costs != PROFILES["none"]:
        console.print(f"costs: {costs.describe()}")
    if 5555 <= port <= 5585 and port % 2:
        console.print(
            "[dim]note: the adb server attaches odd ports in 5555-5585 as emulators by itself[/dim]"
        )


# -- agent envs, agent show --------------------------------------------------------------------


@app.command()
def envs() -> None:
    """List environments and their options."""
    from vlagent import environments

    for name in environments.available():
        options = (
            ", ".join(f"--{o.replace('_', '-')}" for o in environments.options_of(name))
            or "no options"
        )
        console.print(f"{name}  [dim]{options}[/dim]")


@app.command()
def show(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Summarize a recorded trajectory and report damaged lines."""
    from vlagent.agent.trajectory import TrajectoryError, read_trajectory

    try:
        trajectory = read_trajectory(run_dir)
    except TrajectoryError as exc:
        fail(str(exc))
    header = trajectory.header  # every field below comes from the file: terminal_text
    console.print(
        f"goal: {terminal_text(header.goal)}  [dim]model {terminal_text(header.model.id)} · "
        f"dialect {terminal_text(header.dialect)}[/dim]"
    )
    for step in trajectory.steps:
        if step.error is not None:
            what = f"{step.error.kind} error: {step.error.message}"
        else:
            what = str(step.action.model if step.action else None)
        console.print(f"step {step.index:>3}  {terminal_text(what)}")
    end = trajectory.end
    if end is None:
        console.print("[yellow]not closed: the run was killed or is still going[/yellow]")
    else:
        console.print(f"{terminal_text(end.status)}: {terminal_text(end.reason)}")
    if trajectory.torn_tail:
        console.print("[yellow]the last line was cut short and was skipped[/yellow]")
    for problem in trajectory.problems:
        errors.print(f"[yellow]warning:[/yellow] {terminal_text(problem)}")
