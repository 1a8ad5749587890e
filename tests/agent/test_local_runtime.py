"""The transformers runtime on tiny random checkpoints of every family, built in the test and
loaded through the same public path as a user's folder (``agent run --model FOLDER``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.conftest import run_cli
from vlagent.agent.cli import main
from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.testing import FAMILIES
from vlagent.prompts import dialect_for, get_dialect
from vlagent.tools import computer_tools, mobile_tools

Checkpoint = Callable[..., Path]

# A chat-template marker each family's prompt must carry once rendered, and its dialect.
TEMPLATE_MARK = {
    "qwen2-vl": "<|im_start|>assistant",
    "qwen2.5-vl": "<|im_start|>assistant",
    "qwen3-vl": "<|im_start|>assistant",
    "llava-onevision": "<|im_start|>assistant",
    "idefics2": "Assistant:",
}
DIALECT = {
    "qwen2-vl": "qwen2-vl",
    "qwen2.5-vl": "qwen2.5-vl",
    "qwen3-vl": "qwen3-vl",
    "llava-onevision": "json",
    "idefics2": "json",
}
# LLaVA-OneVision tiles big screenshots into thousands of tokens: keep its screen small.
SCREEN = {"llava-onevision": "384x384"}


def read_lines(run_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (run_dir / "trajectory.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("family", FAMILIES)
def test_agent_run_takes_a_full_step_with_each_family(
    family: str, checkpoint: Checkpoint, tmp_path: Path
) -> None:
    folder = checkpoint(family)
    out = tmp_path / "run"
    code = main(
        [
            *"run --env memory --size".split(),
            SCREEN.get(family, "640x400"),
            "--goal",
            "Tap OK",
            "--model",
            str(folder),
            *"--max-steps 1 --max-new-tokens 12 --out".split(),
            str(out),
        ]
    )
    assert code == 1  # one step, then the step limit: a random model does not finish the task
    header, step, end = read_lines(out)
    assert header["model"]["runtime"] == "transformers"
    assert header["dialect"] == DIALECT[family]
    assert (
        header["prompt_source"] == get_dialect(DIALECT[family]).prompt_source
    )  # whose prompt it is
    # The prompt as the model read it: the checkpoint's own template, goal and tools inside.
    assert TEMPLATE_MARK[family] in step["prompt_text"]
    assert "Tap OK" in step["prompt_text"] and "computer_use" in step["prompt_text"]
    assert step["prompt_tokens"] > 100 and 1 <= step["completion_tokens"] <= 12
    assert isinstance(step["output_text"], str)
    assert step["error"] is None or step["error"]["kind"] in ("parse", "validation")
    assert {"generate", "generate.prefill", "generate.decode"} <= set(step["timings_ms"])
    assert end["totals"]["completion_tokens"] == step["completion_tokens"]
    assert (out / step["screenshot"]).exists()


def test_agent_run_in_a_subprocess_with_a_checkpoint_folder(
    checkpoint: Checkpoint, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_cli(
        *"run --env memory --space mobile --size 360x640 --goal".split(),
        "Open Clock",
        "--model",
        str(checkpoint("qwen2.5-vl")),
        *"--max-steps 1 --max-new-tokens 8 --out".split(),
        str(out),
        timeout=180,
    )
    assert result.returncode == 1, result.stderr
    assert "dialect qwen2.5-vl" in result.stdout
    header, step, _ = read_lines(out)
    assert header["model"]["options"]["resize"] == {
        "factor": 28,
        "min_pixels": 3136,
        "max_pixels": 1280 * 28 * 28,
    }
    assert step["frame"] == [364, 644]  # 360x640 as the processor resizes it


@pytest.mark.parametrize(
    ("family", "max_pixels"),
    [("qwen2.5-vl", None), ("qwen2.5-vl", 200_000), ("qwen3-vl", None), ("qwen2-vl", 100_000)],
)
def test_the_dialect_frame_is_what_the_processor_produced(
    family: str, max_pixels: int | None, checkpoint: Checkpoint
) -> None:
    runtime = TransformersRuntime(str(checkpoint(family)), RuntimeOptions(max_pixels=max_pixels))
    assert runtime.resize is not None
    image_processor = runtime.processor.image_processor
    for size in [(720, 1280), (1920, 1080), (1080, 2400), (333, 777)]:
        grid = runtime.processor(
            text=["x<|vision_start|><|image_pad|><|vision_end|>"],
            images=[Image.new("RGB", size)],
            return_tensors="pt",
        )["image_grid_thw"][0]
        produced = (
            int(grid[2]) * image_processor.patch_size,
            int(grid[1]) * image_processor.patch_size,
        )
        assert runtime.resize.resized(size) == produced
        dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
        if dialect.pixel_space:
            assert (dialect.frame_for(size).width, dialect.frame_for(size).height) == produced


def _screens() -> list[Image.Image]:
    images = []
    for i, colour in enumerate(["white", "black", "navy"]):
        image = Image.new("RGB", (320 + 64 * i, 240), colour)
        ImageDraw.Draw(image).rectangle([10 * i, 10, 100, 60], fill="orange")
        images.append(image)
    return images


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_generation_matches_one_at_a_time(family: str, checkpoint: Checkpoint) -> None:
    runtime = TransformersRuntime(str(checkpoint(family)), RuntimeOptions(max_new_tokens=10))
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    goals = ["Tap OK", "Open the settings of the phone", "x"]
    prompts = [
        dialect.render(g, [], image, computer_tools()) for g, image in zip(goals, _screens())
    ]
    batched = runtime.generate(prompts)
    alone = [runtime.generate([p])[0] for p in prompts]
    assert [c.text for c in batched] == [c.text for c in alone]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in alone]
    assert [c.prompt_tokens for c in batched] == [c.prompt_tokens for c in alone]


@pytest.mark.parametrize("family", ["idefics2", "llava-onevision", "qwen2.5-vl"])
def test_constrained_json_answers_always_validate(family: str, checkpoint: Checkpoint) -> None:
    pytest.importorskip("xgrammar") if os.environ.get("CI") != "true" else None
    runtime = TransformersRuntime(
        str(checkpoint(family)), RuntimeOptions(max_new_tokens=400, constrained="on")
    )
    dialect = get_dialect("json")
    for tools in (mobile_tools(), computer_tools()):
        images = (
            _screens() if family != "llava-onevision" else [i.resize((96, 96)) for i in _screens()]
        )
        prompts = [
            dialect.render(goal, [], image, tools)
            for goal, image in zip(["Tap OK", "Type hello", "Go home"], images)
        ]
        for completion in runtime.generate(prompts):
            calls = dialect.parse(completion.text, prompts[0].frame, tools)
            tools.validate(calls[0])  # raises if the grammar let anything invalid through


def test_unconstrained_random_answers_do_not_parse(checkpoint: Checkpoint) -> None:
    """The other side of the constrained test: without the grammar a random model's text is
    noise."""
    runtime = TransformersRuntime(
        str(checkpoint("idefics2")), RuntimeOptions(max_new_tokens=20, constrained="off")
    )
    prompt = get_dialect("json").render("Tap OK", [], _screens()[0], mobile_tools())
    text = runtime.generate([prompt])[0].text
    with pytest.raises(Exception):  # noqa: B017 (ParseError or ToolError: either shows noise)
        mobile_tools().validate(get_dialect("json").parse(text, prompt.frame, mobile_tools())[0])


def test_sampling_with_a_seed_repeats(checkpoint: Checkpoint) -> None:
    options = RuntimeOptions(max_new_tokens=12, temperature=1.0, seed=7)
    runtime = TransformersRuntime(str(checkpoint("qwen2-vl")), options)
    prompt = get_dialect("qwen2-vl").render("Tap OK", [], _screens()[0], mobile_tools())
    assert runtime.generate([prompt])[0].text == runtime.generate([prompt])[0].text


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("./no/such/folder", "no model folder './no/such/folder'"),
        ("nobody/no-such-model-xyz", "(hf download nobody/no-such-model-xyz)"),
    ],
)
def test_a_model_that_cannot_load_is_one_line(
    model: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never reach for the network in tests
    result = run_cli(
        "run", "--env", "memory", "--goal", "g", "--model", model, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_a_folder_that_is_not_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli(
        *"run --env memory --goal g --model".split(),
        str(tmp_path / "empty"),
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 3
    assert (
        result.stderr.startswith("error: cannot load")
        and len(result.stderr.strip().splitlines()) == 1
    )


def test_a_forced_dialect_and_bad_runtime_options(checkpoint: Checkpoint, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(
        [
            *"run --env memory --size 320x240 --goal g --model".split(),
            str(checkpoint("qwen2.5-vl")),
            *"--dialect json --max-steps 1 --max-new-tokens 4 --out".split(),
            str(out),
        ]
    )
    assert code == 1 and read_lines(out)[0]["dialect"] == "json"
    assert main(["run", "--env", "memory", "--goal", "g", "--dtype", "fp8"]) == 2
    assert (
        main(
            [
                *"run --env memory --goal g --model".split(),
                str(checkpoint("qwen2-vl")),
                "--dialect",
                "nope",
            ]
        )
        == 3
    )


def test_a_template_that_fails_with_tools_falls_back_and_says_so(
    checkpoint: Checkpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    folder = tmp_path / "strict-template"
    shutil.copytree(checkpoint("qwen2.5-vl"), folder)
    template = folder / "chat_template.jinja"
    template.write_text(
        '{%- if tools %}{{ raise_exception("tools are not supported") }}{%- endif %}'
        + template.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    with caplog.at_level("INFO", logger="vlagent.local"):
        runtime = TransformersRuntime(str(folder))
    assert runtime.template_takes_tools is False
    assert "fails when given tools" in caplog.text and "tools are not supported" in caplog.text
    prompt = get_dialect("qwen2.5-vl").render("g", [], Image.new("RGB", (64, 64)), mobile_tools())
    assert '"name": "mobile_use"' in runtime.chat_text(prompt)
