"""Policies judge what an action will do, not how it is spelled: the package an ``open`` or a key
starts, every point a pointer action touches (the pointer's own where it names none), an Enter
anywhere in typed text, a key under any of its names."""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.conftest import run_cli, tool_call
from vlagent.agent import Agent
from vlagent.agent.core.effects import DESKTOP_APP_CHORDS, LINE_BREAKS, effect_of
from vlagent.agent.core.policy import (
    RISKY_COMBOS,
    AppRules,
    Confirm,
    Region,
    all_of,
    decide,
    risk_of,
)
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.environments import MemoryEnvironment
from vlagent.environments.android import AndroidEnvironment
from vlagent.environments.android_apps import KEY_APPS, KNOWN_APPS, app_package
from vlagent.environments.base import DeviceFacts
from vlagent.environments.virtual_android.device import VirtualDevice
from vlagent.prompts import get_dialect
from vlagent.tools import computer_tools, mobile_tools
from vlagent.tools.keys import ALIASES, ANDROID_KEYCODES, KEY_NAMES, android_keycode, canonical_key
from vlagent.tools.toolset import ToolCall

PACKAGES = [
    "com.android.launcher3",
    "com.android.settings",
    "com.google.android.settings.intelligence",
    "com.vlagent.notes",
    "com.android.chrome",
    "com.google.android.calculator",
    "com.android.adbkeyboard",
]
PHONE = DeviceFacts(app_package=lambda name: app_package(name, PACKAGES))
DENY_SETTINGS = AppRules(deny=["Settings"])
ALLOW_NOTES = AppRules(allow=["Notes"])
FAST = settings(max_examples=150, deadline=None)


def mobile(**arguments: Any) -> BaseModel:
    return mobile_tools().validate(ToolCall("mobile_use", arguments))


def computer(**arguments: Any) -> BaseModel:
    return computer_tools().validate(ToolCall("computer_use", arguments))


def asks(action: BaseModel, facts: DeviceFacts = PHONE) -> str | None:
    """The question --confirm puts to a person before ``action`` (None: it does not ask)."""
    confirm = Confirm(ask=lambda question: False)
    decide(confirm, action, facts)
    return confirm.asked[0] if confirm.asked else None


# -- apps: whatever `open` would start is what the rule sees ----------------------------------


def _respell(text: str, draw: st.DrawFn) -> str:
    cased = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in text)
    before = draw(st.text(string.punctuation + " ", max_size=3))
    after = draw(st.text(string.punctuation + " ", max_size=3))
    return before + cased + after


@st.composite
def app_spellings(draw: st.DrawFn) -> str:
    """Names a model may give an app: labels and packages in any case, with punctuation
    around, known labels, and labels with extra words."""
    base = draw(
        st.sampled_from(
            [*PACKAGES, *KNOWN_APPS, "settings", "notes", "Settings app", "android settings"]
        )
    )
    if draw(st.booleans()):
        base = f"{base} {draw(st.sampled_from(['app', 'intelligence', 'android', 'google']))}"
    return _respell(base, draw)


@FAST
@given(app_spellings())
def test_an_app_rule_judges_the_package_open_starts(name: str) -> None:
    starts = app_package(name, PACKAGES)
    refused = decide(DENY_SETTINGS, mobile(action="open", text=name), PHONE)
    if starts == "com.android.settings":
        assert refused is not None and "com.android.settings" in refused
    elif starts is not None:
        assert refused is None, (name, starts)
    allowed = decide(ALLOW_NOTES, mobile(action="open", text=name), PHONE)
    assert (allowed is None) == (starts == "com.vlagent.notes"), (name, starts, allowed)
    question = asks(mobile(action="open", text=name))
    assert question is not None and (starts or "no installed app") in question


@pytest.mark.parametrize("name", ["com.android.settings", "Settings!", "SETTINGS", " settings. "])
def test_the_settings_app_under_any_name_is_denied(name: str) -> None:
    refusal = decide(DENY_SETTINGS, mobile(action="open", text=name), PHONE)
    assert refusal is not None and "not allowed" in refusal and "--deny-app Settings" in refusal


def test_a_rule_given_as_a_package_denies_the_label_too() -> None:
    rules = AppRules(deny=["com.android.settings"])
    assert decide(rules, mobile(action="open", text="Settings"), PHONE) is not None
    assert decide(rules, mobile(action="key", text="KEYCODE_SETTINGS"), PHONE) is not None
    assert decide(rules, mobile(action="open", text="Notes"), PHONE) is None


