"""Tiny random-weight checkpoints of every supported family, built locally (no download).

They have the real patch and merge geometry (so image-token counts are realistic), a byte-level
tokenizer built from nothing with the family's special tokens, and the family's published chat
template (test data); they are saved with ``save_pretrained`` and loaded back through the same
public path a user's checkpoint takes (``agent run --model FOLDER``). Their answers are noise: they
test plumbing, speed and
memory, never quality.

``size="tiny"`` (hidden 64, 2 layers, about 1 MB) is for tests; ``size="mid"`` (hidden 512,
8 layers, about 30M parameters) is for benchmarks.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlagent.agent.runtimes.processors import image_only, transformers_module

FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl", "llava-onevision", "idefics2")

# The published chat template of each family, as test data with its source and licence
# (chat_templates/README.md beside this module: sources and licences);
# they ship in the wheel, so build_checkpoint works from an installed vlagent: a checkpoint renders
# prompts exactly as the real one does.
PUBLISHED_TEMPLATES = {
    "qwen2-vl": "qwen2-vl-7b-instruct.json",
    "qwen2.5-vl": "qwen2.5-vl-7b-instruct.json",
    "qwen3-vl": "qwen3-vl-8b-instruct.json",
    "llava-onevision": "llava-onevision-qwen2-0.5b-ov-hf.json",
    "idefics2": "idefics2-8b.json",
    "ui-tars-1.5": "ui-tars-1.5-7b.json",
}
TEMPLATE_FOLDER = Path(__file__).resolve().parent / "chat_templates"


def published_template(name: str) -> Path:
    """The file of a published chat template: a family name or a key of PUBLISHED_TEMPLATES."""
    path = TEMPLATE_FOLDER / PUBLISHED_TEMPLATES[name]
    return path


def template_text(template: str | Path) -> str:
    """The template text of a ``chat_template.json`` file (or of a ``.jinja`` file)."""
    text = Path(template).read_text(encoding="utf-8")
    return str(json.loads(text)["chat_template"]) if str(template).endswith(".json") else text


@dataclass(frozen=True)
class _Size:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vision_width: int
    vision_depth: int


def _module(name: str) -> Any:
    return importlib.import_module(f"transformers.models.{name}")


SIZES = {
    "tiny": _Size(64, 128, 2, 4, 2, 32, 2),
    "mid": _Size(512, 2048, 8, 8, 4, 128, 4),
}


def _tokenizer(special: list[str], plain: list[str], eos: str, pad: str) -> Any:
    """A byte-level BPE tokenizer over the 256 byte symbols with no merges: every string round-
    trips, and the vocabulary is exactly as big as the embedding (no ids that decode to nothing)."""
    hf = transformers_module()
    bytes_to_unicode = importlib.import_module(
        "transformers.convert_slow_tokenizer"
    ).bytes_to_unicode

    vocab = {symbol: i for i, symbol in enumerate(bytes_to_unicode().values())}
    tokenizer = hf.Qwen2Tokenizer(
        vocab=vocab, merges=[], eos_token=eos, pad_token=pad, unk_token=pad
    )
    tokenizer.add_special_tokens({"additional_special_tokens": special})
    tokenizer.add_tokens(plain)
    return tokenizer


def _text_config(
    size: _Size, vocab: int, head_dim: int | None = None, **extra: Any
) -> dict[str, Any]:
    config = dict(
        hidden_size=size.hidden,
        intermediate_size=size.intermediate,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.kv_heads,
        vocab_size=vocab,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        **extra,
    )
    if head_dim is not None:
        config["head_dim"] = head_dim
    return config


def _mrope(size: _Size, interleaved: bool = False) -> dict[str, Any]:
    half = size.hidden // size.heads // 2  # mrope sections split half the head dimension
    t = half // 4 if interleaved else half // 4 + half % 4
    rest = half - t
    section = [rest // 2, t, rest - rest // 2] if interleaved else [t, rest // 2, rest - rest // 2]
    parameters: dict[str, Any] = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": section,
    }
    if interleaved:
        parameters["mrope_interleaved"] = True
    return parameters


def build_checkpoint(
    family: str,
    folder: str | Path,
    size: str = "tiny",
    seed: int = 0,
    template: str | Path | None = None,
) -> Path:
    """Build, save and return a random-weight checkpoint of ``family`` in ``folder``, carrying
    the chat template in ``template`` (a ``chat_template.json``; default: the family's published
    one)."""
    import torch

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    dims = SIZES[size]
    builder = {
        "qwen2-vl": _qwen,
        "qwen2.5-vl": _qwen,
        "qwen3-vl": _qwen,
        "llava-onevision": _llava_onevision,
        "idefics2": _idefics2,
    }[family]
    chat_template = template_text(template if template is not None else published_template(family))
    model, processor, processor_class = builder(family, dims, chat_template)
    model.save_pretrained(folder)
    save_processor(processor, processor_class, folder)
    return folder


def save_processor(processor: Any, processor_class: str, folder: Path) -> None:
    """Save ``processor`` into ``folder`` as a published checkpoint carries it. The processors
    here are built image-only (torchvision may be missing), so the family's real processor class
    is recorded: AutoProcessor then loads the folder like any published checkpoint."""
    processor.save_pretrained(folder)
    config_path = folder / "processor_config.json"
    if config_path.exists():
        data = json.loads(config_path.read_text())
        data["processor_class"] = processor_class
        config_path.write_text(json.dumps(data, indent=2))


def _qwen(family: str, dims: _Size, chat_template: str) -> tuple[Any, Any, str]:
    tok, ids = _qwen_tokenizer()
    patch = 16 if family == "qwen3-vl" else 14
    config_class, model_class, processor_class = qwen_classes(family)
    config = config_class(
        text_config=_qwen_text_config(family, dims, len(tok), ids),
        vision_config=_qwen_vision_config(family, dims, patch),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    model = model_class(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    processor = image_only(processor_class)(
        image_processor=qwen_image_processor(family), tokenizer=tok, chat_template=chat_template
    )
    return model, processor, processor_class.__name__


def qwen_image_processor(family: str) -> Any:
    """A Qwen family's image processor with its published geometry (patch 14, or 16 for
    Qwen3-VL; 2x2 merge; 2 frames per temporal patch) and the processor's own default budget."""
    Qwen2VLImageProcessorPil = _module(
        "qwen2_vl.image_processing_pil_qwen2_vl"
    ).Qwen2VLImageProcessorPil
    patch = 16 if family == "qwen3-vl" else 14
    return Qwen2VLImageProcessorPil(
        patch_size=patch,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": 4 * (2 * patch) ** 2, "longest_edge": 16384 * (2 * patch) ** 2},
    )


