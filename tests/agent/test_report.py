"""HTML reports: self-contained, rendered by headless Chromium with no network."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import tool_call, write_script
from vlagent.agent.cli import main
from vlagent.agent.outputs.report import overlay, render_run_report


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs chromium (apt-get install chromium)")
        pytest.skip("needs chromium")
    return subprocess.run(
        [
            binary,
            *"--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update --disable-sync".split(),
            f"--user-data-dir={tmp / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    script = write_script(
        tmp_path / "answers.txt",
        [
            tool_call(action="click", coordinate=[500, 250]),
            tool_call(action="swipe", coordinate=[500, 800], coordinate2=[500, 200]),
            tool_call(action="type", text='héllo <b>&"x"'),
            "I am not sure.",  # a parse error, shown as such
            tool_call(action="terminate", status="success"),
        ],
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                *"run --env memory --space mobile --size 360x640 --goal".split(),
                "Report me",
                "--model",
                f"scripted:{script}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_agent_run_writes_the_report_and_says_where(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (run_dir / "report.html").exists()


def test_the_report_renders_offline_with_one_screenshot_and_overlay_per_step(
    run_dir: Path, tmp_path: Path
) -> None:
    page = render_run_report(run_dir)
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    dom = chromium("--dump-dom", page.as_uri(), tmp=tmp_path).stdout
    assert dom.count('class="screen"') == 5  # five steps, five screenshots
    assert dom.count('class="overlay"') == 4  # the step whose answer did not parse has no action
    assert dom.count('class="click"') == 1 and dom.count('class="arrow"') == 1
    assert '⌨ héllo &lt;b&gt;&amp;"x"' in dom  # typed text, escaped, on the screenshot
    assert "parse error" in dom and 'id="status"' in dom and ">success<" in dom
    shot = tmp_path / "page.png"
    chromium(f"--screenshot={shot}", "--window-size=1000,800", page.as_uri(), tmp=tmp_path)
    rendered = Image.open(shot).convert("L")
    assert rendered.getextrema()[0] < 100  # something dark was drawn: text, images, marks


def test_overlay_marks() -> None:
    click = overlay({"action": "click", "coordinate": [0.5, 0.25]}, (400, 800))
    assert 'cx="200.0" cy="200.0"' in click and 'class="click"' in click
    drag = overlay(
        {"action": "left_click_drag", "start_coordinate": [0.1, 0.1], "coordinate": [0.9, 0.9]},
        (100, 100),
    )
    assert 'x1="10.0" y1="10.0" x2="90.0" y2="90.0"' in drag
    assert "key: ctrl + c" in overlay({"action": "key", "keys": ["ctrl", "c"]}, (100, 100))
    assert overlay(None, (10, 10)) == ""


def test_agent_report_on_a_broken_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 3
    assert "no trajectory at" in capsys.readouterr().err


LAYOUT_PROBE = """<script>
const right = Math.max(...[...document.querySelectorAll('.info, figure')].map(e => e.getBoundingClientRect().right));
document.title = 'layout ' + Math.ceil(right) + ' ' + document.documentElement.scrollWidth;
</script>"""


def test_a_landscape_run_fits_a_1280_pixel_window(tmp_path: Path) -> None:
    """A 1280x800 desktop run: screenshot and step details side by side within the window, no
    horizontal scrolling (the details were off-screen before)."""
    script = write_script(
        tmp_path / "answers.txt",
        [
            tool_call("computer_use", action="left_click", coordinate=[640, 400]),
            tool_call("computer_use", action="terminate", status="success"),
        ],
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                *"run --env memory --space computer --size 1280x800 --goal wide --model".split(),
                f"scripted:{script}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = render_run_report(out).read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"  # the report forbids scripts (CSP): a copy without it measures
    probe.write_text(
        text.replace(
            text[
                text.index("<meta http-equiv") : text.index('">', text.index("<meta http-equiv"))
                + 2
            ],
            "",
        ).replace("</body>", LAYOUT_PROBE + "</body>"),
        encoding="utf-8",
    )
    dom = chromium("--dump-dom", "--window-size=1280,800", probe.as_uri(), tmp=tmp_path).stdout
    right, scroll_width = map(int, dom.split("<title>layout ", 1)[1].split("<", 1)[0].split())
    assert right <= 1280 and scroll_width <= 1280, (right, scroll_width)


@pytest.mark.parametrize("size", [(1, 20000), (20000, 1), (70000, 2), (1, 1), (3, 65501)], ids=str)
def test_a_screenshot_of_any_readable_size_is_drawn_or_named_never_fatal(
    run_dir: Path, size: tuple[int, int]
) -> None:
    """A valid image of an extreme shape costs its own figure at most, never the report."""
    run = run_dir
    Image.new("RGB", size, (10, 20, 30)).save(run / "screens" / "000001.png")
    page = Path(render_run_report(run)).read_text()
    assert page.count('class="screen"') + page.count("is unreadable") >= 4
