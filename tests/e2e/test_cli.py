"""The ``agent`` command in a subprocess: the run, its exit codes, and one-line errors."""

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

from tests.conftest import run_cli, tool_call
from vlagent.agent.cli import exitcodes
from vlagent.agent.trajectory import read_trajectory

Script = Callable[[list[str]], str]


def test_help_and_version_do_not_import_heavy_libraries() -> None:
    probe = (
        "import sys\nfrom vlagent.agent.cli import main\ncodes = [main(['--help']), main(['run', "
        "'--help']), main(['--version'])]\nheavy = [m for m in ('torch', 'transformers', "
        "'pyautogui', 'adbutils', 'mss') if m in sys.modules]\nprint(codes, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[0, 0, 0] []"
    assert "--goal" in done.stdout and "vlagent 0.1.0" in done.stdout


def test_a_run_succeeds_and_prints_its_trajectory(tmp_path: Path, script: Script) -> None:
    model = script(
        [
            tool_call(action="click", coordinate=[500, 500]),
            tool_call(action="terminate", status="success"),
        ]
    )
    done = run_cli(
        *"run --env memory --space mobile --size 720x1280 --goal".split(),
        "tap the middle",
        "--model",
        model,
        cwd=tmp_path,
    )
    assert done.returncode == exitcodes.OK, done.stderr
    assert "click" in done.stdout and "(360, 640) px" in done.stdout
    assert "success: the model reported success" in done.stdout
    lines = done.stdout.strip().splitlines()
    path = next(line for line in lines if line.startswith("trajectory: ")).removeprefix(
        "trajectory: "
    )
    run_dir = tmp_path / Path(path).parent
    assert lines[-1] == f"report: {Path(path).parent / 'report.html'}"
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.endswith("-tap-the-middle")
    trajectory = read_trajectory(run_dir)
    assert trajectory.end is not None and trajectory.end.status == "success"


def test_dry_run_shows_but_does_not_execute(tmp_path: Path, script: Script) -> None:
    model = script(
        [tool_call(action="type", text="secret"), tool_call(action="terminate", status="success")]
    )
    done = run_cli(
        *"run --env memory --space mobile --goal type --model".split(),
        model,
        "--out",
        str(tmp_path / "run"),
        "--dry-run",
    )
    assert done.returncode == 0 and "would run type" in done.stdout
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.header.dry_run is True
    assert trajectory.steps[0].result.executed is False


@pytest.mark.parametrize(
    ("answers", "extra", "code", "words"),
    [
        ([tool_call(action="answer", text="42")], [], exitcodes.OK, "answer: 42"),
        ([tool_call(action="terminate", status="failure")], [], exitcodes.NOT_DONE, "failure"),
        (
            [tool_call(action="click", coordinate=[10 * i, 10]) for i in range(5)],
            ["--max-steps", "2"],
            exitcodes.NOT_DONE,
            "max_steps: reached the limit of 2 steps",
        ),
        (["nonsense"] * 5, [], exitcodes.RUN_ERROR, "invalid 3 times in a row"),
        (
            [tool_call(action="click", coordinate=[10, 10])],
            [],
            exitcodes.RUN_ERROR,
            "ran out of answers",
        ),
    ],
)
def test_run_outcomes_map_to_exit_codes(
    tmp_path: Path, script: Script, answers: list[str], extra: list[str], code: int, words: str
) -> None:
    done = run_cli(
        *"run --env memory --space mobile --goal g --model".split(),
        script(answers),
        "--out",
        str(tmp_path / "run"),
        *extra,
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert words in done.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (
            ["run", "--env", "androidd", "--goal", "g"],
            exitcodes.SETUP,
            "unknown environment 'androidd'; available: android, desktop, gym, memory, sim-pick",
        ),
        (
            ["run", "--env", "memory", "--goal", "g", "--model", "Qwen/Qwen2.5-VL-3B-Instruct"],
            exitcodes.SETUP,
            "(hf download Qwen/Qwen2.5-VL-3B-Instruct), pass --model FOLDER",
        ),
        (
            ["run", "--env", "memory", "--goal", "g", "--model", "scripted:/no/such/file"],
            exitcodes.SETUP,
            "script file '/no/such/file' not found",
        ),
        (
            [
                *"run --env memory --goal g --size wide --model".split(),
                "scripted:{script}",
            ],
            exitcodes.SETUP,
            "is not WIDTHxHEIGHT",
        ),
        (
            [
                *"run --env memory --goal g --dialect klingon --model".split(),
                "scripted:{script}",
            ],
            exitcodes.SETUP,
            "unknown dialect 'klingon'",
        ),
        (
            ["run", "--env", "memory", "--goal", "g", "--frobnicate"],
            exitcodes.USAGE,
            "No such option: --frobnicate",
        ),
        (
            ["run", "--env", "memory", "--goal", "g", "--max-steps", "zero"],
            exitcodes.USAGE,
            "Invalid value for '--max-steps'",
        ),
        (["run", "--goal", "g"], exitcodes.USAGE, "Missing option '--env'"),
        (
            ["run", "--env", "memory", "--goal", "  ", "--model", "scripted:{script}"],
            exitcodes.USAGE,
            "--goal is empty",
        ),
        (["fly"], exitcodes.USAGE, "No such command 'fly'"),
        (["show", "/no/such/run"], exitcodes.SETUP, "no trajectory at"),
    ],
)
def test_errors_are_one_line_with_the_documented_code(
    tmp_path: Path, script: Script, args: list[str], code: int, words: str
) -> None:
    model = script([tool_call(action="terminate", status="success")])
    done = run_cli(*[a.replace("scripted:{script}", model) for a in args], cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and words in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_out_dir_that_holds_a_run_is_never_overwritten(tmp_path: Path, script: Script) -> None:
    model = script([tool_call(action="terminate", status="success")] * 2)
    args = [
        *"run --env memory --space mobile --goal g --model".split(),
        model,
        "--out",
        str(tmp_path / "run"),
    ]
    assert run_cli(*args).returncode == 0
    before = (tmp_path / "run" / "trajectory.jsonl").read_bytes()
    again = run_cli(*args)
    assert (
        again.returncode == exitcodes.SETUP
        and "is not empty; pass --out with a new directory" in again.stderr
    )
    assert (tmp_path / "run" / "trajectory.jsonl").read_bytes() == before


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = run_cli("run", "--env", "androidd", "--goal", "g", "--debug", cwd=tmp_path)
    assert done.returncode == exitcodes.SETUP and "Traceback" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_aborts_with_a_closed_trajectory(
    tmp_path: Path, script: Script, sig: int
) -> None:
    model = script([tool_call(action="wait", time=0.3)] * 50)
    out = tmp_path / "run"
    child = subprocess.Popen(
        [
            sys.executable,
            *"-m vlagent.agent run --env memory --space mobile --goal w --model".split(),
            model,
            "--out",
            str(out),
            "--max-repeats",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    file = out / "trajectory.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        file.exists() and b'"type": "step"' in file.read_bytes()
    ):
        time.sleep(0.02)
    child.send_signal(sig)
    stdout, _ = child.communicate(timeout=20)
    assert child.returncode == exitcodes.ABORTED
    assert "aborted: interrupted by the user" in stdout
    last = json.loads(file.read_text(encoding="utf-8").splitlines()[-1])
    assert last["type"] == "end" and last["status"] == "aborted"
    assert read_trajectory(out).problems == []


def test_the_installed_console_script_is_agent() -> None:
    import shutil

    path = shutil.which(
        "agent", path=f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}"
    )
    assert path is not None, "the console script 'agent' is not installed (pip install -e .)"
    done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "vlagent 0.1.0")


