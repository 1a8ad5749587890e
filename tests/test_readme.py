"""The README's library example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_library_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "the README has a Python example"
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme_example"})


def test_readme_commands_are_the_ones_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install torch==2.13.0 && pip install -e '.[test]' && pytest" in text
    assert "torch==2.13.0" in ci and "-e '.[test]'" in ci and "pytest" in ci


def _section_one_command() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## 1. Set up and run"):text.index("## 2.")]
    first = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)[0].strip()
    return first.split(" && ")[-1]


def test_readme_section_one_runs_the_main_job_on_the_embedded_virtual_phone(tmp_path: Path) -> None:
    """The command after installing, as a user on a fresh clone runs it: offline, no device."""
    import json
    import os
    import shlex
    import shutil
    import subprocess
    import sys

    command = shlex.split(_section_one_command())
    assert command[:4] == ["agent", "run", "--env", "android"]
    script = next(a for a in command if a.startswith("scripted:")).removeprefix("scripted:")
    (tmp_path / script).parent.mkdir(parents=True)
    shutil.copy(README.parent / script, tmp_path / script)
    # adb clients and the server find nothing of the user's: a HOME and a port with no server.
    env = {**os.environ, "HOME": str(tmp_path / "home"), "ANDROID_ADB_SERVER_PORT": "1"}
    done = subprocess.run([sys.executable, "-m", "vlagent.agent", *command[1:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "success: the model reported success" in done.stdout
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "report.html").is_file()
    lines = [json.loads(line) for line in (runs[0] / "trajectory.jsonl").read_text("utf-8").splitlines()]
    from tests.conftest import assert_schema_valid

    assert_schema_valid(lines)
    assert lines[0]["environment"]["name"] == "android" and lines[0]["environment"]["virtual"] is True
    assert [s["result"]["ok"] for s in lines[1:-1]] == [True] * 6


def test_the_readme_script_is_the_demo_episode() -> None:
    from vlagent.agent.cli.demo import script_text

    assert (README.parent / "docs" / "examples" / "android-notes.txt").read_text("utf-8") == script_text()
