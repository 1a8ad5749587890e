"""Secrets as a type, and the one redaction: a secret's value, in any escaped form, reaches no
trajectory, report, terminal line, prompt, repr or dump; programs vlagent starts never inherit
it."""

from __future__ import annotations

import ast
import copy
import html
import json
import logging
import pickle
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest
import typer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.conftest import tool_call, write_script
from vlagent.agent.cli.common import LiveView, end_of_run
from vlagent.agent.core.build import ModelSpec, RunSpec, build_agent
from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.trajectory import read_trajectory
from vlagent.environments import (
    ActionResult,
    EnvironmentFault,
    MemoryEnvironment,
    Observation,
    Secrets,
    UIElement,
)
from vlagent.environments.ui_tree import element_lines
from vlagent.prompts import Prompt
from vlagent.tools import MobileUse
from vlagent.tools.secrets import (
    MASK,
    Secret,
    SecretError,
    child_environment,
    holds_secret,
    redact,
    redact_data,
)

# Every character some escaper changes, some it keeps, and text outside ASCII and the BMP.
ESCAPED = "\\'\"\n\t\r%&<>$` /+=;#?!{}[]\x00\x1bé你😀\u200b"
SECRETS = st.text(alphabet=st.sampled_from(ESCAPED + "abcXYZ019"), min_size=1, max_size=16)
LONG_SECRETS = st.text(alphabet=st.sampled_from(ESCAPED + "abcXYZ019"), min_size=8, max_size=16)
SURROUNDING = st.text(alphabet="kmqw KMQW", max_size=8)


def _decode_python(text: str) -> str:
    value = ast.literal_eval(text)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# Each way a message may quote a text, with the decoder that reads the text back.
ESCAPERS: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "repr": (repr, _decode_python),
    "ascii": (ascii, _decode_python),
    "bytes repr": (lambda s: repr(s.encode("utf-8")), _decode_python),
    "json": (json.dumps, json.loads),
    "json unicode": (lambda s: json.dumps(s, ensure_ascii=False), json.loads),
    "shlex": (shlex.quote, lambda s: " ".join(shlex.split(s))),
    "android input text": (
        lambda s: shlex.quote(s.replace(" ", "%s")),
        lambda s: " ".join(shlex.split(s)).replace("%s", " "),
    ),
    "url": (lambda s: quote(s, safe=""), unquote),
    "url path": (quote, unquote),
    "url form": (quote_plus, unquote_plus),
    "html": (html.escape, html.unescape),
    "html no quotes": (lambda s: html.escape(s, quote=False), html.unescape),
    "repr of json": (lambda s: repr(json.dumps(s)), lambda s: json.loads(_decode_python(s))),
    "json of repr": (lambda s: json.dumps(repr(s)), lambda s: _decode_python(json.loads(s))),
    "repr of shlex": (
        lambda s: repr(shlex.quote(s)),
        lambda s: " ".join(shlex.split(_decode_python(s))),
    ),
}


def _read_back(decode: Callable[[str], str], text: str) -> str:
    try:
        return decode(text)
    except (ValueError, SyntaxError):  # the mask took a quote away: what is left is the text
        return text


@pytest.mark.parametrize("escaper", sorted(ESCAPERS))
@settings(max_examples=60, deadline=None)
@given(value=SECRETS, before=SURROUNDING, after=SURROUNDING)
def test_every_escaped_form_of_a_secret_is_masked(
    escaper: str, value: str, before: str, after: str
) -> None:
    encode, decode = ESCAPERS[escaper]
    secret = Secret(value)
    assume(value not in MASK)
    shown = redact(f"refused: {encode(before + value + after)}")
    assert value not in shown
    assert value not in _read_back(decode, shown.removeprefix("refused: "))
    del secret


# The escapers that wrap one another in practice (an error's repr of a JSON body of a command).
NESTING = ["repr", "ascii", "json", "json unicode", "shlex", "android input text"]


@settings(max_examples=80, deadline=None)
@given(
    value=SECRETS,
    layers=st.lists(st.sampled_from(NESTING), min_size=2, max_size=5),
    before=SURROUNDING,
)
def test_a_secret_escaped_layer_upon_layer_is_masked_at_every_depth(
    value: str, layers: list[str], before: str
) -> None:
    """However many times a message is quoted inside another, no layer read back shows the
    secret."""
    assume(value not in MASK and value not in "{{PIN}}")
    secret = Secret(value, "PIN")
    text = before + value
    for layer in layers:
        text = ESCAPERS[layer][0](text)
    shown = redact(f"refused: {text}").removeprefix("refused: ")
    assert value not in shown
    for layer in reversed(layers):
        shown = _read_back(ESCAPERS[layer][1], shown)
        assert value not in shown
    del secret


