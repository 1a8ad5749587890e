"""The test agent: ``act``, ``tap``, ``check``, ``query`` and ``wait_for`` on one environment, with
one model, and the single-shot gestures of :class:`~vlagent.agent.uitest.gestures.Gestures`. Each
verb is one recorded run (when the test records), so a failure points at a trajectory and its HTML
report; the test's journal (``journal``) feeds its one report for the whole test.

    def test_save_a_note(vl_agent):
        vl_agent.act("open Notes, write 'milk' and save it")
        vl_agent.check("a saved note reads 'milk'")
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from vlagent.agent.core.loop import Agent
from vlagent.agent.core.run import Run
from vlagent.agent.core.steps import Decision, RunResult, Status
from vlagent.agent.replay.healing import HealingRuntime
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.trajectory import Recorder, Trajectory
from vlagent.agent.trajectory.records import Limits
from vlagent.agent.uitest.answers import Tap, Verdict, answer_tool, answer_value, only
from vlagent.agent.uitest.gestures import Gestures
from vlagent.agent.uitest.plans import AnswerReplay, PlanCache
from vlagent.agent.uitest.reports import VerbRecord
from vlagent.environments import ActionResult, Environment, Secrets
from vlagent.prompts import Dialect, Prompt
from vlagent.tools import ToolSet
from vlagent.tools.errors import VlagentError
from vlagent.tools.secrets import Secret

T = TypeVar("T")
CACHED = "from the cache, no model judged it: "
"""Put before the reason of a verb answered wholly from the plan cache."""


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


class UITester(Gestures):
    """The verbs of a UI test. ``runs``: where each verb's trajectory goes (None: not recorded);
    ``plans``: this test's plan cache (None: off); ``secrets``: values the model types as
    ``{{NAME}}`` without seeing them (``--vl-secret``)."""

    def __init__(
        self,
        runtime: Runtime,
        dialect: Dialect,
        environment: Environment,
        runs: Path | None = None,
        plans: PlanCache | None = None,
        max_steps: int = 20,
        secrets: Mapping[str, str | Secret] | None = None,
    ) -> None:
        self.model = runtime if isinstance(runtime, CountingRuntime) else CountingRuntime(runtime)
        self.secrets = {name: Secret(value, name) for name, value in (secrets or {}).items()}
        self.dialect = dialect
        self.environment = Secrets(environment, self.secrets) if self.secrets else environment
        self.runs, self.plans, self.max_steps = runs, plans, max_steps
        self.journal: list[VerbRecord] = []
        """Every verb of the test so far, in order (its report, the failure hook)."""
        self._verbs = 0
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def model_calls(self) -> int:
        return self.model.calls

    @property
    def last_screenshot(self) -> Path | None:
        """The newest screenshot any verb of this test recorded (None when none was kept)."""
        return next((r.screenshot for r in reversed(self.journal) if r.screenshot), None)

    # -- verbs -------------------------------------------------------------------------------------

    def act(self, instruction: str, max_steps: int | None = None) -> RunResult:
        """Carry out a multi-step task. Raises :class:`UITestFailure` unless the model reports
        success. With a plan cache, recorded steps replay without the model while screens match;
        the recorded verdict only on an unchanged screen."""
        label, calls = f"act({instruction!r})", self.model_calls
        entry, plan = self._plan("act", instruction)
        healing = HealingRuntime(plan, self.model, model_verdicts=True) if plan else None
        run_dir = self._run_dir("act", always=self._writes(entry))
        limits = Limits(max_steps=max_steps or self.max_steps)
        agent = self._agent(healing or self.model, self.environment.toolset, run_dir, limits)
        agent.review = healing.review if healing is not None else None
        result = agent.run(instruction)
        if not result.succeeded:
            raise self._failure(label, result, run_dir, calls=calls)
        self._note(label, result, run_dir, calls, cached=healing is not None)
        self._store(entry, plan, bool(healing and (healing.healed or healing.judged)), run_dir)
        return result

    def check(self, assertion: str) -> None:
        """Raise ``AssertionError`` (with the model's reason and the screenshot) unless
        ``assertion`` holds on the current screen."""
        label, calls = f"check({assertion!r})", self.model_calls
        runtime, entry, plan, run_dir = self._answers("check", assertion)
        with self._agent(runtime, only(Verdict), run_dir).start(_question(assertion)) as run:
            verdict = self._verdict(run, label, run_dir, calls)
            reason = _cached(runtime) + verdict.reason
            result = run.close("success" if verdict.holds else "failure", reason)
        if not verdict.holds:
            raise self._failure(label, result, run_dir, "the model says: ", calls)
        self._note(label, result, run_dir, calls, cached=plan is not None)
        self._store(entry, plan, _asked(runtime), run_dir)

    def query(self, question: str, schema: type[T]) -> T:
        """The answer to ``question`` as an instance of ``schema`` (a pydantic model or a plain
        type), validated; an answer of the wrong type goes back to the model with the error."""
        label, calls = f"query({question!r})", self.model_calls
        runtime, entry, plan, run_dir = self._answers("query", question)
        tool = answer_tool(schema)
        goal = f"Answer this question about the current screen: {question}"
        with self._agent(runtime, only(tool, "answer"), run_dir).start(goal) as run:
            decision = self._decision(run)
            if decision is None or decision.action is None:
                failed = run.close("error", "no valid answer")
                raise self._failure(label, failed, run_dir, calls=calls)
            run.report(ActionResult(ok=True, executed=False, message="answered"))
            result = run.close("answered", _cached(runtime) + "answered")
        value: T = answer_value(schema, decision.action)
        self._note(label, result, run_dir, calls, cached=plan is not None)
        self._store(entry, plan, _asked(runtime), run_dir)
        return value

    def wait_for(self, condition: str, timeout_s: float = 30.0, interval_s: float = 1.0) -> None:
        """Look again every ``interval_s`` until ``condition`` holds; raise after ``timeout_s``."""
        label, calls = f"wait_for({condition!r})", self.model_calls
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
                verdict = self._verdict(run, label, run_dir, calls, pending_ok=True)
                if verdict.holds:
                    result = run.close("success", _cached(runtime) + verdict.reason)
                    break
                if time.monotonic() + interval_s > deadline:
                    result = run.close("failure", f"not within {timeout_s:g} s: {verdict.reason}")
                    raise self._failure(label, result, run_dir, "the model says: ", calls)
                time.sleep(interval_s)
        self._note(label, result, run_dir, calls, cached=plan is not None)
        self._store(entry, plan, _asked(runtime), run_dir)

    # -- plumbing ----------------------------------------------------------------------------------

    def _grounded(
        self,
        verb: str,
        description: str,
        goal: str,
        perform: Callable[[Decision], ActionResult],
        tool: type[BaseModel] = Tap,
    ) -> Decision:
        """One grounded answer about ``description`` (a point, or a box with ``Locate``), then
        ``perform`` with it. Cached like ``tap``: a point is reused where the screen matches
        around it; a ``Locate`` box (an answer about the screen) only on an unchanged screen."""
        label, calls = f"{verb}({description!r})", self.model_calls
        runtime, entry, plan, run_dir = self._answers(verb, description, at_point=tool is Tap)
        with self._agent(runtime, only(tool), run_dir).start(goal) as run:
            decision = self._decision(run)
            if decision is None or not isinstance(decision.action, tool):
                failed = run.close("error", f"no valid {tool.tool_name}")  # type: ignore[attr-defined]
                raise self._failure(label, failed, run_dir, calls=calls)
            outcome = perform(decision)
            run.report(outcome)
            status: Status = "success" if outcome.ok else "failure"
            result = run.close(status, _cached(runtime) + (outcome.message or "done"))
        if not outcome.ok:
            raise self._failure(label, result, run_dir, calls=calls)
        self._note(label, result, run_dir, calls, cached=plan is not None)
        self._store(entry, plan, _asked(runtime), run_dir)
        return decision

    def _direct(self, verb: str, actions: list[BaseModel]) -> None:
        """Actions that need no model (a key, typing into the focused field): done, and put in
        the journal; a refused one fails the verb."""
        outcome = self._perform(actions)
        status: Status = "success" if outcome.ok else "failure"
        result = RunResult(status=status, reason=outcome.message or "done", answer=None, steps=[])
        if not outcome.ok:
            raise self._failure(verb, result, None)
        self._note(verb, result, None, self.model_calls)

    def _plan(self, verb: str, text: str) -> tuple[Path | None, Trajectory | None]:
        """This verb's cache entry and the plan recorded there (None, None without a cache)."""
        if self.plans is None:
            return None, None
        entry = self.plans.entry(verb, text)
        return entry, self.plans.lookup(entry)

    def _writes(self, entry: Path | None) -> bool:
        # Only a cache that may store the run needs it on disk: read mode records nothing extra.
        return entry is not None and self.plans is not None and self.plans.writes

    def _answers(
        self, verb: str, text: str, at_point: bool = False
    ) -> tuple[Runtime, Path | None, Trajectory | None, Path | None]:
        """The runtime a one-answer verb asks (the cached answers where there are some), its cache
        entry and plan, and its run folder."""
        entry, plan = self._plan(verb, text)
        runtime: Runtime = (
            AnswerReplay(plan, self.model, at_point) if plan is not None else self.model
        )
        return runtime, entry, plan, self._run_dir(verb, always=self._writes(entry))

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
        self, run: Run, verb: str, run_dir: Path | None, calls: int, pending_ok: bool = False
    ) -> Verdict:
        decision = self._decision(run)
        if decision is None or not isinstance(decision.action, Verdict):
            raise self._failure(verb, run.close("error", "no valid verdict"), run_dir, calls=calls)
        verdict = decision.action
        run.report(
            ActionResult(
                ok=verdict.holds or not pending_ok,
                executed=False,
                message="holds" if verdict.holds else f"does not hold yet: {verdict.reason}",
            )
        )
        return verdict

    def _note(
        self, verb: str, result: RunResult, run_dir: Path | None, calls: int, cached: bool = False
    ) -> VerbRecord:
        """Put this verb in the test's journal. ``cached``: it had a cache entry (it came wholly
        from the cache when the model was not called)."""
        kept = run_dir if run_dir is not None and self.runs is not None else None
        asked = self.model_calls - calls
        record = VerbRecord.of(verb, result, kept, asked, cached and asked == 0)
        self.journal.append(record)
        return record

    def _failure(
        self,
        verb: str,
        result: RunResult,
        run_dir: Path | None,
        prefix: str = "",
        calls: int | None = None,
    ) -> UITestFailure | KeyboardInterrupt:
        """What a failed verb raises: its one-line reason, screenshot and report; for a run
        Ctrl-C ended, a KeyboardInterrupt (after the evidence is noted), so the session stops
        as pytest stops on Ctrl-C, not one test failing and the next one starting."""
        from vlagent.agent.cli.terminal import terminal_text

        step = result.steps[-1].index if result.steps else None
        where = f" at step {step}" if step is not None else ""
        # The reason may be the model's own words: pytest prints them to the terminal as they are.
        reason = terminal_text(f"{prefix}{result.reason}", markup=False)
        lines = [f"{verb} failed{where} ({result.status}): {reason}"]
        record = self._note(verb, result, run_dir, self.model_calls if calls is None else calls)
        if record.run_dir is not None and (record.run_dir / "trajectory.jsonl").is_file():
            from vlagent.agent.outputs.report import render_run_report

            record.report = render_run_report(record.run_dir)
        if record.screenshot is not None:
            lines.append(f"screenshot: {record.screenshot}")
        if record.report is not None:
            lines.append(f"report: {record.report}")
        if result.interrupted:
            return KeyboardInterrupt("\n".join(lines))
        return UITestFailure("\n".join(lines))

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def _asked(runtime: Runtime) -> bool:
    """Whether a one-answer verb's runtime went to the model (always, without cached answers)."""
    return not isinstance(runtime, AnswerReplay) or runtime.model_calls > 0


def _cached(runtime: Runtime) -> str:
    return "" if _asked(runtime) else CACHED


def _question(statement: str) -> str:
    return f"Is this statement true of the current screen? {statement}"
