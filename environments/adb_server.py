"""The adb server as a command found it: a server this process caused to start is stopped again
when the command is done; a server that was already listening (the user's) is left alone.

adbutils starts the server (``adb start-server``, a daemon) on its first request when none is
listening, and that daemon would outlive ``agent devices`` or a run that found no device.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlagent.environments.adb_channel import server_address, wm_size
from vlagent.environments.base import EnvironmentUnavailable
from vlagent.tools.files import FileError, open_lock_file, private_folder, touch_file
from vlagent.tools.secrets import child_environment

log = logging.getLogger("vlagent.android")
STARTED = "started-by-vlagent"


def adb_binary() -> str:
    """Google's adb, as shipped inside the adbutils wheel."""
    import adbutils

    return str(adbutils.adb_path())


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ServerLease:
    """Taken before the first request to the default adb server. A server that vlagent started
    (none was listening when a lease was taken) is stopped when the last vlagent command using
    it releases its lease, so two commands at once never pull it from under each other; a
    server started otherwise is never stopped. Releasing twice does nothing; a lease made with
    ``take=False`` holds nothing.

    The leases of one port are files in a folder of the user's private folder (mode 0700,
    checked: :func:`vlagent.tools.files.private_folder`), one per lease (named by process id),
    with a marker when vlagent started the server; none is opened through a link."""

    def __init__(self, take: bool = True) -> None:
        self.host, self.port = server_address()
        self.held = take
        if not take:
            return
        self.name = f"{os.getpid()}-{id(self)}"
        try:
            self.folder = private_folder(f"adb-{self.port}")
            with self._locked():
                if not listening(self.host, self.port):
                    touch_file(self.folder, STARTED)  # the server started now is ours
                    self._start()  # here, quietly: adbutils would let adb print to the terminal
                elif not self._others():
                    (self.folder / STARTED).unlink(missing_ok=True)  # listening, no lease: not ours
                touch_file(self.folder, self.name)
        except FileError as exc:
            raise EnvironmentUnavailable(f"cannot count the adb server's users: {exc}") from None

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with self._locked():
            (self.folder / self.name).unlink(missing_ok=True)
            started = self.folder / STARTED
            if self._others() or not started.exists():
                return
            started.unlink()
            if listening(self.host, self.port):
                self._stop()

    def _others(self) -> list[str]:
        """Leases of live processes on this port (a killed command's lease does not count)."""
        live = []
        for entry in self.folder.iterdir():
            pid = entry.name.split("-")[0]
            if entry.name in (STARTED, ".lock") or not pid.isdigit():
                continue
            if Path(f"/proc/{pid}").exists() or not Path("/proc").exists():
                live.append(entry.name)
            else:
                entry.unlink(missing_ok=True)
        return live

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        lock = open_lock_file(self.folder, ".lock")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)

    def _start(self) -> None:
        try:
            subprocess.run(
                [adb_binary(), "-P", str(self.port), "start-server"],
                env=child_environment(),  # no API key, no secret (tools/secrets.py)
                capture_output=True,  # "* daemon not running; starting now" is not ours to print
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:  # the first request says it again
            log.debug("could not start the adb server on port %d: %s", self.port, exc)

    def _stop(self) -> None:
        try:
            subprocess.run(
                [adb_binary(), "-P", str(self.port), "kill-server"],
                env=child_environment(),  # no API key, no secret (tools/secrets.py)
                capture_output=True,
                timeout=10,
                check=False,
            )
            log.debug("stopped the adb server vlagent started on port %d", self.port)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning(
                "could not stop the adb server vlagent started on port %d: %s", self.port, exc
            )


def list_devices() -> list[dict[str, str]]:
    """Every device the adb server knows: serial, state, model, size (``agent devices``)."""
    import adbutils

    lease = ServerLease()
    try:
        return _rows(adbutils.AdbClient())
    finally:
        lease.release()


def _rows(client: Any) -> list[dict[str, str]]:
    found = []
    for info in client.list(extended=True) if _takes_extended(client) else client.list():
        row = {"serial": info.serial, "state": info.state, "model": "", "size": ""}
        if info.state == "device":
            device = client.device(info.serial)
            try:
                row["model"] = device.shell("getprop ro.product.model", timeout=10).strip()
                row["size"] = wm_size(device.shell("wm size", timeout=10))
            except Exception:  # a device that does not answer is still listed
                pass
        found.append(row)
    return found


def _takes_extended(client: Any) -> bool:
    import inspect

    return "extended" in inspect.signature(client.list).parameters
