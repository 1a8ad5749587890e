"""What every ``agent`` command shares: the app, the consoles, one-line errors, the model options
(one set, taken by ``run``, ``replay --model`` and ``eval``), the live view and the ending of a run.

Heavy libraries (torch, transformers, pyautogui, adbutils) are imported inside commands that need
them, never at module level: ``agent --help`` stays fast and light.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from vlagent.agent import __version__
from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.terminal import RedactingConsole, terminal_text
from vlagent.tools.errors import VlagentError

if TYPE_CHECKING:
    from vlagent.agent.core.build import ModelSpec
    from vlagent.agent.core.steps import RunResult, Step

app = typer.Typer(
    name="agent",
    help="vlagent: a local vision-language model operates a screen. Exit codes: docs/cli.md.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# soft_wrap: an error is one line however narrow the terminal (or pipe) is. emoji off: a model's
# ":smile:" is text (foreign text is printed through terminal.terminal_text).
console = RedactingConsole(highlight=False, soft_wrap=True, emoji=False)
errors = RedactingConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class CliError(VlagentError):
    """A problem the user can fix; printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = exitcodes.SETUP) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = exitcodes.SETUP) -> NoReturn:
    raise CliError(message, code)


class _LogLine(logging.Handler):
    """A log record as one line on stderr, through rich: ``warning: …`` (with -v also the time
    and the logger, for every level)."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(logging.DEBUG if verbose else logging.WARNING)
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelname.lower()
        colour = {"warning": "yellow", "error": "red", "critical": "red"}.get(level, "dim")
        where = (
            f"[dim]{datetime.now().strftime('%H:%M:%S.%f')[:-3]} {record.name}[/dim] "
            if self.verbose
            else ""
        )
        errors.print(f"{where}[{colour}]{level}:[/{colour}] {terminal_text(record.getMessage())}")


def show_logs(verbose: bool) -> None:
    """The ``vlagent`` loggers on stderr: warnings always, everything with -v. Set once per
    command; a handler from an earlier command in the same process is replaced."""
    logger = logging.getLogger("vlagent")
    for handler in [h for h in logger.handlers if isinstance(h, _LogLine)]:
        logger.removeHandler(handler)
    logger.addHandler(_LogLine(verbose))
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False


def _version(value: bool) -> None:
    if value:
        console.print(f"vlagent {__version__}")
        raise typer.Exit(exitcodes.OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show what happens underneath (reconnects, retries, fallbacks)."
        ),
    ] = False,
) -> None:
    """Global options (``--debug`` and ``-v`` may also follow any command)."""
    show_logs(verbose)


# -- run directories, live view, the ending of a run ---------------------------------------------


def _slug(goal: str) -> str:
    words = re.findall(r"[a-z0-9]+", goal.lower())
    return "-".join(words)[:40].strip("-") or "run"


def default_run_dir(goal: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{stamp}-{_slug(goal)}"


class LiveView:
    """Prints one line per step as the run goes, with a spinner while the model thinks."""

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self._status: Any = None

    def step_started(self, index: int) -> None:
        self._status = console.status(f"step {index}: thinking…")
        self._status.start()

    def ask(self, question: str) -> bool:
        """Ask the person at the terminal (``--confirm``); the spinner stops while they read."""
        if self._status is not None:
            self._status.stop()
        console.print(f"[yellow]confirm:[/yellow] {terminal_text(question)}")
        try:
            answer = console.input(terminal_text("allow? [y/N] "))
        except EOFError:
            answer = ""
        if self._status is not None:
            self._status.start()
        return answer.strip().lower() in ("y", "yes")

    def step_finished(self, step: Step) -> None:
        if self._status is not None:
            self._status.stop()
        timing = "  ".join(
            f"{k} {v:.0f} ms" for k, v in step.timings_ms.items() if k in ("generate", "execute")
        )
        if step.error is not None:
            what = (
                f"[red]{terminal_text(step.error.kind)} error[/red]: "
                f"{terminal_text(step.error.message)}"
            )
        else:
            action = step.action
            model_args = {
                k: v for k, v in (action.model if action else {}).items() if k != "action"
            }
            name = action.name if action else "?"
            where = ""
            if action is not None and "coordinate" in action.device:
                x, y = action.device["coordinate"]
                where = f" → ({x:.0f}, {y:.0f}) px"
            verb = "would run" if self.dry_run else ""
            what = f"{verb} [bold]{terminal_text(name)}[/bold] {terminal_text(model_args)}{where}"
            what = what.strip()
            if step.result is not None and not step.result.ok:
                said = "done, but" if step.result.executed else "refused:"  # as it happened
                what += f" [yellow]{said} {terminal_text(step.result.message)}[/yellow]"
        console.print(f"step {step.index:>3}  {what}  [dim]{timing}[/dim]")


def print_report(run_dir: Path) -> None:
    from vlagent.agent.outputs.report import render_run_report
    from vlagent.agent.trajectory import TrajectoryError

    try:
        console.print(f"report: {terminal_text(render_run_report(run_dir))}")
    except (OSError, TrajectoryError) as exc:  # the run is on disk either way
        errors.print(f"[yellow]warning:[/yellow] no report: {terminal_text(exc)}")


def end_of_run(result: RunResult, run_dir: Path | None, extra: str = "") -> NoReturn:
    """How every command that records a run ends: status, answer, trajectory, report, exit code."""
    colour = "green" if result.succeeded else "red"
    console.print(f"[{colour}]{result.status}[/{colour}]: {terminal_text(result.reason)}")
    if result.answer is not None:
        console.print(f"answer: {terminal_text(result.answer, block=True)}")  # may be a list
    if extra:
        console.print(terminal_text(extra))
    if run_dir is not None and (run_dir / "trajectory.jsonl").is_file():
        console.print(f"trajectory: {terminal_text(run_dir / 'trajectory.jsonl')}")
        print_report(run_dir)
    raise typer.Exit(exitcodes.BY_STATUS[result.status])


# -- the model options ---------------------------------------------------------------------------


def _option(name: str, kind: Any, default: Any, *flags: str, **info: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, typer.Option(*flags, **info)],
    )


MODEL_OPTIONS: list[inspect.Parameter] = [
    _option(
        "model",
        str | None,
        None,
        "--model",
        help="scripted:PATH, a Hugging Face id or a local folder (with --endpoint: the served "
        "name).",
    ),
    _option(
        "dialect",
        str | None,
        None,
        "--dialect",
        help="Force a dialect (default: chosen from the model).",
    ),
    _option(
        "endpoint",
        str | None,
        None,
        "--endpoint",
        help="OpenAI-compatible server URL (vLLM, SGLang, transformers serve).",
    ),
    _option("max_new_tokens", int, 256, "--max-new-tokens", min=1),
    _option("temperature", float, 0.0, "--temperature", min=0.0, help="0 = greedy."),
    _option("seed", int | None, None, "--seed"),
    _option("dtype", str, "auto", "--dtype", help="auto, bf16, fp16 or fp32."),
    _option(
        "attention", str, "auto", "--attention", help="auto, sdpa, eager or flash_attention_2."
    ),
    _option(
        "device_map",
        str | None,
        None,
        "--device-map",
        help="accelerate device map (default: auto on CUDA).",
    ),
    _option(
        "quantization",
        str | None,
        None,
        "--quantization",
        help="4bit or 8bit (needs bitsandbytes).",
    ),
    _option(
        "max_pixels",
        int | None,
        None,
        "--max-pixels",
        help="Pixel budget per screenshot (Qwen family; default: the family's).",
    ),
    _option("min_pixels", int | None, None, "--min-pixels"),
    _option(
        "constrained",
        str,
        "auto",
        "--constrained",
        help="auto, on or off: JSON-schema constrained decoding (xgrammar).",
    ),
    _option(
        "timeout",
        float,
        120.0,
        "--timeout",
        min=0.001,
        help="[endpoint] Seconds per request, all of it (connect, send, the whole answer).",
    ),
    _option("retries", int, 2, "--retries", min=0, help="[endpoint] Retries of a failed request."),
    _option(
        "allow_insecure_key",
        bool,
        False,
        "--allow-insecure-key",
        help="[endpoint] Send the API key over plain http to another machine.",
    ),
    _option(
        "use_env_proxy",
        bool,
        False,
        "--use-env-proxy",
        help="[endpoint] Send requests that carry the API key through HTTP(S)_PROXY too.",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def model_spec(given: dict[str, Any], default_model: str | None) -> ModelSpec | None:
    """The model options as a :class:`ModelSpec`; None when no model is named and none is
    default."""
    from vlagent.agent.core.build import ModelSpec
    from vlagent.agent.runtimes.base import RuntimeOptions

    values = dict(given)
    model, dialect, endpoint = values.pop("model"), values.pop("dialect"), values.pop("endpoint")
    model = model or default_model
    if model is None:
        named = [
            f"--{n.replace('_', '-')}" for n in ("dialect", "endpoint") if given[n] is not None
        ]
        if named:
            fail(f"{' and '.join(named)} need --model", exitcodes.USAGE)
        return None
    values["timeout_s"] = values.pop("timeout")
    try:
        options = RuntimeOptions(**values)
    except ValueError as exc:
        fail(str(exc), exitcodes.USAGE)
    return ModelSpec(model=model, endpoint=endpoint, dialect=dialect, options=options)


def with_options(
    command: F, name: str, options: list[inspect.Parameter], build: Callable[[dict[str, Any]], Any]
) -> F:
    """``command`` with its parameter ``name`` replaced by a group of typer ``options``: the
    wrapper takes their values off and passes ``build(values)`` as ``name``. How a command
    shares a group of options with others (the model's, the environment's) in one declaration."""
    # The command's own annotations are strings (postponed evaluation); evaluate them here, all
    # but ``name``'s, whose type may be imported only for type checkers (a light --help).
    own = inspect.signature(command)
    kept = [
        p.replace(annotation=eval(p.annotation, command.__globals__))
        if isinstance(p.annotation, str)
        else p
        for p in own.parameters.values()
        if p.name != name
    ]
    names = [option.name for option in options]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        given = {option: kwargs.pop(option) for option in names}
        return command(**{name: build(given)}, **kwargs)

    parameters = kept + options
    wrapper.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


def with_model_options(default_model: str | None = None) -> Callable[[F], F]:
    """Give a command the model options; it receives them as ``model: ModelSpec | None``."""

    def decorate(command: F) -> F:
        return with_options(
            command, "model", MODEL_OPTIONS, lambda given: model_spec(given, default_model)
        )

    return decorate


def load_model_or_fail(spec: ModelSpec) -> Any:
    """(runtime, dialect) for ``spec`` with a spinner; one-line errors."""
    from vlagent import prompts
    from vlagent.agent.core.build import load_model
    from vlagent.agent.runtimes.base import ModelUnavailable

    try:
        with console.status(f"loading {terminal_text(spec.model)}…"):
            return load_model(spec)
    except (ModelUnavailable, prompts.UnknownDialect) as exc:
        fail(str(exc))
