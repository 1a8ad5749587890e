"""Robotics at control rate: the environment is driven only on the thread that owns it, a decision
in flight is stopped, closed or cancelled at once and recorded as not executed, the prompt stays
bounded, recording happens off the control thread, and runs come in episodes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import BaseModel

from tests.conftest import assert_schema_valid, tool_call
from vlagent.agent import Agent, Limits
from vlagent.agent.core.history import HistoryWindow, RunHistory
from vlagent.agent.core.steps import EpisodeOver
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.runtimes.function import FunctionRuntime
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.agent.trajectory.recorder import Keep
from vlagent.environments import ActionResult, MemoryEnvironment, Observation, Wrapper
from vlagent.prompts import Prompt, get_dialect
from vlagent.tools import ToolCall, ToolSet

GATE_S = 20.0
"""The longest a test waits for a gate: a failure, never a normal wait."""

MOVE = tool_call("mobile_use", action="click", coordinate=[100, 100])


def move(i: int) -> str:
    return tool_call("mobile_use", action="click", coordinate=[(i * 37) % 1000, (i * 91) % 1000])


def moving() -> FunctionRuntime:
    """A model that clicks somewhere new each step."""
    count = iter(range(10**6))
    return FunctionRuntime(lambda prompt: move(next(count)))


class GatedModel(Runtime):
    """Answers once the test opens ``gate``; ``entered`` is set while a call waits. Counts the
    calls that run at once and the threads they run on."""

    name = "gated"

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            answer = self.answers[min(self.calls, len(self.answers) - 1)]
            self.calls += 1
        self.entered.set()
        try:
            assert self.gate.wait(GATE_S), "the test never opened the gate"
            return [Completion(text=answer)]
        finally:
            with self._lock:
                self.running -= 1

    def describe(self) -> dict[str, Any]:
        return {"id": "gated", "runtime": self.name, "options": {}}


class Owned(Wrapper):
    """Records the thread of every call into the environment."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.threads: set[int] = set()

    def _touch(self) -> None:
        self.threads.add(threading.get_ident())

    def observe(self) -> Observation:
        self._touch()
        return super().observe()

    def execute(self, action: BaseModel) -> ActionResult:
        self._touch()
        return super().execute(action)

    def facts(self) -> Any:
        self._touch()
        return super().facts()

    def describe(self) -> dict[str, Any]:
        self._touch()
        return super().describe()


def _agent(model: Runtime, env: Any = None, **options: Any) -> Agent:
    env = env if env is not None else MemoryEnvironment(size=(320, 240), space="mobile")
    options.setdefault("limits", Limits(max_steps=50, max_repeats=100))
    return Agent(model, get_dialect("qwen2-vl"), env, **options)


# -- threads ---------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modes=st.lists(st.sampled_from(["step", "decide", "deadline", "async"]), max_size=6))
def test_the_environment_is_only_touched_from_the_thread_that_drives_the_run(
    modes: list[str],
) -> None:
    env = Owned(MemoryEnvironment(size=(64, 48), space="mobile"))
    model = FunctionRuntime(lambda prompt: MOVE)
    agent = _agent(model, env, policy=lambda action: None)

    async def drive_async(run: Any) -> None:
        decision = await run.adecide(deadline_s=GATE_S)
        if decision is not None and decision.pending:
            run.report(env.execute(decision.action))

    with agent.start("tap") as run:
        for mode in modes:
            if mode == "step":
                run.step()
            elif mode == "async":
                asyncio.run(drive_async(run))
            else:
                decision = run.decide(deadline_s=GATE_S if mode == "deadline" else None)
                if decision is not None and decision.pending:
                    run.report(env.execute(decision.action))
    asyncio.run(agent.arun("tap again"))
    assert env.threads <= {threading.get_ident()}


