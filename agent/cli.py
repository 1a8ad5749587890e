"""The ``agent`` command. The only place that turns names (``--env``, ``--model``) into objects.

Heavy libraries (torch, transformers, pyautogui, adbutils) are imported inside commands that need
them, never at module level: ``agent --help`` stays fast and light.
"""

from __future__ import annotations

import re
import signal
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agent import __version__, exitcodes

app = typer.Typer(
    name="agent",
    help="vlagent: a local vision-language model operates a screen. Exit codes: docs/cli.md.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# soft_wrap: an error is one line however narrow the terminal (or pipe) is.
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A problem the user can fix; printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = exitcodes.SETUP) -> None:
        super().__init__(message)
        self.code = code


def _fail(message: str, code: int = exitcodes.SETUP) -> NoReturn:
    raise CliError(message, code)


def _version(value: bool) -> None:
    if value:
        console.print(f"vlagent {__version__}")
        raise typer.Exit(exitcodes.OK)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Global options (``--debug`` may also follow any command)."""


# -- agent run ---------------------------------------------------------------------------------

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"


def _slug(goal: str) -> str:
    words = re.findall(r"[a-z0-9]+", goal.lower())
    return "-".join(words)[:40].strip("-") or "run"


def default_run_dir(goal: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{stamp}-{_slug(goal)}"


class LiveView:
    """Prints one line per step as the run goes, with a spinner while the model thinks."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self._status: Any = None

    def step_started(self, index: int) -> None:
        self._status = console.status(f"step {index}: thinking…")
        self._status.start()

    def step_finished(self, step: Any) -> None:
        if self._status is not None:
            self._status.stop()
        timing = "  ".join(f"{k} {v:.0f} ms" for k, v in step.timings_ms.items()
                           if k in ("generate", "execute"))
        if step.error is not None:
            what = f"[red]{step.error.kind} error[/red]: {escape(step.error.message)}"
        else:
            action = step.action or {}
            model_args = {k: v for k, v in action.get("model", {}).items() if k != "action"}
            name = action.get("model", {}).get("action", action.get("tool", "?"))
            where = ""
            if "coordinate" in action.get("device", {}):
                x, y = action["device"]["coordinate"]
                where = f" → ({x:.0f}, {y:.0f}) px"
            verb = "would run" if self.dry_run else ""
            what = f"{verb} [bold]{escape(str(name))}[/bold] {escape(str(model_args))}{where}".strip()
            if step.result is not None and not step.result["ok"]:
                what += f" [yellow]refused: {escape(step.result['message'])}[/yellow]"
        console.print(f"step {step.index:>3}  {what}  [dim]{timing}[/dim]")


def _env_options(env: str, given: dict[str, Any]) -> dict[str, Any]:
    import environments

    options = {key: value for key, value in given.items() if value is not None}
    try:
        accepted = environments.options_of(env)
    except environments.EnvironmentUnavailable as exc:
        _fail(str(exc))
    for key in options:
        if key not in accepted:
            takes = ", ".join(f"--{a}" for a in accepted) or "none"
            _fail(f"--{key} is not an option of --env {env} (its options: {takes})", exitcodes.USAGE)
    return options


