"""Loading a checkpoint's processor, with or without torchvision.

Without torchvision, ``AutoProcessor`` cannot build the Qwen-family and LLaVA-OneVision processors:
they insist on a video processor, which needs torchvision (not installable on every machine;
docs/models.md). Screenshots never need one, so we fall back to the same processor class with the
video processor left out, built from the checkpoint's own files (image processor, tokenizer,
processor_config.json, chat template). Some transformers 5 releases refuse ``AutoImageProcessor``
itself without torchvision; the image processor class the checkpoint names is then loaded
directly (its PIL variant where there is one).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import logging
from functools import cache
from typing import Any

from vlagent.agent.runtimes.base import ModelUnavailable, RuntimeOptions
from vlagent.prompts import ResizeRule
from vlagent.prompts.resize import ResizeError, user_budget

log = logging.getLogger("vlagent.local")


def transformers_module() -> Any:
    """transformers, imported on first use (seconds) and typed loosely: it ships few annotations."""
    return importlib.import_module("transformers")


_NOT_KWARGS = {
    "image_processor",
    "video_processor",
    "tokenizer",
    "processor_class",
    "auto_map",
    "chat_template",
}


@cache
def image_only(processor_class: Any) -> Any:
    """``processor_class`` without its video processor (same class name, same behaviour for
    images and text)."""

    def __init__(
        self: Any,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        # The parent passes video_processor positionally to ProcessorMixin, which pairs
        # positional arguments with get_attributes() (read from this __init__'s signature):
        # image_processor and tokenizer only, so the None is dropped.
        processor_class.__init__(
            self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs
        )

    # Keep the parent's other parameters visible: save_pretrained stores the attributes named in
    # the signature (e.g. LLaVA-OneVision's num_image_tokens).
    parent = inspect.signature(processor_class.__init__)
    __init__.__signature__ = parent.replace(  # type: ignore[attr-defined]
        parameters=[p for p in parent.parameters.values() if p.name != "video_processor"]
    )
    return type(processor_class.__name__, (processor_class,), {"__init__": __init__})


def _checkpoint_text(path: str, name: str) -> str | None:
    found = transformers_module().utils.cached_file(
        path, name, _raise_exceptions_for_missing_entries=False
    )
    if found is None:
        return None
    with open(found, encoding="utf-8") as handle:
        return handle.read()


def _image_processor(path: str, **kwargs: Any) -> Any:
    """The checkpoint's image processor. Some transformers 5 releases refuse AutoImageProcessor
    altogether without torchvision; the class the checkpoint names is then loaded directly, in
    its PIL variant where there is one."""
    transformers = transformers_module()
    try:
        return transformers.AutoImageProcessor.from_pretrained(path, **kwargs)
    except ImportError as exc:
        # Its settings: preprocessor_config.json, or (as transformers 5 saves a processor) the
        # "image_processor" entry of processor_config.json.
        saved = json.loads(_checkpoint_text(path, "preprocessor_config.json") or "{}")
        if not saved:
            bundle = json.loads(_checkpoint_text(path, "processor_config.json") or "{}")
            saved = bundle.get("image_processor") or {}
        named = str(saved.get("image_processor_type") or "").removesuffix("Fast")
        for candidate in (f"{named}Pil", named):
            found = getattr(transformers, candidate, None) if named else None
            if found is not None:
                return found.from_dict(saved, **kwargs)
        raise exc


def _from_parts(path: str, processor_class: Any, **kwargs: Any) -> Any:
    """``processor_class`` (without its video processor, if it has one) built from the
    checkpoint's own files: image processor, tokenizer, processor_config.json, chat template."""
    image_processor = _image_processor(path, **kwargs)
    tokenizer = transformers_module().AutoTokenizer.from_pretrained(path)
    saved = json.loads(_checkpoint_text(path, "processor_config.json") or "{}")
    accepted = inspect.signature(processor_class.__init__).parameters
    extra = {k: v for k, v in saved.items() if k not in _NOT_KWARGS and k in accepted}
    template = _checkpoint_text(path, "chat_template.jinja")
    if template is None:
        legacy = _checkpoint_text(path, "chat_template.json")
        template = json.loads(legacy)["chat_template"] if legacy else tokenizer.chat_template
    if "video_processor" in accepted:
        processor_class = image_only(processor_class)
    return processor_class(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=template, **extra
    )


