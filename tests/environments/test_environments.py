"""The environment protocol: make(), the checker, the in-memory canvas, wrappers, pixel math."""

from __future__ import annotations

import pytest
from PIL import Image
from pydantic import BaseModel

from vlagent import environments
from vlagent.environments import (
    ActionResult,
    DryRun,
    Environment,
    EnvironmentCheckError,
    EnvironmentUnavailable,
    MemoryEnvironment,
    Observation,
    check_environment,
)
from vlagent.tools import ToolCall, ToolSet, mobile_tools


def test_make_builds_registered_environments_with_options() -> None:
    env = environments.make("memory", size="720x1280", space="mobile", scale=2.0)
    assert isinstance(env, MemoryEnvironment)
    obs = env.observe()
    assert obs.size == (720, 1280) and obs.scale == 2.0
    assert env.toolset.names == ["mobile_use"]


def test_make_errors_name_what_exists() -> None:
    with pytest.raises(
        EnvironmentUnavailable,
        match="unknown environment 'androidd'; available: android, desktop, gym, memory, sim-pick",
    ):
        environments.make("androidd")
    with pytest.raises(
        EnvironmentUnavailable, match=r"has no option 'serial' \(it takes: size, space, scale\)"
    ):
        environments.make("memory", serial="emulator-5554")
    with pytest.raises(EnvironmentUnavailable, match="is not WIDTHxHEIGHT"):
        environments.make("memory", size="big")


def test_memory_environment_passes_the_checker() -> None:
    check_environment(MemoryEnvironment(space="mobile"))
    check_environment(MemoryEnvironment(space="computer"))
    check_environment(DryRun(MemoryEnvironment()))


class Broken(Environment):
    name = "broken"

    @property
    def toolset(self) -> ToolSet:
        return mobile_tools()

    def observe(self) -> Observation:
        observation = Observation(
            Image.new("RGB", (10, 10)), scale=0, metadata={"foreground": ["com.a"]}
        )
        observation.image = Image.new(
            "RGBA", (10, 10)
        )  # swapped after the constructor converted it
        return observation

    def execute(self, action: BaseModel) -> ActionResult:
        return "done"  # type: ignore[return-value]


def test_the_checker_names_every_broken_rule() -> None:
    with pytest.raises(EnvironmentCheckError) as error:
        check_environment(Broken())
    message = str(error.value)
    assert "RGB mode" in message and "scale 0 must be positive" in message
    assert "execute() returned str" in message
    assert "metadata['foreground'] is ['com.a']" in message


def test_an_observation_takes_any_image_mode_and_arrays() -> None:
    import numpy as np

    assert Observation(Image.new("RGBA", (10, 10))).image.mode == "RGB"
    floats = Observation(np.full((4, 6, 3), 0.5), views={"wrist": np.zeros((2, 3), np.uint8)})
    assert floats.size == (6, 4) and floats.image.getpixel((0, 0)) == (128, 128, 128)
    assert floats.views["wrist"].mode == "RGB" and floats.views["wrist"].size == (3, 2)
    with pytest.raises(ValueError, match="H×W×3"):
        Observation(np.zeros((4, 6, 5), np.uint8))
    with pytest.raises(ValueError, match="becomes part of a file name"):
        Observation(Image.new("RGB", (4, 4)), views={"../x": Image.new("RGB", (4, 4))})
    with pytest.raises(ValueError, match="not images of this observation"):
        Observation(Image.new("RGB", (4, 4)), depth={"wrist": np.zeros((4, 4))})


def test_memory_environment_records_device_points_and_draws() -> None:
    env = MemoryEnvironment(size=(1000, 500), space="mobile", scale=2.0)
    before = env.observe().image.tobytes()
    action = env.toolset.validate(
        ToolCall("mobile_use", {"action": "click", "coordinate": [0.25, 0.5]})
    )
    assert env.execute(action).ok
    assert env.log == [
        {
            "tool": "mobile_use",
            "action": "click",
            "coordinate": [0.25, 0.5],
            "coordinate_device": (500.0, 500.0),
        }
    ]
    assert env.observe().image.tobytes() != before


def test_dry_run_observes_but_executes_nothing() -> None:
    inner = MemoryEnvironment(space="mobile")
    env = DryRun(inner)
    action = env.toolset.validate(ToolCall("mobile_use", {"action": "type", "text": "x"}))
    result = env.execute(action)
    assert result.executed is False and "dry run" in result.message
    assert inner.log == [] and env.describe()["dry_run"] is True


@pytest.mark.parametrize(
    ("point", "pixel"),
    [
        ((0.0, 0.0), (0, 0)),
        ((1.0, 1.0), (1279, 799)),
        ((0.5, 0.5), (640, 400)),
        ((0.3336, 0.0), (427, 0)),
    ],
)
def test_pixels_are_rounded_and_kept_on_screen(
    point: tuple[float, float], pixel: tuple[int, int]
) -> None:
    assert Observation(Image.new("RGB", (1280, 800))).to_pixel(point) == pixel


def test_context_manager_closes() -> None:
    with MemoryEnvironment() as env:
        env.observe()
    with pytest.raises(EnvironmentUnavailable, match="closed"):
        env.observe()


def test_drag_goes_from_the_pointer_to_the_point() -> None:
    env = MemoryEnvironment(size=(100, 100), space="computer")
    for arguments in (
        {"action": "mouse_move", "coordinate": [0.1, 0.5]},
        {"action": "left_click_drag", "coordinate": [0.9, 0.5]},
    ):
        env.execute(env.toolset.validate(ToolCall("computer_use", arguments)))
    pixels = env.observe().image
    assert pixels.getpixel((30, 50)) == (0, 0, 0) and pixels.getpixel((80, 50)) == (0, 0, 0)
    assert pixels.getpixel((50, 20)) == (255, 255, 255)
