"""Model-side costs per family, measured side by side in one run (not a test).

For each family, on tiny random checkpoints built here (real patch/merge geometry, so image-token
counts are the real ones):
- image and text tokens of one agent step at 1920x1080 and 1080x2400 under the default budget;
- prefill and decode time on this machine for the tiny and the ~30M "mid" checkpoint;
- batched (4 prompts in one generate) vs sequential throughput.

Text tokens come from the tiny checkpoints' byte-level tokenizer (one token per UTF-8 byte); a
real BPE tokenizer needs about a quarter of that. Prefix reuse is off here (every step is timed
from scratch); benchmarks/prefix.py measures it.

    python benchmarks/models.py [--families qwen2.5-vl,idefics2] [--sizes tiny,mid] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.testing import FAMILIES, build_checkpoint
from vlagent.prompts import Prompt, dialect_for
from vlagent.tools import computer_tools, mobile_tools

SCREENS = {
    "desktop 1920x1080": ((1920, 1080), computer_tools),
    "phone 1080x2400": ((1080, 2400), mobile_tools),
}
TIMED_SCREEN = (1920, 1080)
NEW_TOKENS = 32
BATCH = 4


def screenshot(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Something UI-like: bars, buttons and text on a light background."""
    image = Image.new("RGB", size, (245, 245, 245))
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle([0, 0, width, height // 20], fill=(40, 60, 120))
    for i in range(12):
        y = height // 10 + i * height // 14
        draw.rectangle(
            [width // 20, y, width // 2, y + height // 24],
            fill=(255, 255, 255),
            outline=(180, 180, 180),
        )
        draw.text((width // 20 + 10, y + 5), f"Item {i + seed} settings", fill=(20, 20, 20))
    draw.rectangle([width * 3 // 4, height * 9 // 10, width - 20, height - 20], fill=(30, 120, 230))
    return image


def token_counts(runtime: TransformersRuntime, prompt: Prompt) -> tuple[int, int]:
    """(image tokens, text tokens) of the prompt as the model reads it."""
    text = runtime.chat_text(prompt)
    inputs = runtime.processor(text=[text], images=[prompt.images()], return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    image_id = runtime.model.config.image_token_id
    image_tokens = sum(1 for t in ids if t == image_id)
    return image_tokens, len(ids) - image_tokens


def timed(runtime: TransformersRuntime, prompts: list[Prompt], repeats: int) -> dict[str, float]:
    """Median prefill / decode ms and tokens generated for one generate call over ``prompts``."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        completions = runtime.generate(prompts)
        runs.append(
            {
                "wall": (time.perf_counter() - started) * 1000,
                "prefill": completions[0].timings_ms["prefill"],
                "decode": completions[0].timings_ms["decode"],
                "tokens": sum(c.completion_tokens or 0 for c in completions),
            }
        )
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def measure(family: str, size: str, folder: Path, repeats: int) -> dict[str, Any]:
    # min_new_tokens is not a runtime option: measure whatever length greedy decoding gives and
    # report per-token decode time.
    runtime = TransformersRuntime(
        str(folder), RuntimeOptions(max_new_tokens=NEW_TOKENS, reuse_prefix=False)
    )
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    row: dict[str, Any] = {
        "family": family,
        "size": size,
        "dialect": dialect.name,
        "parameters": sum(p.numel() for p in runtime.model.parameters()),
    }
    if size == "tiny":
        for label, (screen, tools) in SCREENS.items():
            prompt = dialect.render("Open the settings", [], screenshot(screen), tools())
            row[f"tokens {label}"] = dict(zip(("image", "text"), token_counts(runtime, prompt)))
    tools = computer_tools()
    prompts = [
        dialect.render(f"Open item {i}", [], screenshot(TIMED_SCREEN, i), tools)
        for i in range(BATCH)
    ]
    runtime.generate(prompts[:1])  # warm-up
    one = timed(runtime, prompts[:1], repeats)
    row["prefill_ms"] = round(one["prefill"], 1)
    row["decode_ms_per_token"] = round(one["decode"] / max(one["tokens"] - 1, 1), 2)
    sequential = [timed(runtime, [p], 1) for p in prompts]
    seq_wall = sum(s["wall"] for s in sequential)
    seq_tokens = sum(s["tokens"] for s in sequential)
    batched = timed(runtime, prompts, 1)
    row["sequential_tokens_per_s"] = round(seq_tokens / seq_wall * 1000, 1)
    row["batched_tokens_per_s"] = round(batched["tokens"] / batched["wall"] * 1000, 1)
    row["batched_vs_sequential"] = round(
        row["batched_tokens_per_s"] / row["sequential_tokens_per_s"], 2
    )
    row["batched_steps_per_s"] = round(BATCH / batched["wall"] * 1000, 2)
    row["sequential_steps_per_s"] = round(BATCH / seq_wall * 1000, 2)
    runtime.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--sizes", default="tiny,mid")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/models.json"))
    args = parser.parse_args()
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for family in args.families.split(","):
            for size in args.sizes.split(","):
                folder = build_checkpoint(family, Path(scratch) / f"{family}-{size}", size=size)
                row = measure(family, size, folder, args.repeats)
                rows.append(row)
                print(json.dumps(row), flush=True)
    report = {
        "date": datetime.now(timezone.utc).date().isoformat(),
        "machine": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "new_tokens": NEW_TOKENS,
        "batch": BATCH,
        "screen": list(TIMED_SCREEN),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{'family':16} {'size':5} {'img tok 1920x1080':>17} {'img tok 1080x2400':>17} "
        f"{'prefill ms':>10} {'decode ms/tok':>13} {'batch/seq':>9}"
    )
    tokens = {r["family"]: r for r in rows if r["size"] == "tiny"}
    for r in rows:
        t = tokens.get(r["family"], {})
        desk = t.get("tokens desktop 1920x1080", {}).get("image", "")
        phone = t.get("tokens phone 1080x2400", {}).get("image", "")
        print(
            f"{r['family']:16} {r['size']:5} {desk:>17} {phone:>17} {r['prefill_ms']:>10} "
            f"{r['decode_ms_per_token']:>13} {r['batched_vs_sequential']:>9}"
        )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