@app.command()
def run(
    env: Annotated[str, typer.Option("--env", help="Environment: android, desktop, memory (agent envs).")],
    goal: Annotated[str, typer.Option("--goal", help="What the agent should do.")],
    model: Annotated[str, typer.Option(
        "--model", help="scripted:PATH, a Hugging Face id or a local folder.")] = DEFAULT_MODEL,
    dialect: Annotated[str | None, typer.Option(
        "--dialect", help="Force a dialect (default: chosen from the model).")] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Model calls at most.")] = 30,
    max_retries: Annotated[int, typer.Option(
        "--max-retries", min=0, help="Invalid answers in a row fed back before stopping.")] = 2,
    max_repeats: Annotated[int, typer.Option(
        "--max-repeats", min=2, help="Same action on an unchanged screen this often stops.")] = 3,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0.001, help="Stop after this many seconds.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run directory (default runs/<UTC time>-<goal>/).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Observe and plan, but execute nothing.")] = False,
    size: Annotated[str | None, typer.Option(
        "--size", help="[memory] Screen size WxH (default 1280x800).")] = None,
    space: Annotated[str | None, typer.Option(
        "--space", help="[memory] Action space: computer or mobile.")] = None,
    scale: Annotated[float | None, typer.Option(
        "--scale", min=0.01, help="[memory, desktop] Device pixels per image pixel (HiDPI).")] = None,
    display: Annotated[str | None, typer.Option(
        "--display", help="[desktop] X display, e.g. :0 (default $DISPLAY).")] = None,
    monitor: Annotated[int | None, typer.Option(
        "--monitor", min=0, help="[desktop] Monitor number (1 = first, 0 = all).")] = None,
    xvfb: Annotated[str | None, typer.Option(
        "--xvfb", help="[desktop] Run on a private virtual screen WxH, e.g. 1280x800.")] = None,
    settle: Annotated[float | None, typer.Option(
        "--settle", min=0.0, help="[desktop] After an action, wait up to S s for the screen to settle.")] = None,
    launch: Annotated[str | None, typer.Option(
        "--launch", help="[desktop] Start this program on the display first (e.g. an app under test).")] = None,
    serial: Annotated[str | None, typer.Option(
        "--serial", help="[android] Device serial (default: the only device; agent devices).")] = None,
    hierarchy: Annotated[bool | None, typer.Option(
        "--hierarchy", help="[android] Also read the UI hierarchy each step.")] = None,
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", help="OpenAI-compatible server URL (vLLM, SGLang, transformers serve).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 256,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 = greedy.")] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="auto, bf16, fp16 or fp32.")] = "auto",
    attention: Annotated[str, typer.Option(
        "--attention", help="auto, sdpa, eager or flash_attention_2.")] = "auto",
    device_map: Annotated[str | None, typer.Option(
        "--device-map", help="accelerate device map (default: auto on CUDA).")] = None,
    quantization: Annotated[str | None, typer.Option(
        "--quantization", help="4bit or 8bit (needs bitsandbytes).")] = None,
    max_pixels: Annotated[int | None, typer.Option(
        "--max-pixels", help="Pixel budget per screenshot (Qwen family; default 1280*28*28).")] = None,
    min_pixels: Annotated[int | None, typer.Option("--min-pixels")] = None,
    constrained: Annotated[str, typer.Option(
        "--constrained", help="auto, on or off: JSON-schema constrained decoding (xgrammar).")] = "auto",
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.001, help="[endpoint] Seconds per request.")] = 120.0,
) -> None:
    """Run one goal: observe, ask the model, act, record — until done or a limit is hit."""
    import environments
    from agent.loop import Agent, Limits
    from agent.runtime import ModelUnavailable
    from agent.runtimes import runtime_for
    from agent.trajectory import Recorder, RecorderError

    runtime_options = _runtime_options(
        max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, dtype=dtype,
        attention=attention, device_map=device_map, quantization=quantization,
        max_pixels=max_pixels, min_pixels=min_pixels, constrained=constrained, timeout_s=timeout)
    options = _env_options(env, {"size": size, "space": space, "scale": scale, "display": display,
                                 "monitor": monitor, "xvfb": xvfb, "settle": settle, "launch": launch,
                                 "serial": serial, "hierarchy": hierarchy})
    run_dir = out or default_run_dir(goal)
    # The environment first: a missing device or display should fail before a model loads.
    try:
        environment = environments.make(env, **options)
    except environments.EnvironmentUnavailable as exc:
        _fail(str(exc))
    try:
        with console.status(f"loading {escape(model)}…"):
            runtime = runtime_for(model, runtime_options, endpoint)
    except ModelUnavailable as exc:
        environment.close()
        _fail(str(exc))
    try:
        chosen = _dialect(dialect, model, runtime, runtime_options)
    except CliError:
        environment.close()
        runtime.close()
        raise
    try:
        recorder = Recorder(run_dir)
    except RecorderError as exc:
        environment.close()
        _fail(str(exc))
    if dry_run:
        environment = environments.DryRun(environment)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    limits = Limits(max_steps=max_steps, max_retries=max_retries, max_repeats=max_repeats,
                    time_limit_s=time_limit)
    agent = Agent(runtime, chosen, environment, limits=limits, recorder=recorder,
                  listeners=[LiveView(dry_run)])
    console.print(f"goal: {escape(goal)}  [dim]env {env} · model {escape(model)} · "
                  f"dialect {chosen.name}[/dim]")
    try:
        result = agent.run(goal)
    finally:
        environment.close()
        runtime.close()
    colour = "green" if result.succeeded else "red"
    console.print(f"[{colour}]{result.status}[/{colour}]: {escape(result.reason)}")
    if result.answer is not None:
        console.print(f"answer: {escape(result.answer)}")
    if recorder.started:
        console.print(f"trajectory: {recorder.path}")
        _print_report(recorder.run_dir)
    raise typer.Exit(exitcodes.BY_STATUS[result.status])


