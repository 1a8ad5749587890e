"""The model families vlagent speaks to, and which dialect each one gets.

One row per family: how its checkpoints are recognised (``model_type`` in config.json, or a
fragment of the checkpoint's name), its dialect, the coordinate space it answers in, and the
default pixel budget. ``agent models`` prints this table; ``dialect_for`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlagent.prompts.resize import ResizeRule

DEFAULT_MAX_PIXELS = 1280 * 28 * 28
"""The default pixel budget for the Qwen family: about 1,280 image tokens at factor 28."""


@dataclass(frozen=True)
class Family:
    name: str
    dialect: str
    space: str
    model_types: tuple[str, ...]
    name_fragments: tuple[str, ...]
    resize: ResizeRule | None
    """How the processor resizes screenshots by default; None when it tiles them instead."""
    note: str = ""


FAMILIES: tuple[Family, ...] = (
    # UI-TARS checkpoints carry a Qwen model_type, so their name is checked first.
    Family(
        "ui-tars-1.5",
        "ui-tars-1.5",
        "pixels of the resized image",
        (),
        ("ui-tars-1.5", "ui_tars_1.5"),
        ResizeRule(28, 4 * 28 * 28, DEFAULT_MAX_PIXELS),
        "Qwen2.5-VL based; Thought/Action text",
    ),
    Family(
        "ui-tars",
        "ui-tars",
        "relative 0–1000",
        (),
        ("ui-tars", "ui_tars"),
        ResizeRule(28, 4 * 28 * 28, DEFAULT_MAX_PIXELS),
        "UI-TARS 1.0, Qwen2-VL based",
    ),
    Family(
        "qwen2.5-vl",
        "qwen2.5-vl",
        "pixels of the resized image",
        ("qwen2_5_vl",),
        ("qwen2.5-vl", "qwen2_5_vl", "qwen2.5vl"),
        ResizeRule(28, 4 * 28 * 28, DEFAULT_MAX_PIXELS),
    ),
    Family(
        "qwen3-vl",
        "qwen3-vl",
        "relative 0–1000 (stated as 999x999)",
        ("qwen3_vl", "qwen3_vl_moe"),
        ("qwen3-vl", "qwen3_vl"),
        ResizeRule(32, 256 * 256, DEFAULT_MAX_PIXELS),
    ),
    Family(
        "qwen2-vl",
        "qwen2-vl",
        "relative 0–1000",
        ("qwen2_vl",),
        ("qwen2-vl", "qwen2_vl"),
        ResizeRule(28, 4 * 28 * 28, DEFAULT_MAX_PIXELS),
    ),
    Family(
        "llava-onevision",
        "json",
        "relative 0–1000",
        ("llava_onevision",),
        ("llava-onevision", "llava_onevision"),
        None,
        "anyres tiling: a 1280x800 screenshot is about 8,000 image tokens",
    ),
    Family(
        "idefics2",
        "json",
        "relative 0–1000",
        ("idefics2",),
        ("idefics2",),
        None,
        "image splitting as configured in the checkpoint",
    ),
)


def family_named(name: str) -> Family | None:
    return next((f for f in FAMILIES if f.name == name), None)


def family_for(model: str, model_type: str | None = None) -> Family | None:
    """The family of a checkpoint, from its name (id or folder) and its config's ``model_type``.

    A UI-TARS name wins over the Qwen ``model_type`` it carries; for UI-TARS the version follows
    the base model (Qwen2.5-VL → 1.5) when the name does not say.
    """
    key = model.lower()
    if "ui-tars" in key or "ui_tars" in key:
        newer = "1.5" in key or model_type == "qwen2_5_vl"
        return family_named("ui-tars-1.5" if newer else "ui-tars")
    if model_type:
        for family in FAMILIES:
            if model_type in family.model_types:
                return family
    for family in FAMILIES:
        if any(fragment in key for fragment in family.name_fragments):
            return family
    return None
