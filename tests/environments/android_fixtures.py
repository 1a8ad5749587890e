"""The real adb server on a private port with a private HOME (a user's own server and keys are
never touched), and virtual devices attached to it with ``adb connect``."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from environments.virtual_android import Phone, VirtualDevice


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not 5555 <= port <= 5585:  # the adb server claims those as emulators
            return port


def adb_binary() -> str:
    import adbutils

    return str(adbutils.adb_path())


class AdbServer:
    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(self.port)}

    def adb(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([adb_binary(), *args], env=self.env, capture_output=True, timeout=timeout,
                              check=False)

    def attach(self, phone: Phone | None = None) -> VirtualDevice:
        device = VirtualDevice(phone).start()
        result = self.adb("connect", device.serial)
        assert b"connected" in result.stdout, result
        self.adb("wait-for-device", "-s", device.serial, timeout=20)
        return device

    def detach(self, device: VirtualDevice) -> None:
        self.adb("disconnect", device.serial)
        device.stop()


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbServer]:
    server = AdbServer(tmp_path_factory.mktemp("adb-home"))
    saved = {k: os.environ.get(k) for k in ("HOME", "ANDROID_ADB_SERVER_PORT")}
    os.environ.update(HOME=server.env["HOME"], ANDROID_ADB_SERVER_PORT=server.env["ANDROID_ADB_SERVER_PORT"])
    started = server.adb("start-server")
    assert started.returncode == 0, started.stderr
    yield server
    server.adb("kill-server")
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def phone(adb_server: AdbServer) -> Iterator[VirtualDevice]:
    device = adb_server.attach()
    yield device
    adb_server.detach(device)
