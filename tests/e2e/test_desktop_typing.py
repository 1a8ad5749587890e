"""Desktop typing in programs nobody here wrote, each on a private Xvfb, what arrived read back
from the program itself: xterm (the typed command runs), a GTK dialog (zenity prints the entry),
Chromium (the page posts its field), and the Tk test app. The same generated strings arrive
exactly in each, key chords act in each, and nothing is ever on the clipboard or PRIMARY."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import Xlib.display
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli, serve_page, tool_call, write_script
from tests.environments.test_desktop import APP, H, TkApp, W, find_colour, require, wait_for
from vlagent.environments.desktop import DesktopEnvironment
from vlagent.environments.xkeys import keyboard_map
from vlagent.environments.xvfb import Xvfb, x_client_environment
from vlagent.tools import ToolCall, computer_tools

# Printable ASCII (quotes and shell metacharacters among it) and any letter, mark, number,
# punctuation or symbol of Unicode (CJK, emoji, accents, combining marks, RTL scripts).
TYPED = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("'\"`$\\|&;<>(){}[]*?~#!%^"),
        st.characters(categories=["L", "M", "N", "P", "S"], min_codepoint=0xA0),
    ),
    min_size=1,
    max_size=16,
)
FIXED = [
    "echo typed-ok > out.txt",
    'héllo 你好 <a & "b"> 😀',
    "مرحبا שלום",
    "e\u0301 ñ ü ß Ω ж",
    "'\"`$(x){y}[z]|;&<>*?~#!\\%^",
    "👍🏽 👨‍👩‍👧",
]
EXAMPLES = 12


def typing_test(test: Callable[..., None]) -> Callable[..., None]:
    """The same strings for every program: the fixed ones and a modest number of generated."""
    for text in FIXED:
        test = example(text=text)(test)
    return settings(max_examples=EXAMPLES, deadline=None)(given(text=TYPED)(test))


def act(env: DesktopEnvironment, **arguments: Any) -> str:
    if "coordinate" in arguments:
        arguments["coordinate"] = [arguments["coordinate"][0] / W, arguments["coordinate"][1] / H]
    result = env.execute(computer_tools().validate(ToolCall("computer_use", arguments)))
    assert result.ok, result.message
    return result.message


class SelectionWatcher:
    """Owns CLIPBOARD and PRIMARY on a display. Ownership changes only by a SetSelectionOwner,
    which tells the owner before (a SelectionClear): while it still owns both, nobody (no paste
    path, no xclip) has put anything there. A program asking to read them gets nothing. (A click
    in a text field may make that program take PRIMARY: start watching after clicks.)"""

    def __init__(
        self, display: str, authority: str, names: tuple[str, ...] = ("CLIPBOARD", "PRIMARY")
    ) -> None:
        import Xlib.display
        from Xlib import X

        with x_client_environment(display, authority):
            self.x = Xlib.display.Display(display)  # served by the thread below
            self.checker = Xlib.display.Display(display)  # asked from the test
        self.window = self.x.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
        self.atoms = [self.x.intern_atom(name) for name in names]
        for atom in self.atoms:
            self.window.set_selection_owner(atom, X.CurrentTime)
        self.x.sync()
        self.lost: list[int] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.untouched(), "the watcher could not own the selections"

    def _serve(self) -> None:
        from Xlib import X
        from Xlib.protocol import event

        while True:
            try:
                seen = self.x.next_event()
            except Exception:  # the display was stopped first
                return
            if seen.type == X.SelectionClear:
                self.lost.append(seen.atom)
            elif seen.type == X.SelectionRequest:  # refused: there is nothing to read
                seen.requestor.send_event(
                    event.SelectionNotify(
                        time=seen.time,
                        requestor=seen.requestor,
                        selection=seen.selection,
                        target=seen.target,
                        property=X.NONE,
                    )
                )
                self.x.flush()
            elif seen.type == X.ClientMessage:  # close()
                self.x.close()
                return

    def untouched(self) -> bool:
        owners = [self.checker.get_selection_owner(atom) for atom in self.atoms]
        return not self.lost and all(owner.id == self.window.id for owner in owners)

    def taken_within(self, seconds: float) -> bool:
        """Whether a selection is taken within ``seconds``: a program may take it after the
        command that started it has returned (xclip forks first, then takes it)."""
        return not wait_for(self.untouched, lambda untouched: not untouched, seconds)

    def close(self) -> None:
        from Xlib.protocol import event

        stop = event.ClientMessage(
            window=self.window.id, client_type=self.atoms[0], data=(32, [0] * 5)
        )
        self.checker.create_resource_object("window", self.window.id).send_event(stop)
        self.checker.flush()
        self.thread.join(timeout=5)
        self.checker.close()


UTF8 = "env LC_ALL=C.UTF-8"
"""Programs started on the display read and write UTF-8 whatever the test machine's locale."""


