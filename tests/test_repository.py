"""What the repository promises about itself: short modules, its own docs, a typed package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "environments", "prompts", "tools")


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text("utf-8").splitlines())) > 400}
    assert long == {}


def test_nothing_refers_to_design_notes_a_user_does_not_have() -> None:
    names = ["DESIGN" + ".md", "REFERENCE" + ".md", "LAB" + "-NOTES"]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    found = []
    for name in tracked.stdout.splitlines():
        path = ROOT / name
        if path.suffix in (".png", ".jpg") or not path.is_file():
            continue
        text = path.read_text("utf-8", errors="replace")
        found += [f"{name}: {n}" for n in names if n in text]
    assert found == []
    assert "docs/architecture.md" in (ROOT / "README.md").read_text("utf-8")


@pytest.mark.slow
def test_the_wheel_is_typed(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("vlagent-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"{pkg}/py.typed" for pkg in PACKAGES} <= names
    assert "agent/trajectory/schema.json" in names
