"""Numbers one can publish: an oracle scores 1.0 under every protocol on every shipped format;
nothing given to ``agent eval`` is dropped without a word (damaged shards, missing split ids,
empty episodes); a resume continues only the same evaluation and ends as an uninterrupted run
does; a failing model call is counted, not fatal; metrics.json holds the command that makes the
number again."""

from __future__ import annotations

import contextlib
import gzip
import json
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import tool_call, write_script
from vlagent.agent.cli import main
from vlagent.agent.evaluation import DatasetError, GoldStep, Selection, read_dataset, score
from vlagent.agent.evaluation.gold import inside
from vlagent.agent.evaluation.protocols import PROTOCOLS, ProtocolError, check_data
from vlagent.agent.evaluation.scoring import SCORERS
from vlagent.agent.evaluation.summary import _clustered
from vlagent.prompts import Prompt, model_call
from vlagent.tools import action_space_of

DATA = Path(__file__).parents[1] / "data"
AITZ = DATA / "aitz-episode"
TFRECORDS = DATA / "tfrecord"
AITW = TFRECORDS / "aitw-sample.tfrecord.gz"
CONTROL = TFRECORDS / "androidcontrol-sample.tfrecord.gz"
HEADLINE = ("type_match", "exact_match", "success_rate", "goal_progress", "parse_rate")
SPEC = "python:tests.agent.test_evaluation_integrity:oracle"

# -- the oracle: a model that answers every step with its gold action ------------------------------

GOLD: dict[tuple[str, int], GoldStep] = {}
FAILING: set[tuple[str, int]] = set()
CALLS = {"n": 0, "stop_after": -1}


def oracle(prompt: Prompt) -> str:
    """The gold action of the step ``prompt`` is for, in the prompt's own coordinate space (the
    step is named by the evaluator in ``metadata``, never shown to a model)."""
    key = (prompt.metadata["gold_step"]["episode"], prompt.metadata["gold_step"]["step"])
    CALLS["n"] += 1
    if CALLS["n"] == CALLS["stop_after"]:
        raise KeyboardInterrupt  # as Ctrl-C in the middle of an evaluation
    if key in FAILING:
        raise ConnectionError("the server dropped the request")
    gold = GOLD[key]
    call = model_call(gold.tool, gold.arguments, prompt.frame, action_space_of(gold.tool))
    return tool_call(call.name, **call.raw_arguments)


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLAGENT_CACHE", str(tmp_path / "cache"))
    GOLD.clear()
    FAILING.clear()
    CALLS.update(n=0, stop_after=-1)


def learn(path: Path, fmt: str = "auto") -> None:
    """Teach the oracle the gold of every episode at ``path``."""
    for episode in read_dataset(path, fmt, skip_damaged=True, skip_missing=True).episodes:
        GOLD.update({(episode.id, s.index): s for s in episode.steps})


def evaluate(dataset: Path, out: Path, *flags: str, model: str = SPEC) -> int:
    return main(["eval", str(dataset), "--model", model, "--out", str(out), *flags])


def metrics_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "metrics.json").read_text())  # type: ignore[no-any-return]