EGL_SCRIPT = """
import asyncio, json
from vlagent.agent import Agent, Limits
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.environments import EnvironmentUnavailable
from vlagent.prompts import get_dialect
try:
    from vlagent.environments.sim_pick import SimPickEnvironment
    arm = SimPickEnvironment(seed=3)
    arm.observe()
except (ImportError, EnvironmentUnavailable) as exc:
    print("NO-EGL", exc)
    raise SystemExit(0)
move = '<tool_call>{"name": "move_to", "arguments": {"position": [0.0, 0.0, 0.2]}}</tool_call>'
done = '<tool_call>{"name": "finish", "arguments": {"status": "failure"}}</tool_call>'
dialect = get_dialect("qwen2-vl")
agent = Agent(ScriptedRuntime([move, done]), dialect, arm, limits=Limits(max_steps=4))
with agent.start("hold") as run:
    decision = run.decide(None, deadline_s=30)
    run.report(arm.execute(decision.action))
    first = run.close().status
agent.reset(seed=4)
agent.runtime = ScriptedRuntime([move, done])
second = asyncio.run(agent.arun("hold")).status
print(json.dumps([first, second]))
"""


def test_an_egl_rendered_arm_is_observed_on_the_callers_thread(tmp_path: Path) -> None:
    pytest.importorskip("mujoco")
    done = subprocess.run(
        [sys.executable, "-c", EGL_SCRIPT],
        env={**os.environ, "MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.stdout.startswith("NO-EGL"):
        pytest.skip(f"no EGL here: {done.stdout.strip()}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "EGL_BAD_ACCESS" not in done.stderr
    # decide(deadline_s) and arun() both observe on this thread, where EGL's context lives.
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["aborted", "failure"]


def test_a_cancelled_async_decision_is_recorded_and_the_model_is_never_asked_twice_at_once(
    tmp_path: Path,
) -> None:
    model = GatedModel([MOVE])
    agent = _agent(model, recorder=Recorder(tmp_path / "run"))

    async def control() -> None:
        run = agent.start("tap")
        for _ in range(3):  # wait_for cancels the decision each time: the three calls
            model.gate.clear()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(run.adecide(), timeout=0.05)
        model.gate.set()
        decision = await run.adecide(deadline_s=GATE_S)
        assert decision is not None and decision.pending
        run.report(ActionResult(message="done"))
        run.close()

    asyncio.run(control())
    # One model, one call at a time: the second and third waits were for the first call, still
    # running, and asked nothing of the model; the fresh decision came after it.
    assert model.most_at_once == 1 and model.calls == 2
    steps = read_trajectory(tmp_path / "run").steps
    assert steps[0].result is not None
    assert steps[0].result.message == "not executed: cancelled while the model was deciding"
    assert [s.executed for s in steps] == [False, True]


def test_cancelling_arun_ends_the_run_aborted_with_the_step_in_flight_recorded(
    tmp_path: Path,
) -> None:
    model = GatedModel([MOVE])
    agent = _agent(model, recorder=Recorder(tmp_path / "run"))

    async def cancel_it() -> None:
        task = asyncio.ensure_future(agent.arun("tap"))
        while not model.entered.is_set():
            await asyncio.sleep(0)  # yield to the run until its model call has started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_it())
    model.gate.set()
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.end is not None and trajectory.end.status == "aborted"
    assert trajectory.end.reason == "cancelled"
    assert len(trajectory.steps) == 1 and not trajectory.steps[0].executed


# -- stopping --------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["e-stop", "operator pressed the button", "ü"])
def test_an_e_stop_during_a_decision_returns_at_once_and_keeps_its_reason(
    tmp_path: Path, reason: str
) -> None:
    model = GatedModel([MOVE])
    agent = _agent(model, recorder=Recorder(tmp_path / "run"))
    run = agent.start("tap")
    stopper = threading.Thread(target=lambda: (model.entered.wait(GATE_S), run.stop(reason)))
    stopper.start()
    started = time.monotonic()
    assert run.decide() is None  # woken by the stop, not by the model
    assert time.monotonic() - started < GATE_S / 2
    stopper.join()
    result = run.close()
    model.gate.set()
    assert (result.status, result.reason) == ("aborted", reason)
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.end is not None and trajectory.end.reason == reason
    [step] = trajectory.steps
    assert step.result is not None and not step.executed
    assert step.result.message == f"not executed: {reason} while the model was deciding"


def test_close_with_a_late_decision_in_flight_does_not_wait_and_records_it(tmp_path: Path) -> None:
    model = GatedModel([MOVE])
    agent = _agent(model, recorder=Recorder(tmp_path / "run"))
    run = agent.start("tap")
    decision = run.decide(deadline_s=0.01)
    assert decision is not None and decision.overrun
    run.stop("e-stop")
    started = time.monotonic()
    result = run.close()
    assert time.monotonic() - started < 1.0  # the model still holds its call
    model.gate.set()
    assert (result.status, result.reason) == ("aborted", "e-stop")
    [step] = read_trajectory(tmp_path / "run").steps
    assert not step.executed and "e-stop while the model was deciding" in str(step.result)


def test_close_from_another_thread_stops_a_decision_that_waits_for_the_model() -> None:
    model = GatedModel([MOVE])
    run = _agent(model).start("tap")
    closer = threading.Thread(target=lambda: (model.entered.wait(GATE_S), run.close()))
    closer.start()
    assert run.decide() is None
    closer.join(GATE_S)
    model.gate.set()
    assert run.result is not None and run.result.reason == "closed before it finished"
    assert len(run.steps) == 1 and not run.steps[0].executed


def test_a_late_decision_is_listed_as_not_executed_never_as_done() -> None:
    prompts: list[str] = []
    model = GatedModel([MOVE, tool_call("mobile_use", action="wait", time=0.01)])
    agent = _agent(model)
    with agent.start("tap") as run:
        assert run.decide(deadline_s=0.01) is not None  # overran
        model.gate.set()
        fresh = run.decide(deadline_s=GATE_S)  # the late one is recorded, a fresh one made
        assert fresh is not None and fresh.pending and fresh.step is not None
        prompts.append(fresh.step.prompt_text)
    assert "Step 1: " in prompts[0] and "(decided, not executed)" in prompts[0]


# -- the bounded prompt ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(0, 400),
    steps=st.integers(1, 60),
    chars=st.integers(40, 5000),
    unexecuted=st.sets(st.integers(1, 400), max_size=20),
)
def test_the_history_window_is_bounded_numbered_and_summarises_what_fell_out(
    count: int, steps: int, chars: int, unexecuted: set[int]
) -> None:
    history = RunHistory(HistoryWindow(steps=steps, chars=chars))
    for i in range(count):
        history.add(ToolCall("mobile_use", {"action": "click", "coordinate": [i, i]}))
    for number in unexecuted:
        if number <= count:
            history.not_executed(number)
    shown = history.shown()
    assert len(shown) <= max(steps, 1) and (count == 0 or len(shown) >= 1)
    assert shown.first + len(shown) - 1 == count  # the last calls, numbered as they were
    assert bool(shown.earlier) == (shown.first > 1)
    if shown.earlier:
        assert shown.earlier.startswith(f"Steps 1-{shown.first - 1} (not listed): ")
        assert "\n" not in shown.earlier
    assert shown.unexecuted == {n for n in unexecuted if shown.first <= n <= count}
    lines = get_dialect("qwen2-vl").history_lines(shown)
    marked = [line for line in lines if line.endswith("(decided, not executed)")]
    assert len(marked) == len(shown.unexecuted)


def test_a_long_run_keeps_its_prompt_bounded_and_stable_between_window_moves() -> None:
    answers = moving()
    agent = _agent(answers, limits=Limits(max_steps=400, max_repeats=100))
    result = agent.run("follow")
    assert result.status == "max_steps"
    sizes = [len(s.prompt_text) for s in result.steps]
    assert max(sizes) < 4 * sizes[45]  # 400 steps in: no bigger than a few dozen steps in
    last = result.steps[-1].prompt_text
    assert "Steps 1-" in last and "(not listed): 360 click" in last
    # Between two moves of the window each prompt starts as the one before it did, all but the
    # image's place at its end (what the trajectory's prompt_from and a prefix cache rely on).
    shared = [
        len(os.path.commonprefix([a.prompt_text, b.prompt_text])) >= len(a.prompt_text) - 40
        for a, b in zip(result.steps, result.steps[1:])
    ]
    assert sum(shared) > 0.8 * len(shared)


# -- recording -------------------------------------------------------------------------------


CRASH_SCRIPT = """
import sys
from vlagent.agent import Agent, Limits
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.trajectory import Recorder
from vlagent.environments import MemoryEnvironment
from vlagent.prompts import get_dialect
answer = ('<tool_call>{"name": "mobile_use", "arguments": '
          '{"action": "click", "coordinate": [%d, 5]}}</tool_call>')
agent = Agent(ScriptedRuntime([answer % i for i in range(50)]), get_dialect("qwen2-vl"),
              MemoryEnvironment(size=(1280, 800), space="mobile"), limits=Limits(max_steps=60),
              recorder=Recorder(sys.argv[1], fsync=sys.argv[2] if sys.argv[2] != "10" else 10))
run = agent.start("tap")
for _ in range(int(sys.argv[3])):
    run.step()
raise RuntimeError("the robot's own code crashed")  # the run is never closed
"""


@pytest.mark.parametrize(("fsync", "steps"), [("step", 7), ("10", 12), ("end", 9)])
def test_a_crash_after_the_steps_leaves_every_step_handed_over_on_disk(
    tmp_path: Path, fsync: str, steps: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path / "run"), fsync, str(steps)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "the robot's own code crashed" in done.stderr
    trajectory = read_trajectory(tmp_path / "run")
    assert [s.index for s in trajectory.steps] == list(range(steps))
    assert trajectory.problems == [] and trajectory.end is None
    assert all(trajectory.screenshot(s) is not None for s in trajectory.steps)


def test_the_recorder_keeps_what_it_is_asked_to_and_its_lines_stay_valid(tmp_path: Path) -> None:
    class Cameras(MemoryEnvironment):
        def observe(self) -> Observation:
            seen = super().observe()
            depth = {"screen": [[1.0] * 4] * 3}
            return Observation(seen.image, views={"top": seen.image}, depth=depth)

    recorder = Recorder(tmp_path / "run", fsync=3, keep=Keep(depth=False, prompt=False))
    agent = _agent(
        moving(),
        Cameras(size=(64, 48), space="mobile"),
        recorder=recorder,
        limits=Limits(max_steps=5),
    )
    assert agent.run("tap").status == "max_steps"
    lines = [json.loads(x) for x in (tmp_path / "run/trajectory.jsonl").read_text().splitlines()]
    assert_schema_valid(lines)
    steps = read_trajectory(tmp_path / "run").steps
    assert all(
        s.depth is None and s.views == {"top": f"screens/{s.index:06d}-top.png"} for s in steps
    )
    assert all(s.prompt_text == "" for s in steps)
    assert not list((tmp_path / "run/screens").glob("*.npy"))
    assert len({s.screen_hash for s in steps}) == 5  # every click changed the canvas


def test_no_frame_is_hashed_or_serialised_on_the_control_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = Image.Image.tobytes

    def tobytes(self: Image.Image, *args: Any, **kwargs: Any) -> bytes:
        seen.append(threading.get_ident())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "tobytes", tobytes)
    agent = _agent(
        moving(),
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=6),
    )
    with agent.start("tap") as run:
        for _ in range(6):
            run.step()
        run.close()
    assert seen and threading.get_ident() not in seen  # the recorder's writer hashed them