def test_agent_envs_lists_options_as_agent_run_spells_them() -> None:
    listed = run_cli("envs").stdout
    flags = {word.rstrip(",") for word in listed.split() if word.startswith("--")}
    assert {"--ui-tree", "--launch-dir", "--gym-id", "--env-seed"} <= flags
    accepted = run_cli("run", "--help").stdout
    assert all(flag in accepted for flag in flags), flags - {f for f in flags if f in accepted}


@pytest.mark.parametrize("partly", [False, True], ids=["nothing cached", "config only"])
@pytest.mark.parametrize("why", ["HF_HUB_OFFLINE", "unreachable hub"])
@pytest.mark.parametrize(
    "model", [[], ["--model", "Qwen/Qwen2-VL-2B-Instruct"]], ids=["default", "given"]
)
def test_a_hub_model_offline_is_one_line_at_once_naming_hf_download_and_the_tiny_checkpoint(
    tmp_path: Path, why: str, model: list[str], partly: bool
) -> None:
    """No --model (the default checkpoint) or a hub id, neither downloaded, and no way to download:
    one line, before any environment starts, naming `hf download` and the offline way."""
    import socket
    import time

    with socket.socket() as s:  # a local port nothing listens on: the hub is unreachable
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "COLUMNS": "60"}
    if partly:  # an interrupted download: the config in the hub cache, no weights
        repo = (model[1] if model else "Qwen/Qwen2.5-VL-3B-Instruct").replace("/", "--")
        cache = tmp_path / "hf" / "hub" / f"models--{repo}"
        (cache / "refs").mkdir(parents=True)
        (cache / "refs" / "main").write_text("0" * 40)
        (cache / "snapshots" / ("0" * 40)).mkdir(parents=True)
        (cache / "snapshots" / ("0" * 40) / "config.json").write_text("{}")
    if why == "HF_HUB_OFFLINE":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env.pop("HF_HUB_OFFLINE", None)
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed}"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            *"-m vlagent.agent run --env memory --goal g --out".split(),
            str(tmp_path / "run"),
            *model,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == exitcodes.SETUP, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    name = model[1] if model else "Qwen/Qwen2.5-VL-3B-Instruct"
    assert (
        f"hf download {name}" in lines[0]
        and "build_checkpoint('qwen2.5-vl', 'tiny-qwen')" in lines[0]
    )
    assert "huggingface-cli" not in lines[0]
    assert not (tmp_path / "run").exists()  # nothing was started or written
    assert elapsed < 30  # no retry loop (the old path took ~30 s of retries before failing)
