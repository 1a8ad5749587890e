"""Text from a model, a recording, a dataset, a device or a server reaches the terminal only through
``terminal_text``: no escape sequence a terminal would obey (clear the screen, set the title, write
the clipboard), no bidi override that disguises the text, and Rich markup printed as it is."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli, tool_call
from vlagent.agent.cli import exitcodes, main
from vlagent.agent.cli.common import console, errors
from vlagent.agent.cli.terminal import UNSAFE, terminal_json, terminal_text

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "tap-type-done.txt"

C0 = [chr(c) for c in range(0x20)] + ["\x7f"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x61C]]
ESC_OR_C1 = ["\x1b", "\x9b", "\x9d", "\x90", "\x98", "\x9e", "\x9f"]

# Text a person can see: any character but controls, bidi marks and surrogates, with Rich's
# markup characters and emoji codes made likely.
visible = st.text(
    st.one_of(
        st.characters(
            blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
            blacklist_characters="".join(BIDI),
        ),
        st.sampled_from(list("[]/\\:#@ ")),
    ),
    max_size=12,
)
markup = st.sampled_from(
    ["[/x]", "[bold]", "[/]", "[red]x[/red]", "[link=http://e.vil]", "\\[b]", ":smile:", "\\"]
)


def _csi() -> st.SearchStrategy[str]:
    params = st.text(st.sampled_from("0123456789;?<=>"), max_size=8)
    final = st.sampled_from([chr(c) for c in range(0x40, 0x7F)])
    intro = st.sampled_from(["\x1b[", "\x9b"])
    return st.builds(lambda i, p, f: i + p + f, intro, params, final)


def _control_string() -> st.SearchStrategy[str]:
    """OSC (title, clipboard, hyperlink), DCS, APC…, ended by BEL or ST (7- or 8-bit)."""
    intro = st.sampled_from(["\x1b]", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\x9d", "\x90", "\x9f"])
    payload = st.one_of(
        st.sampled_from(["0;pwned", "52;c;Y3VybCBldmlsfHNo", "8;;http://e.vil", "2;title"]),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    )
    end = st.sampled_from(["\x07", "\x1b\\", "\x9c"])
    return st.builds(lambda i, p, e: i + p + e, intro, payload, end)


hostile = st.one_of(
    _csi(),
    _control_string(),
    st.sampled_from(["\x1bc", "\x1b7", "\x1b8", "\x1b(B", "\x1b#8", "\x1b=", "\x1bM"]),
    # Single controls; ESC and the 8-bit introducers start sequences (above), so they are not here.
    st.sampled_from([c for c in C0 + C1 if c not in "\t\n\r\x0b\x0c" + "".join(ESC_OR_C1)]),
    st.sampled_from(BIDI),
)
line_break = st.sampled_from(["\n", "\r\n", "\r", "\t", "\x0b", "\x0c", "\u2028", "\u2029"])


def shown(text: str) -> str:
    """What the CLI's console makes visible of ``text`` (markup and emoji as it reads them)."""
    return console.render_str(text).plain


def assert_clean(text: str) -> None:
    assert not UNSAFE.search(text), ascii(text)
    assert not any("\ud800" <= c <= "\udfff" for c in text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(visible, st.one_of(hostile, markup, line_break)), max_size=8))
def test_hostile_text_prints_as_its_visible_text_on_one_line(
    pieces: list[tuple[str, str]],
) -> None:
    text = "".join(v + h for v, h in pieces)
    expected = "".join(v + _expected_of(h) for v, h in pieces)
    safe = terminal_text(text)
    assert_clean(shown(safe))
    assert shown(safe) == expected
    assert "\n" not in shown(safe)
    # Embedded among the CLI's own markup it neither breaks the line's tags nor leaks into them.
    assert shown(f"[dim]{safe}[/dim] [bold]end[/bold]") == expected + " end"


def _expected_of(hostile_piece: str) -> str:
    if hostile_piece in ("\n", "\r\n", "\r", "\t", "\x0b", "\x0c", "\u2028", "\u2029"):
        return " "
    if UNSAFE.search(hostile_piece) or hostile_piece.startswith(("\x1b", "\x9b")):
        return ""
    return hostile_piece  # markup and emoji codes are text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(visible, st.one_of(hostile, st.just("\n"), st.just("\t"))), max_size=8))