def _print_report(run_dir: Path) -> None:
    from agent.report import render_run_report
    from agent.trajectory import TrajectoryError

    try:
        console.print(f"report: {render_run_report(run_dir)}")
    except (OSError, TrajectoryError) as exc:  # the run is on disk either way
        errors.print(f"[yellow]warning:[/yellow] no report: {escape(str(exc))}")


@app.command()
def replay(
    run_dir: Annotated[Path, typer.Argument(help="A recorded run directory.")],
    env: Annotated[str | None, typer.Option("--env", help="Environment (default: the recorded one).")] = None,
    serial: Annotated[str | None, typer.Option("--serial", help="[android] Device serial.")] = None,
    display: Annotated[str | None, typer.Option("--display", help="[desktop] X display.")] = None,
    xvfb: Annotated[str | None, typer.Option("--xvfb", help="[desktop] A private screen WxH.")] = None,
    launch: Annotated[str | None, typer.Option("--launch", help="[desktop] Start this program first.")] = None,
    speed: Annotated[float, typer.Option(
        "--speed", min=0.0, help="Recorded pauses ÷ this (0: no pauses).")] = 1.0,
    start: Annotated[int, typer.Option("--from", min=0, help="Resume at this step.")] = 0,
    threshold: Annotated[float, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Screen distance above which replay stops.")] = 0.04,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Where a divergence report goes (default RUN_DIR/replay/); with --model, the new run.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Self-healing: plan diverged steps with this model and record a new run.")] = None,
    dialect: Annotated[str | None, typer.Option("--dialect", help="[--model] Force a dialect.")] = None,
) -> None:
    """Re-execute a recorded run's actions, stopping where the screen no longer matches."""
    import environments
    from agent.replay import replay as run_replay
    from agent.trajectory import TrajectoryError, read_trajectory

    try:
        trajectory = read_trajectory(run_dir)
    except TrajectoryError as exc:
        _fail(str(exc))
    recorded = trajectory.header.get("environment", {})
    name = env or str(recorded.get("name", ""))
    given: dict[str, Any] = {"serial": serial, "display": display, "xvfb": xvfb, "launch": launch}
    if name == "memory" and env is None:  # the same canvas as recorded
        size = recorded.get("size") or [1280, 800]
        given.update(size=f"{size[0]}x{size[1]}", space=recorded.get("space"), scale=recorded.get("scale"))
    options = _env_options(name, given)
    try:
        environment = environments.make(name, **options)
    except environments.EnvironmentUnavailable as exc:
        _fail(str(exc))
    if model is not None:
        _heal(trajectory, environment, model, dialect, start, threshold, out)
    try:
        result = run_replay(trajectory, environment, start=start, speed=speed, threshold=threshold, out=out)
    except (environments.EnvironmentFault, environments.EnvironmentUnavailable) as exc:
        _fail(f"environment: {exc}", exitcodes.RUN_ERROR)
    finally:
        environment.close()
    console.print(f"replayed steps: {', '.join(map(str, result.replayed)) or 'none'}")
    if result.ok:
        console.print("[green]replayed to the end[/green]")
        return
    if result.report is not None:
        console.print(f"[red]diverged[/red] at step {result.diverged_at}: {escape(result.reason)}")
        console.print(f"divergence report: {result.report}")
    else:
        console.print(f"[red]stopped[/red]: {escape(result.reason)}")
    raise typer.Exit(exitcodes.NOT_DONE)


