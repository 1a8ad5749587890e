"""benchmarks/gpu.py, the script that measures a full-size step on a lent GPU: its smoke mode runs
here on CPU so it cannot rot, and its parts are checked against outside facts (the published
model sizes, token ids other projects printed, tiktoken's own BPE)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu, gpu_table  # noqa: E402
from benchmarks.gpu_models import MODELS, config_of, published_dict  # noqa: E402
from benchmarks.qwen_vocab import (  # noqa: E402
    ADDED_TOKENS,
    PATTERN,
    QWEN3_ADDED_TOKENS,
    VocabularyMissing,
    qwen_tokenizer,
    read_ranks,
    vocabulary_wheel,
)

WHEELS = ROOT / ".whl"
PUBLISHED_SIZES = {"qwen2.5-vl-7b": "8.29B", "qwen2.5-vl-3b": "3.75B", "qwen3-vl-8b": "8.77B"}
"""The parameter counts the model pages on the Hugging Face Hub show."""


@cache
def ranks() -> dict[bytes, int]:
    try:
        return read_ranks(vocabulary_wheel(WHEELS))
    except VocabularyMissing as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(str(exc))


@cache
def tokenizer(qwen3: bool = False) -> Any:
    return qwen_tokenizer(ranks(), qwen3=qwen3)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_the_published_configs_build_models_of_the_published_size(key: str) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config_of(key))
    billions = sum(p.numel() for p in model.parameters()) / 1e9
    assert f"{billions:.2f}B" == PUBLISHED_SIZES[key]


@pytest.mark.parametrize("key", sorted(MODELS))
def test_added_tokens_sit_at_the_ids_the_published_configs_use(key: str) -> None:
    config = published_dict(key)
    tok = tokenizer(qwen3=MODELS[key].family == "qwen3-vl")
    for name, token in (
        ("image_token_id", "<|image_pad|>"),
        ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"),
        ("vision_end_token_id", "<|vision_end|>"),
    ):
        assert tok.convert_tokens_to_ids(token) == config[name]
    text = config.get("text_config", config)
    assert tok.convert_tokens_to_ids("<|im_end|>") == text["eos_token_id"]
    assert tok.convert_tokens_to_ids("<|endoftext|>") == text["bos_token_id"]
    added = ADDED_TOKENS + (QWEN3_ADDED_TOKENS if MODELS[key].family == "qwen3-vl" else ())
    assert len(tok) == 151643 + len(added) <= text["vocab_size"]


def test_token_ids_match_those_other_projects_printed() -> None:
    cases = json.loads((ROOT / "tests/data/qwen-token-ids.json").read_text())["cases"]
    for case in cases:
        assert tokenizer()(case["text"])["input_ids"] == case["ids"], case["source"]


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=80))
def test_the_tokenizer_splits_text_as_tiktoken_does_with_the_same_ranks(text: str) -> None:
    # The transformers class normalises to NFC first (as Qwen2's tokenizer.json does); tiktoken
    # does not, so both are given NFC text.
    tiktoken = need("tiktoken")
    text = unicodedata.normalize("NFC", text)
    assume(not any(token in text for token in ADDED_TOKENS))  # those are one token, by design
    reference = _tiktoken_encoding(tiktoken)
    assert tokenizer()(text, add_special_tokens=False)["input_ids"] == reference.encode_ordinary(
        text
    )


@cache
def _tiktoken_encoding(tiktoken: Any) -> Any:
    return tiktoken.Encoding("qwen", pat_str=PATTERN, mergeable_ranks=ranks(), special_tokens={})


def test_a_missing_vocabulary_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(VocabularyMissing, match="gpu_wheels.py"):
        vocabulary_wheel(tmp_path)


def test_a_section_that_fails_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    report = gpu.Report(tmp_path / "r.json", {"date": "today"})
    budget = gpu.Budget(60)

    def broken() -> Any:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    gpu.run_section(report, budget, "m", "step", broken)
    gpu.run_section(report, budget, "m", "flops", lambda: {"prefill_flops": 1})
    written = json.loads((tmp_path / "r.json").read_text())["models"]["m"]
    assert written["step"]["error"] == (
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    )
    assert written["flops"]["prefill_flops"] == 1


def test_a_spent_budget_skips_sections_and_says_the_run_stopped_early(tmp_path: Path) -> None:
    report = gpu.Report(tmp_path / "r.json", {})
    ran = []
    gpu.run_section(report, gpu.Budget(0), "m", "step", lambda: ran.append(1))
    written = json.loads((tmp_path / "r.json").read_text())
    assert ran == []
    assert "budget" in written["models"]["m"]["step"]["skipped"]
    assert written["stopped_early"] == "budget of 0 s"


@pytest.mark.parametrize(
    ("ttft", "mfu", "ratio", "expected"),
    [
        (149.0, 0.41, 3.2, ["met", "met", "met"]),
        (151.0, 0.39, 2.9, ["MISSED", "MISSED", "MISSED"]),
        (None, None, None, ["not measured"] * 3),
    ],
)
def test_targets_are_judged_against_the_issue_bounds(
    ttft: float | None, mfu: float | None, ratio: float | None, expected: list[str]
) -> None:
    models: dict[str, Any] = {"qwen2.5-vl-7b": {}}
    if ttft is not None:
        models["qwen2.5-vl-7b"] = {
            "step": {"ttft_ms": ttft},
            "flops": {"prefill_mfu": mfu},
            "batches": [{"size": 1, "vs_batch_1": 1.0}, {"size": 16, "vs_batch_1": ratio}],
        }
    lines = gpu_table.targets({"models": models})
    assert [next(w for w in ("MISSED", "met", "not measured") if w in line) for line in lines] == (
        expected
    )


@pytest.mark.slow
def test_smoke_mode_measures_every_figure_on_a_cpu(tmp_path: Path) -> None:
    ranks()  # the vocabulary is there (or the test skips, or fails under CI=true)
    out = tmp_path / "smoke.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["stopped_early"] is None
    assert set(report["models"]) == set(MODELS)
    for key, sections in report["models"].items():
        for name, section in sections.items():
            assert not (isinstance(section, dict) and "error" in section), (key, name, section)
        step = sections["step"]
        assert step["image_tokens"] == _image_tokens(key)
        assert step["new_tokens"] == report["new_tokens"]
        assert step["ttft_ms"] >= step["prefill_ms"] > 0
        assert sections["flops"]["prefill_flops"] > 0
    first = report["models"][next(iter(MODELS))]
    prefix = first["prefix"]
    assert prefix["step2_reused_tokens"] > 0 and prefix["first_logits_max_diff"] < 1e-4
    assert {"sdpa_forward_ms", "eager_forward_ms", "eager_vs_sdpa"} <= set(first["attention"])
    assert [b["size"] for b in first["batches"]] == [1, 2]
    assert first["profile"] and all(ms >= 0 for _, ms, _ in first["profile"])
    assert "| qwen2.5-vl-7b |" in result.stdout  # the docs table


def _image_tokens(key: str) -> int:
    """Image tokens of a 1920x1080 screenshot at the default budget of 1280 * 28 * 28 pixels.
    The published table says 1316x728 for Qwen2.5-VL (47 * 26 = 1,222); Qwen3-VL merges
    32-pixel squares."""
    from vlagent.prompts import family_for

    family = family_for(MODELS[key].name, published_dict(key)["model_type"])
    assert family is not None and family.resize is not None
    width, height = family.resize.resized((1920, 1080))
    if MODELS[key].family == "qwen2.5-vl":
        assert (width, height) == (1316, 728)
    return (width // family.resize.factor) * (height // family.resize.factor)


@pytest.mark.parametrize(
    ("make", "flags", "says"),
    [
        (None, ["--table", "{tmp}/missing.json"], "cannot read a report from"),
        ("[1]", ["--table", "{tmp}/given.json"], "is not a report of benchmarks/gpu.py"),
        ("{", ["--table", "{tmp}/given.json"], "cannot read a report from"),
        (None, ["--smoke", "--out", "/proc/nowhere/r.json"], "cannot write the report to"),
        (None, ["--smoke", "--wheels", "{tmp}", "--out", "{tmp}/r.json"], "no dashscope wheel"),
        ("junk", ["--smoke", "--wheels", "{tmp}", "--out", "{tmp}/r.json"], "not a readable"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, make: str | None, flags: list[str], says: str
) -> None:
    if make is not None:
        name = "dashscope-2.0.2-py3-none-any.whl" if make == "junk" else "given.json"
        (tmp_path / name).write_text(make)
    with pytest.raises(SystemExit) as stopped:
        gpu.main([f.format(tmp=tmp_path) for f in flags])
    message = str(stopped.value.code)
    assert says in message and "\n" not in message


@pytest.mark.parametrize("budget", ["0", "-5", "nan", "inf"])
def test_a_budget_must_be_a_positive_number_of_seconds(budget: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        gpu.main(["--smoke", "--budget-s", budget])
    assert stopped.value.code == 2


def test_a_run_that_measures_nothing_leaves_an_earlier_report(tmp_path: Path) -> None:
    ranks()
    earlier = tmp_path / "gpu.json"
    earlier.write_text('{"models": {"qwen2.5-vl-7b": {"step": {"ttft_ms": 120}}}}\n')
    # Under a minute: no model is started (each needs that much of the budget).
    assert gpu.main(["--smoke", "--budget-s", "1", "--out", str(earlier)]) == 1
    assert json.loads(earlier.read_text())["models"]["qwen2.5-vl-7b"]["step"]["ttft_ms"] == 120


@pytest.mark.slow
def test_a_run_stopped_by_sigterm_keeps_what_it_measured_and_says_so(tmp_path: Path) -> None:
    import signal
    import time

    ranks()
    out = tmp_path / "r.json"
    run = subprocess.Popen(
        [sys.executable, "benchmarks/gpu.py", "--smoke", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not out.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=120) == 130
    finally:
        run.kill()
    report = json.loads(out.read_text())
    assert report["stopped_early"] == "interrupted (SIGTERM)"
    assert report["models"] and report["total_s"] > 0


@given(
    batch=st.integers(1, 4),
    kv_heads=st.integers(1, 8),
    group=st.integers(1, 8),
    length=st.integers(1, 4096),
    keys=st.integers(1, 4096),
    size=st.sampled_from([64, 80, 128]),
)
def test_attention_is_counted_as_torch_counts_it_and_grouped_keys_as_expanded_ones(
    batch: int, kv_heads: int, group: int, length: int, keys: int, size: int
) -> None:
    from torch.utils.flop_counter import sdpa_flop_count

    from benchmarks.gpu_measure import _attention_flops

    heads = kv_heads * group
    query, full = (batch, heads, length, size), (batch, heads, keys, size)
    assert _attention_flops(query, full, full) == sdpa_flop_count(query, full, full)
    grouped = (batch, kv_heads, keys, size)  # what transformers passes with enable_gqa
    assert _attention_flops(query, grouped, grouped) == sdpa_flop_count(query, full, full)


def test_the_table_shows_why_a_model_has_no_figures(tmp_path: Path) -> None:
    report = {"models": {"qwen3-vl-8b": {"error": "OutOfMemoryError: CUDA out of memory"}}}
    assert "OutOfMemoryError: CUDA out of memory" in gpu_table.markdown(report)
    odd = tmp_path / "odd.json"
    odd.write_text('{"models": {"x": 1}}')
    with pytest.raises(SystemExit, match="not a report of benchmarks/gpu.py"):
        gpu.main(["--table", str(odd)])


def _device_script(tmp_path: Path, wheels: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WHEELS": str(wheels), "OUT": str(tmp_path / "out")}
    return subprocess.run(
        ["bash", str(ROOT / "benchmarks/gpu_device.sh"), *args],
        cwd=tmp_path,  # the script finds the checkout itself
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_device_script_without_wheels_says_how_to_fetch_them(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    result = _device_script(tmp_path, tmp_path / "wheels", "--smoke")
    assert result.returncode == 1
    assert "run python benchmarks/gpu_wheels.py first" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu-smoke.log"]


@pytest.mark.slow
def test_the_device_script_rehearses_its_run_on_a_cpu(tmp_path: Path) -> None:
    # What the GPU machine runs, here: the wheels fetched for this Python, installed into a fresh
    # folder over this machine's packages, vlagent linked from the checkout, then gpu.py.
    wheels = tmp_path / "wheels"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu_wheels.py"), "--dest", str(wheels)]
        + ["--python-version", version],
        check=True,
        capture_output=True,
        timeout=600,
    )
    result = _device_script(tmp_path, wheels, "--smoke", "--models", "qwen2.5-vl-7b")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "vlagent from /" in result.stdout and "/src/vlagent/agent/" in result.stdout
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["gpu-smoke.json", "gpu-smoke.log"]
    report = json.loads((out / "gpu-smoke.json").read_text())
    assert report["machine"]["transformers"] == "5.24.0"  # the carried release, not this one's
    assert report["models"]["qwen2.5-vl-7b"]["step"]["image_tokens"] == 1222
