"""AITW and AndroidControl as distributed (GZIP TFRecords of tf.train.Example), read without
TensorFlow. The fixtures were written by TensorFlow's own TFRecord writer and android_env's own
accessibility protos (`tests/data/tfrecord/make_fixtures.py`), not by the code under test."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import tool_call, write_script
from vlagent.agent.cli import main
from vlagent.agent.evaluation import SCORERS, DatasetError, load_dataset, score
from vlagent.agent.evaluation.tfrecord import example, records

DATA = Path(__file__).parents[1] / "data" / "tfrecord"
AITW = DATA / "aitw-sample.tfrecord.gz"
CONTROL = DATA / "androidcontrol-sample.tfrecord.gz"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLAGENT_CACHE", str(tmp_path / "cache"))


def test_aitw_steps_become_episodes_with_their_screens_and_boxes() -> None:
    episodes = {e.id: e for e in load_dataset(AITW, "aitw")}
    assert set(episodes) == {"1001", "1002"} and episodes["1001"].goal == "open the clock app"
    first = episodes["1001"].steps
    assert [s.arguments["action"] for s in first] == ["click", "swipe", "type", "terminate"]
    assert first[0].arguments["coordinate"] == pytest.approx([0.5, 0.3])  # (y, x) → [x, y]
    assert first[2].arguments["text"] == "7:30"
    assert first[0].elements[0] == pytest.approx((0.25, 0.25, 0.75, 0.5))  # (y, x, h, w) → box
    with Image.open(first[1].image) as shot:  # raw uint8 pixels, as written
        assert shot.size == (40, 80) and shot.getpixel((0, 0)) == (201, 201, 201)
        assert shot.getpixel((20, 30)) == (30, 120, 230)
    assert [s.arguments.get("button") for s in episodes["1002"].steps] == ["Home", None]


def test_androidcontrol_episodes_levels_splits_and_leaf_boxes() -> None:
    high = load_dataset(CONTROL, "androidcontrol")
    assert [e.id for e in high] == ["20001", "20002"] and all(
        s.instruction is None for s in high[0].steps
    )
    low = load_dataset(CONTROL, "androidcontrol", level="low")
    assert [s.instruction for s in low[0].steps] == [
        "Open the Clock app",
        "Tap Alarm",
        "Scroll down",
        "Type 7:30",
        "Go back",
    ]
    step = low[0].steps[1]
    assert step.arguments == {"action": "click", "coordinate": [200 / 720, 240 / 1280]}
    # The tree's full-screen FrameLayout is not an element; the button and the field are.
    assert step.elements == (
        (100 / 720, 200 / 1280, 300 / 720, 280 / 1280),
        (20 / 720, 600 / 1280, 700 / 720, 680 / 1280),
    )
    with Image.open(step.image) as shot:
        assert shot.size == (720, 1280)
    assert [e.id for e in load_dataset(DATA, "androidcontrol", split="test")] == ["20001"]
    with pytest.raises(DatasetError, match="no split 'dev'"):
        load_dataset(DATA, "androidcontrol", split="dev")


def _evaluate(script: Path, out: Path, *flags: str) -> list[dict[str, Any]]:
    """``agent eval`` of the AndroidControl file with scripted answers: its prediction lines."""
    assert (
        main(["eval", str(CONTROL), "--model", f"scripted:{script}", "--out", str(out), *flags])
        == 0
    )
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_agent_eval_scores_the_tfrecords_and_a_far_click_is_wrong(tmp_path: Path) -> None:
    answers = [
        tool_call(action="open", text="Clock"),
        tool_call(action="click", coordinate=[800, 800]),  # far from the Alarm button
        tool_call(action="swipe", coordinate=[500, 500], coordinate2=[500, 200]),  # finger up
        tool_call(action="type", text="7:30"),
        tool_call(action="system_button", button="Back"),
    ]
    script = write_script(tmp_path / "a.txt", answers)
    out = tmp_path / "eval"
    lines = _evaluate(script, out, *"--split test --level low".split())
    # Under AndroidControl's published protocol (qwen-androidcontrol): the app name matches; the
    # far click is wrong (the target is the Alarm button, not the full-screen container); the
    # content scrolls down as the finger moves up; the text and Back are right.
    assert [line["exact_match"] for line in lines] == [True, False, True, True, True]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["level"] == "low" and metrics["settings"]["split"] == "test"
    assert metrics["settings"]["protocol"]["name"] == "qwen-androidcontrol"
    assert metrics["settings"]["protocol"]["overrides"] == {}
    assert metrics["settings"]["scorer"]["name"] == "qwen-androidcontrol"
    assert metrics["settings"]["scorer"]["departures"]
    # The same answers under Google's AITW rule (an override of the protocol): the far click is
    # still wrong, as no leaf element holds both points.
    again = tmp_path / "aitw"
    lines = _evaluate(script, again, *"--split test --level low --scorer aitw".split())
    assert lines[1]["exact_match"] is False
    assert json.loads((again / "metrics.json").read_text())["settings"]["protocol"][
        "overrides"
    ] == {"scorer": "aitw"}


def test_with_the_ui_tree_a_tap_by_element_number_is_scored_on_that_elements_centre(
    tmp_path: Path,
) -> None:
    episode = load_dataset(CONTROL, "androidcontrol", split="test")[0]
    listed = episode.steps[1].ui_tree or ()
    alarm = next(i for i, e in enumerate(listed) if "Alarm" in (e.text, e.description))
    search = next(i for i, e in enumerate(listed) if "Search" in (e.text, e.description))
    answers = [
        tool_call(action="open", text="Clock"),
        tool_call(action="click", element=alarm),
        tool_call(action="click", element=search),
        tool_call(action="type", text="7:30"),
        tool_call(action="click", element=len(listed)),
    ]
    script = write_script(tmp_path / "a.txt", answers)
    out = tmp_path / "eval"
    lines = _evaluate(script, out, *"--split test --level low --ui-tree".split())
    left, top, right, bottom = listed[alarm].bounds
    with Image.open(episode.steps[1].image) as shot:
        width, height = shot.size
    assert lines[1]["parsed"]["arguments"]["coordinate"] == [
        (left + right) / 2 / width,
        (top + bottom) / 2 / height,
    ]
    assert lines[1]["exact_match"] is True  # the Alarm button, the gold target
    assert lines[2]["exact_match"] is False  # a tap where a swipe was due
    assert lines[4]["parsed"] is None and "is not in the list" in lines[4]["reason"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["protocol"]["overrides"] == {"ui_tree": True}


def test_a_tap_is_scored_by_its_target_element(tmp_path: Path) -> None:
    """The target of a tap is the smallest clickable or leaf node holding it; the full-screen
    container never is. A click inside the Alarm button but farther than 0.04·max(W, H) from the
    gold point is right by the box; one as far outside it is wrong."""
    episode = load_dataset(CONTROL, "androidcontrol", split="test")[0]
    tap = episode.steps[1]
    assert tap.targets == ((100 / 720, 200 / 1280, 300 / 720, 280 / 1280),)
    assert episode.steps[0].targets == ()  # no node is labelled "Clock"
    scorer = SCORERS["qwen-androidcontrol"]
    inside = score(
        tap,
        "mobile_use",
        {"action": "click", "coordinate": [295 / 720, 275 / 1280]},
        scorer,
        seen=(728, 1288),
    )
    outside = score(
        tap,
        "mobile_use",
        {"action": "click", "coordinate": [105 / 720, 305 / 1280]},
        scorer,
        seen=(728, 1288),
    )
    assert inside.exact_match and not outside.exact_match, (inside.reason, outside.reason)


def test_a_damaged_file_is_one_clear_error(tmp_path: Path) -> None:
    damaged = tmp_path / "android_control-00000-of-00001"
    damaged.write_bytes(gzip.compress(gzip.decompress(CONTROL.read_bytes())[:-200]))
    with pytest.raises(DatasetError, match="ends inside a record"):
        load_dataset(damaged, "androidcontrol")


def _tensorflow_python() -> str:
    """A Python that has TensorFlow: ``VLAGENT_TENSORFLOW_PYTHON`` (CI makes a venv of its own
    for it, as vlagent never needs TensorFlow), else this one if it has it; skipped otherwise,
    except under CI=true."""
    given = os.environ.get("VLAGENT_TENSORFLOW_PYTHON")
    if given:
        return given
    if importlib.util.find_spec("tensorflow") is not None:
        return sys.executable
    if os.environ.get("CI") == "true":
        pytest.fail(
            "CI needs TensorFlow for this cross-check: set VLAGENT_TENSORFLOW_PYTHON (.ci/run does)"
        )
    pytest.skip(
        "an optional cross-check: pip install tensorflow-cpu, or set VLAGENT_TENSORFLOW_PYTHON"
    )


def test_our_reading_equals_tensorflows() -> None:
    """Both fixture files, read by TensorFlow's own TFRecord reader and Example parser in another
    process, give exactly the features ours gives."""
    script = Path(__file__).parents[1] / "data" / "tfrecord" / "read_with_tensorflow.py"
    done = subprocess.run(
        [_tensorflow_python(), str(script), str(AITW), str(CONTROL)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout)

    def plain(v: object) -> object:
        return base64.b64decode(v["b64"]) if isinstance(v, dict) else v

    for path in (AITW, CONTROL):
        ours = [example(record) for record in records(path)]
        assert len(ours) == len(theirs[str(path)]) > 0
        assert ours == [
            {k: [plain(v) for v in vs] for k, vs in e.items()} for e in theirs[str(path)]
        ]
