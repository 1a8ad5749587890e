"""Shared by the benchmark scripts: the median of repeated calls, after one warm-up call."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_ms(run: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``run()`` in milliseconds over ``repeats`` calls (one warm-up first)."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def paired_median_ms(
    first: Callable[[], Any], second: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Medians of ``first()`` and ``second()`` timed in turns (one warm-up each), so drift on a
    noisy machine hits both alike."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, into in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            run()
            into.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times[0]), 2), round(statistics.median(times[1]), 2)
