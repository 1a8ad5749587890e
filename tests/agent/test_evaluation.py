"""Step-wise evaluation on the real AITZ episode, with metrics computed by hand in the tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import tool_call, write_script
from vlagent.agent.cli import main
from vlagent.agent.evaluation import SCORERS, GoldStep, load_dataset, score
from vlagent.agent.evaluation.formats import aitw_action

AITZ = Path(__file__).parents[1] / "data" / "aitz-episode"
# The gold actions of the episode in Qwen2-VL's 0-1000 space (the scripted model's language).
HOME = tool_call(action="system_button", button="Home")
SCROLL_UP = tool_call(
    action="swipe", coordinate=[507, 541], coordinate2=[579, 1]
)  # finger moves up
CLOCK = tool_call(action="click", coordinate=[607, 498])
DONE = tool_call(action="terminate", status="success")


def evaluate(tmp_path: Path, answers: list[str], *extra: str, name: str = "eval") -> dict:  # type: ignore[type-arg]
    script = write_script(tmp_path / f"{name}.txt", answers)
    out = tmp_path / name
    assert (
        main(
            [
                "eval",
                str(AITZ),
                "--format",
                "aitz",
                "--model",
                f"scripted:{script}",
                "--out",
                str(out),
                *extra,
            ]
        )
        == 0
    )
    return json.loads((out / "metrics.json").read_text())  # type: ignore[no-any-return]


def clock_at(distance: float) -> str:
    """A click ``distance`` (normalized) to the right of the gold Clock tap, in 0-1000 units."""
    x, y = 0.6069772839546204 + distance, 0.49836206436157227
    return tool_call(action="click", coordinate=[x * 1000, y * 1000])


def test_every_step_right_scores_one_everywhere(tmp_path: Path) -> None:
    metrics = evaluate(tmp_path, [HOME, SCROLL_UP, CLOCK, DONE])
    for name in ("type_match", "exact_match", "success_rate", "goal_progress", "parse_rate"):
        assert metrics[name] == 1.0, name
    assert metrics["steps"] == 4 and metrics["episodes"] == 1
    assert metrics["per_type"] == {
        "complete": {"steps": 1, "type_match": 1.0, "exact_match": 1.0},
        "click": {"steps": 1, "type_match": 1.0, "exact_match": 1.0},
        "home": {"steps": 1, "type_match": 1.0, "exact_match": 1.0},
        "swipe": {"steps": 1, "type_match": 1.0, "exact_match": 1.0},
    }
    settings = metrics["settings"]
    assert settings["scorer"]["name"] == "qwen-aitz" and settings["scorer"]["distance"] == 0.14
    assert settings["dialect"] == "qwen2-vl" and settings["format"] == "aitz"


def test_partly_wrong_predictions_under_each_rule(tmp_path: Path) -> None:
    # step 0 right; step 1 scrolls the other way; step 2 taps 0.039 away; step 3 presses Back.
    answers = [
        HOME,
        tool_call(action="swipe", coordinate=[507, 1], coordinate2=[579, 541]),
        clock_at(0.039),
        tool_call(action="system_button", button="Back"),
    ]
    qwen = evaluate(tmp_path, answers, name="qwen")
    # By hand: type matches 3/4 (Back is not a stop); exact 2/4 (home, the tap within 0.14);
    # no episode fully right; the correct prefix is 1 step of 4.
    assert (
        qwen["type_match"],
        qwen["exact_match"],
        qwen["success_rate"],
        qwen["goal_progress"],
    ) == (0.75, 0.5, 0.0, 0.25)
    assert (
        qwen["per_type"]["swipe"]["exact_match"] == 0.0
        and qwen["per_type"]["complete"]["type_match"] == 0.0
    )
    aitz = evaluate(tmp_path, answers, "--scorer", "aitz", name="aitz")
    # AITZ's own rule: the gold Clock tap lies in no element box, so only that very point is right.
    assert (aitz["type_match"], aitz["exact_match"], aitz["goal_progress"]) == (0.75, 0.25, 0.25)
    aitw = evaluate(tmp_path, answers, "--scorer", "aitw", name="aitw")
    # AITW compares the axis only: the reversed scroll counts, so the prefix reaches step 3.
    assert (aitw["type_match"], aitw["exact_match"], aitw["goal_progress"]) == (0.75, 0.75, 0.75)
    strict = evaluate(tmp_path, answers, "--scorer", "aitw-strict", name="strict")
    assert (strict["exact_match"], strict["goal_progress"]) == (0.5, 0.25)


@pytest.mark.parametrize(
    ("distance", "exact"), [(0.039, True), (0.041, True), (0.139, True), (0.141, False)]
)
def test_taps_just_inside_and_just_outside_the_thresholds(distance: float, exact: bool) -> None:
    gold = load_dataset(AITZ, "aitz")[0].steps[2]
    x, y = gold.arguments["coordinate"]
    predicted = {"action": "click", "coordinate": [x + distance, y]}
    assert math.isclose(math.dist(predicted["coordinate"], gold.arguments["coordinate"]), distance)
    assert score(gold, "mobile_use", predicted, SCORERS["qwen-aitz"]).exact_match is exact
    assert score(gold, "mobile_use", predicted, SCORERS["aitw"]).exact_match is exact
    assert not score(
        gold, "mobile_use", predicted, SCORERS["aitz"]
    ).exact_match  # in no element box


def test_a_tap_on_the_same_element_counts_however_far() -> None:
    box = (0.1, 0.1, 0.9, 0.2)  # a wide button
    gold = GoldStep(
        0, Path("x.png"), "mobile_use", {"action": "click", "coordinate": [0.12, 0.15]}, (box,)
    )
    far_inside = {"action": "click", "coordinate": [0.88, 0.15]}
    beside = {"action": "click", "coordinate": [0.5, 0.215]}  # outside the box ×1.2, inside it ×1.4
    for name in ("qwen-aitz", "aitz"):
        assert (
            score(gold, "mobile_use", far_inside, SCORERS[name]).reason
            == "in the gold element's box ×1.2"
        )
        assert not score(gold, "mobile_use", beside, SCORERS[name]).exact_match
    assert score(gold, "mobile_use", beside, SCORERS["aitw"]).exact_match


def test_an_androidcontrol_episode_with_actions_beyond_its_screenshots_is_refused(
    tmp_path: Path,
) -> None:
    from PIL import Image

    from vlagent.agent.evaluation.formats import DatasetError

    Image.new("RGB", (100, 200)).save(tmp_path / "0.png")
    (tmp_path / "ep.json").write_text(
        json.dumps(
            {
                "episode_id": "e",
                "goal": "g",
                "screenshots": ["0.png"],
                "actions": [{"action_type": "navigate_back"}, {"action_type": "navigate_home"}],
            }
        )
    )
    with pytest.raises(DatasetError, match="2 actions but 1 screenshots"):
        load_dataset(tmp_path, "androidcontrol")


FINGER = {
    "up": ([0.5, 0.8], [0.5, 0.2]),
    "down": ([0.5, 0.2], [0.5, 0.8]),
    "left": ([0.8, 0.5], [0.2, 0.5]),
    "right": ([0.2, 0.5], [0.8, 0.5]),
}
"""A swipe in each direction of the finger: (start, end), normalized."""


@pytest.mark.parametrize(
    ("content", "finger"), [("down", "up"), ("up", "down"), ("left", "right"), ("right", "left")]
)
def test_scroll_conventions(tmp_path: Path, content: str, finger: str) -> None:
    """AndroidControl names the content's direction, AITZ the finger's; both become the finger's."""
    from PIL import Image

    Image.new("RGB", (100, 200)).save(tmp_path / "0.png")
    (tmp_path / "ep.json").write_text(
        json.dumps(
            {
                "episode_id": "e",
                "goal": "scroll",
                "screenshots": ["0.png"],
                "actions": [{"action_type": "scroll", "direction": content}],
            }
        )
    )
    gold = load_dataset(tmp_path, "androidcontrol")[0].steps[0]
    for direction, (a, b) in FINGER.items():
        swipe = {"action": "swipe", "coordinate": a, "coordinate2": b}
        for name in ("qwen-aitz", "aitz"):
            assert score(gold, "mobile_use", swipe, SCORERS[name]).exact_match is (
                direction == finger
            )
        same_axis = (direction in ("up", "down")) == (finger in ("up", "down"))
        assert score(gold, "mobile_use", swipe, SCORERS["aitw"]).exact_match is same_axis


