"""What the two published GUI tools share: one ``action`` argument that selects which of the
other arguments are required, allowed or foreign.

The published schemas (docs/tools.md) list every argument as optional and say in prose which
action needs which. We keep that flat shape for the prompt, since that is what the models were
trained on, and enforce the per-action rules here so that an invalid call is never executed and
the model is told exactly what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator


@dataclass(frozen=True)
class ActionSpec:
    """The arguments one action takes, and one line saying what it does (our words)."""

    help: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunEnd:
    """What an action that ends the run reports: success / failure, or an answer; ``ended`` when
    an environment ended the episode with no verdict (neither success nor failure)."""

    status: Literal["success", "failure", "answered", "ended"]
    answer: str | None = None


def action_help(actions: dict[str, ActionSpec]) -> str:
    """The ``action`` argument's description: one line per action, with the arguments it takes."""
    lines = ["The action to perform. The available actions are:"]
    for name, spec in actions.items():
        args = [f"`{a}`" for a in spec.required] + [f"`{a}` (optional)" for a in spec.optional]
        takes = f" Takes {', '.join(args)}." if args else ""
        lines.append(f"* `{name}`: {spec.help}{takes}")
    return "\n".join(lines)


class GuiTool(BaseModel):
    """Base of ``computer_use`` and ``mobile_use``: flat arguments, per-action rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool_name: ClassVar[str]
    ACTIONS: ClassVar[dict[str, ActionSpec]]
    action: str

    @model_validator(mode="before")
    @classmethod
    def _arguments_fit_action(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"arguments must be a JSON object, got {type(data).__name__}")
        action = data.get("action")
        if action is None:
            raise ValueError(f"'action' is missing; use one of: {', '.join(cls.ACTIONS)}")
        spec = cls.ACTIONS.get(action) if isinstance(action, str) else None
        if spec is None:
            raise ValueError(f"unknown action {action!r}; use one of: {', '.join(cls.ACTIONS)}")
        given = {k for k, v in data.items() if k != "action" and v is not None}
        missing = [a for a in spec.required if a not in given]
        if missing:
            raise ValueError(f"action '{action}' needs {_quoted(missing)}")
        unknown = sorted(given - set(cls.model_fields))
        if unknown:
            # Let pydantic's extra="forbid" name them; it reports each one with its location.
            return data
        foreign = sorted(given - set(spec.required) - set(spec.optional))
        if foreign:
            raise ValueError(f"action '{action}' does not take {_quoted(foreign)}")
        return data

    def ends_run(self) -> RunEnd | None:
        """The run's outcome when this action ends it (``terminate`` or ``answer``), else None."""
        # Subclasses declare ``status`` and ``text``; validation guarantees they are set here.
        if self.action == "terminate":
            return RunEnd(status=getattr(self, "status", None) or "failure")
        if self.action == "answer":
            return RunEnd(status="answered", answer=getattr(self, "text", None))
        return None

    def arguments(self) -> dict[str, Any]:
        """The arguments that were given (unset optional ones left out), as JSON-ready values."""
        return self.model_dump(mode="json", exclude_none=True)


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
