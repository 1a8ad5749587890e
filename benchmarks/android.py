"""Android through the real adb server against the virtual device, side by side in one run:
latency per action (our driver vs plain adbutils calls) and screenshots (PNG vs raw: bytes and
time). Uses the adb binary inside the adbutils wheel on a private port and HOME.

    python benchmarks/android.py [--repeats 20] [--out benchmarks/results/android.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from environments.android import AndroidEnvironment  # noqa: E402
from tools import ToolCall, mobile_tools  # noqa: E402
from timing import median_ms  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/android.json"))
    args = parser.parse_args()
    # The embedded virtual phone: the real adb server on a private port and HOME.
    env = AndroidEnvironment(serial="virtual")
    try:
        plain = env.client.device(env.serial)
        tap = mobile_tools().validate(ToolCall("mobile_use", {"action": "click", "coordinate": [0.5, 0.9]}))
        key = mobile_tools().validate(ToolCall("mobile_use", {"action": "key", "text": "volume_up"}))
        rows = {
            "tap: ours (execute click)": median_ms(lambda: env.execute(tap), args.repeats),
            "tap: adbutils device.click": median_ms(lambda: plain.click(540, 2160), args.repeats),
            "key: ours (execute key)": median_ms(lambda: env.execute(key), args.repeats),
            "key: adbutils device.keyevent": median_ms(lambda: plain.keyevent("KEYCODE_VOLUME_UP"), args.repeats),
            "observe: ours": median_ms(env.observe, args.repeats),
            "screenshot: adbutils device.screenshot (PNG)": median_ms(plain.screenshot, args.repeats),
        }
        png = plain.shell2("screencap -p", encoding=None, v2=True).output
        raw = plain.shell2("screencap", encoding=None, v2=True).output
        env.screencap = "png"
        png_ms = median_ms(env.observe, args.repeats)
        env.screencap = "raw"
        raw_ms = median_ms(env.observe, args.repeats)
    finally:
        env.close()
    report = {"date": datetime.now(timezone.utc).date().isoformat(), "machine": platform.platform(),
              "repeats": args.repeats, "latency_ms": rows,
              "screenshot": {"png_bytes": len(png), "raw_bytes": len(raw), "png_observe_ms": png_ms,
                             "raw_observe_ms": raw_ms}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, ms in rows.items():
        print(f"{name:48} {ms:8.2f} ms")
    print(f"screenshot PNG: {len(png):>10,} bytes, observe {png_ms} ms")
    print(f"screenshot raw: {len(raw):>10,} bytes, observe {raw_ms} ms")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