@pytest.mark.parametrize("gold_direction", ["up", "down", "left", "right"])
def test_aitw_swipes_keep_the_finger_direction_under_each_scorer(gold_direction: str) -> None:
    """AITW / AITZ record touch → lift: kept as the finger's motion. ``aitz`` and ``aitw-strict``
    need axis and sign; ``aitw`` (as the original code) only the axis."""
    (tx, ty), (lx, ly) = FINGER[gold_direction]
    arguments = aitw_action(4, [ty, tx], [ly, lx], "")  # AITW points are (y, x)
    assert arguments == {"action": "swipe", "coordinate": [tx, ty], "coordinate2": [lx, ly]}
    gold = GoldStep(0, Path("x.png"), "mobile_use", arguments)
    vertical = gold_direction in ("up", "down")
    for predicted, (a, b) in FINGER.items():
        swipe = {"action": "swipe", "coordinate": a, "coordinate2": b}
        same = predicted == gold_direction
        for name in ("qwen-aitz", "aitz", "aitw-strict"):
            assert score(gold, "mobile_use", swipe, SCORERS[name]).exact_match is same
        assert score(gold, "mobile_use", swipe, SCORERS["aitw"]).exact_match is (
            (predicted in ("up", "down")) == vertical
        )


def test_typed_text_by_containment_or_similarity() -> None:
    """qwen-aitz: containment, case and spaces aside; aitz: containment or a Levenshtein ratio
    above 0.8, case-sensitive."""
    gold = GoldStep(0, Path("x.png"), "mobile_use", {"action": "type", "text": "Clock"})
    for text, qwen, aitz in [
        ("clock app", True, False),
        ("Clok", False, True),
        ("alarm", False, False),
        ("Clock app", True, True),
    ]:
        call = {"action": "type", "text": text}
        assert score(gold, "mobile_use", call, SCORERS["qwen-aitz"]).exact_match is qwen, text
        assert score(gold, "mobile_use", call, SCORERS["aitz"]).exact_match is aitz, text
    assert score(
        gold, "mobile_use", {"action": "type", "text": "alarm"}, SCORERS["aitw"]
    ).exact_match


