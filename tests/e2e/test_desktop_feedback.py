"""The desktop shows the model what its action did, on a private Xvfb with Chromium and zenity
(GTK) and no window manager: the keyboard goes where the click went, the screenshot after an
action shows its effect, and a launched program that exits ends the run, saying so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import assert_schema_valid, run_cli, serve_page, tool_call, write_script
from tests.environments.test_desktop import find_colour, wait_for
from vlagent.environments.base import ActionResult
from vlagent.environments.desktop import DesktopEnvironment
from vlagent.environments.xvfb import Xvfb
from vlagent.tools import ToolCall, computer_tools

W, H = 1280, 800
MAGENTA, CYAN, GREEN = (255, 0, 255), (0, 255, 255), (0, 255, 0)


def programs(*names: str) -> None:
    """Skip locally when a system program is missing; under CI=true that is a failure."""
    missing = [p for p in names if shutil.which(p) is None]
    if missing:
        message = f"needs {', '.join(missing)} (apt-get install xvfb chromium zenity)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def screen() -> Iterator[str]:
    programs("Xvfb")
    xvfb = Xvfb(W, H)
    yield xvfb.display
    xvfb.stop()


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>page</title><style>
body{margin:0;background:#fff} #go{position:absolute;left:80px;top:80px;width:240px;height:80px;
background:#ff00ff;border:0;font-size:20px} #field{position:absolute;left:80px;top:240px;
width:400px;height:40px;font-size:20px;border:3px solid #00ff00;outline:none}</style></head>
<body><button id="go">Go</button><input id="field"><script>
var go=document.getElementById('go'), field=document.getElementById('field');
go.onclick=function(){var on=go.textContent==='Go';go.textContent=on?'Done':'Go';
  go.style.background=on?'#00ffff':'#ff00ff';};
field.oninput=function(){postState({value:field.value});};
</script></body></html>"""


@pytest.fixture
def page() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with serve_page(PAGE) as served:
        yield served


def chromium(url: str, profile: Path) -> str:
    return (
        "chromium --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
        "--disable-component-update --disable-sync --test-type --window-position=0,0 "
        f"--window-size={W},{H} --user-data-dir={profile} --app={url}"
    )


def act(env: DesktopEnvironment, **arguments: Any) -> ActionResult:
    """Validate like a run does (pixel points → normalized), then execute."""
    if "coordinate" in arguments:
        arguments["coordinate"] = [arguments["coordinate"][0] / W, arguments["coordinate"][1] / H]
    result = env.execute(computer_tools().validate(ToolCall("computer_use", arguments)))
    assert result.executed, result.message
    return result


