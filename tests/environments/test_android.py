"""The android environment (adbutils) against the virtual device, through the real adb server:
each mobile_use action's effect checked on the device's state."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.environments.android_fixtures import AdbServer
from vlagent.environments import EnvironmentFault, EnvironmentUnavailable, check_environment
from vlagent.environments.adb_channel import decode_raw_screencap
from vlagent.environments.android import AndroidEnvironment, shell_text
from vlagent.environments.virtual_android import Phone, VirtualDevice
from vlagent.tools import ToolCall, mobile_tools

W, H = 1080, 2400


@pytest.fixture
def android(phone: VirtualDevice) -> Iterator[AndroidEnvironment]:
    env = AndroidEnvironment(serial=phone.serial)
    yield env
    env.close()


def act(env: AndroidEnvironment, **arguments: Any) -> Any:
    for key in ("coordinate", "coordinate2"):
        if key in arguments:
            arguments[key] = [arguments[key][0] / W, arguments[key][1] / H]
    return env.execute(mobile_tools().validate(ToolCall("mobile_use", arguments)))


FIELD = "com.vlagent.notes:id/note"


def element(env: AndroidEnvironment, text: str) -> tuple[int, int]:
    """The centre of the element showing ``text`` (or with that resource id), from the UI
    hierarchy, as a test author would find it."""
    found = next(e for e in _elements(env) if text in (e.text, e.resource_id))
    left, top, right, bottom = found.bounds
    return (left + right) // 2, (top + bottom) // 2


def test_observe_and_the_checker(android: AndroidEnvironment) -> None:
    obs = android.observe()
    assert obs.size == (W, H) and obs.scale == 1.0
    assert obs.metadata == {"serial": android.serial, "size": [W, H], "density": 420, "rotation": 0}
    assert android.screencap in ("raw", "png")
    check_environment(android)


def test_freeze_clock_holds_the_status_bar_clock_through_demo_mode(
    android: AndroidEnvironment,
) -> None:
    clock = "com.android.systemui:id/clock"
    hhmm = (datetime.datetime.now() + datetime.timedelta(hours=2)).strftime(
        "%H%M"
    )  # never the time now
    shown = f"{hhmm[:2]}:{hhmm[2:]}"
    # Demo mode must be allowed first, as on a phone: the broadcast alone changes nothing.
    android.shell(f"am broadcast -a com.android.systemui.demo -e command clock -e hhmm {hhmm}")
    assert next(e for e in _elements(android) if e.resource_id == clock).text != shown
    android.freeze_clock(hhmm)
    assert android.shell("settings get global sysui_demo_allowed").strip() == "1"
    assert next(e for e in _elements(android) if e.resource_id == clock).text == shown
    android.shell("am broadcast -a com.android.systemui.demo -e command exit")
    assert next(e for e in _elements(android) if e.resource_id == clock).text != shown


def test_click_opens_an_app_and_back_and_home_leave_it(
    android: AndroidEnvironment, phone: VirtualDevice
) -> None:
    assert act(android, action="click", coordinate=element(android, "Settings")).ok
    assert phone.state()["foreground"] == "com.android.settings"
    act(android, action="system_button", button="Back")
    assert phone.state()["foreground"] == "com.android.launcher"
    act(android, action="open", text="Settings")
    act(android, action="system_button", button="Home")
    assert phone.state()["stack"] == []


def test_swipe_scrolls_the_settings_list(android: AndroidEnvironment, phone: VirtualDevice) -> None:
    act(android, action="open", text="Settings")
    act(android, action="swipe", coordinate=[540, 1800], coordinate2=[540, 600], time=0.2)
    scrolled = phone.state()["scroll"]
    assert scrolled == 1200
    assert "Option 20" in {e.text for e in _elements(android)}
    act(android, action="swipe", coordinate=[540, 600], coordinate2=[540, 1000])
    assert phone.state()["scroll"] == scrolled - 400


def test_a_toggle_taps_on_and_off(android: AndroidEnvironment, phone: VirtualDevice) -> None:
    act(android, action="open", text="settings")
    act(android, action="click", coordinate=element(android, "Bluetooth"))
    assert phone.state()["toggles"]["Bluetooth"] is True
    assert (
        next(e for e in _elements(android) if e.text == "Bluetooth").kind == "android.widget.Switch"
    )


def test_typing_reaches_the_device_literally(
    android: AndroidEnvironment, phone: VirtualDevice
) -> None:
    act(android, action="open", text="Notes")
    act(android, action="click", coordinate=element(android, FIELD))
    text = "a'b\"c;d&e$f%g h\\i"
    assert act(android, action="type", text=text).ok
    assert phone.state()["note"] == text
    act(android, action="click", coordinate=element(android, "Save"))
    assert phone.state()["notes"] == [text]


def test_unicode_goes_through_adb_keyboard(
    android: AndroidEnvironment, phone: VirtualDevice
) -> None:
    act(android, action="open", text="Notes")
    act(android, action="click", coordinate=element(android, FIELD))
    result = act(android, action="type", text="héllo 你好")
    assert result.ok and "ADB Keyboard" in result.message
    assert phone.state()["note"] == "héllo 你好"


def test_unicode_without_an_input_method_fails_clearly(adb_server: AdbServer) -> None:
    device = adb_server.attach(Phone(ime_installed=False))
    try:
        env = AndroidEnvironment(serial=device.serial)
        result = act(env, action="type", text="你好")
        assert not result.ok and "install ADB Keyboard" in result.message
    finally:
        adb_server.detach(device)


def test_long_press_key_enter_and_wait(android: AndroidEnvironment, phone: VirtualDevice) -> None:
    act(android, action="open", text="Notes")
    act(android, action="click", coordinate=element(android, FIELD))
    act(android, action="type", text="first")
    act(android, action="system_button", button="Enter")  # Enter in the field saves
    assert phone.state()["notes"] == ["first"]
    act(android, action="long_press", coordinate=element(android, "first"), time=0.6)
    assert phone.state()["notes"] == []  # a long press deletes a saved note
    assert act(android, action="key", text="volume_up").ok
    assert act(android, action="system_button", button="Menu").ok
    assert phone.state()["keys"][-2:] == ["VOLUME_UP", "MENU"]
    assert not act(android, action="key", text="volume up; reboot").ok  # never reaches the shell
    started = time.monotonic()
    act(android, action="wait", time=0.3)
    assert time.monotonic() - started >= 0.3


def test_open_resolves_labels_and_says_when_it_cannot(android: AndroidEnvironment) -> None:
    assert android.resolve_app("Notes") == "com.vlagent.notes"
    assert android.resolve_app("Settings") == "com.android.settings"
    result = act(android, action="open", text="Flappy Bird")
    assert not result.ok and "no app called 'Flappy Bird'" in result.message


def test_shell_text_quoting() -> None:
    assert shell_text("a b") == "a%sb"
    assert shell_text("it's") == "'it'\"'\"'s'"


def test_raw_screencap_decoding_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="unexpected raw screenshot"):
        decode_raw_screencap(b"\x10\x00\x00\x00" * 3 + b"\x00" * 50)


def test_no_device_starts_the_embedded_virtual_phone_and_says_so(
    adb_server: AdbServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vlagent.android"):
        env = AndroidEnvironment()
    try:
        assert (
            "no Android device is ready (devices: none): using the embedded virtual phone"
            in caplog.text
        )
        assert env.describe()["virtual"] is True
        assert env.observe().size == (1080, 2400)
        # It lives on a server of its own: the user's adb server never sees it.
        assert adb_server.adb("devices").stdout.decode().strip().splitlines()[1:] == []
    finally:
        env.close()
    with pytest.raises(
        EnvironmentUnavailable, match="no device 'emulator-5554'; devices found: none"
    ):
        AndroidEnvironment(serial="emulator-5554")


def test_several_devices_need_a_serial(adb_server: AdbServer) -> None:
    first, second = adb_server.attach(), adb_server.attach()
    try:
        with pytest.raises(
            EnvironmentUnavailable, match=r"several devices found: .*pick one with --serial"
        ):
            AndroidEnvironment()
    finally:
        adb_server.detach(first)
        adb_server.detach(second)


def test_a_device_that_vanishes_mid_run_ends_it_with_every_finished_step(
    adb_server: AdbServer, tmp_path: Path
) -> None:
    from vlagent.agent.core.loop import Agent
    from vlagent.agent.runtimes import ScriptedRuntime
    from vlagent.agent.trajectory import Recorder, read_trajectory
    from vlagent.prompts import get_dialect

    device = adb_server.attach()
    env = AndroidEnvironment(serial=device.serial)

    class Unplug:
        def step_started(self, index: int) -> None: ...

        def step_finished(self, step: Any) -> None:
            if step.index == 0:
                device.stop()

    click = '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [500, 500]}}</tool_call>'  # noqa: E501
    started = time.monotonic()
    result = Agent(
        ScriptedRuntime([click] * 3),
        get_dialect("qwen2-vl"),
        env,
        recorder=Recorder(tmp_path / "run"),
        listeners=[Unplug()],
    ).run("tap twice")
    assert time.monotonic() - started < 30  # bounded reconnect attempts, no hang
    assert result.status == "error" and "disconnected" in result.reason
    trajectory = read_trajectory(tmp_path / "run")
    assert len(trajectory.steps) == 1 and trajectory.end is not None
    adb_server.adb("disconnect", device.serial)


def test_an_adb_server_killed_mid_run_ends_it_with_every_finished_step(tmp_path: Path) -> None:
    from vlagent.agent.core.loop import Agent
    from vlagent.agent.runtimes import ScriptedRuntime
    from vlagent.agent.trajectory import Recorder, read_trajectory
    from vlagent.prompts import get_dialect

    env = AndroidEnvironment(serial="virtual")  # on a private adb server of its own

    class KillServer:
        def step_started(self, index: int) -> None: ...

        def step_finished(self, step: Any) -> None:
            if step.index == 1:
                env.embedded.server.adb("kill-server")

    click = '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [500, 500]}}</tool_call>'  # noqa: E501
    started = time.monotonic()
    try:
        result = Agent(
            ScriptedRuntime([click] * 4),
            get_dialect("qwen2-vl"),
            env,
            recorder=Recorder(tmp_path / "run"),
            listeners=[KillServer()],
        ).run("tap")
    finally:
        env.close()
    assert time.monotonic() - started < 30  # bounded reconnect attempts, no hang
    assert result.status == "error"
    assert f"device {env.serial} lost the adb server" in result.reason
    assert "cannot be reached (Connection refused); start it with adb start-server" in result.reason
    assert "\n" not in result.reason, result.reason
    trajectory = read_trajectory(tmp_path / "run")
    assert len(trajectory.steps) == 2 and trajectory.end is not None


def test_a_fault_is_an_environment_fault(adb_server: AdbServer) -> None:
    device = adb_server.attach()
    env = AndroidEnvironment(serial=device.serial)
    device.stop()
    with pytest.raises(EnvironmentFault, match=f"device {device.serial} disconnected"):
        env.observe()
    adb_server.adb("disconnect", device.serial)


def _elements(env: AndroidEnvironment) -> list[Any]:
    env.ui_tree = True
    try:
        return env.observe().elements or []
    finally:
        env.ui_tree = False


def test_two_runs_on_one_phone_the_second_fails_at_once(phone: VirtualDevice) -> None:
    first = AndroidEnvironment(serial=phone.serial)
    try:
        with pytest.raises(
            EnvironmentUnavailable,
            match=rf"android {phone.serial} is in use by another vlagent run",
        ):
            AndroidEnvironment(serial=phone.serial)
    finally:
        first.close()
    AndroidEnvironment(serial=phone.serial).close()  # free once the first has closed


def test_a_screenshot_that_fails_while_the_ui_dump_is_pending_leaves_no_stale_answer(
    phone: VirtualDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AndroidEnvironment(serial=phone.serial, ui_tree=True) as env:
        real = env.channel.screencap_raw
        failures = iter([RuntimeError("interrupted")])

        def screencap(*args: object, **kwargs: object) -> memoryview:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(env.channel, "screencap_raw", screencap)
        with pytest.raises(RuntimeError):
            env.observe()  # the dump was sent before the screenshot failed
        assert env.shell("echo next").strip() == "next"  # answered for itself, not by the dump
        observation = env.observe()
        assert observation.elements and observation.metadata["foreground"] == "com.android.launcher"