def test_unparseable_answers_count_against_parse_rate_and_resume_skips_done_steps(
    tmp_path: Path,
) -> None:
    first = evaluate(tmp_path, [HOME, "I do not know", CLOCK, DONE], name="run")
    assert first["parse_rate"] == 0.75 and first["exact_match"] == 0.75
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines][1].startswith("no tool call found")
    # Drop the last two steps as a crash would, then resume with the same model: a scripted one
    # answers from its first answer again (HOME, then the unreadable one) for steps 2 and 3.
    (tmp_path / "run" / "predictions.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:30])
    again = ["eval", str(AITZ), "--model", f"scripted:{tmp_path / 'run.txt'}"]
    assert main([*again, "--out", str(tmp_path / "run"), "--resume"]) == 0
    resumed = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert resumed["steps"] == 4 and resumed["exact_match"] == 0.25
    assert resumed["parse_rate"] == 0.5 and resumed["run"]["resumes"][0]["kept_steps"] == 2
    # The torn fragment is gone: every line parses, one per step, in order.
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    ]
    assert steps == [0, 1, 2, 3]


def test_own_trajectories_are_a_dataset(tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "run.txt", [tool_call(action="click", coordinate=[500, 500]), DONE]
    )
    assert (
        main(
            [
                *"run --env memory --space mobile --goal tap --model".split(),
                f"scripted:{script}",
                "--out",
                str(tmp_path / "runs" / "one"),
            ]
        )
        == 0
    )
    episodes = load_dataset(tmp_path / "runs")
    assert [s.arguments["action"] for s in episodes[0].steps] == ["click", "terminate"]


def test_a_missing_dataset_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "eval",
                str(tmp_path / "nothing"),
                "--model",
                "scripted:x",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 3
    )
    assert "no dataset at" in capsys.readouterr().err


