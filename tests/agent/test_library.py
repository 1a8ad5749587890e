"""The library API that the CLI, UI tests and robot stacks share: build from a spec, advance a run
one step at a time, decide without executing, stop from another thread, run under asyncio."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tool_call, write_script
from vlagent.agent import Agent, Limits, ModelSpec, RunSpec, build_agent
from vlagent.agent.cli import main
from vlagent.agent.runtimes import ScriptedRuntime
from vlagent.agent.runtimes.base import Completion
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.environments import ActionResult, MemoryEnvironment
from vlagent.prompts import Prompt, get_dialect

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "tap-type-done.txt"
TIMES = {"started_at", "ended_at", "duration_s", "timings_ms", "run_id"}


def comparable(run_dir: Path) -> list[dict[str, Any]]:
    """The trajectory's lines without what differs between two runs of the same episode: times,
    durations and the run's id."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMES}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    lines = [
        json.loads(line) for line in (run_dir / "trajectory.jsonl").read_text("utf-8").splitlines()
    ]
    return [strip(line) for line in lines]


def test_the_cli_and_six_lines_of_library_record_the_same_trajectory(tmp_path: Path) -> None:
    code = main(
        [
            *"run --env memory --size 720x1280 --space mobile --goal".split(),
            "Type a greeting",
            "--model",
            f"scripted:{EXAMPLE}",
            "--out",
            str(tmp_path / "cli"),
        ]
    )
    assert code == 0
    # The library, as a user writes it (six lines at most):
    spec = RunSpec(
        env="memory",
        env_options={"size": "720x1280", "space": "mobile"},
        model=f"scripted:{EXAMPLE}",
        out=tmp_path / "lib",
    )
    with build_agent(spec) as agent:
        result = agent.run("Type a greeting")
    assert result.status == "success"
    assert comparable(tmp_path / "cli") == comparable(tmp_path / "lib")


def _scripted_agent(answers: list[str], out: Path | None) -> tuple[Agent, MemoryEnvironment]:
    env = MemoryEnvironment(size=(720, 1280), space="mobile")
    recorder = Recorder(out) if out is not None else None
    agent = Agent(
        ScriptedRuntime(answers),
        get_dialect("qwen2-vl"),
        env,
        recorder=recorder,
        limits=Limits(max_steps=10),
    )
    return agent, env


ANSWERS = [
    "thinking out loud, no call",  # an invalid answer, fed back
    tool_call(action="click", coordinate=[500, 250]),
    tool_call(action="type", text="hello"),
    tool_call(action="terminate", status="success"),
]


def test_a_run_driven_from_the_callers_own_loop_records_what_run_records(tmp_path: Path) -> None:
    whole, _ = _scripted_agent(ANSWERS, tmp_path / "whole")
    assert whole.run("greet").status == "success"

    agent, env = _scripted_agent(ANSWERS, tmp_path / "stepped")
    taken = []
    with agent.start("greet") as run:
        while not run.finished:
            observation = env.observe()  # captured by the caller, e.g. on its own schedule
            step = run.step(observation)
            assert step is not None
            taken.append(step.index)
    assert taken == [0, 1, 2, 3]
    assert run.result is not None and run.result.status == "success"
    assert [e["action"] for e in env.log] == ["click", "type"]
    assert comparable(tmp_path / "whole") == comparable(tmp_path / "stepped")


def test_decisions_can_be_taken_without_executing_them(tmp_path: Path) -> None:
    agent, env = _scripted_agent(ANSWERS, tmp_path / "run")
    executed_by_caller = []
    with agent.start("greet") as run:
        while not run.finished:
            decision = run.decide()
            assert decision is not None
            if decision.pending:  # the caller executes the action itself and reports back
                assert decision.step.action is not None
                executed_by_caller.append(decision.step.action.device)
                run.report(ActionResult(ok=True, message="done by the caller"))
    assert env.log == []  # the environment executed nothing
    assert [a["action"] for a in executed_by_caller] == ["click", "type"]
    assert executed_by_caller[0]["coordinate"] == [360.0, 320.0]
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.end is not None and trajectory.end.status == "success"
    assert [s.error.kind if s.error else None for s in trajectory.steps] == [
        "parse",
        None,
        None,
        None,
    ]
    assert trajectory.steps[1].result is not None
    assert trajectory.steps[1].result.message == "done by the caller"
    # A second decision before the first is reported is refused, not silently dropped.
    agent2, _ = _scripted_agent(ANSWERS[1:], None)
    with agent2.start("greet") as run2:
        assert run2.decide() is not None
        with pytest.raises(RuntimeError, match="report"):
            run2.decide()


