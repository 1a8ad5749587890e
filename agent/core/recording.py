"""A run's steps and ends as lines of its trajectory: the header (what the run works with), one line
per step (its prompt as what changed since the step before), and the end record (how it ended,
with totals over its steps)."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial

from vlagent.agent.core.context import RunContext
from vlagent.agent.core.steps import RunResult, Step
from vlagent.agent.trajectory import records
from vlagent.agent.trajectory.records import End, Header, Totals
from vlagent.environments import Observation


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def package_versions() -> dict[str, str]:
    """Versions of what shaped this run. Heavy libraries are named only if already imported."""
    from importlib import metadata

    names = ["vlagent", "pydantic", "pillow"]
    names += [m for m in ("torch", "transformers", "accelerate") if m in sys.modules]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def header_record(context: RunContext, goal: str, obs: Observation) -> Header:
    """The header of a run of ``goal`` whose first observation is ``obs``."""
    described = context.environment.describe()
    assert context.recorder is not None
    return Header.model_validate(
        {
            "run_id": context.recorder.run_dir.name,
            "goal": goal,
            "started_at": now(),
            "environment": described,
            "screen": {"width": obs.size[0], "height": obs.size[1], "scale": obs.scale},
            "model": context.runtime.describe(),
            "dialect": context.dialect.name,
            "prompt_source": context.dialect.prompt_source,
            "tools": context.toolset.function_schemas(),
            "limits": context.limits,
            "dry_run": bool(described.get("dry_run", False)),
            "versions": package_versions(),
        }
    )


def end_record(result: RunResult, duration_s: float) -> End:
    """The last line: status, reason, answer and totals over the steps."""
    timings: dict[str, float] = {}
    for step in result.steps:
        for phase, ms in step.timings_ms.items():
            timings[phase] = round(timings.get(phase, 0.0) + ms, 3)

    def total(values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return None if not values or len(known) < len(values) else sum(known)

    return End(
        status=result.status,
        reason=result.reason,
        answer=result.answer,
        steps=len(result.steps),
        ended_at=now(),
        duration_s=round(duration_s, 3),
        replay=result.replay,
        totals=Totals(
            model_calls=sum(1 for s in result.steps if s.output_text is not None),
            executed_actions=sum(1 for s in result.steps if s.executed),
            prompt_tokens=total([s.prompt_tokens for s in result.steps]),
            completion_tokens=total([s.completion_tokens for s in result.steps]),
            timings_ms=timings,
        ),
    )


class StepLines:
    """Turns each step of a run into its line. A history grows by a line a step: recording each
    prompt whole would grow the file with the square of the steps, so a line keeps only what
    changed since the previous step's prompt (``prompt_from``: how much of that one it keeps).
    Used on the recorder's writer thread, one step after the other."""

    def __init__(self) -> None:
        self._last: str | None = None

    def line(self, step: Step, screen_hash: str) -> records.Step:
        previous, self._last = self._last, step.prompt_text
        fields = step.model_dump(exclude={"prompt_text", "screen_hash"})
        if previous is None:
            return records.Step(**fields, screen_hash=screen_hash, prompt_text=step.prompt_text)
        shared = len(os.path.commonprefix([previous, step.prompt_text]))
        return records.Step(
            **fields,
            screen_hash=screen_hash,
            prompt_text=step.prompt_text[shared:],
            prompt_from=shared,
        )

    def maker(self, step: Step) -> Callable[[str], records.Step]:
        """The line of ``step`` as the recorder makes it: from the screen hash it computed."""
        return partial(self.line, step)
