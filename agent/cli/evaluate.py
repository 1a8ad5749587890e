"""``agent eval``: score a model step by step against gold episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.common import app, console, fail, load_model_or_fail, with_model_options
from vlagent.agent.cli.eval_choices import Choice, with_choice_options
from vlagent.agent.cli.terminal import terminal_text

if TYPE_CHECKING:
    from vlagent.agent.core.build import ModelSpec
    from vlagent.agent.evaluation.dataset import Dataset
    from vlagent.agent.evaluation.protocols import Protocol
    from vlagent.agent.runtimes.base import Runtime
    from vlagent.prompts import Dialect

# The command's options, declared once here so that its signature stays readable.
_Dataset = Annotated[
    Path, typer.Argument(help="An episode file, a run directory, or a folder of them.")
]
_Out = Annotated[Path, typer.Option("--out", help="Where metrics.json and predictions.jsonl go.")]
_Format = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto, aitz (AITZ JSON), aitw (AITW TFRecords), androidcontrol (TFRecords or JSON), "
        "trajectory.",
    ),
]
_Level = Annotated[
    str | None,
    typer.Option(
        "--level", help="AndroidControl: high (the goal) or low (goal and step instruction)."
    ),
]
_Split = Annotated[
    str | None,
    typer.Option("--split", help="Only the episodes of this split of the dataset's splits.json."),
]
_Protocol = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        help="The published evaluation protocol to follow (default: the benchmark's own; "
        "docs/evaluation.md).",
    ),
]
_Scorer = Annotated[
    str | None,
    typer.Option(
        "--scorer",
        help="Score with another rule than the protocol's (recorded as an override).",
    ),
]
_BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per generate call.")]
_Concurrency = Annotated[
    int,
    typer.Option(
        "--concurrency",
        min=1,
        help="With --endpoint: requests kept in flight (the server batches them).",
    ),
]
_Limit = Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N episodes.")]
_UiTree = Annotated[
    bool,
    typer.Option(
        "--ui-tree",
        help="List each screen's elements in the prompt (from the dataset's accessibility "
        "trees), as agent run --ui-tree does; recorded as an override.",
    ),
]
_Resume = Annotated[
    bool, typer.Option("--resume", help="Keep the steps already in predictions.jsonl.")
]
_Overwrite = Annotated[
    bool,
    typer.Option("--overwrite", help="Replace an earlier evaluation in --out (default: refuse)."),
]


@app.command("eval")
@with_choice_options
@with_model_options()
def evaluate_command(
    dataset: _Dataset,
    out: _Out,
    model: ModelSpec | None,  # the model options (with_model_options); --model is required here
    choice: Choice,  # what to score and how to treat what goes wrong (with_choice_options)
    fmt: _Format = "auto",
    level: _Level = None,
    split: _Split = None,
    protocol: _Protocol = None,
    scorer: _Scorer = None,
    batch_size: _BatchSize = 1,
    concurrency: _Concurrency = 1,
    limit: _Limit = None,
    ui_tree: _UiTree = False,
    resume: _Resume = False,
    overwrite: _Overwrite = False,
) -> None:
    """Score a model step by step against gold episodes (metrics.json, predictions.jsonl)."""
    if model is None:
        fail(
            "agent eval needs --model (scripted:PATH, a Hugging Face id or a folder)",
            exitcodes.USAGE,
        )
    _check_flags(model, scorer, concurrency, resume, overwrite, choice)
    _clear_out(out, resume, overwrite)
    data, chosen = _episodes_and_protocol(dataset, fmt, level, split, limit, protocol, choice)
    episodes = data.episodes
    overrides, model = _overrides(model, chosen, scorer, ui_tree)
    scorer = scorer or chosen.scorer
    runtime, dialect = load_model_or_fail(model)
    scored, steps = _scored(episodes, set(choice.action_type or ()))
    console.print(
        f"{_count(scored, 'episode')}, {_count(steps, 'step')}  [dim]model "
        f"{terminal_text(model.model)} · dialect {terminal_text(dialect.name)} · protocol "
        f"{terminal_text(chosen.name)} · scorer {terminal_text(scorer)}[/dim]"
    )
    record = _record(data, model, {"dialect": dialect.name, "protocol": chosen.name}, scorer)
    settings = {"format": data.record["format"], "dataset": str(dataset)}
    settings |= {"level": data.record["level"], "split": split}
    with runtime:
        metrics = _evaluate_with_progress(
            data,
            runtime,
            dialect,
            scorer,
            out,
            steps,
            batch_size=batch_size,
            resume=resume,
            settings=settings,
            protocol=chosen,
            overrides=overrides,
            concurrency=concurrency,
            ui_tree=ui_tree,
            choice=choice,
            record=record(ui_tree, choice),
        )
    _print_results(metrics, out)


def _record(
    data: Dataset, model: ModelSpec, named: dict[str, str], scorer: str
) -> Callable[[bool, Choice], dict[str, Any]]:
    """The record of the run (``metrics.json`` → ``record``) once the last options are known."""
    from vlagent.agent.evaluation.record import effective_options, run_record

    def make(ui_tree: bool, choice: Choice) -> dict[str, Any]:
        given = {**named, "scorer": scorer}
        options = effective_options(data.record, model, given, ui_tree, asdict(choice))
        return run_record(data.record["path"], options, model)

    return make


def _check_flags(
    model: ModelSpec,
    scorer: str | None,
    concurrency: int,
    resume: bool,
    overwrite: bool,
    choice: Choice,
) -> None:
    """Refuse flags that contradict each other or name no scorer, before anything is loaded."""
    from vlagent.agent.evaluation import SCORERS
    from vlagent.agent.evaluation.summary import FAILED_POLICIES

    if scorer is not None and scorer not in SCORERS:
        fail(f"--scorer must be one of {', '.join(SCORERS)}, not {scorer!r}", exitcodes.USAGE)
    if choice.failed_steps not in FAILED_POLICIES:
        fail(
            f"--failed-steps must be one of {', '.join(FAILED_POLICIES)}, "
            f"not {choice.failed_steps!r}",
            exitcodes.USAGE,
        )
    if concurrency > 1 and model.endpoint is None:
        fail(
            "--concurrency keeps requests in flight to a server: it needs --endpoint "
            "(a local model batches with --batch-size)",
            exitcodes.USAGE,
        )
    if resume and overwrite:
        fail(
            "--resume keeps an earlier evaluation and --overwrite replaces it: give one",
            exitcodes.USAGE,
        )


_EARLIER = ("predictions.jsonl", "metrics.json", "run.json")


def _clear_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix with an earlier evaluation in ``out`` unless told to resume or replace it;
    with ``--overwrite``, delete its files."""
    earlier = [n for n in _EARLIER if (out / n).exists()]
    if earlier and not (resume or overwrite):
        fail(
            f"{out} already holds an evaluation ({', '.join(earlier)}); add --resume to finish it "
            "or --overwrite to replace it, or choose another --out",
            exitcodes.USAGE,
        )
    if overwrite:
        for name in earlier:
            (out / name).unlink()


