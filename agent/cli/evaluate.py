"""``agent eval``: score a model step by step against gold episodes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.common import app, console, fail, load_model_or_fail, with_model_options

if TYPE_CHECKING:
    from vlagent.agent.core.build import ModelSpec
    from vlagent.agent.evaluation.gold import Episode
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
@with_model_options()
def evaluate_command(
    dataset: _Dataset,
    out: _Out,
    model: ModelSpec | None,  # the model options (with_model_options); --model is required here
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
    _check_flags(model, scorer, concurrency, resume, overwrite)
    _clear_out(out, resume, overwrite)
    episodes, chosen = _episodes_and_protocol(dataset, fmt, level, split, limit, protocol)
    overrides, model = _overrides(model, chosen, scorer, ui_tree)
    scorer = scorer or chosen.scorer
    runtime, dialect = load_model_or_fail(model)
    steps = sum(len(e.steps) for e in episodes)
    console.print(
        f"{_count(len(episodes), 'episode')}, {_count(steps, 'step')}  [dim]model "
        f"{escape(model.model)} · dialect "
        f"{dialect.name} · protocol {chosen.name} · scorer {scorer}[/dim]"
    )
    settings = {"format": fmt, "dataset": str(dataset), "level": level, "split": split}
    with runtime:
        metrics = _evaluate_with_progress(
            episodes,
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
        )
    _print_results(metrics, out)


def _check_flags(
    model: ModelSpec, scorer: str | None, concurrency: int, resume: bool, overwrite: bool
) -> None:
    """Refuse flags that contradict each other or name no scorer, before anything is loaded."""
    from vlagent.agent.evaluation import SCORERS

    if scorer is not None and scorer not in SCORERS:
        fail(f"--scorer must be one of {', '.join(SCORERS)}, not {scorer!r}", exitcodes.USAGE)
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


def _clear_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix with an earlier evaluation in ``out`` unless told to resume or replace it;
    with ``--overwrite``, delete its files."""
    earlier = [n for n in ("predictions.jsonl", "metrics.json") if (out / n).exists()]
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
) -> tuple[list[Episode], Protocol]:
    """The episodes to score and the protocol to score them by (the benchmark's own unless
    ``protocol`` names another); one-line errors."""
    from vlagent.agent.evaluation import DatasetError, load_dataset
    from vlagent.agent.evaluation.protocols import ProtocolError, protocol_for

    try:
        episodes = load_dataset(dataset, fmt, level=level, split=split)[:limit]
    except DatasetError as exc:
        fail(str(exc))
    try:
        chosen = protocol_for(episodes[0].benchmark, protocol)
    except ProtocolError as exc:
        fail(str(exc), exitcodes.USAGE)
    return episodes, chosen


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
    episodes: list[Episode],
    runtime: Runtime,
    dialect: Dialect,
    scorer: str,
    out: Path,
    steps: int,
    *,
    batch_size: int,
    resume: bool,
    settings: dict[str, Any],
    protocol: Protocol,
    overrides: dict[str, Any],
    concurrency: int,
    ui_tree: bool,
) -> dict[str, Any]:
    """Run the evaluation under a progress bar of ``steps``; a model failure is one line that
    points at ``--resume`` (the finished steps are kept)."""
    from rich.progress import Progress

    from vlagent.agent.evaluation import SCORERS, evaluate
    from vlagent.agent.runtimes.base import RuntimeFailure

    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("evaluating", total=steps)
            return evaluate(
                episodes,
                runtime,
                dialect,
                SCORERS[scorer],
                out,
                batch_size=batch_size,
                resume=resume,
                settings=settings,
                on_progress=lambda done, total: progress.update(task, completed=done),
                protocol=protocol,
                overrides=overrides,
                concurrency=concurrency,
                ui_tree=ui_tree,
            )
    except RuntimeFailure as exc:
        fail(
            f"the model failed: {exc} (finished steps are in {out}; rerun with --resume)",
            exitcodes.RUN_ERROR,
        )


def _print_results(metrics: dict[str, Any], out: Path) -> None:
    """The headline numbers, then where the metrics and the report are."""
    from vlagent.agent.outputs.report import render_eval_report

    for name in ("type_match", "exact_match", "success_rate", "goal_progress", "parse_rate"):
        console.print(f"{name:14} {metrics[name]:.4f}")
    console.print(f"metrics: {out / 'metrics.json'}")
    console.print(f"report: {render_eval_report(out)}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