def lines_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def androidcontrol_json(folder: Path, actions: list[list[dict[str, Any]]]) -> Path:
    """AndroidControl JSON episodes (one per list of actions) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tree = [[0, 0, 1000, 2000], [100, 200, 300, 280], [400, 1500, 900, 1700]]
    for n, episode in enumerate(actions):
        shots = []
        for i in range(len(episode) + 1):
            Image.new("RGB", (1000, 2000), (n * 40 % 255, i * 30 % 255, 90)).save(
                folder / f"{n}_{i}.png"
            )
            shots.append(f"{n}_{i}.png")
        (folder / f"episode-{n}.json").write_text(
            json.dumps(
                {
                    "episode_id": f"e{n}",
                    "goal": f"goal {n}",
                    "screenshots": shots,
                    "actions": episode,
                    "step_instructions": [f"do {i}" for i in range(len(episode))],
                    "elements": [tree] * len(episode),
                }
            )
        )
    return folder


CONTROL_ACTIONS = [
    {"action_type": "open_app", "app_name": "Clock"},
    {"action_type": "click", "x": 200, "y": 240},
    {"action_type": "click", "x": 950, "y": 100},  # in no element box
    {"action_type": "scroll", "direction": "down"},
    {"action_type": "input_text", "text": "7:30"},
    {"action_type": "long_press", "x": 600, "y": 1600},
    {"action_type": "wait"},
    {"action_type": "navigate_back"},
    {"action_type": "navigate_home"},
]


def a_recorded_run(tmp_path: Path) -> Path:
    script = write_script(
        tmp_path / "run.txt",
        [
            tool_call(action="click", coordinate=[500, 500]),
            tool_call(action="swipe", coordinate=[500, 700], coordinate2=[500, 300]),
            tool_call(action="terminate", status="success"),
        ],
    )
    run = tmp_path / "runs" / "one"
    assert main(
        ["run", "--env", "memory", "--space", "mobile", "--goal", "tap", "--model"]
        + [
            f"scripted:{script}",
            "--out",
            str(run),
        ]
    ) in (0, 1)
    return tmp_path / "runs"


# -- 1.0 for the oracle under every protocol, on every format it is for ---------------------------

PAIRS = [
    ("aitz", "qwen-aitz"),
    ("aitz", "aitz"),
    ("aitw-tfrecord", "aitw"),
    ("androidcontrol-tfrecord", "qwen-androidcontrol"),
    ("androidcontrol-tfrecord", "os-atlas-androidcontrol"),
    ("androidcontrol-json", "qwen-androidcontrol"),
    ("androidcontrol-json", "os-atlas-androidcontrol"),
    ("trajectory", "own-runs"),
]


def shipped(kind: str, tmp_path: Path) -> Path:
    if kind == "aitz":
        return AITZ
    if kind == "aitw-tfrecord":
        return AITW
    if kind == "androidcontrol-tfrecord":
        return CONTROL
    if kind == "androidcontrol-json":
        return androidcontrol_json(tmp_path / "ac", [CONTROL_ACTIONS, CONTROL_ACTIONS[3:6]])
    return a_recorded_run(tmp_path)


@pytest.mark.parametrize(
    ("kind", "protocol", "level"),
    [(k, p, level) for k, p in PAIRS for level in (["high", "low"] if "control" in k else [""])],
)
def test_an_oracle_scores_one_under_every_protocol(
    tmp_path: Path, kind: str, protocol: str, level: str
) -> None:
    assert {p for _, p in PAIRS} == set(PROTOCOLS)  # every protocol is covered
    dataset = shipped(kind, tmp_path)
    learn(dataset)
    flags = ["--protocol", protocol] + (["--level", level] if level else [])
    assert evaluate(dataset, tmp_path / "out", *flags) == 0
    metrics = metrics_of(tmp_path / "out")
    assert [metrics[name] for name in HEADLINE] == [1.0] * 5, [
        line["reason"] for line in lines_of(tmp_path / "out") if not line["exact_match"]
    ]
    assert metrics["steps"] == len(GOLD) and metrics["settings"]["protocol"]["overrides"] == {}


def test_the_aitz_gold_tap_lies_in_no_box_and_is_still_matched(tmp_path: Path) -> None:
    clock = read_dataset(AITZ).episodes[0].steps[2]
    assert not any(inside(clock.arguments["coordinate"], box) for box in clock.elements)
    learn(AITZ)
    assert evaluate(AITZ, tmp_path / "out", "--protocol", "aitz") == 0
    assert lines_of(tmp_path / "out")[2]["reason"].startswith("at the gold point")


@settings(max_examples=150, deadline=None)
@given(
    gold=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    offset=st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)),
)
def test_aitz_a_tap_at_the_gold_point_is_right_outside_every_box(
    gold: tuple[float, float], offset: tuple[float, float]
) -> None:
    """Without boxes, a tap is right exactly when it is within 0.001 of the gold point on each
    axis (one step of the 0-1000 grid the reference reads points on)."""
    step = GoldStep(0, Path("x.png"), "mobile_use", {"action": "click", "coordinate": list(gold)})
    point = [gold[0] + offset[0], gold[1] + offset[1]]
    verdict = score(step, "mobile_use", {"action": "click", "coordinate": point}, SCORERS["aitz"])
    near = all(abs(p - g) <= 0.001 for p, g in zip(point, gold))
    assert verdict.type_match and verdict.exact_match is near


# -- protocols match their data --------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    protocol=st.sampled_from(sorted(PROTOCOLS)),
    data=st.sets(st.sampled_from(["aitz", "aitw", "androidcontrol", "trajectory"]), min_size=1),
)
def test_a_protocol_refuses_data_of_another_benchmark(protocol: str, data: set[str]) -> None:
    chosen = PROTOCOLS[protocol]
    if data == {chosen.benchmark}:
        assert check_data(chosen, data) == []
        return
    with pytest.raises(ProtocolError, match="--allow-other-benchmark"):
        check_data(chosen, data)
    assert check_data(chosen, data, allow_other=True) == sorted(data - {chosen.benchmark})


def test_aitz_protocol_on_androidcontrol_records_is_refused_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learn(CONTROL)
    assert evaluate(CONTROL, tmp_path / "out", "--protocol", "aitz") == 2
    error = capsys.readouterr().err
    assert "protocol aitz is for aitz data" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert evaluate(CONTROL, tmp_path / "out", "--protocol", "aitz", "--allow-other-benchmark") == 0
    overrides = metrics_of(tmp_path / "out")["settings"]["protocol"]["overrides"]
    assert overrides == {"benchmark": ["androidcontrol"]}


def test_a_folder_mixing_benchmarks_needs_a_format(tmp_path: Path) -> None:
    learn(TFRECORDS)
    assert evaluate(TFRECORDS, tmp_path / "out") == 2
    assert evaluate(TFRECORDS, tmp_path / "out", "--format", "aitw") == 0
    files = {f["path"]: f for f in metrics_of(tmp_path / "out")["dataset"]["files"]}
    assert files["androidcontrol-sample.tfrecord.gz"]["status"] == "ignored"
    assert "not the asked --format aitw" in files["androidcontrol-sample.tfrecord.gz"]["reason"]


# -- nothing dropped without a word: damaged shards -----------------------------------------------


def shards(tmp_path: Path) -> Path:
    folder = tmp_path / "shards"
    folder.mkdir()
    shutil.copy(CONTROL, folder / "android_control-00000-of-00002")
    return folder


def damage(data: bytes, how: str, where: float, byte: int) -> bytes:
    at = int(where * (len(data) - 1))
    if how == "truncate":
        return data[:at]
    if how == "flip":
        return data[:at] + bytes([data[at] ^ (byte or 1)]) + data[at + 1 :]
    inner = gzip.decompress(data)  # a shard cut short before it was compressed
    return gzip.compress(inner[: int(where * (len(inner) - 1))])


DAMAGES = st.tuples(
    st.sampled_from(["truncate", "flip", "inner-truncate"]),
    st.floats(0, 1),
    st.integers(0, 255),
)
counter = {"n": 0}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(damaged=DAMAGES, skip=st.booleans())
def test_a_damaged_shard_is_never_skipped_silently(
    tmp_path: Path, damaged: tuple[str, float, int], skip: bool
) -> None:
    """Whatever the damage: the dataset reads as before (the damage was harmless, e.g. in GZIP's
    timestamp), or it is an error naming the shard, or (asked to skip) the shard is recorded as
    skipped and every episode is accounted for."""
    counter["n"] += 1
    folder = tmp_path / f"case-{counter['n']}"
    folder.mkdir()
    shutil.copy(AITW, folder / "aitw-00000-of-00002")
    shard = folder / "aitw-00001-of-00002"
    shard.write_bytes(damage(CONTROL.read_bytes(), *damaged))
    try:
        record = read_dataset(folder, skip_damaged=skip).record
    except DatasetError as exc:
        assert not skip or "no episodes" in str(exc)
        assert str(shard) in str(exc) or "no episodes" in str(exc)
        return
    status = {f["path"]: f["status"] for f in record["files"]}
    if status[shard.name] == "read":
        # All of it, the damage having changed nothing read; except a shard cut short *before*
        # compression exactly between two records, which no reader can tell from a shorter one.
        assert record["episodes_found"] == 4 or damaged[0] == "inner-truncate"
    else:
        assert skip and status[shard.name] in ("damaged", "ignored")
        if status[shard.name] == "damaged":
            assert [s["file"] for s in record["skipped"]] == [shard.name]
    assert record["episodes_found"] == record["episodes_scored"] + len(
        [s for s in record["skipped"] if "episode" in s]
    ) + sum(record["excluded"].values())


@pytest.mark.parametrize("how", ["truncate", "flip", "inner-truncate"])
def test_a_damaged_shard_in_a_folder_is_one_line_exit_3(
    tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shards(tmp_path)
    shard = folder / "android_control-00001-of-00002"
    shard.write_bytes(damage(CONTROL.read_bytes(), how, 0.6, 0x55))
    learn(folder)
    assert evaluate(folder, tmp_path / "out") == 3
    error = capsys.readouterr().err.strip()
    assert str(shard) in error and "--skip-damaged" in error and len(error.splitlines()) == 1
    assert evaluate(folder, tmp_path / "out", "--skip-damaged") == 0
    dataset = metrics_of(tmp_path / "out")["dataset"]
    assert dataset["skip_damaged"] is True and dataset["skipped"][0]["file"] == shard.name
    assert "--skip-damaged" in metrics_of(tmp_path / "out")["record"]["command"]


def test_a_lone_corrupt_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lone = tmp_path / "android_control-00000-of-00001"
    lone.write_bytes(damage(CONTROL.read_bytes(), "flip", 0.5, 0xFF))
    assert evaluate(lone, tmp_path / "out") == 3
    assert str(lone) in capsys.readouterr().err


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    head=st.sampled_from([b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"{", b"[{", gzip.compress(b"")]),
    garbage=st.binary(max_size=200),
    name=st.sampled_from(["data-00000-of-00001", "x.tfrecord.gz", "episode.json", "blob"]),
)
def test_a_named_file_that_is_not_a_dataset_is_an_error_naming_it(
    tmp_path: Path, head: bytes, garbage: bytes, name: str
) -> None:
    counter["n"] += 1
    lone = tmp_path / f"g{counter['n']}" / name
    lone.parent.mkdir()
    lone.write_bytes(head + garbage)
    with pytest.raises(DatasetError) as raised:
        read_dataset(lone)
    assert str(lone) in str(raised.value) and "\n" not in str(raised.value)


# -- missing split ids ----------------------------------------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    present=st.sets(st.sampled_from(["20001", "20002"]), min_size=1),
    absent=st.sets(
        st.text("0123456789", min_size=1, max_size=6).filter(lambda i: i not in ("20001", "20002")),
        max_size=4,
    ),
    skip=st.booleans(),
)
def test_every_split_id_is_found_or_reported(
    tmp_path: Path, present: set[str], absent: set[str], skip: bool
) -> None:
    counter["n"] += 1
    folder = tmp_path / f"split-{counter['n']}"
    folder.mkdir()
    shutil.copy(CONTROL, folder / "android_control-00000-of-00001")
    (folder / "splits.json").write_text(json.dumps({"test": sorted(present | absent)}))
    try:
        data = read_dataset(folder, split="test", skip_missing=skip)
    except DatasetError as exc:
        assert absent and not skip and f"{len(absent)} episode id(s)" in str(exc)
        return
    assert {e.id for e in data.episodes} == present
    assert {s["episode"] for s in data.record["skipped"]} == absent


def test_three_split_ids_one_present(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shards(tmp_path)
    (folder / "splits.json").write_text(json.dumps({"test": ["20001", "777", "778"]}))
    learn(folder)
    assert evaluate(folder, tmp_path / "out", "--split", "test") == 3
    assert "2 episode id(s) of split 'test'" in capsys.readouterr().err
    assert evaluate(folder, tmp_path / "out", "--split", "test", "--skip-missing") == 0
    dataset = metrics_of(tmp_path / "out")["dataset"]
    assert [s["episode"] for s in dataset["skipped"]] == ["777", "778"]
    assert dataset["episodes_scored"] == 1 and dataset["excluded"] == {"not in split test": 1}


# -- empty episodes --------------------------------------------------------------------------------


def test_an_empty_episode_is_an_error_or_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = androidcontrol_json(tmp_path / "ac", [CONTROL_ACTIONS[:2], []])
    learn(folder)
    assert evaluate(folder, tmp_path / "out") == 3
    assert "episode e1" in capsys.readouterr().err
    assert evaluate(folder, tmp_path / "out", "--skip-damaged") == 0
    assert "1 episode, 2 steps" in capsys.readouterr().out
    metrics = metrics_of(tmp_path / "out")
    assert metrics["episodes"] == 1 and metrics["dataset"]["skipped"][0]["episode"] == "e1"
    assert metrics["dataset"]["episodes_found"] == 2


def test_a_dataset_of_only_empty_episodes_scores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = androidcontrol_json(tmp_path / "ac", [[], []])
    assert evaluate(folder, tmp_path / "out", "--skip-damaged") == 3
    assert "no episodes found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "metrics.json").exists()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lengths=st.lists(st.integers(0, 3), min_size=1, max_size=5))
def test_every_episode_is_scored_or_recorded(tmp_path: Path, lengths: list[int]) -> None:
    counter["n"] += 1
    folder = androidcontrol_json(
        tmp_path / f"ac-{counter['n']}", [CONTROL_ACTIONS[:n] for n in lengths]
    )
    try:
        data = read_dataset(folder, skip_damaged=True)
    except DatasetError:
        assert not any(lengths)
        return
    assert len(data.episodes) == sum(1 for n in lengths if n)
    assert len(data.record["skipped"]) == lengths.count(0)
    with pytest.raises(DatasetError) if 0 in lengths else contextlib.nullcontext():
        read_dataset(folder)


# -- honest resumes ------------------------------------------------------------------------------


def without_run(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json less what may differ between two makings of one number: the run's times
    and resumes."""
    return {k: v for k, v in metrics.items() if k != "run"}


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stop=st.integers(1, 7), shuffle=st.randoms(use_true_random=False))
def test_an_interrupted_and_resumed_run_gives_the_same_metrics(
    tmp_path: Path, stop: int, shuffle: Any
) -> None:
    """However the run is interrupted, and in whatever order an aborted concurrent run left its
    lines, the resumed run ends with the metrics of an uninterrupted one and its lines in dataset
    order."""
    counter["n"] += 1
    base = tmp_path / f"r{counter['n']}"
    learn(TFRECORDS, "androidcontrol")
    flags = ["--format", "androidcontrol", "--level", "low"]
    CALLS.update(n=0, stop_after=-1)
    assert evaluate(TFRECORDS, base / "straight", *flags) == 0
    CALLS.update(n=0, stop_after=stop)
    assert evaluate(TFRECORDS, base / "cut", *flags) == 130
    kept = (base / "cut" / "predictions.jsonl").read_text().splitlines()
    shuffle.shuffle(kept)
    (base / "cut" / "predictions.jsonl").write_text("".join(line + "\n" for line in kept))
    CALLS.update(n=0, stop_after=-1)
    assert evaluate(TFRECORDS, base / "cut", *flags, "--resume") == 0
    resumed, straight = metrics_of(base / "cut"), metrics_of(base / "straight")
    assert without_run(resumed) == without_run(straight)
    assert resumed["run"]["resumes"][0]["kept_steps"] == len(kept)
    order = [(line["episode"], line["step"]) for line in lines_of(base / "cut")]
    assert order == [(line["episode"], line["step"]) for line in lines_of(base / "straight")]


