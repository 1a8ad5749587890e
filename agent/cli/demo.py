"""``agent demo``: a scripted episode on the embedded virtual Android phone, offline, in seconds.

The phone runs in this process on a private adb server (``--serial virtual``), so a user's adb
server and keys are never touched; a scripted model opens Notes, types a note, saves it and goes
home; the trajectory and its HTML report are written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vlagent.agent.core.context import RunListener
from vlagent.agent.core.loop import Agent
from vlagent.agent.core.steps import RunResult
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.trajectory import Recorder
from vlagent.agent.trajectory.records import Limits
from vlagent.environments import Environment
from vlagent.environments.android import VIRTUAL, AndroidEnvironment
from vlagent.environments.virtual_android import Phone
from vlagent.prompts import get_dialect

GOAL = "Write the note 'Buy milk & eggs' in the Notes app, save it, and go back home"
NOTE = "Buy milk & eggs"


def _call(**arguments: Any) -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": "mobile_use", "arguments": arguments})
        + "\n</tool_call>"
    )


def script(phone: Phone) -> list[str]:
    """The demo's answers, in Qwen2-VL's relative 0–1000 coordinates, aimed at the phone's own
    layout (a scripted model knows where things are; a real one reads the screen)."""
    probe = Phone(phone.width, phone.height)
    probe.start("com.vlagent.notes")
    bounds = {e.resource_id: e.bounds for e in probe.elements()}

    def centre(resource_id: str) -> list[int]:
        left, top, right, bottom = bounds[resource_id]
        return [
            round((left + right) / 2 / phone.width * 1000),
            round((top + bottom) / 2 / phone.height * 1000),
        ]

    return [
        "I will open the Notes app.\n" + _call(action="open", text="Notes"),
        _call(action="click", coordinate=centre("com.vlagent.notes:id/note")),
        _call(action="type", text=NOTE),
        _call(action="click", coordinate=centre("com.vlagent.notes:id/save")),
        _call(action="system_button", button="Home"),
        _call(action="terminate", status="success"),
    ]


def script_text(phone: Phone | None = None) -> str:
    """The demo's answers as a ``scripted:`` file (docs/examples/android-notes.txt is this text)."""
    return "\n---\n".join(script(phone or Phone())) + "\n"


def scripted_episode(
    environment: Environment,
    answers: Callable[[], list[str]],
    goal: str,
    out: Path,
    listeners: Sequence[RunListener],
    source: str,
) -> RunResult:
    """Run ``goal`` on ``environment`` with a scripted qwen2-vl model, recording into ``out``;
    the environment is closed however it ends."""
    try:
        runtime = ScriptedRuntime(answers(), source=source)
        recorder = Recorder(out)
    except BaseException:
        environment.close()
        raise
    with Agent(
        runtime,
        get_dialect("qwen2-vl"),
        environment,
        limits=Limits(max_steps=10),
        recorder=recorder,
        listeners=listeners,
    ) as agent:
        return agent.run(goal)


def run_demo(out: Path, listeners: Sequence[RunListener] = ()) -> RunResult:
    """Run the demo episode on the embedded virtual phone, recording into ``out``."""
    environment = AndroidEnvironment(serial=VIRTUAL)
    return scripted_episode(
        environment,
        lambda: script(environment.embedded.device.phone),
        GOAL,
        out,
        listeners,
        "the built-in demo",
    )
