"""Secrets: the model writes {{NAME}}, the device gets the value, and the value appears in no file
of the run and no output. API keys never travel in clear text off this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tool_call, write_script
from tests.environments.android_fixtures import AdbServer
from tests.environments.test_desktop import APP, require
from vlagent.agent.runtimes.base import ModelUnavailable, RuntimeOptions
from vlagent.agent.runtimes.remote import OpenAIRuntime, shown

SECRET = "hunter2-Zq9!x"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PASSWORD": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "vlagent.agent", "run", *args, "--secret", "PASSWORD", "-v"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def _leaks(folder: Path, *outputs: str) -> list[str]:
    found = [str(p) for p in folder.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    return found + [f"output {i}" for i, text in enumerate(outputs) if SECRET in text]


def test_a_secret_is_typed_on_the_tk_app_and_recorded_nowhere(tmp_path: Path) -> None:
    require("Xvfb", "xclip")
    state = tmp_path / "state.json"
    script = write_script(
        tmp_path / "s.txt",
        [
            tool_call("computer_use", action="left_click", coordinate=[234, 400]),
            tool_call("computer_use", action="type", text="{{PASSWORD}}"),
            tool_call("computer_use", action="terminate", status="success"),
        ],
    )
    out = tmp_path / "run"
    done = _run(
        [
            *"--env desktop --xvfb 1280x800 --launch".split(),
            f"{sys.executable} {APP} {state}",
            "--goal",
            "Log in with the password {{PASSWORD}}",
            "--model",
            f"scripted:{script}",
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(state.read_text(encoding="utf-8"))["text"] == SECRET  # the app got the value
    assert _leaks(out, done.stdout, done.stderr) == []
    header = json.loads((out / "trajectory.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert header["environment"]["secrets"] == ["PASSWORD"]


def test_a_secret_is_typed_on_the_virtual_phone_and_recorded_nowhere(
    adb_server: AdbServer,
    phone,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from vlagent.agent.cli.demo import script as demo_script

    answers = demo_script(phone.phone)
    answers[2] = tool_call(action="type", text="{{PASSWORD}}")
    out = tmp_path / "run"
    done = _run(
        [
            "--env",
            "android",
            "--serial",
            phone.serial,
            "--goal",
            "Save {{PASSWORD}} as a note",
            "--model",
            f"scripted:{write_script(tmp_path / 's.txt', answers)}",
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert phone.state()["notes"] == [SECRET.lower()] or phone.state()["notes"] == [SECRET]
    assert _leaks(out, done.stdout, done.stderr) == []


def test_without_a_value_the_secret_is_a_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PASSWORD"}
    done = subprocess.run(
        [
            sys.executable,
            *"-m vlagent.agent run --env memory".split(),
            *"--goal g --model scripted:x --secret PASSWORD".split(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --secret PASSWORD: set the environment variable PASSWORD to "
        "its value (or run on a terminal to be asked for it)"
    )


@pytest.mark.parametrize(
    "endpoint", ["http://model-server.invalid:8000/v1", "http://10.20.30.40:8000"]
)
def test_the_api_key_is_not_sent_in_clear_text_off_this_machine(endpoint: str) -> None:
    # Refused before any connection is attempted: nothing is sent anywhere.
    with pytest.raises(ModelUnavailable, match="refusing to send the API key in clear text"):
        OpenAIRuntime(endpoint, "m", RuntimeOptions(api_key="sk-test"))


def test_credentials_in_an_endpoint_are_never_shown() -> None:
    assert (
        shown("http://user:sk-secret@127.0.0.1:8000/v1?api_key=sk-other")
        == "http://127.0.0.1:8000/v1"
    )
    with pytest.raises(ModelUnavailable) as failed:
        OpenAIRuntime(
            "http://user:sk-secret@127.0.0.1:9/v1?api_key=sk-other",
            "m",
            RuntimeOptions(timeout_s=2, retries=0),
        )
    assert "sk-secret" not in str(failed.value) and "sk-other" not in str(failed.value)
