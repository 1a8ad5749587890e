"""Devices are locked by identity, not by spelling: every spelling of one X server (``:N``,
``:N.S``, ``unix:N``, ``localhost:N`` …) and of one phone (``localhost:5555``, ``127.0.0.1:5555``,
``emulator-5554`` …) takes the same lock. Locks live in the user's private folder (0700, checked)
and are opened without following links."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.environments.android_fixtures import AdbServer
from vlagent.environments import EnvironmentUnavailable
from vlagent.environments.adb_server import ServerLease
from vlagent.environments.android import AndroidEnvironment, _listed
from vlagent.environments.lock import DeviceLock, display_identity, lock_name, serial_identity

FAST = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
PRECIOUS = b"precious: must stay as it is"


@pytest.fixture
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The machine's temporary folder (and with it the private folder of locks) moved into
    ``tmp_path``, for this test's process only."""
    from vlagent.tools import files

    monkeypatch.setattr(files, "machine_temp", lambda: tmp_path)
    yield tmp_path / f"vlagent-{os.getuid()}"


LOCAL_HOSTS = [
    "",
    "unix",
    "ip6-localhost",
    "ip6-loopback",
    "localhost",
    "LocalHost",
    "localhost.",
    "127.0.0.1",
    "127.0.0.2",
    "127.1",
    "0x7f000001",
    "[::1]",
    "::1",
    "::ffff:127.0.0.1",
    "tcp/localhost",
    "unix/",
]


def display_spelling(number: int) -> st.SearchStrategy[str]:
    host = st.sampled_from([*LOCAL_HOSTS, socket.gethostname()])
    digits = st.integers(0, 3).map(lambda zeros: "0" * zeros + str(number))
    screen = st.one_of(st.just(""), st.integers(0, 9).map(lambda s: f".{s}"))
    spelled = st.tuples(host, digits, screen).map(lambda t: f"{t[0]}:{t[1]}{t[2]}")
    slashes = st.sampled_from(["/", "//", "///", "/./"])
    socket_path = st.tuples(st.sampled_from(["", "unix:"]), slashes, slashes, slashes, screen).map(
        lambda t: f"{t[0]}{t[1]}tmp{t[2]}.X11-unix{t[3]}X{number}{t[4]}"
    )
    return st.one_of(spelled, socket_path)


@FAST
@given(data=st.data(), number=st.integers(0, 10_000))
def test_every_spelling_of_a_local_display_is_its_number(data: st.DataObject, number: int) -> None:
    spelling = data.draw(display_spelling(number))
    assert display_identity(spelling) == str(number)
    other = data.draw(display_spelling(number + 1))
    assert display_identity(other) != display_identity(spelling)


@FAST
@given(number=st.integers(0, 99), host=st.sampled_from(["example.org", "10.0.0.7", "Box"]))
def test_another_machines_display_is_not_a_local_one(number: int, host: str) -> None:
    identity = display_identity(f"{host}:{number}.0")
    assert identity == f"{host.lower()}:{number}" and identity != display_identity(f":{number}")


def serial_spelling(port: int) -> st.SearchStrategy[str]:
    hosts = [h for h in LOCAL_HOSTS if h not in ("", "unix", "tcp/localhost", "unix/")]
    host = st.sampled_from([*hosts, socket.gethostname()])
    spelled = st.tuples(host, st.integers(0, 2)).map(lambda t: f"{t[0]}:{'0' * t[1]}{port}")
    return st.one_of(spelled, st.just(f"emulator-{port - 1}"))


@FAST
@given(data=st.data(), port=st.integers(2, 65_000))
def test_every_spelling_of_a_network_phone_is_one_identity(data: st.DataObject, port: int) -> None:
    spelling = data.draw(serial_spelling(port))
    assert serial_identity(spelling) == f"127.0.0.1:{port}"
    assert serial_identity(data.draw(serial_spelling(port + 1))) != serial_identity(spelling)


@FAST
@given(serial=st.text("ABCDEFabcdef0123456789", min_size=4, max_size=16))
def test_a_usb_serial_is_its_own_identity(serial: str) -> None:
    assert serial_identity(serial) == serial


@FAST
@given(data=st.data(), number=st.integers(900_000, 999_999))
def test_two_spellings_of_one_display_cannot_both_be_locked(
    private_temp: Path, data: st.DataObject, number: int
) -> None:
    first, second = data.draw(display_spelling(number)), data.draw(display_spelling(number))
    held = DeviceLock("display", first)
    try:
        with pytest.raises(EnvironmentUnavailable, match="is in use by another vlagent run"):
            DeviceLock("display", second)
    finally:
        held.release()
    DeviceLock("display", second).release()


