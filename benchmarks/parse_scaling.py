"""Parse time per KB of answer, for every dialect, on adversarial answers of 1 KB to 1 MB.

Each dialect's parser (``Dialect.parse_answer``, the function below the answer size check) reads
answers built to make a backtracking regex or a rescanning loop blow up: long runs of one
character, thousands of unclosed brackets, quotes and tags, deep nesting, huge numbers. A linear
parser spends the same time per KB at every size, so the ratio (per-KB time at 1 MB / per-KB time
at 1 KB) stays near 1; a quadratic one grows it about 1000×. The script also times the refusal of
an answer over the size limit (``Dialect.parse``), which must not depend on the answer's length.

    python benchmarks/parse_scaling.py                 # about 3 minutes on 2 CPU cores
    python benchmarks/parse_scaling.py --max-ratio 3   # exit 1 when a ratio is over 3

Results for docs/benchmarks.md ("Parsing scales linearly").
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlagent.prompts import ParseError, available, get_dialect
from vlagent.prompts.bounds import MAX_ANSWER_CHARS
from vlagent.tools import computer_tools

SIZES = {"1 KB": 1024, "10 KB": 10 * 1024, "100 KB": 100 * 1024, "1 MB": 1024 * 1024}
CALL = '<tool_call>{"name": "computer_use", "arguments": {"action": "type", "text": "'


def _fill(head: str, unit: str, tail: str = "") -> Callable[[int], str]:
    """An answer of ``size`` characters: ``head``, then ``unit`` repeated, then ``tail``."""

    def build(size: int) -> str:
        room = max(size - len(head) - len(tail), len(unit))
        return head + (unit * (room // len(unit) + 1))[:room] + tail

    return build


# Shared by every dialect: what any text scanner meets in a runaway answer.
COMMON: dict[str, Callable[[int], str]] = {
    "one letter": _fill("", "a"),
    "blank lines": _fill("Thought:", "\n"),
    "open brackets": _fill("{", "["),
    "quotes": _fill("", '"'),
    "digits": _fill("[", "1"),
    "mixed punctuation": _fill("", "a(\"'[{<,= \n)"),
}
# The Qwen family and the JSON dialect: tags, fences, JSON.
JSON_LIKE: dict[str, Callable[[int], str]] = {
    "open <tool_call>": _fill("", "<tool_call>"),
    "open <function=": _fill("<tool_call>", "<function="),
    "open <parameter=": _fill("<tool_call><function=computer_use>", "<parameter="),
    "open <think>": _fill("", "<think>"),
    "fence and blanks": _fill("```json", " ", "x"),
    "trailing commas": _fill('{"a": [1', ", ", "x"),
    "nested objects": _fill("", '{"a":'),
    "long string": _fill(CALL, 'ab\\"', '"}}</tool_call>'),
    "many keys": _fill('{"name": "computer_use", "arguments": {', '"k": 1, ', '"action": "wait"}}'),
    "many calls": _fill(
        "", '<tool_call>{"name": "computer_use", "arguments": {"action": "wait"}}</tool_call>'
    ),
}
# UI-TARS: headers, actions, keys, quotes, points.
UI_TARS: dict[str, Callable[[int], str]] = {
    "Action: headers": _fill("", "Action: "),
    "open calls": _fill("Action: ", "a("),
    "many keys": _fill("Action: click(", "k='v', ", ")"),
    "unclosed quotes": _fill("Action: type(content='", "x' "),
    "numbers in a point": _fill("Action: click(start_box='(", "1,", ")')"),
    "long name": _fill("Action: ", "click", "(start_box='(1,2)')"),
    "many calls": _fill("Action: ", "click(start_box='(1,2)')\n\n"),
}


def patterns(dialect: str) -> dict[str, Callable[[int], str]]:
    return {**COMMON, **(UI_TARS if dialect.startswith("ui-tars") else JSON_LIKE)}


def per_kb_us(run: Callable[[], object], size: int, budget_s: float = 0.1) -> float:
    """Microseconds per KB of ``run()``: the best of a few timings of enough calls to fill
    ``budget_s`` (the best, since the noise of a shared machine only ever adds time)."""
    started = time.perf_counter()
    run()
    once = time.perf_counter() - started
    calls = max(1, int(budget_s / max(once, 1e-6)))
    best = once
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6 / (size / 1024)


def _parser(dialect_name: str, text: str) -> Callable[[], object]:
    dialect = get_dialect(dialect_name)
    toolset = computer_tools()
    frame = dialect.frame_for((1280, 800), toolset)

    def run() -> object:
        try:
            return dialect.parse_answer(text, frame, toolset)
        except ParseError:  # most of these answers are refused, and must be quickly
            return None

    return run


def scaling(dialect: str) -> list[tuple[str, list[float], float]]:
    """(pattern, µs per KB at each size, ratio 1 MB / 1 KB) for each pattern."""
    rows = []
    for name, build in patterns(dialect).items():
        times = [per_kb_us(_parser(dialect, build(size)), size) for size in SIZES.values()]
        rows.append((name, times, times[-1] / times[0]))
    return rows


def refusal_us(dialect_name: str, size: int) -> float:
    """Microseconds for ``Dialect.parse`` to refuse an answer of ``size`` characters."""
    dialect = get_dialect(dialect_name)
    toolset = computer_tools()
    frame = dialect.frame_for((1280, 800), toolset)
    text = "[" * size

    def run() -> object:
        try:
            return dialect.parse(text, frame, toolset)
        except ParseError:
            return None

    return per_kb_us(run, size) * (size / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-ratio", type=float, default=None, help="fail above this ratio")
    args = parser.parse_args()
    print(f"parse scaling, {date.today()}, Python {platform.python_version()}")
    print(f"answer size limit: {MAX_ANSWER_CHARS:,} characters (parse refuses longer ones)\n")
    sizes = " | ".join(f"µs/KB {s}" for s in SIZES)
    print(f"| dialect | worst pattern | {sizes} | ratio (worst) | ratio (median) |")
    print("|---|---|" + "---|" * (len(SIZES) + 2))
    worst_ratio, details = 0.0, []
    for dialect in available():
        rows = scaling(dialect)
        details += [(dialect, *row) for row in rows]
        name, times, ratio = max(rows, key=lambda row: row[2])
        median = sorted(row[2] for row in rows)[len(rows) // 2]
        cells = " | ".join(f"{t:.1f}" for t in times)
        print(f"| {dialect} | {name} | {cells} | **{ratio:.2f}** | {median:.2f} |")
        worst_ratio = max(worst_ratio, ratio)
    print("\nslowest pattern at 1 MB, per dialect (ms for the whole 1 MB answer):")
    for dialect in available():
        name, times, _ = max((d[1:] for d in details if d[0] == dialect), key=lambda r: r[1][-1])
        print(f"  {dialect}: {name}, {times[-1] * 1024 / 1000:.1f} ms")
    print("\nrefusing an answer over the limit (Dialect.parse), µs:")
    for size in (MAX_ANSWER_CHARS + 1, 1024 * 1024, 10 * 1024 * 1024):
        print(f"  {size:>10,} characters: {refusal_us('ui-tars', size):.2f}")
    print(f"\nworst ratio: {worst_ratio:.2f}")
    if args.max_ratio is not None and worst_ratio > args.max_ratio:
        print(f"over --max-ratio {args.max_ratio}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