@settings(max_examples=80, deadline=None)
@given(
    value=st.text(alphabet="abcXYZ019é你", min_size=4, max_size=16),
    text=st.text(alphabet=ESCAPED.replace("\x00", "") + "kmqw", max_size=200),
)
def test_text_that_holds_no_secret_is_left_as_it_is(value: str, text: str) -> None:
    """Redaction masks the secret, not the escapes, quotes and invisible characters around it."""
    secret = Secret(value, "PIN")
    assert redact(text) == text
    del secret


class ShowsWhatWasTyped(MemoryEnvironment):
    """A screen with one text field that shows what was typed into it, after ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__(size=(320, 240), space="mobile")
        self.prefix = prefix

    def observe(self) -> Observation:
        field = UIElement((0, 0, 300, 40), text=self.prefix + self.typed, kind="EditText")
        return replace(super().observe(), elements=[field])


def _windows(value: str, size: int = 5) -> set[str]:
    """Every piece of ``value`` of ``size`` characters, as a cut or space-squeezed text shows it."""
    squeezed = " ".join(value.split())
    return {squeezed[i : i + size] for i in range(len(squeezed) - size + 1)} - {" " * size}


@settings(max_examples=40, deadline=None)
@given(
    value=st.text(alphabet="abcXYZ019&!  ", min_size=8, max_size=40).filter(
        lambda v: len(v.strip()) >= 8
    ),
    prefix=st.text(alphabet="kmqw ", max_size=80),
)
def test_a_typed_secret_the_screen_shows_is_masked_before_its_text_is_cut_or_squeezed(
    value: str, prefix: str
) -> None:
    """The UI tree's lines squeeze spaces and cut long texts: the secret a field shows is masked
    before, so no piece of it reaches the model's element list."""
    env = Secrets(ShowsWhatWasTyped(prefix), {"PW": value})
    env.execute(MobileUse(action="type", text="{{PW}}"))
    lines = element_lines(env.observe().elements or [])
    assert not [piece for piece in _windows(value) if piece in lines], lines


@pytest.mark.parametrize(
    "message",
    [
        "cannot type {!r}",  # the attacker's case: the backslash doubled by repr
        "cannot type {}",
        "payload {json}",
        "adb shell input text {shell}",
    ],
)
def test_a_secret_with_a_backslash_is_masked_in_a_refusal(message: str) -> None:
    value = "pa\\ss\\nw'o\"rd"
    secret = Secret(value, "PASSWORD")
    text = message.format(value, json=json.dumps(value), shell=shlex.quote(value))
    shown = redact(text)
    assert "{{PASSWORD}}" in shown
    assert value not in shown and "pa\\\\ss" not in shown and "ss\\\\nw" not in shown
    del secret


class Form(BaseModel):
    pin: Secret


def _shown(secret: Secret) -> list[str]:
    form = Form(pin=secret)
    return [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r:>40}",
        "%s %r" % (secret, secret),
        repr(form),
        str(form.model_dump()),
        form.model_dump_json(),
    ]


@settings(max_examples=60, deadline=None)
@given(value=SECRETS)
def test_a_secret_shows_nothing_when_printed_dumped_or_copied(value: str) -> None:
    secret = Secret(value, "PIN")
    # What is shown does not depend on the value at all.
    assert _shown(secret) == _shown(Secret("another value", "PIN"))
    assert value not in repr(Secret(value)).replace("Secret", "").replace("'", "")
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        pickle.dumps(Form(pin=secret))
    assert copy.deepcopy(secret) is secret and secret.reveal() == value
    assert Form.model_validate({"pin": value}).pin.reveal() == value


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(SecretError, match="the secret PIN is empty"):
        Secret("", "PIN")


