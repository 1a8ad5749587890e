"""The runtime protocol: prompts in, completions out (a list, so evaluation batches for free)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from prompts import Prompt


class ModelUnavailable(RuntimeError):
    """The model cannot be loaded or reached at start-up. Says what to do."""


class RuntimeFailure(RuntimeError):
    """The model could not answer during a run (script exhausted, server gone)."""


@dataclass
class Completion:
    """One answer: its text, token counts when the runtime knows them, and timings."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


class Runtime(ABC):
    """Turns prompts into completions. ``generate`` returns one completion per prompt, in order."""

    name: ClassVar[str]

    @abstractmethod
    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        """Answer every prompt; raise :class:`RuntimeFailure` when no answer can be had."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for the trajectory header: ``id``, ``runtime``, ``options``."""

    def close(self) -> None:
        """Release the model."""