class SlowModel(ScriptedRuntime):
    """Answers clicks forever, each after a pause; notes how many it gave."""

    def __init__(self) -> None:
        super().__init__([tool_call(action="wait", time=0)])

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        time.sleep(0.05)
        self.used += 1
        return [
            Completion(
                text=tool_call(
                    action="swipe", coordinate=[500, 800 - self.used % 2], coordinate2=[500, 200]
                )
            )
        ]


def test_stop_from_another_thread_ends_the_run_within_one_step(tmp_path: Path) -> None:
    env = MemoryEnvironment(size=(720, 1280), space="mobile")
    model = SlowModel()
    agent = Agent(
        model,
        get_dialect("qwen2-vl"),
        env,
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=1000, max_repeats=1000),
    )
    results = []
    worker = threading.Thread(target=lambda: results.append(agent.run("swipe forever")))
    worker.start()
    time.sleep(0.4)
    asked_at_stop = model.used
    agent.stop("enough")
    worker.join(timeout=10)
    assert not worker.is_alive() and results
    result = results[0]
    assert result.status == "aborted" and result.reason == "enough"
    assert len(result.steps) <= asked_at_stop + 1
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.end is not None and trajectory.end.status == "aborted"
    assert len(trajectory.steps) == len(result.steps)


def test_the_async_variant_runs_under_asyncio(tmp_path: Path) -> None:
    agent, env = _scripted_agent(ANSWERS, tmp_path / "run")

    async def main_task() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:  # the event loop stays free while the agent works
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        beat = asyncio.create_task(ticker())
        result = await agent.arun("greet")
        beat.cancel()
        return result.status, ticks

    status, ticks = asyncio.run(main_task())
    assert status == "success" and ticks > 0
    assert [e["action"] for e in env.log] == ["click", "type"]
    assert read_trajectory(tmp_path / "run").end is not None


def test_iterate_yields_steps_and_leaving_early_closes_the_run(tmp_path: Path) -> None:
    agent, _ = _scripted_agent(ANSWERS, tmp_path / "run")
    for step in agent.iterate("greet"):
        if step.index == 1:
            break
    trajectory = read_trajectory(tmp_path / "run")
    assert [s.index for s in trajectory.steps] == [0, 1]
    assert trajectory.end is not None and trajectory.end.status == "aborted"


def test_build_agent_closes_what_it_opened_when_the_model_is_missing(tmp_path: Path) -> None:
    from vlagent.agent.runtimes.base import ModelUnavailable

    closed = []

    class Watched(MemoryEnvironment):
        def close(self) -> None:
            closed.append(True)

    with pytest.raises(ModelUnavailable, match="not found"):
        build_agent(
            RunSpec(env="memory", model=ModelSpec(model="scripted:/nonexistent")),
            environment=Watched(),
        )
    assert closed == [True]


def test_runtimes_are_context_managers(tmp_path: Path) -> None:
    closed = []

    class Watched(ScriptedRuntime):
        def close(self) -> None:
            closed.append(True)

    with Watched([tool_call(action="wait", time=0)]) as runtime:
        assert runtime.generate([]) == []
    assert closed == [True]