def _heal(trajectory: Any, environment: Any, model: str, dialect: str | None, start: int,
          threshold: float, out: Path | None) -> NoReturn:
    """Self-healing replay: the loop runs the recorded actions while the screen matches and asks
    the model where it does not; the result is a new run with its own trajectory and report."""
    try:
        _heal_on(trajectory, environment, model, dialect, start, threshold, out)
    finally:
        environment.close()  # whatever ended it: a private Xvfb or an adb connection goes too


def _heal_on(trajectory: Any, environment: Any, model: str, dialect: str | None, start: int,
             threshold: float, out: Path | None) -> NoReturn:
    from agent.loop import Agent, Limits
    from agent.replay import HealingRuntime
    from agent.runtime import ModelUnavailable, RuntimeOptions
    from agent.runtimes import runtime_for
    from agent.trajectory import Recorder, RecorderError

    goal = str(trajectory.header.get("goal", ""))
    try:
        with console.status(f"loading {escape(model)}…"):
            planner = runtime_for(model, RuntimeOptions())
    except ModelUnavailable as exc:
        _fail(str(exc))
    healing = HealingRuntime(trajectory, planner, start=start, threshold=threshold)
    try:
        # A scripted planner speaks the recorded run's dialect; a real model its own family's.
        recorded_dialect = trajectory.header.get("dialect") if model.startswith("scripted:") else None
        chosen = _dialect(dialect or recorded_dialect, model, planner, RuntimeOptions())
        if chosen.name.startswith("ui-tars"):
            _fail("self-healing replay replays recorded steps as tool calls: use a function-calling or "
                  "json dialect (--dialect)", exitcodes.USAGE)
        run_dir = out or default_run_dir(f"replay {goal}")
        try:
            recorder = Recorder(run_dir)
        except RecorderError as exc:
            _fail(str(exc))
        limits = Limits(max_steps=max(len(trajectory.steps) * 2, 5))
        result = Agent(healing, chosen, environment, limits=limits, recorder=recorder,
                       listeners=[LiveView(False)]).run(goal)
    finally:
        healing.close()
    colour = "green" if result.succeeded else "red"
    console.print(f"[{colour}]{result.status}[/{colour}]: {escape(result.reason)}")
    console.print(f"steps planned by the model: {', '.join(map(str, healing.healed)) or 'none'}")
    console.print(f"trajectory: {recorder.path}")
    _print_report(run_dir)
    raise typer.Exit(exitcodes.BY_STATUS[result.status])


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory or an eval --out folder.")]) -> None:
    """Write DIR/report.html for a run (steps, screenshots, actions) or an evaluation (metrics)."""
    from agent.report import render_run_report
    from agent.trajectory import TrajectoryError

    from agent.report import render_eval_report

    try:
        if (run_dir / "metrics.json").is_file():  # an evaluation's output folder
            path = render_eval_report(run_dir)
        else:
            path = render_run_report(run_dir)
    except TrajectoryError as exc:
        _fail(str(exc))
    except (OSError, ValueError, KeyError) as exc:
        _fail(f"cannot read the evaluation in {run_dir}: {exc}")
    console.print(f"report: {path}")


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run directory (default runs/<UTC time>-demo/).")] = None,
) -> None:
    """A scripted episode on the virtual Android phone, offline: trajectory and HTML report."""
    from agent.demo import GOAL, run_demo
    from environments import EnvironmentFault, EnvironmentUnavailable

    run_dir = out or default_run_dir("demo")
    console.print(f"goal: {escape(GOAL)}  [dim]env android (virtual device) · model scripted[/dim]")
    try:
        result = run_demo(run_dir, listeners=[LiveView(False)])
    except (EnvironmentUnavailable, EnvironmentFault) as exc:
        _fail(f"the demo could not start: {exc}")
    colour = "green" if result.succeeded else "red"
    console.print(f"[{colour}]{result.status}[/{colour}]: {escape(result.reason)}")
    console.print(f"trajectory: {run_dir / 'trajectory.jsonl'}")
    _print_report(run_dir)
    raise typer.Exit(exitcodes.BY_STATUS[result.status])


