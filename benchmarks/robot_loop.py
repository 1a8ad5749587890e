"""The library's own time per step in a control loop, not a test: ``Run.step`` with an instant
model beside the bare environment loop (observe + execute) on the same environment.

Library time is a step's wall time less the environment's observe and execute and the model call
(each step's own ``timings_ms``): rendering the prompt, reading and gating the answer, loop
detection, the thread hand-over to the model worker, handing the step to the recorder. Measured
on the memory canvas at 1280×800 with one camera and with three, and on the MuJoCo arm when
mujoco is installed. Then the recorder on its own: what handing a step over costs the control
thread, and what the writer thread spends per step (encoding, writing, fsync) for each fsync
policy and with depth and further cameras left out. Then a long run: the prompt's size and the
library time at step 1,200 with the default history window.

    python benchmarks/robot_loop.py [--steps 300] [--out benchmarks/results/robot_loop.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault(
    "MUJOCO_GL", "osmesa"
)  # before mujoco is imported: software rendering by default
sys.path.insert(0, str(ROOT))

from vlagent.agent import Agent, Limits  # noqa: E402
from vlagent.agent.runtimes.function import FunctionRuntime  # noqa: E402
from vlagent.agent.trajectory import Recorder  # noqa: E402
from vlagent.agent.trajectory.recorder import Keep  # noqa: E402
from vlagent.environments import Environment, MemoryEnvironment, Observation  # noqa: E402
from vlagent.prompts import Prompt, get_dialect  # noqa: E402
from vlagent.tools import ToolCall  # noqa: E402

Answer = Callable[[int], dict[str, Any]]


class ThreeCameras(MemoryEnvironment):
    """The canvas seen by three 1280×800 cameras (the further two are copies)."""

    def observe(self) -> Observation:
        seen = super().observe()
        views = {"left": seen.image.copy(), "right": seen.image.copy()}
        return Observation(seen.image, views=views, surface="camera image")


def pointer(i: int) -> dict[str, Any]:
    """A move all over the screen: a different action each step, as a controller sends."""
    point = [(i * 37) % 1000, (i * 91) % 1000]
    return {"name": "computer_use", "arguments": {"action": "mouse_move", "coordinate": point}}


def arm_move(i: int) -> dict[str, Any]:
    position = [round(0.05 * ((i % 5) - 2), 3), round(0.04 * ((i % 3) - 1), 3), 0.2]
    return {"name": "move_to", "arguments": {"position": position}}


def instant_model(answer: Answer) -> FunctionRuntime:
    count = iter(range(10**9))

    def model(prompt: Prompt) -> str:
        return "<tool_call>\n" + json.dumps(answer(next(count))) + "\n</tool_call>"

    return FunctionRuntime(model, "benchmark:instant")


def bare_loop(env: Environment, answer: Answer, steps: int) -> float:
    """Median ms of observe + execute: the environment alone, its actions made beforehand."""
    toolset, dialect = env.toolset, get_dialect("qwen2-vl")
    frame = dialect.frame_for(env.observe().size, toolset)
    actions = []
    for i in range(steps):
        text = "<tool_call>\n" + json.dumps(answer(i)) + "\n</tool_call>"
        call = dialect.parse(text, frame, toolset)[0]
        actions.append(toolset.validate(ToolCall(call.name, call.arguments)))
    times = []
    for action in actions:
        started = time.perf_counter()
        env.observe()
        env.execute(action)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def agent_loop(
    env: Environment, answer: Answer, steps: int, recorder: Recorder | None = None
) -> dict[str, float]:
    """Median per-step wall, library and environment ms of ``Run.step`` with an instant model."""
    agent = Agent(
        instant_model(answer),
        get_dialect("qwen2-vl"),
        env,
        limits=Limits(max_steps=steps + 10, max_repeats=10**6),
        recorder=recorder,
    )
    walls, library, environment = [], [], []
    with agent.start("follow the target") as run:
        for _ in range(steps):
            started = time.perf_counter()
            step = run.step()
            wall = (time.perf_counter() - started) * 1000
            assert step is not None and step.error is None, step
            timings = step.timings_ms
            env_ms = timings.get("observe", 0.0) + timings.get("execute", 0.0)
            walls.append(wall)
            environment.append(env_ms)
            library.append(wall - env_ms - timings.get("generate", 0.0))
        prompt_chars = len(run.steps[-1].prompt_text)
    return {
        "wall_ms": round(statistics.median(walls), 3),
        "environment_ms": round(statistics.median(environment), 3),
        "library_ms": round(statistics.median(library), 3),
        "library_p90_ms": round(statistics.quantiles(library, n=10)[-1], 3),
        "prompt_chars": prompt_chars,
    }


def compare(
    name: str, make: Callable[[], Environment], answer: Answer, steps: int
) -> dict[str, Any]:
    with make() as env:
        bare = bare_loop(env, answer, steps)
    with make() as env:
        loop = agent_loop(env, answer, steps)
    row = {"setup": name, "bare_env_ms": bare, **loop}
    row["ratio"] = round(loop["wall_ms"] / bare, 2) if bare else None
    print(
        f"  {name:28s} bare {bare:7.3f} ms | Run.step {loop['wall_ms']:7.3f} ms | library "
        f"{loop['library_ms']:.3f} ms (p90 {loop['library_p90_ms']:.3f}) | ratio {row['ratio']}"
    )
    return row


class SlowModelRecorder:
    """Times the recorder's hand-over calls on the control thread."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder, self.spent = recorder, 0.0
        for name in ("capture", "write_step", "start"):
            method = getattr(recorder, name)
            setattr(recorder, name, self._timed(method))

    def _timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - started

        return timed


