"""The UI-test cache's guarantees, class by class, without a device: a recorded verdict is reused
only on an unchanged screen (act's final ``terminate`` included), cache keys follow the node id,
the verb, the instruction and its occurrence, and no secret's value reaches a plan folder.
(The same guarantees on the virtual phone, through pytest: test_uitest_scenarios.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ImageDraw

from tests.conftest import tool_call
from vlagent.agent import Agent
from vlagent.agent.replay.healing import HealingRuntime
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.trajectory import Recorder, Trajectory, read_trajectory
from vlagent.agent.uitest import options
from vlagent.agent.uitest.plans import MODES, PlanCache, folder_of
from vlagent.environments import MemoryEnvironment, Observation
from vlagent.prompts import get_dialect
from vlagent.tools.escapes import escaped_forms
from vlagent.tools.secrets import Secret

CLICK = tool_call("computer_use", action="left_click", coordinate=[250, 250])
DONE = tool_call("computer_use", action="terminate", status="success")
FAILED = tool_call("computer_use", action="terminate", status="failure")
SIZE = (320, 200)


class Changed(MemoryEnvironment):
    """The canvas, with a black patch drawn on every screen after the first action: what a
    dropped letter or another word does to a final screen (a few pixels, far under the 4% of
    tiles the replay rule lets change)."""

    def __init__(self, patch: tuple[int, int, int, int] | None) -> None:
        super().__init__(SIZE)
        self.patch = patch

    def observe(self) -> Observation:
        observation = super().observe()
        if self.patch is not None and self.log:
            x, y, w, h = self.patch
            ImageDraw.Draw(observation.image).rectangle([x, y, x + w, y + h], fill="black")
        return observation


def _recorded(folder: Path) -> Trajectory:
    result = Agent(
        ScriptedRuntime([CLICK, DONE]),
        get_dialect("qwen2-vl"),
        MemoryEnvironment(SIZE),
        recorder=Recorder(folder),
    ).run("click it and make sure it is saved")
    assert result.status == "success"
    return read_trajectory(folder)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Trajectory:
    return _recorded(tmp_path_factory.mktemp("recorded") / "run")


def _replayed(recording: Trajectory, patch: tuple[int, int, int, int] | None) -> tuple:  # type: ignore[type-arg]
    model = ScriptedRuntime([FAILED])  # the app is broken: a model that looks says so
    healing = HealingRuntime(recording, model)
    result = Agent(healing, get_dialect("qwen2-vl"), Changed(patch), review=healing.review).run(
        "click it and make sure it is saved"
    )
    return result, healing


# A patch away from the click (at 80, 50): the replay rule replays the click on any of them.
PATCHES = st.tuples(
    st.integers(150, 300), st.integers(100, 180), st.integers(3, 16), st.integers(3, 12)
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(patch=PATCHES)
def test_a_recorded_verdict_is_never_reused_on_a_changed_screen(
    recording: Trajectory, patch: tuple[int, int, int, int]
) -> None:
    result, healing = _replayed(recording, patch)
    assert healing.judged == [1] and healing.healed == []  # the click replayed, the end judged
    assert result.status == "failure"  # the model's verdict, not the recorded success


def test_the_dropped_letter_example_fails_instead_of_passing(recording: Trajectory) -> None:
    # One narrow letter's worth of ink: 0.2% of the screen, under every replay threshold.
    result, healing = _replayed(recording, (200, 150, 6, 9))
    assert result.status == "failure" and healing.judged == [1]


def test_an_unchanged_final_screen_reuses_the_verdict_and_says_no_model_judged_it(
    recording: Trajectory,
) -> None:
    result, healing = _replayed(recording, None)
    assert result.status == "success" and healing.judged == healing.healed == []
    assert "no model judged this run" in result.reason
    assert result.replay is not None and result.replay.ended_as_recorded


def test_a_model_that_acts_after_the_verdict_was_due_is_healing_not_judging(
    recording: Trajectory,
) -> None:
    model = ScriptedRuntime([CLICK, DONE])  # another click, then success: not the recording's end
    healing = HealingRuntime(recording, model)
    result = Agent(
        healing, get_dialect("qwen2-vl"), Changed((200, 150, 8, 8)), review=healing.review
    ).run("click it and make sure it is saved")
    assert healing.healed == [1] and healing.judged == [2]
    assert result.status == "unverified"


# -- keys ----------------------------------------------------------------------------------------

NODE_IDS = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=60
).map(lambda tail: f"tests/test_x.py::test_{tail}")


@settings(max_examples=100, deadline=None)
@given(first=NODE_IDS, second=NODE_IDS)
def test_two_node_ids_never_share_a_cache_folder(first: str, second: str) -> None:
    base = Path("/plans")
    assert (folder_of(base, first) == folder_of(base, second)) == (first == second)
    assert folder_of(base, first).parent == base  # one level, whatever the id holds


def test_same_named_tests_in_two_files_and_parameters_get_their_own_folders() -> None:
    ids = [
        "test_a.py::test_count",
        "test_b.py::test_count",
        "test_a.py::TestX::test_count",
        "test_a.py::test_p[a b]",
        "test_a.py::test_p[a_b]",
        "test_a.py::test_p[a/b]",
    ]
    assert len({folder_of(Path("p"), i) for i in ids}) == len(ids)


VERBS = st.sampled_from(["act", "tap", "check", "query", "wait_for", "locate", "type_text"])
INSTRUCTIONS = st.text(min_size=0, max_size=80)


@settings(max_examples=100, deadline=None)
@given(
    verbs=st.lists(st.tuples(VERBS, INSTRUCTIONS), min_size=1, max_size=8),
    inserted=st.tuples(VERBS, INSTRUCTIONS),
    at=st.integers(0, 8),
)
def test_inserting_a_verb_keeps_every_other_entry(
    verbs: list[tuple[str, str]], inserted: tuple[str, str], at: int
) -> None:
    before = PlanCache(Path("/p"), "read")
    names = [before.entry(verb, text).name for verb, text in verbs]
    after = PlanCache(Path("/p"), "read")
    changed = [*verbs[:at], inserted, *verbs[at:]]
    new = [after.entry(verb, text).name for verb, text in changed]
    assert len(set(names)) == len(names)  # each verb of a test has its own entry
    kept = set(new) & set(names)
    # Only the inserted verb's entry, and the occurrences it shifted of its own key, are new.
    assert len(set(new) - kept) <= 1
    assert all(len(name) <= 120 for name in new)


def test_a_repeated_verb_is_keyed_by_its_occurrence() -> None:
    cache = PlanCache(Path("/p"), "read")
    first, other, second = (
        cache.entry("check", "saved"),
        cache.entry("tap", "Save"),
        cache.entry("check", "saved"),
    )
    assert first != second and second.name == first.name + "-2" and other.name.startswith("tap-")


def test_the_plugin_spells_the_cache_modes_as_the_cache_does() -> None:
    assert options.CACHE_MODES == MODES


# -- secrets -------------------------------------------------------------------------------------

VALUES = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=6, max_size=24
).filter(lambda v: v.strip() == v and "{" not in v)


def _run_holding(folder: Path, value: str) -> Path:
    """A recorded run whose lines hold ``value`` raw and escaped (what a recorder that missed it
    would write)."""
    folder.mkdir(parents=True)
    lines = [{"type": "step", "output_text": form} for form in escaped_forms(value)]
    lines.append({"type": "end", "reason": f"typed {json.dumps(value)}", "raw": value})
    (folder / "trajectory.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    (folder / "note.txt").write_text(f"value: {value}\n")
    return folder


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=VALUES)
def test_no_secret_value_reaches_a_plan_folder(
    tmp_path_factory: pytest.TempPathFactory, value: str
) -> None:
    root = tmp_path_factory.mktemp("plans")
    secret = Secret(value, "PASSWORD")
    cache = PlanCache(
        folder_of(root / "vl-plans", "t.py::test_login"), "update", "t.py::test_login"
    )
    entry = cache.entry("act", f"log in with {value}")
    cache.store(entry, _run_holding(root / "run", value))
    for path in (root / "vl-plans").rglob("*"):
        assert value not in str(path.relative_to(root))
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            assert all(form not in text for form in escaped_forms(value) if len(form) >= 6)
    assert "{{PASSWORD}}" in (entry / "trajectory.jsonl").read_text()
    del secret
