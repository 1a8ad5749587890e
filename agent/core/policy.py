"""Policies: a person stays in control of what the model does.

A policy looks at each validated action before it runs and returns None (go ahead) or the reason
it is refused; the reason goes back to the model. Policies see only the action, what it will do
and their own settings, never the screen: text on the screen cannot switch them off or widen the
toolset.

The policies here judge the action's resolved effect (:class:`~vlagent.agent.core.effects.Effect`:
the package an ``open`` or a key starts, every point a pointer action touches, an Enter anywhere
in typed text), never its spelling. A run asks through :func:`decide`, which resolves the effect
once with what the device knows (``Environment.facts()``); called directly on an action, they
resolve it for a device that tells nothing, and refuse what depends on the device.

- :class:`AppRules`: ``--allow-app`` / ``--deny-app`` for what opens an app.
- :class:`Confirm`: ``--confirm`` asks a person before a risky action (:func:`risk_of`).
- :class:`Region`: ``--region`` keeps every point inside a part of the screen.
- :func:`all_of`: several policies, the first refusal wins.

The risk list and what each protection does not do: docs/safety.md.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from vlagent.agent.core.effects import AppTarget, Effect, effect_of
from vlagent.environments.android_apps import KNOWN_APPS, label_words
from vlagent.environments.base import DeviceFacts

Policy = Callable[[BaseModel], "str | None"]
"""Any function of the action; :class:`EffectPolicy` subclasses judge its effect."""

RISKY_COMBOS = [
    frozenset({"ctrl", "alt", "delete"}),
    frozenset({"alt", "f4"}),
    frozenset({"ctrl", "alt", "backspace"}),
    frozenset({"alt", "printscreen"}),  # SysRq: the kernel's emergency keys
    *(frozenset({"ctrl", "alt", f"f{i}"}) for i in range(1, 13)),  # a text console
]
"""Desktop key combinations (canonical names, tools/keys.py) that need a yes; those that open
an application are in ``effects.DESKTOP_APP_CHORDS``."""
SYSTEM_KEYCODES = frozenset({"POWER", "SLEEP", "SOFT_SLEEP", "LOCK", "ENDCALL", "WAKEUP"})
SHELL_WORDS = re.compile(
    r"(^|[\s;&|`$(/\\'\"<>{])(sudo|su|rm|curl|wget|chmod|chown|dd|mkfs|ssh|scp|nc|bash|sh|zsh|"
    r"python3?|powershell|cmd|reg|del|format|shutdown|reboot|kill|touch|mv|cp)(\s|$)"
    r"|\|\s*(sh|bash)\b|&&|`|\$\("
)


class EffectPolicy(ABC):
    """A policy that judges an action's resolved effect. Calling it on an action resolves the
    effect for a device that tells nothing (:func:`decide` passes what the device knows)."""

    @abstractmethod
    def judge(self, effect: Effect) -> str | None:
        """None to go ahead, or why ``effect`` is refused."""

    def __call__(self, action: BaseModel) -> str | None:
        return self.judge(effect_of(action))


def decide(policy: Policy, action: BaseModel, facts: DeviceFacts) -> str | None:
    """What ``policy`` says of ``action`` on the device ``facts`` describes: the one way a run
    asks its policy. The effect is resolved once (:func:`effect_of`) and judged; a plain function
    policy gets the action."""
    if isinstance(policy, EffectPolicy):
        return policy.judge(effect_of(action, facts))
    return policy(action)


def risk_of(effect: Effect | BaseModel) -> str | None:
    """Why an action needs a person's yes, or None: opening or switching to an app (by ``open``
    or a key), system key combinations, Enter (a key, or a line break anywhere in typed text),
    and text that reads like a shell command."""
    if not isinstance(effect, Effect):
        effect = effect_of(effect)
    target = effect.opens
    if target is not None:
        if effect.kind == "open":
            return f"opening {target.about}"
        return f"{target.by}, which opens {target.about}"
    pressed = set(effect.chord)
    if any(combo <= pressed for combo in RISKY_COMBOS):
        return f"the key combination {'+'.join(effect.chord)}"
    if effect.keycode in SYSTEM_KEYCODES:
        return f"the system key {effect.keycode}"
    if effect.text is not None and SHELL_WORDS.search(effect.text):
        return "typing text that reads like a shell command"
    if effect.submits:
        if effect.text is not None:
            return "typing text and submitting it (Enter)"
        return "pressing Enter (submits what was typed)"
    return None


def describe_action(action: BaseModel) -> str:
    """The action in one line for a person: its arguments as given."""
    shown = action.model_dump(mode="json", exclude_none=True)
    return ", ".join(f"{k}={v!r}" for k, v in shown.items())


@dataclass
class AppRules(EffectPolicy):
    """Which apps may be opened, by ``open`` or by a key that opens one: none of ``deny``, and
    only ``allow`` when given. A rule's name and the app are compared by package (each resolved
    by the device's own lookup) and by name; an app only the device can pick (its default
    browser) is refused by any rule, and one that resolves to no package by an allow-list."""

    allow: Sequence[str] = ()
    deny: Sequence[str] = ()

    def judge(self, effect: Effect) -> str | None:
        target = effect.opens
        if target is None or not (self.allow or self.deny):
            return None
        opens = f"{target.by} opens {target.about}"
        denied = next((d for d in self.deny if _names(target, d, effect.facts)), None)
        if denied is not None:
            return f"{opens}, which is not allowed here (--deny-app {denied})"
        if not target.checkable or (target.package is None and self.deny):
            # Fail closed: an app nobody can name cannot be told apart from a denied one.
            return f"{opens}, which the app rules cannot check; use open with the app's name"
        if self.allow and not any(_names(target, a, effect.facts, exact=True) for a in self.allow):
            return f"{opens}, which is not allowed here; allowed apps: {', '.join(self.allow)}"
        return None


# Words that name no app of their own: "Settings app" is Settings.
GENERIC_WORDS = frozenset({"app", "apps", "application", "the"})


def _names(target: AppTarget, rule: str, facts: DeviceFacts, exact: bool = False) -> bool:
    """Whether the app name ``rule`` means ``target``: the same package (the rule resolved by the
    device's lookup, with and without generic words like "app", a known label's package, or the
    package named); else (unless ``exact``: an allow-list) the same words, generic ones aside."""
    words = label_words(rule)
    if not words:
        return False
    named = " ".join(w for w in words.split() if w not in GENERIC_WORDS) or words
    if target.package is not None:
        packages = {
            facts.app_package(rule),
            facts.app_package(named),
            KNOWN_APPS.get(words),
            KNOWN_APPS.get(named),
            rule.strip(),
        }
        if target.package.lower() in {p.lower() for p in packages if p}:
            return True
    app = " ".join(w for w in label_words(target.label).split() if w not in GENERIC_WORDS)
    return not exact and app == named


@dataclass
class Region(EffectPolicy):
    """Points only inside ``box`` = (left, top, right, bottom), fractions of the screen: every
    point an action touches, the pointer's too where it names none."""

    box: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        left, top, right, bottom = self.box
        if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
            raise ValueError(
                "a region is left,top,right,bottom with 0 <= left < right <= 1 and "
                "0 <= top < bottom <= 1 (fractions of the screen)"
            )

    def judge(self, effect: Effect) -> str | None:
        left, top, right, bottom = self.box
        area = f"from {left:g},{top:g} to {right:g},{bottom:g} of its width and height"
        for name, point in effect.points:
            if point is None:
                return (
                    f"{effect.kind or 'the action'} acts at {name}, and the device cannot tell "
                    f"where that is; give the point (this run may touch only {area})"
                )
            if not (left <= point[0] <= right and top <= point[1] <= bottom):
                shown = f"'{name}'" if name.isidentifier() else name
                return f"{shown} is outside the part of the screen this run may touch ({area})"
        return None


