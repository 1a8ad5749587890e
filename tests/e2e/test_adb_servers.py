"""No adb server outlives a command that started it; a server the user started is left running.

adbutils starts the adb server as a daemon on its first request when none listens. Each case runs
the real ``agent`` command against the real adb binary on a private port and HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import tool_call
from vlagent.environments.adb_server import adb_binary, listening
from vlagent.environments.virtual_android.adb_server import free_port

DONE = tool_call(action="terminate", status="success")
COMMANDS = {
    "devices": ["devices"],
    "run without --serial": ["run", "--env", "android", "--goal", "g", "--model", "SCRIPT"],
    "run with a wrong serial": [
        *"run --env android --serial no-such-phone --goal g --model SCRIPT".split(),
    ],
    "run with a wrong network serial": [
        *"run --env android --serial 127.0.0.1:9 --goal g --model SCRIPT".split(),
    ],
}


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    return {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "ANDROID_ADB_SERVER_PORT": str(port),
        "ADB_LIBUSB": "0",
    }


def _agent(
    args: list[str], tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "answers.txt"
    script.write_text(DONE + "\n", encoding="utf-8")
    args = [f"scripted:{script}" if a == "SCRIPT" else a for a in args]
    return subprocess.run(
        [sys.executable, "-m", "vlagent.agent", *args, "--out", str(tmp_path / "runs")]
        if args[0] == "run"
        else [sys.executable, "-m", "vlagent.agent", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _gone(port: int, wait_s: float = 5.0) -> bool:
    deadline = time.monotonic() + wait_s
    while listening("127.0.0.1", port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_stops_the_adb_server_it_started(command: list[str], tmp_path: Path) -> None:
    port = free_port()
    done = _agent(command, tmp_path, _env(tmp_path, port))
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert _gone(port), f"an adb server still listens on port {port} after agent {command[0]}"
    # adb's own "* daemon not running; starting now" is not printed: errors stay one line.
    assert "daemon" not in done.stdout + done.stderr, done.stderr


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_server_the_user_started_is_left_running(command: list[str], tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, port)
    subprocess.run(
        [adb_binary(), "-P", str(port), "start-server"],
        env=env,
        capture_output=True,
        timeout=30,
        check=True,
    )
    try:
        done = _agent(command, tmp_path, env)
        assert done.returncode in (0, 3), done.stdout + done.stderr
        assert listening("127.0.0.1", port), f"agent {command[0]} stopped the user's adb server"
    finally:
        subprocess.run(
            [adb_binary(), "-P", str(port), "kill-server"], env=env, capture_output=True, timeout=30
        )


def test_sigterm_while_the_model_loads_closes_what_the_command_started(tmp_path: Path) -> None:
    """SIGTERM (timeout, docker stop, a cancelled CI job) arrives while a slow model loads, after
    the virtual phone and its private adb server have started: exit 130, nothing left."""
    import signal

    (tmp_path / "slow_model.py").write_text(
        "import time\ntime.sleep(60)\n\ndef answer(prompt):\n    return ''\n", encoding="utf-8"
    )
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**_env(tmp_path, free_port()), "TMPDIR": str(temp), "PYTHONPATH": str(tmp_path)}
    args = ["run", "--env", "android", "--serial", "virtual", "--goal", "g"]
    args += ["--model", "python:slow_model:answer", "--out", str(tmp_path / "runs")]
    process = subprocess.Popen(
        [sys.executable, "-m", "vlagent.agent", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(temp.glob("vlagent-adb-home-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(temp.glob("vlagent-adb-home-*")), "the virtual phone's adb server never started"
    time.sleep(1.0)  # the phone attached; the model is loading
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert list(temp.glob("vlagent-adb-home-*")) == [], "the private adb server was left running"


def test_two_commands_share_the_server_vlagent_started_and_the_last_one_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two commands at once on the default server: the first to finish leaves it to the second
    (which would otherwise lose its device mid-run); the last one stops it. A lease left by a
    killed command does not keep the server alive."""
    from vlagent.environments.adb_server import ServerLease

    port = free_port()
    env = _env(tmp_path, port)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    first = ServerLease()
    subprocess.run(
        [adb_binary(), "-P", str(port), "start-server"],
        env=env,
        capture_output=True,
        timeout=30,
        check=True,
    )  # what the first command's request does
    second = ServerLease()
    (first.folder / "999999999-1").touch()  # a command killed with SIGKILL: its lease stays
    first.release()
    assert listening("127.0.0.1", port), "the first command stopped a server the second uses"
    second.release()
    assert _gone(port), "the last command left the server vlagent started running"
