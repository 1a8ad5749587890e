"""Offline step-wise evaluation: for every gold step, the prompt ``agent run`` would build (goal +
gold history + that step's screenshot, through the same ``Dialect.render``), one predicted
action, a verdict. Batched through the runtime; resumable; every setting written down.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from vlagent.agent.evaluation.formats import DatasetError
from vlagent.agent.evaluation.gold import Episode, kind_of
from vlagent.agent.evaluation.journal import note_resume, now, open_journal, read_journal
from vlagent.agent.evaluation.predict import Item, guarded, predict
from vlagent.agent.evaluation.protocols import Protocol, check_data, protocol_for
from vlagent.agent.evaluation.record import identifying_name, versions
from vlagent.agent.evaluation.scoring import Scorer
from vlagent.agent.evaluation.summary import summarize
from vlagent.agent.runtimes.base import Runtime, RuntimeFailure
from vlagent.prompts import Dialect
from vlagent.tools.files import MissingFile, json_text, read_inside

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The intact lines of a predictions file; a line torn by a crash is left out (that step is
    predicted again on ``--resume``)."""
    try:  # the file layer: a link or a FIFO at the name is refused, not followed or waited on
        text = read_inside(path.parent, path.name).decode("utf-8")
    except MissingFile:
        return []
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def _rewrite(path: Path, predictions: list[dict[str, Any]]) -> None:
    """Replace ``path`` with just ``predictions`` (temp file + rename), so that new lines are not
    appended to the fragment of a torn one."""
    scratch = path.with_suffix(".jsonl.tmp")
    scratch.write_text("".join(json_text(p) + "\n" for p in predictions), encoding="utf-8")
    scratch.replace(path)


@dataclass(frozen=True)
class Policy:
    """How an evaluation treats what goes wrong, and which steps it scores; recorded with the
    numbers (``failed_steps`` and ``action_types`` change them, so a resume must keep them)."""

    failed_steps: str = "wrong"
    """How a step whose model call failed after its retries counts: ``wrong`` or ``excluded``."""
    retries: int = 1
    """Model calls tried again for a step whose call failed (a failed batch is first split)."""
    max_failures_in_a_row: int = 10
    """That many failed steps in a row end the evaluation (the model is gone, not one request)."""
    allow_other_benchmark: bool = False
    action_types: tuple[str, ...] = ()
    """Only steps whose gold action is of these types (empty: all)."""


