"""What "the same screen" means beyond pixels: the app in front, where the environment names it,
and the words of the element an action will touch, where both screens list their elements.
Replay, self-healing and cached answers do not reuse a recorded step when either differs, however
alike the pixels (the live wiring on real programs: tests/agent/test_replay.py on the virtual
phone, tests/environments/test_desktop.py on a Tk app)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import tool_call
from vlagent.agent import Agent
from vlagent.agent.replay.compare import compare_screens, compare_unchanged
from vlagent.agent.replay.healing import HealingRuntime
from vlagent.agent.replay.replayer import replay
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.trajectory import Recorder, Trajectory, read_trajectory
from vlagent.agent.uitest.plans import AnswerReplay
from vlagent.environments import MemoryEnvironment, Observation, UIElement
from vlagent.prompts import get_dialect

CLICK = tool_call("computer_use", action="left_click", coordinate=[500, 500])
DONE = tool_call("computer_use", action="terminate", status="success")


class Saying(MemoryEnvironment):
    """The memory canvas, saying which app is in front (as the desktop and Android do) or listing
    one button around the middle whose words are ``label`` (as Android with its UI tree does)."""

    def __init__(self, app: str | None = None, label: str | None = None) -> None:
        super().__init__()
        self.app, self.label = app, label

    def observe(self) -> Observation:
        observation = super().observe()
        if self.app is not None:
            observation.metadata["foreground"] = self.app
        if self.label is not None:
            observation.elements = [
                UIElement(bounds=(400, 200, 880, 600), text=self.label, clickable=True),
                UIElement(bounds=(0, 0, 1280, 800), description="window"),
            ]
        return observation


def _recorded(tmp_path: Path) -> Trajectory:
    result = Agent(
        ScriptedRuntime([CLICK, DONE]),
        get_dialect("qwen2-vl"),
        Saying(app="Notes"),
        recorder=Recorder(tmp_path / "recorded"),
    ).run("click the middle")
    assert result.status == "success"
    trajectory = read_trajectory(tmp_path / "recorded")
    assert [(s.metadata or {}).get("foreground") for s in trajectory.steps] == ["Notes", "Notes"]
    return trajectory


@pytest.mark.parametrize(("app", "planned"), [("Notes", []), ("Mail", [0, 1])])
def test_self_healing_plans_every_step_taken_with_another_app_in_front(
    tmp_path: Path, app: str, planned: list[int]
) -> None:
    healing = HealingRuntime(_recorded(tmp_path), ScriptedRuntime([CLICK, DONE]))
    environment = Saying(app=app)
    assert (
        Agent(healing, get_dialect("qwen2-vl"), environment).run("click the middle").status
        == "success"
    )
    assert healing.healed == planned
    assert [entry["action"] for entry in environment.log] == ["left_click"]


@pytest.mark.parametrize(("app", "model_calls"), [("Notes", 0), ("Mail", 2)])
def test_a_cached_tap_answer_is_not_reused_with_another_app_in_front(
    tmp_path: Path, app: str, model_calls: int
) -> None:
    cache = AnswerReplay(_recorded(tmp_path), ScriptedRuntime([CLICK, DONE]), at_point=True)
    assert (
        Agent(cache, get_dialect("qwen2-vl"), Saying(app=app)).run("click the middle").status
        == "success"
    )
    assert cache.model_calls == model_calls


def _recorded_on_a_button(tmp_path: Path) -> Trajectory:
    Agent(
        ScriptedRuntime([CLICK, DONE]),
        get_dialect("qwen2-vl"),
        Saying(label="Save"),
        recorder=Recorder(tmp_path / "recorded"),
    ).run("press the button")
    trajectory = read_trajectory(tmp_path / "recorded")
    assert (
        trajectory.steps[0].elements is not None and trajectory.steps[0].elements[0].text == "Save"
    )
    return trajectory


def test_replay_stops_where_the_element_it_would_press_says_something_else(tmp_path: Path) -> None:
    trajectory = _recorded_on_a_button(tmp_path)
    assert replay(trajectory, Saying(label="Save"), speed=0).ok
    relabelled = Saying(label="Delete")
    result = replay(trajectory, relabelled, speed=0, out=tmp_path / "div")
    assert result.diverged_at == 0 and relabelled.log == []  # nothing was pressed
    assert result.reason.endswith(
        "the element where the action will touch now says 'Delete' (recorded 'Save')"
    )


def test_self_healing_plans_the_step_whose_element_changed(tmp_path: Path) -> None:
    healing = HealingRuntime(_recorded_on_a_button(tmp_path), ScriptedRuntime([CLICK]))
    assert (
        Agent(healing, get_dialect("qwen2-vl"), Saying(label="Delete")).run("press it").status
        == "success"
    )
    assert healing.healed == [0]  # the terminate step has no target: the pixels decide, and match


def test_element_words_decide_only_where_both_screens_name_them() -> None:
    from PIL import Image

    screen = Image.new("RGB", (200, 100), "white")
    assert not compare_screens(screen, screen, (0.5, 0.5), words=("Save", "Delete")).same
    assert compare_screens(screen, screen, (0.5, 0.5), words=("Save", None)).same
    assert compare_screens(screen, screen, (0.5, 0.5), words=("Save", "Save")).same


@settings(max_examples=60, deadline=None)
@given(
    before=st.tuples(*[st.integers(0, 255)] * 3),
    after=st.tuples(*[st.integers(0, 255)] * 3),
    size=st.integers(12, 60),
)
def test_a_patch_that_changed_colour_is_a_changed_screen_even_at_the_same_brightness(
    before: tuple[int, int, int], after: tuple[int, int, int], size: int
) -> None:
    """A status light turning from green to red of one brightness (one grey) is the change a
    cached check is about: no cached answer is reused on it, and a replay sees it where it acts."""
    assume(max(abs(a - b) for a, b in zip(before, after)) > 60)
    screens = []
    for colour in (before, after):
        screen = Image.new("RGB", (400, 300), "white")
        screen.paste(colour, (100, 100, 100 + size, 100 + size))
        screens.append(screen)
    assert not compare_unchanged(*screens).same
    target = ((100 + size / 2) / 400, (100 + size / 2) / 300)
    assert not compare_screens(*screens, target=target).same
