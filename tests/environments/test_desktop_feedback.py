"""What the desktop tells the model after an action, part by part: the wait until the screen
shows the action (``settle``, on a simulated clock), points refused under any ``--scale``, the
keyboard given to the window a click lands on (bare X windows on a private Xvfb, with and without
a window manager), the launched program's exit, and the scroll unit in the tool description.
Chromium and zenity end to end: tests/e2e/test_desktop_feedback.py."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.environments.test_desktop import require
from vlagent.environments.base import EnvironmentFault, EnvironmentUnavailable
from vlagent.environments.change import SETTLE_POLL_S, SETTLE_QUIET_S, beyond_a_caret, settle
from vlagent.environments.desktop import DesktopEnvironment
from vlagent.environments.launched import LaunchedProgram, exit_words, on_exit
from vlagent.environments.xvfb import Xvfb, user_authority, x_client_environment
from vlagent.tools import ComputerUse, ToolCall, computer_tools

FAST = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
GRAB_S = 0.004  # what one screenshot costs on the simulated clock


# -- the wait after an action ------------------------------------------------------------------


class Screen:
    """A screen on a simulated clock: frame ``i + 1`` from ``changes[i]`` seconds on (0 before)."""

    def __init__(self, changes: list[float]) -> None:
        self.changes, self.now, self.seen = sorted(changes), 0.0, [0]

    def frame_at(self, t: float) -> int:
        return sum(1 for c in self.changes if c <= t)

    def grab(self) -> int:
        self.now += GRAB_S
        self.seen.append(self.frame_at(self.now))
        return self.seen[-1]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def wait(screen: Screen, react_s: float, limit_s: float) -> Any:
    return settle(screen.grab, 0, react_s, limit_s, clock=screen.clock, sleep=screen.sleep)


times = st.floats(0, 3, allow_nan=False)


@FAST
@given(st.lists(times, max_size=6), st.floats(0, 1.5), st.floats(0, 3))
def test_the_wait_is_bounded_and_its_outcome_is_what_the_screen_did(
    changes: list[float], react_s: float, limit_s: float
) -> None:
    screen = Screen(changes)
    settled = wait(screen, react_s, limit_s)
    assert settled.waited_s <= limit_s + SETTLE_POLL_S + 2 * GRAB_S
    if settled.outcome == "still":  # nothing changed, for as long as the action may take
        assert set(screen.seen) == {0} and settled.waited_s >= min(react_s, limit_s)
    elif settled.outcome == "changed":  # changed, then stayed the same for the quiet time
        assert set(screen.seen) != {0}
        last = max(i for i, frame in enumerate(screen.seen) if frame != screen.seen[i - 1])
        assert screen.seen[last:] == [screen.seen[-1]] * (len(screen.seen) - last)
        assert settled.waited_s >= SETTLE_QUIET_S
    else:
        assert settled.outcome == "timed out" and settled.waited_s >= limit_s


MARGIN = SETTLE_POLL_S + 2 * GRAB_S  # how late a poll may see a change


@FAST
@given(
    st.floats(0, 1.5),
    st.lists(st.floats(0, SETTLE_QUIET_S - MARGIN), max_size=8),
    st.floats(0.2, 1.5),
    st.floats(0, 3),
)
def test_a_reaction_within_its_window_is_shown_once_the_screen_is_still(
    first: float, gaps: list[float], react_s: float, limit_s: float
) -> None:
    """The screenshot after the action shows where the screen came to rest, however slowly
    the program reacted (within the action's window) and however long it redrew (within the
    bound, frames less than the quiet time apart): a still old screen is never taken for
    "done". (A second reaction after a pause longer than the quiet time shows a step later.)"""
    changes = [first + sum(gaps[:i]) for i in range(len(gaps) + 1)]
    assume(first + MARGIN <= min(react_s, limit_s))  # the reaction began within its window
    assume(changes[-1] + SETTLE_QUIET_S + 2 * MARGIN <= limit_s)  # and ended within the bound
    screen = Screen(changes)
    settled = wait(screen, react_s, limit_s)
    assert settled.outcome == "changed"
    assert screen.frame_at(screen.now) == len(changes)  # what the next screenshot shows


def test_a_program_slower_than_the_old_stillness_is_waited_for() -> None:
    """The issue's case: a dialog closes 0.4 s after Enter; the old rule (0.15 s of stillness)
    took the untouched dialog as the result."""
    screen = Screen([0.4])
    assert wait(screen, react_s=1.0, limit_s=2.0).outcome == "changed"
    assert screen.frame_at(screen.now) == 1


@FAST
@given(st.lists(st.floats(0, 0.9), max_size=5), st.floats(0.3, 0.9))
def test_a_caret_blinking_before_the_reaction_does_not_end_the_wait(
    blinks: list[float], reaction: float
) -> None:
    """Frames that are only a caret's blink (odd frames here) neither count as the reaction
    nor start the wait for stillness: the slow program's reaction is still waited for."""
    blinks = [t for t in blinks if t < reaction - MARGIN]
    screen = Screen([*blinks, reaction])
    settled = settle(
        screen.grab,
        0,
        1.0,
        2.0,
        clock=screen.clock,
        sleep=screen.sleep,
        reacts=lambda old, new: new == len(blinks) + 1,  # only the last frame is the reaction
    )
    assert settled.outcome == "changed" and screen.frame_at(screen.now) == len(blinks) + 1


