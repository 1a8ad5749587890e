"""Reading trajectories back, tolerating what a crash leaves behind."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.trajectory.format import FORMAT, VERSION
from agent.trajectory.recorder import TRAJECTORY_FILE


class TrajectoryError(ValueError):
    """A trajectory that cannot be read at all (missing, no header, newer format)."""


@dataclass
class Trajectory:
    """A run read from disk. ``problems`` lists corrupt lines (skipped, with their line numbers);
    ``torn_tail`` is True when the last line was cut short by a crash (ignored)."""

    path: Path
    header: dict[str, Any]
    steps: list[dict[str, Any]]
    end: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    torn_tail: bool = False

    @property
    def complete(self) -> bool:
        return self.end is not None

    def screenshot(self, step: dict[str, Any]) -> Path | None:
        name = step.get("screenshot")
        return self.path / name if name else None


def read_trajectory(run_dir: str | Path) -> Trajectory:
    """Read ``run_dir/trajectory.jsonl`` (or the file itself when given)."""
    path = Path(run_dir)
    file = path / TRAJECTORY_FILE if path.is_dir() else path
    run_path = file.parent
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise TrajectoryError(f"no trajectory at {file}") from None
    except OSError as exc:
        raise TrajectoryError(f"cannot read {file}: {exc}") from None
    lines = raw.split(b"\n")
    torn = lines[-1] != b""  # a finished line always ends with a newline
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    torn_tail = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict) or "type" not in record:
                raise ValueError("not a trajectory record")
        except (ValueError, UnicodeDecodeError) as exc:
            if torn and number == len(lines):
                torn_tail = True
            else:
                problems.append(f"line {number}: unreadable ({str(exc)[:80]})")
            continue
        records.append((number, record))
    if not records or records[0][1].get("type") != "header":
        raise TrajectoryError(f"{file} does not start with a trajectory header")
    header = records[0][1]
    if header.get("format") != FORMAT:
        raise TrajectoryError(f"{file} is not a vlagent trajectory (format {header.get('format')!r})")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise TrajectoryError(
            f"{file} uses trajectory format version {version}; this vlagent reads up to {VERSION}: upgrade vlagent"
        )
    steps: list[dict[str, Any]] = []
    end = None
    for number, record in records[1:]:
        kind = record.get("type")
        if kind == "step":
            shot = record.get("screenshot")
            if shot and not (run_path / shot).is_file():
                problems.append(f"line {number}: screenshot {shot} is missing")
            steps.append(record)
        elif kind == "end":
            end = record
        else:
            problems.append(f"line {number}: unknown record type {kind!r}")
    return Trajectory(run_path, header, steps, end, problems, torn_tail)
