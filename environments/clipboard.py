"""Borrowing the X clipboard to type text that pyautogui cannot (anything outside ASCII, ``<``).

A selection only exists while a program serves it. For each paste an ``xclip`` is started in the
foreground (``-quiet``: it does not fork away), with no pipe of the caller's (a caller reading our
output through a pipe would otherwise wait for it forever), and stopped once the application has
fetched the text. Then the clipboard is given back what it held before: nothing (no owner), or its
earlier text, served by a detached ``xclip`` as any copy in a desktop session is. The typed text
(a password, perhaps) never stays behind.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from vlagent.environments.base import EnvironmentFault
from vlagent.environments.processes import stop_process
from vlagent.tools.secrets import child_environment, holds_secret

OWN_TIMEOUT_S = 2.0
FETCH_WAIT_S = 0.3
"""How long the application gets to fetch the pasted text after the keystroke (it asks for the
selection asynchronously; Tk and Chromium take a few milliseconds, a loaded machine longer)."""


class Clipboard:
    """The CLIPBOARD selection of one display, through xclip."""

    def __init__(self, display: str, env: dict[str, str]) -> None:
        self.display = display
        self.env = child_environment(base=env)  # xclip gets no API key, no secret

    def read(self) -> bytes | None:
        """The text the clipboard holds now, or None when nobody serves it."""
        try:
            done = subprocess.run(
                ["xclip", "-selection", "clipboard", "-out", "-target", "UTF8_STRING"],
                capture_output=True,
                timeout=OWN_TIMEOUT_S,
                env=self.env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return None
        return done.stdout if done.returncode == 0 else None

    @contextmanager
    def serving(self, text: str) -> Iterator[None]:
        """Serve ``text`` as the clipboard for the ``with`` block (the paste), then stop. Text
        holding a secret is refused: a clipboard manager keeps what it sees (secrets are typed
        with key events instead, environments/xkeys.py)."""
        if holds_secret(text):
            raise EnvironmentFault("a secret is never put on the clipboard; type it with keys")
        server = subprocess.Popen(
            ["xclip", "-selection", "clipboard", "-in", "-quiet"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        try:
            assert server.stdin is not None
            server.stdin.write(text.encode("utf-8"))
            server.stdin.close()
            self._until_served(text.encode("utf-8"), server)
            yield
            time.sleep(FETCH_WAIT_S)
        finally:
            stop_process(server, timeout_s=2)

    def _until_served(self, expected: bytes, server: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + OWN_TIMEOUT_S
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise EnvironmentFault(
                    f"xclip exited at once (code {server.returncode}) on {self.display}"
                )
            if self.read() == expected:
                return
            time.sleep(0.01)
        raise EnvironmentFault(f"the clipboard of {self.display} did not take the text to type")

    def restore(self, held: bytes | None) -> None:
        """Give the clipboard back what it held: its earlier text, served by a detached xclip."""
        if held is None:
            return  # nobody served it before, and nobody does now that our xclip has stopped
        subprocess.Popen(
            ["xclip", "-selection", "clipboard", "-in"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        ).communicate(held, timeout=OWN_TIMEOUT_S)