def window_of(env: DesktopEnvironment, app: str) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the shown top-level window of class ``app``, as X has it."""
    root = env._x_display.screen().root
    for window in root.query_tree().children:
        names = window.get_wm_class()
        if names and names[1] == app and window.get_attributes().map_state == 2:
            box = window.get_geometry()
            return (box.x, box.y, box.width, box.height)
    return None


def centre(box: tuple[int, int, int, int]) -> list[int]:
    return [box[0] + box[2] // 2, box[1] + box[3] // 2]


def test_a_dialog_opened_over_chromium_gets_the_keyboard_when_it_is_clicked(
    screen: str, page: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    programs("chromium", "zenity")
    url, reports = page
    env = DesktopEnvironment(display=screen, launch=chromium(url, tmp_path / "profile"))
    dialog: subprocess.Popen[str] | None = None
    try:
        field = wait_for(lambda: _found(env, GREEN), lambda p: p is not None, 20)
        assert field is not None, "the page did not appear"
        act(env, action="left_click", coordinate=list(field))
        act(env, action="type", text="abc")
        assert wait_for(lambda: reports, lambda r: bool(r) and r[-1]["value"] == "abc", 10)
        assert env.observe().metadata["foreground"] == "Chromium"  # Chromium took the focus
        dialog = subprocess.Popen(
            ["zenity", "--entry", "--text=Your name"],
            env=env._child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        box = wait_for(lambda: window_of(env, "Zenity"), lambda b: b is not None, 20)
        assert box is not None, "the dialog did not appear"
        clicked = act(env, action="left_click", coordinate=centre(box))
        assert clicked.data["foreground"] == "Zenity"  # the step records who has the keyboard
        assert env.observe().metadata["foreground"] == "Zenity"
        act(env, action="key", keys=["ctrl", "a"])
        act(env, action="type", text="Ada Lovelace")
        act(env, action="key", keys=["enter"])
        answer, _ = dialog.communicate(timeout=15)
        assert answer.strip() == "Ada Lovelace" and dialog.returncode == 0
        # Nothing went into the field behind the dialog.
        assert [r["value"] for r in reports] == ["a", "ab", "abc"]
    finally:
        if dialog is not None and dialog.poll() is None:
            dialog.kill()
            dialog.wait()
        env.close()


def _found(env: DesktopEnvironment, colour: tuple[int, int, int]) -> tuple[int, int] | None:
    try:
        return find_colour(env, colour)
    except AssertionError:
        return None


def test_the_screenshot_after_a_click_shows_what_the_click_did(
    screen: str, page: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    programs("chromium")
    url, _ = page
    env = DesktopEnvironment(display=screen, launch=chromium(url, tmp_path / "profile"))
    try:
        button = wait_for(lambda: _found(env, MAGENTA), lambda p: p is not None, 20)
        assert button is not None, "the page did not appear"
        corner = (button[0] - 100, button[1] - 30)  # inside the 240x80 button, off its text
        for colour in (CYAN, MAGENTA, CYAN):  # each click toggles the button's colour and text
            before = env.observe().image
            result = act(env, action="left_click", coordinate=list(button))
            after = env.observe().image  # the next step's screenshot, taken at once
            assert after.getpixel(corner)[:3] == colour
            assert after.tobytes() != before.tobytes()
            assert result.data["settle"]["outcome"] == "changed"
    finally:
        env.close()


def test_the_screenshot_after_enter_shows_the_dialog_gone(screen: str) -> None:
    programs("zenity")
    env = DesktopEnvironment(
        display=screen, launch="zenity --entry --text=Name", launch_exit="continue"
    )
    try:
        box = window_of(env, "Zenity")
        assert box is not None
        assert _shows_window(env.observe().image, box)
        act(env, action="left_click", coordinate=centre(box))
        act(env, action="type", text="x")
        result = act(env, action="key", keys=["enter"])
        assert result.data["settle"]["outcome"] == "changed"
        assert not _shows_window(env.observe().image, box)  # the next screenshot: no dialog
        # --launch-exit continue: the model reads of the exit once, and the run goes on.
        following = act(env, action="mouse_move", coordinate=[10, 10])
        told = [r for r in (result, following) if "exited with code 0" in r.message]
        assert len(told) == 1 and not told[0].ok
        assert result.ends is None and following.ends is None
        assert act(env, action="mouse_move", coordinate=[20, 20]).ok  # told once
    finally:
        env.close()


def _shows_window(image: Image.Image, box: tuple[int, int, int, int]) -> bool:
    """Whether anything but the bare root (one colour, as the corner shows it) is in ``box``."""
    x, y, width, height = box
    region = image.crop((x, y, x + width, y + height))
    background = Image.new("RGB", region.size, image.getpixel((0, 0)))
    return region.tobytes() != background.tobytes()


def test_a_launched_program_that_exits_ends_the_run_saying_so(tmp_path: Path) -> None:
    programs("Xvfb", "zenity")
    script = write_script(
        tmp_path / "answers.txt",
        [
            tool_call("computer_use", action="key", keys=["enter"]),  # closes the dialog
            tool_call("computer_use", action="left_click", coordinate=[500, 500]),
            tool_call("computer_use", action="left_click", coordinate=[500, 500]),
            tool_call("computer_use", action="terminate", status="success"),
        ],
    )
    command = "zenity --info --text=Done"
    out = tmp_path / "run"
    result = run_cli(
        *"run --env desktop --xvfb 1280x800 --launch".split(),
        command,
        *"--goal close --model".split(),
        f"scripted:{script}",
        "--out",
        str(out),
        timeout=120,
    )
    lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
    assert_schema_valid(lines)
    header, steps, end = lines[0], lines[1:-1], lines[-1]
    assert header["environment"]["launch"] == command
    assert header["environment"]["launch_exit"] == "end"
    assert end["status"] == "failure", result.stdout + result.stderr
    assert f"the launched program ({command}) exited with code 0" in end["reason"]
    # It ended at the exit: the Enter, and at most one more action not executed.
    assert steps[0]["action"]["model"]["action"] == "key" and len(steps) <= 2
    assert all(not s["result"]["executed"] for s in steps[1:])
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "exited with code 0" in report and "zenity --info --text=Done" in report