def test_an_allow_list_refuses_a_name_that_starts_nothing() -> None:
    refusal = decide(ALLOW_NOTES, mobile(action="open", text="Flappy Bird"), PHONE)
    assert refusal is not None and "no installed app" in refusal
    # Without the device's lookup (the policy called on the action alone) nothing resolves.
    assert ALLOW_NOTES(mobile(action="open", text="Notes")) is not None


# -- keys that open apps ----------------------------------------------------------------------


@st.composite
def android_key_spellings(draw: st.DrawFn, names: list[str]) -> tuple[str, str]:
    """(a spelling, the key it means): any case, with or without KEYCODE_, by number, with
    spaces for underscores."""
    name = draw(st.sampled_from(names))
    form = draw(st.sampled_from(["name", "prefixed", "number", "spaced"]))
    if form == "number" and not name.isdigit():
        code = str(ANDROID_KEYCODES.index(name))
        # "5" names the key 5, so the code 5 (CALL) is spelled "05".
        zeros = draw(st.sampled_from(["0", "00"] if code in ANDROID_KEYCODES else ["", "0"]))
        spelled = zeros + code
    elif form == "prefixed":
        spelled = f"keycode_{name}"
    elif form == "spaced":
        spelled = name.replace("_", " ")
    else:
        spelled = name
    cased = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in spelled)
    return f"{' ' * draw(st.integers(0, 2))}{cased}", name


@FAST
@given(android_key_spellings(sorted(KEY_APPS)))
def test_a_key_that_opens_an_app_is_opening_an_app(spelled: tuple[str, str]) -> None:
    text, name = spelled
    action = mobile(action="key", text=text)
    assert effect_of(action).keycode == name
    assert asks(action) is not None and f"the key {name}, which opens" in str(asks(action))
    assert decide(ALLOW_NOTES, action, PHONE) is not None  # no app key opens Notes
    denied = decide(DENY_SETTINGS, action, PHONE)
    if KEY_APPS[name] == "launcher":
        assert denied is None  # the home screen is not Settings
    else:  # Settings itself, or an app only the device picks
        assert denied is not None


@FAST
@given(android_key_spellings([n for n in ANDROID_KEYCODES if n != "UNKNOWN"]))
def test_every_spelling_of_a_key_is_judged_as_the_key(spelled: tuple[str, str]) -> None:
    text, name = spelled
    rules = all_of(DENY_SETTINGS, Confirm(ask=lambda question: False))
    assert rules is not None
    as_spelled = decide(rules, mobile(action="key", text=text), PHONE)
    as_named = decide(rules, mobile(action="key", text=name), PHONE)
    assert as_spelled == as_named


@pytest.mark.parametrize("text", ["SETTINGS", "settings", "KEYCODE_SETTINGS", "176", "0176"])
def test_the_settings_key_is_denied_and_asked_about(text: str) -> None:
    action = mobile(action="key", text=text)
    refusal = decide(DENY_SETTINGS, action, PHONE)
    assert refusal is not None and "com.android.settings" in refusal
    assert asks(action) == (
        f"the key SETTINGS, which opens the settings app (com.android.settings): "
        f"action='key', text={text!r}"
    )


def test_a_system_button_is_the_key_of_its_name() -> None:
    same = mobile(action="wait", time=1)  # the effects compared, not the actions
    for button in ("Back", "Home", "Menu", "Enter"):
        pressed = replace(
            effect_of(mobile(action="system_button", button=button)), action=same, kind="key"
        )
        assert pressed == replace(
            effect_of(mobile(action="key", text=button)), action=same, kind="key"
        )
    assert decide(ALLOW_NOTES, mobile(action="system_button", button="Home"), PHONE) is not None
    home = mobile(action="key", text="home")
    assert decide(AppRules(allow=["Notes", "launcher"]), home, PHONE) is None


@pytest.fixture
def android(phone: VirtualDevice) -> Iterator[AndroidEnvironment]:
    env = AndroidEnvironment(serial=phone.serial)
    yield env
    env.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spelled=android_key_spellings(["VOLUME_UP", "MENU", "BACK", "ENTER", "TAB", "ESCAPE"]))
