"""``agent demo``: a scripted episode on the virtual Android phone, offline, in seconds.

It starts the virtual device, a private adb server (the adb binary inside the adbutils wheel, on
a free port with its own HOME, so a user's adb server and keys are never touched), runs a scripted
model that opens Notes, types a note, saves it and goes home, then writes the trajectory and its
HTML report.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.loop import Agent, Limits, RunListener
from agent.runtimes import ScriptedRuntime
from agent.steps import RunResult
from agent.trajectory import Recorder
from environments import EnvironmentUnavailable
from environments.virtual_android import Phone, VirtualDevice
from prompts import get_dialect

GOAL = "Write the note 'Buy milk & eggs' in the Notes app, save it, and go back home"
NOTE = "Buy milk & eggs"


def _call(**arguments: Any) -> str:
    return "<tool_call>\n" + json.dumps({"name": "mobile_use", "arguments": arguments}) + "\n</tool_call>"


def script(phone: Phone) -> list[str]:
    """The demo's answers, in Qwen2-VL's relative 0–1000 coordinates, aimed at the phone's own
    layout (a scripted model knows where things are; a real one reads the screen)."""
    probe = Phone(phone.width, phone.height)
    probe.start("com.vlagent.notes")
    bounds = {e.resource_id: e.bounds for e in probe.elements()}

    def centre(resource_id: str) -> list[int]:
        left, top, right, bottom = bounds[resource_id]
        return [round((left + right) / 2 / phone.width * 1000), round((top + bottom) / 2 / phone.height * 1000)]

    return [
        "I will open the Notes app.\n" + _call(action="open", text="Notes"),
        _call(action="click", coordinate=centre("com.vlagent.notes:id/note")),
        _call(action="type", text=NOTE),
        _call(action="click", coordinate=centre("com.vlagent.notes:id/save")),
        _call(action="system_button", button="Home"),
        _call(action="terminate", status="success"),
    ]


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not 5555 <= port <= 5585:
            return port


def run_demo(out: Path, listeners: Sequence[RunListener] = ()) -> RunResult:
    import adbutils

    from environments.android import AndroidEnvironment

    adb = str(adbutils.adb_path())
    env = {**os.environ, "HOME": tempfile.mkdtemp(prefix="vlagent-demo-adb-"),
           "ANDROID_ADB_SERVER_PORT": str(_free_port())}
    saved = {key: os.environ.get(key) for key in ("HOME", "ANDROID_ADB_SERVER_PORT")}
    device = VirtualDevice().start()
    try:
        os.environ.update(HOME=env["HOME"], ANDROID_ADB_SERVER_PORT=env["ANDROID_ADB_SERVER_PORT"])
        connected = subprocess.run([adb, "connect", device.serial], env=env, capture_output=True,
                                   timeout=30, check=False)
        if b"connected" not in connected.stdout:
            raise EnvironmentUnavailable(
                f"the demo's adb server did not attach the virtual device: "
                f"{(connected.stdout + connected.stderr).decode(errors='replace').strip()}")
        environment = AndroidEnvironment(serial=device.serial)
        agent = Agent(ScriptedRuntime(script(device.phone), source="the built-in demo"),
                      get_dialect("qwen2-vl"), environment, limits=Limits(max_steps=10),
                      recorder=Recorder(out), listeners=listeners)
        return agent.run(GOAL)
    finally:
        subprocess.run([adb, "kill-server"], env=env, capture_output=True, timeout=30, check=False)
        device.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
