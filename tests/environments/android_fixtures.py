"""The real adb server on a private port with a private HOME (a user's own server and keys are
never touched), and virtual devices attached to it with ``adb connect``.

The server is the project's own :class:`PrivateAdbServer`. The tests' process points its adb
clients at it through ``ANDROID_ADB_SERVER_PORT`` (and ``HOME``) for the session: the tests, not
the library, change their own environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from vlagent.environments.virtual_android import Phone, VirtualDevice
from vlagent.environments.virtual_android.adb_server import PrivateAdbServer, free_port

__all__ = ["AdbServer", "adb_server", "free_port", "phone"]


class AdbServer(PrivateAdbServer):
    def attach(self, phone: Phone | None = None) -> VirtualDevice:  # type: ignore[override]
        device = VirtualDevice(phone).start()
        super().attach(device)
        return device

    def detach(self, device: VirtualDevice) -> None:
        super().detach(device)
        device.stop()


@pytest.fixture(scope="session")
def adb_server() -> Iterator[AdbServer]:
    server = AdbServer().start()
    saved = {k: os.environ.get(k) for k in ("HOME", "ANDROID_ADB_SERVER_PORT")}
    os.environ.update(
        HOME=server.env["HOME"], ANDROID_ADB_SERVER_PORT=server.env["ANDROID_ADB_SERVER_PORT"]
    )
    yield server
    server.stop()
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
