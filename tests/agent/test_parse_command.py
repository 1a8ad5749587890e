"""``agent parse`` (why did it click there?) and ``agent models``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlagent.agent.cli import main

COOKBOOK = (
    '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", '
    '"coordinate": [639, 1095]}}\n</tool_call>'
)


def parse(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    code = main(["parse", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else {}), err


def test_the_cookbook_answer_in_screen_pixels(capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _ = parse(capsys, "--dialect", "qwen2.5-vl", "--screen", "720x1280", COOKBOOK)
    assert code == 0
    assert result["model_image"] == {"width": 728, "height": 1288}
    (call,) = result["calls"]
    assert call["model"]["coordinate"] == [639, 1095]
    x, y = call["screen"]["coordinate"]
    assert x == pytest.approx(631.9, abs=0.5) and y == pytest.approx(1088.2, abs=0.5)
    assert call["normalized"]["coordinate"] == pytest.approx([639 / 728, 1095 / 1288], abs=1e-6)


def test_a_smaller_budget_and_hidpi_move_the_point(capsys: pytest.CaptureFixture[str]) -> None:
    text = '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [294, 168]}}'  # noqa: E501
    code, result, _ = parse(
        capsys,
        *"--dialect qwen2.5-vl --screen 1920x1080 --max-pixels".split(),
        str(256 * 28 * 28),
        "--scale",
        "2",
        text,
    )
    assert code == 0
    assert result["frame"] == {"width": 588, "height": 336}
    assert result["calls"][0]["screen"]["coordinate"] == pytest.approx([1920, 1080])  # centre × 2


def test_every_call_of_a_ui_tars_answer(capsys: pytest.CaptureFixture[str]) -> None:
    text = "Thought: two\nAction: click(start_box='(235,512)')\n\ntype(content='hi')"
    code, result, _ = parse(
        capsys, "--dialect", "ui-tars", "--screen", "1920x1080", "--space", "computer", text
    )
    assert code == 0
    assert [c["model"]["action"] for c in result["calls"]] == ["left_click", "type"]
    assert result["calls"][0]["screen"]["coordinate"] == pytest.approx([451.2, 552.96], abs=0.01)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--dialect", "qwen2-vl", "--screen", "100x100", "I would tap it"],
            1,
            "error: parse: no tool call found",
        ),
        (
            [
                *"--dialect qwen2-vl --screen 100x100".split(),
                '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": '
                "[5, 1001]}}",
            ],
            1,
            "error: validation: mobile_use: 'coordinate' [5, 1001] is outside the screen",
        ),
        (
            ["--dialect", "klingon", "--screen", "100x100", "x"],
            2,
            "error: unknown dialect 'klingon'",
        ),
        (
            ["--dialect", "json", "--screen", "wide", "x"],
            2,
            "error: --screen: size 'wide' is not WIDTHxHEIGHT",
        ),
        (
            ["--dialect", "json", "--screen", "1x1", "--space", "robot", "x"],
            2,
            "error: --space must be computer or mobile",
        ),
    ],
)
def test_invalid_text_or_flags_exit_non_zero_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    got, _, err = parse(capsys, *args)
    assert got == code
    assert err.startswith(message) and len(err.strip().splitlines()) == 1


def test_text_from_stdin() -> None:
    result = subprocess.run(
        [
            sys.executable,
            *"-m vlagent.agent parse --dialect qwen2-vl --screen 1920x1080 -".split(),
        ],
        input=COOKBOOK.replace("639, 1095", "500, 500"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["calls"][0]["screen"]["coordinate"] == [960, 540]


def test_models_lists_every_family_with_its_dialect_and_space(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert set(lines) == {
        *"qwen2-vl qwen2.5-vl qwen3-vl ui-tars ui-tars-1.5 llava-onevision idefics2".split(),
    }
    assert (
        "dialect qwen2.5-vl · pixels of the resized image · max 1,003,520 px (1,280 tokens"
        in lines["qwen2.5-vl"]
    )
    assert "dialect json · relative 0–1000" in lines["idefics2"]


def test_a_scripted_run_reads_answers_under_the_given_budget(
    tmp_path: pytest.TempPathFactory,
) -> None:
    """Replaying a model's answers (a bug report) needs the budget the model ran with."""
    from pathlib import Path

    script = Path(str(tmp_path)) / "answers.txt"
    script.write_text(
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": '
        '[294, 168]}}</tool_call>\n---\n<tool_call>{"name": "computer_use", "arguments": '
        '{"action": "terminate", "status": "success"}}</tool_call>\n'
    )
    out = Path(str(tmp_path)) / "run"
    code = main(
        [
            *"run --env memory --size 1920x1080 --goal g --model".split(),
            f"scripted:{script}",
            "--dialect",
            "qwen2.5-vl",
            "--max-pixels",
            str(256 * 28 * 28),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    step = json.loads((out / "trajectory.jsonl").read_text().splitlines()[1])
    assert step["frame"] == [588, 336]
    assert step["action"]["device"]["coordinate"] == pytest.approx([960, 540])


def test_agent_parse_is_string_work_without_torch(tmp_path: Path) -> None:
    """Cold, in a fresh interpreter: no torch, no transformers; the budget and frame are named."""
    import subprocess
    import sys

    code = (
        "import sys, json, io, contextlib\n"
        "from vlagent.agent.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    main(['parse', '--dialect', 'qwen2.5-vl', '--screen', '720x1280', '--max-pixels', "
        "'12845056',\n"
        '          \'<tool_call>{"name": "mobile_use", "arguments": {"action": "click", '
        '"coordinate": [639, 1095]}}</tool_call>\'])\n'
        "print(json.dumps({'heavy': [m for m in ('torch', 'transformers') if m in sys.modules],\n"
        "                  'result': json.loads(out.getvalue())}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stdout)
    assert report["heavy"] == []
    result = report["result"]
    assert result["pixel_budget"] == {"factor": 28, "min_pixels": 3136, "max_pixels": 12845056}
    assert result["frame"] == {"width": 728, "height": 1288}
