"""A real Qwen tokenizer, built here without a model hub: Qwen's own BPE vocabulary with the
added tokens at their published ids.

Qwen2, Qwen2.5 and Qwen3 (VL included) share one byte-level BPE vocabulary of 151,643 ranks,
first published as ``qwen.tiktoken``. The dashscope wheel on PyPI ships that file
(``dashscope/resources/qwen.tiktoken``, Apache-2.0), so it is read from the wheel, checked
against its SHA-256, and turned into a transformers ``Qwen2Tokenizer``. The merges are recovered
from the ranks, and that class brings Qwen2's pre-tokenization pattern and NFC normalisation. The
added tokens follow at ids 151643 and up, in the published order. The text of a prompt then has
the length the real tokenizer gives it. tests/benchmarks/test_gpu_script.py checks this against
token ids printed by other projects and against tiktoken itself.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import zipfile
from pathlib import Path
from typing import Any

VOCAB_WHEEL = "dashscope==2.0.2"
VOCAB_MEMBER = "dashscope/resources/qwen.tiktoken"
VOCAB_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
"""Qwen's pre-tokenization pattern (the same in qwen.tiktoken's loader and in Qwen2's
tokenizer.json); tiktoken needs it, the transformers class carries its own."""

ADDED_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
"""Qwen2.5(-VL)'s added tokens, ids 151643 to 151664 in this order."""
QWEN3_ADDED_TOKENS = ("<tool_response>", "</tool_response>", "<think>", "</think>")
"""Qwen3(-VL) adds these at 151665 to 151668."""


class VocabularyMissing(RuntimeError):
    """The vocabulary wheel is not where it was looked for."""


def vocabulary_wheel(folder: Path) -> Path:
    """The dashscope wheel in ``folder``, or an error that says how to fetch it."""
    found = sorted(folder.glob("dashscope-*.whl"))
    if not found:
        raise VocabularyMissing(
            f"no dashscope wheel in {folder}: fetch it with "
            f"python benchmarks/gpu_wheels.py --dest {folder} (it holds Qwen's vocabulary)"
        )
    return found[-1]


def read_ranks(wheel: Path) -> dict[bytes, int]:
    """The BPE ranks of ``qwen.tiktoken`` inside ``wheel``, checked against their SHA-256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(VOCAB_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise VocabularyMissing(
            f"{wheel} is not a readable dashscope wheel ({exc}); fetch it again with "
            f"python benchmarks/gpu_wheels.py --vocabulary-only"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != VOCAB_SHA256:
        raise VocabularyMissing(f"{wheel}: {VOCAB_MEMBER} has SHA-256 {digest}, not the pinned one")
    ranks = {}
    for line in data.decode("ascii").splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _split(ranks: dict[bytes, int], token: bytes) -> tuple[bytes, bytes]:
    """The pair BPE merges into ``token``: byte-level BPE run on its bytes with only the ranks
    below its own, which leaves exactly two parts."""
    limit = ranks[token]
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best: tuple[int, int] | None = None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < limit and (best is None or rank < best[0]):
                best = (rank, i)
        if best is None:
            break
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} is not a merge of two lower-ranked tokens")
    return parts[0], parts[1]


def qwen_tokenizer(ranks: dict[bytes, int], qwen3: bool = False) -> Any:
    """A ``Qwen2Tokenizer`` over ``ranks`` with Qwen's added tokens at their published ids."""
    transformers = importlib.import_module("transformers")
    to_unicode = importlib.import_module("transformers.convert_slow_tokenizer").bytes_to_unicode()

    def text(piece: bytes) -> str:
        return "".join(to_unicode[b] for b in piece)

    ordered = sorted(ranks.items(), key=lambda item: item[1])
    merges = [tuple(map(text, _split(ranks, t))) for t, _ in ordered if len(t) > 1]
    vocab = {text(t): rank for t, rank in ordered}
    tokenizer = transformers.Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None)
    added = ADDED_TOKENS + (QWEN3_ADDED_TOKENS if qwen3 else ())
    # One call, in the published order: special and plain added tokens interleave (<tool_call>
    # sits between <|video_pad|> and <|fim_prefix|>).
    tokenizer.add_tokens(
        [transformers.AddedToken(t, special=t.startswith("<|"), normalized=False) for t in added]
    )
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    return tokenizer