def as_bgrx(image: Image.Image) -> bytes:
    """An image as mss hands the screen over: blue, green, red and a spare byte per pixel."""
    red, green, blue = image.split()
    return Image.merge("RGBA", (blue, green, red, Image.new("L", image.size))).tobytes()


def test_a_change_a_caret_wide_is_a_blink_and_a_wider_one_a_reaction() -> None:
    size = (40, 30)
    blank = Image.new("RGB", size, "white")
    caret, letter = blank.copy(), blank.copy()
    caret.paste((0, 0, 0), (10, 5, 12, 25))  # 2 px wide
    letter.paste((0, 0, 0), (10, 5, 18, 25))
    bgrx = [as_bgrx(image) for image in (blank, caret, letter)]
    reacts = beyond_a_caret(size)
    assert not reacts(bgrx[0], bgrx[1]) and reacts(bgrx[0], bgrx[2]) and reacts(bgrx[1], bgrx[2])


def test_a_still_screen_costs_the_reaction_window_and_a_moving_one_the_bound() -> None:
    still = wait(Screen([]), react_s=0.5, limit_s=2.0)
    assert still.outcome == "still" and 0.5 <= still.waited_s < 0.5 + SETTLE_POLL_S + GRAB_S
    spinner = Screen([i * 0.1 for i in range(100)])  # a new frame every 0.1 s, for 10 s
    moving = wait(spinner, react_s=0.5, limit_s=2.0)
    assert moving.outcome == "timed out" and moving.waited_s < 2.0 + SETTLE_POLL_S + GRAB_S
    assert moving.record() == {"outcome": "timed out", "waited_ms": round(moving.waited_s * 1000)}


def test_no_bound_no_wait() -> None:
    screen = Screen([0.0])
    assert wait(screen, react_s=1.0, limit_s=0.0).waited_s <= GRAB_S


# -- points under any --scale ------------------------------------------------------------------


def bare_desktop(scale: float, monitor: tuple[int, int, int, int], screen: tuple[int, int]) -> Any:
    """A desktop environment's point mapping alone: no display behind it."""
    env: Any = object.__new__(DesktopEnvironment)
    env.scale, env._input_size = scale, screen
    env.monitor = dict(zip(("left", "top", "width", "height"), monitor, strict=True))
    return env


coordinate = st.floats(-1, 2, allow_nan=False)


@FAST
@given(
    st.floats(0.25, 4),
    st.tuples(st.integers(0, 2000), st.integers(0, 1000)),
    st.tuples(st.integers(1, 3000), st.integers(1, 2000)),
    st.tuples(st.integers(1, 6000), st.integers(1, 4000)),
    st.tuples(coordinate, coordinate),
)
def test_a_point_is_executed_only_on_the_monitor_and_the_input_screen(
    scale: float,
    at: tuple[int, int],
    size: tuple[int, int],
    screen: tuple[int, int],
    point: tuple[float, float],
) -> None:
    env = bare_desktop(scale, (*at, *size), screen)
    pixel = env._point(point)
    on_monitor = 0 <= point[0] <= 1 and 0 <= point[1] <= 1
    if pixel is None:
        return
    assert on_monitor  # off the monitor: refused
    assert 0 <= pixel[0] < screen[0] and 0 <= pixel[1] < screen[1]  # never clamped by pyautogui
    # Where it was meant to go: rounded, and the far edge kept on the last whole pixel.
    width, height = size[0] * scale, size[1] * scale
    assert abs(pixel[0] - (at[0] * scale + point[0] * width)) < 2
    assert abs(pixel[1] - (at[1] * scale + point[1] * height)) < 2