def _program_env(**options: Any) -> DesktopEnvironment:
    return DesktopEnvironment(xvfb=f"{W}x{H}", **options)


def _still(env: DesktopEnvironment) -> None:
    """Until the screen stays the same for 0.3 s: a program that has drawn is taking keys."""
    previous = env.observe().image.tobytes()
    for _ in range(20):
        time.sleep(0.3)
        now = env.observe().image.tobytes()
        if now == previous:
            return
        previous = now


def _watch(env: DesktopEnvironment) -> SelectionWatcher:
    return SelectionWatcher(env.display, env.authority)


# -- xterm -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xterm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DesktopEnvironment, Path]]:
    """xterm running ``cat > lines.txt``: what the terminal sent is in the file, a line each."""
    require("Xvfb", "xterm")
    out = tmp_path_factory.mktemp("xterm") / "lines.txt"
    command = f"{UTF8} xterm -u8 -geometry 120x30+0+0 -e sh -c 'cat > {out}'"
    env = _program_env(launch=command)
    act(env, action="mouse_move", coordinate=[200, 200])  # no window manager: focus follows it
    yield env, out
    env.close()


def _lines(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


@typing_test
def test_xterm_receives_exactly_what_is_typed(
    xterm: tuple[DesktopEnvironment, Path], text: str
) -> None:
    env, out = xterm
    watcher = _watch(env)
    before = _lines(out)
    act(env, action="type", text=text + "\n")
    expected = before + text + "\n"
    assert wait_for(lambda: _lines(out), lambda s: s == expected) == expected
    assert watcher.untouched()
    watcher.close()


def test_xterm_tab_and_control_keys(xterm: tuple[DesktopEnvironment, Path]) -> None:
    env, out = xterm
    before = _lines(out)
    act(env, action="type", text="a\tb gone")
    act(env, action="key", keys=["ctrl", "w"])  # the terminal erases the last word
    act(env, action="type", text="kept\n")
    expected = before + "a\tb kept\n"
    assert wait_for(lambda: _lines(out), lambda s: s == expected) == expected


def test_more_distinct_characters_than_spare_keys_are_typed_in_parts(
    xterm: tuple[DesktopEnvironment, Path],
) -> None:
    env, out = xterm
    text = "".join(chr(0x4E00 + 7 * i) for i in range(60))  # Xvfb's map has 19 spare keycodes
    before = _lines(out)
    act(env, action="type", text=text + "\n")
    expected = before + text + "\n"
    assert wait_for(lambda: _lines(out), lambda s: s == expected) == expected


def test_lent_keycodes_are_given_back_when_the_environment_closes() -> None:
    require("Xvfb")
    screen = Xvfb(640, 480)
    try:
        with x_client_environment(screen.display, screen.client_authority):
            x = Xlib.display.Display(screen.display)
        keyboard = keyboard_map(x)
        env = DesktopEnvironment(display=screen.display)
        act(env, action="type", text="你好 😀 é")
        act(env, action="key", keys=["f13"])
        assert keyboard_map(x) != keyboard  # lent while the environment is open
        env.close()
        assert keyboard_map(x) == keyboard
        x.close()
    finally:
        screen.stop()


def test_control_characters_no_key_types_are_left_out_and_named(
    xterm: tuple[DesktopEnvironment, Path],
) -> None:
    env, out = xterm
    before = _lines(out)
    message = act(env, action="type", text="a\x07b\x00c\n")
    assert "left out 2 control character(s) (U+0007, U+0000)" in message
    expected = before + "abc\n"
    assert wait_for(lambda: _lines(out), lambda s: s == expected) == expected


def test_agent_run_types_a_command_into_xterm_and_it_runs(tmp_path: Path) -> None:
    """The issue's case: ``--launch xterm``, the model types a command and Enter."""
    require("Xvfb", "xterm")
    script = write_script(
        tmp_path / "answers.txt",
        [
            tool_call("computer_use", action="left_click", coordinate=[100, 100]),  # into xterm
            tool_call("computer_use", action="type", text="echo typed-ok > out.txt\n"),
            tool_call("computer_use", action="wait", time=1),
            tool_call("computer_use", action="terminate", status="success"),
        ],
    )
    result = run_cli(
        *"run --env desktop --xvfb 1280x800 --launch".split(),
        "xterm -geometry 80x24+0+0 -e sh",
        *("--launch-dir", str(tmp_path), "--goal", "run it", "--model", f"scripted:{script}"),
        *("--out", str(tmp_path / "run")),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert wait_for(lambda: _lines(tmp_path / "out.txt"), bool) == "typed-ok\n"


# -- a GTK program: zenity ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gtk() -> Iterator[DesktopEnvironment]:
    require("Xvfb", "zenity")
    env = _program_env()
    yield env
    env.close()


def _zenity(env: DesktopEnvironment, *options: str) -> subprocess.Popen[bytes]:
    """A zenity dialog, its window found and the pointer on it (which gives it the keys)."""
    from vlagent.tools.secrets import child_environment

    dialog = subprocess.Popen(
        [*UTF8.split(), "zenity", *options],
        env=child_environment(base=env._child_env),
        stdout=subprocess.PIPE,
    )
    box = wait_for(lambda: _window(env, "zenity"), lambda b: b is not None, 20)
    assert box is not None, "zenity showed no window"
    _still(env)
    act(env, action="mouse_move", coordinate=[box[0] + box[2] // 2, box[1] + box[3] // 2])
    return dialog


def _window(env: DesktopEnvironment, name: str) -> tuple[int, int, int, int] | None:
    root = env._x_display.screen().root
    for window in root.query_tree().children:
        names = window.get_wm_class()
        if names and name in names[0] and window.get_attributes().map_state == 2:
            g = window.get_geometry()
            return g.x, g.y, g.width, g.height
    return None


@typing_test
def test_zenity_prints_exactly_what_is_typed(gtk: DesktopEnvironment, text: str) -> None:
    watcher = _watch(gtk)
    dialog = _zenity(gtk, "--entry", "--text=type")
    act(gtk, action="type", text=text + "\n")  # Enter is the dialog's OK
    printed, _ = dialog.communicate(timeout=20)
    assert printed.decode("utf-8") == text + "\n"
    assert watcher.untouched()
    watcher.close()


def test_zenity_select_all_then_type_replaces(gtk: DesktopEnvironment) -> None:
    dialog = _zenity(gtk, "--entry", "--text=type", "--entry-text=old text")
    act(gtk, action="key", keys=["ctrl", "a"])
    act(gtk, action="type", text="new")
    act(gtk, action="key", keys=["backspace"])
    act(gtk, action="key", keys=["enter"])
    assert dialog.communicate(timeout=20)[0].decode("utf-8") == "ne\n"


# -- Chromium ----------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>typing</title><style>
body{margin:0;background:#fff} #field{position:absolute;left:80px;top:80px;width:600px;
height:40px;font-size:20px;border:3px solid #00ff00;outline:none}</style></head><body>
<input id="field"><script>
const field=document.getElementById('field'); let keys=[];
function post(value){postState({value:value,keys:keys});}
field.addEventListener('keydown',function(e){
  if(e.key==='Enter'){e.preventDefault();post(field.value);field.value='';keys=[];return;}
  if(['Control','Shift','Alt'].includes(e.key)){return;}
  keys.push((e.ctrlKey?'ctrl+':'')+(e.shiftKey?'shift+':'')+e.key);
  if(/^F[0-9]+$/.test(e.key)){e.preventDefault();}
});
</script></body></html>"""


@pytest.fixture(scope="module")
def browser(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DesktopEnvironment, list[dict[str, Any]]]]:
    require("Xvfb", "chromium")
    with serve_page(PAGE) as (url, posts):
        yield from _browser_at(url, posts, tmp_path_factory)


def _browser_at(
    url: str, posts: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DesktopEnvironment, list[dict[str, Any]]]]:
    profile = tmp_path_factory.mktemp("chromium")
    flags = (
        "--no-sandbox --disable-gpu --no-first-run --disable-background-networking "
        "--disable-component-update --disable-sync --test-type --window-position=0,0 "
        f"--window-size={W},{H} --user-data-dir={profile}"
    )
    env = _program_env(launch=f"chromium {flags} --app={url}")
    try:
        field = wait_for(lambda: _maybe_colour(env), lambda p: p is not None, 30)
        assert field is not None, "the page did not appear"
        act(env, action="left_click", coordinate=list(field))
        yield env, posts
    finally:
        env.close()


def _maybe_colour(env: DesktopEnvironment) -> tuple[int, int] | None:
    try:
        return find_colour(env, (0, 255, 0))
    except AssertionError:
        return None


def _posted(env: DesktopEnvironment, posts: list[dict[str, Any]]) -> dict[str, Any]:
    count = len(posts)
    act(env, action="key", keys=["enter"])
    assert wait_for(lambda: len(posts), lambda n: n > count, 10) > count, "the page posted nothing"
    return posts[-1]


@typing_test
def test_chromium_field_holds_exactly_what_is_typed(
    browser: tuple[DesktopEnvironment, list[dict[str, Any]]], text: str
) -> None:
    env, posts = browser
    watcher = _watch(env)
    act(env, action="type", text=text)
    assert _posted(env, posts)["value"] == text
    assert watcher.untouched()
    watcher.close()


def test_chromium_key_chords_reach_the_page(
    browser: tuple[DesktopEnvironment, list[dict[str, Any]]],
) -> None:
    env, posts = browser
    act(env, action="type", text="abc")
    act(env, action="key", keys=["ctrl", "a"])
    act(env, action="key", keys=["backspace"])
    act(env, action="type", text="x")
    for keys in (["f2"], ["f9"], ["ctrl", "shift", "z"], ["win"]):
        act(env, action="key", keys=keys)
    posted = _posted(env, posts)
    assert posted["value"] == "x"
    assert posted["keys"][-4:] == ["F2", "F9", "ctrl+shift+Z", "Meta"]


# Every key name that stands for a character, and the character a person gets pressing it.
CHARACTER_KEYS = {**{c: c for c in "abcxyz019`-=[]\\;',./"}, "plus": "+", "space": " "}


def test_a_key_named_for_a_character_types_that_character(
    browser: tuple[DesktopEnvironment, list[dict[str, Any]]],
) -> None:
    """``key ["plus"]`` gives "+" (not "="), ``key ["space"]`` a space: the field holds the
    characters the key names say."""
    env, posts = browser
    for name in CHARACTER_KEYS:
        act(env, action="key", keys=[name])
    assert _posted(env, posts)["value"] == "".join(CHARACTER_KEYS.values())


# -- the Tk app --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DesktopEnvironment, TkApp]]:
    require("Xvfb")
    app = TkApp(tmp_path_factory.mktemp("tk") / "state.json")
    env = _program_env(launch=f"{sys.executable} {APP} {app.path}")
    assert app.until(lambda s: s["ready"]), "the Tk app did not start"
    act(env, action="left_click", coordinate=[300, 320])  # the entry
    yield env, app
    env.close()


@typing_test
def test_tk_entry_holds_exactly_what_is_typed(
    tk: tuple[DesktopEnvironment, TkApp], text: str
) -> None:
    env, app = tk
    watcher = _watch(env)
    before = app.state()["text"]
    act(env, action="type", text=text)
    expected = before + text
    assert app.until(lambda s: s["text"] == expected)["text"] == expected
    assert watcher.untouched()
    watcher.close()


def test_tk_key_chords_and_a_key_the_map_lacks(tk: tuple[DesktopEnvironment, TkApp]) -> None:
    env, app = tk
    count = len(app.state()["keys"])
    for keys in (["ctrl", "shift", "t"], ["f5"], ["f13"], ["ctrl", "f24"]):
        act(env, action="key", keys=keys)
    state = app.until(lambda s: len(s["keys"]) >= count + 4)
    assert state["keys"][count:] == ["ctrl+shift+T", "F5", "F13", "ctrl+F24"]


# -- the watcher can fail ----------------------------------------------------------------------


@pytest.mark.parametrize("selection", ["clipboard", "primary"])
def test_the_watcher_sees_a_program_take_a_selection(selection: str) -> None:
    """What the old typing did (xclip serving the text to paste) is caught."""
    require("Xvfb", "xclip")
    env = _program_env()
    try:
        watcher = _watch(env)
        subprocess.run(
            ["xclip", "-selection", selection, "-in"],
            input=b"pasted",
            env=env._child_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=True,
        )
        assert watcher.taken_within(10)
        watcher.close()
    finally:
        env.close()