def _runtime_options(**given: Any) -> Any:
    from agent.runtime import RuntimeOptions

    try:
        return RuntimeOptions(**given)
    except ValueError as exc:
        _fail(str(exc), exitcodes.USAGE)


def _dialect(forced: str | None, model: str, runtime: Any, options: Any) -> Any:
    """The forced dialect, else the one for the loaded checkpoint (Qwen function calling for
    scripted answers), told how the model's processor resizes screenshots. Scripted answers have
    no processor: the family rule applies, with --max-pixels / --min-pixels if given."""
    import prompts
    from agent.explain import dialect_with_budget

    try:
        if runtime.resize is None:
            name = forced or ("qwen2-vl" if model.startswith("scripted:") else None)
            if name is not None:
                return dialect_with_budget(name, options.max_pixels, options.min_pixels)
        if forced:
            return prompts.get_dialect(forced, runtime.resize)
        return prompts.dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    except prompts.UnknownDialect as exc:
        _fail(str(exc))


# -- agent parse, agent models -----------------------------------------------------------------

def _screen_size(text: str) -> tuple[int, int]:
    from environments import EnvironmentUnavailable
    from environments.memory import parse_size

    try:
        return parse_size(text)
    except EnvironmentUnavailable as exc:
        _fail(f"--screen: {exc}", exitcodes.USAGE)


@app.command()
def parse(
    text: Annotated[str, typer.Argument(help="The model's answer, or - to read it from stdin.")],
    dialect: Annotated[str, typer.Option("--dialect", help="How the model speaks (agent models).")],
    screen: Annotated[str, typer.Option("--screen", help="Screen size WxH the answer was about.")],
    max_pixels: Annotated[int | None, typer.Option(
        "--max-pixels", help="Pixel budget the model was run with (Qwen family).")] = None,
    min_pixels: Annotated[int | None, typer.Option("--min-pixels")] = None,
    scale: Annotated[float, typer.Option("--scale", min=0.01, help="Device pixels per screen pixel.")] = 1.0,
    space: Annotated[str | None, typer.Option(
        "--space", help="computer or mobile (default: both tools).")] = None,
) -> None:
    """Read a model answer as a run would: every call, validated, points in pixels and [0, 1]."""
    import json

    import prompts
    from agent.explain import ExplainError, dialect_with_budget, explain, toolset_for

    if space not in (None, "computer", "mobile"):
        _fail(f"--space must be computer or mobile, not {space!r}", exitcodes.USAGE)
    size = _screen_size(screen)
    if text == "-":
        text = sys.stdin.read()
    try:
        chosen = dialect_with_budget(dialect, max_pixels, min_pixels)
    except prompts.UnknownDialect as exc:
        _fail(str(exc), exitcodes.USAGE)
    except ValueError as exc:
        _fail(str(exc), exitcodes.USAGE)
    try:
        result = explain(text, chosen, size, toolset_for(space), scale)
    except ExplainError as exc:
        _fail(str(exc), exitcodes.NOT_DONE)
    except prompts.ResizeError as exc:
        _fail(str(exc), exitcodes.USAGE)
    print(json.dumps(result, indent=2, ensure_ascii=False))


