"""Typed text is literal under Android's own rules: the driver's command lines, run by mksh
(Android's shell) with ``input`` stubbed by a port of AOSP's ``input text`` rule
(tests/data/android_input), type exactly the text; so does the virtual phone, through the real
adb server."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.environments.android_fixtures import AdbServer
from tests.environments.shells import mksh, need, read_calls, stub_bin
from vlagent.environments.android import AndroidEnvironment
from vlagent.environments.android_commands import INPUT_TEXT_CHARACTERS, typing_commands
from vlagent.environments.virtual_android import Phone, VirtualDevice
from vlagent.environments.virtual_android.shell import Failed, input_text
from vlagent.tools import ToolCall, mobile_tools

RULE_FILE = Path(__file__).parents[1] / "data" / "android_input" / "input_text_rule.py"


def _load_rule() -> ModuleType:
    spec = importlib.util.spec_from_file_location("input_text_rule", RULE_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RULE = _load_rule()

# Printable ASCII, weighted to what input text and the shell treat specially.
SPECIAL = ["%", "s", "%s", "%%", " ", "'", '"', "\\", "$", ";", "&", "\t", "\n", "-", "#", "*"]
typeable = st.lists(
    st.one_of(st.sampled_from(SPECIAL), st.characters(min_codepoint=0x20, max_codepoint=0x7E)),
    max_size=30,
).map("".join)
EXAMPLES = ["pa%ss 100%sure", "%s", "%", "%%s", "%%%s", "% s", "s%", "%\ns", 'it\'s "%s"']


def typed_by_rule(commands: list[str], tmp_path: Path) -> str:
    """What a phone types for ``commands``: mksh runs them (as the session writes them, one a
    line), ``input`` records its arguments, and the AOSP rule says what each call types."""
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    done = mksh("".join(f"{c}\n" for c in commands), _bin(tmp_path), calls, tmp_path)
    assert done.returncode == 0, done.stderr
    return "".join(RULE.input_command(call[1:]) for call in read_calls(calls))


def _bin(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    return folder if folder.exists() else stub_bin(folder, ("input",))


@pytest.mark.parametrize("text", EXAMPLES)
def test_each_listed_text_is_typed_exactly_under_androids_rule(text: str, tmp_path: Path) -> None:
    assert typed_by_rule(typing_commands(text), tmp_path) == text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=typeable)
def test_any_typeable_text_is_typed_exactly_under_androids_rule(text: str, tmp_path: Path) -> None:
    commands = typing_commands(text)
    assert all("\n" not in command for command in commands)  # one command a line
    assert typed_by_rule(commands, tmp_path) == text


def test_the_rule_itself_runs_as_input_under_mksh(tmp_path: Path) -> None:
    """The rule file is an ``input`` of its own: mksh runs the driver's lines with it on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "input").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{RULE_FILE}" "$@"\n')
    (folder / "input").chmod(0o755)
    typed = tmp_path / "typed"
    text = "pa%ss 100%sure\n%%s it's"
    script = "".join(f"{c}\n" for c in typing_commands(text))
    done = subprocess.run(
        [need("mksh")],
        input=script.encode(),
        capture_output=True,
        env={"PATH": f"{folder}:/usr/bin:/bin", "INPUT_TYPED": str(typed)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert typed.read_text() == text


def test_the_naive_command_is_mangled_by_androids_rule() -> None:
    # What the issue saw: one input text for the whole text turns each %s into a space.
    assert RULE.send_text("pa%ss%s100%sure") == "pa s 100 ure"


@given(text=st.text(max_size=20) | typeable)
def test_the_virtual_phones_input_text_follows_the_rule(text: str) -> None:
    try:
        expected = RULE.send_text(text)
    except RULE.NoKeyForCharacter:
        with pytest.raises(Failed):
            input_text(text)
    else:
        assert input_text(text) == expected


@given(text=st.text(min_size=1, max_size=20))
def test_only_what_input_text_can_type_is_given_to_it(text: str) -> None:
    # Any other character goes through ADB Keyboard (or the action fails): input would throw.
    if INPUT_TEXT_CHARACTERS.issuperset(text):
        RULE.send_text(text.replace("\n", ""))  # types without an exception
    else:
        with pytest.raises(RULE.NoKeyForCharacter):
            RULE.send_text(text.replace("\n", ""))


# -- the virtual phone, through the real adb server --------------------------------------------

FIELD = "com.vlagent.notes:id/note"


@pytest.fixture
def notes(phone: VirtualDevice) -> Iterator[AndroidEnvironment]:
    env = AndroidEnvironment(serial=phone.serial)
    phone.run("monkey -p com.vlagent.notes -c android.intent.category.LAUNCHER 1")
    phone.phone.field_focused = True  # the note field, as a tap on it leaves it
    yield env
    env.close()


def type_on(env: AndroidEnvironment, phone: VirtualDevice, text: str) -> str:
    phone.phone.note, phone.phone.notes = "", []
    result = env.execute(
        mobile_tools().validate(ToolCall("mobile_use", {"action": "type", "text": text}))
    )
    assert result.ok, result.message
    state = phone.state()
    # Enter saves the note: the lines saved, then what is in the field.
    return "\n".join([*state["notes"], state["note"]])


@pytest.mark.parametrize("text", ["%s", "%", "%%s", "pa%ss 100%sure", "%s%s s%"])
def test_percent_s_types_exactly_on_the_virtual_phone(
    notes: AndroidEnvironment, phone: VirtualDevice, text: str
) -> None:
    assert type_on(notes, phone, text) == text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=typeable.filter(bool))
def test_any_typeable_text_types_exactly_on_the_virtual_phone(
    notes: AndroidEnvironment, phone: VirtualDevice, text: str
) -> None:
    # A newline is Enter, which saves the note: the saved lines and the field hold the text
    # (the phone saves no empty note, so lines are compared without empty ones).
    typed = type_on(notes, phone, text)
    assert [line for line in typed.split("\n") if line] == [
        line for line in text.split("\n") if line
    ]


def test_text_input_text_cannot_type_goes_through_adb_keyboard(
    notes: AndroidEnvironment, phone: VirtualDevice
) -> None:
    assert type_on(notes, phone, "tab\tand é %s") == "tab\tand é %s"
    assert any("ADB_INPUT_B64" in c for c in phone.commands)


# Line breaks of every spelling, the controls a key types, controls no key types, text that
# input text types and text only ADB Keyboard types: one rule on the phone as on the desktop.
controlled = st.lists(
    st.sampled_from([*"ab %s\t", "\n", "\r", "\r\n", "\x07", "\x00", "é", "你", "\u200b"]),
    min_size=1,
    max_size=12,
).map("".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=controlled)
def test_a_line_break_is_enter_and_a_control_no_key_types_is_left_out_whatever_the_text(
    notes: AndroidEnvironment, phone: VirtualDevice, text: str
) -> None:
    """Whether the text goes by input text or by ADB Keyboard: every line break (\\n, \\r,
    \\r\\n) presses Enter, a control character no key types is left out and named, and the phone
    keeps serving (its screen and UI tree stay readable)."""
    phone.phone.note, phone.phone.notes = "", []
    result = notes.execute(
        mobile_tools().validate(ToolCall("mobile_use", {"action": "type", "text": text}))
    )
    assert result.ok, result.message
    expected = [
        line.replace("\x07", "").replace("\x00", "") for line in re.split("\r\n|\r|\n", text)
    ]
    state = phone.state()
    assert [n for n in state["notes"] if n] + ([state["note"]] if state["note"] else []) == [
        line for line in expected if line
    ]
    if "\x07" in text or "\x00" in text:
        assert "left out" in result.message and "control character" in result.message
    notes.ui_tree = True  # the screen and the UI tree are still read, whatever the field holds
    observed = notes.observe()
    notes.ui_tree = False
    assert observed.image.size[0] > 0 and observed.elements


def test_without_adb_keyboard_untypeable_text_fails_clearly(adb_server: AdbServer) -> None:
    device = adb_server.attach(Phone(ime_installed=False))
    try:
        env = AndroidEnvironment(serial=device.serial)
        action = mobile_tools().validate(ToolCall("mobile_use", {"action": "type", "text": "aé"}))
        result = env.execute(action)
        assert not result.ok and not result.executed and "install ADB Keyboard" in result.message
        env.close()
    finally:
        adb_server.detach(device)
