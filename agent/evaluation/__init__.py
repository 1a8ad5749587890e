"""Offline step-wise evaluation: gold episodes, scoring rules, the runner."""

from vlagent.agent.evaluation.dataset import Dataset, Selection, load_dataset, read_dataset
from vlagent.agent.evaluation.formats import FORMATS, DatasetError
from vlagent.agent.evaluation.gold import Episode, GoldStep, Verdict, kind_of
from vlagent.agent.evaluation.runner import (
    METRICS,
    PREDICTIONS,
    Policy,
    evaluate,
    read_predictions,
)
from vlagent.agent.evaluation.scoring import SCORERS, Scorer, score
from vlagent.agent.evaluation.summary import summarize

__all__ = [
    "FORMATS",
    "Dataset",
    "Selection",
    "read_dataset",
    "METRICS",
    "PREDICTIONS",
    "Policy",
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
