"""Replaying a recorded run: re-execute its actions on a live environment, but only while the
live screen still looks like the recorded one.

Before each step the live screen is compared with the screenshot recorded before that step. The
distance is perceptual and cheap: both screens as 64×64 grayscale, the mean absolute difference
of their pixels, 0 (identical) to 1. Above the threshold (default 0.04: a clock changing or a
cursor blinking stays well below, a different screen is far above) replay stops and writes a
divergence report with both screens, instead of acting blindly on a screen it does not know.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageStat

from agent.runtime import Completion, Runtime
from agent.trajectory import Step, Trajectory, TrajectoryError
from environments import Environment
from prompts import Prompt, call_text, model_call
from tools import ToolCall, ToolError, action_space_of

DEFAULT_THRESHOLD = 0.04
THUMBNAIL = (64, 64)


def screen_distance(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of the two screens as 64×64 grayscale, in [0, 1]."""
    small_a = a.convert("L").resize(THUMBNAIL, Image.Resampling.BOX)
    small_b = b.convert("L").resize(THUMBNAIL, Image.Resampling.BOX)
    mean: float = ImageStat.Stat(ImageChops.difference(small_a, small_b)).mean[0]
    return round(mean / 255, 4)


@dataclass
class ReplayResult:
    replayed: list[int]
    diverged_at: int | None = None
    distance: float | None = None
    report: Path | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.diverged_at is None and not self.reason


def replayable(step: Step) -> bool:
    """A step whose action was executed on the device (not an error, not a run-ending call)."""
    return step.action is not None and step.executed


def replay(trajectory: Trajectory, environment: Environment, start: int = 0, speed: float = 1.0,
           threshold: float = DEFAULT_THRESHOLD, out: Path | None = None, check: bool = True) -> ReplayResult:
    """Re-execute the executed actions of ``trajectory`` from step ``start`` on ``environment``.

    ``speed`` scales the recorded pauses between steps (2 = twice as fast, 0 = no pauses).
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
        if speed > 0 and previous_start is not None and started is not None:
            time.sleep(max((started - previous_start).total_seconds() / speed, 0))
        previous_start = started
        live = environment.observe().image
        recorded = recorded_screen(trajectory, step)
        if recorded is None and check:
            return ReplayResult(done, reason=f"step {index} has no recorded screenshot to compare the "
                                             "screen with; replay it blindly with --no-check")
        if recorded is not None:
            distance = screen_distance(live, recorded)
            if distance > threshold:
                report = _divergence(out or trajectory.path / "replay", index, distance, threshold,
                                     recorded, live)
                return ReplayResult(done, index, distance, report,
                                    f"the screen before step {index} differs from the recording "
                                    f"(distance {distance:.3f} > {threshold})")
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


def check_recording(trajectory: Trajectory, screens: bool = True) -> None:
    """Raise :class:`TrajectoryError`, naming the file and line (or screenshot), when the recording
    is damaged where a replay would have to pass: a step line that cannot be read (replaying around
    it would skip an action and could still end "successfully"), or — with ``screens`` — a
    screenshot that does not decode (the screen check would have nothing to compare with)."""
    file = trajectory.path / "trajectory.jsonl"
    if trajectory.damaged_lines:  # a missing screenshot is the screen check's to handle
        raise TrajectoryError(f"{file} {trajectory.damaged_lines[0]}: replay needs every recorded step; "
                              "restore that line or replay only the steps before it")
    if not screens:
        return
    for step in trajectory.steps:
        path = trajectory.screenshot(step)
        if path is None or not path.is_file():
            continue
        try:  # verify: the file's structure and checksums, without decoding the pixels
            with Image.open(path) as opened:
                opened.verify()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise TrajectoryError(f"{path}: the screenshot recorded before step {step.index} is damaged "
                                  f"({type(exc).__name__}); replay compares the live screen with it — "
                                  "restore the file or pass --no-check") from None


def recorded_screen(trajectory: Trajectory, step: Step) -> Image.Image | None:
    """The screenshot recorded before ``step``, loaded; None when the run has none for it."""
    path = trajectory.screenshot(step)
    if path is None or not path.is_file():
        return None
    with Image.open(path) as opened:
        loaded: Image.Image = opened.copy()  # read now: the file is closed on return
    return loaded


def _time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _divergence(folder: Path, index: int, distance: float, threshold: float,
                recorded: Image.Image, live: Image.Image) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    recorded.convert("RGB").save(folder / f"step-{index:06d}-recorded.png")
    live.convert("RGB").save(folder / f"step-{index:06d}-live.png")
    report = folder / "divergence.json"
    report.write_text(json.dumps({
        "step": index, "distance": distance, "threshold": threshold,
        "measure": "mean absolute difference of 64x64 grayscale thumbnails, 0..1",
        "recorded": f"step-{index:06d}-recorded.png", "live": f"step-{index:06d}-live.png",
    }, indent=2) + "\n")
    return report


class HealingRuntime(Runtime):
    """Self-healing replay as a runtime, so the ordinary loop records it as a new run.

    For each prompt it compares the live screenshot with the next recorded step's. While they
    match it answers with that step's action (re-encoded from normalized coordinates into the
    dialect's space, so a device of another size works); where they differ it asks ``model``,
    and the model's action takes the place of the recorded one.
    """

    name = "replay"

    def __init__(self, trajectory: Trajectory, model: Runtime, start: int = 0,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.model = model
        self.trajectory = trajectory
        self.threshold = threshold
        self.pending = [s for s in trajectory.steps
                        if (replayable(s) or _ends_run(s)) and s.index >= start]
        self.healed: list[int] = []
        self.model_id, self.model_type, self.resize = model.model_id, model.model_type, model.resize

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        answers: list[Completion] = []
        for prompt in prompts:
            if not self.pending:
                answers.extend(self.model.generate([prompt]))
                continue
            step = self.pending.pop(0)
            recorded, images = recorded_screen(self.trajectory, step), prompt.images()
            if recorded is not None and images and screen_distance(images[0], recorded) > self.threshold:
                self.healed.append(step.index)
                answers.extend(self.model.generate([prompt]))
                continue
            answers.append(Completion(text=self._encode(step, prompt), timings_ms={"replay": 0.0}))
        return answers

    def _encode(self, step: Step, prompt: Prompt) -> str:
        action = step.action
        assert action is not None
        call = model_call(action.tool, action.normalized, prompt.frame, action_space_of(action.tool),
                          ndigits=2)
        return "<tool_call>\n" + call_text(call) + "\n</tool_call>"

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.model.describe()
        return {**described, "replay_of": str(self.trajectory.path), "healed_steps": self.healed}

    def close(self) -> None:
        self.model.close()


def _ends_run(step: Step) -> bool:
    return step.error is None and step.action is not None and step.action.name in ("terminate", "answer")