def test_a_log_record_and_a_run_spec_show_no_secret_nor_api_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = RunSpec(
        env="memory",
        model=ModelSpec(model="m", options=RuntimeOptions(api_key="sk-live-0123456789")),
        secrets={"PASSWORD": "hunter2\\x"},
    )
    with caplog.at_level(logging.INFO):
        logging.getLogger("vlagent.test").info("spec %s %r", spec, spec.secrets)
    for shown in (
        repr(spec),
        str(spec),
        spec.model_dump_json(),
        str(spec.model_dump()),
        caplog.text,
    ):
        assert "sk-live-0123456789" not in shown and "hunter2" not in shown
    assert spec.secrets["PASSWORD"].reveal() == "hunter2\\x"
    with pytest.raises(TypeError):
        pickle.dumps(spec)


def test_an_invalid_run_spec_does_not_quote_the_secrets_it_was_given() -> None:
    with pytest.raises(ValueError) as failed:
        RunSpec(env="memory", secrets={"A": "hunter2-Zq9", "B": ""})
    assert "hunter2" not in str(failed.value) and "the secret B is empty" in str(failed.value)


@settings(max_examples=50, deadline=None)
@given(data=st.recursive(SECRETS, lambda inner: st.lists(inner) | st.dictionaries(SECRETS, inner)))
def test_redact_data_reaches_every_string_keys_included(data: Any) -> None:
    value = "s3cr\\et\n"
    secret = Secret(value)
    wrapped = {"message": value, "nested": [data, {value: repr(value)}], "n": 3}
    assert value not in json.dumps(redact_data(wrapped), ensure_ascii=False).replace("\\n", "\n")
    assert "\\\\et" not in json.dumps(redact_data(wrapped))
    del secret


@settings(max_examples=80, deadline=None)
@given(
    value=SECRETS,
    others=st.dictionaries(st.from_regex(r"[A-Z][A-Z_]{0,8}", fullmatch=True), SECRETS),
)
def test_programs_started_get_no_api_key_and_no_secret(value: str, others: dict[str, str]) -> None:
    secret = Secret(value, "PASSWORD")
    base = {
        **others,
        "PASSWORD": value,
        "OPENAI_API_KEY": "sk-a",
        "VLAGENT_API_KEY": "sk-b",
        "MY_SERVICE_API_KEY": "sk-c",
        "DB_URL": f"postgres://me:{value}@db/x",
        "COPY": value,
        "PATH": "/usr/bin",
    }
    env = child_environment({"DISPLAY": ":5"}, base=base)
    assert not any(value in v for v in env.values())
    assert not {"PASSWORD", "OPENAI_API_KEY", "VLAGENT_API_KEY", "MY_SERVICE_API_KEY"} & set(env)
    assert env["DISPLAY"] == ":5" and (value in "/usr/bin" or env["PATH"] == "/usr/bin")
    assert all(env[k] == v for k, v in others.items() if k in env)
    del secret


def test_the_cli_takes_a_secret_out_of_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from vlagent.agent.cli.run import _secrets

    monkeypatch.setenv("PASSWORD", "hunter2\\x")
    values = _secrets(["PASSWORD"])
    assert isinstance(values["PASSWORD"], Secret) and values["PASSWORD"].reveal() == "hunter2\\x"
    assert "PASSWORD" not in child_environment() and holds_secret("a hunter2\\x b")


# -- a whole run: the environment echoes the secret, escaped, everywhere it can ----------------


class Echoer(MemoryEnvironment):
    """A memory screen whose UI tree shows ``leak`` and whose every action is refused with a
    message (and data) quoting ``leak`` in every escaped form; ``fault`` raises instead."""

    def __init__(self, leak: str, fault: bool = False) -> None:
        super().__init__(size=(64, 64), space="mobile")
        self.leak, self.fault = leak, fault

    def observe(self) -> Observation:
        shown = super().observe()
        shown.elements = [UIElement((0, 0, 10, 10), text=f"field {self.leak}")]
        return shown

    def execute(self, action: BaseModel) -> ActionResult:
        super().execute(action)
        quoted = " | ".join(encode(self.leak) for encode, _ in ESCAPERS.values())
        if self.fault and getattr(action, "action", "") == "type":
            raise EnvironmentFault(f"device lost while typing {self.leak!r}")
        return ActionResult(ok=False, message=f"cannot do it: {quoted}", data={"echo": quoted})


