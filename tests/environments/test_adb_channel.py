"""The persistent device channel, through the real adb server (the adb binary of the adbutils
wheel) to the virtual device: one shell session reused, pipelined answers in order, exit codes,
bulk output, and a clear error for each fault."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest

from tests.environments.android_fixtures import AdbServer
from vlagent.environments.adb_channel import (
    AdbChannel,
    AdbServerGone,
    ChannelError,
    decode_raw_screencap,
)
from vlagent.environments.virtual_android import VirtualDevice
from vlagent.environments.virtual_android.adb_server import PrivateAdbServer


@pytest.fixture
def channel(phone: VirtualDevice, adb_server: AdbServer) -> Iterator[AdbChannel]:
    opened = AdbChannel(phone.serial, port=adb_server.port, timeout=10)
    yield opened
    opened.close()


def test_one_session_serves_many_commands_with_their_exit_status(
    channel: AdbChannel, phone: VirtualDevice
) -> None:
    assert channel.shell("wm size").text == "Physical size: 1080x2400\n"
    assert channel.shell("false").status == 1
    missing = channel.shell("no-such-program")
    assert missing.status == 127 and "no-such-program: inaccessible or not found" in missing.text
    # Output without a final newline (echo -n, as mksh runs it) still ends where it ended.
    assert channel.shell("echo -n partial; true").output == b"partial"
    for _ in range(20):
        channel.shell("input keyevent KEYCODE_VOLUME_UP")
    assert channel.sessions_opened == 1
    assert phone.state()["keys"].count("VOLUME_UP") == 20


def test_pipelined_commands_run_in_order_and_answer_in_order(
    channel: AdbChannel, phone: VirtualDevice
) -> None:
    results = channel.shell_many(["echo first", "wm density", "false", "echo last"])
    assert [r.text for r in results] == ["first\n", "Physical density: 420\n", "", "last\n"]
    assert [r.status for r in results] == [0, 0, 1, 0]
    channel.shell_many(["input keyevent KEYCODE_VOLUME_DOWN", "input keyevent KEYCODE_VOLUME_UP"])
    assert phone.state()["keys"][-2:] == ["VOLUME_DOWN", "VOLUME_UP"]


def test_a_newline_inside_a_command_is_refused(channel: AdbChannel) -> None:
    with pytest.raises(ValueError, match="one command per line"):
        channel.shell("echo a\necho b")


def test_a_syntax_error_ends_the_session_and_the_next_command_opens_another(
    channel: AdbChannel,
) -> None:
    # As mksh: a syntax error ends a non-interactive sh with status 1.
    broken = channel.shell("echo a ;; echo b")
    assert broken.status == 1 and b"syntax error: unexpected ';;'" in broken.errors
    assert channel.shell("echo again").text == "again\n"
    assert channel.sessions_opened == 2


def test_bulk_output_is_byte_identical_to_adb_exec_out(
    channel: AdbChannel, phone: VirtualDevice, adb_server: AdbServer
) -> None:
    # The adb binary itself is the reference for what the device sent.
    reference = adb_server.adb("-s", phone.serial, "exec-out", "screencap", "-p").stdout
    assert channel.exec_out("screencap -p") == reference
    raw = channel.screencap_raw()
    assert (
        hashlib.sha256(raw).digest()
        == hashlib.sha256(
            adb_server.adb("-s", phone.serial, "exec-out", "screencap").stdout
        ).digest()
    )
    assert decode_raw_screencap(raw).size == (1080, 2400)


def test_a_vanished_device_is_a_channel_error_naming_it(adb_server: AdbServer) -> None:
    device = adb_server.attach()
    channel = AdbChannel(device.serial, port=adb_server.port, timeout=5)
    channel.shell("true")
    adb_server.detach(device)
    with pytest.raises(ChannelError):
        channel.shell("true")  # the session broke
    while device.serial in adb_server.adb("devices").stdout.decode():
        time.sleep(0.05)
    with pytest.raises(ChannelError, match=rf"adb: device '{device.serial}' not found"):
        channel.shell("true")  # and the server no longer knows the device


def test_a_stopped_adb_server_is_named_with_what_to_do() -> None:
    server = PrivateAdbServer().start()
    device = VirtualDevice().start()
    try:
        server.attach(device)
        channel = AdbChannel(device.serial, port=server.port, timeout=5)
        assert channel.shell("echo up").text == "up\n"
        server.adb("kill-server")
        with pytest.raises(ChannelError):
            channel.shell("true")
        with pytest.raises(
            AdbServerGone,
            match=rf"adb server at 127.0.0.1:{server.port} cannot be "
            r"reached \(Connection refused\); start it with adb start-server",
        ):
            channel.shell("true")
    finally:
        server.stop()
        device.stop()


def test_a_device_that_never_answers_times_out(adb_server: AdbServer) -> None:
    import socket

    # A TCP listener that accepts and stays silent: the adb server never gets a CNXN back.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    serial = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        adb_server.adb("connect", serial, timeout=20)
        channel = AdbChannel(serial, port=adb_server.port, timeout=2)
        with pytest.raises(ChannelError):
            channel.shell("true")
    finally:
        adb_server.adb("disconnect", serial)
        silent.close()