# -- episodes --------------------------------------------------------------------------------


def test_a_second_episode_needs_a_reset_and_each_is_recorded_apart(
    sim_arm: Any, tmp_path: Path
) -> None:
    arm = sim_arm(1)
    finish = tool_call("finish", status="failure")
    agent = Agent(ScriptedFinish([finish]), get_dialect("qwen2-vl"), arm)
    assert agent.run("give up").status == "failure"
    with pytest.raises(EpisodeOver, match=r"call agent.reset\(seed=...\)"):
        agent.run("give up again")  # not 20 steps of "the episode is over"
    results = agent.run_episodes("give up", 3, seed=10, out=tmp_path / "eps")
    assert [r.status for r in results] == ["failure"] * 3
    assert sorted(p.name for p in (tmp_path / "eps").iterdir()) == [
        "episode-0000",
        "episode-0001",
        "episode-0002",
    ]
    headers = [read_trajectory(r.run_dir).header for r in results if r.run_dir]
    assert [h.environment.model_dump()["seed"] for h in headers if h] == [10, 11, 12]


class ScriptedFinish(Runtime):
    name = "scripted-finish"

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        return [Completion(text=self.answers[0]) for _ in prompts]

    def describe(self) -> dict[str, Any]:
        return {"id": "finish", "runtime": self.name, "options": {}}