def _episodes_and_protocol(
    dataset: Path,
    fmt: str,
    level: str | None,
    split: str | None,
    limit: int | None,
    protocol: str | None,
    choice: Choice,
) -> tuple[Dataset, Protocol]:
    """The episodes to score, with the account of how they were read, and the protocol to score
    them by (the benchmark's own unless ``protocol`` names another, which must fit the data);
    one-line errors."""
    from vlagent.agent.evaluation import DatasetError, Selection, read_dataset
    from vlagent.agent.evaluation.protocols import ProtocolError, check_data, protocol_for

    selection = Selection(
        episodes=choice.episode,
        categories=choice.category,
        action_types=choice.action_type,
        limit=limit,
        sample=choice.sample,
        seed=choice.sample_seed,
    )
    try:
        data = read_dataset(
            dataset,
            fmt,
            level,
            split,
            skip_damaged=choice.skip_damaged,
            skip_missing=choice.skip_missing,
            selection=selection,
        )
    except DatasetError as exc:
        fail(str(exc))
    try:
        chosen = protocol_for(data.episodes[0].benchmark, protocol)
        check_data(chosen, {e.benchmark for e in data.episodes}, choice.allow_other_benchmark)
    except ProtocolError as exc:
        fail(str(exc), exitcodes.USAGE)
    return data, chosen


