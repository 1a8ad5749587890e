"""Reading trajectories back as typed records, tolerating what a crash leaves behind."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from vlagent.agent.trajectory.files import FileError, MissingFile, check_inside, read_inside
from vlagent.agent.trajectory.format import LINE
from vlagent.agent.trajectory.recorder import TRAJECTORY_FILE
from vlagent.agent.trajectory.records import FORMAT, VERSION, End, Header, Step
from vlagent.tools.errors import VlagentError


class TrajectoryError(VlagentError, ValueError):
    """A trajectory that cannot be read at all (missing, no header, newer format)."""


@dataclass
class Trajectory:
    """A run read from disk. ``problems`` lists damaged lines (skipped, with their line numbers);
    ``torn_tail`` is True when the last line was cut short by a crash (ignored)."""

    path: Path
    header: Header
    steps: list[Step]
    end: End | None
    problems: list[str] = field(default_factory=list)
    torn_tail: bool = False
    damaged_lines: list[str] = field(default_factory=list)
    """The problems that are lines lost (unreadable, damaged, a second header), not a missing
    screenshot: a step or more of the run is not there."""

    @property
    def complete(self) -> bool:
        return self.end is not None

    def screenshot(self, step: Step) -> Path | None:
        """The step's screenshot when it is a regular file inside the run reached without a link
        (None otherwise); read it with ``files.read_image(trajectory.path, step.screenshot)``."""
        if not step.screenshot:
            return None
        try:
            return check_inside(self.path, step.screenshot)
        except FileError:
            return None

    def prompt(self, index: int) -> str | None:
        """The whole prompt of step ``index`` as the model read it, rebuilt from the steps up to it
        (None when a step it depends on is missing or damaged)."""
        text: str | None = None
        previous = -1
        for step in self.steps:
            if step.index > index:
                break
            if step.prompt_from is None:
                text = step.prompt_text
            elif text is not None and step.index == previous + 1:
                text = text[: step.prompt_from] + step.prompt_text
            else:
                text = None
            previous = step.index
        return text if previous == index else None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = (
        error["loc"][1:] if error["loc"][:1] in (("header",), ("step",), ("end",)) else error["loc"]
    )
    where = ".".join(str(part) for part in loc)  # without the record type it was read as
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def read_trajectory(run_dir: str | Path) -> Trajectory:
    """Read ``run_dir/trajectory.jsonl`` (or the file itself when given)."""
    path = Path(run_dir)
    file = path / TRAJECTORY_FILE if path.is_dir() else path
    run_path = file.parent
    try:  # the file layer: a link, a FIFO or a device there is refused, not read
        raw = read_inside(run_path, file.name)
    except MissingFile:
        raise TrajectoryError(f"no trajectory at {file}") from None
    except FileError as exc:
        raise TrajectoryError(f"cannot read {file}: {exc}") from None
    decoded, torn_tail, lost = _decode_lines(raw)
    header = _read_header(file, decoded)
    problems = list(lost)
    steps, end = _read_records(run_path, decoded[1:], problems, lost)
    return Trajectory(run_path, header, steps, end, problems, torn_tail, lost)


def _decode_lines(raw: bytes) -> tuple[list[tuple[int, dict[str, object]]], bool, list[str]]:
    """The JSON records of ``raw`` with their line numbers, whether the last line was cut short
    by a crash (it is ignored), and the lines that could not be read (skipped)."""
    lines = raw.split(b"\n")
    torn = lines[-1] != b""  # a finished line always ends with a newline
    decoded: list[tuple[int, dict[str, object]]] = []
    lost: list[str] = []
    torn_tail = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict) or "type" not in record:
                raise ValueError("not a trajectory record")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: too deep
            if torn and number == len(lines):
                torn_tail = True
            else:
                lost.append(f"line {number}: unreadable ({str(exc)[:80]})")
            continue
        decoded.append((number, record))
    return decoded, torn_tail, lost


def _read_header(file: Path, decoded: list[tuple[int, dict[str, object]]]) -> Header:
    """The header the first record must be; a trajectory without a readable one, or of a newer
    format version, cannot be read at all."""
    if not decoded or decoded[0][1].get("type") != "header":
        raise TrajectoryError(f"{file} does not start with a trajectory header")
    first = decoded[0][1]
    if first.get("format") != FORMAT:
        raise TrajectoryError(
            f"{file} is not a vlagent trajectory (format {first.get('format')!r})"
        )
    version = first.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise TrajectoryError(
            f"{file} uses trajectory format version {version}; this vlagent reads up to {VERSION}: "
            "upgrade vlagent"
        )
    try:
        return Header.model_validate(first)
    except ValidationError as exc:
        raise TrajectoryError(f"{file}: the header is damaged ({_first_problem(exc)})") from None


def _read_records(
    run_path: Path,
    decoded: list[tuple[int, dict[str, object]]],
    problems: list[str],
    lost: list[str],
) -> tuple[list[Step], End | None]:
    """The steps and end among the records after the header. Damaged records are skipped and
    added to ``problems`` and ``lost``; a missing screenshot only to ``problems``."""
    steps: list[Step] = []
    end: End | None = None
    for number, data in decoded:
        try:
            record = LINE.validate_python(data)
        except ValidationError as exc:
            lost.append(f"line {number}: damaged ({_first_problem(exc)[:120]})")
            problems.append(lost[-1])
            continue
        if isinstance(record, Step):
            problems.extend(f"line {number}: {why}" for why in _unreadable_files(run_path, record))
            steps.append(record)
        elif isinstance(record, End):
            end = record
        else:
            lost.append(f"line {number}: a second header")
            problems.append(lost[-1])
    return steps, end


def _unreadable_files(run_path: Path, step: Step) -> list[str]:
    """Why each file ``step`` names cannot be read from inside the run: missing, or refused by
    the file layer (outside the run, a link, not a regular file)."""
    named = {"screenshot": step.screenshot} if step.screenshot else {}
    named.update({f"view {k}": v for k, v in (step.views or {}).items()})
    named.update({f"depth {k}": v for k, v in (step.depth or {}).items()})
    found = []
    for what, name in named.items():
        try:
            check_inside(run_path, name)
        except MissingFile:
            found.append(f"{what} {name} is missing")
        except FileError as exc:
            found.append(f"{what} {name} is not read: {exc}")
    return found
