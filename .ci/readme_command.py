"""Print the README's command of section N (1: set up and run, 2: set up and run the tests):
the first ```bash block under that heading, as written. CI runs what this prints, so the README
and CI cannot drift apart; tests/test_readme.py runs the same commands in a copy of the repo."""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_command(section: int, readme: Path = README) -> str:
    text = readme.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}. ")
    end = text.find("\n## ", start + 1)
    block = re.search(
        r"```bash\n(.*?)```", text[start : end if end != -1 else None], flags=re.DOTALL
    )
    if block is None:
        raise SystemExit(f"README.md: section {section} has no bash block")
    return block.group(1).strip().splitlines()[0]


if __name__ == "__main__":
    print(readme_command(int(sys.argv[1])))
