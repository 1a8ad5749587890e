"""The user's own situation is one line with a documented exit code, never "internal error"."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli, tool_call, write_script
from vlagent.agent import Agent, Limits
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.environments import MemoryEnvironment
from vlagent.prompts import get_dialect

DONE = tool_call(action="terminate", status="success")


@pytest.mark.parametrize(
    "args, code, first_line",
    [
        (
            ["--out", "{tmp}/a-file"],
            3,
            "error: {tmp}/a-file is a file, not a directory; pass --out with a new directory",
        ),
        (
            ["--size", "30000x30000"],
            3,
            "error: size '30000x30000' is too large: at most 16384 pixels a side",
        ),
        (
            ["--size", "100000x100000"],
            3,
            "error: size '100000x100000' is too large: at most 16384 pixels a side",
        ),
        (
            ["--size", "100000x1", "--dialect", "qwen2.5-vl"],
            3,
            "error: size '100000x1' is too large: at most 16384 pixels a side",
        ),
        (["--size", "16000x50", "--dialect", "qwen2.5-vl"], 4, None),
    ],
)
def test_situations_of_the_users_own_are_one_line_and_a_documented_code(
    tmp_path: Path, args: list[str], code: int, first_line: str | None
) -> None:
    (tmp_path / "a-file").write_text("mine", encoding="utf-8")
    script = write_script(tmp_path / "s.txt", [DONE])
    given = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in given:
        given += ["--out", str(tmp_path / "run")]
    done = run_cli(
        *"run --env memory --space mobile --goal g --model".split(),
        f"scripted:{script}",
        *given,
    )
    assert done.returncode == code, done.stderr
    assert "internal error" not in done.stdout + done.stderr
    if first_line is not None:
        assert done.stderr.strip() == first_line.replace("{tmp}", str(tmp_path))
    else:
        assert (
            "error: the screen cannot be shown to this model: cannot resize a 16000x50 image"
            in done.stdout
        )
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "mine"


def test_a_full_disk_ends_the_run_with_its_reason_and_keeps_the_finished_steps(
    tmp_path: Path,
) -> None:
    """The kernel's own "no space left" (writes to /dev/full) after the first step."""
    answers = [tool_call(action="click", coordinate=[500, 500])] * 3 + [DONE]
    recorder = Recorder(tmp_path / "run")

    class Fill:
        def step_started(self, index: int) -> None:
            if index == 1:  # the disk fills up after the first step was written
                recorder.flush()  # (written by the recorder's thread: wait for it)
                full = os.open("/dev/full", os.O_WRONLY)
                os.dup2(full, recorder._fd)
                os.close(full)

        def step_finished(self, step: object) -> None:
            pass

    agent = Agent(
        ScriptedRuntime(answers),
        get_dialect("qwen2-vl"),
        MemoryEnvironment(size=(720, 1280), space="mobile"),
        limits=Limits(max_steps=5),
        recorder=recorder,
        listeners=[Fill()],
    )
    result = agent.run("fill the disk")
    assert result.status == "error"
    assert result.reason.startswith(
        f"cannot write the trajectory in {tmp_path / 'run'}: No space left on device"
    )
    trajectory = read_trajectory(tmp_path / "run")
    assert [s.index for s in trajectory.steps] == [0] and trajectory.end is None


def test_a_line_of_the_wrong_shape_is_skipped_by_show_and_report_and_refused_by_replay(
    tmp_path: Path,
) -> None:
    script = write_script(
        tmp_path / "s.txt", [tool_call(action="click", coordinate=[500, 500]), DONE]
    )
    out = tmp_path / "run"
    assert (
        run_cli(
            *"run --env memory --space mobile --goal g --model".split(),
            f"scripted:{script}",
            "--out",
            str(out),
        ).returncode
        == 0
    )
    path = out / "trajectory.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    wrong = json.loads(lines[1])
    wrong["action"] = "click the button"  # a string where an object belongs
    lines[1] = json.dumps(wrong)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in (["show", str(out)], ["report", str(out)]):
        done = run_cli(*command)
        assert done.returncode == 0 and "internal error" not in done.stderr, (command, done.stderr)
        assert (
            "line 2: damaged (action: Input should be a valid dictionary"
            in done.stderr + done.stdout
            or command[0] == "report"
        )
    # Replaying around the damaged step would skip an action and could still "succeed".
    replayed = run_cli("replay", str(out), "--speed", "0")
    assert replayed.returncode == 3 and "internal error" not in replayed.stderr
    assert f"{path} line 2: damaged (action: Input should be a valid dictionary" in replayed.stderr
    assert "replay needs every recorded step" in replayed.stderr


def test_replay_without_screenshots_refuses_unless_told(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "s.txt", [tool_call(action="click", coordinate=[500, 500]), DONE]
    )
    out = tmp_path / "run"
    assert (
        run_cli(
            *"run --env memory --space mobile --goal g --model".split(),
            f"scripted:{script}",
            "--out",
            str(out),
        ).returncode
        == 0
    )
    for shot in (out / "screens").iterdir():
        shot.unlink()
    refused = run_cli("replay", str(out), "--speed", "0")
    assert refused.returncode == 1
    assert (
        "step 0 has no recorded screenshot to compare the screen with; replay it blindly with "
        "--no-check" in refused.stdout
    )
    blind = run_cli("replay", str(out), "--speed", "0", "--no-check")
    assert blind.returncode == 0 and "replayed to the end" in blind.stdout


def test_the_time_limit_holds_within_a_long_wait(tmp_path: Path) -> None:
    import time

    script = write_script(tmp_path / "s.txt", [tool_call(action="wait", time=60), DONE])
    started = time.monotonic()
    done = run_cli(
        *"run --env memory --space mobile --goal g --time-limit 2 --model".split(),
        f"scripted:{script}",
        "--out",
        str(tmp_path / "run"),
    )
    assert done.returncode == 1 and "time_limit" in done.stdout
    assert time.monotonic() - started < 15  # interpreter start included; the wait was cut to ~2 s


def test_a_second_run_on_a_device_in_use_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    import subprocess
    import sys

    from vlagent.environments import EnvironmentUnavailable
    from vlagent.environments.lock import DeviceLock

    held = DeviceLock("android", "emulator-1234")
    try:
        with pytest.raises(
            EnvironmentUnavailable,
            match=rf"android emulator-1234 is in use by another "
            rf"vlagent run \(pid {os.getpid()}, since",
        ):
            DeviceLock("android", "emulator-1234")
    finally:
        held.release()
    DeviceLock("android", "emulator-1234").release()  # free again once released
    # A holder that dies without releasing leaves no stale lock: the kernel drops it.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from vlagent.environments.lock import DeviceLock; "
            "DeviceLock('android', 'emulator-1234'); os._exit(9)",
        ],
        timeout=30,
    )
    assert child.returncode == 9
    DeviceLock("android", "emulator-1234").release()


def test_the_agent_command_finds_a_python_model_beside_it(tmp_path: Path) -> None:
    """``agent run --model python:mymodel:answer`` run in the folder that holds mymodel.py, as
    ``python -m`` would (a console script has no working folder on sys.path by itself)."""
    import subprocess
    import sys

    command = Path(sys.executable).parent / "agent"
    if not command.is_file():
        pytest.fail(f"no agent command beside {sys.executable}: pip install -e . puts it there")
    answer = tool_call("computer_use", action="terminate", status="success")
    (tmp_path / "mymodel.py").write_text(f"def answer(prompt):\n    return {answer!r}\n")
    done = subprocess.run(
        [str(command), "run", "--env", "memory", "--goal", "g", "--model", "python:mymodel:answer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stderr
