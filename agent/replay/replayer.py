"""Replaying a recorded run: re-execute its actions on a live environment, but only while the
live screen is still the recorded one.

Before each step the live screen is compared with the screenshot recorded before that step
(agent.compare: the share of changed tiles, any change where the step's action will touch, and,
where both screens say them, the app in front and the words of the element the action will
touch). A screen that differs is watched for a moment (``patience``); when it still differs
replay stops and writes a divergence report with both screens, instead of acting blindly on a
screen it does not know.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from vlagent.agent.core.elements import words_at
from vlagent.agent.replay.compare import CHANGED_TILES, ScreenComparison, compare_screens
from vlagent.agent.trajectory import Step, Trajectory, TrajectoryError
from vlagent.agent.trajectory.files import (
    IMAGE_ERRORS,
    FileError,
    MissingFile,
    UnsafeFile,
    read_image,
    verify_image,
    write_inside,
    write_png,
)
from vlagent.environments import Environment, UIElement
from vlagent.tools import ToolCall, ToolError

DEFAULT_THRESHOLD = CHANGED_TILES
DEFAULT_PATIENCE_S = 2.0
PATIENCE_POLL_S = 0.1
MAX_PAUSE_S = 10.0
"""The longest pause replay makes between two steps, whatever the recording's times say (a
crafted or clock-jumped recording must not stall a replay; a slow screen is what ``patience`` is
for). docs/replay.md."""
REPLAY_FOLDER = "replay"
"""Where a divergence report goes inside the run when no ``out`` is given."""


def action_target(step: Step) -> tuple[float, float] | None:
    """The normalized point the step's action touches first (a click's point, a swipe's start)."""
    if step.action is None:
        return None
    point = step.action.normalized.get("coordinate")
    if (
        isinstance(point, (list, tuple))
        and len(point) == 2
        and all(isinstance(v, (int, float)) for v in point)
    ):
        return (float(point[0]), float(point[1]))
    return None


def matches(
    recorded: Image.Image,
    step: Step,
    live: Image.Image,
    threshold: float = DEFAULT_THRESHOLD,
    foreground: str | None = None,
    elements: Sequence[UIElement] | None = None,
) -> ScreenComparison:
    """Compare ``live`` with ``recorded``, the screen recorded before ``step``, around the point
    the step's action touches. ``foreground`` is the live screen's app where the environment
    names it, ``elements`` its UI elements where it lists them; the step's own are recorded."""
    was = (step.metadata or {}).get("foreground")
    target = action_target(step)
    words: tuple[str | None, str | None] = (None, None)
    if target is not None and step.elements is not None and elements is not None:
        words = (
            words_at(step.elements, target, recorded.size),
            words_at(elements, target, live.size),
        )
    return compare_screens(
        recorded,
        live,
        target,
        changed_tiles=threshold,
        foreground=(was if isinstance(was, str) else None, foreground),
        words=words,
    )


@dataclass
class ReplayResult:
    replayed: list[int]
    diverged_at: int | None = None
    comparison: ScreenComparison | None = None
    report: Path | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.diverged_at is None and not self.reason


def replayable(step: Step) -> bool:
    """A step whose action was executed on the device (not an error, not a run-ending call)."""
    return step.action is not None and step.executed


def replay(
    trajectory: Trajectory,
    environment: Environment,
    start: int = 0,
    speed: float = 1.0,
    threshold: float = DEFAULT_THRESHOLD,
    out: Path | None = None,
    check: bool = True,
    patience: float = DEFAULT_PATIENCE_S,
) -> ReplayResult:
    """Re-execute the executed actions of ``trajectory`` from step ``start`` on ``environment``.

    ``speed`` scales the recorded pauses between steps (2 = twice as fast, 0 = no pauses).
    ``patience``: seconds a screen that differs is watched for before replay stops (an app
    still starting, an animation, a page still loading catch up; a wrong screen does not).
    ``check=False`` replays steps whose screenshot is missing, blindly; by default such a step
    stops the replay.
    """
    steps = [s for s in trajectory.steps if replayable(s) and s.index >= start]
    toolset = environment.toolset
    done: list[int] = []
    previous_start: datetime | None = None
    for step in steps:
        index = step.index
        started = _time(step.started_at)
        time.sleep(recorded_pause(previous_start, started, speed))
        previous_start = started
        recorded = recorded_screen(trajectory, step)
        if recorded is None and check:
            return ReplayResult(
                done,
                reason=f"step {index} has no recorded screenshot to compare the "
                "screen with; replay it blindly with --no-check",
            )
        live, comparison = _awaited(environment, recorded, step, threshold, patience)
        if recorded is not None and comparison is not None and not comparison.same:
            report = _divergence(trajectory.path, out, index, comparison, recorded, live)
            return ReplayResult(
                done,
                index,
                comparison,
                report,
                f"the screen before step {index} differs from the recording: {comparison.reason}",
            )
        action = step.action
        assert action is not None
        try:
            validated = toolset.validate(ToolCall(action.tool, dict(action.normalized)))
        except ToolError as exc:
            return ReplayResult(done, reason=f"step {index} cannot be replayed here: {exc}")
        result = environment.execute(validated)
        if not result.ok:
            return ReplayResult(done, reason=f"step {index} was refused: {result.message}")
        done.append(index)
    return ReplayResult(done)


