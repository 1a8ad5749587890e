"""The adb server as a command found it: a server this process caused to start is stopped again
when the command is done; a server that was already listening (the user's) is left alone.

adbutils starts the server (``adb start-server``, a daemon) on its first request when none is
listening, and that daemon would outlive ``agent devices`` or a run that found no device.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from typing import Any

from vlagent.environments.adb_channel import server_address, wm_size

log = logging.getLogger("vlagent.android")


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
    """Taken before the first request to the default adb server; :meth:`release` stops the server
    if it was not running when the lease was taken. Releasing twice does nothing; a lease made
    with ``take=False`` never stops anything."""

    def __init__(self, take: bool = True) -> None:
        self.host, self.port = server_address()
        self.ours = take and not listening(self.host, self.port)

    def release(self) -> None:
        if not self.ours:
            return
        self.ours = False
        if not listening(self.host, self.port):
            return  # nothing was started after all (adbutils could not start one)
        try:
            subprocess.run(
                [adb_binary(), "-P", str(self.port), "kill-server"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            log.debug("stopped the adb server this command started on port %d", self.port)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning(
                "could not stop the adb server this command started on port %d: %s", self.port, exc
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