def test_the_phone_presses_the_key_the_policy_judged(
    android: AndroidEnvironment, phone: VirtualDevice, spelled: tuple[str, str]
) -> None:
    text, _ = spelled
    action = mobile(action="key", text=text)
    assert android.execute(action).ok
    assert phone.state()["keys"][-1] == effect_of(action).keycode


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=app_spellings())
def test_on_the_phone_a_denied_app_never_starts(
    android: AndroidEnvironment, phone: VirtualDevice, name: str
) -> None:
    """The rule asks the phone's own lookup: whatever it lets through does not start Settings,
    and a name that starts no app it can tell is refused (a deny-list fails closed)."""
    phone.phone.stack.clear()
    action = mobile(action="open", text=name)
    refusal = decide(DENY_SETTINGS, action, android.facts())
    assert (refusal is None) == (android.resolve_app(name) not in {"com.android.settings", None})
    if refusal is None:
        android.execute(action)
        assert phone.state()["foreground"] != "com.android.settings"


# -- keys by any alias, in any order ----------------------------------------------------------

SPELLINGS: dict[str, list[str]] = {}
for _alias, _key in ALIASES.items():
    SPELLINGS.setdefault(_key, []).append(_alias)


@st.composite
def chord_spellings(draw: st.DrawFn, keys: frozenset[str]) -> list[str]:
    """The keys of a combination, each by any of its names in any case, in any order, some
    joined by '+'."""
    names = [draw(st.sampled_from([key, *SPELLINGS.get(key, [])])) for key in keys]
    names = [n.upper() if draw(st.booleans()) else n for n in draw(st.permutations(names))]
    if len(names) > 1 and draw(st.booleans()):
        return ["+".join(names[:2]), *names[2:]]
    return names


@FAST
@given(st.data())
def test_a_risky_key_combination_is_asked_about_under_any_spelling(data: st.DataObject) -> None:
    combos = [*RISKY_COMBOS, *(keys for keys, _ in DESKTOP_APP_CHORDS)]
    keys = data.draw(st.sampled_from(combos))
    action = computer(action="key", keys=data.draw(chord_spellings(keys)))
    question = asks(action)
    assert question is not None and "the key combination" in question
    # One that opens an application cannot be checked by an app rule: any rule refuses it.
    opens_an_app = any(k <= keys for k, _ in DESKTOP_APP_CHORDS)
    assert (AppRules(deny=["Notes"])(action) is not None) == opens_an_app


def test_every_risk_table_uses_the_names_keys_are_pressed_by() -> None:
    for keys in [*RISKY_COMBOS, *(keys for keys, _ in DESKTOP_APP_CHORDS)]:
        assert all(canonical_key(k) == k for k in keys), keys
    for alias, key in ALIASES.items():
        assert canonical_key(alias) == key in KEY_NAMES


def test_control_shift_escape_is_asked_about() -> None:
    question = asks(computer(action="key", keys=["ctrl", "shift", "escape"]))
    assert question is not None and "ctrl+shift+esc" in question


# -- Enter anywhere in typed text -------------------------------------------------------------


@FAST
@given(
    text=st.text(string.ascii_letters + " .,", max_size=30),
    at=st.integers(0, 30),
    brk=st.sampled_from(sorted(LINE_BREAKS)),
    space=st.sampled_from(["computer", "mobile"]),
)
def test_text_with_a_line_break_anywhere_is_asked_about(
    text: str, at: int, brk: str, space: str
) -> None:
    typed = text[:at] + brk + text[at:]
    action = (computer if space == "computer" else mobile)(action="type", text=typed)
    assert asks(action, DeviceFacts()) is not None
    plain = (computer if space == "computer" else mobile)(action="type", text=text or "a")
    assert effect_of(plain).submits is False


@pytest.mark.parametrize(
    "action",
    [
        mobile(action="key", text="enter"),
        mobile(action="key", text="KEYCODE_NUMPAD_ENTER"),
        mobile(action="system_button", button="Enter"),
        computer(action="key", keys=["Return"]),
        computer(action="type", text="/bin/rm -rf ~/*\n"),
        computer(action="type", text="ls\rrm"),
    ],
)
def test_an_enter_is_asked_about(action: BaseModel) -> None:
    assert asks(action, DeviceFacts()) is not None


@FAST
@given(
    value=st.text(string.printable, max_size=12),
    brk=st.sampled_from(sorted(LINE_BREAKS)),
    at=st.integers(0, 12),
)
def test_a_secret_whose_value_holds_a_line_break_is_asked_about(
    value: str, brk: str, at: int
) -> None:
    """The policy sees only ``{{PASSWORD}}``; what it judges is what the device will type."""
    from vlagent.environments.wrappers import Secrets

    secret = value[:at] + brk + value[at:]
    env = Secrets(MemoryEnvironment(), {"PASSWORD": secret})
    question = asks(computer(action="type", text="{{PASSWORD}}"), env.facts())
    assert question is not None and secret not in question
    plain = Secrets(
        MemoryEnvironment(),
        {"PASSWORD": "x" + value.translate({ord(c): None for c in LINE_BREAKS}) + "y"},
    )
    typed_plain = computer(action="type", text="{{PASSWORD}}")
    assert not effect_of(typed_plain, plain.facts()).submits