@FAST
@given(st.floats(1.01, 4), st.floats(0, 1), st.floats(0, 1))
def test_a_scale_beyond_the_screen_refuses_the_far_part(scale: float, x: float, y: float) -> None:
    env = bare_desktop(scale, (0, 0, 1280, 800), (1280, 800))
    beyond = round(x * 1280 * scale) >= 1280 or round(y * 800 * scale) >= 800
    assert (env._point((x, y)) is None) == beyond


def test_scale_2_on_a_1280_screen_refuses_the_right_half() -> None:
    env = bare_desktop(2.0, (0, 0, 1280, 800), (1280, 800))
    assert env._point((0.25, 0.25)) == (640, 400)
    assert env._point((0.75, 0.25)) is None and env._point((1.0, 1.0)) is None


# -- the keyboard goes where the click went ----------------------------------------------------


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[Any]:
    if shutil.which("Xvfb") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs Xvfb (apt-get install xvfb)")
        pytest.skip("needs Xvfb (apt-get install xvfb)")
    import Xlib.display

    screen = Xvfb(640, 480)
    with x_client_environment(screen.display, screen.client_authority):
        display = Xlib.display.Display(screen.display)
    yield display
    display.close()
    screen.stop()


def window(display: Any, box: tuple[int, int, int, int], popup: bool = False) -> Any:
    root = display.screen().root
    made = root.create_window(*box, 0, display.screen().root_depth, override_redirect=popup)
    made.set_wm_class("popup" if popup else f"app{made.id}", "Popup" if popup else "App")
    made.map()
    display.sync()
    return made


def focused(display: Any) -> Any:
    return display.get_input_focus().focus


def test_a_click_gives_the_keyboard_to_the_window_on_top_at_its_point(xdisplay: Any) -> None:
    from vlagent.environments.xfocus import focus_at, keyboard_app

    behind, dialog = window(xdisplay, (0, 0, 640, 480)), window(xdisplay, (200, 150, 200, 100))
    try:
        behind.set_input_focus(2, 0)  # a program took the focus, as Chromium does
        xdisplay.sync()
        assert focus_at(xdisplay, 300, 200) and focused(xdisplay).id == dialog.id
        assert keyboard_app(xdisplay) == "App"
        assert not focus_at(xdisplay, 300, 200)  # it holds it already: left alone
        assert focus_at(xdisplay, 50, 50) and focused(xdisplay).id == behind.id
    finally:
        for made in (dialog, behind):
            made.destroy()
        xdisplay.sync()


def test_a_popup_takes_no_focus_and_the_bare_root_none(xdisplay: Any) -> None:
    from vlagent.environments.xfocus import focus_at

    app, menu = window(xdisplay, (0, 0, 300, 300)), window(xdisplay, (50, 50, 100, 100), True)
    try:
        app.set_input_focus(2, 0)
        xdisplay.sync()
        assert not focus_at(xdisplay, 60, 60) and focused(xdisplay).id == app.id
        assert not focus_at(xdisplay, 500, 400) and focused(xdisplay).id == app.id
    finally:
        for made in (menu, app):
            made.destroy()
        xdisplay.sync()


def test_with_a_window_manager_the_click_asks_it_to_activate_the_window(xdisplay: Any) -> None:
    """A window manager is asked (_NET_ACTIVE_WINDOW), not bypassed: it is the one that gives
    focus and raises. Here a stand-in manager (an X client that says it is one) receives the
    request."""
    import Xlib.display
    from Xlib import X, Xatom

    from vlagent.environments.xfocus import focus_at, window_manager

    with x_client_environment(xdisplay.get_display_name(), user_authority()):
        manager = Xlib.display.Display(xdisplay.get_display_name())
    root, check_atom = manager.screen().root, manager.intern_atom("_NET_SUPPORTING_WM_CHECK")
    check = root.create_window(-10, -10, 1, 1, 0, manager.screen().root_depth)
    app = window(xdisplay, (0, 0, 200, 200))
    try:
        for holder in (root, check):
            holder.change_property(check_atom, Xatom.WINDOW, 32, [check.id])
        root.change_attributes(event_mask=X.SubstructureRedirectMask)
        manager.sync()
        assert window_manager(xdisplay)
        assert focus_at(xdisplay, 100, 100)
        event = next_event(manager)
        assert event.type == X.ClientMessage and event.window.id == app.id
        assert event.client_type == manager.intern_atom("_NET_ACTIVE_WINDOW")
    finally:
        root.delete_property(check_atom)
        manager.close()
        app.destroy()
        xdisplay.sync()
    assert not window_manager(xdisplay)


