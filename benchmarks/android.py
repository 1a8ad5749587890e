"""Android through the real adb server against the virtual device, side by side in one run:
latency per action (our driver vs plain adbutils calls) and screenshots (PNG vs raw: bytes and
time). Uses the adb binary inside the adbutils wheel on a private port and HOME.

    python benchmarks/android.py [--repeats 20] [--out benchmarks/results/android.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.android import AndroidEnvironment  # noqa: E402
from environments.virtual_android import VirtualDevice  # noqa: E402
from tools import ToolCall, mobile_tools  # noqa: E402


def median_ms(run: Callable[[], Any], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/android.json"))
    args = parser.parse_args()
    import adbutils

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(HOME=tempfile.mkdtemp(), ANDROID_ADB_SERVER_PORT=str(port))
    adb = str(adbutils.adb_path())
    subprocess.run([adb, "start-server"], check=True, capture_output=True)
    device = VirtualDevice().start()
    subprocess.run([adb, "connect", device.serial], check=True, capture_output=True)
    try:
        env = AndroidEnvironment(serial=device.serial)
        plain = adbutils.AdbClient().device(device.serial)
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
        subprocess.run([adb, "kill-server"], capture_output=True)
        device.stop()
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