def test_a_finished_cartpole_is_not_run_again_until_reset() -> None:
    gymnasium = pytest.importorskip("gymnasium")
    pytest.importorskip("pygame")
    from vlagent.environments.from_gym import FromGym, discrete_tool

    env = FromGym(
        gymnasium.make("CartPole-v1", render_mode="rgb_array"),
        [discrete_tool(["left", "right"])],
        0,
    )
    right = tool_call("act", move="right")
    agent = Agent(
        FunctionRuntime(lambda prompt: right),
        get_dialect("qwen2-vl"),
        env,
        limits=Limits(max_steps=60, max_repeats=100),
    )
    first = agent.run("balance")
    assert first.status == "ended" and len(first.steps) < 30
    with pytest.raises(EpisodeOver):
        agent.run("balance")
    agent.reset(seed=1)
    assert agent.run("balance").status == "ended"
    env.close()


def test_a_robot_without_a_camera_is_driven_by_its_state_alone(tmp_path: Path) -> None:
    tools = ToolSet()
    joints = {"elbow_deg": 10.0}

    @tools.add_function
    def bend(by_deg: float) -> str:
        """Bend the elbow."""
        joints["elbow_deg"] += by_deg
        return f"elbow at {joints['elbow_deg']:g}"

    class Blind(MemoryEnvironment):
        def observe(self) -> Observation:
            return Observation(state=dict(joints), surface="robot")

    seen: list[Prompt] = []

    def model(prompt: Prompt) -> str:
        seen.append(prompt)
        return tool_call("bend", by_deg=5) if len(seen) < 3 else tool_call("bend", by_deg=0)

    agent = _agent(
        FunctionRuntime(model),
        Blind(),
        toolset=tools,
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=8, max_repeats=3),
    )
    result = agent.run("bend to 20 degrees")
    assert joints["elbow_deg"] == 20.0
    assert all(prompt.images() == [] for prompt in seen)
    assert "elbow_deg: 20.0" in seen[-1].text()
    # bend 0 three times on an unchanged state is a loop, told by the state alone
    assert result.status == "error" and "3 times on an unchanged robot" in result.reason
    steps = read_trajectory(tmp_path / "run").steps
    assert all(s.screenshot is None and s.state is not None for s in steps)
    assert steps[0].screen_hash != steps[1].screen_hash