def load_processor(path: str, model_type: str, **kwargs: Any) -> Any:
    """The processor of checkpoint ``path``: ``AutoProcessor`` when it works, else the family's
    processor class without a video processor. ``kwargs`` go to the image processor; a ``size``
    among them is the pixel budget, and it holds whatever the checkpoint's files say."""
    # A copy: the Qwen image processors write the file's min/max_pixels into the size they get.
    processor = _load_processor(path, model_type, **copy.deepcopy(kwargs))
    if "size" in kwargs:
        impose_budget(processor.image_processor, kwargs["size"])
    return processor


def _load_processor(path: str, model_type: str, **kwargs: Any) -> Any:
    transformers = transformers_module()
    error: Exception | None = None
    try:
        processor = transformers.AutoProcessor.from_pretrained(path, **kwargs)
        if hasattr(processor, "image_processor"):
            return processor
    except (ImportError, ValueError, TypeError, AttributeError, OSError) as exc:
        error = exc
    name = transformers.models.auto.processing_auto.PROCESSOR_MAPPING_NAMES.get(model_type)
    processor_class = getattr(transformers, name, None) if isinstance(name, str) else None
    if processor_class is None:
        raise ValueError(f"no image processor is known for model_type {model_type!r} ({error})")
    log.info(
        "AutoProcessor could not load %s (%s); using %s without a video processor",
        path,
        error or "no image processor",
        processor_class.__name__,
    )
    if "video_processor" not in inspect.signature(processor_class.__init__).parameters:
        try:
            return processor_class.from_pretrained(path, **kwargs)
        except ImportError:  # its image processor's auto class needs torchvision
            pass
    return _from_parts(path, processor_class, **kwargs)


_LEGACY_BUDGET = (("min_pixels", "shortest_edge"), ("max_pixels", "longest_edge"))
"""Qwen image processors still honour ``min_pixels`` / ``max_pixels`` over their ``size``: as
keys in a checkpoint's preprocessor_config.json (the published Qwen2/2.5-VL ones have them), and
as attributes set on the processor (the model cards' idiom)."""


def resize_rule(image_processor: Any) -> ResizeRule | None:
    """How a Qwen-style image processor resizes: factor patch x merge, and the pixel budget it
    applies (a ``min_pixels`` / ``max_pixels`` attribute before ``size``, as the processor
    does); None for one that does not say."""
    try:
        factor = int(image_processor.patch_size) * int(image_processor.merge_size)
        size = image_processor.size
        low, high = (
            getattr(image_processor, legacy, None) or size[key] for legacy, key in _LEGACY_BUDGET
        )
        return ResizeRule(factor, int(low), int(high))
    except (AttributeError, KeyError, TypeError):
        return None


def impose_budget(image_processor: Any, size: dict[str, int]) -> None:
    """Make ``size`` the budget ``image_processor`` applies: its size setting, with any legacy
    ``min_pixels`` / ``max_pixels`` attribute (which would override it) cleared."""
    image_processor.size = dict(size)
    for legacy, _ in _LEGACY_BUDGET:
        if getattr(image_processor, legacy, None) is not None:
            setattr(image_processor, legacy, None)


def pixel_budget(resize: ResizeRule | None, options: RuntimeOptions) -> dict[str, Any]:
    """The keyword that sets a resizing family's pixel budget on its processor: the family's
    default ``resize``, overridden by ``options.min_pixels`` / ``max_pixels``. It goes through
    the processor's size setting (the min_pixels / max_pixels keywords are deprecated), and the
    dialect is told the same rule. Empty for a family that does not resize."""
    if resize is None:
        return {}
    try:
        rule = user_budget(resize, options.min_pixels, options.max_pixels)
    except ResizeError as exc:
        raise ModelUnavailable(str(exc)) from None
    low, high = rule.min_pixels, rule.max_pixels
    return {"size": {"shortest_edge": low, "longest_edge": high}}
