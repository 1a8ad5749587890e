"""What the pytest plugin keeps for a whole session: the tests that used the agent (for the index
of reports) and what the plan cache saw (for ``--vl-cache=prune``). Cheap to import: the plugin
is loaded in every pytest session of a project where vlagent is installed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NODE_FILE = "node.json"  # agent.uitest.plans.NODE_FILE: a test folder's node id


@dataclass
class SessionLog:
    """The session's UI tests: (node id, outcome, report) for the index, and the plan cache's
    test folders and the entries passing tests used (for ``prune``)."""

    tests: list[tuple[str, str, Path | None]] = field(default_factory=list)
    collected: set[str] = field(default_factory=set)
    cache_dirs: set[Path] = field(default_factory=set)
    complete: dict[Path, list[str]] = field(default_factory=dict)
    """Test folder → the entries its test used, for tests that ran and passed."""
    narrowed: str = ""
    """Why this session saw only part of the suite (a node id, -k, -m, --lf, a deselection):
    then no entry can be called stale, as its test may simply not have been selected."""

    def unreached(self, rootdir: Path) -> list[Path]:
        """Cache folders no collected test reaches: test folders whose node id was not collected
        though its file was (or whose file is gone), and entries a passing test did not use."""
        files = {node.split("::", 1)[0] for node in self.collected}
        stale: list[Path] = []
        for cache_dir in sorted(self.cache_dirs):
            if not cache_dir.is_dir():
                continue
            for folder in sorted(p for p in cache_dir.iterdir() if p.is_dir()):
                node = _node_of(folder)
                if folder in self.complete:
                    used = set(self.complete[folder])
                    stale += [
                        p for p in sorted(folder.iterdir()) if p.is_dir() and p.name not in used
                    ]
                elif node is None or (
                    node not in self.collected
                    and (
                        node.split("::", 1)[0] in files
                        or not (rootdir / node.split("::")[0]).exists()
                    )
                ):
                    stale.append(folder)
        return stale


def _node_of(folder: Path) -> str | None:
    try:
        data: Any = json.loads((folder / NODE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    node = data.get("node") if isinstance(data, dict) else None
    return node if isinstance(node, str) else None