def evaluate(
    episodes: list[Episode],
    runtime: Runtime,
    dialect: Dialect,
    scorer: Scorer,
    out: Path,
    batch_size: int = 1,
    resume: bool = False,
    settings: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    protocol: Protocol | None = None,
    overrides: dict[str, Any] | None = None,
    concurrency: int = 1,
    ui_tree: bool = False,
    *,
    dataset: dict[str, Any] | None = None,
    policy: Policy | None = None,
    record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score every step of ``episodes``; write ``out/predictions.jsonl`` and ``out/metrics.json``.
    ``protocol``: how step instructions are worded, recorded with ``overrides`` (the settings
    the user changed from it); default: the protocol of the episodes' benchmark, and a protocol
    for another benchmark is refused unless ``policy.allow_other_benchmark``. ``concurrency``:
    batches in flight at once, from as many threads (the runtime must allow it: the
    OpenAI-compatible one does; a local model batches with ``batch_size`` instead). ``ui_tree``:
    list each screen's elements in the prompt (datasets with accessibility trees), as a run with
    ``--ui-tree`` does. ``dataset``: the account of how the episodes were read
    (:func:`read_dataset`); ``record``: the command, options and model identity of the caller.
    ``resume`` continues only the same evaluation (``journal.py``)."""
    policy = policy or Policy()
    protocol = protocol or protocol_for(episodes[0].benchmark if episodes else "")
    others = check_data(protocol, {e.benchmark for e in episodes}, policy.allow_other_benchmark)
    overrides = {**(overrides or {}), **({"benchmark": others} if others else {})}
    dataset = dataset or {"episodes_scored": len(episodes), "note": "episodes given by the caller"}
    kinds = set(policy.action_types)
    every = [Item(e, s, i) for e in episodes for i, s in enumerate(e.steps)]
    items = _of_kinds(every, kinds)
    if len(items) < len(every):  # the account says what is scored, not what was read
        dataset = _narrowed(dataset, items, len(every) - len(items), kinds)
    out.mkdir(parents=True, exist_ok=True)
    identity = {
        **_model_identity(runtime, record or {}),
        "dialect": dialect.name,
        "protocol": protocol.record(overrides),
        "scorer": scorer.settings(),
        "dataset": {k: v for k, v in dataset.items() if k in _DATASET_IDENTITY},
        "ui_tree": ui_tree,
        "failed_steps": policy.failed_steps,
        "action_types": sorted(kinds),
    }
    done = _start(out, identity, items, resume, (record or {}).get("command"))
    ask = functools.partial(
        predict, runtime=runtime, dialect=dialect, scorer=scorer, protocol=protocol, ui_tree=ui_tree
    )
    _predict_rest(items, done, out / PREDICTIONS, ask, policy, batch_size, concurrency, on_progress)
    metrics = summarize(done, episodes, policy.failed_steps, step_filter=bool(kinds))
    metrics["settings"] = _settings(
        protocol.record(overrides), scorer, dialect, runtime, batch_size, concurrency, settings
    ) | {"failed_steps": policy.failed_steps, "retries": policy.retries}
    return _write_metrics(out, metrics, dataset, record)


def _write_metrics(
    out: Path, metrics: dict[str, Any], dataset: dict[str, Any], record: dict[str, Any] | None
) -> dict[str, Any]:
    """``metrics`` with the account of the dataset, the record of how the number was made and
    the run's times and resumes, written to ``out/metrics.json``."""
    journal = read_journal(out)
    metrics["dataset"] = dataset
    metrics["record"] = {**(record or {}), "versions": versions()}
    metrics["run"] = {
        "started": journal["started"],
        "finished": now(),
        "resumes": journal["resumes"],
    }
    (out / METRICS).write_text(json_text(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def _model_identity(runtime: Runtime, record: dict[str, Any]) -> dict[str, Any]:
    """The model and options as a resume compares them: the model by what identifies it
    (:func:`identifying_name`), however its path was spelled."""
    described, known, options = runtime.describe(), record.get("model"), record.get("options")
    name = identifying_name(str(described.get("id")), known)
    return {
        "model": {**described, "id": name},
        "model_identity": known,
        "options": {**options, "model": name} if options else options,
    }


_DATASET_IDENTITY = (
    "sha256",
    "format",
    "level",
    "split",
    "selection",
    "skip_damaged",
    "skip_missing",
    "episodes_scored",
    "steps_scored",
)


def _start(
    out: Path, identity: dict[str, Any], items: list[Item], resume: bool, command: str | None
) -> list[dict[str, Any]]:
    """The prediction lines kept from an earlier run of this same evaluation (none unless
    ``resume``): one per step, only steps of ``items``, failed steps left out so that they are
    asked again. The file is rewritten to hold just them."""
    predictions_path = out / PREDICTIONS
    open_journal(out, identity, resume, predictions_path.is_file(), command)
    wanted = {(it.episode.id, it.step.index) for it in items}
    done, seen, retried = [], set(), 0
    for line in read_predictions(predictions_path) if resume else []:
        key = (line.get("episode"), line.get("step"))
        if key not in wanted or key in seen:
            continue
        if line.get("failed"):
            retried += 1
            continue
        seen.add(key)
        done.append(line)
    if resume:
        note_resume(out, kept_steps=len(done), failed_steps_asked_again=retried)
    _rewrite(predictions_path, done)
    return done


def _predict_rest(
    items: list[Item],
    done: list[dict[str, Any]],
    predictions_path: Path,
    ask: Callable[[list[Item]], list[dict[str, Any]]],
    policy: Policy,
    batch_size: int,
    concurrency: int,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    """Predict the steps of ``items`` not in ``done`` by ``ask`` (one batch → its lines),
    appending each line to the file as it comes; whatever happens, the file ends in dataset
    order."""
    seen = {(p["episode"], p["step"]) for p in done}
    pending = [it for it in items if (it.episode.id, it.step.index) not in seen]
    if on_progress:
        on_progress(len(items) - len(pending), len(items))
    batches = [pending[start : start + batch_size] for start in range(0, len(pending), batch_size)]
    safe = functools.partial(guarded, predict=ask, retries=policy.retries)
    try:
        with predictions_path.open("a", encoding="utf-8") as sink:
            keep = _keeper(
                sink,
                done,
                len(items) - len(pending),
                len(items),
                on_progress,
                policy.max_failures_in_a_row,
            )
            _predict_all(batches, safe, keep, concurrency)
    finally:  # answers may have come in any order, and a run may stop anywhere
        _in_dataset_order(done, items)
        _rewrite(predictions_path, done)


def _keeper(
    sink: TextIO,
    done: list[dict[str, Any]],
    finished: int,
    total: int,
    on_progress: Callable[[int, int], None] | None,
    max_failures_in_a_row: int,
) -> Callable[[list[dict[str, Any]]], None]:
    """What takes each batch's finished lines: appends them to ``sink`` at once (an interrupted
    evaluation keeps every finished step), adds them to ``done`` and reports progress. Too many
    failed steps in a row end the evaluation: the model is gone, and asking it for every other
    step would only wait out every timeout."""
    in_a_row = 0

    def keep(lines: list[dict[str, Any]]) -> None:
        nonlocal finished, in_a_row
        for line in lines:
            sink.write(json_text(line) + "\n")
            in_a_row = in_a_row + 1 if line.get("failed") else 0
        sink.flush()
        done.extend(lines)
        finished += len(lines)
        if on_progress:
            on_progress(finished, total)
        if in_a_row >= max_failures_in_a_row:
            raise RuntimeFailure(
                f"{in_a_row} steps in a row failed (last: {lines[-1].get('error')}); the model "
                "seems unreachable"
            )

    return keep


def _in_dataset_order(predictions: list[dict[str, Any]], items: list[Item]) -> None:
    """Sort ``predictions`` in place by their steps' order in the dataset (lines of steps not in
    ``items`` last)."""
    order = {(it.episode.id, it.step.index): n for n, it in enumerate(items)}
    predictions.sort(key=lambda p: order.get((p["episode"], p["step"]), len(order)))


def _settings(
    protocol: dict[str, Any],
    scorer: Scorer,
    dialect: Dialect,
    runtime: Runtime,
    batch_size: int,
    concurrency: int,
    given: dict[str, Any] | None,
) -> dict[str, Any]:
    """Everything the numbers depend on, recorded with them: ``protocol`` (its record, with the
    overrides), the rule, the dialect, how the history is shown, batching, the model, and the
    caller's own ``given`` settings."""
    return {
        "protocol": protocol,
        "scorer": scorer.settings(),
        "dialect": dialect.name,
        "history": "gold actions of the earlier steps as text, the dialect's history "
        "format; only the current screenshot as an image",
        "batch_size": batch_size,
        "concurrency": concurrency,
        "model": runtime.describe(),
        **(given or {}),
    }


def _predict_all(
    batches: list[list[Item]],
    predict: Callable[[list[Item]], list[dict[str, Any]]],
    keep: Callable[[list[dict[str, Any]]], None],
    concurrency: int,
) -> None:
    """Predict every batch, handing each batch's lines to ``keep`` as soon as they are in."""
    if concurrency <= 1:
        for batch in batches:
            keep(predict(batch))
        return
    # N requests in flight: a server batches them continuously; each answer is written as it
    # comes, so an interrupted run keeps every finished step.
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(predict, batch) for batch in batches]
        try:
            for future in as_completed(futures):
                keep(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _narrowed(
    dataset: dict[str, Any], items: list[Item], left_out: int, kinds: set[str]
) -> dict[str, Any]:
    """The dataset's account once ``--action-type`` kept only ``items``."""
    excluded = dict(dataset.get("excluded") or {})
    excluded[f"steps not of --action-type {', '.join(sorted(kinds))}"] = left_out
    return {
        **dataset,
        "episodes_scored": len({item.episode.id for item in items}),
        "steps_scored": len(items),
        "excluded": excluded,
    }


def _of_kinds(items: list[Item], kinds: set[str]) -> list[Item]:
    """The steps whose gold action is of one of ``kinds`` (all when none is asked for). A type
    that matches no step is an error, not a score over nothing: a typo must not read as 0.0."""
    if not kinds:
        return items
    present = {kind_of(it.step.tool, it.step.arguments) for it in items}
    unmatched = sorted(kinds - present)
    if unmatched:
        raise DatasetError(
            f"--action-type {', '.join(unmatched)} matches no step of this dataset; its types: "
            f"{', '.join(sorted(present)) or 'none'}"
        )
    return [it for it in items if kind_of(it.step.tool, it.step.arguments) in kinds]
