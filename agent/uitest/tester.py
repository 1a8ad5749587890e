"""The test agent: ``act``, ``tap``, ``check``, ``query`` and ``wait_for`` on one environment, with
one model. Each verb is one recorded run (when the test records), so a failure points at a
trajectory and its HTML report.

    def test_save_a_note(vl_agent):
        vl_agent.act("open Notes, write 'milk' and save it")
        vl_agent.check("a saved note reads 'milk'")
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, TypeVar

from vlagent.agent.core.loop import Agent
from vlagent.agent.core.run import Run
from vlagent.agent.core.steps import Decision, RunResult
from vlagent.agent.replay.healing import HealingRuntime
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.trajectory import Recorder, Trajectory
from vlagent.agent.trajectory.records import Limits
from vlagent.agent.uitest.answers import Tap, Verdict, answer_tool, answer_value, click_on, only
from vlagent.agent.uitest.plans import AnswerReplay, PlanCache
from vlagent.environments import ActionResult, Environment
from vlagent.prompts import Dialect, Prompt
from vlagent.tools import ToolSet
from vlagent.tools.errors import VlagentError

T = TypeVar("T")


class UITestFailure(VlagentError, AssertionError):
    """A verb failed: the message names the verb, the step, the reason and the report."""


class CountingRuntime(Runtime):
    """``runtime`` with a count of the prompts it answered (``calls``)."""

    name = "counting"

    def __init__(self, runtime: Runtime) -> None:
        self.inner, self.calls = runtime, 0
        self.model_id, self.model_type, self.resize = (
            runtime.model_id,
            runtime.model_type,
            runtime.resize,
        )

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        self.calls += len(prompts)
        return self.inner.generate(prompts)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


class UITester:
    """The verbs of a UI test. ``runs``: where each verb's trajectory goes (None: not recorded);
    ``plans``: this test's plan cache (None: off)."""

    def __init__(
        self,
        runtime: Runtime,
        dialect: Dialect,
        environment: Environment,
        runs: Path | None = None,
        plans: PlanCache | None = None,
        max_steps: int = 20,
    ) -> None:
        self.model = runtime if isinstance(runtime, CountingRuntime) else CountingRuntime(runtime)
        self.dialect, self.environment = dialect, environment
        self.runs, self.plans, self.max_steps = runs, plans, max_steps
        self._verbs = 0
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def model_calls(self) -> int:
        return self.model.calls

    # -- verbs -------------------------------------------------------------------------------------

    def act(self, instruction: str, max_steps: int | None = None) -> RunResult:
        """Carry out a multi-step task. Raises :class:`UITestFailure` unless the model reports
        success. With a plan cache, recorded steps replay without the model while screens match."""
        entry, plan = self._plan("act", instruction)
        healing = HealingRuntime(plan, self.model) if plan is not None else None
        run_dir = self._run_dir("act", always=entry is not None)
        limits = Limits(max_steps=max_steps or self.max_steps)
        result = self._agent(healing or self.model, self.environment.toolset, run_dir, limits).run(
            instruction
        )
        if not result.succeeded:
            raise self._failure(f"act({instruction!r})", result, run_dir)
        self._store(entry, plan, bool(healing and healing.healed), run_dir)
        return result

    def tap(self, description: str) -> None:
        """Tap the one element ``description`` names (a single grounded click)."""
        runtime, entry, plan, run_dir = self._answers("tap", description, at_point=True)
        with self._agent(runtime, only(Tap), run_dir).start(
            f"Tap this element: {description}"
        ) as run:
            decision = self._decision(run)
            if decision is None or not isinstance(decision.action, Tap):
                raise self._failure(
                    f"tap({description!r})", run.close("error", "no valid tap"), run_dir
                )
            outcome = self.environment.execute(
                click_on(self.environment.toolset, decision.action.coordinate)
            )
            run.report(outcome)
            result = run.close("success" if outcome.ok else "failure", outcome.message or "tapped")
        if not outcome.ok:
            raise self._failure(f"tap({description!r})", result, run_dir)
        self._store(entry, plan, _asked(runtime), run_dir)

    def check(self, assertion: str) -> None:
        """Raise ``AssertionError`` (with the model's reason and the screenshot) unless
        ``assertion`` holds on the current screen."""
        runtime, entry, plan, run_dir = self._answers("check", assertion)
        with self._agent(runtime, only(Verdict), run_dir).start(_question(assertion)) as run:
            verdict = self._verdict(run, f"check({assertion!r})", run_dir)
            result = run.close("success" if verdict.holds else "failure", verdict.reason)
        if not verdict.holds:
            raise self._failure(f"check({assertion!r})", result, run_dir, "the model says: ")
        self._store(entry, plan, _asked(runtime), run_dir)

    def query(self, question: str, schema: type[T]) -> T:
        """The answer to ``question`` as an instance of ``schema`` (a pydantic model or a plain
        type), validated; an answer of the wrong type goes back to the model with the error."""
        runtime, entry, plan, run_dir = self._answers("query", question)
        tool = answer_tool(schema)
        goal = f"Answer this question about the current screen: {question}"
        with self._agent(runtime, only(tool, "answer"), run_dir).start(goal) as run:
            decision = self._decision(run)
            if decision is None or decision.action is None:
                raise self._failure(
                    f"query({question!r})", run.close("error", "no valid answer"), run_dir
                )
            run.report(ActionResult(ok=True, executed=False, message="answered"))
            run.close("answered", "answered")
        value: T = answer_value(schema, decision.action)
        self._store(entry, plan, _asked(runtime), run_dir)
        return value

    def wait_for(self, condition: str, timeout_s: float = 30.0, interval_s: float = 1.0) -> None:
        """Look again every ``interval_s`` until ``condition`` holds; raise after ``timeout_s``."""
        runtime, entry, plan, run_dir = self._answers("wait_for", condition)
        deadline = time.monotonic() + timeout_s
        # Asking again on an unchanged screen is the point here, not a loop to stop.
        limits = Limits(
            max_steps=int(timeout_s / max(interval_s, 0.01)) + 10, max_repeats=1_000_000
        )
        with self._agent(runtime, only(Verdict), run_dir, limits).start(
            _question(condition)
        ) as run:
            while True:
                verdict = self._verdict(run, f"wait_for({condition!r})", run_dir, pending_ok=True)
                if verdict.holds:
                    run.close("success", verdict.reason)
                    break
                if time.monotonic() + interval_s > deadline:
                    result = run.close("failure", f"not within {timeout_s:g} s: {verdict.reason}")
                    raise self._failure(
                        f"wait_for({condition!r})", result, run_dir, "the model says: "
                    )
                time.sleep(interval_s)
        self._store(entry, plan, _asked(runtime), run_dir)

    # -- plumbing ----------------------------------------------------------------------------------

    def _plan(self, verb: str, text: str) -> tuple[Path | None, Trajectory | None]:
        """This verb's cache entry and the plan recorded there (None, None without a cache)."""
        if self.plans is None:
            return None, None
        entry = self.plans.entry(verb, text)
        return entry, self.plans.lookup(entry)

    def _answers(
        self, verb: str, text: str, at_point: bool = False
    ) -> tuple[Runtime, Path | None, Trajectory | None, Path | None]:
        """The runtime a one-answer verb asks (the cached answers where there are some), its cache
        entry and plan, and its run folder."""
        entry, plan = self._plan(verb, text)
        runtime: Runtime = (
            AnswerReplay(plan, self.model, at_point) if plan is not None else self.model
        )
        return runtime, entry, plan, self._run_dir(verb, always=entry is not None)

    def _store(
        self, entry: Path | None, plan: Trajectory | None, asked: bool, run_dir: Path | None
    ) -> None:
        """Make this successful run the entry, as the cache mode says. ``asked``: whether the model
        answered any of it."""
        if self.plans is None or entry is None or run_dir is None:
            return
        if self.plans.should_store(plan is not None, asked):
            self.plans.store(entry, run_dir)

    def _agent(
        self, runtime: Runtime, tools: ToolSet, run_dir: Path | None, limits: Limits | None = None
    ) -> Agent:
        recorder = Recorder(run_dir) if run_dir is not None else None
        return Agent(
            runtime,
            self.dialect,
            self.environment,
            toolset=tools,
            limits=limits or Limits(max_steps=self.max_steps),
            recorder=recorder,
        )

    def _run_dir(self, verb: str, always: bool = False) -> Path | None:
        self._verbs += 1
        folder = self.runs
        if folder is None and always:  # the plan cache needs the run on disk
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="vlagent-plan-")
            folder = Path(self._scratch.name)
        return None if folder is None else folder / f"{self._verbs:02d}-{verb}"

    @staticmethod
    def _decision(run: Run) -> Decision | None:
        """The first valid answer (invalid ones go back to the model, within the retry limit)."""
        while not run.finished:
            decision = run.decide()
            if decision is not None and decision.pending:
                return decision
        return None

    def _verdict(
        self, run: Run, verb: str, run_dir: Path | None, pending_ok: bool = False
    ) -> Verdict:
        decision = self._decision(run)
        if decision is None or not isinstance(decision.action, Verdict):
            raise self._failure(verb, run.close("error", "no valid verdict"), run_dir)
        verdict = decision.action
        run.report(
            ActionResult(
                ok=verdict.holds or not pending_ok,
                executed=False,
                message="holds" if verdict.holds else f"does not hold yet: {verdict.reason}",
            )
        )
        return verdict

    def _failure(
        self, verb: str, result: RunResult, run_dir: Path | None, prefix: str = ""
    ) -> UITestFailure:
        step = result.steps[-1].index if result.steps else None
        where = f" at step {step}" if step is not None else ""
        from vlagent.agent.cli.terminal import terminal_text

        # The reason may be the model's own words: pytest prints them to the terminal as they are.
        reason = terminal_text(f"{prefix}{result.reason}", markup=False)
        lines = [f"{verb} failed{where} ({result.status}): {reason}"]
        if run_dir is not None and (run_dir / "trajectory.jsonl").is_file():
            from vlagent.agent.outputs.report import render_run_report

            shot = result.steps[-1].screenshot if result.steps else None
            if shot:
                lines.append(f"screenshot: {run_dir / shot}")
            lines.append(f"report: {render_run_report(run_dir)}")
        return UITestFailure("\n".join(lines))

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def _asked(runtime: Runtime) -> bool:
    """Whether a one-answer verb's runtime went to the model (always, without cached answers)."""
    return not isinstance(runtime, AnswerReplay) or runtime.model_calls > 0


def _question(statement: str) -> str:
    return f"Is this statement true of the current screen? {statement}"