def test_an_observation_carries_a_monotonic_timestamp_and_needs_an_image_or_a_state() -> None:
    before = time.monotonic()
    obs = MemoryEnvironment(size=(8, 8)).observe()
    assert before <= obs.timestamp <= time.monotonic()
    with pytest.raises(ValueError, match="needs its state"):
        Observation()


KILLED_RUN = """
import json, os, sys
from vlagent.agent import Agent
from vlagent.agent.runtimes.function import FunctionRuntime
from vlagent.agent.trajectory.recorder import Recorder
from vlagent.environments import MemoryEnvironment
from vlagent.prompts import get_dialect

fsync = json.loads(sys.argv[2])
count = [0]


def model(prompt):
    count[0] += 1
    call = {"name": "computer_use", "arguments": {"action": "left_click",
                                                  "coordinate": [count[0] % 900 + 1, 7]}}
    return "<tool_call>" + json.dumps(call) + "</tool_call>"


env = MemoryEnvironment(size=(1280, 800))
recorder = Recorder(sys.argv[1], fsync=fsync)
run = Agent(FunctionRuntime(model), get_dialect("qwen2-vl"), env, recorder=recorder).start("k")
for _ in range(int(sys.argv[3])):
    run.step(env.observe())
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("steps", [3, 25])
def test_with_fsync_each_step_a_kill_loses_no_finished_step(tmp_path: Path, steps: int) -> None:
    """The default policy: every step a run's step() returned is on disk, even after SIGKILL."""
    import subprocess
    import sys

    from vlagent.agent.trajectory import read_trajectory

    script = tmp_path / "killed.py"
    script.write_text(KILLED_RUN)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(script), str(run_dir), '"step"', str(steps)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr
    trajectory = read_trajectory(run_dir)
    assert [s.index for s in trajectory.steps] == list(range(steps)) and not trajectory.complete
