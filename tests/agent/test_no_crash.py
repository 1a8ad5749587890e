"""Damaged input is the user's situation, not a bug: every command that reads files, given a
GENERATED damaged recording, episode file or answer, ends with a documented exit code and at most
one ``error:`` line on stderr, never exit 70 ("internal error") and never a traceback. A genuine
bug still is exit 70."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import tool_call, write_script
from vlagent.agent.cli import exitcodes, main
from vlagent.agent.cli.terminal import UNSAFE

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "tap-type-done.txt"
AITZ = Path(__file__).parents[1] / "data" / "aitz-episode"
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def assert_handled(code: int, out: str, err: str) -> None:
    """A documented code, one error line at most (with what to do), no internal error, and
    nothing on the terminal that it would obey."""
    assert code != exitcodes.INTERNAL, err
    assert code in (0, 1, 2, 3, 4), (code, err)
    lines = err.splitlines()
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), err
    failed = sum(line.startswith("error: ") for line in lines)
    assert failed == 1 if code in (2, 3, 4) else failed <= int(code == 1), err
    assert "Traceback" not in err and "internal error" not in err
    assert not UNSAFE.search(out.replace("\n", "").replace("\t", "") + err.replace("\n", ""))


# -- what damage looks like ----------------------------------------------------------------------


def nest(depth: int) -> str:
    """A value nested ``depth`` lists deep, as a placeholder that ``dumps`` writes out (Python's
    own encoder refuses to go that deep)."""
    return f"<nest {depth}>"


def dumps(value: Any) -> str:
    return re.sub(
        r'"<nest (\d+)>"', lambda m: "[" * int(m[1]) + "1" + "]" * int(m[1]), json.dumps(value)
    )


hostile_text = st.lists(
    st.one_of(
        st.characters(),
        st.sampled_from(["\x1b]0;t\x07", "\x1b[2J", "[/x]", "[bold]", "\u202e", "\\", "\ud800"]),
    ),
    max_size=30,
).map("".join)
odd_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, -1, 0]),
    st.floats(),  # NaN and infinities too (json writes them as NaN/Infinity)
    hostile_text,
    st.integers(1, 3000).map(nest),  # deeper than any parser goes, at the top of the range
    st.lists(st.integers(), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)


@st.composite
def damaged_record(draw: st.DrawFn, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` with one value somewhere (at most three levels down) replaced or deleted."""
    changed = json.loads(json.dumps(records))
    node: Any = changed[draw(st.integers(0, len(changed) - 1))]
    for _ in range(draw(st.integers(0, 2))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        inner = [k for k in keys if isinstance(node[k], dict | list) and node[k]]
        if not inner:
            break
        node = node[draw(st.sampled_from(inner))]
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if not keys:
        return changed
    key = draw(st.sampled_from(keys))
    if isinstance(node, dict) and draw(st.booleans()):
        del node[key]
    else:
        node[key] = draw(odd_value)
    return changed


raw_line = st.one_of(
    st.binary(max_size=60),
    st.integers(1, 200_000).map(lambda n: b'{"type": "step", "x": ' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 200_000).map(lambda n: b"[" * n),
    st.sampled_from(
        [
            b'{"type": "step", "index": ' + b"9" * 5000 + b"}",
            b'{"type": "step", "scale": 1e999999}',
            b'{"type": "step", "index": NaN}',
            b'{"type": "end"}',
            b'{"type": "header"}',
            b"\xff\xfe\x00",
            b"",
        ]
    ),
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nocrash") / "run"
    args = ["run", "--env", "memory", "--space", "mobile", "--goal", "Type a greeting"]
    code, _, err = cli(*args, "--model", f"scripted:{EXAMPLE}", "--out", str(out))
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("answers") / "answers.txt"
    return f"scripted:{write_script(path, [tool_call(action='wait', time=1)] * 40)}"


def _commands(run: Path, answers: str) -> dict[str, list[str]]:
    """Every command that reads a recording, writing where the run's copy is."""
    return {
        "show": ["show", str(run)],
        "report": ["report", str(run)],
        "replay": ["replay", str(run), "--speed", "0", "--patience", "0", "--out", f"{run}-r"],
        "export": ["export", str(run), "--out", f"{run}-x"],
        "eval": ["eval", str(run), "--out", f"{run}-e", "--model", answers],
    }


COMMANDS = ["show", "report", "replay", "export", "eval"]


def _copy(recorded: Path) -> Path:
    return Path(shutil.copytree(recorded, Path(tempfile.mkdtemp()) / "run"))


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "trajectory.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("command", COMMANDS)
@SETTINGS
@given(data=st.data())
def test_a_damaged_record_never_crashes(
    command: str, recorded: Path, answers: str, data: st.DataObject
) -> None:
    run = _copy(recorded)
    records = data.draw(damaged_record(_records(run)))
    (run / "trajectory.jsonl").write_text("".join(dumps(r) + "\n" for r in records))
    assert_handled(*cli(*_commands(run, answers)[command]))


@pytest.mark.parametrize("command", COMMANDS)
@SETTINGS
@given(line=raw_line, where=st.integers(0, 5), torn=st.booleans())
def test_a_damaged_line_never_crashes(
    command: str, recorded: Path, answers: str, line: bytes, where: int, torn: bool
) -> None:
    run = _copy(recorded)
    file = run / "trajectory.jsonl"
    lines = file.read_bytes().split(b"\n")[:-1]
    lines[min(where, len(lines) - 1)] = line
    file.write_bytes(b"\n".join(lines) + (b"" if torn else b"\n"))
    assert_handled(*cli(*_commands(run, answers)[command]))


@st.composite
def damaged_files(draw: st.DrawFn) -> str:
    return draw(
        st.sampled_from(
            [
                "empty",
                "trajectory-is-a-directory",
                "no-screens",
                "screen-is-a-directory",
                "screen-is-garbage",
                "run-is-a-file",
                "no-run",
            ]
        )
    )


def _damage_files(run: Path, how: str, garbage: bytes) -> Path:
    file, screens = run / "trajectory.jsonl", sorted((run / "screens").glob("*.png"))
    if how == "empty":
        file.write_bytes(b"")
    elif how == "trajectory-is-a-directory":
        file.unlink()
        file.mkdir()
    elif how == "no-screens":
        shutil.rmtree(run / "screens")
    elif how == "screen-is-a-directory":
        screens[0].unlink()
        screens[0].mkdir()
    elif how == "screen-is-garbage":
        for shot in screens:
            shot.write_bytes(garbage)
    elif how == "run-is-a-file":
        shutil.rmtree(run)
        run.write_bytes(garbage)
    else:
        shutil.rmtree(run)
    return run


@pytest.mark.parametrize("command", COMMANDS)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(how=damaged_files(), garbage=st.binary(max_size=40))
def test_damaged_files_never_crash(
    command: str, recorded: Path, answers: str, how: str, garbage: bytes
) -> None:
    run = _damage_files(_copy(recorded), how, garbage)
    assert_handled(*cli(*_commands(run, answers)[command]))


def _androidcontrol(folder: Path) -> Path:
    """An AndroidControl episode in JSON over the AITZ screenshots."""
    shots = sorted(AITZ.glob("*.png"))
    for shot in shots:
        shutil.copy(shot, folder)
    episode = {
        "episode_id": 7,
        "goal": "open the clock",
        "screenshots": [shot.name for shot in shots],
        "actions": [
            {"action_type": "click", "x": 10, "y": 20},
            {"action_type": "input_text", "text": "hi"},
            {"action_type": "scroll", "direction": "down"},
        ],
        "step_instructions": ["a", "b", "c"],
        "elements": [[[0, 0, 50, 50]], [], [[1, 2, 3, 4]]],
    }
    (folder / "episode.json").write_text(json.dumps([episode]))  # damaged_record takes a list
    return folder / "episode.json"


@pytest.mark.parametrize("kind", ["aitz", "androidcontrol"])
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_damaged_episode_file_never_crashes(
    kind: str, tmp_path_factory: pytest.TempPathFactory, answers: str, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp(kind) / "episode"
    if kind == "aitz":
        shutil.copytree(AITZ, folder)
        (episode,) = folder.glob("*.json")
        damaged = data.draw(damaged_record(json.loads(episode.read_text())))
    else:
        folder.mkdir()
        episode = _androidcontrol(folder)
        damaged = data.draw(damaged_record(json.loads(episode.read_text())))[0]
    episode.write_text(dumps(damaged))
    out = folder.parent / "out"
    assert_handled(*cli("eval", str(folder), "--out", str(out), "--model", answers, "--limit", "1"))


@settings(max_examples=100, deadline=None)
@given(
    text=st.one_of(
        hostile_text,
        st.integers(1, 100_000).map(lambda n: "<tool_call>" + "[" * n + "]" * n + "</tool_call>"),
        st.integers(1, 100_000).map(lambda n: '{"name": "x", "arguments": ' + "{" * n),
    ),
    dialect=st.sampled_from(["qwen2-vl", "qwen2.5-vl", "ui-tars-1.5", "json", "[/x]"]),
)
def test_parse_never_crashes(text: str, dialect: str) -> None:
    code, out, err = cli("parse", text, "--dialect", dialect, "--screen", "1080x2400")
    assert_handled(code, out, err)


# -- the reported examples, and the line drawn -------------------------------------------------


def test_deep_nesting_in_a_recording_is_a_damaged_line(recorded: Path) -> None:
    run = _copy(recorded)
    with (run / "trajectory.jsonl").open("a") as file:
        file.write('{"type": "step", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    code, out, err = cli("show", str(run))
    assert code == 0 and "unreadable" in err and "goal: Type a greeting" in out


def test_a_markup_dialect_name_is_shown_not_a_crash(recorded: Path) -> None:
    run = _copy(recorded)
    records = _records(run)
    records[0]["dialect"] = "[/x]"
    (run / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = cli("show", str(run))
    assert code == 0 and "dialect [/x]" in out, err


def test_a_recorded_option_of_the_wrong_type_is_one_line(recorded: Path) -> None:
    run = _copy(recorded)
    records = _records(run)
    records[0]["environment"]["scale"] = "x"
    (run / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, err = cli("replay", str(run), "--speed", "0", "--out", f"{run}-r")
    assert code == exitcodes.SETUP and "scale" in err and "--scale" in err
    assert len(err.splitlines()) == 1


def test_an_input_error_that_a_reader_missed_is_setup_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, recorded: Path
) -> None:
    import vlagent.agent.trajectory as trajectory

    def unreadable(run_dir: object) -> None:
        json.loads("[" * 100_000)  # what a reader that forgot RecursionError lets through

    monkeypatch.setattr(trajectory, "read_trajectory", unreadable)
    code, _, err = cli("show", str(recorded))
    assert code == exitcodes.SETUP
    assert err.startswith("error: cannot read the input (RecursionError") and "check the" in err
    assert len(err.splitlines()) == 1


def test_a_genuine_bug_is_still_exit_70(monkeypatch: pytest.MonkeyPatch, recorded: Path) -> None:
    import vlagent.agent.trajectory as trajectory

    def buggy(run_dir: object) -> None:
        def again(n: int) -> int:
            return again(n + 1)

        again(0)

    for bug in (buggy, lambda run_dir: {}["key"], lambda run_dir: int("x")):
        monkeypatch.setattr(trajectory, "read_trajectory", bug)
        code, _, err = cli("show", str(recorded))
        assert code == exitcodes.INTERNAL and "internal error" in err
    assert exitcodes.code_for(ValueError("a bug")) == exitcodes.INTERNAL
    assert exitcodes.code_for(RecursionError()) == exitcodes.INTERNAL
    assert exitcodes.code_for(IsADirectoryError(21, "Is a directory")) == exitcodes.SETUP


def _text_fields(records: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every place a recording holds free text (the goal, the model's words, typed text, the
    reason it ended): where a file or a model may carry a lone surrogate."""
    for record in records:
        for key in ("goal", "output_text", "prompt_text", "reason"):
            if isinstance(record.get(key), str):
                yield record, key
        action = record.get("action") or {}
        for part in ("model", "normalized", "device"):
            if isinstance(action.get(part, {}).get("text"), str):
                yield action[part], "text"


@pytest.mark.parametrize("command", COMMANDS)
def test_lone_surrogates_in_a_recordings_text_are_written_not_a_crash(
    command: str, recorded: Path, answers: str
) -> None:
    """Every file a command writes (predictions, metrics, the journal, reports) takes text that
    holds a lone surrogate, as the trajectory itself did."""
    run = _copy(recorded)
    records = _records(run)
    fields = list(_text_fields(records))
    assert len(fields) >= 5
    for holder, key in fields:
        holder[key] += "\ud800"
    (run / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = cli(*_commands(run, answers)[command])
    assert_handled(code, out, err)
    assert code == 0 or command == "replay", err  # replay: the typed text now differs


@pytest.mark.parametrize("executed", [True, False])
def test_the_live_view_says_whether_a_failed_action_was_done(
    executed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """An action done whose result is not ok (the app exited after it) reads "done, but", one
    that was not done "refused": the line says what happened on the device."""
    from vlagent.agent import Agent, Limits
    from vlagent.agent.cli.common import LiveView
    from vlagent.agent.runtimes import ScriptedRuntime
    from vlagent.environments import ActionResult, MemoryEnvironment
    from vlagent.prompts import get_dialect

    class Answers(MemoryEnvironment):
        def execute(self, action: Any) -> ActionResult:
            return ActionResult(ok=False, executed=executed, message="the app went away")

    model = ScriptedRuntime([tool_call(action="wait", time=0.01)])
    env = Answers(space="mobile")
    Agent(
        model, get_dialect("qwen2-vl"), env, listeners=[LiveView()], limits=Limits(max_steps=1)
    ).run("g")
    printed = capsys.readouterr().out
    said = "done, but the app went away" if executed else "refused: the app went away"
    assert said in printed, printed


@pytest.mark.parametrize("command", ["show", "report", "export", "replay"])
def test_a_run_that_is_not_there_is_the_same_exit_code_for_every_command(
    command: str, tmp_path: Path
) -> None:
    """A missing recording is a setup error (3) whichever command reads it."""
    args = {
        "show": ["show", str(tmp_path / "nowhere")],
        "report": ["report", str(tmp_path / "nowhere")],
        "export": ["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")],
        "replay": ["replay", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")],
    }[command]
    code, _, err = cli(*args)
    assert code == exitcodes.SETUP and "no trajectory" in err, err
