"""The ``agent`` command. The only place that turns names (``--env``, ``--model``) into objects;
each command is a few lines over the library (agent.build, agent.replay, agent.evaluation).
Exit codes and options: docs/cli.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any

import typer

from vlagent.agent.cli import evaluate, exitcodes, export, info, replay, run  # noqa: F401  (they register their commands)
from vlagent.agent.cli.common import app, errors
from vlagent.agent.cli.terminal import terminal_text
from vlagent.tools.errors import VlagentError
from vlagent.tools.secrets import redact

__all__ = ["app", "entry", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Every error is one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    for flag in ("--debug", "--verbose", "-v"):  # global options may follow the command too
        if flag in args[1:]:
            args = [flag] + [a for a in args if a != flag]
    command = typer.main.get_command(app)
    logger = logging.getLogger("vlagent")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    try:
        return _run(command, args, debug)
    finally:  # a program that calls main() keeps its own logging set-up
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (timeout, docker stop, a CI cancelling) ends a command as Ctrl-C does, at any
    point, model loading included, so whatever it started is closed. Only the main thread can
    take signals: a program calling main() from a worker keeps its own handling, and the
    caller's handler is put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(command: Any, args: list[str], debug: bool) -> int:
    try:
        with _sigterm_as_interrupt():
            code = command.main(args=args, prog_name="agent", standalone_mode=False)
    except VlagentError as exc:  # one line; the code follows the error's class (exitcodes.py)
        if debug:
            sys.stderr.write(redact(traceback.format_exc()))  # secrets masked
        errors.print(f"error: {terminal_text(exc)}")
        return exitcodes.code_for(exc)
    except Exception as exc:
        if _is_a(exc, "UsageError"):
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = exc.format_message()  # type: ignore[attr-defined]
            errors.print(f"error: {terminal_text(message)}{terminal_text(where)}")
            return exitcodes.USAGE
        if _is_a(exc, "Abort"):
            errors.print("aborted")
            return exitcodes.ABORTED
        if debug:
            sys.stderr.write(redact(traceback.format_exc()))  # secrets masked
        code = exitcodes.code_for(exc)
        if code != exitcodes.INTERNAL:  # a damaged input that a reader let through
            errors.print(
                f"error: cannot read the input ({type(exc).__name__}: {terminal_text(exc)}); "
                "check the files and folders given on the command line"
            )
            return code
        errors.print(
            f"error: internal error: {type(exc).__name__}: {terminal_text(exc)} "
            "(rerun with --debug and report the traceback)"
        )
        return exitcodes.INTERNAL
    return code if isinstance(code, int) else exitcodes.OK


def _is_a(exc: BaseException, name: str) -> bool:
    # Typer ships its own copy of click (typer._click) in recent versions and uses click itself
    # in older ones; the class names are the same in both.
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def entry() -> None:
    # The agent command is a program, so it may choose for its own process what a library must
    # leave to its caller: MuJoCo renders in software unless the user chose a backend.
    platform = os.environ.get("PYOPENGL_PLATFORM", "osmesa")
    if "MUJOCO_GL" not in os.environ and platform in ("osmesa", "egl"):
        os.environ.update(MUJOCO_GL=platform, PYOPENGL_PLATFORM=platform)
    sys.exit(main())
