"""What an action will do, resolved once before any policy judges it.

Policies judge effects, not spellings: ``open`` with ``Settings!``, ``com.android.settings`` or
the key ``KEYCODE_SETTINGS`` (or ``176``) all start com.android.settings, and a rule sees that
package; a click with no point lands where the pointer is, and ``--region`` sees that point; text
with a line break anywhere presses Enter. :func:`effect_of` is the one resolution every policy
call passes through (:func:`vlagent.agent.core.policy.decide`); what only the device knows (where
the pointer is, which package a name starts) comes from ``Environment.facts()``, the same lookup
the device itself uses, so a rule and the device never disagree on what an action does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from vlagent.environments.android_apps import FIXED_KEY_APPS, KEY_APPS
from vlagent.environments.base import DeviceFacts
from vlagent.tools.keys import android_keycode, chord
from vlagent.tools.points import point_fields

Point = tuple[float, float]

LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""Every character that ends a line (``str.splitlines``): typed, each is an Enter."""

ENTER_KEYS = frozenset({"enter", "ENTER", "NUMPAD_ENTER", "DPAD_CENTER"})
"""Keys that submit or activate what has the focus (desktop and Android names)."""

ENTER_CHORDS = (frozenset({"ctrl", "m"}), frozenset({"ctrl", "j"}))
"""Desktop chords that are a carriage return or a line feed in a terminal."""

# Desktop key combinations that open or switch to an application, most specific first: the
# pressed keys include every key of the combination. Canonical names only (tools/keys.py).
DESKTOP_APP_CHORDS: list[tuple[frozenset[str], str]] = [
    (frozenset({"win"}), "the system's launcher or one of its shortcuts"),
    (frozenset({"ctrl", "alt", "t"}), "a terminal"),
    (frozenset({"alt", "f1"}), "the applications menu"),
    (frozenset({"alt", "f2"}), "the run-a-command dialog"),
    (frozenset({"alt", "f3"}), "the application finder"),
    (frozenset({"alt", "space"}), "the launcher or the window menu"),
    (frozenset({"ctrl", "shift", "esc"}), "the task manager"),
    (frozenset({"ctrl", "esc"}), "the start menu"),
    (frozenset({"alt", "tab"}), "another application's window"),
    (frozenset({"alt", "esc"}), "another application's window"),
]


@dataclass(frozen=True)
class AppTarget:
    """An app an action opens or switches to. ``label``: the name it was asked by (the text of
    ``open``) or the key's app (``settings``, ``launcher``, ``browser``); ``package``: what the
    device will start, None when no installed app has that name; ``by``: the action in words;
    ``about``: the app in words; ``checkable``: False when the device alone picks the app (its
    default browser, a maker's shortcut), so that no app rule can tell which app it is."""

    label: str
    package: str | None
    by: str
    about: str
    checkable: bool = True


@dataclass(frozen=True)
class Effect:
    """What ``action`` will do. ``points``: every point it touches, each with what it is (a
    field's name, or the pointer where the action names no point); a point is None where the
    device cannot tell (the pointer of a device without one). A drag or swipe goes in a straight
    line between its ends. ``chord``: desktop keys pressed together, canonical; ``keycode``: the
    Android key pressed (a system button is the key of its name); ``opens``: the app it opens or
    switches to; ``submits``: an Enter reaches what has the focus; ``text``: text typed."""

    action: BaseModel
    kind: str | None = None
    points: tuple[tuple[str, Point | None], ...] = ()
    chord: tuple[str, ...] = ()
    keycode: str | None = None
    opens: AppTarget | None = None
    submits: bool = False
    text: str | None = None
    facts: DeviceFacts = field(default_factory=DeviceFacts)


def effect_of(action: BaseModel, facts: DeviceFacts | None = None) -> Effect:
    """The effect of ``action`` on the device ``facts`` describes (by default a device that
    tells nothing: the pointer unknown, no app name resolved). It is resolved on the action as
    the device will receive it (``facts.executed``: a secret's placeholder filled in), so no
    spelling the device reads differently from the model can change the verdict."""
    facts = facts or DeviceFacts()
    received = facts.executed(action)
    kind = getattr(received, "action", None)
    kind = kind if isinstance(kind, str) else None
    keys, text = getattr(received, "keys", None), getattr(received, "text", None)
    pressed = tuple(chord(keys)) if kind == "key" and isinstance(keys, list) else ()
    keycode = _keycode(received, kind)
    typed = text if kind == "type" and isinstance(text, str) else None
    return Effect(
        action=action,
        kind=kind,
        points=_points(received, kind, facts),
        chord=pressed,
        keycode=keycode,
        opens=_opens(kind, text, pressed, keycode, facts),
        submits=bool(
            (typed is not None and LINE_BREAKS.intersection(typed))
            or ENTER_KEYS.intersection(pressed)
            or keycode in ENTER_KEYS
            or any(keys <= set(pressed) for keys in ENTER_CHORDS)
        ),
        text=typed,
        facts=facts,
    )


def _points(
    action: BaseModel, kind: str | None, facts: DeviceFacts
) -> tuple[tuple[str, Point | None], ...]:
    """Named points, and the pointer for each point field the action may leave out (its tool's
    ``ACTIONS`` says so: a click with no ``coordinate``, a drag with no ``start_coordinate``)."""
    fields = point_fields(type(action))
    found: list[tuple[str, Point | None]] = []
    for name in sorted(fields):
        point = getattr(action, name, None)
        if point is not None:
            found.append((name, (float(point[0]), float(point[1]))))
    spec = getattr(type(action), "ACTIONS", {}).get(kind) if kind is not None else None
    optional = getattr(spec, "optional", ())
    left_out = [n for n in optional if n in fields and getattr(action, n, None) is None]
    if left_out:
        where = facts.pointer()
        found += [(f"the pointer (where it acts without '{n}')", where) for n in left_out]
    return tuple(found)


def _keycode(action: BaseModel, kind: str | None) -> str | None:
    """The Android key a ``key`` or ``system_button`` action presses (None when it names none:
    the device then presses nothing)."""
    if kind == "key":
        text = getattr(action, "text", None)
        return android_keycode(text) if isinstance(text, str) else None
    if kind == "system_button":
        button = getattr(action, "button", None)
        return android_keycode(button) if isinstance(button, str) else None
    return None


def _opens(
    kind: str | None,
    text: object,
    pressed: tuple[str, ...],
    keycode: str | None,
    facts: DeviceFacts,
) -> AppTarget | None:
    if kind == "open" and isinstance(text, str):
        package = facts.app_package(text)
        about = f"the app {text!r} ({package or 'no installed app is called so'})"
        return AppTarget(text, package, f"open {text!r}", about)
    app = KEY_APPS.get(keycode) if keycode is not None else None
    if app is not None:
        package, by = facts.app_package(app), f"the key {keycode}"
        if app in FIXED_KEY_APPS:
            return AppTarget(app, package, by, f"the {app} app ({package or 'not installed'})")
        return AppTarget(app, package, by, f"the device's {app} app", checkable=False)
    down = set(pressed)
    for keys, what in DESKTOP_APP_CHORDS:
        if keys <= down:
            return AppTarget(what, None, f"the key combination {'+'.join(pressed)}", what, False)
    return None
