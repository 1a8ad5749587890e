"""The README as a new user meets it: its two commands run as written, in a fresh copy of the
repository and a fresh virtual environment; its library example runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_schema_valid

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT / ".ci"))
from readme_command import readme_command  # noqa: E402  (CI reads the commands the same way)


def test_readme_library_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "the README has a Python example"
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme_example"})


def test_ci_runs_the_readme_test_command_as_written() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_test=$(python3 .ci/readme_command.py 2)" in ci and 'bash -c "$readme_test"' in ci
    assert readme_command(2).endswith("pytest")


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of the repository (what git tracks, and new files it does not ignore) and a fresh
    venv whose `pip`, `agent` and `pytest` come first on PATH. The venv sees this interpreter's
    packages (no download of torch or transformers), and installs vlagent from the copy itself."""
    base = tmp_path_factory.mktemp("readme")
    copy = base / "vlagent"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
        elif source.is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).symlink_to(os.readlink(source))
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(base / "venv")], check=True
    )
    env = {
        **os.environ,
        "PATH": f"{base / 'venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(base / "venv"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("PYTHONPATH", None)
    return copy, env


@pytest.mark.slow
def test_readme_section_one_runs_as_written_in_a_fresh_copy(
    fresh_copy: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Install and run the main job: the embedded virtual phone, offline, no device attached."""
    copy, env = fresh_copy
    # adb clients and the server find nothing of the user's: a HOME and a port with no server.
    env = {
        **env,
        "HOME": str(tmp_path / "home"),
        "ANDROID_ADB_SERVER_PORT": "1",
        "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip"),
    }
    done = subprocess.run(
        ["bash", "-c", readme_command(1)],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "success: the model reported success" in done.stdout
    where = subprocess.run(
        ["python", "-c", "import vlagent.agent; print(vlagent.agent.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(copy), where  # the copy's install ran, not ours
    runs = list((copy / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "report.html").is_file()
    lines = [
        json.loads(line) for line in (runs[0] / "trajectory.jsonl").read_text("utf-8").splitlines()
    ]
    assert_schema_valid(lines)
    assert (
        lines[0]["environment"]["name"] == "android" and lines[0]["environment"]["virtual"] is True
    )
    assert [s["result"]["ok"] for s in lines[1:-1]] == [True] * 6


@pytest.mark.slow
def test_readme_section_two_runs_as_written_in_a_fresh_copy(
    fresh_copy: tuple[Path, dict[str, str]],
) -> None:
    """Install with the test extra and run plain `pytest` in the copy. Here pytest only collects
    (PYTEST_ADDOPTS), which is where a bare `pytest` failed before; CI runs the whole of it."""
    copy, env = fresh_copy
    env = {**env, "PYTEST_ADDOPTS": "--collect-only -q -p no:cacheprovider"}
    done = subprocess.run(
        ["bash", "-c", readme_command(2)],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = re.search(r"(\d+) tests collected", done.stdout)
    assert collected and int(collected.group(1)) > 1000, done.stdout[-2000:]
    assert "error" not in done.stdout.splitlines()[-1].lower()


def test_the_readme_script_is_the_demo_episode() -> None:
    from vlagent.agent.cli.demo import script_text

    assert (ROOT / "docs" / "examples" / "android-notes.txt").read_text("utf-8") == script_text()
