"""Prefix reuse in the local runtime, measured side by side in one run (not a test).

An agent-like sequence of steps (same goal and tools, the history growing by one call per step,
a new screenshot each step) runs on two copies of the same checkpoint, one with prefix reuse and
one without, their steps interleaved so both see the same machine. Printed per step: prompt
tokens, tokens reused, prefill time of each and their ratio; the greedy answers must be equal.

The mid checkpoints' tokenizer writes one token per UTF-8 byte, so their text (the tools section
above all) is about four times as many tokens as a real Qwen tokenizer makes of it: the share of
the prompt that reuse skips is larger here than on a real checkpoint. Token counts are printed
so the reader can scale.

    python benchmarks/prefix.py [--family qwen2.5-vl] [--size mid] [--steps 6] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.models import screenshot
from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.testing import build_checkpoint
from vlagent.prompts import dialect_for
from vlagent.tools import ToolCall, mobile_tools

PHONE = (720, 1280)


def run(family: str, size: str, steps: int, new_tokens: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = str(build_checkpoint(family, Path(scratch) / family, size=size))
        runtimes = {
            reuse: TransformersRuntime(
                folder, RuntimeOptions(max_new_tokens=new_tokens, reuse_prefix=reuse)
            )
            for reuse in (False, True)
        }
        dialect = dialect_for(
            runtimes[True].model_id, runtimes[True].model_type, runtimes[True].resize
        )
        history: list[ToolCall] = []
        rows = []
        for step in range(steps):
            prompt = dialect.render(
                "Open the Clock app and set an alarm for 7:30",
                history,
                screenshot(PHONE, seed=step),
                mobile_tools(),
            )
            done = {reuse: runtime.generate([prompt])[0] for reuse, runtime in runtimes.items()}
            plain, reused = done[False], done[True]
            rows.append(
                {
                    "step": step + 1,
                    "prompt_tokens": plain.prompt_tokens,
                    "reused_tokens": reused.reused_prompt_tokens,
                    "prefill_ms_plain": plain.timings_ms["prefill"],
                    "prefill_ms_reuse": reused.timings_ms["prefill"],
                    "same_answer": plain.text == reused.text,
                }
            )
            history.append(
                ToolCall(
                    "mobile_use",
                    {"action": "swipe", "coordinate": [360, 900 - step], "coordinate2": [360, 300]},
                    {"action": "swipe", "coordinate": [360, 900 - step], "coordinate2": [360, 300]},
                )
            )
    later = rows[1:]
    speedup = statistics.median(r["prefill_ms_plain"] / r["prefill_ms_reuse"] for r in later)
    return {
        "family": family,
        "size": size,
        "screen": f"{PHONE[0]}x{PHONE[1]}",
        "steps": rows,
        "median_prefill_speedup_from_step_2": round(speedup, 2),
        "answers_identical": all(r["same_answer"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="qwen2.5-vl")
    parser.add_argument("--size", default="mid")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "prefix.json"
    )
    args = parser.parse_args()
    result = run(args.family, args.size, args.steps, args.new_tokens)
    print(f"{result['family']} {result['size']}, {result['screen']} screenshots")
    print(
        f"{'step':>4} {'prompt':>7} {'reused':>7} {'plain ms':>9} {'reuse ms':>9} {'ratio':>6} same"
    )
    for r in result["steps"]:
        print(
            f"{r['step']:>4} {r['prompt_tokens']:>7} {r['reused_tokens']:>7} "
            f"{r['prefill_ms_plain']:>9.0f} {r['prefill_ms_reuse']:>9.0f} "
            f"{r['prefill_ms_plain'] / r['prefill_ms_reuse']:>6.2f} {r['same_answer']}"
        )
    print(
        f"median prefill speed-up from step 2: {result['median_prefill_speedup_from_step_2']}x; "
        f"answers identical: {result['answers_identical']}"
    )
    result.update(
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        machine=f"{platform.machine()}, {platform.processor() or 'cpu'}",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
