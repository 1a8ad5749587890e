"""Replay on the virtual phone: to the same final screen, and a stop with a divergence report
when the screen no longer matches the recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.cli import main
from agent.demo import NOTE, script
from agent.loop import Agent
from agent.replay import screen_distance
from agent.runtimes import ScriptedRuntime
from agent.trajectory import Recorder, read_trajectory
from environments.android import AndroidEnvironment
from environments.virtual_android import Phone, VirtualDevice
from prompts import get_dialect
from tests.environments.android_fixtures import AdbServer, adb_server, phone  # noqa: F401 (fixtures)


@pytest.fixture
def recorded(phone: VirtualDevice, tmp_path: Path) -> Path:
    """The demo's episode recorded on a virtual phone: open Notes, type, save, Home."""
    with AndroidEnvironment(serial=phone.serial) as env:
        result = Agent(ScriptedRuntime(script(phone.phone)), get_dialect("qwen2-vl"), env,
                       recorder=Recorder(tmp_path / "run")).run("save a note")
    assert result.status == "success" and phone.state()["notes"] == [NOTE]
    return tmp_path / "run"


def test_replay_on_a_fresh_device_reaches_the_same_final_screen(recorded: Path, adb_server: AdbServer,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    fresh = adb_server.attach()
    try:
        code = main(["replay", str(recorded), "--serial", fresh.serial, "--speed", "0"])
        assert code == 0, capsys.readouterr()
        assert "replayed steps: 0, 1, 2, 3, 4" in capsys.readouterr().out
        assert fresh.state()["notes"] == [NOTE] and fresh.state()["stack"] == []
        trajectory = read_trajectory(recorded)
        last = trajectory.screenshot(trajectory.steps[-1])
        assert last is not None
        live = AndroidEnvironment(serial=fresh.serial).observe().image
        assert screen_distance(live, Image.open(last)) < 0.01
    finally:
        adb_server.detach(fresh)


def test_replay_stops_where_the_screen_changed(recorded: Path, adb_server: AdbServer, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    changed = Phone()
    changed.toggles["Dark theme"] = True  # the launcher looks the same; Notes does not
    fresh = adb_server.attach(changed)
    try:
        code = main(["replay", str(recorded), "--serial", fresh.serial, "--speed", "0", "--out", str(tmp_path / "div")])
        out = capsys.readouterr().out
        assert code == 1
        assert "replayed steps: 0" in out and "diverged at step 1" in out
        report = json.loads((tmp_path / "div" / "divergence.json").read_text())
        assert report["step"] == 1 and report["distance"] > report["threshold"] == 0.04
        assert (tmp_path / "div" / report["recorded"]).exists() and (tmp_path / "div" / report["live"]).exists()
        assert fresh.state()["note"] == ""  # nothing was typed into the unknown screen
        # Resuming at the step that diverged diverges again: the screen is still not the recorded one.
        assert main(["replay", str(recorded), "--serial", fresh.serial, "--speed", "0", "--from", "1",
                     "--out", str(tmp_path / "div2")]) == 1
    finally:
        adb_server.detach(fresh)


def test_replay_from_a_later_step(recorded: Path, adb_server: AdbServer, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = adb_server.attach()
    try:
        fresh.run("monkey -p com.vlagent.notes -c android.intent.category.LAUNCHER 1")
        assert main(["replay", str(recorded), "--serial", fresh.serial, "--speed", "0", "--from", "1"]) == 0
        assert "replayed steps: 1, 2, 3, 4" in capsys.readouterr().out
        assert fresh.state()["notes"] == [NOTE]
    finally:
        adb_server.detach(fresh)


def test_screen_distance() -> None:
    white = Image.new("RGB", (1080, 2400), "white")
    marked = white.copy()
    ImageDraw.Draw(marked).rectangle([0, 0, 200, 60], fill="black")  # a clock-sized change
    assert screen_distance(white, white) == 0
    assert screen_distance(white, marked) < 0.01
    assert screen_distance(white, Image.new("RGB", (1080, 2400), "black")) == 1.0


def test_self_healing_replay_asks_the_model_where_the_screen_differs(
        recorded: Path, adb_server: AdbServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = Phone()
    changed.toggles["Dark theme"] = True  # from step 1 on, every recorded screen differs
    fresh = adb_server.attach(changed)
    answers = script(changed)[1:]  # what a model would answer for steps 1..5
    model = tmp_path / "model.txt"
    model.write_text("\n---\n".join(answers) + "\n")
    try:
        code = main(["replay", str(recorded), "--serial", fresh.serial, "--model", f"scripted:{model}",
                     "--out", str(tmp_path / "healed")])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "steps planned by the model: 1, 2, 3, 4" in out  # home looks the same again at 5
        assert fresh.state()["notes"] == [NOTE]
        healed = read_trajectory(tmp_path / "healed")
        assert healed.end is not None and healed.end.status == "success"
        assert (healed.header.model.model_extra or {})["replay_of"] == str(recorded)
        assert [s.action.model["action"] for s in healed.steps if s.action] == [
            "open", "click", "type", "click", "system_button", "terminate"]
        assert (tmp_path / "healed" / "report.html").exists()
    finally:
        adb_server.detach(fresh)


def test_self_healing_refuses_a_text_dialect_in_one_line(recorded: Path, phone: VirtualDevice, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model.txt"
    model.write_text("Action: press_home()\n")
    code = main(["replay", str(recorded), "--serial", phone.serial, "--model", f"scripted:{model}",
                 "--dialect", "ui-tars", "--out", str(tmp_path / "healed")])
    err = capsys.readouterr().err
    assert code == 2 and "use a function-calling or json dialect" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "healed").exists()  # nothing recorded, nothing executed
    assert phone.state()["notes"] == [NOTE]