def next_event(display: Any, timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not display.pending_events():
        assert time.monotonic() < deadline, "no event came"
        time.sleep(0.01)
    return display.next_event()


# -- the launched program ----------------------------------------------------------------------


@FAST
@given(st.integers(-64, 255))
def test_every_exit_is_worded_with_its_code(code: int) -> None:
    words = exit_words(code)
    if code >= 0:
        assert words == f"exited with code {code}"
    else:
        assert words.startswith(f"was killed by signal {-code}")


def test_a_signal_is_named() -> None:
    assert exit_words(-signal.SIGKILL) == "was killed by signal 9 (SIGKILL)"


@pytest.mark.parametrize("value", ["", "stop", "END", "tell"])
def test_launch_exit_takes_end_or_continue(value: str) -> None:
    with pytest.raises(EnvironmentUnavailable, match="--launch-exit .*end.*continue"):
        on_exit(value)


def _exited(code: int, mode: Any) -> LaunchedProgram:
    program = LaunchedProgram(
        f"{sys.executable} -c 'import sys; sys.exit({code})'", None, dict(os.environ), mode
    )
    program.process.wait(timeout=10)
    return program


def test_an_exit_ends_the_run_with_its_code_in_the_reason() -> None:
    program = _exited(3, "end")
    news = program.news()
    assert news is not None and news.endswith("exited with code 3") and program.command in news
    result = program.outcome("left_click done", {}, news)
    assert result.ends is not None and result.ends.status == "failure"
    assert "exited with code 3" in result.message
    assert program.news() == news  # asked again: still ends (the run may go on elsewhere)
    before = program.ended_before(news)
    assert not before.executed and before.ends is not None


def test_with_continue_the_model_is_told_once_and_the_run_goes_on() -> None:
    program = _exited(0, "continue")
    news = program.news()
    result = program.outcome("key done", {}, news)
    assert result.ends is None and not result.ok and "exited with code 0" in result.message
    assert program.news() is None
    assert program.outcome("key done", {}, None).ok


@pytest.mark.parametrize("command", ["no-such-program-vlagent", "'unbalanced"])
def test_a_launch_that_cannot_start_is_one_line(command: str) -> None:
    with pytest.raises(EnvironmentUnavailable, match="could not start"):
        LaunchedProgram(command, None, dict(os.environ))


# -- the scroll unit ---------------------------------------------------------------------------


def test_the_tool_description_states_the_scroll_unit() -> None:
    schema = computer_tools().function_schemas()[0]["function"]["parameters"]["properties"]
    assert "one per 100 pixels" in schema["action"]["description"]
    assert "wheel click per 100 pixels" in schema["pixels"]["description"]
    assert ComputerUse.model_validate({"action": "scroll", "pixels": -250}).pixels == -250
    assert computer_tools().validate(ToolCall("computer_use", {"action": "scroll", "pixels": 1}))


def test_what_a_launched_program_started_is_stopped_with_it(tmp_path: Path) -> None:
    """A launcher that starts a helper in the background and exits: stopping the program ends the
    helper too (its process group), so nothing it started outlives the run."""
    pid_file = tmp_path / "helper.pid"
    program = LaunchedProgram(
        f"sh -c 'sleep 60 & echo $! > {pid_file}; exit 0'", tmp_path, dict(os.environ)
    )
    deadline = time.monotonic() + 10
    while (program.exit_code() is None or not pid_file.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    helper = int(pid_file.read_text())
    os.kill(helper, 0)  # alive after the launcher exited
    program.stop()
    deadline = time.monotonic() + 10
    while not _gone(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(helper)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # killed, not yet reaped
    except (ProcessLookupError, FileNotFoundError):
        return True


@pytest.mark.parametrize("on_exit", ["end", "continue"])
def test_a_launcher_that_returns_at_once_is_run_against_only_under_continue(
    tmp_path: Path, on_exit: str
) -> None:
    import os
    import time

    from vlagent.environments.base import EnvironmentUnavailable
    from vlagent.environments.launched import LaunchedProgram, launch_and_wait

    program = LaunchedProgram("true", tmp_path, dict(os.environ), on_exit=on_exit)  # type: ignore[arg-type]
    started = time.monotonic()
    screens = iter([b"empty", b"empty", b"empty"])

    def pixels() -> bytes:  # what the launcher started draws a moment after it returned
        return next(screens, b"drawn" if time.monotonic() - started > 0.3 else b"empty")

    if on_exit == "end":
        with pytest.raises(EnvironmentUnavailable, match="at once"):
            launch_and_wait(program, pixels)
    else:
        launch_and_wait(program, pixels)


def test_when_the_x_server_dies_close_still_stops_the_launched_program(tmp_path: Path) -> None:
    """The X server gone under the screen grabber (Ctrl-C took it, it crashed): closing the
    environment still stops what it launched and frees the display's lock."""
    require("Xvfb", "xterm")
    pid_file = tmp_path / "helper.pid"
    env = DesktopEnvironment(
        xvfb="640x480", launch=f"sh -c 'sleep 777 & echo $! > {pid_file}; exec xterm'"
    )
    env.observe()  # the grabber is open on the display
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    helper = int(pid_file.read_text())
    assert env._xvfb is not None
    env._xvfb.process.kill()
    env._xvfb.process.wait(timeout=10)
    with pytest.raises(EnvironmentFault):  # the grabber's connection is broken now
        env.observe()
    env.close()
    deadline = time.monotonic() + 10
    while not _gone(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(helper)
    assert env._lock is None  # the display's lock was given back


@given(st.lists(st.booleans(), min_size=1, max_size=6))
def test_every_cleanup_step_runs_and_the_first_failure_is_raised(fails: list[bool]) -> None:
    from vlagent.environments.base import release_all

    ran: list[int] = []

    def step(i: int, fail: bool) -> Callable[[], None]:
        def run() -> None:
            ran.append(i)
            if fail:
                raise OSError(f"step {i}")

        return run

    steps = [step(i, fail) for i, fail in enumerate(fails)]
    if any(fails):
        with pytest.raises(OSError, match=f"step {fails.index(True)}$"):
            release_all(*steps)
    else:
        release_all(*steps)
    assert ran == list(range(len(fails)))


@pytest.mark.parametrize("verdict", ["terminate", "answer"])
def test_an_app_that_exits_while_the_model_thinks_is_no_success(verdict: str) -> None:
    """The app under test exits (code 7) while the model decides, and the model then says the
    task is done: the run ends with failure, naming the exit, as after any action."""
    from tests.conftest import tool_call
    from vlagent.agent import Agent
    from vlagent.agent.runtimes.function import FunctionRuntime
    from vlagent.prompts import get_dialect

    require("Xvfb", "xterm")
    env = DesktopEnvironment(xvfb="640x480", launch="sh -c 'xterm & sleep 1; exit 7'")

    def slow(prompt: Any) -> str:
        time.sleep(2)  # the app exits meanwhile
        if verdict == "answer":
            return tool_call("computer_use", action="answer", text="done")
        return tool_call("computer_use", action="terminate", status="success")

    try:
        result = Agent(FunctionRuntime(slow), get_dialect("qwen2-vl"), env).run("finish")
    finally:
        env.close()
    assert result.status == "failure" and "exited with code 7" in result.reason, result


def test_the_time_limit_cuts_the_wait_for_a_screen_that_never_settles() -> None:
    """A screen that keeps changing (a clock ticking) under --settle 30 and --time-limit 3: the
    wait after the action ends with the run's time, not 30 s later."""
    from tests.conftest import tool_call
    from vlagent.agent import Agent, Limits
    from vlagent.agent.runtimes import ScriptedRuntime
    from vlagent.prompts import get_dialect

    require("Xvfb", "xterm")
    ticking = "xterm -e sh -c 'while :; do date +%N; sleep 0.05; done'"
    env = DesktopEnvironment(xvfb="640x480", launch=ticking, settle=30)
    model = ScriptedRuntime(
        [tool_call("computer_use", action="left_click", coordinate=[300, 300])] * 3
    )
    started = time.monotonic()
    try:
        result = Agent(model, get_dialect("qwen2-vl"), env, limits=Limits(time_limit_s=3)).run("g")
    finally:
        env.close()
    assert result.status == "time_limit", result
    assert time.monotonic() - started < 15  # the settle alone would hold a step for 30 s


def test_a_launched_program_that_never_draws_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A program that draws nothing in the launch wait: the run goes on, with a warning saying
    so (not 15 s of silence)."""
    from vlagent.environments import launched

    monkeypatch.setattr(launched, "LAUNCH_WAIT_S", 0.5)
    program = LaunchedProgram("sleep 30", tmp_path, dict(os.environ))
    try:
        with caplog.at_level("WARNING", logger="vlagent.desktop"):
            launched.launch_and_wait(program, lambda: b"the same screen")
    finally:
        program.stop()
    assert "--launch 'sleep 30' drew nothing on the screen within 0.5 s" in caplog.text
