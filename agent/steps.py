"""Typed records of a run: one :class:`Step` per model call, one :class:`RunResult` per run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["success", "failure", "answered", "max_steps", "time_limit", "error", "aborted"]
ErrorKind = Literal["parse", "validation", "policy", "loop", "environment", "model"]

# Errors in the model's answer: the step is retried with feedback. The others end the run.
MODEL_OUTPUT_ERRORS: frozenset[str] = frozenset({"parse", "validation", "policy"})


@dataclass
class StepError:
    kind: ErrorKind
    message: str


@dataclass
class Step:
    """One model call and what came of it. Coordinates of ``action`` are given three ways:
    ``model`` (as the model wrote them), ``normalized`` ([0, 1] of the image) and ``device``
    (device pixels)."""

    index: int
    started_at: str
    image_size: tuple[int, int]
    scale: float
    frame: tuple[float, float]
    screen_hash: str
    prompt_text: str = ""
    prompt_tokens: int | None = None
    output_text: str | None = None
    completion_tokens: int | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    action: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: StepError | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    screenshot: str | None = None

    def record(self) -> dict[str, Any]:
        """The JSON line for this step (docs/trajectory-format.md)."""
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        data["frame"] = list(self.frame)
        return {"type": "step", **data}


@dataclass
class RunResult:
    """How a run ended. ``reason`` is one line for people; ``answer`` is set by ``answer``."""

    status: Status
    reason: str
    answer: str | None
    steps: list[Step]
    run_dir: Path | None = None

    @property
    def succeeded(self) -> bool:
        return self.status in ("success", "answered")