def _overrides(
    model: ModelSpec, chosen: Protocol, scorer: str | None, ui_tree: bool
) -> tuple[dict[str, Any], ModelSpec]:
    """The settings the user changed from the protocol (recorded with the metrics), and the model
    with the protocol's pixel budget where the user gave none."""
    overrides: dict[str, Any] = {"scorer": scorer} if scorer not in (None, chosen.scorer) else {}
    if ui_tree:
        overrides["ui_tree"] = True
    if model.options.max_pixels is not None and model.options.max_pixels != chosen.max_pixels:
        overrides["max_pixels"] = model.options.max_pixels
    elif chosen.max_pixels is not None:
        model = model.model_copy(
            update={"options": replace(model.options, max_pixels=chosen.max_pixels)}
        )
    return overrides, model


def _evaluate_with_progress(
    data: Dataset,
    runtime: Runtime,
    dialect: Dialect,
    scorer: str,
    out: Path,
    steps: int,
    *,
    choice: Choice,
    record: dict[str, Any],
    **given: Any,
) -> dict[str, Any]:
    """Run the evaluation under a progress bar of ``steps`` (``given``: evaluate's other
    settings); a resume of another evaluation, or a model that is gone (many steps failing in a
    row), is one line; finished steps are kept for ``--resume``."""
    from rich.progress import Progress

    from vlagent.agent.evaluation import SCORERS, Policy, evaluate
    from vlagent.agent.evaluation.journal import ResumeError
    from vlagent.agent.runtimes.base import RuntimeFailure

    policy = Policy(
        failed_steps=choice.failed_steps,
        retries=choice.step_retries,
        allow_other_benchmark=choice.allow_other_benchmark,
        action_types=choice.action_type,
    )
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("evaluating", total=steps)
            return evaluate(
                data.episodes,
                runtime,
                dialect,
                SCORERS[scorer],
                out,
                on_progress=lambda done, total: progress.update(task, total=total, completed=done),
                dataset=data.record,
                policy=policy,
                record=record,
                **given,
            )
    except ResumeError as exc:
        fail(str(exc), exitcodes.USAGE)
    except RuntimeFailure as exc:
        fail(
            f"the model failed: {exc} (finished steps are in {out}; rerun with --resume)",
            exitcodes.RUN_ERROR,
        )


def _print_results(metrics: dict[str, Any], out: Path) -> None:
    """The headline numbers, then where the metrics and the report are."""
    from vlagent.agent.outputs.report import render_eval_report

    for name in ("type_match", "exact_match", "success_rate", "goal_progress", "parse_rate"):
        console.print(f"{name:14} {_number(metrics[name])}")
    _print_account(metrics)
    console.print(f"metrics: {terminal_text(out / 'metrics.json')}")
    console.print(f"report: {terminal_text(render_eval_report(out))}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _number(value: float | None) -> str:
    return "n/a (episodes not scored whole)" if value is None else f"{value:.4f}"


def _print_account(metrics: dict[str, Any]) -> None:
    """What the numbers leave out or count as wrong, when anything: never only in the file."""
    failures, dataset = metrics["failures"], metrics["dataset"]
    if failures["failed_steps"]:
        console.print(
            f"failed steps   {failures['failed_steps']} (counted as {failures['counted_as']}; "
            f"{failures['retries']} retries)"
        )
    skipped = dataset.get("skipped") or []
    if skipped:
        console.print(f"skipped        {len(skipped)} (damaged or missing; see metrics.json)")
    ignored = [f for f in dataset.get("files") or [] if f.get("status") == "ignored"]
    if ignored:
        console.print(
            f"ignored files  {len(ignored)} (no episodes of this format; see metrics.json)"
        )


def _scored(episodes: list[Any], kinds: set[str]) -> tuple[int, int]:
    """The episodes and steps that will be scored: under --action-type, those of its types."""
    from vlagent.agent.evaluation.gold import kind_of

    steps = [
        [s for s in e.steps if not kinds or kind_of(s.tool, s.arguments) in kinds] for e in episodes
    ]
    return sum(1 for kept in steps if kept), sum(len(kept) for kept in steps)
