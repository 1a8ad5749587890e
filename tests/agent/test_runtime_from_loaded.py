"""A runtime around a model already in memory (``TransformersRuntime.from_loaded``), and loading
a checkpoint's processor where transformers refuses its auto classes without torchvision."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.runtimes.processors import load_processor
from vlagent.agent.testing import FAMILIES
from vlagent.prompts import dialect_for
from vlagent.tools import computer_tools

Checkpoint = Callable[..., Path]


def _screen() -> Image.Image:
    return Image.new("RGB", (640, 400), (200, 210, 230))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_runtime_from_a_loaded_model_answers_as_one_from_its_folder(
    family: str, checkpoint: Checkpoint
) -> None:
    options = RuntimeOptions(max_new_tokens=8)
    from_folder = TransformersRuntime(str(checkpoint(family)), options)
    loaded = TransformersRuntime.from_loaded(
        from_folder.model, from_folder.processor, model_id=str(checkpoint(family)), options=options
    )
    assert loaded.resize == from_folder.resize
    assert loaded.template_takes_tools == from_folder.template_takes_tools
    dialect = dialect_for(loaded.model_id, loaded.model_type, loaded.resize)
    prompt = dialect.render("Tap OK", [], _screen(), computer_tools())
    assert loaded.generate([prompt])[0].text == from_folder.generate([prompt])[0].text
    assert loaded.describe()["model_type"] == from_folder.describe()["model_type"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_processor_loads_where_auto_image_processor_needs_torchvision(
    family: str, checkpoint: Checkpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some transformers 5 releases refuse AutoImageProcessor (and so AutoProcessor) outright
    # without torchvision; the checkpoint's own image processor class must still load.
    import transformers

    def refuse(*args: object, **kwargs: object) -> None:
        raise ImportError("AutoImageProcessor requires the Torchvision library")

    folder = str(checkpoint(family))
    expected = load_processor(folder, transformers.AutoConfig.from_pretrained(folder).model_type)
    monkeypatch.setattr(transformers.AutoImageProcessor, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", refuse)
    model_type = transformers.AutoConfig.from_pretrained(folder).model_type
    budget = {"size": {"shortest_edge": 3136, "longest_edge": 200_704}}
    qwen = family.startswith("qwen")
    processor = load_processor(folder, model_type, **(budget if qwen else {}))
    image = processor.image_processor
    assert type(image).__name__ == type(expected.image_processor).__name__
    if qwen:
        assert image.size["longest_edge"] == 200_704
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert processor(text=[text], images=[[_screen()]], return_tensors="pt")["input_ids"].numel()