def test_every_model_option_of_run_is_taken_by_replay_and_eval(tmp_path: Path) -> None:
    """One set of model options: `replay --model` and `eval` accept each option `agent run` has."""
    import typer

    from vlagent import environments
    from vlagent.agent.cli.common import app

    command = typer.main.get_command(app)
    by_name = {
        name: {o for p in cmd.params for o in p.opts} for name, cmd in command.commands.items()
    }  # type: ignore[attr-defined]
    # agent run's options, less those about the goal, the limits, the output and the environment:
    not_model = {
        *"--env --goal --max-steps --max-retries --max-repeats --time-limit --out".split(),
        *"--dry-run --secret --confirm --allow-app --deny-app --region --env-option".split(),
    }
    not_model |= {
        f"--{o.replace('_', '-')}"
        for name in environments.available()
        for o in environments.options_of(name)
    }
    model_flags = by_name["run"] - not_model
    assert {"--model", "--endpoint", "--dialect", "--max-pixels", "--dtype"} <= model_flags
    for name in ("run", "replay", "eval"):
        assert model_flags <= by_name[name], (name, model_flags - by_name[name])
    # ... and through the real command line: each flag with a valid value parses, the run then
    # stops where the flag does not matter (a scripted model, a missing recording).
    values = {
        "--model": "scripted:x",
        "--dialect": "qwen2-vl",
        "--endpoint": None,
        "--max-new-tokens": "8",
        "--temperature": "0.5",
        "--seed": "1",
        "--dtype": "fp32",
        "--attention": "sdpa",
        "--device-map": "cpu",
        "--quantization": "4bit",
        "--max-pixels": "1000000",
        "--min-pixels": "3136",
        "--constrained": "off",
        "--timeout": "5",
        "--retries": "1",
        "--allow-insecure-key": "",
        "--use-env-proxy": "",
    }
    assert set(values) == model_flags
    script = write_script(tmp_path / "s.txt", [tool_call(action="terminate", status="success")])
    for flag, value in values.items():
        extra = (
            []
            if flag == "--model"
            else [flag, value or "http://127.0.0.1:9/v1"]
            if value != ""
            else [flag]
        )
        model = ["--model", "served-name" if flag == "--endpoint" else f"scripted:{script}"]
        replay_code = main(["replay", str(tmp_path / "no-such-run"), *model, *extra])
        eval_code = main(
            ["eval", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "e"), *model, *extra]
        )
        assert replay_code == 3 and eval_code == 3, (
            flag
        )  # setup error (no recording, no data): not a usage error


def test_each_step_records_what_is_new_and_the_whole_prompt_is_rebuilt(tmp_path: Path) -> None:
    class Spy(ScriptedRuntime):
        seen: list[str] = []

        def generate(self, prompts: list[Prompt]) -> list[Completion]:
            self.seen.extend(p.text() for p in prompts)
            return super().generate(prompts)

    env = MemoryEnvironment(size=(720, 1280), space="mobile")
    spy = Spy(ANSWERS)
    result = Agent(spy, get_dialect("qwen2-vl"), env, recorder=Recorder(tmp_path / "run")).run(
        "greet"
    )
    trajectory = read_trajectory(tmp_path / "run")
    assert [trajectory.prompt(s.index) for s in trajectory.steps] == spy.seen
    # The run hands back its own steps, each with its whole prompt; only the file holds deltas.
    assert [s.prompt_text for s in result.steps] == spy.seen
    assert not hasattr(result.steps[2], "prompt_from")
    assert (
        trajectory.steps[0].prompt_from is None and trajectory.steps[0].prompt_text == spy.seen[0]
    )
    later = trajectory.steps[2]
    assert later.prompt_from is not None and len(later.prompt_text) < len(spy.seen[2]) - 60


def test_an_empty_goal_is_refused_before_a_run_starts(tmp_path: Path) -> None:
    finish = tool_call("computer_use", action="terminate", status="success")
    agent = Agent(
        ScriptedRuntime([finish]),
        get_dialect("qwen2-vl"),
        MemoryEnvironment(),
        recorder=Recorder(tmp_path / "run"),
    )
    with pytest.raises(ValueError, match="say what the agent should do"):
        agent.run(" ")
    assert (tmp_path / "run" / "trajectory.jsonl").read_text() == ""  # nothing recorded
    assert agent.run("finish").status == "success"  # and the agent is still usable
    assert read_trajectory(tmp_path / "run").header.goal == "finish"
