"""Desktop observe and execute, ours vs a cookbook-style baseline, side by side on Xvfb.

Ours: ``DesktopEnvironment.observe()`` (mss, one instance per thread, straight into a PIL image
ready for the model) and ``execute(left_click)``. Baseline, as GUI-agent cookbooks write it:
``pyautogui.screenshot()`` (scrot writes a PNG, Pillow reads it), saved to PNG and loaded again
for the model; ``pyautogui.click(x, y)`` with pyautogui's default 0.1 s pause.

Needs Xvfb, xclip and scrot (apt-get install xvfb xclip scrot).

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
from datetime import datetime, timezone
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
        env = DesktopEnvironment(display=screen.display, launch=f"{sys.executable} {APP} {state}")
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/desktop.json"))
    args = parser.parse_args()
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