def _qwen_tokenizer() -> tuple[Any, dict[str, int]]:
    """The Qwen families' tokenizer and the ids of its special tokens."""
    special = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    tok = _tokenizer(
        special,
        ["<tool_call>", "</tool_call>", "<think>", "</think>"],
        eos="<|im_end|>",
        pad="<|endoftext|>",
    )
    return tok, {t: tok.convert_tokens_to_ids(t) for t in special}


def qwen_classes(family: str) -> tuple[Any, Any, Any]:
    """The config, model and processor classes of a Qwen family."""
    hf = transformers_module()
    if family == "qwen2-vl":
        return hf.Qwen2VLConfig, hf.Qwen2VLForConditionalGeneration, hf.Qwen2VLProcessor
    if family == "qwen2.5-vl":
        return hf.Qwen2_5_VLConfig, hf.Qwen2_5_VLForConditionalGeneration, hf.Qwen2_5_VLProcessor
    return hf.Qwen3VLConfig, hf.Qwen3VLForConditionalGeneration, hf.Qwen3VLProcessor


def _qwen_text_config(family: str, dims: _Size, vocab: int, ids: dict[str, int]) -> dict[str, Any]:
    """The language model's config: Qwen3-VL sets its head size and interleaves its mrope
    sections."""
    qwen3 = family == "qwen3-vl"
    return _text_config(
        dims,
        vocab,
        head_dim=dims.hidden // dims.heads if qwen3 else None,
        rope_parameters=_mrope(dims, interleaved=qwen3),
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )


