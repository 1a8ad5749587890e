"""Android through the real adb server against the virtual device, side by side in one run: our
driver (the persistent channel) against plain adbutils calls, per action and per screenshot, for
each cost profile of the virtual device: ``none`` (the virtual device as it is: answers in about
a millisecond) and ``phone`` (PNG encoding, ``input`` start-up, UI dump and USB 2 transfer as on
a phone; docs/environments.md gives the numbers and their sources). With the UI tree, the dump run
while the screenshot streams is timed against the dump run after it (as before 2026-12-02).

Uses the adb binary inside the adbutils wheel, on a private port and HOME.

    python benchmarks/android.py [--repeats 20] [--phone-repeats 5] [--out
    benchmarks/results/android.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_ms, paired_median_ms

from vlagent.environments.android import DUMP_PATH, AndroidEnvironment
from vlagent.environments.virtual_android.adb_server import EmbeddedPhone
from vlagent.environments.virtual_android.profile import PROFILES
from vlagent.tools import ToolCall, mobile_tools


def measure(profile: str, repeats: int) -> dict[str, Any]:
    embedded = EmbeddedPhone(profile=PROFILES[profile])
    # The driver finds the private server as any adb client does: by ANDROID_ADB_SERVER_PORT.
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(embedded.server.port)
    env = AndroidEnvironment(serial=embedded.serial)
    try:
        plain = embedded.client().device(embedded.serial)
        tools = mobile_tools()
        tap = tools.validate(ToolCall("mobile_use", {"action": "click", "coordinate": [0.5, 0.5]}))
        key = tools.validate(ToolCall("mobile_use", {"action": "key", "text": "volume_up"}))
        pairs = {
            "tap": (lambda: env.execute(tap), lambda: plain.click(540, 1200)),
            "key": (lambda: env.execute(key), lambda: plain.keyevent("KEYCODE_VOLUME_UP")),
            "observe vs screenshot()": (env.observe, plain.screenshot),
            "observe vs screenshot() decoded": (
                env.observe,
                lambda: plain.screenshot().convert("RGB"),
            ),
        }
        rows = {}
        for name, (ours, theirs) in pairs.items():
            ours_ms, theirs_ms = paired_median_ms(ours, theirs, repeats)
            rows[name] = {
                "ours_ms": ours_ms,
                "adbutils_ms": theirs_ms,
                "speed-up": round(theirs_ms / ours_ms, 2),
            }
        # The UI tree (--ui-tree): the dump written to the shell session before the screenshot, so
        # the device dumps while the pixels stream (ours), against the dump after the screenshot.
        dump = [f"uiautomator dump {DUMP_PATH}", f"cat {DUMP_PATH}"]
        during_ms, after_ms = paired_median_ms(
            lambda: env._capture(env.screencap, dump),
            lambda: (env._capture(env.screencap), env._shell_many(dump)),
            repeats,
        )
        tree = {
            "dump during the screenshot_ms": during_ms,
            "dump after the screenshot_ms": after_ms,
            "speed-up": round(after_ms / during_ms, 2),
        }
        forms = {}
        chosen = env.screencap
        for form in ("png", "raw"):
            env.screencap = form
            forms[form] = median_ms(env.observe, repeats)
        env.screencap = chosen
        return {
            "profile": PROFILES[profile].describe() if profile != "none" else "none",
            "actions": rows,
            "ui_tree": tree,
            "observe_ms_by_form": forms,
            "chosen_at_start_up": chosen,
            "start_up_screencap_ms": env.screencap_ms,
        }
    finally:
        env.close()
        embedded.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--phone-repeats",
        type=int,
        default=5,
        help="repeats under --profile phone (its calls take seconds)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/android.json"))
    args = parser.parse_args()
    results = {"none": measure("none", args.repeats), "phone": measure("phone", args.phone_repeats)}
    report = {
        "date": datetime.now(timezone.utc).date().isoformat(),
        "machine": platform.platform(),
        "repeats": {"none": args.repeats, "phone": args.phone_repeats},
        "profiles": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for profile, result in results.items():
        print(f"\nprofile {profile}: {result['profile']}")
        print(f"{'':34}{'ours':>11}{'adbutils':>11}{'speed-up':>10}")
        for name, row in result["actions"].items():
            print(
                f"{name:34}{row['ours_ms']:>8.2f} ms{row['adbutils_ms']:>8.2f} "
                f"ms{row['speed-up']:>9.2f}x"
            )
        tree = result["ui_tree"]
        print(
            f"screenshot + UI dump: dump during it {tree['dump during the screenshot_ms']:.1f} ms, "
            f"after it {tree['dump after the screenshot_ms']:.1f} ms: {tree['speed-up']:.2f}x"
        )
        by_form = ", ".join(
            f"{form} {ms:.1f} ms" for form, ms in result["observe_ms_by_form"].items()
        )
        print(
            f"observe by form: {by_form}; chosen at start-up: {result['chosen_at_start_up']} "
            f"(measured {result['start_up_screencap_ms']})"
        )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
