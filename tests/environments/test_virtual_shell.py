"""The virtual phone's shell is held to Android's own: generated command lines (quoting, ``;``
``&&`` ``||`` ``|``, ``$?``, ``echo`` and ``echo -n``, exit codes, comments, commands that go on
on the next line) and every command line the driver sends run through the virtual phone's shell
and through mksh (Android's ``/system/bin/sh``, with toybox's ``cat`` and ``rm``); both print the
same, say the same errors and end with the same status.

Programs the phone has (``input``, ``wm``, ``am``...) are stubs on both sides that print their
name and arguments, so what is compared is what the shell hands each program.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.environments.shells import mksh, need, stub_bin
from vlagent.environments.android import AndroidEnvironment
from vlagent.environments.android_commands import typing_commands
from vlagent.environments.virtual_android import Phone, VirtualDevice, sh
from vlagent.environments.virtual_android import shell as virtual_shell
from vlagent.environments.virtual_android.sh import Ran
from vlagent.tools import ToolCall, mobile_tools

PROGRAMS = ("args", "input", "wm", "am", "monkey", "pm", "ime", "dumpsys", "uiautomator")
PROGRAMS += ("settings", "screencap", "getprop")
PRINTER = '#!/bin/sh\nprintf "[%s]" "${0##*/}" "$@"\nprintf "\\n"\n'


def _printed(argv: list[str]) -> bytes:
    return "".join(f"[{a}]" for a in argv).encode() + b"\n"


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("mksh")
    folder = stub_bin(tmp_path_factory.mktemp("bin"), (), toybox=("cat", "rm"))
    for name in PROGRAMS:
        (folder / name).write_text(PRINTER)
        (folder / name).chmod(0o755)
    return folder


def _error_lines(errors: bytes, prefix: str) -> list[str]:
    """Error lines without the shell's own prefix (``/system/bin/sh: `` on a phone, ``mksh:
    <stdin>[1]: `` here, ``E: `` before it in mksh R59)."""
    lines = errors.decode("utf-8", "replace").splitlines()
    return [re.sub(prefix, "", line) for line in lines]


def run_mksh(script: str, programs: Path, tmp_path: Path) -> tuple[bytes, list[str], int]:
    done = mksh(script, programs, tmp_path / "calls", tmp_path)
    return (
        done.stdout,
        _error_lines(done.stderr, r"^(E: )?(\S*/)?mksh: (<stdin>\[\d+\]: )?"),
        done.returncode,
    )


def run_virtual(script: str) -> tuple[bytes, list[str], int]:
    """``script`` read line by line by the shell of a virtual phone's adb shell session."""
    stubs = {
        name: (lambda phone, args, name=name: (_printed([name, *args]), 0)) for name in PROGRAMS
    }
    output, errors = b"", b""
    with mock.patch.dict(virtual_shell.COMMANDS, stubs):
        session = virtual_shell.Session(Phone())
        ran: Ran | None = None
        for line in script.split("\n")[:-1]:
            ran = session.feed(line)
            if ran is not None:
                output, errors = output + ran.output, errors + ran.errors
                if ran.ended:
                    break
        if ran is None or not ran.ended:
            ran = session.end()
            output, errors = output + ran.output, errors + ran.errors
    return output, _error_lines(errors, r"^/system/bin/sh: "), ran.status


def assert_same(script: str, programs: Path, tmp_path: Path) -> None:
    assert run_virtual(script) == run_mksh(script, programs, tmp_path), script


# -- generated command lines --------------------------------------------------------------------

SAFE = string.ascii_letters + string.digits + "%+,-./:=@_^!#"
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
bare = st.text(SAFE, min_size=1, max_size=5)
single = st.text(PRINTABLE.replace("'", "") + "\t", max_size=8).map(lambda t: f"'{t}'")
in_double = st.one_of(
    st.text(PRINTABLE.translate(str.maketrans("", "", '"\\$`')), min_size=1, max_size=5),
    st.sampled_from(["\\\\", '\\"', "\\$", "\\`", "\\q", "$?", "$%", "$.", "$ "]),
    st.sampled_from(["\\n", "\\t", "\\c", "\\a", "\\e", "\\x41", "\\x7", "\\0101", "\\0", "\\08"]),
    st.sampled_from(["\\u00e9", "\\U0001F600", "\\u41", "\\101", "\\x", "\\0777"]),
)
double = st.lists(in_double, max_size=4).map(lambda parts: '"' + "".join(parts) + '"')
escaped = st.sampled_from(PRINTABLE + "\t").map(lambda c: "\\" + c)
literal_dollar = st.sampled_from(["$%", "$.", "$/", "$,", "$+", "$:", "$=", "$^"])
part = st.one_of(bare, single, double, escaped, st.just("$?"), literal_dollar)
word = st.lists(part, min_size=1, max_size=3).map("".join)
words = st.lists(word, max_size=4).map(" ".join)
echo_options = st.lists(
    st.sampled_from(["-n", "-e", "-E", "-ne", "-En", "-nq", "-", "--", "-x", "-nn"]), max_size=2
)


