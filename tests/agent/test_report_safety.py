"""Reports are made from files anyone may craft and opened in a browser: a crafted run folder runs
no script in headless Chromium, shows no file from outside the run, and cannot make
``agent report`` write through a symlink."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image

from tests.agent.test_trajectory import recorded_run
from tests.conftest import run_cli
from tests.environments.test_desktop import require
from vlagent.agent.cli import main

# Chromium as a page checker: headless, and quiet on a machine without network.
HEADLESS_CHROMIUM = [
    *"--headless --no-sandbox --disable-gpu --no-first-run".split(),
    *"--disable-background-networking --disable-component-update --disable-sync".split(),
]

PAYLOAD = "<script>document.body.dataset.pwned='yes'</script><img src=x onerror=\"document.body.dataset.pwned='yes'\">"  # noqa: E501


def poison(value: object) -> object:
    """Every string of a record replaced by the payload, keys and numbers kept."""
    if isinstance(value, str):
        return PAYLOAD
    if isinstance(value, dict):
        return {
            k: (
                v
                if k in ("type", "format", "screenshot", "screen_hash", "status", "kind")
                else poison(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [poison(v) for v in value]
    return value


def crafted(tmp_path: Path) -> tuple[Path, Path]:
    """A run whose every string holds script, whose screenshots are links to a picture outside it,
    and whose report.html is a link to a file outside it."""
    run = recorded_run(tmp_path)
    path = run / "trajectory.jsonl"
    lines = [poison(json.loads(line)) for line in path.read_text("utf-8").splitlines()]
    for line in lines:
        if isinstance(line, dict) and line.get("type") == "step":
            line["prompt_tokens"] = (
                PAYLOAD  # a crafted file is not typed: the reader must refuse it
            )
    lines[1]["prompt_tokens"] = 7  # one step stays readable, with script in every string
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (64, 64), (255, 0, 255)).save(outside / "private.png")
    for shot in (run / "screens").iterdir():
        shot.unlink()
        shot.symlink_to(outside / "private.png")
    (outside / "victim.txt").write_text("precious", encoding="utf-8")
    (run / "report.html").unlink(missing_ok=True)
    (run / "report.html").symlink_to(outside / "victim.txt")
    return run, outside


def test_a_crafted_run_gives_a_report_that_runs_no_script_and_shows_no_outside_file(
    tmp_path: Path,
) -> None:
    require("chromium")
    run, outside = crafted(tmp_path)
    assert main(["report", str(run)]) == 0
    report = run / "report.html"
    assert not report.is_symlink() and (outside / "victim.txt").read_text("utf-8") == "precious"
    page = report.read_text("utf-8")
    assert "data:image" not in page  # the outside picture is not embedded
    assert "Content-Security-Policy" in page and "<script>" not in page
    assert page.count("&lt;script&gt;") >= 5  # the strings are there, as text
    # Opened in a real browser, nothing ran.
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            *HEADLESS_CHROMIUM,
            f"--user-data-dir={profile}",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "<body" in dom.stdout, dom.stderr[-500:]
    assert not re.search(r"<body[^>]*data-pwned", dom.stdout)


def test_a_poisoned_page_without_our_escaping_would_run_the_script(tmp_path: Path) -> None:
    """The browser check can fail: the same payload unescaped does run in headless Chromium."""
    require("chromium")
    page = tmp_path / "raw.html"
    page.write_text(f"<!doctype html><html><body>{PAYLOAD}</body></html>", encoding="utf-8")
    dom = subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            *HEADLESS_CHROMIUM,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert re.search(r"<body[^>]*data-pwned=\"yes\"", dom.stdout), dom.stdout[:300]


def test_steps_whose_fields_have_the_wrong_type_are_listed_not_reported(tmp_path: Path) -> None:
    run, _ = crafted(tmp_path)
    done = run_cli("show", str(run))
    assert done.returncode == 0
    # the four steps whose token count is text; the readable step's linked screenshot is named
    assert done.stderr.count(": damaged (") == 4
    assert done.stderr.count("warning: line") == 5 and "is a symbolic link" in done.stderr
    assert "damaged (prompt_tokens: Input should be a valid integer" in done.stderr
