"""On the desktop a secret is typed with key events, as all text is, never through the X
clipboard (which every program on the display, clipboard managers included, may read); programs
the desktop starts (Xvfb, ``--launch``) get no API key and no secret in their environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.test_desktop_typing import SelectionWatcher
from tests.environments.test_desktop import APP, H, TkApp, W, require
from vlagent.environments import Secrets
from vlagent.environments.desktop import DesktopEnvironment
from vlagent.environments.xvfb import Xvfb
from vlagent.tools import ToolCall, computer_tools
from vlagent.tools.secrets import Secret

# What a password may hold: the characters pyautogui mistypes or drops, quotes, shell and URL
# specials, and text outside ASCII and outside the BMP. (A tab or newline is a key that moves
# focus or submits, so they are tested apart.)
TYPED = st.text(
    alphabet=st.sampled_from("aZ9 \\'\"<>&%$`~|{}[]^@#é你ß€😀"), min_size=1, max_size=12
)


@pytest.fixture(scope="module")
def screen() -> Iterator[Xvfb]:
    require("Xvfb", "xclip")
    xvfb = Xvfb(W, H)
    yield xvfb
    xvfb.stop()


@pytest.fixture
def app(
    screen: Xvfb, tmp_path: Path
) -> Iterator[tuple[DesktopEnvironment, TkApp, SelectionWatcher]]:
    """The Tk test app on its own display, and a watcher of the clipboard."""
    tk = TkApp(tmp_path / "state.json")
    env = DesktopEnvironment(display=screen.display, launch=f"{sys.executable} {APP} {tk.path}")
    assert tk.until(lambda s: s["ready"]), "the Tk app did not start"
    # The clipboard only: each test clicks into the entry, and Tk takes PRIMARY on a click.
    watcher = SelectionWatcher(screen.display, screen.client_authority, ("CLIPBOARD",))
    yield env, tk, watcher
    watcher.close()
    env.close()


def _act(env: Secrets | DesktopEnvironment, **arguments: object) -> None:
    if "coordinate" in arguments:
        x, y = arguments["coordinate"]  # type: ignore[misc]
        arguments["coordinate"] = [x / W, y / H]
    result = env.execute(computer_tools().validate(ToolCall("computer_use", dict(arguments))))
    assert result.ok, result.message


def _clipboard(display: str) -> str:
    done = subprocess.run(
        ["xclip", "-selection", "clipboard", "-out"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        timeout=5,
        check=False,
    )
    return done.stdout.decode("utf-8", "replace")


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=TYPED)
def test_a_secret_is_typed_exactly_with_keys_and_never_on_the_clipboard(
    app: tuple[DesktopEnvironment, TkApp, SelectionWatcher], screen: Xvfb, value: str
) -> None:
    env, tk, watcher = app
    wrapped = Secrets(env, {"PASSWORD": value})
    _act(wrapped, action="left_click", coordinate=[300, 320])
    _act(wrapped, action="key", keys=["End"])  # the click put the cursor inside earlier text
    before = tk.state()["text"]
    _act(wrapped, action="type", text="<{{PASSWORD}}>")
    expected = before + f"<{value}>"
    assert tk.until(lambda s: s["text"] == expected)["text"] == expected
    assert watcher.untouched()
    assert value not in _clipboard(screen.display)


def test_a_secret_ending_a_line_is_typed_then_submitted(
    app: tuple[DesktopEnvironment, TkApp, SelectionWatcher],
) -> None:
    env, tk, watcher = app
    wrapped = Secrets(env, {"PIN": "<9\\9>"})
    _act(wrapped, action="left_click", coordinate=[300, 320])
    _act(wrapped, action="type", text="{{PIN}}\n")
    state = tk.until(lambda s: "Return" in s["keys"])
    assert state["text"] == "<9\\9>" and watcher.untouched()


def test_ordinary_text_is_typed_with_keys_too(
    app: tuple[DesktopEnvironment, TkApp, SelectionWatcher],
) -> None:
    env, tk, watcher = app
    _act(env, action="left_click", coordinate=[300, 320])
    _act(env, action="type", text="héllo <b>")
    assert tk.until(lambda s: s["text"] == "héllo <b>")["text"] == "héllo <b>"
    assert watcher.untouched()


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def test_launched_programs_and_xvfb_get_no_api_key_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("Xvfb", "xclip")
    if not Path("/proc/self/environ").exists():
        pytest.skip("needs /proc to read a process's environment")
    value = "hunter2-Zq9\\x"
    secret = Secret(value, "PASSWORD")
    for name, text in {
        "PASSWORD": value,
        "OPENAI_API_KEY": "sk-openai-0123",
        "VLAGENT_API_KEY": "sk-vlagent-0123",
        "DB_URL": f"postgres://me:{value}@db/x",
        "KEPT_SETTING": "plain",
    }.items():
        monkeypatch.setenv(name, text)
    tk = TkApp(tmp_path / "state.json")
    env = DesktopEnvironment(xvfb=f"{W}x{H}", launch=f"{sys.executable} {APP} {tk.path}")
    try:
        assert tk.until(lambda s: s["ready"])
        assert env._launched is not None and env._xvfb is not None
        for pid in (env._launched.process.pid, env._xvfb.process.pid):
            seen = _environ(pid)
            assert not {"PASSWORD", "OPENAI_API_KEY", "VLAGENT_API_KEY", "DB_URL"} & set(seen)
            assert not any(value in v or "sk-" in v for v in seen.values())
            assert seen["KEPT_SETTING"] == "plain"
        assert _environ(env._launched.process.pid)["DISPLAY"] == env.display
    finally:
        env.close()
    del secret
