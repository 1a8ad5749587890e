"""Prefix reuse for the local runtime: the key/value states of the text before the screenshot.

An agent's prompts share their beginning from step to step: the system message with the tools,
the goal, and the history so far (new steps are appended at its end). Everything before the
first image token is kept after a step; the next step starts generation from the longest part
of it that its own tokens repeat, so only the rest (new history, the screenshot, the closing
text) is prefilled. The model sees the same tokens at the same positions: answers are the same
as without reuse (tested on every family), only sooner.

That sameness depends on how transformers continues ``generate`` from a partial cache, which has
changed between releases: before 5.23 the Qwen families placed the new tokens at wrong positions
(their logits moved by up to 0.07; a random model's greedy text often hid it), and on 5.17
Idefics2's logits moved too. Reuse is therefore on only for the model types and transformers
releases it was verified on (``VERIFIED_SINCE``); elsewhere every step is prefilled in full.

Batches of more than one prompt are left alone: with left padding their prefixes do not line up.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any

log = logging.getLogger("vlagent.local")

MIN_REUSE = 16
"""Fewer shared tokens than this are not worth the bookkeeping."""

VERIFIED_SINCE = {
    "qwen2_vl": (5, 23),
    "qwen2_5_vl": (5, 23),
    "qwen3_vl": (5, 23),
    "idefics2": (5, 18),
    "llava_onevision": (5, 17),
}
"""The first transformers release where reuse left the first answer token's logits unchanged (to
1e-4), per model type: the prefix-reuse test run on 5.17, 5.18, 5.20, 5.22, 5.23, 5.24 and 5.25.
Before 5.23 the Qwen families got wrong positions for the new tokens."""


def reuse_is_exact(model_type: str, transformers_version: str) -> bool:
    """Whether prefix reuse was verified to leave answers unchanged for ``model_type`` under this
    transformers release."""
    since = VERIFIED_SINCE.get(model_type)
    if since is None:
        return False
    release = re.match(r"(\d+)\.(\d+)", transformers_version)
    if release is None:
        return False
    return (int(release[1]), int(release[2])) >= since


def vision_token_ids(config: Any) -> set[int]:
    """The ids of the tokens that stand for image or video content (and Qwen's vision-start
    marker): a kept prefix ends before the first of them."""
    names = ("image_token_id", "video_token_id", "vision_start_token_id", "image_token_index")
    ids: set[int] = set()
    for holder in (config, getattr(config, "text_config", None)):
        for name in names:
            value = getattr(holder, name, None)
            if isinstance(value, int):
                ids.add(value)
    return ids


class PrefixCache:
    """The kept key/value states and the token ids they were computed for."""

    def __init__(self, stop_ids: set[int]) -> None:
        self.stop_ids = stop_ids
        self.ids: list[int] = []
        self.cache: Any = None
        self.reused = 0
        """How many prompt tokens the last :meth:`take` let generation skip."""

    def take(self, input_ids: list[int]) -> Any:
        """The kept states cut to the longest prefix ``input_ids`` shares with them, to pass to
        ``generate`` as its cache; None when too little is shared."""
        self.reused = 0
        if self.cache is None:
            return None
        shared = 0
        limit = min(len(self.ids), len(input_ids) - 1)  # at least one token must be computed
        while shared < limit and self.ids[shared] == input_ids[shared]:
            shared += 1
        if shared < MIN_REUSE:
            self.drop()
            return None
        _cut(self.cache, shared)
        self.ids = self.ids[:shared]
        self.reused = shared
        cache, self.cache = self.cache, None  # generate extends it: it is ours again in keep()
        return cache

    def keep(self, input_ids: list[int], cache: Any) -> None:
        """Keep ``cache`` (the states after generating from ``input_ids``) cut to the text before
        the prompt's first vision token."""
        end = next((i for i, t in enumerate(input_ids) if t in self.stop_ids), len(input_ids))
        if cache is None or end < MIN_REUSE or not _plain(cache):
            self.drop()
            return
        _cut(cache, end)
        self.ids, self.cache = list(input_ids[:end]), cache

    def drop(self) -> None:
        self.ids, self.cache = [], None


def _plain(cache: Any) -> bool:
    """Only a cache whose every layer keeps all past states can be cut back and extended again
    (a sliding-window layer forgets what a shorter prefix would need)."""
    layers: list[Any] = list(getattr(cache, "layers", None) or [])
    return bool(layers) and all(type(layer).__name__ == "DynamicLayer" for layer in layers)


def _cut(cache: Any, length: int) -> None:
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)  # transformers' crop takes the number of tokens to remove, negated


def prefix_cache_for(config: Any, wanted: bool) -> PrefixCache | None:
    """A prefix cache for a model with ``config`` when reuse is ``wanted`` and verified exact for
    its model type on the installed transformers; otherwise None (every step prefilled in full,
    said once in the log)."""
    if not wanted:
        return None
    import transformers

    version = str(transformers.__version__)
    if not reuse_is_exact(config.model_type, version):
        log.info(
            "prefix reuse is off: not verified to keep the answers unchanged for %s on "
            "transformers %s",
            config.model_type,
            version,
        )
        return None
    return PrefixCache(vision_token_ids(config))


@cache
def cache_keyword() -> str:
    """What ``generate`` calls the key/value cache: ``cache`` since transformers renamed it, else
    ``past_key_values`` (the old name still works there, with a deprecation warning per run)."""
    import importlib

    output = importlib.import_module("transformers.generation").GenerateDecoderOnlyOutput
    fields = output.__dataclass_fields__
    return "cache" if "cache" in fields else "past_key_values"
