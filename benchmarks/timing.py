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