# -- every point a pointer action touches -----------------------------------------------------

unit = st.floats(0, 1, allow_nan=False)


@st.composite
def regions(draw: st.DrawFn) -> Region:
    left, right = sorted(draw(st.lists(unit, min_size=2, max_size=2, unique=True)))
    top, bottom = sorted(draw(st.lists(unit, min_size=2, max_size=2, unique=True)))
    return Region((left, top, right, bottom))


def _inside(region: Region, point: tuple[float, float]) -> bool:
    left, top, right, bottom = region.box
    return left <= point[0] <= right and top <= point[1] <= bottom


@FAST
@given(
    region=regions(),
    pointer=st.tuples(unit, unit),
    kind=st.sampled_from(
        [
            "left_click",
            "right_click",
            "middle_click",
            "double_click",
            "triple_click",
            "scroll",
            "hscroll",
            "left_click_drag",
        ]
    ),
    point=st.none() | st.tuples(unit, unit),
    start=st.none() | st.tuples(unit, unit),
)
def test_a_pointer_action_is_judged_where_it_lands(
    region: Region,
    pointer: tuple[float, float],
    kind: str,
    point: tuple[float, float] | None,
    start: tuple[float, float] | None,
) -> None:
    arguments: dict[str, Any] = {"action": kind}
    if kind in ("scroll", "hscroll"):
        arguments["pixels"] = 100
    touched = []
    if kind == "left_click_drag":
        end = point or (0.5, 0.5)
        arguments["coordinate"] = list(end)
        if start is not None:
            arguments["start_coordinate"] = list(start)
        touched = [end, start or pointer]
    else:
        if point is not None:
            arguments["coordinate"] = list(point)
        touched = [point or pointer]
    refusal = decide(region, computer(**arguments), DeviceFacts(pointer=lambda: pointer))
    assert (refusal is None) == all(_inside(region, p) for p in touched), (touched, refusal)


@pytest.mark.parametrize(
    "arguments",
    [{"action": "left_click"}, {"action": "left_click_drag", "coordinate": [0.5, 0.9]}],
)
def test_a_click_at_the_pointer_above_the_region_is_refused(arguments: dict[str, Any]) -> None:
    # The attacker's case: a full-screen app, the pointer at y=240 of 800, the region from y=336.
    region = Region((0, 336 / 800, 1, 1))
    refusal = decide(region, computer(**arguments), DeviceFacts(pointer=lambda: (0.5, 0.3)))
    assert refusal is not None and "the pointer" in refusal
    # A device that cannot say where its pointer is: refused too.
    assert region(computer(**arguments)) is not None


def test_the_loop_judges_a_click_at_the_pointer_where_the_pointer_is() -> None:
    env = MemoryEnvironment()
    env.pointer = (0.5, 0.3)
    done = tool_call("computer_use", action="terminate", status="success")
    click = tool_call("computer_use", action="left_click")
    agent = Agent(
        ScriptedRuntime([click, done, click, done]),
        get_dialect("qwen2-vl"),
        env,
        policy=Region((0, 0.42, 1, 1)),
    )
    result = agent.run("click")
    assert result.steps[0].error is not None and result.steps[0].error.kind == "policy"
    assert env.log == []
    env.pointer = (0.5, 0.6)
    result = agent.run("click")
    assert result.steps[0].error is None and [e["action"] for e in env.log] == ["left_click"]


def test_a_plain_function_policy_still_sees_the_action() -> None:
    seen: list[str] = []

    def watch(action: BaseModel) -> None:
        seen.append(getattr(action, "action"))

    policy = all_of(watch, Region((0, 0, 1, 1)))
    assert policy is not None
    assert decide(policy, computer(action="type", text="x"), DeviceFacts()) is None
    assert seen == ["type"]
    assert risk_of(mobile(action="open", text="Notes")) is not None  # an action is accepted too


@pytest.mark.parametrize(
    "text, key",
    [
        ("1", "1"),  # the key 1, not key code 1
        ("8", "8"),
        ("esc", "ESCAPE"),  # desktop names through the one alias table
        ("Return", "ENTER"),
        ("volume up", "VOLUME_UP"),
        ("KEYCODE_KEYCODE_SETTINGS", None),  # the device strips one prefix: no such key
        ("999", None),
        ("volume up; reboot", None),
    ],
)
def test_android_key_names(text: str, key: str | None) -> None:
    assert android_keycode(text) == key


