"""A runtime around a model already in memory (``TransformersRuntime.from_loaded``), and loading
a checkpoint's processor where transformers refuses its auto classes without torchvision."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def test_prefix_reuse_uses_the_cache_name_this_transformers_knows(
    checkpoint: Checkpoint, caplog: pytest.LogCaptureFixture
) -> None:
    # transformers renamed generate's past_key_values to cache; the old name warns on every run.
    import warnings

    runtime = TransformersRuntime(str(checkpoint("qwen2.5-vl")), RuntimeOptions(max_new_tokens=4))
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for goal in ("Tap OK", "Tap OK"):
            runtime.generate([dialect.render(goal, [], _screen(), computer_tools())])
    assert runtime.prefix is not None and runtime.prefix.reused > 0
    said = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "deprecated" in m and "cache" in m.lower()]


QWEN_FAMILIES = [f for f in FAMILIES if f.startswith("qwen")]


def _shown(runtime: TransformersRuntime, screen: tuple[int, int]) -> tuple[int, int]:
    """The size of the image the model is shown for a ``screen``-sized screenshot."""
    image = runtime.processor.image_processor(images=[Image.new("RGB", screen)])
    _, rows, columns = (int(v) for v in image["image_grid_thw"][0])
    patch = int(runtime.processor.image_processor.patch_size)
    return columns * patch, rows * patch


def _published_layout(folder: Path, target: Path) -> Path:
    """``folder`` laid out as the published Qwen2/2.5-VL checkpoints are: the image processor's
    settings in preprocessor_config.json, with top-level min_pixels and max_pixels."""
    import json
    import shutil

    shutil.copytree(folder, target)
    bundle = json.loads((target / "processor_config.json").read_text())
    settings = bundle.pop("image_processor")
    size = settings.pop("size")
    settings.update(min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])
    (target / "preprocessor_config.json").write_text(json.dumps(settings))
    (target / "processor_config.json").write_text(json.dumps(bundle))
    return target


@settings(max_examples=12, deadline=None)
@given(
    family=st.sampled_from(QWEN_FAMILIES),
    budget=st.integers(70_000, 3_000_000),  # above every family's smallest budget
    screen=st.tuples(st.integers(200, 3840), st.integers(200, 2400)),
    how=st.sampled_from(["option", "published layout + option", "attribute", "size"]),
)
def test_the_resize_rule_is_what_the_processor_does(
    checkpoint: Checkpoint,
    tmp_path_factory: pytest.TempPathFactory,
    family: str,
    budget: int,
    screen: tuple[int, int],
    how: str,
) -> None:
    # However the pixel budget is set (vlagent's option, a checkpoint whose files carry their own,
    # the model cards' `image_processor.max_pixels = N`, the size setting), the rule the dialect
    # maps coordinates with must be the resize the model's image actually went through.
    folder = checkpoint(family)
    if how.startswith("published"):
        folder = _published_layout(folder, tmp_path_factory.mktemp("published") / family)
    options = RuntimeOptions(max_new_tokens=1, max_pixels=budget if "option" in how else None)
    runtime = TransformersRuntime(str(folder), options)
    if how == "attribute":
        runtime.processor.image_processor.max_pixels = budget
    elif how == "size":
        runtime.processor.image_processor.size = {"shortest_edge": 3136, "longest_edge": budget}
    if how in ("attribute", "size"):  # the user's own processor, handed over
        runtime = TransformersRuntime.from_loaded(runtime.model, runtime.processor, str(folder))
    assert runtime.resize is not None
    if "option" in how:
        assert runtime.resize.max_pixels == budget
    assert runtime.resize.resized(screen) == _shown(runtime, screen)


def test_from_loaded_refuses_what_it_cannot_use_in_one_line(checkpoint: Checkpoint) -> None:
    from vlagent.agent.runtimes.base import ModelUnavailable

    runtime = TransformersRuntime(str(checkpoint("qwen2.5-vl")), RuntimeOptions(max_new_tokens=1))
    tokenizer = runtime.processor.tokenizer
    for model, processor, says in (
        (runtime.model, tokenizer, "processor"),
        (runtime.model, runtime.processor.image_processor, "processor"),
        (None, runtime.processor, "generates text"),
        (runtime.model.model, runtime.processor, "generates text"),  # no language-model head
    ):
        with pytest.raises(ModelUnavailable, match=says) as caught:
            TransformersRuntime.from_loaded(model, processor)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("family", QWEN_FAMILIES)
def test_a_screenshot_shown_at_another_size_than_its_answer_is_read_in_is_refused(
    family: str, checkpoint: Checkpoint
) -> None:
    # Two ways the model's image and the dialect's frame part: the budget changed on the processor
    # after the dialect got its rule, and a dialect made without the runtime's rule. Refused only
    # where answers are pixels of the resized image; relative answers do not depend on it.
    from vlagent.agent.runtimes.base import RuntimeFailure

    folder = str(checkpoint(family))
    runtime = TransformersRuntime(folder, RuntimeOptions(max_new_tokens=1, max_pixels=2_000_000))
    stale = dialect_for(runtime.model_id, runtime.model_type)  # the family's default rule
    right = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    screen = Image.new("RGB", (1920, 1080))
    pixels = right.pixel_space
    for dialect, refused in ((stale, pixels), (right, False)):
        prompt = dialect.render("Tap OK", [], screen, computer_tools())
        if refused:
            with pytest.raises(RuntimeFailure, match="read as if at 1316x728"):
                runtime.generate([prompt])
        else:
            assert runtime.generate([prompt])[0].prompt_tokens
    runtime.processor.image_processor.max_pixels = 100_000  # after the dialect got its rule
    prompt = right.render("Tap OK", [], screen, computer_tools())
    if pixels:
        with pytest.raises(RuntimeFailure, match="would be read as if at 1876x1036"):
            runtime.generate([prompt])
    else:
        assert runtime.generate([prompt])[0].prompt_tokens


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"min_pixels": -5}, "min_pixels must be at least 1"),
        ({"min_pixels": 0}, "min_pixels must be at least 1"),
        ({"max_pixels": 100}, "max_pixels must be at least 784"),
        ({"min_pixels": 500_000, "max_pixels": 400_000}, "min_pixels must not be above"),
    ],
)
def test_bad_pixel_budgets_are_refused_before_anything_loads(
    options: dict[str, int], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        RuntimeOptions(**options)


@pytest.mark.parametrize(
    ("family", "options", "says"),
    [
        ("qwen3-vl", {"max_pixels": 20_000}, "--max-pixels 20,000 is below"),
        ("qwen2.5-vl", {"min_pixels": 5_000_000}, "--min-pixels 5,000,000 is above"),
    ],
)
def test_a_budget_outside_the_models_range_says_which_flag_to_change(
    checkpoint: Checkpoint, family: str, options: dict[str, int], says: str
) -> None:
    from vlagent.agent.runtimes.base import ModelUnavailable

    with pytest.raises(ModelUnavailable, match=says) as caught:
        TransformersRuntime(str(checkpoint(family)), RuntimeOptions(**options))
    assert "\n" not in str(caught.value)