def test_a_block_keeps_its_lines_and_nothing_else(pieces: list[tuple[str, str]]) -> None:
    text = "".join(v + h for v, h in pieces)
    expected = "".join(v + (h if h in "\n\t" else "") for v, h in pieces)
    safe = terminal_text(text, block=True)
    assert not UNSAFE.search(safe)
    assert safe.count("\n") == expected.count("\n") and safe.count("\t") == expected.count("\t")
    assert shown(safe).replace("\t", " " * 8).split() == expected.split()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_at_all_is_clean_and_never_a_markup_error(text: str) -> None:
    safe = terminal_text(text)
    assert_clean(shown(safe))
    shown(f"[yellow]warning:[/yellow] {safe}[bold][/bold]")  # no MarkupError
    with console.capture() as capture:  # and it encodes: a lone surrogate would not
        console.print(safe)
    assert_clean(capture.get())


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False), st.none()),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    )
)
def test_json_for_the_terminal_holds_the_same_data_and_no_control(data: object) -> None:
    text = terminal_json(data)
    assert not UNSAFE.search(text.replace("\n", ""))
    assert json.loads(text) == data
    text.encode("utf-8")  # lone surrogates are written as escapes


# -- the reported examples ---------------------------------------------------------------------


def test_escape_sequences_are_removed_whole() -> None:
    assert terminal_text("a\x1b]0;evil title\x07b") == "ab"
    assert terminal_text("x\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\y") == "xy"  # OSC 52 clipboard
    assert terminal_text("\x1b[2J\x1b[Hclean") == "clean"  # clear screen, cursor home
    assert terminal_text("pay\u202eexe.txt") == "payexe.txt"  # right-to-left override
    assert terminal_text("safe\rEVIL") == "safe EVIL"  # a carriage return cannot overwrite


def test_markup_is_text() -> None:
    assert shown(terminal_text("[/x]")) == "[/x]"
    assert shown(terminal_text("[bold red]x[/]")) == "[bold red]x[/]"
    assert shown(terminal_text(":thumbs_up:")) == ":thumbs_up:"
    assert shown(terminal_text("C:\\") + "[dim]d[/dim]") == "C:\\d"


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("terminal") / "run"
    args = ["run", "--env", "memory", "--space", "mobile", "--goal", "Type a greeting"]
    code, _, err = _run(*args, "--model", f"scripted:{EXAMPLE}", "--out", str(out))
    assert code == 0, err
    return out


def _rewrite(run: Path, to: Path, change: dict[str, dict[str, object]]) -> Path:
    shutil.copytree(run, to)
    lines = [json.loads(line) for line in (to / "trajectory.jsonl").read_text().splitlines()]
    for record in lines:
        record.update(change.get(str(record["type"]), {}))
    (to / "trajectory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return to


def test_show_prints_a_hostile_recording_as_text(recorded: Path, tmp_path: Path) -> None:
    hostile_goal = "\x1b]0;owned\x07\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07Buy milk\u202e"
    run = _rewrite(
        recorded,
        tmp_path / "run",
        {
            "header": {
                "goal": hostile_goal,
                "dialect": "[/x]",
                "model": {"id": "m\x9b2J[b]", "runtime": "x"},
            },
            "end": {"reason": "done\x1b[31m\nfake: line"},
        },
    )
    code, out, err = _run("show", str(run))
    assert code == 0, err
    assert_clean(out + err)
    assert "goal: Buy milk" in out and "dialect [/x]" in out and "model m[b]" in out
    assert "success: done fake: line" in out


def test_errors_and_warnings_are_clean_single_lines() -> None:
    code, _, err = _run("show", "/nonexistent/\x1b]0;t\x07[/x]\nrun")
    assert code == exitcodes.SETUP
    assert_clean(err)
    assert err.count("\n") == 1 and "[/x]" in err
    assert errors.render_str(terminal_text("x\ny")).plain == "x y"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(visible, st.one_of(hostile, markup)), max_size=8))
def test_without_markup_the_text_is_kept_as_it_is_but_clean(pieces: list[tuple[str, str]]) -> None:
    text = "".join(v + h for v, h in pieces)
    assert terminal_text(text, markup=False) == "".join(v + _expected_of(h) for v, h in pieces)


def test_a_ui_test_failure_shows_the_model_s_reason_clean() -> None:
    from vlagent.agent.core.steps import RunResult
    from vlagent.agent.runtimes import ScriptedRuntime
    from vlagent.agent.uitest.tester import UITester
    from vlagent.environments import MemoryEnvironment
    from vlagent.prompts import get_dialect

    reason = "no\x1b]52;c;cm0gLXJmIH4=\x07 button\x1b[2J\u202e [b]"
    idle = ScriptedRuntime([tool_call(action="terminate", status="success")])
    tester = UITester(idle, get_dialect("qwen2-vl"), MemoryEnvironment())
    failure = tester._failure("check", RunResult("failure", reason, None, []), None)
    assert str(failure) == "check failed (failure): no button [b]"


def test_show_in_a_real_process_writes_no_escape_byte(recorded: Path, tmp_path: Path) -> None:
    run = _rewrite(
        recorded,
        tmp_path / "run",
        {"header": {"goal": "\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;t\x1b\\\x1bc[/x]hi\x9b2J"}},
    )
    done = run_cli("show", str(run))
    assert done.returncode == 0, done.stderr
    assert "goal: [/x]hi" in done.stdout
    assert_clean(done.stdout + done.stderr)
