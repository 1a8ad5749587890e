"""``agent demo --robot``: a scripted pick-and-place on the simulated arm (``sim-pick``), offline.

The scripted model finds the red cube and the green square in the top camera's image by their
colour (a real model reads the images), then points at them; the simulator judges the result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlagent.agent.cli.demo import scripted_episode
from vlagent.agent.core.context import RunListener
from vlagent.agent.core.steps import RunResult
from vlagent.environments import Observation

GOAL = "Put the red cube on the green square"


def _call(name: str, **arguments: Any) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def colour_centre(obs: Observation, camera: str, colour: str) -> list[int]:
    """Where the red cube or the green square is on ``camera``'s image, in Qwen2-VL's relative
    0–1000 coordinates (the centre of the pixels of that colour)."""
    import numpy as np

    pixels = np.asarray(obs.image_named(camera)).astype(int)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    mask = (
        (red - green > 80) & (red - blue > 80)
        if colour == "red"
        else (green - red > 80) & (green - blue > 60)
    )
    ys, xs = np.nonzero(mask)
    if not len(xs):
        raise ValueError(f"nothing {colour} on the {camera} camera")
    height, width = mask.shape
    return [round((xs.mean() + 0.5) / width * 1000), round((ys.mean() + 0.5) / height * 1000)]


def pick_script(obs: Observation) -> list[str]:
    """Answers that pick the cube seen in ``obs`` and place it on the square (qwen2-vl format)."""
    cube, square = colour_centre(obs, "top", "red"), colour_centre(obs, "top", "green")
    return [
        "The cube is on the left; I move onto it.\n" + _call("move_to", camera="top", point=cube),
        _call("grasp"),
        _call("move_to", camera="top", point=square, height=0.05),
        _call("release"),
        _call("finish", status="success"),
    ]


def run_robot_demo(out: Path, seed: int = 0, listeners: Sequence[RunListener] = ()) -> RunResult:
    """Run the pick-and-place demo on the simulated arm, recording into ``out``."""
    from vlagent.environments.sim_pick import SimPickEnvironment

    environment = SimPickEnvironment(seed=seed)
    return scripted_episode(
        environment,
        lambda: pick_script(environment.observe()),
        GOAL,
        out,
        listeners,
        "the built-in robot demo",
    )