@st.composite
def command(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["echo", "echo", "args", "status", "program", "other"]))
    if kind == "echo":
        return " ".join(["echo", *draw(echo_options), draw(words)]).strip()
    if kind == "status":
        return draw(st.sampled_from(["true", "false", "exit", "exit 3", "exit 0", "exit 256"]))
    if kind == "other":
        # (never a lone cat: it would read the session's next lines, on a phone as in mksh)
        return draw(st.sampled_from(["nosuch", "cat /nowhere/x", "rm /nowhere/y", "rm -f /a"]))
    return f"{draw(st.sampled_from(PROGRAMS))} {draw(words)}".strip()


def _quiet(command: str) -> bool:
    """Says nothing on stderr: only such commands are piped (the commands of a pipeline run at
    once, so two of them writing to stderr interleave in any order)."""
    return not command.startswith(("nosuch", "cat /", "rm "))


@st.composite
def command_line(draw: st.DrawFn) -> str:
    commands = draw(st.lists(command(), min_size=1, max_size=4))
    line = commands[0]
    for before, after in zip(commands, commands[1:]):
        joiners = [";", " ; ", " && ", "||", "&&", " || "]
        joiners += [" | "] if _quiet(before) and _quiet(after) else []
        line += draw(st.sampled_from(joiners)) + after
    line += draw(st.sampled_from(["", ";", " ", " # a comment; echo no", "\t"]))
    line += " | cat" if _quiet(commands[-1]) and draw(st.booleans()) else ""
    if draw(st.booleans()):  # goes on on the next line
        more = draw(command())
        endings = [" &&\n", " ||\n", " && \\\n"] + [" |\n"] * _quiet(commands[-1]) * _quiet(more)
        line += draw(st.sampled_from(endings)) + more
    return line


def _background(script: str) -> bool:
    """Whether ``script`` runs a command in the background (its output then comes in any order)."""
    try:
        return "&" in sh.tokens(script)
    except (sh.Incomplete, sh.Unsupported):
        return False


scripts = st.lists(command_line(), min_size=1, max_size=3).map(
    lambda lines: "\n".join(lines) + "\n"
)

LISTED = [
    "echo -n partial; true",
    "false; echo $?",
    "false && echo no || echo yes $?",
    "echo '$?' \"$?\" \\$\\?",
    "echo a ;; echo b",
    "; echo b",
    "echo a && && echo b",
    "echo 'it'\\''s' \"a\\\"b\" a\\ b",
    "nosuch; echo $?",
    "echo a | cat; echo $?",
    "true | false; echo $?",
    "exit 3; echo no",
    "echo 'a\nb' &&\necho c",
    "echo -e 'a\\tb' -E; echo -E 'a\\tb'; echo -nq x",
    "echo a #c; echo b",
    "echo a#c",
    "cat /nowhere/x; echo $?",
]


@pytest.mark.parametrize("script", LISTED)
def test_each_listed_line_runs_as_mksh_runs_it(script: str, programs: Path, tmp_path: Path) -> None:
    assert_same(script + "\n", programs, tmp_path)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=scripts)
def test_generated_lines_run_as_mksh_runs_them(script: str, programs: Path, tmp_path: Path) -> None:
    assume(not _background(script))
    assert_same(script, programs, tmp_path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(PRINTABLE + "\t\n", max_size=20))
def test_the_drivers_typing_lines_run_as_mksh_runs_them(
    text: str, programs: Path, tmp_path: Path
) -> None:
    commands = typing_commands(text)
    script = "".join(f"{c}\necho __vlagent_0123456789ab_$?\n" for c in commands)
    assert_same(script, programs, tmp_path)


# -- every line the driver sends ------------------------------------------------------------------


@pytest.fixture
def driven(phone: VirtualDevice) -> Iterator[list[str]]:
    """The command lines of a run with every kind of action, as the virtual phone received
    them (the session's lines, each answered by its marker line)."""
    env = AndroidEnvironment(serial=phone.serial, ui_tree=True)
    env.freeze_clock()

    def act(**arguments: object) -> None:
        env.execute(mobile_tools(elements=True).validate(ToolCall("mobile_use", arguments)))

    env.observe()
    act(action="open", text="Notes")
    act(action="click", coordinate=[0.5, 0.12])
    act(action="type", text='it\'s 100%sure; a\\b $HOME `x` "q"\nnext line')
    act(action="type", text="héllo")
    act(action="long_press", coordinate=[0.5, 0.3], time=0.6)
    act(action="swipe", coordinate=[0.5, 0.8], coordinate2=[0.5, 0.2])
    act(action="key", text="volume_up")
    act(action="system_button", button="Back")
    env.observe()
    yield list(phone.commands)
    env.close()


def test_every_line_the_driver_sends_runs_as_mksh_runs_it(
    driven: list[str], programs: Path, tmp_path: Path
) -> None:
    assert len(driven) > 20 and any(c.startswith("input text") for c in driven)
    script = "".join(f"{line}\n" for line in driven)
    assert_same(script, programs, tmp_path)
    for line in driven:  # and one by one, as `adb shell LINE` runs them
        assert_same(line + "\n", programs, tmp_path)
