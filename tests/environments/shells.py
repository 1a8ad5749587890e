"""mksh (Android's own ``/system/bin/sh``) and toybox (its command-line tools), for the tests that
hold the driver and the virtual phone to them, and stub programs that record how they were called.

Missing, they skip a test on a developer's machine; under CI they fail it (.ci/run installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# A stub program: appends its argument count, name and arguments, NUL-separated, to $CALLS.
RECORDER = '#!/bin/sh\nprintf "%s\\0" "$#" "${0##*/}" "$@" >> "$CALLS"\n'


def need(program: str) -> str:
    """The path of ``program``; a skip without it, a failure under CI."""
    found = shutil.which(program)
    if found is None:
        message = f"{program} is not installed (apt-get install mksh toybox)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def stub_bin(folder: Path, recorded: tuple[str, ...], toybox: tuple[str, ...] = ()) -> Path:
    """A folder for ``PATH``: each of ``recorded`` a recorder stub, each of ``toybox`` toybox's
    applet of that name."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in recorded:
        stub = folder / name
        stub.write_text(RECORDER)
        stub.chmod(0o755)
    for name in toybox:
        (folder / name).symlink_to(need("toybox"))
    return folder


def mksh(script: str, path: Path, calls: Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """``script`` read by mksh from its stdin, as a phone's ``adb shell`` session's sh reads it,
    with only ``path`` on PATH."""
    return subprocess.run(
        [need("mksh")],
        input=script.encode(),
        capture_output=True,
        env={"PATH": str(path), "CALLS": str(calls)},
        cwd=cwd,
        timeout=30,
    )


def read_calls(calls: Path) -> list[list[str]]:
    """What the recorder stubs recorded: each call's name and arguments, in order."""
    if not calls.exists():
        return []
    fields = calls.read_bytes().decode().split("\0")
    found, i = [], 0
    while i < len(fields) - 1:
        count = int(fields[i])
        found.append(fields[i + 1 : i + 2 + count])
        i += 2 + count
    return found
