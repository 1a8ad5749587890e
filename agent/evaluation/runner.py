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

from PIL import Image

from vlagent.agent.core.elements import element_points, list_elements
from vlagent.agent.core.interpret import AnswerError, read_answer
from vlagent.agent.evaluation.gold import Episode, GoldStep, Verdict, kind_of
from vlagent.agent.evaluation.protocols import Protocol, protocol_for
from vlagent.agent.evaluation.scoring import Scorer, score
from vlagent.agent.runtimes.base import Runtime
from vlagent.environments import Observation
from vlagent.prompts import Dialect, Prompt, model_call
from vlagent.tools import ToolCall, ToolSet, action_space_of, mobile_tools

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


def history_call(step: GoldStep, dialect: Dialect, image_size: tuple[int, int]) -> ToolCall:
    """A gold step as the history shows it: points in the model's own space."""
    return model_call(
        step.tool,
        step.arguments,
        dialect.frame_for(image_size, action_space_of(step.tool)),
        action_space_of(step.tool),
    )


@dataclass
class Item:
    episode: Episode
    step: GoldStep
    position: int


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The intact lines of a predictions file; a line torn by a crash is left out (that step is
    predicted again on ``--resume``)."""
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def _rewrite(path: Path, predictions: list[dict[str, Any]]) -> None:
    """Replace ``path`` with just ``predictions`` (temp file + rename), so that new lines are not
    appended to the fragment of a torn one."""
    scratch = path.with_suffix(".jsonl.tmp")
    scratch.write_text(
        "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions), encoding="utf-8"
    )
    scratch.replace(path)


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
) -> dict[str, Any]:
    """Score every step of ``episodes``; write ``out/predictions.jsonl`` and ``out/metrics.json``.
    ``protocol``: how step instructions are worded, recorded with ``overrides`` (the settings
    the user changed from it); default: the protocol of the episodes' benchmark. ``concurrency``:
    batches in flight at once, from as many threads (the runtime must allow it: the
    OpenAI-compatible one does; a local model batches with ``batch_size`` instead). ``ui_tree``:
    list each screen's elements in the prompt (datasets with accessibility trees), as a run with
    ``--ui-tree`` does."""
    if protocol is None:
        protocol = protocol_for(episodes[0].benchmark if episodes else "")
    out.mkdir(parents=True, exist_ok=True)
    predictions_path = out / PREDICTIONS
    done = read_predictions(predictions_path) if resume else []
    _rewrite(predictions_path, done)
    seen = {(p["episode"], p["step"]) for p in done}
    items = [Item(e, s, i) for e in episodes for i, s in enumerate(e.steps)]
    pending = [it for it in items if (it.episode.id, it.step.index) not in seen]
    total, finished = len(items), len(items) - len(pending)
    if on_progress:
        on_progress(finished, total)
    batches = [pending[start : start + batch_size] for start in range(0, len(pending), batch_size)]
    predict = functools.partial(
        _predict,
        runtime=runtime,
        dialect=dialect,
        scorer=scorer,
        protocol=protocol,
        ui_tree=ui_tree,
    )
    with predictions_path.open("a", encoding="utf-8") as sink:
        keep = _keeper(sink, done, finished, total, on_progress)
        _predict_all(batches, predict, keep, concurrency)
    if concurrency > 1:  # answers came in any order; the file lists them in dataset order
        _in_dataset_order(done, items)
        _rewrite(predictions_path, done)
    wanted = {(it.episode.id, it.step.index) for it in items}
    metrics = summarize([p for p in done if (p["episode"], p["step"]) in wanted], episodes)
    metrics["settings"] = _settings(
        protocol.record(overrides), scorer, dialect, runtime, batch_size, concurrency, settings
    )
    (out / METRICS).write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return metrics


def _keeper(
    sink: TextIO,
    done: list[dict[str, Any]],
    finished: int,
    total: int,
    on_progress: Callable[[int, int], None] | None,
) -> Callable[[list[dict[str, Any]]], None]:
    """What takes each batch's finished lines: appends them to ``sink`` at once (an interrupted
    evaluation keeps every finished step), adds them to ``done`` and reports progress."""

    def keep(lines: list[dict[str, Any]]) -> None:
        nonlocal finished
        for line in lines:
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")
        sink.flush()
        done.extend(lines)
        finished += len(lines)
        if on_progress:
            on_progress(finished, total)

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


def _predict(
    batch: list[Item],
    runtime: Runtime,
    dialect: Dialect,
    scorer: Scorer,
    protocol: Protocol,
    ui_tree: bool = False,
) -> list[dict[str, Any]]:
    """Predict one batch in a single generate call; score each answer as a predictions line."""
    prompts, screens = [], []
    for item in batch:
        prompt, screen = _prompt(item, dialect, protocol, ui_tree)
        prompts.append(prompt)
        screens.append(screen)
    completions = runtime.generate(prompts)
    return [
        _line(item, prompt, screen, completion.text, dialect, scorer, ui_tree)
        for item, prompt, screen, completion in zip(batch, prompts, screens, completions)
    ]


def _prompt(
    item: Item, dialect: Dialect, protocol: Protocol, ui_tree: bool
) -> tuple[Prompt, Observation]:
    """The prompt ``agent run`` would build for this step (goal as the protocol words it, the
    gold history, this step's screenshot), and the screen the answer is read against."""
    with Image.open(item.step.image) as opened:
        image = opened.convert("RGB")
    history = []
    for earlier in item.episode.steps[: item.position]:
        with Image.open(earlier.image) as shot:
            size = shot.size
        history.append(history_call(earlier, dialect, size))
    goal = protocol.goal_for(item.episode.goal, item.step.instruction)
    prompt = dialect.render(goal, history, image, _tools(item, ui_tree))
    screen = _screen(item, image, ui_tree)
    list_elements(prompt, screen)
    return prompt, screen


def _line(
    item: Item,
    prompt: Prompt,
    screen: Observation,
    output: str,
    dialect: Dialect,
    scorer: Scorer,
    ui_tree: bool,
) -> dict[str, Any]:
    """The model's ``output`` for one step read as a run would read it, scored against the gold
    step: one line of predictions.jsonl (an unreadable answer is a miss, with the reason)."""
    tools = _tools(item, ui_tree)
    tool, arguments, parsed, problem = None, None, False, ""
    try:
        record = read_answer(
            output,
            dialect,
            prompt.frame,
            tools,
            screen.to_device,
            element_points=element_points(screen),
        ).record
        tool, arguments, parsed = record.tool, record.normalized, True
    except AnswerError as exc:
        problem = str(exc)
    seen = prompt.model_image_size or screen.size
    verdict = (
        score(item.step, tool, arguments, scorer, seen)
        if parsed
        else Verdict(False, False, problem)
    )
    return {
        "episode": item.episode.id,
        "step": item.step.index,
        "image": str(item.step.image),
        "gold": {
            "tool": item.step.tool,
            "arguments": item.step.arguments,
            "kind": kind_of(item.step.tool, item.step.arguments),
        },
        "output": output,
        "parsed": {"tool": tool, "arguments": arguments} if parsed else None,
        "type_match": verdict.type_match,
        "exact_match": verdict.exact_match,
        "reason": verdict.reason,
    }


def _screen(item: Item, image: Image.Image, ui_tree: bool) -> Observation:
    listed = ui_tree and item.step.ui_tree is not None
    return Observation(image, elements=list(item.step.ui_tree or ()) if listed else None)


def _tools(item: Item, ui_tree: bool) -> ToolSet:
    if ui_tree and item.step.ui_tree is not None and item.step.tool == "mobile_use":
        return mobile_tools(elements=True)
    return action_space_of(item.step.tool)


def summarize(predictions: list[dict[str, Any]], episodes: list[Episode]) -> dict[str, Any]:
    """Step metrics over ``predictions``; episode metrics over episodes whose steps are all in."""

    def fraction(values: list[bool]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    by_key = {(p["episode"], p["step"]): p for p in predictions}
    per_type: dict[str, dict[str, Any]] = {}
    for p in predictions:
        row = per_type.setdefault(
            p["gold"]["kind"], {"steps": 0, "type_match": 0, "exact_match": 0}
        )
        row["steps"] += 1
        row["type_match"] += p["type_match"]
        row["exact_match"] += p["exact_match"]
    for row in per_type.values():
        row["type_match"] = round(row["type_match"] / row["steps"], 4)
        row["exact_match"] = round(row["exact_match"] / row["steps"], 4)
    successes, progress = [], []
    for episode in episodes:
        verdicts = [by_key.get((episode.id, s.index)) for s in episode.steps]
        if not verdicts or any(v is None for v in verdicts):
            continue
        exact = [bool(v and v["exact_match"]) for v in verdicts]
        successes.append(all(exact))
        prefix = next((i for i, ok in enumerate(exact) if not ok), len(exact))
        progress.append(prefix / len(exact))
    return {
        "type_match": fraction([p["type_match"] for p in predictions]),
        "exact_match": fraction([p["exact_match"] for p in predictions]),
        "success_rate": fraction(successes),
        "goal_progress": round(sum(progress) / len(progress), 4) if progress else 0.0,
        "parse_rate": fraction([p["parsed"] is not None for p in predictions]),
        "steps": len(predictions),
        "episodes": len(successes),
        "per_type": dict(sorted(per_type.items())),
    }