CHANGES = {
    "protocol": ["--protocol", "os-atlas-androidcontrol"],
    "scorer": ["--scorer", "aitw"],
    "level": ["--level", "high"],
    "limit": ["--limit", "1"],
    "failed steps": ["--failed-steps", "excluded"],
    "max pixels": ["--max-pixels", "1003520"],
    "temperature": ["--temperature", "0.5"],
    "ui tree": ["--ui-tree"],
    "action type": ["--action-type", "click"],
    "sample": ["--sample", "1"],
    "seed": ["--seed", "3"],
    "max new tokens": ["--max-new-tokens", "16"],
    "skip damaged": ["--skip-damaged"],
}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changed=st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=3, unique=True))
def test_a_resume_with_any_scoring_setting_changed_is_refused(
    tmp_path: Path, changed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    counter["n"] += 1
    out = tmp_path / f"out-{counter['n']}"
    learn(CONTROL)
    CALLS.update(n=0, stop_after=3)
    assert evaluate(CONTROL, out, "--level", "low") == 130
    CALLS.update(n=0, stop_after=-1)
    before = (out / "predictions.jsonl").read_bytes()
    flags = [flag for name in changed if name != "level" for flag in CHANGES[name]]
    flags += ["--level", "high" if "level" in changed else "low"]
    code = evaluate(CONTROL, out, *flags, "--resume")
    error = capsys.readouterr().err
    if code == 3:  # the action type is in none of the steps --limit/--sample kept: refused first
        assert "action type" in changed and "matches no step" in error
    else:
        assert code == 2 and "--resume would mix two evaluations" in error
    assert (out / "predictions.jsonl").read_bytes() == before  # nothing touched
    # Batching does not change an answer: a resume may change it.
    CALLS.update(n=0, stop_after=-1)
    assert evaluate(CONTROL, out, "--level", "low", "--batch-size", "3", "--resume") == 0


def test_a_resume_with_another_model_or_changed_data_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(shutil.copytree(AITZ, tmp_path / "aitz"))
    learn(data)
    CALLS.update(stop_after=3)
    assert evaluate(data, tmp_path / "out") == 130
    other = write_script(tmp_path / "other.txt", [tool_call(action="terminate", status="success")])
    assert evaluate(data, tmp_path / "out", "--resume", model=f"scripted:{other}") == 2
    error = capsys.readouterr().err
    assert "--resume would mix two evaluations" in error and "model" in error
    shot = next(data.glob("*_3.png"))
    with Image.open(shot) as image:
        image.convert("RGB").rotate(180).save(shot)
    assert evaluate(data, tmp_path / "out", "--resume") == 2
    assert "dataset.sha256" in capsys.readouterr().err


SPELLINGS = ["{name}", "./{name}", "{folder}/{name}", "sub/../{name}", ".//{name}"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_resume_naming_the_same_files_by_another_path_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """A script model and a dataset are what their files hold, however their paths are spelled
    (relative, absolute, through another folder)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    shutil.copytree(AITZ, tmp_path / "data")
    write_script(tmp_path / "model.txt", [tool_call(action="terminate", status="success")])
    assert evaluate(Path("data"), Path("out"), model="scripted:model.txt") == 0

    def spelled(name: str) -> str:
        return spelling.format(name=name, folder=tmp_path)

    model = "scripted:" + spelled("model.txt")
    assert evaluate(Path(spelled("data")), Path(spelled("out")), "--resume", model=model) == 0
    assert len(metrics_of(tmp_path / "out")["run"]["resumes"]) == 1


def test_a_resume_is_recorded(tmp_path: Path) -> None:
    learn(AITZ)
    CALLS.update(stop_after=2)
    assert evaluate(AITZ, tmp_path / "out") == 130
    CALLS.update(stop_after=-1)
    assert evaluate(AITZ, tmp_path / "out", "--resume") == 0
    (resume,) = metrics_of(tmp_path / "out")["run"]["resumes"]
    assert resume["kept_steps"] == 1 and "agent eval" in resume["command"]


# -- failures are counted, not fatal -------------------------------------------------------------


def test_a_step_that_keeps_failing_is_counted_and_the_run_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learn(AITZ)
    FAILING.add(("523638528775825151", 2))
    assert evaluate(AITZ, tmp_path / "out") == 0
    assert "failed steps   1 (counted as wrong; 1 retries)" in capsys.readouterr().out
    metrics = metrics_of(tmp_path / "out")
    assert metrics["failures"]["failed_steps"] == 1 and metrics["failures"]["retries"] == 1
    assert metrics["failures"]["counted_as"] == "wrong" and metrics["exact_match"] == 0.75
    assert "ConnectionError" in metrics["failures"]["errors"][0]["error"]
    line = lines_of(tmp_path / "out")[2]
    assert line["failed"] and line["attempts"] == 2 and not line["exact_match"]
    assert evaluate(AITZ, tmp_path / "ex", "--failed-steps", "excluded") == 0
    excluded = metrics_of(tmp_path / "ex")
    assert excluded["exact_match"] == 1.0 and excluded["steps"] == 3
    assert excluded["episodes"] == 0 and excluded["per_episode"][0]["success"] is None
    # Once the model answers again, a resume asks the failed step again and the run is whole.
    FAILING.clear()
    assert evaluate(AITZ, tmp_path / "out", "--resume") == 0
    resumed = metrics_of(tmp_path / "out")
    assert resumed["exact_match"] == 1.0 and resumed["failures"]["failed_steps"] == 0
    assert resumed["run"]["resumes"][0]["failed_steps_asked_again"] == 1


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    failing=st.sets(st.sampled_from([("20001", i) for i in range(5)] + [("20002", 0)])),
    batch=st.integers(1, 4),
    retries=st.integers(0, 2),
)
def test_failed_steps_are_each_counted_whatever_the_batching(
    tmp_path: Path, failing: set[tuple[str, int]], batch: int, retries: int
) -> None:
    counter["n"] += 1
    out = tmp_path / f"f{counter['n']}"
    learn(CONTROL)
    FAILING.clear()
    FAILING.update(failing)
    flags = ["--batch-size", str(batch), "--step-retries", str(retries)]
    assert evaluate(CONTROL, out, *flags) == 0
    metrics, lines = metrics_of(out), lines_of(out)
    assert {(p["episode"], p["step"]) for p in lines if p["failed"]} == failing
    assert metrics["failures"]["failed_steps"] == len(failing)
    assert metrics["steps"] == 7 and metrics["exact_match"] == round(1 - len(failing) / 7, 4)
    assert all(p["attempts"] >= 1 + retries for p in lines if p["failed"])


def test_a_model_that_is_gone_ends_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learn(TFRECORDS)
    FAILING.update(GOLD)  # every step fails
    assert evaluate(TFRECORDS, tmp_path / "out", "--format", "aitw") == 0  # 6 < 10 in a row
    assert metrics_of(tmp_path / "out")["failures"]["failed_steps"] == 6
    many = androidcontrol_json(tmp_path / "ac", [CONTROL_ACTIONS] * 2)
    learn(many)
    FAILING.update(GOLD)
    assert evaluate(many, tmp_path / "gone") == 4
    assert "10 steps in a row failed" in capsys.readouterr().err


# -- a complete record -----------------------------------------------------------------------------


def test_the_record_makes_the_number_again(tmp_path: Path) -> None:
    learn(CONTROL)
    flags = "--level low --sample 1 --sample-seed 5 --seed 7 --max-new-tokens 64".split()
    assert evaluate(CONTROL, tmp_path / "first", *flags) == 0
    first = metrics_of(tmp_path / "first")
    record = first["record"]
    assert {"vlagent", "transformers", "torch", "python"} <= set(record["versions"])
    assert record["options"]["seed"] == 7 and record["options"]["format"] == "androidcontrol"
    assert record["options"]["level"] == "low" and record["options"]["max_pixels"] == 6400 * 784
    assert record["model"]["kind"] == "function" and record["model"]["source_sha256"]
    assert first["dataset"]["sha256"].startswith("sha256:")
    words = shlex.split(record["command"])
    assert words[:2] == ["agent", "eval"]
    assert main([*words[1:], "--out", str(tmp_path / "again")]) == 0
    assert without_run(metrics_of(tmp_path / "again")) == without_run(first)


def test_filters_and_seeded_samples(tmp_path: Path) -> None:
    learn(TFRECORDS)
    picks = {
        seed: read_dataset(TFRECORDS, "aitw", selection=Selection(sample=1, seed=seed))
        for seed in range(6)
    }
    assert {p.episodes[0].id for p in picks.values()} == {"1001", "1002"}  # both drawn
    again = read_dataset(TFRECORDS, "aitw", selection=Selection(sample=1, seed=3))
    assert again.episodes[0].id == picks[3].episodes[0].id
    assert evaluate(AITZ, tmp_path / "clicks", "--action-type", "click") == 0
    learn(AITZ)
    assert evaluate(AITZ, tmp_path / "clicks", "--action-type", "click", "--overwrite") == 0
    clicks = metrics_of(tmp_path / "clicks")
    assert clicks["steps"] == 1 and list(clicks["per_type"]) == ["click"]
    assert clicks["success_rate"] is None and clicks["goal_progress"] is None
    assert read_dataset(AITZ, selection=Selection(categories=("google_apps",))).episodes
    with pytest.raises(DatasetError, match="no .*episodes found"):
        read_dataset(AITZ, selection=Selection(categories=("GENERAL",)))
    with pytest.raises(DatasetError, match="--skip-missing"):
        read_dataset(AITZ, selection=Selection(episodes=("nope",)))


def test_clustered_standard_errors_by_hand() -> None:
    # Two episodes: 2 of 2 right, 0 of 2 right → p = 0.5; residuals 1 and -1;
    # SE = sqrt(2/1 · 2) / 4 = 0.5.
    assert _clustered([(2, 2), (0, 2)]) == 0.5
    assert _clustered([(1, 1)]) is None


# -- lengths and paths a dataset file states --------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(length=st.integers(0, 2**64 - 1), tail=st.binary(max_size=64), gzipped=st.booleans())
def test_a_record_length_a_file_claims_allocates_nothing_it_does_not_hold(
    tmp_path_factory: pytest.TempPathFactory, length: int, tail: bytes, gzipped: bool
) -> None:
    """A header with a valid checksum may claim any length: the record is read or refused as
    damaged, never a MemoryError or OverflowError (an internal error)."""
    import struct

    from vlagent.agent.evaluation.tfrecord import RecordError, _masked_crc, records

    head = struct.pack("<Q", length)
    data = head + struct.pack("<I", _masked_crc(head)) + tail
    path = tmp_path_factory.mktemp("claims") / "shard.tfrecord"
    path.write_bytes(gzip.compress(data) if gzipped else data)
    with contextlib.suppress(RecordError):
        for record in records(path):
            assert len(record) == length <= len(tail)


@pytest.mark.parametrize("length", [2**40, 2**62, 2**64 - 1])
def test_a_shard_claiming_a_huge_record_is_exit_3(
    tmp_path: Path, length: int, capsys: pytest.CaptureFixture[str]
) -> None:
    import struct

    from vlagent.agent.evaluation.tfrecord import _masked_crc

    head = struct.pack("<Q", length)
    shard = tmp_path / "huge.tfrecord"
    shard.write_bytes(head + struct.pack("<I", _masked_crc(head)) + b"x" * 32)
    assert evaluate(shard, tmp_path / "out", "--format", "androidcontrol") == 3
    assert "huge.tfrecord" in capsys.readouterr().err


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(how=st.sampled_from(["absolute", "climbing", "link", "linked-folder", "fifo", "folder"]))
def test_a_screenshot_a_dataset_names_never_leaves_its_folder(tmp_path: Path, how: str) -> None:
    """An episode's screenshot is read only from a regular file inside the dataset's folder,
    reached without a link: what lies outside never reaches the model or a report."""
    import os
    import uuid

    case = tmp_path / uuid.uuid4().hex
    outside = case / "outside"
    outside.mkdir(parents=True)
    Image.new("RGB", (1000, 2000), (200, 0, 0)).save(outside / "private.png")
    folder = androidcontrol_json(case / "data", [CONTROL_ACTIONS[1:2]])
    shot = {
        "absolute": str(outside / "private.png"),
        "climbing": "../outside/private.png",
        "link": "linked.png",
        "linked-folder": "shots/private.png",
        "fifo": "pipe.png",
        "folder": "afolder.png",
    }[how]
    if how == "link":
        (folder / "linked.png").symlink_to(outside / "private.png")
    elif how == "linked-folder":
        (folder / "shots").symlink_to(outside)
    elif how == "fifo":
        os.mkfifo(folder / "pipe.png")
    elif how == "folder":
        (folder / "afolder.png").mkdir()
    episode = folder / "episode-0.json"
    data = json.loads(episode.read_text())
    data["screenshots"][0] = shot
    episode.write_text(json.dumps(data))
    with pytest.raises(DatasetError):
        read_dataset(folder, skip_damaged=False)


@pytest.mark.parametrize("kinds", [["bogus"], ["CLICK"], ["tap"], ["click", "bogus"]])
def test_an_action_type_that_matches_no_step_is_an_error_not_a_zero(
    tmp_path: Path, kinds: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    learn(AITZ)
    flags = [flag for kind in kinds for flag in ("--action-type", kind)]
    assert evaluate(AITZ, tmp_path / "typo", *flags) == 3
    error = capsys.readouterr().err.strip()
    assert "matches no step" in error and "click" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "typo" / "metrics.json").exists()


@settings(max_examples=60, deadline=None)
@given(prefixes=st.lists(st.tuples(st.integers(0, 7), st.integers(1, 7)), min_size=1, max_size=12))
def test_goal_progress_is_the_exact_mean_rounded_once(prefixes: list[tuple[int, int]]) -> None:
    """Each episode's progress is kept exact; the mean over episodes is rounded at the end only."""
    from vlagent.agent.evaluation.gold import Episode
    from vlagent.agent.evaluation.summary import _episode_rates, _episode_row

    rows = []
    for n, (done, steps) in enumerate(prefixes):
        episode = Episode(str(n), "goal")
        episode.steps = [GoldStep(i, Path("x.png"), "mobile_use", {}) for i in range(steps)]
        lines = [{"type_match": True, "exact_match": i < done, "parsed": {}} for i in range(steps)]
        rows.append(_episode_row(episode, lines, "wrong"))
    exact = sum(min(d, s) / s for d, s in prefixes) / len(prefixes)
    assert _episode_rates(rows, step_filter=False)["goal_progress"] == round(exact, 4)


@pytest.mark.parametrize("link", ["broken", "to a file", "to a folder"])
def test_a_link_in_a_dataset_is_accounted_for_never_dropped(tmp_path: Path, link: str) -> None:
    folder = androidcontrol_json(tmp_path / "data", [CONTROL_ACTIONS[1:3]])
    outside = androidcontrol_json(tmp_path / "elsewhere", [CONTROL_ACTIONS[3:5]])
    target = {
        "broken": tmp_path / "nowhere.json",
        "to a file": outside / "episode-0.json",
        "to a folder": outside,
    }[link]
    (folder / "linked").symlink_to(target)
    with pytest.raises(DatasetError, match="symbolic link"):
        read_dataset(folder)
    record = read_dataset(folder, skip_damaged=True).record
    assert [s["file"] for s in record["skipped"]] == ["linked"]
    assert record["episodes_found"] == 1


# -- damage inside an episode: every kind refused, or skipped and recorded ------------------------


def _cut_screenshot(folder: Path, keep: int) -> None:
    shot = sorted(folder.glob("*.png"))[1]
    shot.write_bytes(shot.read_bytes()[:keep])


def _drop_aitz_steps(folder: Path, kept: list[int]) -> None:
    (episode,) = folder.glob("*.json")
    steps = json.loads(episode.read_text())
    episode.write_text(json.dumps([s for s in steps if s["step_id"] in kept]))


def _disagree_on_length(folder: Path) -> None:
    (episode,) = folder.glob("*.json")
    steps = json.loads(episode.read_text())
    steps[2]["episode_length"] += 1
    episode.write_text(json.dumps(steps))


def _short_instructions(folder: Path, count: int) -> None:
    (episode,) = folder.glob("*.json")
    data = json.loads(episode.read_text())
    data["step_instructions"] = data["step_instructions"][:count]
    episode.write_text(json.dumps(data))


DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "a screenshot cut short": ("aitz", lambda f: _cut_screenshot(f, 2000), "unreadable"),
    "a screenshot cut near its end": ("aitz", lambda f: _cut_screenshot(f, -40), "unreadable"),
    "a step missing in the middle": ("aitz", lambda f: _drop_aitz_steps(f, [0, 2, 3]), "missing"),
    "the first step missing": ("aitz", lambda f: _drop_aitz_steps(f, [1, 2, 3]), "missing"),
    "the last step missing": ("aitz", lambda f: _drop_aitz_steps(f, [0, 1, 2]), "says it has 4"),
    "steps disagreeing on the length": ("aitz", _disagree_on_length, "disagree on episode_length"),
    "step instructions for some steps": (
        "androidcontrol",
        lambda f: _short_instructions(f, 2),
        "no step instruction",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_inside_an_episode_is_refused_or_skipped_never_scored(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A screenshot whose file is cut short, a gap in the step numbers, fewer steps than the
    episode says it has, step instructions for only some steps: a dataset error (exit 3), or
    with --skip-damaged the episode is left out and listed, never scored as the model's fault."""
    kind, make, words = DAMAGE[damage]
    if kind == "aitz":
        data = Path(shutil.copytree(AITZ, tmp_path / "data"))
    else:
        data = androidcontrol_json(tmp_path / "data", [CONTROL_ACTIONS[:4]])
    make(data)
    learn(AITZ)
    assert evaluate(data, tmp_path / "out", "--level", "low") == 3
    error = capsys.readouterr().err
    assert words in error and "--skip-damaged" in error, error
    code = evaluate(data, tmp_path / "skip", "--level", "low", "--skip-damaged")
    assert code == 3  # the one episode left out: nothing to score
    assert (
        "no episode" in capsys.readouterr().err or not (tmp_path / "skip" / "metrics.json").exists()
    )


@pytest.mark.parametrize("kinds", [["click"], ["home"], ["click", "swipe"]])
def test_under_action_type_the_counts_say_what_was_scored(
    tmp_path: Path, kinds: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The console's count, the dataset account and the predictions agree: the steps of those
    types, not every step read; the others are listed as excluded."""
    learn(AITZ)
    flags = [flag for kind in kinds for flag in ("--action-type", kind)]
    assert evaluate(AITZ, tmp_path / "out", *flags) == 0
    printed = capsys.readouterr().out
    lines = lines_of(tmp_path / "out")
    account = metrics_of(tmp_path / "out")["dataset"]
    assert account["steps_scored"] == len(lines) == metrics_of(tmp_path / "out")["steps"]
    assert account["episodes_scored"] == len({line["episode"] for line in lines})
    left_out = sum(n for why, n in account["excluded"].items() if "--action-type" in why)
    assert left_out + len(lines) == 4  # the episode's four steps
    assert f"{len(lines)} step" in printed.splitlines()[0]