def _qwen_vision_config(family: str, dims: _Size, patch: int) -> dict[str, Any]:
    """The vision tower's config, with the settings each Qwen family adds to the shared ones."""
    vision: dict[str, Any] = dict(
        depth=dims.vision_depth,
        hidden_size=dims.vision_width,
        num_heads=2,
        patch_size=patch,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    if family == "qwen2-vl":
        vision.update(embed_dim=dims.vision_width, mlp_ratio=2)
        return {**vision, "hidden_size": dims.hidden}
    if family == "qwen2.5-vl":
        vision.update(
            intermediate_size=2 * dims.vision_width,
            out_hidden_size=dims.hidden,
            fullatt_block_indexes=[dims.vision_depth - 1],
            window_size=112,
        )
        return vision
    vision.update(
        intermediate_size=2 * dims.vision_width,
        out_hidden_size=dims.hidden,
        num_position_embeddings=256,
        deepstack_visual_indexes=[0],
    )
    return vision


def _llava_onevision(family: str, dims: _Size, chat_template: str) -> tuple[Any, Any, str]:
    hf = transformers_module()
    LlavaOnevisionImageProcessorPil = _module(
        "llava_onevision.image_processing_pil_llava_onevision"
    ).LlavaOnevisionImageProcessorPil

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tok = _tokenizer(special, [], eos="<|im_end|>", pad="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    config = hf.LlavaOnevisionConfig(
        text_config={
            "model_type": "qwen2",
            **_text_config(
                dims, len(tok), eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]
            ),
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": dims.vision_width,
            "intermediate_size": 2 * dims.vision_width,
            "num_hidden_layers": dims.vision_depth,
            "num_attention_heads": 2,
            "image_size": 384,
            "patch_size": 14,
        },
        image_token_id=ids["<image>"],
        video_token_id=ids["<video>"],
        vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
    )
    model = hf.LlavaOnevisionForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    processor = image_only(hf.LlavaOnevisionProcessor)(
        image_processor=LlavaOnevisionImageProcessorPil(),
        tokenizer=tok,
        chat_template=chat_template,
        num_image_tokens=(384 // 14) ** 2,
        vision_feature_select_strategy="full",
    )
    return model, processor, "LlavaOnevisionProcessor"


def _idefics2(family: str, dims: _Size, chat_template: str) -> tuple[Any, Any, str]:
    hf = transformers_module()
    Idefics2ImageProcessorPil = _module(
        "idefics2.image_processing_pil_idefics2"
    ).Idefics2ImageProcessorPil

    special = ["<|endoftext|>", "<fake_token_around_image>", "<image>", "<end_of_utterance>"]
    tok = _tokenizer(special, [], eos="<end_of_utterance>", pad="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    config = hf.Idefics2Config(
        text_config={
            "model_type": "mistral",
            "sliding_window": None,
            **_text_config(
                dims,
                len(tok),
                eos_token_id=ids["<end_of_utterance>"],
                pad_token_id=ids["<|endoftext|>"],
            ),
        },
        vision_config={
            "hidden_size": dims.vision_width,
            "intermediate_size": 2 * dims.vision_width,
            "num_hidden_layers": dims.vision_depth,
            "num_attention_heads": 2,
            "image_size": 980,
            "patch_size": 14,
        },
        perceiver_config={
            "hidden_size": dims.hidden,
            "resampler_n_latents": 64,
            "resampler_depth": 1,
            "resampler_n_heads": 2,
            "resampler_head_dim": 16,
            "num_key_value_heads": 1,
        },
        image_token_id=ids["<image>"],
    )
    model = hf.Idefics2ForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<end_of_utterance>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    processor = hf.Idefics2Processor(
        image_processor=Idefics2ImageProcessorPil(do_image_splitting=False),
        tokenizer=tok,
        image_seq_len=64,
        chat_template=chat_template,
    )
    return model, processor, "Idefics2Processor"