def _run(value: str, folder: Path, fault: bool = False) -> tuple[list[Prompt], str]:
    script = write_script(
        folder / "answers.txt",
        [
            tool_call(action="click", coordinate=[10, 10]),  # carries no secret: the sinks mask
            tool_call(action="type", text="{{PASSWORD}}"),  # carries one: the wrapper masks
            tool_call(action="terminate", status="success"),
        ],
    )
    spec = RunSpec(
        env="memory",
        model=f"scripted:{script}",
        out=folder / "run",
        secrets={"PASSWORD": value},
    )
    agent = build_agent(spec, listeners=[LiveView()], environment=Echoer(value, fault))
    prompts: list[Prompt] = []
    generate = agent.runtime.generate
    agent.runtime.generate = lambda batch: prompts.extend(batch) or generate(batch)  # type: ignore[method-assign]
    with agent:
        result = agent.run("Log in with {{PASSWORD}}")
    with pytest.raises(typer.Exit):
        end_of_run(result, spec.out)  # what the CLI prints, and the report
    return prompts, spec.out.as_posix() if spec.out else ""


def _assert_nowhere(value: str, prompts: list[Prompt], run: Path, printed: str) -> None:
    forms = {value} | {encode(value) for encode, _ in ESCAPERS.values()}
    forms |= {f.strip("'\"") for f in forms}
    forms = {f for f in forms if len(f) >= 4}
    trajectory = (run / "trajectory.jsonl").read_text(encoding="utf-8")
    report = (run / "report.html").read_text(encoding="utf-8")
    strings: list[str] = []
    for line in trajectory.splitlines():
        _strings(json.loads(line), strings)
    texts = {
        "trajectory": trajectory,
        "trajectory strings": "\n".join(strings),
        "report": report,
        "report unescaped": html.unescape(report),
        "terminal": printed,
        "prompts": "\n".join(p.text() for p in prompts),
    }
    leaks = [(where, f) for where, text in texts.items() for f in forms if f in text]
    assert leaks == []
    assert "{{PASSWORD}}" in texts["prompts"].split("Log in with")[-1]  # the feedback, masked


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            out.append(str(key))
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


@pytest.mark.parametrize(
    "value", ["pa\\ss\\word", "q\"u'o<t>e&d %20 $HOME `id`", "tab\tnew\nline é你😀"]
)
def test_a_run_records_prints_and_prompts_no_escaped_secret(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts, _ = _run(value, tmp_path)
    printed = capsys.readouterr()
    assert len(prompts) == 3
    _assert_nowhere(value, prompts, tmp_path / "run", printed.out + printed.err)


@pytest.mark.parametrize(
    "value",
    ["0000", "success", "step", "screens", "header", "qwen2-vl", "T", str(date.today().year)],
)
def test_a_secret_that_vlagent_also_writes_leaves_the_recording_whole(
    value: str, tmp_path: Path
) -> None:
    """A short PIN or a common word is masked in what the model, the device and the user said,
    not in the kinds, times, file names and statuses the recorder writes itself: the recording
    still reads back whole, and no mask in those fields shows where the value matched."""
    _run(value, tmp_path)
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.problems == [] and len(trajectory.steps) == 3
    assert all((tmp_path / "run" / str(step.screenshot)).is_file() for step in trajectory.steps)
    assert trajectory.end is not None and trajectory.end.status == "success"
    assert trajectory.header.started_at[:4] == str(date.today().year)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=LONG_SECRETS, fault=st.booleans())
