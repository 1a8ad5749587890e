"""Library code leaves the process as it found it: the environment variables, and other
libraries' settings such as Hugging Face progress bars."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.conftest import tool_call, write_script
from tests.environments.test_desktop import require
from vlagent.agent.cli import main


def test_a_desktop_run_on_a_private_xvfb_leaves_os_environ_as_it_was(tmp_path: Path) -> None:
    require("Xvfb", "xclip")
    script = write_script(
        tmp_path / "s.txt",
        [
            tool_call("computer_use", action="left_click", coordinate=[500, 500]),
            tool_call("computer_use", action="type", text="héllo"),
            tool_call("computer_use", action="terminate", status="success"),
        ],
    )
    before = dict(os.environ)
    code = main(
        [
            *"run --env desktop --xvfb 640x480 --goal".split(),
            "click and type",
            "--model",
            f"scripted:{script}",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0
    assert dict(os.environ) == before
    # Twice in one process: the second run's connections still authenticate.
    code = main(
        [
            *"run --env desktop --xvfb 640x480 --goal again --model".split(),
            f"scripted:{script}",
            "--out",
            str(tmp_path / "again"),
        ]
    )
    assert code == 0
    assert dict(os.environ) == before


def test_hugging_face_progress_bars_stay_enabled_after_a_local_run(
    checkpoint, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    transformers = pytest.importorskip("transformers")
    from huggingface_hub.utils import are_progress_bars_disabled

    from vlagent.agent import ModelSpec, RunSpec, build_agent
    from vlagent.agent.runtimes.base import RuntimeOptions

    folder = checkpoint("qwen2-vl")
    assert transformers.utils.logging.is_progress_bar_enabled() and not are_progress_bars_disabled()
    spec = RunSpec(
        env="memory",
        env_options={"size": "320x200"},
        out=tmp_path / "run",
        model=ModelSpec(model=str(folder), options=RuntimeOptions(max_new_tokens=4)),
    )
    with build_agent(spec) as agent:
        agent.run("Tap OK")
    assert transformers.utils.logging.is_progress_bar_enabled()
    assert not are_progress_bars_disabled()


def test_the_library_logs_under_vlagent_and_the_cli_shows_it_with_verbose(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    script = write_script(tmp_path / "s.txt", [tool_call(action="terminate", status="success")])
    args = [
        *"run --env memory --space mobile --goal g --model".split(),
        f"scripted:{script}",
    ]
    assert main([*args, "--out", str(tmp_path / "quiet")]) == 0
    assert "debug:" not in capfd.readouterr().err
    assert main([*args, "--out", str(tmp_path / "loud"), "-v"]) == 0
    err = capfd.readouterr().err
    assert "vlagent.build" in err and "debug:" in err
    assert logging.getLogger("vlagent.android").parent is logging.getLogger("vlagent")