def test_the_attackers_display_pair_is_one_lock(private_temp: Path) -> None:
    held = DeviceLock("display", ":7")
    try:
        with pytest.raises(EnvironmentUnavailable, match="display :7.0 is in use"):
            DeviceLock("display", ":7.0")
    finally:
        held.release()


@FAST
@given(data=st.data(), port=st.integers(20_000, 60_000))
def test_two_spellings_of_one_phone_cannot_both_be_locked(
    private_temp: Path, data: st.DataObject, port: int
) -> None:
    first, second = data.draw(serial_spelling(port)), data.draw(serial_spelling(port))
    held = DeviceLock("android", first)
    try:
        with pytest.raises(EnvironmentUnavailable, match="is in use by another vlagent run"):
            DeviceLock("android", second)
    finally:
        held.release()


def test_a_typed_serial_is_resolved_to_the_servers_spelling() -> None:
    devices = [SimpleNamespace(serial=s, state="device") for s in ("emulator-5554", "R5CT1")]
    devices.append(SimpleNamespace(serial="127.0.0.1:6000", state="device"))
    assert _listed(devices, "localhost:6000").serial == "127.0.0.1:6000"
    assert _listed(devices, "127.0.0.1:5555").serial == "emulator-5554"
    assert _listed(devices, "R5CT1").serial == "R5CT1"
    assert _listed(devices, "r5ct1") is None and _listed(devices, "localhost:6001") is None


def test_a_phone_typed_two_ways_runs_one_agent(adb_server: AdbServer, private_temp: Path) -> None:
    device = adb_server.attach()
    port = device.serial.rsplit(":", 1)[1]
    try:
        env = AndroidEnvironment(serial=f"localhost:{port}")
        try:
            assert env.serial == device.serial  # the adb server's spelling, no second transport
            with pytest.raises(EnvironmentUnavailable, match="is in use by another vlagent run"):
                AndroidEnvironment(serial=f"127.1:{port}")
        finally:
            env.close()
    finally:
        adb_server.detach(device)


# -- the private folder and its files ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["display", "android"])
def test_a_link_planted_at_a_lock_file_is_refused_and_its_target_kept(
    private_temp: Path, tmp_path: Path, kind: str
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    DeviceLock(kind, ":5" if kind == "display" else "emulator-5554").release()  # makes the folder
    for name in (":5", "emulator-5554"):
        planted = private_temp / "locks" / lock_name(kind, name)
        planted.unlink(missing_ok=True)
        planted.symlink_to(victim)
        with pytest.raises(EnvironmentUnavailable, match="symbolic link"):
            DeviceLock(kind, name)
        planted.unlink()
    assert victim.read_bytes() == PRECIOUS


@pytest.mark.parametrize("how", ["wide mode", "link", "file"])
def test_a_private_folder_that_is_not_private_is_refused_in_one_line(
    private_temp: Path, tmp_path: Path, how: str
) -> None:
    if how == "wide mode":
        private_temp.mkdir(mode=0o700)
        private_temp.chmod(0o777)  # another user could plant links in it
    elif how == "link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        private_temp.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    else:
        private_temp.write_bytes(b"")
    with pytest.raises(EnvironmentUnavailable, match="not a private folder of yours") as lock:
        DeviceLock("display", ":3")
    with pytest.raises(EnvironmentUnavailable, match="not a private folder of yours") as lease:
        ServerLease()
    assert "\n" not in str(lock.value) + str(lease.value)
    assert not (tmp_path / "elsewhere" / "locks").exists()


def test_a_private_folder_of_another_user_is_refused(private_temp: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("only root can give a folder to another user")
    private_temp.mkdir(mode=0o700)
    os.chown(private_temp, 4242, 4242)
    with pytest.raises(EnvironmentUnavailable, match="it belongs to user 4242"):
        DeviceLock("display", ":3")


def test_the_adb_lease_lock_is_not_followed(
    private_temp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # nothing listens: nothing is started
    ServerLease().release()
    folder = private_temp / "adb-1"
    assert folder.stat().st_mode & 0o077 == 0
    for name in (".lock", "started-by-vlagent"):
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(victim)
        with pytest.raises(EnvironmentUnavailable, match="symbolic link"):
            ServerLease()
        (folder / name).unlink()
    assert victim.read_bytes() == PRECIOUS


def test_a_lock_is_found_whatever_tmpdir_says(tmp_path: Path) -> None:
    """The same user with another ``$TMPDIR`` must still see a display in use: locks live in the
    machine's temporary folder, not in the one a process was told to use."""
    import subprocess
    import sys

    held = DeviceLock("display", ":77")
    try:
        probe = "from vlagent.environments.lock import DeviceLock\nDeviceLock('display', ':77.0')\n"
        other = tmp_path / "other-tmp"
        other.mkdir()
        env = {**os.environ, "TMPDIR": str(other)}
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0 and "in use by another vlagent run" in done.stderr
    finally:
        held.release()
