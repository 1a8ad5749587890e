"""The numbers of an evaluation from its prediction lines: headline rates, their standard errors,
per action type and per episode, and how failed steps entered them.

Step rates (type match, exact match, parse rate) are fractions of steps; their standard errors
treat each episode as a cluster (steps of one episode are not independent draws), the
ratio-estimator formula ``sqrt(k/(k-1) · Σ(yᵢ − p·nᵢ)²) / Σnᵢ`` over the k episodes. Episode rates
(success rate, goal progress) are means over episodes, with the standard error of a mean
``s / sqrt(k)``. Both are None below two episodes.
"""

from __future__ import annotations

import math
from typing import Any

from vlagent.agent.evaluation.gold import Episode

FAILED_POLICIES = ("wrong", "excluded")
"""How a step whose model call failed enters the numbers: as a wrong step (the default: nothing
about the model is known to be better), or left out of every rate (episodes holding one are left
out of the episode rates)."""
STEP_RATES = ("type_match", "exact_match", "parse_rate")
EPISODE_RATES = ("success_rate", "goal_progress")


def summarize(
    predictions: list[dict[str, Any]],
    episodes: list[Episode],
    failed_steps: str = "wrong",
    step_filter: bool = False,
) -> dict[str, Any]:
    """Metrics over ``predictions`` (the lines of the steps scored). ``step_filter``: only some
    steps of each episode were scored (by action type), so episode rates are not defined."""
    if failed_steps not in FAILED_POLICIES:
        raise ValueError(f"failed_steps must be one of {', '.join(FAILED_POLICIES)}")
    by_episode: dict[str, list[dict[str, Any]]] = {}
    for line in predictions:
        by_episode.setdefault(line["episode"], []).append(line)
    rows = [
        _episode_row(e, sorted(by_episode.get(e.id, []), key=lambda p: p["step"]), failed_steps)
        for e in episodes
        if e.id in by_episode
    ]
    if step_filter:
        for row in rows:
            row["success"] = row["progress"] = None
    counted = [p for p in predictions if not (p.get("failed") and failed_steps == "excluded")]
    metrics: dict[str, Any] = {
        "type_match": _fraction([bool(p["type_match"]) for p in counted]),
        "exact_match": _fraction([bool(p["exact_match"]) for p in counted]),
        **_episode_rates(rows, step_filter),
        "parse_rate": _fraction([p["parsed"] is not None for p in counted]),
        "steps": len(counted),
        "episodes": sum(row["success"] is not None for row in rows),
    }
    metrics["standard_errors"] = _standard_errors(rows, metrics)
    metrics["per_type"] = _per_type(counted)
    metrics["failures"] = {
        "failed_steps": sum(bool(p.get("failed")) for p in predictions),
        "retries": sum(max(int(p.get("attempts", 1)) - 1, 0) for p in predictions),
        "counted_as": failed_steps,
        "errors": [
            {"episode": p["episode"], "step": p["step"], "error": p.get("error", "")}
            for p in predictions
            if p.get("failed")
        ],
    }
    metrics["per_episode"] = rows
    return metrics


def _fraction(values: list[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def _episode_row(
    episode: Episode, lines: list[dict[str, Any]], failed_steps: str
) -> dict[str, Any]:
    """One episode's result: its counts, whether it succeeded and how far it got (None when a
    failed step is left out of the numbers, or when some of its steps were not scored)."""
    failed = sum(bool(p.get("failed")) for p in lines)
    counted = [p for p in lines if not (p.get("failed") and failed_steps == "excluded")]
    row: dict[str, Any] = {
        "episode": episode.id,
        "steps": len(lines),
        "type_match": sum(bool(p["type_match"]) for p in counted),
        "exact_match": sum(bool(p["exact_match"]) for p in counted),
        "parsed": sum(p["parsed"] is not None for p in counted),
        "counted_steps": len(counted),
        "failed": failed,
        "success": None,
        "progress": None,
    }
    whole = len(lines) == len(episode.steps)
    if whole and not (failed and failed_steps == "excluded"):
        exact = [bool(p["exact_match"]) for p in lines]
        prefix = next((i for i, ok in enumerate(exact) if not ok), len(exact))
        # Exact: the mean over episodes is rounded once, at the end.
        row["success"], row["progress"] = all(exact), prefix / len(exact)
    return row


def _episode_rates(rows: list[dict[str, Any]], step_filter: bool) -> dict[str, float | None]:
    scored = [row for row in rows if row["success"] is not None]
    if step_filter:
        return dict.fromkeys(EPISODE_RATES)
    if not scored:
        return dict.fromkeys(EPISODE_RATES, 0.0)
    return {
        "success_rate": round(sum(bool(r["success"]) for r in scored) / len(scored), 4),
        "goal_progress": round(sum(float(r["progress"]) for r in scored) / len(scored), 4),
    }


def _standard_errors(
    rows: list[dict[str, Any]], metrics: dict[str, Any]
) -> dict[str, float | None]:
    counts = {"type_match": "type_match", "exact_match": "exact_match", "parse_rate": "parsed"}
    errors: dict[str, float | None] = {
        name: _clustered(
            [(row[counts[name]], row["counted_steps"]) for row in rows if row["counted_steps"]]
        )
        for name in STEP_RATES
    }
    scored = [row for row in rows if row["success"] is not None]
    errors["success_rate"] = _of_mean([float(bool(r["success"])) for r in scored])
    errors["goal_progress"] = _of_mean([float(r["progress"]) for r in scored])
    return errors


def _clustered(clusters: list[tuple[int, int]]) -> float | None:
    """The standard error of Σy/Σn with each (y, n) an episode (a cluster of steps)."""
    k, total = len(clusters), sum(n for _, n in clusters)
    if k < 2 or total == 0:
        return None
    rate = sum(y for y, _ in clusters) / total
    spread = sum((y - rate * n) ** 2 for y, n in clusters)
    return round(math.sqrt(k / (k - 1) * spread) / total, 4)


def _of_mean(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return round(math.sqrt(variance / len(values)), 4)


def _per_type(predictions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
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
    return dict(sorted(per_type.items()))