@app.command()
def models() -> None:
    """List the supported model families: dialect, coordinate space, default pixel budget."""
    from prompts import FAMILIES

    for family in FAMILIES:
        if family.resize is not None:
            rule = family.resize
            budget = (f"max {rule.max_pixels:,} px ({rule.max_pixels // rule.factor ** 2:,} tokens at "
                      f"factor {rule.factor}), min {rule.min_pixels:,} px")
        else:
            budget = "set by the checkpoint's processor"
        note = f"; {family.note}" if family.note else ""
        console.print(f"[bold]{family.name}[/bold]  dialect {family.dialect} · {family.space} · "
                      f"{budget}[dim]{escape(note)}[/dim]")


# -- agent eval ----------------------------------------------------------------------------------

@app.command("eval")
def evaluate_command(
    dataset: Annotated[Path, typer.Argument(help="An episode file, a run directory, or a folder of them.")],
    model: Annotated[str, typer.Option("--model", help="scripted:PATH, a Hugging Face id or a folder.")],
    out: Annotated[Path, typer.Option("--out", help="Where metrics.json and predictions.jsonl go.")],
    dialect: Annotated[str | None, typer.Option("--dialect", help="Force a dialect.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="auto, aitz (AITW/AITZ JSON), androidcontrol, trajectory.")] = "auto",
    scorer: Annotated[str, typer.Option("--scorer", help="aitz, aitw or aitw-strict.")] = "aitz",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per generate call.")] = 1,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N episodes.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Keep the steps already in predictions.jsonl.")] = False,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="OpenAI-compatible server URL.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 256,
    max_pixels: Annotated[int | None, typer.Option("--max-pixels")] = None,
    dtype: Annotated[str, typer.Option("--dtype")] = "auto",
) -> None:
    """Score a model step by step against gold episodes (metrics.json, predictions.jsonl)."""
    from rich.progress import Progress

    from agent.evaluation import SCORERS, DatasetError, evaluate, load_dataset
    from agent.runtime import ModelUnavailable, RuntimeFailure
    from agent.runtimes import runtime_for

    if scorer not in SCORERS:
        _fail(f"--scorer must be one of {', '.join(SCORERS)}, not {scorer!r}", exitcodes.USAGE)
    try:
        episodes = load_dataset(dataset, fmt)[:limit]
    except DatasetError as exc:
        _fail(str(exc))
    options = _runtime_options(max_new_tokens=max_new_tokens, max_pixels=max_pixels, dtype=dtype)
    try:
        with console.status(f"loading {escape(model)}…"):
            runtime = runtime_for(model, options, endpoint)
    except ModelUnavailable as exc:
        _fail(str(exc))
    chosen = _dialect(dialect, model, runtime, options)
    steps = sum(len(e.steps) for e in episodes)
    console.print(f"{len(episodes)} episodes, {steps} steps  [dim]model {escape(model)} · dialect "
                  f"{chosen.name} · scorer {scorer}[/dim]")
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("evaluating", total=steps)
            metrics = evaluate(episodes, runtime, chosen, SCORERS[scorer], out, batch_size=batch_size,
                               resume=resume, settings={"format": fmt, "dataset": str(dataset)},
                               on_progress=lambda done, total: progress.update(task, completed=done))
    except RuntimeFailure as exc:
        _fail(f"the model failed: {exc} (finished steps are in {out}; rerun with --resume)",
              exitcodes.RUN_ERROR)
    finally:
        runtime.close()
    for name in ("type_match", "exact_match", "success_rate", "goal_progress", "parse_rate"):
        console.print(f"{name:14} {metrics[name]:.4f}")
    console.print(f"metrics: {out / 'metrics.json'}")
    from agent.report import render_eval_report

    console.print(f"report: {render_eval_report(out)}")


# -- agent devices, agent virtual-device --------------------------------------------------------

@app.command()
def devices() -> None:
    """List the Android devices the adb server knows, with model, screen size and state."""
    from environments import EnvironmentUnavailable
    from environments.android import list_devices

    try:
        found = list_devices()
    except EnvironmentUnavailable as exc:
        _fail(str(exc))
    except Exception as exc:  # adbutils and socket errors: the server is not reachable
        _fail(f"cannot reach the adb server: {exc}; is adb installed?")
    if not found:
        console.print("no devices (plug one in with USB debugging on, adb connect HOST:PORT, or "
                      "agent virtual-device --port 15555)")
    for row in found:
        console.print(f"{row['serial']}  {row['state']}  {escape(row['model'])}  {row['size']}")


