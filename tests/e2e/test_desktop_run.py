"""``agent run --env desktop --xvfb`` in a subprocess, against the Tk test app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import assert_schema_valid, run_cli, tool_call, write_script
from tests.environments.test_desktop import APP, require


def test_agent_run_on_a_private_xvfb_drives_the_tk_app(tmp_path: Path) -> None:
    require("Xvfb", "xclip")
    (tmp_path / "app").mkdir()
    state = tmp_path / "app" / "state.json"  # the app writes it where it was started: --launch-dir
    # qwen2-vl answers: relative 0-1000 on the 1280x800 screen.
    script = write_script(
        tmp_path / "answers.txt",
        [
            tool_call("computer_use", action="left_click", coordinate=[234, 400]),  # the entry
            tool_call("computer_use", action="type", text="héllo 你好"),
            tool_call("computer_use", action="key", keys=["ctrl", "shift", "t"]),
            tool_call(
                "computer_use",
                action="left_click_drag",
                start_coordinate=[78, 562],
                coordinate=[391, 875],
            ),  # on the canvas
            tool_call("computer_use", action="terminate", status="success"),
        ],
    )
    out = tmp_path / "run"
    result = run_cli(
        *"run --env desktop --xvfb 1280x800 --launch".split(),
        f"{sys.executable} {APP} state.json",
        "--launch-dir",
        str(tmp_path / "app"),
        "--goal",
        "Fill the form",
        "--model",
        f"scripted:{script}",
        "--out",
        str(out),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "X connection" not in result.stderr  # nothing of ours outlives the private screen
    app = json.loads(state.read_text(encoding="utf-8"))
    assert app["text"] == "héllo 你好"
    assert "ctrl+shift+T" in app["keys"]
    assert app["drags"][0]["start"] == [100, 450] and app["drags"][0]["end"] == [500, 700]
    lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
    header, steps, end = lines[0], lines[1:-1], lines[-1]
    assert_schema_valid(lines)
    assert (
        header["environment"]["name"] == "desktop" and header["environment"]["private_xvfb"] is True
    )
    assert header["screen"] == {"width": 1280, "height": 800, "scale": 1.0}
    assert [s["action"]["model"]["action"] for s in steps] == [
        *"left_click type key left_click_drag terminate".split(),
    ]
    assert steps[0]["action"]["device"]["coordinate"] == [299.52, 320.0]
    assert all((out / s["screenshot"]).exists() for s in steps)
    assert all(s["metadata"]["foreground"] == "Tk" for s in steps)  # the app in front, recorded
    assert (out / "report.html").read_text().count("<td>app in front</td><td>Tk</td>") == len(steps)
    assert end["status"] == "success"


def test_a_display_that_cannot_be_opened_is_one_line_before_any_model_loads(
    tmp_path: Path, checkpoint: Callable[..., Path]
) -> None:
    require("Xvfb")
    result = run_cli(
        *"run --env desktop --display :919 --goal g --model".split(),
        str(checkpoint("qwen2.5-vl")),
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot open display :919")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def _xclips(display: str) -> list[int]:
    """Pids of the xclip processes serving ``display``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if command and command[0].endswith(b"xclip") and f"DISPLAY={display}".encode() in environ:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("held", ["what the user had copied", None])
def test_typing_on_an_existing_display_with_captured_output_returns_and_gives_the_clipboard_back(
    tmp_path: Path, held: str | None
) -> None:
    """The run's stdout and stderr are pipes (as under CI or subprocess.run(capture_output=True)):
    the run must end, leave no xclip of its own behind, and leave the clipboard as it found it."""
    require("Xvfb", "xclip")
    from vlagent.environments.xvfb import Xvfb

    screen = Xvfb(640, 480)
    env = {**os.environ, "DISPLAY": screen.display, "XAUTHORITY": screen.client_authority}
    try:
        if held is not None:
            subprocess.run(
                ["xclip", "-selection", "clipboard", "-in"],
                input=held.encode(),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=5,
            )
        before = set(_xclips(screen.display))
        script = write_script(
            tmp_path / "s.txt",
            [
                tool_call("computer_use", action="type", text="p4ssw0rd ünïcode"),
                tool_call("computer_use", action="terminate", status="success"),
            ],
        )
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                *"-m vlagent.agent run --env desktop --display".split(),
                screen.display,
                "--goal",
                "type",
                "--model",
                f"scripted:{script}",
                "--out",
                str(tmp_path / "run"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < 30
        assert "X connection" not in done.stderr
        now = subprocess.run(
            ["xclip", "-selection", "clipboard", "-out"], env=env, capture_output=True, timeout=5
        )
        if held is None:
            assert now.returncode != 0 and set(_xclips(screen.display)) == before == set()
        else:
            assert now.stdout.decode() == held
            assert len(set(_xclips(screen.display)) - before) <= 1  # the one serving what it held
    finally:
        for pid in _xclips(screen.display):
            os.kill(pid, signal.SIGTERM)
        screen.stop()


def test_a_desktop_run_replays_on_a_fresh_private_screen_with_the_app_started_again(
    tmp_path: Path,
) -> None:
    require("Xvfb", "xclip")
    script = write_script(
        tmp_path / "answers.txt",
        [
            tool_call("computer_use", action="left_click", coordinate=[234, 400]),  # the entry
            tool_call("computer_use", action="type", text="again"),
            tool_call("computer_use", action="terminate", status="success"),
        ],
    )
    out = tmp_path / "run"
    recorded = run_cli(
        *"run --env desktop --xvfb 1280x800 --launch".split(),
        f"{sys.executable} {APP} {tmp_path / 'first.json'}",
        "--goal",
        "Type again",
        "--model",
        f"scripted:{script}",
        "--out",
        str(out),
        timeout=120,
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    second = tmp_path / "second.json"
    replayed = run_cli(
        "replay",
        str(out),
        "--xvfb",
        "1280x800",
        "--launch",
        f"{sys.executable} {APP} {second}",
        "--speed",
        "0",
        timeout=120,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed steps: 0, 1" in replayed.stdout
    assert json.loads(second.read_text(encoding="utf-8"))["text"] == "again"
