"""Replay on the virtual phone: to the same final screen, and a stop with a divergence report
when the screen no longer matches the recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import tool_call
from tests.environments.android_fixtures import AdbServer
from vlagent.agent.cli import main
from vlagent.agent.cli.demo import NOTE, script
from vlagent.agent.core.loop import Agent
from vlagent.agent.replay.compare import compare_screens
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.environments.android import AndroidEnvironment
from vlagent.environments.virtual_android import Phone, VirtualDevice
from vlagent.prompts import get_dialect

# Every phone here shows one time, as a test of a real phone freezes its clock (demo mode): a
# recorded verdict is reused only on a screen no pixel of which changed, and a minute ticking over
# between the recording and its replay would change the status bar.
CLOCK = "12:00"


def _attach(adb_server: AdbServer, phone: Phone | None = None) -> VirtualDevice:
    phone = phone or Phone()
    phone.demo_clock = CLOCK
    return adb_server.attach(phone)


@pytest.fixture
def recorded(phone: VirtualDevice, tmp_path: Path) -> Path:
    """The demo's episode recorded on a virtual phone: open Notes, type, save, Home."""
    phone.phone.demo_clock = CLOCK
    with AndroidEnvironment(serial=phone.serial) as env:
        result = Agent(
            ScriptedRuntime(script(phone.phone)),
            get_dialect("qwen2-vl"),
            env,
            recorder=Recorder(tmp_path / "run"),
        ).run("save a note")
    assert result.status == "success" and phone.state()["notes"] == [NOTE]
    return tmp_path / "run"


def _healing(recorded: Path, serial: str, model: Path, out: Path) -> list[str]:
    """``agent replay`` of ``recorded`` on device ``serial``, a scripted model planning the steps
    whose screen differs, the new run written to ``out``."""
    return [
        "replay",
        str(recorded),
        "--serial",
        serial,
        "--model",
        f"scripted:{model}",
        "--out",
        str(out),
    ]


