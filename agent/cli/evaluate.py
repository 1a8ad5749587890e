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


@app.command("eval")
@with_model_options()
def evaluate_command(
    dataset: Annotated[Path, typer.Argument(help="An episode file, a run directory, or a folder of them.")],
    out: Annotated[Path, typer.Option("--out", help="Where metrics.json and predictions.jsonl go.")],
    model: ModelSpec | None,  # the model options (with_model_options); --model is required here
    fmt: Annotated[str, typer.Option(
        "--format", help="auto, aitz (AITZ JSON), aitw (AITW TFRecords), androidcontrol (TFRecords or JSON), "
                         "trajectory.")] = "auto",
    level: Annotated[str | None, typer.Option(
        "--level", help="AndroidControl: high (the goal) or low (goal and step instruction).")] = None,
    split: Annotated[str | None, typer.Option(
        "--split", help="Only the episodes of this split of the dataset's splits.json.")] = None,
    protocol: Annotated[str | None, typer.Option(
        "--protocol", help="The published evaluation protocol to follow (default: the benchmark's own; "
                           "docs/evaluation.md).")] = None,
    scorer: Annotated[str | None, typer.Option(
        "--scorer", help="Score with another rule than the protocol's (recorded as an override).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per generate call.")] = 1,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, help="With --endpoint: requests kept in flight (the server batches them).")] = 1,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N episodes.")] = None,
    ui_tree: Annotated[bool, typer.Option(
        "--ui-tree", help="List each screen's elements in the prompt (from the dataset's accessibility "
                          "trees), as agent run --ui-tree does; recorded as an override.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Keep the steps already in predictions.jsonl.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an earlier evaluation in --out (default: refuse).")] = False,
) -> None:
    """Score a model step by step against gold episodes (metrics.json, predictions.jsonl)."""
    from rich.progress import Progress

    from vlagent.agent.evaluation import SCORERS, DatasetError, evaluate, load_dataset
    from vlagent.agent.evaluation.protocols import ProtocolError, protocol_for
    from vlagent.agent.outputs.report import render_eval_report
    from vlagent.agent.runtimes.base import RuntimeFailure

    if model is None:
        fail("agent eval needs --model (scripted:PATH, a Hugging Face id or a folder)", exitcodes.USAGE)
    if scorer is not None and scorer not in SCORERS:
        fail(f"--scorer must be one of {', '.join(SCORERS)}, not {scorer!r}", exitcodes.USAGE)
    if concurrency > 1 and model.endpoint is None:
        fail("--concurrency keeps requests in flight to a server: it needs --endpoint "
             "(a local model batches with --batch-size)", exitcodes.USAGE)
    if resume and overwrite:
        fail("--resume keeps an earlier evaluation and --overwrite replaces it: give one", exitcodes.USAGE)
    earlier = [n for n in ("predictions.jsonl", "metrics.json") if (out / n).exists()]
    if earlier and not (resume or overwrite):
        fail(f"{out} already holds an evaluation ({', '.join(earlier)}); add --resume to finish it "
             "or --overwrite to replace it, or choose another --out", exitcodes.USAGE)
    if overwrite:
        for name in earlier:
            (out / name).unlink()
    try:
        episodes = load_dataset(dataset, fmt, level=level, split=split)[:limit]
    except DatasetError as exc:
        fail(str(exc))
    try:
        chosen = protocol_for(episodes[0].benchmark, protocol)
    except ProtocolError as exc:
        fail(str(exc), exitcodes.USAGE)
    overrides: dict[str, Any] = {"scorer": scorer} if scorer not in (None, chosen.scorer) else {}
    if ui_tree:
        overrides["ui_tree"] = True
    if model.options.max_pixels is not None and model.options.max_pixels != chosen.max_pixels:
        overrides["max_pixels"] = model.options.max_pixels
    elif chosen.max_pixels is not None:
        model = model.model_copy(update={"options": replace(model.options, max_pixels=chosen.max_pixels)})
    scorer = scorer or chosen.scorer
    runtime, dialect = load_model_or_fail(model)
    steps = sum(len(e.steps) for e in episodes)
    console.print(f"{_count(len(episodes), 'episode')}, {_count(steps, 'step')}  [dim]model {escape(model.model)} · dialect "
                  f"{dialect.name} · protocol {chosen.name} · scorer {scorer}[/dim]")
    with runtime:
        try:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("evaluating", total=steps)
                metrics = evaluate(episodes, runtime, dialect, SCORERS[scorer], out, batch_size=batch_size,
                                   resume=resume, settings={"format": fmt, "dataset": str(dataset),
                                                            "level": level, "split": split},
                                   on_progress=lambda done, total: progress.update(task, completed=done),
                                   protocol=chosen, overrides=overrides, concurrency=concurrency,
                                   ui_tree=ui_tree)
        except RuntimeFailure as exc:
            fail(f"the model failed: {exc} (finished steps are in {out}; rerun with --resume)",
                 exitcodes.RUN_ERROR)
    for name in ("type_match", "exact_match", "success_rate", "goal_progress", "parse_rate"):
        console.print(f"{name:14} {metrics[name]:.4f}")
    console.print(f"metrics: {out / 'metrics.json'}")
    console.print(f"report: {render_eval_report(out)}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
