"""The virtual device through the real adb server and the real adb client."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from PIL import Image

from tests.environments.android_fixtures import AdbServer
from vlagent.environments.virtual_android import VirtualDevice


def test_shell_with_exit_codes(adb_server: AdbServer, phone: VirtualDevice) -> None:
    hi = adb_server.adb("-s", phone.serial, "shell", "echo", "hi")
    assert (hi.returncode, hi.stdout) == (0, b"hi\n")
    assert adb_server.adb("-s", phone.serial, "shell", "false").returncode == 1
    missing = adb_server.adb("-s", phone.serial, "shell", "frobnicate")
    assert missing.returncode == 127 and b"not found" in missing.stdout + missing.stderr


def test_exec_out_screencap_is_a_png_of_the_screen_size(
    adb_server: AdbServer, phone: VirtualDevice
) -> None:
    size = adb_server.adb("-s", phone.serial, "shell", "wm", "size").stdout
    assert size == b"Physical size: 1080x2400\n"
    png = adb_server.adb("-s", phone.serial, "exec-out", "screencap", "-p").stdout
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (1080, 2400)


def test_input_tap_changes_the_screen(adb_server: AdbServer, phone: VirtualDevice) -> None:
    before = adb_server.adb("-s", phone.serial, "exec-out", "screencap", "-p").stdout
    notes = next(n for n in _dump(adb_server, phone) if n.get("text") == "Notes")
    x, y = _centre(notes.get("bounds", ""))
    assert (
        adb_server.adb("-s", phone.serial, "shell", "input", "tap", str(x), str(y)).returncode == 0
    )
    after = adb_server.adb("-s", phone.serial, "exec-out", "screencap", "-p").stdout
    assert phone.state()["foreground"] == "com.vlagent.notes"
    assert before != after


def test_uiautomator_dump_and_pull_match_what_is_drawn(
    adb_server: AdbServer, phone: VirtualDevice
) -> None:
    phone.run("monkey -p com.android.settings -c android.intent.category.LAUNCHER 1")
    nodes = _dump(adb_server, phone)
    image = Image.open(
        io.BytesIO(adb_server.adb("-s", phone.serial, "exec-out", "screencap", "-p").stdout)
    )
    texts = [n.get("text") for n in nodes if n.get("text")]
    assert (
        "Settings" in texts and "Wi-Fi" in texts and "Option 30" not in texts
    )  # only what is on screen
    for node in nodes:
        left, top, right, bottom = _bounds(node.get("bounds", ""))
        assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
        if node.get("text") and node.get("class") != "android.widget.ImageView":
            # Text is drawn inside its bounds: the box is not one flat colour.
            crop = image.crop((left, top, right, bottom)).convert("L")
            assert crop.getextrema()[0] < 128, node.get("text")


def test_push_then_pull_round_trip(adb_server: AdbServer, phone: VirtualDevice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "up.bin"
    source.write_bytes(bytes(range(256)) * 1000)
    assert adb_server.adb("-s", phone.serial, "push", str(source), "/sdcard/up.bin").returncode == 0
    assert (
        adb_server.adb(
            "-s", phone.serial, "pull", "/sdcard/up.bin", str(tmp_path / "back.bin")
        ).returncode
        == 0
    )
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()


def _dump(adb_server: AdbServer, phone: VirtualDevice) -> list[ET.Element]:
    """``uiautomator dump`` on the device, then ``adb pull`` of the file (sync protocol)."""
    import tempfile
    from pathlib import Path

    assert (
        adb_server.adb(
            "-s", phone.serial, "shell", "uiautomator", "dump", "/sdcard/ui.xml"
        ).returncode
        == 0
    )
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "ui.xml"
        assert (
            adb_server.adb("-s", phone.serial, "pull", "/sdcard/ui.xml", str(local)).returncode == 0
        )
        return list(ET.fromstring(local.read_bytes()).iter("node"))


def _bounds(text: str) -> tuple[int, int, int, int]:
    import re

    left, top, right, bottom = (int(v) for v in re.findall(r"-?\d+", text))
    return left, top, right, bottom


def _centre(text: str) -> tuple[int, int]:
    left, top, right, bottom = _bounds(text)
    return (left + right) // 2, (top + bottom) // 2


def test_the_phone_profile_charges_what_a_phone_pays_and_the_driver_picks_raw(
    adb_server: AdbServer,
) -> None:
    import time

    from vlagent.environments.adb_channel import AdbChannel
    from vlagent.environments.android import AndroidEnvironment
    from vlagent.environments.virtual_android.adb_server import PrivateAdbServer
    from vlagent.environments.virtual_android.profile import PROFILES

    costs = PROFILES["phone"]
    device = VirtualDevice(profile=costs).start()
    PrivateAdbServer.attach(adb_server, device)
    try:
        channel = AdbChannel(device.serial, port=adb_server.port)
        started = time.perf_counter()
        channel.shell("input keyevent KEYCODE_VOLUME_UP")
        assert time.perf_counter() - started >= costs.input_startup_ms / 1000
        started = time.perf_counter()
        channel.shell("wm size")  # not an input command: no start-up cost
        assert time.perf_counter() - started < costs.input_startup_ms / 1000
        started = time.perf_counter()
        raw = channel.screencap_raw()
        assert time.perf_counter() - started >= len(raw) / costs.bytes_per_second  # over "USB 2"
        channel.close()
        # PNG encoding on the phone costs more than sending raw pixels: the driver measures both
        # at start-up, keeps raw, and records the timings in the trajectory header.
        env = AndroidEnvironment(serial=device.serial)
        facts = env.describe()
        env.close()
        assert facts["screencap"] == "raw"
        assert facts["screencap_ms"]["png"] >= costs.png_ms_per_megapixel * 1080 * 2400 / 1e6
        # The UI dump is charged too (it runs while the screenshot streams: benchmarks/android.py
        # measures what that saves).
        tree = AndroidEnvironment(serial=device.serial, ui_tree=True)
        try:
            started = time.perf_counter()
            observation = tree.observe()
            assert time.perf_counter() - started >= costs.dump_ms / 1000
        finally:
            tree.close()
        assert observation.elements and observation.metadata["foreground"] == "com.android.launcher"
    finally:
        adb_server.detach(device)
