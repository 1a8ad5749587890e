"""The runtime protocol: prompts in, completions out (a list, so evaluation batches for free)."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

from vlagent.prompts import Prompt, ResizeRule
from vlagent.tools.errors import VlagentError


class ModelUnavailable(VlagentError, RuntimeError):
    """The model cannot be loaded or reached at start-up. Says what to do."""


class RuntimeFailure(VlagentError, RuntimeError):
    """The model could not answer during a run (script exhausted, server gone)."""


@dataclass
class Completion:
    """One answer: its text, token counts when the runtime knows them, and timings.

    ``prompt_text`` is the prompt exactly as the model read it (after the chat template), when
    the runtime renders it itself; ``timings_ms`` splits the model call into the runtime's own
    phases (e.g. ``prefill`` and ``decode``). ``reused_prompt_tokens``: how many prompt tokens
    were not computed again because an earlier prompt began with them.
    """

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    prompt_text: str | None = None
    reused_prompt_tokens: int = 0


@dataclass
class RuntimeOptions:
    """How a model is loaded and asked. Local-only fields are ignored by remote runtimes.

    ``max_pixels`` / ``min_pixels``: the pixel budget of the Qwen family's resize (None: the
    family default, docs/models.md). ``temperature`` 0 means greedy. ``constrained``: "auto"
    constrains answers to the dialect's JSON schema when xgrammar is installed, "on" requires it,
    "off" never does. ``reuse_prefix``: keep the key/value states of the prompt's text before the
    screenshot for the next step (local runtime; answers are the same, prefill is shorter).
    ``timeout_s``: the whole of one request to a server (connecting, sending, the last byte of
    the answer); ``use_env_proxy``: requests that carry an API key go through the proxies of
    ``HTTP(S)_PROXY`` too (otherwise only requests without one do; agent/runtimes/http.py).
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    dtype: str = "auto"
    attention: str = "auto"
    device_map: str | None = None
    quantization: str | None = None
    max_pixels: int | None = None
    min_pixels: int | None = None
    constrained: str = "auto"
    reuse_prefix: bool = True
    timeout_s: float = 120.0
    retries: int = 2
    api_key: str | None = field(default=None, repr=False)  # never shown (tools/secrets.py)
    allow_insecure_key: bool = False
    use_env_proxy: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.max_new_tokens >= 1, "max_new_tokens must be at least 1"),
            (self.temperature >= 0, "temperature must be 0 (greedy) or more"),
            (
                self.dtype in ("auto", "bf16", "fp16", "fp32"),
                "dtype must be auto, bf16, fp16 or fp32",
            ),
            (
                self.attention in ("auto", "sdpa", "eager", "flash_attention_2"),
                "attention must be auto, sdpa, eager or flash_attention_2",
            ),
            (self.quantization in (None, "4bit", "8bit"), "quantization must be 4bit or 8bit"),
            (self.constrained in ("auto", "on", "off"), "constrained must be auto, on or off"),
            (
                self.max_pixels is None or self.max_pixels >= 28 * 28,
                "max_pixels must be at least 784 (one 28x28 patch)",
            ),
            (self.min_pixels is None or self.min_pixels >= 1, "min_pixels must be at least 1"),
            (
                None in (self.min_pixels, self.max_pixels)
                or (self.min_pixels or 0) <= (self.max_pixels or 0),
                "min_pixels must not be above max_pixels",
            ),
            (self.timeout_s > 0, "timeout_s must be positive"),
            (self.retries >= 0, "retries must be 0 or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


_ANSWER_BY: ContextVar[float | None] = ContextVar("vlagent_answer_by", default=None)


@contextlib.contextmanager
def answer_by(deadline: float | None) -> Iterator[None]:
    """Within this block a runtime that can stop waiting (the remote one) gives up at
    ``deadline`` (``time.monotonic()``): how a run's ``--time-limit`` reaches the model call."""
    token = _ANSWER_BY.set(deadline)
    try:
        yield
    finally:
        _ANSWER_BY.reset(token)


def answer_deadline() -> float | None:
    """The deadline :func:`answer_by` set for this thread's model call, if any."""
    return _ANSWER_BY.get()


class Runtime(ABC):
    """Turns prompts into completions. ``generate`` returns one completion per prompt, in order.

    ``model_id`` and ``model_type`` (from the checkpoint's config, when loaded) pick the dialect;
    ``resize`` is how the model's processor resizes screenshots, which dialects that answer in
    pixels must know.
    """

    name: ClassVar[str]
    model_id: str = ""
    model_type: str | None = None
    resize: ResizeRule | None = None

    @abstractmethod
    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        """Answer every prompt; raise :class:`RuntimeFailure` when no answer can be had."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for the trajectory header: ``id``, ``runtime``, ``options``."""

    def close(self) -> None:
        """Release the model."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
