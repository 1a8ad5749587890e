"""Building and running the simulated arm leaves ``os.environ`` as the caller set it: MuJoCo's GL
backend is the caller's choice (``MUJOCO_GL``), never written by the library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import need

_RUN = """
import json, os
before = dict(os.environ)
from vlagent.environments import EnvironmentUnavailable, to_gym
from vlagent.environments.sim_pick import SimPickEnvironment
from vlagent.environments.sim_pick.environment import Grasp, MoveTo
try:
    arm = SimPickEnvironment(seed=1)
except EnvironmentUnavailable as exc:
    outcome = "unavailable: " + str(exc)
else:
    arm.observe()
    arm.execute(MoveTo(position=(0.0, 0.0, 0.1)))
    arm.execute(Grasp())
    env = to_gym(arm)
    env.reset(seed=2)
    env.step(env.unwrapped.action("release"))
    env.close()
    outcome = "ran"
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
print(json.dumps({"outcome": outcome, "changed": changed}))
"""


def _run(environ: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _without_gl() -> dict[str, str]:
    drop = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_building_and_running_the_arm_leaves_os_environ_unchanged() -> None:
    need("mujoco")
    need("gymnasium")
    result = _run({**_without_gl(), "MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "osmesa"})
    assert result == {"outcome": "ran", "changed": []}


def test_with_no_backend_chosen_and_no_display_the_arm_says_what_to_set() -> None:
    need("mujoco")
    result = _run(_without_gl())
    assert result["changed"] == []
    outcome = str(result["outcome"])
    assert outcome.startswith("unavailable: MuJoCo cannot render here") and "MUJOCO_GL=" in outcome
    assert "\n" not in outcome


def test_building_the_arm_in_this_process_leaves_os_environ_unchanged(sim_arm) -> None:  # type: ignore[no-untyped-def]
    before = dict(os.environ)
    arm = sim_arm(4)
    arm.observe()
    assert dict(os.environ) == before
