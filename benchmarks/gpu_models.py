"""The models of benchmarks/gpu.py: random weights in the published architectures, built in place
on the device, with a real Qwen tokenizer and the family's own processor and chat template.

``tiny=True`` (the ``--smoke`` mode) keeps every structural setting of the published file (head
size, rope sections, vocabulary, patch and merge sizes, window and deepstack layers) and shrinks
widths and depths, so the same code runs on a CPU in seconds.
"""

from __future__ import annotations

import copy
import importlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.qwen_vocab import qwen_tokenizer
from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.runtimes.processors import load_processor, pixel_budget
from vlagent.agent.testing.checkpoints import (
    published_template,
    qwen_classes,
    qwen_image_processor,
    save_processor,
    template_text,
)
from vlagent.prompts import family_for

CONFIGS = Path(__file__).resolve().parent / "published_configs"


@dataclass(frozen=True)
class Published:
    name: str
    """The checkpoint's Hugging Face id, which also selects vlagent's dialect."""
    family: str
    config_file: str


MODELS = {
    "qwen2.5-vl-7b": Published(
        "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl", "Qwen2.5-VL-7B-Instruct.json"
    ),
    "qwen2.5-vl-3b": Published(
        "Qwen/Qwen2.5-VL-3B-Instruct", "qwen2.5-vl", "Qwen2.5-VL-3B-Instruct.json"
    ),
    "qwen3-vl-8b": Published("Qwen/Qwen3-VL-8B-Instruct", "qwen3-vl", "Qwen3-VL-8B-Instruct.json"),
}

TINY_TEXT = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
}
"""Two heads of the published head size (128): the mrope sections cover half a head."""


def published_dict(key: str, tiny: bool = False) -> dict[str, Any]:
    """The published config.json of ``MODELS[key]``, shrunk when ``tiny``."""
    data: dict[str, Any] = json.loads((CONFIGS / MODELS[key].config_file).read_text())
    if not tiny:
        return data
    data = copy.deepcopy(data)
    text = data.get("text_config", data)  # Qwen2.5-VL's file keeps the text settings on top
    text.update(TINY_TEXT)
    text["head_dim"] = 128
    vision = data["vision_config"]
    head = vision["hidden_size"] // vision["num_heads"]
    vision.update(
        depth=2,
        num_heads=2,
        hidden_size=2 * head,
        intermediate_size=256,
        out_hidden_size=TINY_TEXT["hidden_size"],
    )
    for layers in ("fullatt_block_indexes", "deepstack_visual_indexes"):
        if layers in vision:
            vision[layers] = [1]
    return data


def config_of(key: str, tiny: bool = False) -> Any:
    """The transformers config of ``MODELS[key]``."""
    mapping = importlib.import_module("transformers.models.auto.configuration_auto").CONFIG_MAPPING
    data = published_dict(key, tiny)
    return mapping[data["model_type"]].from_dict(data)


def build_model(config: Any, device: str, dtype: Any, attention: str = "sdpa") -> Any:
    """Random weights in ``config``'s architecture, created directly on ``device``."""
    import torch

    transformers = importlib.import_module("transformers")
    with torch.device(device):
        model = transformers.AutoModelForImageTextToText.from_config(
            config, dtype=dtype, attn_implementation=attention
        )
    return model.eval()


def processor_for(key: str, tokenizer: Any) -> Any:
    """The family's processor with ``tokenizer`` and the published chat template, saved and loaded
    back as the local runtime loads a checkpoint's (AutoProcessor picks the image processor this
    machine gives users), with vlagent's default pixel budget."""
    published = MODELS[key]
    _, _, processor_class = qwen_classes(published.family)
    from vlagent.agent.runtimes.processors import image_only

    processor = image_only(processor_class)(
        image_processor=qwen_image_processor(published.family),
        tokenizer=tokenizer,
        chat_template=template_text(published_template(published.family)),
    )
    family = family_for(published.name, published_dict(key)["model_type"])
    budget = pixel_budget(family.resize if family else None, RuntimeOptions())
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        save_processor(processor, processor_class.__name__, folder)
        (folder / "config.json").write_text(json.dumps(published_dict(key)))
        return load_processor(str(folder), published_dict(key)["model_type"], **budget)


def runtime_for(
    key: str, model: Any, tokenizer: Any, new_tokens: int, reuse_prefix: bool = False
) -> TransformersRuntime:
    """vlagent's local runtime around ``model``. Every answer is ``new_tokens`` long (random
    weights would otherwise stop at a random end token)."""
    model.generation_config.min_new_tokens = new_tokens
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    options = RuntimeOptions(max_new_tokens=new_tokens, reuse_prefix=reuse_prefix)
    return TransformersRuntime.from_loaded(
        model, processor_for(key, tokenizer), MODELS[key].name, options
    )


def tokenizer_for(key: str, ranks: dict[bytes, int]) -> Any:
    return qwen_tokenizer(ranks, qwen3=MODELS[key].family == "qwen3-vl")