def test_on_a_real_display_a_click_at_the_pointer_is_judged_where_the_pointer_is() -> None:
    import os
    import shutil

    if shutil.which("Xvfb") is None or shutil.which("xclip") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs Xvfb and xclip (apt-get install xvfb xclip)")
        pytest.skip("needs Xvfb and xclip (apt-get install xvfb xclip)")
    from vlagent.environments.desktop import DesktopEnvironment

    region = Region((0, 336 / 480, 1, 1))
    with DesktopEnvironment(xvfb="640x480") as env:
        env.execute(computer(action="mouse_move", coordinate=[0.5, 0.5]))  # y=240
        pointer = env.facts().pointer()
        assert pointer is not None and abs(pointer[1] - 0.5) < 0.01
        click = computer(action="left_click")
        refusal = decide(region, click, env.facts())
        assert refusal is not None and "the pointer" in refusal
        env.execute(computer(action="mouse_move", coordinate=[0.5, 0.9]))
        assert decide(region, click, env.facts()) is None


def test_an_app_rule_that_names_no_app_is_a_usage_error() -> None:
    done = run_cli(*"run --env memory --goal g --model scripted:x --deny-app".split(), "!!")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --deny-app '!!': give an app's name or package (e.g. Settings, "
        "com.android.settings)"
    )


# -- what the device receives, not what the model wrote -------------------------------------


def _with_secrets(values: dict[str, str]) -> DeviceFacts:
    """The phone's facts behind a Secrets wrapper: ``{{NAME}}`` is filled in before it acts."""
    from vlagent.environments.wrappers import Secrets

    return replace(Secrets(MemoryEnvironment(), values).facts(), app_package=PHONE.app_package)


@FAST
@given(
    value=st.sampled_from(["Settings", "com.android.settings", "SETTINGS!", "settings app"]),
    key=st.sampled_from(["SETTINGS", "176", "KEYCODE_SETTINGS", "keycode settings"]),
)
def test_an_app_or_key_behind_a_secret_is_judged_as_the_device_receives_it(
    value: str, key: str
) -> None:
    facts = _with_secrets({"APP": value, "PIN": key, "OK": "66"})
    assert decide(DENY_SETTINGS, mobile(action="open", text="{{APP}}"), facts) is not None
    assert decide(DENY_SETTINGS, mobile(action="key", text="{{PIN}}"), facts) is not None
    assert decide(ALLOW_NOTES, mobile(action="open", text="{{APP}}"), facts) is not None
    # An allow-list matches the app the secret names, not the placeholder's name.
    notes = _with_secrets({"NOTES": value})
    assert decide(AppRules(allow=["Notes"]), mobile(action="open", text="{{NOTES}}"), notes)
    assert asks(mobile(action="key", text="{{OK}}"), facts) is not None  # ENTER behind a secret


@pytest.mark.parametrize("rule", ["Settings app", "the Settings app", "SETTINGS APPLICATION"])
def test_a_deny_rule_with_generic_words_still_names_its_app(rule: str) -> None:
    rules = AppRules(deny=[rule])
    for name in ("Settings", "com.android.settings", "KEYCODE_SETTINGS"):
        kind = "key" if name.startswith("KEYCODE") else "open"
        assert decide(rules, mobile(action=kind, text=name), PHONE) is not None, (rule, name)
    assert decide(rules, mobile(action="open", text="Notes"), PHONE) is None


@pytest.mark.parametrize("name", ["com.android.settings", "Settings app", "anything"])
def test_a_deny_list_fails_closed_where_the_device_cannot_name_the_app(name: str) -> None:
    """Called without device facts (a library caller, an environment with no app lookup), an
    ``open`` whose app nobody can resolve is refused: it cannot be told apart from a denied one."""
    assert DENY_SETTINGS(mobile(action="open", text=name)) is not None


@pytest.mark.parametrize("keys", [["ctrl", "m"], ["Control_L+M"], ["ctrl", "j"], ["J", "ctrl"]])
def test_a_chord_a_terminal_reads_as_enter_is_asked_about(keys: list[str]) -> None:
    assert asks(computer(action="key", keys=keys), DeviceFacts()) is not None


@pytest.mark.parametrize("keys", [["alt", "f3"], ["alt", "space"]])
def test_a_desktop_launcher_chord_counts_as_opening_an_app(keys: list[str]) -> None:
    assert effect_of(computer(action="key", keys=keys)).opens is not None
