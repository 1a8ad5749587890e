"""Whether a Hugging Face checkpoint can be had, asked before anything heavy loads.

Without this, a hub id that is not downloaded on a machine without network costs about 30 s of
retry messages from huggingface_hub before the load fails; here it is one line at once.
"""

from __future__ import annotations

import os
import socket
import time
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from vlagent.agent.runtimes.base import ModelUnavailable
from vlagent.agent.runtimes.http import addresses_of

TINY_CHECKPOINT = (
    'python -c "from vlagent.agent.testing import build_checkpoint; '
    "build_checkpoint('qwen2.5-vl', 'tiny-qwen')\""
)
"""The offline way to run the whole path: a tiny random checkpoint built locally."""


WEIGHTS = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
)
PROXIES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def looks_like_hub_id(model: str) -> bool:
    return model.count("/") == 1 and not model.startswith((".", "/", "~"))


def is_local_folder(model: str) -> bool:
    return Path(model).expanduser().exists()


@cache
def check_obtainable(model: str) -> None:
    """Raise :class:`ModelUnavailable` (one line) when ``model`` is a hub id that is neither in the
    local cache nor downloadable now (``HF_HUB_OFFLINE`` set, or the hub unreachable within a
    second). Local folders and cached checkpoints pass without touching the network."""
    if is_local_folder(model) or not looks_like_hub_id(model):
        return
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        # Downloaded means the weights are there too: an interrupted download (or a config
        # fetched alone) leaves config.json without them.
        cached = [isinstance(try_to_load_from_cache(model, name), str) for name in WEIGHTS]
        if isinstance(try_to_load_from_cache(model, "config.json"), str) and any(cached):
            return
    except ValueError:  # not a valid repository id: loading it says so in its own words
        return
    if constants.HF_HUB_OFFLINE:
        why = "HF_HUB_OFFLINE is set"
    elif any(os.environ.get(name) for name in PROXIES):
        return  # the hub is reached through a proxy: huggingface_hub knows how, we do not probe
    elif not reachable(constants.ENDPOINT):
        why = f"{urlsplit(constants.ENDPOINT).hostname} cannot be reached"
    else:
        return
    raise ModelUnavailable(
        f"{model} is not downloaded and {why}: download it where there is network "
        f"(hf download {model}), pass --model FOLDER, or run offline on a tiny random checkpoint: "
        f"{TINY_CHECKPOINT}, then --model ./tiny-qwen"
    )


def reachable(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout_s``, name lookup
    included."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if host is None:
        return False
    ends = time.monotonic() + timeout_s
    try:
        for address in addresses_of(host, port, timeout_s):
            left = ends - time.monotonic()
            if left <= 0:
                return False
            try:
                with socket.create_connection((address, port), timeout=left):
                    return True
            except OSError:  # refused, unreachable: the next address
                continue
    except OSError:  # no such name, or no answer in time
        return False
    return False


def load_error(model: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if looks_like_hub_id(model) and not is_local_folder(model):
        return (
            f"cannot load {model}: {first.rstrip('.')}. Without network access, download it first "
            f"(hf download {model}) or pass a local folder"
        )
    return f"cannot load {model}: {first}"