def _awaited(
    environment: Environment,
    recorded: Image.Image | None,
    step: Step,
    threshold: float,
    patience: float,
) -> tuple[Image.Image, ScreenComparison | None]:
    """The live screen and its comparison with ``recorded``: the first that matches within
    ``patience`` seconds, else the last seen."""
    deadline = time.monotonic() + patience
    while True:
        observation = environment.observe()
        if recorded is None:
            return observation.image, None
        comparison = matches(
            recorded,
            step,
            observation.image,
            threshold,
            observation.metadata.get("foreground"),
            observation.elements,
        )
        if comparison.same or time.monotonic() >= deadline:
            return observation.image, comparison
        time.sleep(PATIENCE_POLL_S)


def check_recording(trajectory: Trajectory, screens: bool = True) -> None:
    """Raise :class:`TrajectoryError`, naming the file and line (or screenshot), when the recording
    is damaged where a replay would have to pass: a step line that cannot be read (replaying around
    it would skip an action and could still end "successfully"), or — with ``screens`` — a
    screenshot that does not decode (the screen check would have nothing to compare with)."""
    file = trajectory.path / "trajectory.jsonl"
    if trajectory.damaged_lines:  # a missing screenshot is the screen check's to handle
        raise TrajectoryError(
            f"{file} {trajectory.damaged_lines[0]}: replay needs every recorded step; "
            "restore that line or replay only the steps before it"
        )
    if not screens:
        return
    for step in trajectory.steps:
        if not step.screenshot:
            continue
        path = trajectory.path / step.screenshot
        try:  # verify: the file's structure and checksums, without decoding the pixels
            verify_image(trajectory.path, step.screenshot)
        except MissingFile:
            continue  # the screen check's to handle
        except UnsafeFile as exc:
            raise TrajectoryError(
                f"{exc}: a recording's files are read only from inside it; replace the file "
                "with the screenshot itself or pass --no-check"
            ) from None
        except FileError as exc:
            raise TrajectoryError(f"{exc}; restore the file or pass --no-check") from None
        except IMAGE_ERRORS as exc:
            raise TrajectoryError(
                f"{path}: the screenshot recorded before step {step.index} is damaged "
                f"({type(exc).__name__}); replay compares the live screen with it — "
                "restore the file or pass --no-check"
            ) from None


def recorded_screen(trajectory: Trajectory, step: Step) -> Image.Image | None:
    """The screenshot recorded before ``step``, loaded; None when the run has none for it, or
    none that may be read (a link, a file outside the run: the file layer refuses it)."""
    if not step.screenshot:
        return None
    try:
        return read_image(trajectory.path, step.screenshot)
    except IMAGE_ERRORS:  # the file layer's refusals are OSErrors too
        return None


def _time(stamp: str) -> datetime | None:
    """A recorded time, in UTC when it names no zone (so any two can be subtracted)."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def recorded_pause(before: datetime | None, after: datetime | None, speed: float) -> float:
    """Seconds to wait between steps recorded at ``before`` and ``after``, at ``speed``: the
    recorded gap ÷ speed, within 0 and :data:`MAX_PAUSE_S` (0 when a time is missing or the speed
    is 0)."""
    if not (speed > 0) or before is None or after is None:
        return 0.0
    try:
        gap = (after - before).total_seconds() / speed
    except OverflowError:
        return MAX_PAUSE_S
    return min(max(gap, 0.0), MAX_PAUSE_S) if math.isfinite(gap) else MAX_PAUSE_S


def _divergence(
    run: Path,
    out: Path | None,
    index: int,
    comparison: ScreenComparison,
    recorded: Image.Image,
    live: Image.Image,
) -> Path:
    """Write the divergence report and both screens: into ``out`` (the user's folder) or else
    ``run/replay``; each file through the file layer, so no link planted in the run is
    followed."""
    root, prefix = (out, "") if out is not None else (run, f"{REPLAY_FOLDER}/")
    names = {"recorded": f"step-{index:06d}-recorded.png", "live": f"step-{index:06d}-live.png"}
    described = {"step": index, **comparison.describe(), **names}
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_png(root, prefix + names["recorded"], recorded.convert("RGB"))
        write_png(root, prefix + names["live"], live.convert("RGB"))
        text = json.dumps(described, indent=2) + "\n"
        return write_inside(root, prefix + "divergence.json", text.encode("utf-8"))
    except OSError as exc:  # a link planted in the run, a full disk: said in one line
        raise FileError(
            f"the screen before step {index} differs, and its report cannot be written: "
            f"{exc}; pass --out with a folder of your own"
        ) from None