def test_batched_tiny_checkpoint_predictions_equal_batch_size_one(
    checkpoint, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = str(checkpoint("qwen2.5-vl"))
    outputs = {}
    for size in ("1", "4"):
        out = tmp_path / f"b{size}"
        assert (
            main(
                [
                    "eval",
                    str(AITZ),
                    "--model",
                    folder,
                    "--out",
                    str(out),
                    "--batch-size",
                    size,
                    "--max-new-tokens",
                    "12",
                ]
            )
            == 0
        )
        outputs[size] = [
            json.loads(line)["output"]
            for line in (out / "predictions.jsonl").read_text().splitlines()
        ]
    assert outputs["1"] == outputs["4"] and len(outputs["1"]) == 4


def test_the_eval_report_shows_the_metrics_offline(tmp_path: Path) -> None:
    from tests.agent.test_report import chromium

    evaluate(
        tmp_path, [HOME, SCROLL_UP, clock_at(0.15), DONE], name="rep"
    )  # the tap 0.15 off: wrong
    page = tmp_path / "rep" / "report.html"
    assert page.exists()  # agent eval writes it
    dom = chromium("--dump-dom", page.as_uri(), tmp=tmp_path).stdout
    assert '<div class="metric" id="exact_match"><b>0.750</b>' in dom
    assert '<div class="metric" id="success_rate"><b>0.000</b>' in dom
    assert dom.count('class="screen"') == 4 and dom.count('class="bar"') == 8  # 4 types × 2 bars
    assert (
        dom.count('stroke="#34a853"') >= 1 and dom.count('stroke="#ea4335"') >= 1
    )  # gold and predicted taps
    assert "0.607" in dom and "0.6069772839546204" not in dom  # points shown to 4 decimals


def test_an_earlier_evaluation_is_kept_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluate(tmp_path, [HOME, SCROLL_UP, CLOCK, DONE], name="run")
    assert "1 episode, 4 steps" in capsys.readouterr().out
    before = (tmp_path / "run" / "predictions.jsonl").read_text()
    script = write_script(tmp_path / "again.txt", [DONE] * 4)
    again = ["eval", str(AITZ), "--model", f"scripted:{script}", "--out", str(tmp_path / "run")]
    assert main(again) == 2
    error = capsys.readouterr().err
    assert "already holds an evaluation" in error and "--resume" in error and "--overwrite" in error
    assert (tmp_path / "run" / "predictions.jsonl").read_text() == before  # nothing lost
    assert main([*again, "--overwrite", "--resume"]) == 2
    assert main([*again, "--overwrite"]) == 0
    assert (
        json.loads((tmp_path / "run" / "metrics.json").read_text())["exact_match"] == 0.25
    )  # only DONE


def test_a_whole_accessibility_tree_does_not_make_a_far_click_right(tmp_path: Path) -> None:
    """AndroidControl JSON with every node of the tree as an element (a full-screen layout, a
    list and a button): under the benchmark's protocol the target is the button alone."""
    from PIL import Image

    Image.new("RGB", (1000, 2000)).save(tmp_path / "0.png")
    Image.new("RGB", (1000, 2000)).save(tmp_path / "1.png")
    tree = [[0, 0, 1000, 2000], [0, 100, 1000, 900], [100, 200, 300, 280]]
    (tmp_path / "ep.json").write_text(
        json.dumps(
            {
                "episode_id": "e",
                "goal": "tap the button",
                "screenshots": ["0.png", "1.png"],
                "actions": [{"action_type": "click", "x": 200, "y": 240}] * 2,
                "elements": [tree, tree],
            }
        )
    )
    # Qwen2-VL's 0-1000 space: a click far away at the bottom; one on the button's edge.
    script = write_script(
        tmp_path / "a.txt",
        [
            tool_call(action="click", coordinate=[800, 800]),
            tool_call(action="click", coordinate=[295, 138]),
        ],
    )
    out = tmp_path / "eval"
    assert (
        main(
            ["eval", str(tmp_path / "ep.json"), "--model", f"scripted:{script}", "--out", str(out)]
        )
        == 0
    )
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [line["exact_match"] for line in lines] == [False, True], [
        line["reason"] for line in lines
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["protocol"]["name"] == "qwen-androidcontrol"
    assert metrics["settings"]["protocol"]["max_pixels"] == 6400 * 28 * 28


def test_the_protocol_is_recorded_and_can_be_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = evaluate(tmp_path, [HOME, SCROLL_UP, CLOCK, DONE])
    protocol = metrics["settings"]["protocol"]
    assert protocol["name"] == "qwen-aitz" and protocol["scorer"] == "qwen-aitz"
    assert protocol["max_pixels"] == 16384 * 28 * 28 and protocol["overrides"] == {}
    chosen = evaluate(
        tmp_path,
        [HOME, SCROLL_UP, CLOCK, DONE],
        *"--protocol aitz --max-pixels 1003520".split(),
        name="chosen",
    )
    assert (
        chosen["settings"]["protocol"]["name"] == "aitz"
        and chosen["settings"]["scorer"]["name"] == "aitz"
    )
    assert chosen["settings"]["protocol"]["overrides"] == {"max_pixels": 1003520}
    script = write_script(tmp_path / "x.txt", [HOME])
    assert (
        main(
            [
                "eval",
                str(AITZ),
                "--model",
                f"scripted:{script}",
                "--out",
                str(tmp_path / "bad"),
                "--protocol",
                "nope",
            ]
        )
        == 2
    )
    assert "unknown protocol 'nope'" in capsys.readouterr().err