@app.command("virtual-device")
def virtual_device(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on.")] = 15555,
    size: Annotated[str, typer.Option("--size", help="Screen size WxH.")] = "1080x2400",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    no_ime: Annotated[bool, typer.Option("--no-ime", help="Without ADB Keyboard (ASCII typing only).")] = False,
) -> None:
    """Run a virtual Android phone (a test and demo target) until Ctrl-C; attach it with
    adb connect HOST:PORT."""
    from environments import EnvironmentUnavailable
    from environments.memory import parse_size
    from environments.virtual_android import Phone, VirtualDevice

    try:
        width, height = parse_size(size)
    except EnvironmentUnavailable as exc:
        _fail(f"--size: {exc}", exitcodes.USAGE)
    device = VirtualDevice(Phone(width, height, ime_installed=not no_ime), host=host, port=port)
    console.print(f"virtual device on {host}:{port} ({width}x{height}); attach it with: "
                  f"adb connect {host}:{port}   (Ctrl-C stops it)")
    if 5555 <= port <= 5585 and port % 2:
        console.print("[dim]note: the adb server attaches odd ports in 5555-5585 as emulators by itself[/dim]")
    try:
        device.serve_forever()
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        raise typer.Exit(exitcodes.OK) from None


# -- agent envs, agent show --------------------------------------------------------------------

@app.command()
def envs() -> None:
    """List environments and their options."""
    import environments

    for name in environments.available():
        options = ", ".join(f"--{o}" for o in environments.options_of(name)) or "no options"
        console.print(f"{name}  [dim]{options}[/dim]")


@app.command()
def show(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Summarize a recorded trajectory and report damaged lines."""
    from agent.trajectory import TrajectoryError, read_trajectory

    try:
        trajectory = read_trajectory(run_dir)
    except TrajectoryError as exc:
        _fail(str(exc))
    header = trajectory.header
    console.print(f"goal: {escape(header['goal'])}  [dim]model {escape(header['model']['id'])} · "
                  f"dialect {header['dialect']}[/dim]")
    for step in trajectory.steps:
        if step.get("error"):
            what = f"{step['error']['kind']} error: {step['error']['message']}"
        else:
            what = str((step.get("action") or {}).get("model"))
        console.print(f"step {step.get('index', '?'):>3}  {escape(what)}")
    end = trajectory.end
    if end is None:
        console.print("[yellow]not closed: the run was killed or is still going[/yellow]")
    else:
        console.print(f"{end['status']}: {escape(end['reason'])}")
    if trajectory.torn_tail:
        console.print("[yellow]the last line was cut short and was skipped[/yellow]")
    for problem in trajectory.problems:
        errors.print(f"[yellow]warning:[/yellow] {escape(problem)}")


# -- entry point -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Every error is one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug and args[0] != "--debug":
        args = ["--debug"] + [a for a in args if a != "--debug"]
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="agent", standalone_mode=False)
    except CliError as exc:
        if debug:
            traceback.print_exc()
        errors.print(f"error: {escape(str(exc))}")
        return exc.code
    except Exception as exc:
        if _is_a(exc, "UsageError"):
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            errors.print(f"error: {escape(exc.format_message())}{where}")  # type: ignore[attr-defined]
            return exitcodes.USAGE
        if _is_a(exc, "Abort"):
            errors.print("aborted")
            return exitcodes.ABORTED
        if debug:
            traceback.print_exc()
        errors.print(f"error: internal error: {type(exc).__name__}: {escape(str(exc))} "
                     "(rerun with --debug and report the traceback)")
        return exitcodes.INTERNAL
    return code if isinstance(code, int) else exitcodes.OK


def _is_a(exc: BaseException, name: str) -> bool:
    # Typer ships its own copy of click (typer._click) in recent versions and uses click itself
    # in older ones; the class names are the same in both.
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def entry() -> None:
    sys.exit(main())
