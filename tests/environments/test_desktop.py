"""The desktop environment on a real X server (Xvfb started by the tests) driving real programs:
a Tk app written for the tests and Chromium showing a local page."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serve_page
from vlagent.environments import EnvironmentUnavailable, check_environment
from vlagent.environments.desktop import DesktopEnvironment
from vlagent.environments.desktop_input import wheel_clicks
from vlagent.environments.xvfb import Xvfb
from vlagent.tools import ComputerUse, ToolCall, computer_tools

APP = Path(__file__).parent / "apps" / "tk_app.py"
W, H = 1280, 800


def require(*programs: str) -> None:
    """Skip locally when a system program is missing; under CI=true that is a failure."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        message = f"needs {', '.join(missing)} (apt-get install xvfb xclip chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    require("Xvfb", "xclip")
    screen = Xvfb(W, H)
    yield screen.display
    screen.stop()


def wait_for(read: Callable[[], Any], check: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    value = read()
    while not check(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


class TkApp:
    def __init__(self, state: Path) -> None:
        self.path = state

    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    def until(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        return wait_for(self.state, lambda s: bool(s) and check(s), timeout)  # type: ignore[no-any-return]


@pytest.fixture
def tk(display: str, tmp_path: Path) -> Iterator[tuple[DesktopEnvironment, TkApp]]:
    app = TkApp(tmp_path / "state.json")
    env = DesktopEnvironment(display=display, launch=f"{sys.executable} {APP} {app.path}")
    assert app.until(lambda s: s["ready"]), "the Tk app did not start"
    yield env, app
    env.close()


def act(env: DesktopEnvironment, **arguments: Any) -> None:
    """Validate like a run does (pixel points → normalized), then execute."""
    for key in ("coordinate", "start_coordinate"):
        if key in arguments:
            arguments[key] = [arguments[key][0] / W, arguments[key][1] / H]
    action = computer_tools().validate(ToolCall("computer_use", arguments))
    result = env.execute(action)
    assert result.ok, result.message


# -- observing -------------------------------------------------------------------------------


def test_observe_sees_the_app(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, _ = tk
    obs = env.observe()
    assert obs.size == (W, H) and obs.scale == 1.0
    assert obs.image.getpixel((240, 140))[:3] == (0xCC, 0xDD, 0xEE)  # the click pad
    assert obs.metadata["physical_size"] == [W, H]
    check_environment(env)


def test_the_app_in_front_is_named_and_reaches_the_models_prompt(
    tk: tuple[DesktopEnvironment, TkApp],
) -> None:
    from vlagent.agent.core.loop import Agent
    from vlagent.agent.runtimes.function import FunctionRuntime
    from vlagent.prompts import Prompt, get_dialect

    env, _ = tk
    assert env.observe().metadata["foreground"] == "Tk"  # WM_CLASS of the window in front
    seen: list[object] = []

    def model(prompt: Prompt) -> str:
        seen.append(prompt.metadata.get("foreground"))
        return '<tool_call>{"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}}</tool_call>'

    assert (
        Agent(FunctionRuntime(model), get_dialect("qwen2-vl"), env).run("look").status == "success"
    )
    assert seen == ["Tk"]


# -- every action kind -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "button", "count"),
    [
        ("left_click", 1, 1),
        ("right_click", 3, 1),
        ("middle_click", 2, 1),
        ("double_click", 1, 2),
        ("triple_click", 1, 3),
    ],
)
def test_clicks(tk: tuple[DesktopEnvironment, TkApp], action: str, button: int, count: int) -> None:
    env, app = tk
    act(env, action=action, coordinate=[240, 140])
    state = app.until(lambda s: any(c["count"] == count for c in s["clicks"]))
    hits = [c for c in state["clicks"] if c["button"] == button]
    assert hits and all((c["x"], c["y"]) == (240, 140) for c in hits)
    # Tk reports the presses of a multi-click as single, double, triple: no stray extra clicks.
    assert [c["count"] for c in state["clicks"]] == list(range(1, count + 1))


def test_a_click_without_a_point_clicks_where_the_pointer_is(
    tk: tuple[DesktopEnvironment, TkApp],
) -> None:
    env, app = tk
    act(env, action="mouse_move", coordinate=[100, 100])
    assert app.until(lambda s: s["pointer"] == [100, 100])["pointer"] == [100, 100]
    act(env, action="left_click")
    assert app.until(lambda s: s["clicks"])["clicks"][0]["x"] == 100


def test_drag_from_a_start_point_and_from_the_pointer(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, app = tk
    act(env, action="left_click_drag", start_coordinate=[100, 450], coordinate=[500, 700])
    state = app.until(lambda s: len(s["drags"]) == 1)
    assert state["drags"][0]["start"] == [100, 450] and state["drags"][0]["end"] == [500, 700]
    assert state["drags"][0]["motions"] >= 5  # the app saw the pointer travel
    act(env, action="mouse_move", coordinate=[300, 500])
    act(env, action="left_click_drag", coordinate=[320, 600])
    drags = app.until(lambda s: len(s["drags"]) == 2)["drags"]
    assert drags[1]["start"] == [300, 500] and drags[1]["end"] == [320, 600]


def test_scroll_down_then_up(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, app = tk
    act(env, action="scroll", pixels=-500, coordinate=[850, 190])  # 5 wheel clicks down
    down = app.until(lambda s: s["first_line"] > 0)["first_line"]
    assert down > 0
    act(env, action="scroll", pixels=300, coordinate=[850, 190])
    assert 0 <= app.until(lambda s: s["first_line"] < down)["first_line"] < down


def test_hscroll_right_and_left(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, app = tk
    act(env, action="hscroll", pixels=200, coordinate=[850, 450])
    assert app.until(lambda s: len(s["hwheel"]) == 2)["hwheel"] == [7, 7]  # button 7: right
    act(env, action="hscroll", pixels=-100, coordinate=[850, 450])
    assert app.until(lambda s: len(s["hwheel"]) == 3)["hwheel"][-1] == 6


def test_wheel_clicks_mapping() -> None:
    assert [wheel_clicks(p) for p in (0, 1, 49, 100, 149, 151, -30, -250)] == [
        0,
        1,
        1,
        1,
        1,
        2,
        -1,
        -2,
    ]


def test_key_combination(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, app = tk
    act(env, action="key", keys=["Control", "shift", "t"])
    act(env, action="key", keys=["F5"])
    keys = app.until(lambda s: len(s["keys"]) >= 2)["keys"]
    assert keys[:2] == ["ctrl+shift+T", "F5"]


def test_typing_unicode_and_special_characters_arrives_exactly(
    tk: tuple[DesktopEnvironment, TkApp],
) -> None:
    env, app = tk
    act(env, action="left_click", coordinate=[300, 320])
    text = 'héllo 你好 <a & "b"> 😀'
    act(env, action="type", text=text)
    assert app.until(lambda s: s["text"] == text)["text"] == text


def test_a_newline_in_typed_text_presses_enter(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, app = tk
    act(env, action="left_click", coordinate=[300, 320])
    act(env, action="type", text="one\n")
    state = app.until(lambda s: "Return" in s["keys"])
    assert state["text"] == "one" and "Return" in state["keys"]


def test_settle_waits_for_an_animation_to_end(display: str, tmp_path: Path) -> None:
    app = TkApp(tmp_path / "state.json")
    env = DesktopEnvironment(
        display=display, settle=3.0, launch=f"{sys.executable} {APP} {app.path}"
    )
    try:
        assert app.until(lambda s: s["ready"])
        started = time.monotonic()
        act(env, action="left_click", coordinate=[560, 90])
        assert time.monotonic() - started >= 0.5  # the animation runs 500 ms
        assert env.observe().image.getpixel((560, 90))[:3] == (0x33, 0xAA, 0x33)  # its last frame
    finally:
        env.close()


def test_without_settle_the_next_observation_comes_at_once(
    tk: tuple[DesktopEnvironment, TkApp],
) -> None:
    env, _ = tk
    env.settle = 0.0  # --settle 0 (the default waits: tests/e2e/test_desktop_feedback.py)
    act(env, action="left_click", coordinate=[560, 90])
    assert env.observe().image.getpixel((560, 90))[:3] != (0x33, 0xAA, 0x33)


def test_wait_waits(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, _ = tk
    started = time.monotonic()
    act(env, action="wait", time=0.3)
    assert time.monotonic() - started >= 0.3


def test_points_off_the_monitor_never_reach_the_input_library(
    tk: tuple[DesktopEnvironment, TkApp],
) -> None:
    env, app = tk
    off = ComputerUse.model_construct(
        action="left_click", coordinate=(1.2, 0.5)
    )  # skips validation
    result = env.execute(off)
    assert not result.ok and not result.executed and "outside the screen" in result.message
    time.sleep(0.3)
    assert app.state()["clicks"] == []


# -- failure modes -----------------------------------------------------------------------------


def test_an_unreachable_display_is_one_line_saying_what_to_do() -> None:
    require("Xvfb")
    with pytest.raises(EnvironmentUnavailable, match=r"cannot open display :919.*--xvfb 1280x800"):
        DesktopEnvironment(display=":919")


def test_no_display_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(EnvironmentUnavailable, match="no display: set DISPLAY.*--xvfb 1280x800"):
        DesktopEnvironment()


def test_the_fail_safe_corner_aborts_a_run_on_a_real_desktop(
    tk: tuple[DesktopEnvironment, TkApp], tmp_path: Path
) -> None:
    from vlagent.agent.core.loop import Agent
    from vlagent.agent.runtimes import ScriptedRuntime
    from vlagent.agent.trajectory import Recorder, read_trajectory
    from vlagent.prompts import get_dialect

    env, _ = tk  # a display passed by name counts as a real desktop: fail-safe on
    answers = [
        '<tool_call>{"name": "computer_use", "arguments": {"action": "mouse_move", "coordinate": '
        "[0, 0]}}</tool_call>",
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": '
        "[500, 500]}}</tool_call>",
    ]
    result = Agent(
        ScriptedRuntime(answers), get_dialect("qwen2-vl"), env, recorder=Recorder(tmp_path / "run")
    ).run("move to the corner")
    assert result.status == "aborted" and "fail-safe" in result.reason
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.end is not None and trajectory.end.status == "aborted"
    # The step the fail-safe stopped is recorded too, as not executed, with the reason.
    assert [s.action.model["action"] for s in trajectory.steps if s.action] == [
        "mouse_move",
        "left_click",
    ]
    stopped = trajectory.steps[1].result
    assert stopped is not None and not stopped.executed and "screen corner" in stopped.message
    assert "screen corner" in trajectory.end.reason
    with env._driving():  # on this display's connection, not the one pyautogui opened first
        env._gui.FAILSAFE = False  # leave the pointer where the next test can use the display
        env._gui.moveTo(W // 2, H // 2)


def test_a_private_xvfb_is_started_and_stopped() -> None:
    require("Xvfb", "xclip")
    env = DesktopEnvironment(xvfb="640x480")
    try:
        assert env.observe().size == (640, 480)
        assert env.describe()["private_xvfb"] is True and env.describe()["fail_safe"] is False
        process = env._xvfb.process  # type: ignore[union-attr]
    finally:
        env.close()
    assert process.poll() is not None


# -- Chromium ----------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>start</title>
<style>body{margin:0;background:#fff} #go{position:absolute;left:80px;top:80px;width:240px;height:80px;
background:#ff00ff;border:0} #field{position:absolute;left:80px;top:240px;width:400px;height:40px;
font-size:20px;border:3px solid #00ff00;outline:none}</style></head><body>
<button id="go">Go</button><input id="field">
<script>
function report(){postState(
  {title:document.title,value:document.getElementById('field').value});}
document.getElementById('go').onclick=function(){document.title='clicked';report();};
document.getElementById('field').oninput=report;
</script></body></html>"""


@pytest.fixture
def page() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with serve_page(PAGE) as served:
        yield served


def find_colour(env: DesktopEnvironment, colour: tuple[int, int, int]) -> tuple[int, int]:
    """The centre of the region painted ``colour``: the test finds things on screen as a model
    does."""
    image = env.observe().image
    pixels = image.load()
    assert pixels is not None
    xs, ys = [], []
    for y in range(0, image.height, 4):
        for x in range(0, image.width, 4):
            if pixels[x, y][:3] == colour:
                xs.append(x)
                ys.append(y)
    assert xs, f"no {colour} on screen"
    return (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2


def test_chromium_click_and_type(
    display: str, page: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    require("chromium")
    url, reports = page
    flags = (
        "--no-sandbox --disable-gpu --no-first-run --disable-background-networking "
        "--disable-component-update --disable-sync --test-type --window-position=0,0 "
        f"--window-size={W},{H} --user-data-dir={tmp_path / 'profile'}"
    )
    env = DesktopEnvironment(display=display, launch=f"chromium {flags} --app={url}")
    try:
        button = wait_for(
            lambda: _maybe(find_colour, env, (255, 0, 255)), lambda p: p is not None, 20
        )
        assert button is not None, "the page did not appear"
        act(env, action="left_click", coordinate=list(button))
        assert wait_for(lambda: reports, lambda r: any(x["title"] == "clicked" for x in r), 10)
        field = find_colour(env, (0, 255, 0))  # the input's border
        act(env, action="left_click", coordinate=list(field))
        text = 'héllo 你好 <a & "b">'
        act(env, action="type", text=text)
        final = wait_for(lambda: reports, lambda r: bool(r) and r[-1]["value"] == text, 10)
        assert final[-1] == {"title": "clicked", "value": text}
    finally:
        env.close()


def _maybe(find: Callable[..., tuple[int, int]], *args: Any) -> tuple[int, int] | None:
    try:
        return find(*args)
    except AssertionError:
        return None


def test_authority_entries_round_trip_and_torn_files() -> None:
    from vlagent.environments.xvfb import authority_entries, authority_entry

    data = authority_entry("3", b"a" * 16) + authority_entry("12", b"b" * 16)
    assert [n for n, _ in authority_entries(data)] == ["3", "12"]
    assert b"".join(raw for _, raw in authority_entries(data)) == data
    assert [n for n, _ in authority_entries(data[:-5])] == ["3"]  # a torn last entry is dropped