def test_replay_on_a_fresh_device_reaches_the_same_final_screen(
    recorded: Path, adb_server: AdbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = _attach(adb_server)
    try:
        code = main(["replay", str(recorded), "--serial", fresh.serial, "--speed", "0"])
        assert code == 0, capsys.readouterr()
        assert "replayed steps: 0, 1, 2, 3, 4" in capsys.readouterr().out
        assert fresh.state()["notes"] == [NOTE] and fresh.state()["stack"] == []
        trajectory = read_trajectory(recorded)
        last = trajectory.screenshot(trajectory.steps[-1])
        assert last is not None
        live = AndroidEnvironment(serial=fresh.serial).observe().image
        assert compare_screens(Image.open(last), live).changed_tiles < 0.01
    finally:
        adb_server.detach(fresh)


def test_replay_stops_where_the_screen_changed(
    recorded: Path, adb_server: AdbServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = Phone()
    changed.toggles["Dark theme"] = True  # the launcher looks the same; Notes does not
    fresh = _attach(adb_server, changed)
    try:
        code = main(
            [
                "replay",
                str(recorded),
                "--serial",
                fresh.serial,
                "--speed",
                "0",
                "--out",
                str(tmp_path / "div"),
            ]
        )
        out = capsys.readouterr().out
        assert code == 1
        assert "replayed steps: 0" in out and "diverged at step 1" in out
        report = json.loads((tmp_path / "div" / "divergence.json").read_text())
        assert report["step"] == 1 and report["same"] is False
        assert report["changed_tiles"] > report["thresholds"]["changed_tiles"] == 0.04
        assert (tmp_path / "div" / report["recorded"]).exists() and (
            tmp_path / "div" / report["live"]
        ).exists()
        assert fresh.state()["note"] == ""  # nothing was typed into the unknown screen
        # Resuming at the step that diverged diverges again: the screen is still not the recorded
        # one.
        assert (
            main(
                [
                    "replay",
                    str(recorded),
                    "--serial",
                    fresh.serial,
                    *"--speed 0 --from 1 --out".split(),
                    str(tmp_path / "div2"),
                ]
            )
            == 1
        )
    finally:
        adb_server.detach(fresh)


def test_replay_from_a_later_step(
    recorded: Path, adb_server: AdbServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = _attach(adb_server)
    try:
        fresh.run("monkey -p com.vlagent.notes -c android.intent.category.LAUNCHER 1")
        assert (
            main(["replay", str(recorded), "--serial", fresh.serial, "--speed", "0", "--from", "1"])
            == 0
        )
        assert "replayed steps: 1, 2, 3, 4" in capsys.readouterr().out
        assert fresh.state()["notes"] == [NOTE]
        assert main(["replay", str(recorded), "--serial", fresh.serial, "--from", "9"]) == 2
        assert "--from 9: the recording's steps are 0 to 5" in capsys.readouterr().err
    finally:
        adb_server.detach(fresh)


def test_a_recording_with_its_ui_tree_replays_comparing_the_app_in_front(
    phone: VirtualDevice, adb_server: AdbServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with AndroidEnvironment(serial=phone.serial, ui_tree=True) as env:
        result = Agent(
            ScriptedRuntime(script(phone.phone)),
            get_dialect("qwen2-vl"),
            env,
            recorder=Recorder(tmp_path / "run"),
        ).run("save a note")
    assert result.status == "success"
    launcher, notes = "com.android.launcher", "com.vlagent.notes"
    steps = read_trajectory(tmp_path / "run").steps
    assert [(s.metadata or {}).get("foreground") for s in steps] == [
        launcher,
        notes,
        notes,
        notes,
        notes,
        launcher,
    ]
    fresh = _attach(adb_server)
    try:  # replayed with the UI tree as recorded: every step's app matches
        assert (
            main(["replay", str(tmp_path / "run"), "--serial", fresh.serial, "--speed", "0"]) == 0
        )
        assert fresh.state()["notes"] == [NOTE]
    finally:
        adb_server.detach(fresh)
    # The same pixels with another app in front are another screen: say the recording had it so.
    lines = (tmp_path / "run" / "trajectory.jsonl").read_text().splitlines()
    for number, line in enumerate(lines):
        record = json.loads(line)
        if record.get("index") == 1 and isinstance(record.get("metadata"), dict):
            record["metadata"]["foreground"] = "com.example.lookalike"
            lines[number] = json.dumps(record)
    (tmp_path / "run" / "trajectory.jsonl").write_text("\n".join(lines) + "\n")
    fresh = _attach(adb_server)
    try:
        code = main(
            [
                "replay",
                str(tmp_path / "run"),
                "--serial",
                fresh.serial,
                "--speed",
                "0",
                "--out",
                str(tmp_path / "div"),
            ]
        )
        assert code == 1 and "diverged at step 1" in capsys.readouterr().out
        report = json.loads((tmp_path / "div" / "divergence.json").read_text())
        assert (
            report["reason"] == f"another app is in front ({notes}, recorded com.example.lookalike)"
        )
        assert fresh.state()["note"] == ""  # nothing was typed into the other app
    finally:
        adb_server.detach(fresh)


def test_self_healing_replay_asks_the_model_where_the_screen_differs(
    recorded: Path, adb_server: AdbServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = Phone()
    changed.toggles["Dark theme"] = True  # from step 1 on, every recorded screen differs
    fresh = _attach(adb_server, changed)
    answers = script(changed)[1:]  # what a model would answer for steps 1..5
    model = tmp_path / "model.txt"
    model.write_text("\n---\n".join(answers) + "\n")
    try:
        code = main(_healing(recorded, fresh.serial, model, tmp_path / "healed"))
        out = capsys.readouterr().out
        assert code == 0, out
        assert "steps planned by the model: 1, 2, 3, 4" in out  # home looks the same again at 5
        assert fresh.state()["notes"] == [NOTE]
        healed = read_trajectory(tmp_path / "healed")
        assert healed.end is not None and healed.end.status == "success"
        assert (healed.header.model.model_extra or {})["replay_of"] == str(recorded)
        assert "healed_steps" not in (
            healed.header.model.model_extra or {}
        )  # known only at the end
        assert healed.end.replay is not None and healed.end.replay.healed_steps == [1, 2, 3, 4]
        assert healed.end.replay.rejoined_at == 5 and healed.end.replay.ended_as_recorded
        assert healed.end.replay.unverified == ""
        assert [s.action.model["action"] for s in healed.steps if s.action] == [
            *"open click type click system_button terminate".split(),
        ]
        assert (tmp_path / "healed" / "report.html").exists()
    finally:
        adb_server.detach(fresh)


def test_self_healing_refuses_a_text_dialect_in_one_line(
    recorded: Path, phone: VirtualDevice, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.txt"
    model.write_text("Action: press_home()\n")
    code = main(
        [
            "replay",
            str(recorded),
            "--serial",
            phone.serial,
            "--model",
            f"scripted:{model}",
            "--dialect",
            "ui-tars",
            "--out",
            str(tmp_path / "healed"),
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and "use a function-calling or json dialect" in err
        and len(err.strip().splitlines()) == 1
    )
    assert not (tmp_path / "healed").exists()  # nothing recorded, nothing executed
    assert phone.state()["notes"] == [NOTE]


def test_the_demo_replayed_from_a_later_step_on_the_wrong_screen_stops_there(
    recorded: Path, adb_server: AdbServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Step 2 (typing the note) was recorded on Notes with its field focused; the phone shows its
    home screen, mostly white like Notes. Replay must not type into it."""
    fresh = _attach(adb_server)
    try:
        code = main(
            [
                "replay",
                str(recorded),
                "--serial",
                fresh.serial,
                *"--speed 0 --from 2 --out".split(),
                str(tmp_path / "div"),
            ]
        )
        out = capsys.readouterr().out
        assert code == 1 and "replayed steps: none" in out and "diverged at step 2" in out
        assert (
            fresh.state()["note"] == ""
            and fresh.state()["notes"] == []
            and fresh.state()["stack"] == []
        )
        report = json.loads((tmp_path / "div" / "divergence.json").read_text())
        assert report["step"] == 2 and report["changed_tiles"] > 0.04
    finally:
        adb_server.detach(fresh)


def test_self_healing_that_never_rejoins_the_recording_is_not_a_success(
    recorded: Path, adb_server: AdbServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The phone starts in Settings. The model plans every step there (none of its screens is one
    the recording reached) and then says it succeeded: the run ends unverified, exit 1."""
    fresh = _attach(adb_server)
    fresh.run("monkey -p com.android.settings -c android.intent.category.LAUNCHER 1")
    model = tmp_path / "model.txt"
    model.write_text(
        "\n---\n".join(
            [
                tool_call(action="click", coordinate=[500, 140]),
                tool_call(action="type", text=NOTE),
                tool_call(action="click", coordinate=[200, 250]),
                tool_call(action="terminate", status="success"),
            ]
        )
        + "\n"
    )
    try:
        code = main(_healing(recorded, fresh.serial, model, tmp_path / "healed"))
        out = capsys.readouterr().out
        assert code == 1, out
        assert "unverified" in out and "never came back to a screen the recording reached" in out
        assert fresh.state()["notes"] == []
        healed = read_trajectory(tmp_path / "healed")
        assert healed.end is not None and healed.end.status == "unverified"
        assert healed.end.replay is not None and healed.end.replay.healed_steps == [0, 1, 2, 3]
        assert healed.end.replay.rejoined_at is None and not healed.end.replay.ended_as_recorded
    finally:
        adb_server.detach(fresh)


def test_self_healing_that_rejoins_and_ends_as_recorded_is_a_success(
    recorded: Path, adb_server: AdbServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The phone starts in Settings; the model presses Home, which is where the recording began:
    the replay re-joins at step 0, runs the recording to its end, and the note is saved."""
    fresh = _attach(adb_server)
    fresh.run("monkey -p com.android.settings -c android.intent.category.LAUNCHER 1")
    model = tmp_path / "model.txt"
    model.write_text(tool_call(action="system_button", button="Home") + "\n")
    try:
        code = main(_healing(recorded, fresh.serial, model, tmp_path / "healed"))
        assert code == 0, capsys.readouterr().out
        assert fresh.state()["notes"] == [NOTE]
        healed = read_trajectory(tmp_path / "healed")
        assert healed.end is not None and healed.end.status == "success"
        assert healed.end.replay is not None and healed.end.replay.healed_steps == [0]
        assert healed.end.replay.rejoined_at == 0 and healed.end.replay.ended_as_recorded
    finally:
        adb_server.detach(fresh)
