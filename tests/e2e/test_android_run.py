"""``agent run --env android``, ``agent devices`` and ``agent virtual-device`` in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import assert_schema_valid, run_cli, tool_call, write_script
from tests.environments.android_fixtures import AdbServer, free_port
from vlagent.environments.virtual_android import VirtualDevice


def test_agent_run_opens_notes_types_saves_and_goes_home(
    phone: VirtualDevice, tmp_path: Path
) -> None:
    # qwen2-vl answers, relative 0-1000 of the 1080x2400 screen; element places from the phone.
    field = phone.phone  # the layout is fixed: the text field and the Save button of Notes
    phone.run("monkey -p com.vlagent.notes -c android.intent.category.LAUNCHER 1")
    bounds = {e.resource_id: e.bounds for e in field.elements()}
    phone.run("input keyevent KEYCODE_HOME")

    def rel(rid: str) -> list[int]:
        left, top, right, bottom = bounds[rid]
        return [round((left + right) / 2 / 1080 * 1000), round((top + bottom) / 2 / 2400 * 1000)]

    script = write_script(
        tmp_path / "answers.txt",
        [
            tool_call(action="open", text="Notes"),
            tool_call(action="click", coordinate=rel("com.vlagent.notes:id/note")),
            tool_call(action="type", text="buy milk & eggs"),
            tool_call(action="click", coordinate=rel("com.vlagent.notes:id/save")),
            tool_call(action="system_button", button="Home"),
            tool_call(action="terminate", status="success"),
        ],
    )
    out = tmp_path / "run"
    result = run_cli(
        *"run --env android --serial".split(),
        phone.serial,
        "--goal",
        "Save a note",
        "--model",
        f"scripted:{script}",
        "--out",
        str(out),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert phone.state()["notes"] == ["buy milk & eggs"] and phone.state()["stack"] == []
    lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
    steps = lines[1:-1]
    assert_schema_valid(lines)
    assert lines[0]["environment"]["serial"] == phone.serial
    assert [s["action"]["model"]["action"] for s in steps] == [
        *"open click type click system_button terminate".split(),
    ]
    # Every screen is in the trajectory, and they differ as the phone changed.
    shots = [(out / s["screenshot"]).read_bytes() for s in steps]
    assert len(set(shots[:5])) == 5


def test_agent_devices_lists_model_size_and_state(phone: VirtualDevice) -> None:
    result = run_cli("devices")
    assert result.returncode == 0, result.stderr
    assert f"{phone.serial}  device  vlagent-virtual  1080x2400" in result.stdout


def test_no_device_runs_on_the_virtual_phone_with_one_warning_line(
    adb_server: AdbServer, tmp_path: Path
) -> None:
    script = write_script(tmp_path / "s.txt", [tool_call(action="terminate", status="success")])
    result = run_cli(
        *"run --env android --goal g --model".split(),
        f"scripted:{script}",
        "--out",
        str(tmp_path / "run"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        "warning: no Android device is ready (devices: none): using the embedded virtual phone"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    header = json.loads((tmp_path / "run" / "trajectory.jsonl").read_text().splitlines()[0])
    assert header["environment"]["virtual"] is True


def test_a_missing_serial_is_one_line_that_says_how_to_pick(
    adb_server: AdbServer, tmp_path: Path
) -> None:
    result = run_cli(
        *"run --env android --serial emulator-5554 --goal g --model scripted:x".split(),
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: no device 'emulator-5554'; devices found: none")
    assert len(result.stderr.strip().splitlines()) == 1


def test_agent_virtual_device_in_the_foreground(adb_server: AdbServer) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            *"-m vlagent.agent virtual-device --port".split(),
            str(port),
            "--size",
            "720x1280",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while b"connected" not in adb_server.adb("connect", f"127.0.0.1:{port}").stdout:
            assert time.monotonic() < deadline and process.poll() is None, (
                process.stderr.read() if process.stderr else ""
            )
            time.sleep(0.3)
        size = adb_server.adb("-s", f"127.0.0.1:{port}", "shell", "wm", "size")
        assert size.stdout == b"Physical size: 720x1280\n"
    finally:
        adb_server.adb("disconnect", f"127.0.0.1:{port}")
        process.terminate()
        process.wait(timeout=10)


def test_agent_virtual_device_with_the_phone_profile(adb_server: AdbServer) -> None:
    port, serial = free_port(), ""
    process = subprocess.Popen(
        [
            sys.executable,
            *"-m vlagent.agent virtual-device --port".split(),
            str(port),
            *"--profile phone --input-ms 300 --dump-ms 200".split(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        serial = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while b"connected" not in adb_server.adb("connect", serial).stdout:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.3)
        started = time.monotonic()
        assert adb_server.adb("-s", serial, "shell", "input", "keyevent", "0").returncode == 0
        assert time.monotonic() - started >= 0.3  # the overridden input start-up
        started = time.monotonic()
        assert (
            adb_server.adb("-s", serial, "shell", "uiautomator", "dump", "/sdcard/d.xml").returncode
            == 0
        )
        assert time.monotonic() - started >= 0.2  # the overridden UI dump
    finally:
        adb_server.adb("disconnect", serial)
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert (
        b"costs: PNG 600 ms per megapixel, input start-up 300 ms, UI dump 200 ms, transfer 38 MB/s"
        in out
    )


def test_agent_virtual_device_refuses_an_unknown_profile() -> None:
    result = run_cli("virtual-device", "--profile", "tablet")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: --profile: no profile 'tablet'; choose one of none, phone"
    )


def test_ui_tree_run_taps_an_element_by_number_and_records_and_reports_the_elements(
    phone: VirtualDevice, tmp_path: Path
) -> None:
    import re

    # The number is read from the list the model was shown, as a model would read it: first a
    # run that only looks, then a run that taps "Notes" by its number.
    look = write_script(tmp_path / "look.txt", [tool_call(action="terminate", status="success")])
    first = tmp_path / "look"
    assert (
        run_cli(
            *"run --env android --serial".split(),
            phone.serial,
            *"--ui-tree --goal look --model".split(),
            f"scripted:{look}",
            "--out",
            str(first),
            timeout=120,
        ).returncode
        == 0
    )
    shown = json.loads((first / "trajectory.jsonl").read_text().splitlines()[1])["prompt_text"]
    number = int(re.search(r'^(\d+): TextView "Notes" ', shown, re.M).group(1))  # type: ignore[union-attr]
    script = write_script(
        tmp_path / "tap.txt",
        [
            tool_call(action="click", element=number),
            tool_call(action="terminate", status="success"),
        ],
    )
    out = tmp_path / "run"
    result = run_cli(
        *"run --env android --serial".split(),
        phone.serial,
        "--ui-tree",
        "--marks",
        "--goal",
        "open Notes",
        "--model",
        f"scripted:{script}",
        "--out",
        str(out),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert phone.state()["foreground"] == "com.vlagent.notes"
    lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
    assert_schema_valid(lines)
    assert lines[0]["environment"]["ui_tree"] is True and lines[0]["version"] == 6
    step = lines[1]
    assert step["elements"][number]["text"] == "Notes" and step["elements"][number]["clickable"]
    left, top, right, bottom = step["elements"][number]["bounds"]
    assert step["action"]["model"] == {"action": "click", "element": number}
    assert step["action"]["device"]["coordinate"] == [(left + right) / 2, (top + bottom) / 2]
    # The next screen (Notes) is listed anew: its Save button is there.
    assert any(e["resource_id"] == "com.vlagent.notes:id/save" for e in lines[2]["elements"])
    report = (out / "report.html").read_text()
    assert f"<li class=chosen value={number}>TextView &quot;Notes&quot;" in report
    assert report.count('class="element"') == len(step["elements"]) + len(lines[2]["elements"])


def test_a_tiny_checkpoint_runs_with_the_ui_tree(
    phone: VirtualDevice, checkpoint, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = checkpoint("qwen2-vl")
    out = tmp_path / "run"
    result = run_cli(
        *"run --env android --serial".split(),
        phone.serial,
        "--ui-tree",
        "--goal",
        "open Notes",
        "--model",
        str(folder),
        "--max-steps",
        "2",
        "--out",
        str(out),
        timeout=300,
    )
    lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
    assert lines[-1]["type"] == "end", result.stderr
    steps = lines[1:-1]
    assert steps and all(s["elements"] for s in steps)
    # The model read the list: it is in the prompt after the chat template, with the tool's
    # element argument in the tools section.
    assert 'TextView "Notes"' in steps[0]["prompt_text"] and '"element"' in steps[0]["prompt_text"]
    assert steps[0]["prompt_tokens"] > 0
