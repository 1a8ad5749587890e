"""A recording damaged on disk: replay refuses it in one line that names the file and the line
(or the screenshot), before acting on anything; the report draws what it can and says what it
cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlagent.agent.cli import exitcodes, main

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "tap-type-done.txt"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert (
        main(
            [
                *"run --env memory --space mobile --goal".split(),
                "Type a greeting",
                "--model",
                f"scripted:{EXAMPLE}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_a_damaged_middle_line_stops_replay_before_it_starts(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(run), "--speed", "0"]) == 0  # intact, it replays
    file = run / "trajectory.jsonl"
    lines = file.read_text().splitlines(keepends=True)
    assert len(lines) >= 4  # header, steps, end
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"  # the second step, cut in half
    file.write_text("".join(lines))
    capsys.readouterr()
    assert main(["replay", str(run), "--speed", "0"]) == exitcodes.SETUP
    err = capsys.readouterr().err.strip()
    assert f"{file} line 3: unreadable" in err and "replay needs every recorded step" in err
    assert len(err.splitlines()) == 1


def test_a_corrupt_screenshot_is_one_clear_error(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = sorted((run / "screens").glob("*.png"))[1]
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    capsys.readouterr()
    assert main(["replay", str(run), "--speed", "0"]) == exitcodes.SETUP
    err = capsys.readouterr().err.strip()
    assert str(shot) in err and "is damaged" in err and "--no-check" in err
    assert len(err.splitlines()) == 1


def test_the_report_draws_what_it_can_and_marks_the_rest(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = sorted((run / "screens").glob("*.png"))
    shots[1].write_bytes(b"garbage")
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert f"screenshot {shots[1].name} is unreadable" in page
    assert page.count('<img class="screen"') == len(shots) - 1
