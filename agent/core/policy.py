"""Policies: a person stays in control of what the model does.

A policy looks at each validated action before it runs and returns None (go ahead) or the reason
it is refused; the reason goes back to the model. Policies see only the action and their own
settings, never the screen: text on the screen cannot switch them off or widen the toolset.

- :class:`AppRules`: ``--allow-app`` / ``--deny-app`` for ``open`` on Android.
- :class:`Confirm`: ``--confirm`` asks a person before a risky action (:func:`risk_of`).
- :class:`Region`: ``--region`` keeps every point inside a part of the screen.
- :func:`all_of`: several policies, the first refusal wins.

The risk list and what each protection does not do: docs/safety.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

Policy = Callable[[BaseModel], "str | None"]

SYSTEM_KEYS = {"win", "super", "meta", "cmd", "command"}
RISKY_COMBOS = [
    {"ctrl", "alt", "t"},
    {"ctrl", "alt", "delete"},
    {"alt", "f4"},
    {"ctrl", "alt", "backspace"},
    {"alt", "f2"},
    {"ctrl", "shift", "escape"},
]
SHELL_WORDS = re.compile(
    r"(^|[\s;&|`$(])(sudo|su|rm|curl|wget|chmod|chown|dd|mkfs|ssh|scp|nc|bash|sh|zsh|python3?|powershell|cmd|reg|del|format|shutdown|reboot|kill|touch|mv|cp)(\s|$)|\|\s*(sh|bash)\b|&&|`|\$\("
)


def risk_of(action: BaseModel) -> str | None:
    """Why ``action`` needs a person's yes, or None. Covers system key combinations, text that
    is submitted (ends with Enter) or reads like a shell command, and opening apps."""
    kind = getattr(action, "action", None)
    keys = getattr(action, "keys", None)
    if kind == "key" and isinstance(keys, list):
        pressed = {str(k).lower() for k in keys}
        if pressed & SYSTEM_KEYS:
            return f"the system key combination {'+'.join(keys)}"
        if any(combo <= pressed for combo in RISKY_COMBOS):
            return f"the key combination {'+'.join(keys)}"
    text = getattr(action, "text", None)
    if kind == "type" and isinstance(text, str):
        if SHELL_WORDS.search(text):
            return "typing text that reads like a shell command"
        if text.endswith("\n"):
            return "typing text and submitting it (Enter)"
    if kind == "open":
        return f"opening the app {text!r}"
    if kind == "system_button" and getattr(action, "button", None) == "Enter":
        return "pressing Enter (submits what was typed)"
    return None


def describe_action(action: BaseModel) -> str:
    """The action in one line for a person: its arguments as given."""
    shown = action.model_dump(mode="json", exclude_none=True)
    return ", ".join(f"{k}={v!r}" for k, v in shown.items())


@dataclass
class AppRules:
    """Which apps ``open`` may start: none of ``deny``, and only ``allow`` when given."""

    allow: Sequence[str] = ()
    deny: Sequence[str] = ()

    def __call__(self, action: BaseModel) -> str | None:
        if getattr(action, "action", None) != "open":
            return None
        name = str(getattr(action, "text", "")).strip().lower()
        if any(name == d.strip().lower() for d in self.deny):
            return f"opening {name!r} is not allowed here"
        if self.allow and not any(name == a.strip().lower() for a in self.allow):
            return f"opening {name!r} is not allowed here; allowed apps: {', '.join(self.allow)}"
        return None


@dataclass
class Region:
    """Points only inside ``box`` = (left, top, right, bottom), fractions of the screen."""

    box: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        left, top, right, bottom = self.box
        if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
            raise ValueError(
                "a region is left,top,right,bottom with 0 <= left < right <= 1 and "
                "0 <= top < bottom <= 1 (fractions of the screen)"
            )

    def __call__(self, action: BaseModel) -> str | None:
        from vlagent.tools import point_fields

        left, top, right, bottom = self.box
        for name in sorted(point_fields(type(action))):
            point = getattr(action, name, None)
            if point is not None and not (left <= point[0] <= right and top <= point[1] <= bottom):
                return (
                    f"'{name}' is outside the part of the screen this run may touch "
                    f"(from {left:g},{top:g} to {right:g},{bottom:g} of its width and height)"
                )
        return None


@dataclass
class Confirm:
    """Ask ``ask(question) -> bool`` before each risky action; a no is a refusal the model reads.
    ``risky`` decides what needs asking (default :func:`risk_of`)."""

    ask: Callable[[str], bool]
    risky: Callable[[BaseModel], str | None] = risk_of
    asked: list[str] = field(default_factory=list)

    def __call__(self, action: BaseModel) -> str | None:
        risk = self.risky(action)
        if risk is None:
            return None
        question = f"{risk}: {describe_action(action)}"
        self.asked.append(question)
        return None if self.ask(question) else f"a person declined {risk}; do something else"


def all_of(*policies: Policy | None) -> Policy | None:
    """One policy from several (None entries left out): the first refusal wins."""
    chosen = [p for p in policies if p is not None]
    if not chosen:
        return None
    if len(chosen) == 1:
        return chosen[0]

    def combined(action: BaseModel) -> str | None:
        for policy in chosen:
            refusal = policy(action)
            if refusal:
                return refusal
        return None

    return combined