def test_any_secret_in_any_escaped_form_reaches_no_output_of_a_run(
    value: str, fault: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assume(value.strip() and "{{" not in value and value not in "{{PASSWORD}}")
    with tempfile.TemporaryDirectory() as folder:
        capsys.readouterr()
        prompts, _ = _run(value, Path(folder), fault)
        printed = capsys.readouterr()
        _assert_nowhere(value, prompts, Path(folder) / "run", printed.out + printed.err)


def test_the_wrapper_masks_what_an_action_that_typed_a_secret_reports() -> None:
    env = Secrets(Echoer("x\\y\\z-secret"), {"PASSWORD": "x\\y\\z-secret"})
    from vlagent.tools import mobile_tools

    typed = mobile_tools().validate(tool_call_args(action="type", text="{{PASSWORD}}"))
    result = env.execute(typed)
    assert "x\\\\y" not in result.message and "{{PASSWORD}}" in result.message
    assert "x\\\\y" not in json.dumps(result.data)
    assert env.inner.log[-1]["text"] == "x\\y\\z-secret"  # type: ignore[attr-defined]


def tool_call_args(**arguments: Any) -> Any:
    from vlagent.tools import ToolCall

    return ToolCall("mobile_use", arguments)


# -- a secret hidden by what shows nothing ----------------------------------------------------

# Characters that show nothing: Unicode's Default_Ignorable_Code_Point (format characters,
# variation selectors, the grapheme joiner, tag characters, Hangul fillers) and controls.
INVISIBLE = st.sampled_from(
    ["\u200e", "\u200b", "\u202e", "\u2066", "\ufeff", "\u00ad", "\x00", "\x1b", "\x9b", "\x07"]
    + ["\u206a", "\u180e", "\ufe0f", "\u034f", "\U000e0001", "\U000e0041", "\u061c", "\u3164"]
)


@settings(max_examples=80, deadline=None)
@given(
    value=st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cf"]), min_size=4),
    cuts=st.lists(st.tuples(st.integers(1, 60), INVISIBLE), min_size=1, max_size=4),
)
def test_a_secret_split_by_invisible_characters_is_still_masked(
    value: str, cuts: list[tuple[int, str]]
) -> None:
    """A browser or a terminal shows ``hunt<U+200E>er2`` as ``hunter2``: the value is masked
    with invisible characters between its characters, in records and on the terminal."""
    from vlagent.agent.cli.terminal import terminal_text
    from vlagent.tools.secrets import Secret, redact

    assume(value.strip() and len(value.strip()) >= 4)
    secret = Secret(value, "PW")
    split = value
    for at, mark in sorted(cuts, reverse=True):
        at = 1 + at % (len(split) - 1)
        split = split[:at] + mark + split[at:]
    assert value not in redact(f"said: {split}!").replace("\x00", "")
    assert "{{PW}}" in redact(f"said: {split}!")
    assert value not in terminal_text(f"said: {split}!", markup=False)
    del secret


@settings(max_examples=80, deadline=None)
@given(
    value=st.text(alphabet="abcXYZ019é你", min_size=6, max_size=16),
    cuts=st.lists(st.tuples(st.integers(1, 60), INVISIBLE), min_size=1, max_size=3),
    layers=st.lists(st.sampled_from(["repr", "ascii", "json", "json unicode"]), max_size=3),
)
def test_a_split_secret_is_masked_however_it_is_quoted_after(
    value: str, cuts: list[tuple[int, str]], layers: list[str]
) -> None:
    """Invisible characters between a secret's characters, then quoted (repr and JSON write
    them as ``\\u200b``, astral ones as surrogate pairs), any number of times: still masked."""
    secret = Secret(value, "PW")
    split = value
    for at, mark in sorted(cuts, reverse=True):
        at = 1 + at % (len(split) - 1)
        split = split[:at] + mark + split[at:]
    text = split
    for layer in layers:
        text = ESCAPERS[layer][0](text)
    shown = redact(f"said: {text}!")
    assert "{{PW}}" in shown, (text, shown)
    del secret


@settings(max_examples=60, deadline=None)
@given(
    first=st.text(alphabet="abcdefgh", min_size=6, max_size=10),
    second=st.text(alphabet="abcdefgh", min_size=6, max_size=10),
    shared=st.integers(1, 5),
)
def test_secrets_that_overlap_are_masked_whole(first: str, second: str, shared: int) -> None:
    """Two secrets sharing characters where one ends and the other begins: neither is left in
    part."""
    second = first[-shared:] + second
    secrets = [Secret(first), Secret(second)]
    shown = redact("<" + first + second[shared:] + ">")
    assert shown.strip("<>*") == "", shown
    del secrets


@pytest.mark.parametrize("value", ["café-secret", "Ångström-key", "ﬁnal-pass"])
def test_a_secret_in_another_unicode_normal_form_is_masked(value: str) -> None:
    import unicodedata

    from vlagent.tools.secrets import Secret, redact

    secret = Secret(value, "PW")
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        assert redact(unicodedata.normalize(form, value)) == "{{PW}}", form
    del secret


def test_a_secret_gives_no_state_to_copy_out() -> None:
    from vlagent.tools.secrets import Secret

    secret = Secret("hunter2secret", "PW")
    with pytest.raises(TypeError):
        secret.__getstate__()
    with pytest.raises(TypeError):
        pickle.dumps(secret)