@dataclass
class Confirm(EffectPolicy):
    """Ask ``ask(question) -> bool`` before each risky action; a no is a refusal the model reads.
    ``risky`` decides what needs asking (default :func:`risk_of`)."""

    ask: Callable[[str], bool]
    risky: Callable[[Effect], str | None] = risk_of
    asked: list[str] = field(default_factory=list)

    def judge(self, effect: Effect) -> str | None:
        risk = self.risky(effect)
        if risk is None:
            return None
        question = f"{risk}: {describe_action(effect.action)}"
        self.asked.append(question)
        return None if self.ask(question) else f"a person declined {risk}; do something else"


@dataclass
class AllOf(EffectPolicy):
    """Several policies on one resolved effect: the first refusal wins."""

    policies: Sequence[Policy]

    def judge(self, effect: Effect) -> str | None:
        for policy in self.policies:
            if isinstance(policy, EffectPolicy):
                refusal = policy.judge(effect)
            else:
                refusal = policy(effect.action)
            if refusal:
                return refusal
        return None


def all_of(*policies: Policy | None) -> Policy | None:
    """One policy from several (None entries left out): the first refusal wins."""
    chosen = [p for p in policies if p is not None]
    if not chosen:
        return None
    return chosen[0] if len(chosen) == 1 else AllOf(chosen)