def recording(
    steps: int, work: Path, arm: Callable[[], Environment] | None
) -> list[dict[str, Any]]:
    """The recorder's cost per step: on the control thread and on its writer, by policy."""
    cases: list[tuple[str, Callable[[], Environment], Answer, Keep, Any]] = [
        ("canvas, fsync each step", MemoryEnvironment, pointer, Keep(), "step"),
        ("canvas, fsync every 10", MemoryEnvironment, pointer, Keep(), 10),
        ("canvas, fsync at the end", MemoryEnvironment, pointer, Keep(), "end"),
        ("canvas, no prompt text", MemoryEnvironment, pointer, Keep(prompt=False), "end"),
    ]
    if arm is not None:
        cases += [
            ("arm, everything, fsync each step", arm, arm_move, Keep(), "step"),
            ("arm, no depth, no views", arm, arm_move, Keep(depth=False, views=False), "step"),
        ]
    rows = []
    for number, (name, make, answer, keep, fsync) in enumerate(cases):
        recorder = Recorder(work / f"rec-{number}", fsync=fsync, keep=keep, queue_size=steps)
        timer = SlowModelRecorder(recorder)
        with make() as env:
            agent_loop(env, answer, steps, recorder)
        row = {
            "setup": name,
            "control_thread_ms": round(timer.spent / steps * 1000, 3),
            "writer_ms": round(recorder.writer_s / steps * 1000, 2),
            "kb_per_step": round(recorder.written_bytes / steps / 1024, 1),
        }
        print(
            f"  {name:34s} control thread {row['control_thread_ms']:.3f} ms | writer "
            f"{row['writer_ms']:.2f} ms | {row['kb_per_step']:.0f} KB/step"
        )
        rows.append(row)
    return rows


def long_run(steps: int) -> dict[str, Any]:
    """Library time and prompt size at the start and at the end of a run of ``steps``."""
    env = MemoryEnvironment()
    agent = Agent(
        instant_model(pointer),
        get_dialect("qwen2-vl"),
        env,
        limits=Limits(max_steps=steps + 10, max_repeats=10**6),
    )
    library: list[float] = []
    with agent.start("follow the target") as run:
        for _ in range(steps):
            started = time.perf_counter()
            step = run.step()
            wall = (time.perf_counter() - started) * 1000
            assert step is not None
            t = step.timings_ms
            library.append(wall - t.get("observe", 0) - t.get("execute", 0) - t.get("generate", 0))
        chars = [len(s.prompt_text) for s in run.steps]
    row = {
        "steps": steps,
        "library_ms_first_50": round(statistics.median(library[:50]), 3),
        "library_ms_last_50": round(statistics.median(library[-50:]), 3),
        "prompt_chars_max": max(chars),
        "prompt_chars_last": chars[-1],
    }
    print(f"  long run: {row}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--long", type=int, default=1200)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "robot_loop.json"
    )
    args = parser.parse_args()
    arm: Callable[[], Environment] | None = None
    try:
        import mujoco  # noqa: F401

        from vlagent.environments.sim_pick import SimPickEnvironment

        arm = SimPickEnvironment
    except ImportError:
        print("  (mujoco is not installed: the arm is left out)")
    print(f"library time per step, median of {args.steps} steps, instant model:")
    rows = [
        compare("canvas 1280x800, 1 camera", MemoryEnvironment, pointer, args.steps),
        compare("canvas 1280x800, 3 cameras", ThreeCameras, pointer, args.steps),
    ]
    if arm is not None:
        rows.append(compare("arm (2 cameras, depth)", arm, arm_move, args.steps // 3))
    print("the recorder, per step:")
    with tempfile.TemporaryDirectory(prefix="vlagent-robot-loop-") as work:
        recorder_rows = recording(min(args.steps, 100), Path(work), arm)
    long = long_run(args.long)
    result = {
        "date": datetime.now(timezone.utc).date().isoformat(),
        "python": platform.python_version(),
        "loop": rows,
        "recorder": recorder_rows,
        "long_run": long,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
