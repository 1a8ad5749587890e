"""Offline step-wise evaluation: gold episodes, scoring rules, the runner."""

from agent.evaluation.formats import FORMATS, DatasetError, load_dataset
from agent.evaluation.gold import Episode, GoldStep, Verdict, kind_of
from agent.evaluation.runner import METRICS, PREDICTIONS, evaluate, read_predictions, summarize
from agent.evaluation.scoring import SCORERS, Scorer, score

__all__ = [
    "FORMATS", "METRICS", "PREDICTIONS", "SCORERS", "DatasetError", "Episode", "GoldStep", "Scorer",
    "Verdict", "evaluate", "kind_of", "load_dataset", "read_predictions", "score", "summarize",
]
