"""A private virtual X screen (Xvfb) for one run: servers, CI, demos.

Xvfb picks a free display number itself (``-displayfd``) and is stopped when the run ends. It
listens on no TCP port and accepts only clients holding a fresh random cookie. The cookie goes
into an authority file of this process (a copy of the user's entries plus one per private
screen) that this process's X clients are given; the user's own file is never written, and the
process environment is left as it was (:func:`x_client_environment`).
"""

from __future__ import annotations

import atexit
import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vlagent.environments.base import EnvironmentUnavailable
from vlagent.environments.processes import stop_process
from vlagent.tools.secrets import child_environment

START_TIMEOUT_S = 10.0


FAMILY_LOCAL = 256
COOKIE = b"MIT-MAGIC-COOKIE-1"


_empty_authority: Path | None = None
_session_authority: Path | None = None


def user_authority() -> str:
    """The authority file X clients of the user's own displays read: ``$XAUTHORITY``, else
    ``~/.Xauthority``, else an empty file of ours (python-xlib fails when the file is missing)."""
    global _empty_authority
    if _session_authority is not None:  # the user's entries and our screens', in one file
        return str(_session_authority)
    current = os.environ.get("XAUTHORITY") or str(Path.home() / ".Xauthority")
    if Path(current).exists():
        return current
    if _empty_authority is None:
        handle, name = tempfile.mkstemp(prefix="vlagent-xauth-")
        os.close(handle)
        _empty_authority = Path(name)
        atexit.register(_empty_authority.unlink, missing_ok=True)
    return str(_empty_authority)


_environment_lock = threading.RLock()  # re-entered when a connection opens another


@contextmanager
def x_client_environment(display: str, authority: str) -> Iterator[None]:
    """While X connections are opened: ``DISPLAY`` and ``XAUTHORITY`` as the clients need them.

    pyautogui (at import), python-xlib and libX11 (under mss) read both only from the process
    environment when they connect, and take no argument for the authority file. They are set
    here for the duration of the ``with`` block and restored when it ends, so the process
    environment is the same before and after; nothing reads them once connected. Subprocesses
    are given their environment explicitly instead.
    """
    wanted = {"DISPLAY": display, "XAUTHORITY": authority}
    with _environment_lock:
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def authority_entry(number: str, cookie: bytes) -> bytes:
    """One X authority entry: this host's local connections to display ``number``."""

    def field(value: bytes) -> bytes:
        return struct.pack(">H", len(value)) + value

    return (
        struct.pack(">H", FAMILY_LOCAL)
        + field(socket.gethostname().encode())
        + field(number.encode())
        + field(COOKIE)
        + field(cookie)
    )


def authority_entries(data: bytes) -> list[tuple[str, bytes]]:
    """(display number, raw entry) for each entry of an X authority file; stops at a torn end."""
    entries: list[tuple[str, bytes]] = []
    at = 0
    while at + 2 <= len(data):
        start, at = at, at + 2
        fields = []
        for _ in range(4):  # address, number, auth name, auth data
            if at + 2 > len(data):
                return entries
            (length,) = struct.unpack(">H", data[at : at + 2])
            if at + 2 + length > len(data):
                return entries
            fields.append(data[at + 2 : at + 2 + length])
            at += 2 + length
        entries.append((fields[1].decode(errors="replace"), data[start:at]))
    return entries


_user_entries: list[tuple[str, bytes]] = []
_our_entries: dict[str, bytes] = {}


def _add_to_session_authority(number: str, entry: bytes) -> Path:
    """Put ``entry`` for display ``number`` in this process's authority file (returned). Any other
    entry
    for that number (an older screen's, the user's) is left out: numbers are reused, and clients
    disagree on which of several matches they use (libXau the first, python-xlib the last)."""
    global _session_authority, _user_entries
    if _session_authority is None:
        user = Path(os.environ.get("XAUTHORITY") or Path.home() / ".Xauthority")
        _user_entries = authority_entries(user.read_bytes()) if user.is_file() else []
        handle, name = tempfile.mkstemp(prefix="vlagent-xauthority-")
        os.close(handle)
        _session_authority = Path(name)
        atexit.register(_session_authority.unlink, missing_ok=True)
    _our_entries[number] = entry
    kept = [raw for n, raw in _user_entries if n not in _our_entries]
    _session_authority.write_bytes(b"".join([*_our_entries.values(), *kept]))
    return _session_authority


class Xvfb:
    """``Xvfb(1280, 800)`` starts a screen; ``.display`` is its name (``:N``); ``.stop()`` ends
    it."""

    def __init__(self, width: int, height: int, depth: int = 24) -> None:
        binary = shutil.which("Xvfb")
        if binary is None:
            raise EnvironmentUnavailable(
                "--xvfb needs Xvfb: install it (Debian/Ubuntu: apt-get install xvfb)"
            )
        handle, name = tempfile.mkstemp(prefix="vlagent-xvfb-auth-")
        os.close(handle)
        self.authority = Path(name)
        cookie = secrets.token_bytes(16)
        # The server loads every cookie in its file whatever display number it names; clients
        # match on the number, so theirs is written once the number is known.
        self.authority.write_bytes(authority_entry("0", cookie))
        read_end, write_end = os.pipe()
        try:
            self.process = subprocess.Popen(
                [
                    binary,
                    "-displayfd",
                    str(write_end),
                    "-screen",
                    "0",
                    f"{width}x{height}x{depth}",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                    "-auth",
                    str(self.authority),
                ],
                pass_fds=(write_end,),
                env=child_environment(),  # no API key, no secret (tools/secrets.py)
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        finally:
            os.close(write_end)
        try:
            number = self._read_display(read_end)
        finally:
            os.close(read_end)
        self.display = f":{number}"
        self.size = (width, height)
        self.client_authority = str(
            _add_to_session_authority(number, authority_entry(number, cookie))
        )

    def _read_display(self, fd: int) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        received = b""
        while not received.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(remaining, 0))
            chunk = os.read(fd, 64) if ready else b""
            if not chunk:
                self.authority.unlink(missing_ok=True)
                self.process.kill()
                _, err = self.process.communicate(timeout=5)
                raise EnvironmentUnavailable(
                    f"Xvfb did not start: "
                    f"{err.decode(errors='replace').strip()[-200:] or 'no output'}"
                )
            received += chunk
        return received.decode().strip()

    def stop(self) -> None:
        stop_process(self.process)
        self.authority.unlink(missing_ok=True)
