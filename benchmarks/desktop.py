"""Desktop observe and execute, ours vs a cookbook-style baseline, side by side on Xvfb.

Ours: ``DesktopEnvironment.observe()`` (mss, one instance per thread, straight into a PIL image
ready for the model) and ``execute(left_click)``. Baseline, as GUI-agent cookbooks write it:
``pyautogui.screenshot()`` (scrot writes a PNG, Pillow reads it), saved to PNG and loaded again
for the model; ``pyautogui.click(x, y)`` with pyautogui's default 0.1 s pause.

Needs Xvfb, xclip and scrot (apt-get install xvfb xclip scrot); xclip for the old paste path.

    python benchmarks/desktop.py [--repeats 30] [--out benchmarks/results/desktop.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image

# pyscreeze (behind pyautogui.screenshot) decides at import whether it may use scrot.
os.environ["XDG_SESSION_TYPE"] = "x11"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_ms

from vlagent.environments.desktop import DesktopEnvironment
from vlagent.environments.xvfb import Xvfb
from vlagent.tools import ToolCall, computer_tools

APP = Path(__file__).resolve().parents[1] / "tests" / "environments" / "apps" / "tk_app.py"
SIZES = [(1280, 800), (1920, 1080)]


def baseline_observe(gui: Any, folder: Path) -> Image.Image:
    shot = gui.screenshot()
    path = folder / "screen.png"
    shot.save(path)
    image = Image.open(path)
    image.load()
    return image.convert("RGB")


def measure(size: tuple[int, int], repeats: int) -> dict[str, Any]:
    screen = Xvfb(*size)
    state = Path(tempfile.mkdtemp()) / "state.json"
    try:
        # The input path alone: the wait after an action is measured apart (measure_settle).
        env = DesktopEnvironment(
            display=screen.display, launch=f"{sys.executable} {APP} {state}", settle=0.0
        )
        gui = env._gui
        click = computer_tools().validate(
            ToolCall(
                "computer_use",
                {"action": "left_click", "coordinate": [240 / size[0], 140 / size[1]]},
            )
        )
        ours_observe = median_ms(env.observe, repeats)
        encode = median_ms(
            lambda: env.observe().image.save(io.BytesIO(), format="PNG", compress_level=1), repeats
        )
        ours_click = median_ms(lambda: env.execute(click), repeats)
        with tempfile.TemporaryDirectory() as folder:
            base_observe = median_ms(lambda: baseline_observe(gui, Path(folder)), repeats)
        gui.PAUSE = 0.1  # pyautogui's default, which cookbooks keep
        base_click = median_ms(lambda: gui.click(240, 140), repeats)
        env.close()
    finally:
        screen.stop()
    return {
        "screen": f"{size[0]}x{size[1]}",
        "observe_ms": ours_observe,
        "baseline_observe_ms": base_observe,
        "observe_speedup": round(base_observe / ours_observe, 1),
        "observe_plus_png_level1_ms": encode,
        "click_ms": ours_click,
        "baseline_click_ms": base_click,
        "click_speedup": round(base_click / ours_click, 1),
    }


SETTLE_CASES = {
    # name: (action arguments in pixels, what the screen does)
    "click, nothing changes": ({"action": "left_click", "coordinate": [240, 140]}, "still"),
    "click, 0.5 s animation": ({"action": "left_click", "coordinate": [560, 90]}, "changes"),
    "mouse_move, nothing changes": ({"action": "mouse_move", "coordinate": [900, 600]}, "still"),
    "key, nothing changes": ({"action": "key", "keys": ["shift"]}, "still"),
    # Last: once the entry has the focus, its caret blinks, and a blink counts as a change.
    "type one character": ({"action": "type", "text": "x"}, "changes"),
}


def measure_settle(repeats: int) -> list[dict[str, Any]]:
    """What the default wait after an action (``--settle 2``: a first change within the action
    kind's window, then 0.2 s of stillness) adds to a step, per kind of action, against
    ``--settle 0``, on the Tk app at 1280x800. Medians of ``repeats``; the wait's outcomes."""
    from statistics import median

    from vlagent.environments.desktop import DEFAULT_SETTLE_S

    screen = Xvfb(1280, 800)
    state = Path(tempfile.mkdtemp()) / "state.json"
    rows = []
    try:
        env = DesktopEnvironment(display=screen.display, launch=f"{sys.executable} {APP} {state}")
        tools = computer_tools()
        for name, (arguments, screen_does) in SETTLE_CASES.items():
            if arguments["action"] == "type":  # into the entry
                env.execute(_action(tools, {"action": "left_click", "coordinate": [300, 320]}))
            action = _action(tools, arguments)
            times: dict[float, list[float]] = {0.0: [], DEFAULT_SETTLE_S: []}
            outcomes: dict[str, int] = {}
            for _ in range(repeats):
                for bound in times:
                    env.settle = bound
                    started = time.perf_counter()
                    result = env.execute(action)
                    times[bound].append((time.perf_counter() - started) * 1000)
                    if "settle" in result.data:
                        outcome = result.data["settle"]["outcome"]
                        outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    env.settle = 0.0
                    time.sleep(0.8)  # the animation ends before the next try
            off, on = median(times[0.0]), median(times[DEFAULT_SETTLE_S])
            rows.append(
                {
                    "action": name,
                    "screen": screen_does,
                    "settle_0_ms": round(off, 1),
                    "default_ms": round(on, 1),
                    "added_ms": round(on - off, 1),
                    "outcomes": outcomes,
                }
            )
        env.close()
    finally:
        screen.stop()
    return rows


def _action(tools: Any, arguments: dict[str, Any]) -> Any:
    arguments = dict(arguments)
    if "coordinate" in arguments:
        arguments["coordinate"] = [
            arguments["coordinate"][0] / 1280,
            arguments["coordinate"][1] / 800,
        ]
    return tools.validate(ToolCall("computer_use", arguments))


def write_settle(rows: list[dict[str, Any]], out: Path) -> None:
    report = {"date": datetime.now(timezone.utc).date().isoformat(), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'after':30} {'settle 0 ms':>11} {'default ms':>10} {'added ms':>9}  outcomes")
    for r in rows:
        print(
            f"{r['action']:30} {r['settle_0_ms']:>11} {r['default_ms']:>10} {r['added_ms']:>9}  "
            f"{r['outcomes']}"
        )
    print(f"written to {out}")


# -- typing -------------------------------------------------------------------------------------

TYPING_TEXTS = {
    "ASCII": ("The quick brown fox jumps over the lazy dog; 0123456789 <>&|$'\"! " * 8)[:500],
    "Unicode": ("héllo 你好世界 ñ ü ß Ω ж مرحبا 😀 👍 " * 4)[:100],
}
OLD_FETCH_WAIT_S = 0.3
"""The old paste path's wait for the program to fetch the clipboard after ctrl+v."""


def old_paste(env: DesktopEnvironment, text: str) -> None:
    """The old typing path, as it was: read the clipboard (to give it back), serve the text with
    a foreground xclip until it is served, ctrl+v, wait for the fetch, stop xclip."""
    import subprocess

    xclip = ["xclip", "-selection", "clipboard"]
    out = [*xclip, "-out", "-target", "UTF8_STRING"]
    run = {"env": env._child_env, "capture_output": True, "timeout": 2}
    subprocess.run(out, **run)  # type: ignore[call-overload]
    server = subprocess.Popen(
        [*xclip, "-in", "-quiet"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env._child_env,
    )
    assert server.stdin is not None
    server.stdin.write(text.encode())
    server.stdin.close()
    while subprocess.run(out, **run).stdout != text.encode():  # type: ignore[call-overload]
        time.sleep(0.01)
    with env._driving():
        env._gui.hotkey("ctrl", "v", interval=0.02)
    time.sleep(OLD_FETCH_WAIT_S)
    server.terminate()
    server.wait()


def measure_typing(repeats: int) -> list[dict[str, Any]]:
    """Characters a second typed into the Tk app's entry on Xvfb: ours (key events through
    XTEST, environments/xkeys.py) and the old paste path, over the action alone and until the
    app holds the whole text (read back from the app's state file). Medians of ``repeats``."""
    from statistics import median

    screen = Xvfb(1280, 800)
    state = Path(tempfile.mkdtemp()) / "state.json"
    tools = computer_tools()
    rows = []
    try:
        env = DesktopEnvironment(
            display=screen.display, launch=f"{sys.executable} {APP} {state}", settle=0.0
        )
        env.execute(_action(tools, {"action": "left_click", "coordinate": [300, 320]}))
        for name, text in TYPING_TEXTS.items():
            typing = _action(tools, {"action": "type", "text": text})
            ways = {
                "keys": partial(env.execute, typing),
                "old paste": partial(old_paste, env, text),
            }
            for way, type_it in ways.items():
                action_s, arrived_s = [], []
                for _ in range(repeats):
                    for keys in (["ctrl", "slash"], ["backspace"]):  # Tk: select all, delete
                        env.execute(_action(tools, {"action": "key", "keys": keys}))
                    _until_text(state, "")
                    started = time.perf_counter()
                    type_it()
                    action_s.append(time.perf_counter() - started)
                    _until_text(state, text)
                    arrived_s.append(time.perf_counter() - started)
                rows.append(
                    {
                        "text": f"{name}, {len(text)} characters",
                        "way": way,
                        "program": "Tk",
                        "action_chars_per_s": round(len(text) / median(action_s)),
                        "arrived_chars_per_s": round(len(text) / median(arrived_s)),
                    }
                )
        env.close()
    finally:
        screen.stop()
    return rows + [measure_xterm(name, text, repeats) for name, text in TYPING_TEXTS.items()]


def measure_xterm(name: str, text: str, repeats: int) -> dict[str, Any]:
    """Ours into xterm running ``cat > file`` (the old paste path cannot type there: ctrl+v is
    "insert the next key literally"): until the file holds the line. The Tk test app writes its
    state file at every character, which bounds what arrives there; a terminal does not."""
    from statistics import median

    out = Path(tempfile.mkdtemp()) / "lines.txt"
    env = DesktopEnvironment(
        xvfb="1280x800",
        launch=f"env LC_ALL=C.UTF-8 xterm -u8 -geometry 120x30+0+0 -e sh -c 'cat > {out}'",
        settle=0.0,
    )
    tools = computer_tools()
    try:
        env.execute(_action(tools, {"action": "mouse_move", "coordinate": [200, 200]}))
        typing = _action(tools, {"action": "type", "text": text + "\n"})
        action_s, arrived_s = [], []
        for i in range(repeats + 1):  # the first lends the keys: a warm-up
            expected = ((text + "\n") * (i + 1)).encode()
            started = time.perf_counter()
            env.execute(typing)
            action_s.append(time.perf_counter() - started)
            while not out.exists() or out.read_bytes() != expected:
                time.sleep(0.002)
            arrived_s.append(time.perf_counter() - started)
    finally:
        env.close()
    return {
        "text": f"{name}, {len(text)} characters",
        "way": "keys",
        "program": "xterm",
        "action_chars_per_s": round(len(text) / median(action_s[1:])),
        "arrived_chars_per_s": round(len(text) / median(arrived_s[1:])),
    }


def _until_text(state: Path, text: str, timeout_s: float = 30.0) -> None:
    deadline, shown = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            shown = json.loads(state.read_text(encoding="utf-8"))["text"]
        except (OSError, ValueError, KeyError):
            pass
        if shown == text:
            return
        time.sleep(0.005)
    raise RuntimeError(f"the Tk app shows {shown!r}, not the typed {text!r}")


def write_typing(rows: list[dict[str, Any]], out: Path) -> None:
    report = {"date": datetime.now(timezone.utc).date().isoformat(), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'text':28} {'way':10} {'program':8} {'action chars/s':>14} {'arrived chars/s':>15}")
    for r in rows:
        print(
            f"{r['text']:28} {r['way']:10} {r['program']:8} {r['action_chars_per_s']:>14} "
            f"{r['arrived_chars_per_s']:>15}"
        )
    print(f"written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/desktop.json"))
    parser.add_argument(
        "--settle-only",
        action="store_true",
        help="only the wait after an action (to benchmarks/results/desktop_settle.json)",
    )
    parser.add_argument(
        "--typing-only",
        action="store_true",
        help="only the typing rate (to benchmarks/results/desktop_typing.json)",
    )
    args = parser.parse_args()
    typing_out = args.out.with_name("desktop_typing.json")
    if args.typing_only:
        write_typing(measure_typing(min(args.repeats, 5)), typing_out)
        return
    write_settle(measure_settle(min(args.repeats, 10)), args.out.with_name("desktop_settle.json"))
    if args.settle_only:
        return
    write_typing(measure_typing(min(args.repeats, 5)), typing_out)
    rows = [measure(size, args.repeats) for size in SIZES]
    report = {
        "date": datetime.now(timezone.utc).date().isoformat(),
        "machine": platform.platform(),
        "repeats": args.repeats,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{'screen':10} {'observe ms':>10} {'baseline ms':>11} {'speedup':>8} {'click ms':>9} "
        f"{'baseline ms':>11} {'speedup':>8}"
    )
    for r in rows:
        print(
            f"{r['screen']:10} {r['observe_ms']:>10} {r['baseline_observe_ms']:>11} "
            f"{r['observe_speedup']:>7}x "
            f"{r['click_ms']:>9} {r['baseline_click_ms']:>11} {r['click_speedup']:>7}x"
        )
    print(
        f"(our observe + PNG level 1 for the trajectory, in the background during a run: "
        f"{', '.join(str(r['observe_plus_png_level1_ms']) for r in rows)} ms)"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
