"""The program ``--launch`` started on a display (an app under test, a browser), watched.

A program that exits leaves a screen with nothing to act on: a run that kept clicking it would
end ``success`` on a black screen. The desktop asks :meth:`LaunchedProgram.exit_code` around each
action; what an exit does (end the run, or tell the model) is ``--launch-exit``.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from vlagent.environments.base import ActionResult, EnvironmentUnavailable
from vlagent.environments.change import SETTLE_POLL_S, settle
from vlagent.environments.processes import stop_process
from vlagent.tools import RunEnd
from vlagent.tools.secrets import child_environment

log = logging.getLogger("vlagent.desktop")

LAUNCH_QUIET_S = 0.5
LAUNCH_WAIT_S = 15.0
OnExit = Literal["end", "continue"]
ON_EXIT: tuple[OnExit, ...] = ("end", "continue")


def on_exit(value: str) -> OnExit:
    """``--launch-exit`` checked: ``end`` or ``continue``."""
    if value not in ON_EXIT:
        raise EnvironmentUnavailable(
            f"--launch-exit {value!r}: use end (the program's exit ends the run) or continue "
            "(the model is told and the run goes on)"
        )
    return value


def exit_words(code: int) -> str:
    """How a program ended, from its return code: ``exited with code 3``, or for a negative
    code (Popen's word for a signal) ``was killed by signal 9 (SIGKILL)``."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = f" ({signal.Signals(-code).name})"
    except ValueError:
        name = ""
    return f"was killed by signal {-code}{name}"


class LaunchedProgram:
    """``command`` started in ``folder`` with ``environment`` (the display's, without
    credentials); its exit does what ``on_exit`` says; :meth:`stop` ends it."""

    def __init__(
        self,
        command: str,
        folder: str | Path | None,
        environment: dict[str, str],
        on_exit: OnExit = "end",
    ) -> None:
        self.command = command
        self.on_exit = on_exit
        self._told = False
        try:
            self.process = subprocess.Popen(
                shlex.split(command),
                env=child_environment(base=environment),
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Its own process group: what it starts (a launcher's windows, a background
                # helper) is stopped with it, even after the launcher itself has exited.
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:  # not found, not executable; unbalanced quotes
            raise EnvironmentUnavailable(f"--launch {command!r} could not start: {exc}") from None

    def exit_code(self) -> int | None:
        """The program's return code once it has ended, else None."""
        return self.process.poll()

    def news(self) -> str | None:
        """One line for the model, the end record and the report once the program has exited:
        each time asked with ``end`` (the run ends on it), once with ``continue``."""
        code = None if self._told else self.exit_code()
        if code is None:
            return None
        self._told = self.on_exit == "continue"
        return f"the launched program ({self.command}) {exit_words(code)}"

    def ended(self) -> ActionResult | None:
        """Under ``end``: the result that ends the run once the program has exited, else None
        (``continue`` leaves the exit to the next action's message)."""
        news = self.news() if self.on_exit == "end" else None
        return self.ended_before(news) if news is not None else None

    def ended_before(self, news: str) -> ActionResult:
        """The action not executed: the program exited while the model thought."""
        return ActionResult(
            ok=False,
            executed=False,
            message=f"{news} before this action; the run ends",
            ends=RunEnd(status="failure"),
        )

    def outcome(self, message: str, data: dict[str, Any], news: str | None) -> ActionResult:
        """An executed action's result: ``message`` as it is while the program runs; with its
        exit, the run ends (``end``) or the model reads of it (``continue``)."""
        if news is None:
            return ActionResult(ok=True, message=message, data=data)
        if self.on_exit == "end":
            return ActionResult(
                ok=True,
                message=f"{news} after this step's action ({message}); the run ends",
                data=data,
                ends=RunEnd(status="failure"),
            )
        # Not ok: a failed action's message is what the model reads before its next step.
        return ActionResult(
            ok=False,
            message=f"{message}, but {news} (windows it started may still be on the screen)",
            data=data,
        )

    def stop(self) -> None:
        """End the program and everything it started (its process group), then reap it."""
        stop_process(self.process)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.2)


def launch_and_wait(program: LaunchedProgram, pixels: Callable[[], Any]) -> None:
    """Wait (at most 15 s) until ``program`` has drawn something on the screen ``pixels()``
    grabs, then until the screen settles; a program that exits first cannot be run against."""
    before = pixels()
    deadline = time.monotonic() + LAUNCH_WAIT_S
    while time.monotonic() < deadline:
        code = program.exit_code()
        # A launcher that starts others and returns is run against under --launch-exit continue,
        # once something it started draws; otherwise an exit before drawing leaves nothing.
        if code is not None and (program.on_exit == "end" or code != 0):
            raise EnvironmentUnavailable(f"--launch {program.command!r} {exit_words(code)} at once")
        if pixels() != before:
            # A new window draws its keyboard focus a little after itself (Tk: up to ~0.2 s):
            # wait for a longer stillness than after an action, so the first screen is whole.
            settle(pixels, before, 0.0, 2.0, quiet_s=LAUNCH_QUIET_S)
            return
        time.sleep(SETTLE_POLL_S)
    log.warning(
        "--launch %r drew nothing on the screen within %g s; the run goes on with the screen as "
        "it is",
        program.command,
        LAUNCH_WAIT_S,
    )
