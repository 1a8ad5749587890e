"""docs/safety.md's threat table names, for each class of attack, where it is stopped and the tests
that hold it there; each named test and file must exist, so it cannot drift from the suite."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE_TITLE = "## Each class of attack, the one place that stops it, and its test"


def _rows() -> list[list[str]]:
    text = (ROOT / "docs" / "safety.md").read_text()
    section = text.split(TABLE_TITLE, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.M))
    return names


def test_every_class_names_a_place_and_tests_that_exist() -> None:
    rows = _rows()
    assert len(rows) >= 20
    defined = _defined_tests()
    for klass, place, tests in rows:
        assert place and tests, klass
        named = re.findall(r"(test_\w++)(?!\.py)(…)?", tests)
        files = re.findall(r"`(tests/[\w/]+\.py)", tests)
        assert named or files, f"{klass}: no test named"
        for name, cut in named:
            if name.endswith(".py"):
                continue
            found = any(d.startswith(name) for d in defined) if cut else name in defined
            assert found, f"{klass}: {name} is not a test in tests/"
        for file in files:
            assert (ROOT / file).is_file(), f"{klass}: {file} does not exist"
