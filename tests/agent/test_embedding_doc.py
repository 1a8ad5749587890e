"""docs/embedding.md's caller-owned loop runs as printed, with a scripted model for MODEL."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.conftest import need, write_script
from vlagent.agent.cli.demo_robot import pick_script

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"


def test_the_control_loop_in_the_docs_completes_the_task(tmp_path: Path) -> None:
    need("mujoco")
    from vlagent.environments.sim_pick import SimPickEnvironment

    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert code is not None
    lines = code.group(1).splitlines()
    assert len([line for line in lines if line.strip()]) <= 20  # "a loop in 20 lines"
    probe = SimPickEnvironment(seed=0)
    try:
        answers = pick_script(probe.observe())
    finally:
        probe.close()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code.group(1), {"MODEL": f"scripted:{write_script(tmp_path / 'a.txt', answers)}"})
    assert printed.getvalue().startswith("success the simulator says the cube is on the target")
