"""A private adb server and the embedded virtual phone.

:class:`PrivateAdbServer` is the real adb server (the binary inside the adbutils wheel) on a free
port with a HOME of its own, so a user's own server and keys are never touched. Its port and HOME
go to the adb processes it starts and to the clients it makes, never into this process's
environment. :class:`EmbeddedPhone` is a virtual phone attached to such a server: what
``agent run --env android --serial virtual`` and ``agent demo`` drive.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
from typing import Any

from vlagent.environments.adb_server import adb_binary
from vlagent.environments.base import EnvironmentUnavailable
from vlagent.environments.virtual_android.device import VirtualDevice
from vlagent.environments.virtual_android.phone import Phone
from vlagent.environments.virtual_android.profile import PROFILES, CostProfile
from vlagent.tools.secrets import child_environment

log = logging.getLogger("vlagent.android")


def free_port() -> int:
    """A free local TCP port outside 5555–5585 (the adb server claims odd ones there as
    emulators)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not 5555 <= port <= 5585:
            return port


class PrivateAdbServer:
    """``start()`` it, ``attach()`` devices, ``client()`` for adbutils, ``stop()`` when done."""

    def __init__(self) -> None:
        self.port = free_port()
        self.home = tempfile.mkdtemp(prefix="vlagent-adb-home-")
        # ADB_LIBUSB=0: adb's own USB scan. Where libusb cannot start (a container without
        # /dev/bus/usb) the server otherwise waits 3 s for a USB scan that never finishes; this
        # server only ever talks to devices over TCP.
        self.env = child_environment(  # no API key, no secret (tools/secrets.py)
            {"HOME": self.home, "ANDROID_ADB_SERVER_PORT": str(self.port), "ADB_LIBUSB": "0"}
        )

    def adb(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        """Run the adb binary against this server."""
        return subprocess.run(
            [adb_binary(), *args], env=self.env, capture_output=True, timeout=timeout, check=False
        )

    def start(self) -> PrivateAdbServer:
        started = self.adb("start-server")
        if started.returncode != 0:
            raise EnvironmentUnavailable(
                f"the private adb server did not start: "
                f"{started.stderr.decode(errors='replace').strip()}"
            )
        log.debug("private adb server on port %d", self.port)
        return self

    def attach(self, device: VirtualDevice) -> None:
        """``adb connect`` the device and wait until the server reports it ready."""
        result = self.adb("connect", device.serial)
        if b"connected" not in result.stdout:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise EnvironmentUnavailable(f"the adb server did not attach {device.serial}: {output}")
        self.adb("wait-for-device", "-s", device.serial, timeout=20)

    def detach(self, device: VirtualDevice) -> None:
        self.adb("disconnect", device.serial)

    def client(self) -> Any:
        """An ``adbutils.AdbClient`` of this server."""
        import adbutils

        return adbutils.AdbClient(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        self.adb("kill-server")
        shutil.rmtree(self.home, ignore_errors=True)


class EmbeddedPhone:
    """A virtual phone on a private adb server, for one run. ``serial`` names it there."""

    def __init__(self, phone: Phone | None = None, profile: CostProfile = PROFILES["none"]) -> None:
        self.server = PrivateAdbServer().start()
        self.device = VirtualDevice(phone, profile=profile).start()
        try:
            self.server.attach(self.device)
        except BaseException:
            self.close()
            raise
        self.serial = self.device.serial
        log.info(
            "started the embedded virtual phone (%dx%d) as %s",
            self.device.phone.width,
            self.device.phone.height,
            self.serial,
        )

    def client(self) -> Any:
        return self.server.client()

    def close(self) -> None:
        try:
            self.server.stop()
        finally:
            self.device.stop()
