"""Offline step-wise evaluation: gold episodes, scoring rules, the runner."""

from vlagent.agent.evaluation.formats import FORMATS, DatasetError, load_dataset
from vlagent.agent.evaluation.gold import Episode, GoldStep, Verdict, kind_of
from vlagent.agent.evaluation.runner import (
    METRICS,
    PREDICTIONS,
    evaluate,
    read_predictions,
    summarize,
)
from vlagent.agent.evaluation.scoring import SCORERS, Scorer, score

__all__ = [
    "FORMATS",
    "METRICS",
    "PREDICTIONS",
    "SCORERS",
    "DatasetError",
    "Episode",
    "GoldStep",
    "Scorer",
    "Verdict",
    "evaluate",
    "kind_of",
    "load_dataset",
    "read_predictions",
    "score",
    "summarize",
]
