"""What an evaluation in ``--out`` is, written before its first prediction (``run.json``), so that
``--resume`` continues only the same evaluation: the same model, dialect, protocol, scorer,
dataset (by content hash) and every option that changes a verdict. Anything else would credit one
run's predictions to another's command. Each resume is recorded and shown in ``metrics.json``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vlagent.tools.errors import VlagentError
from vlagent.tools.files import json_text

RUN = "run.json"
# How a run is asked, not what it answers: a resume may change these (a slow server wants a longer
# timeout; a moved server another address; batching does not change greedy answers, tested).
_NOT_SCORING = {
    "timeout_s",
    "retries",
    "step_retries",
    "endpoint",
    "batch_size",
    "concurrency",
    "api_key",
}


class ResumeError(VlagentError, ValueError):
    """``--resume`` asked to continue an evaluation with different settings (or an unknown one)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _scoring(value: Any) -> Any:
    """``value`` without the settings that do not change a verdict."""
    if isinstance(value, dict):
        return {k: _scoring(v) for k, v in value.items() if k not in _NOT_SCORING}
    if isinstance(value, list):
        return [_scoring(v) for v in value]
    return value


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += _differences(old.get(key), new.get(key), f"{where}.{key}" if where else key)
        return found
    if old != new:
        return [f"{where or 'settings'}: {_short(old)} then, {_short(new)} now"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 70 else text[:30] + "…" + text[-39:]  # paths differ at the end


def open_journal(
    out: Path, identity: dict[str, Any], resume: bool, had_predictions: bool, command: str | None
) -> list[dict[str, Any]]:
    """Start the journal of a new evaluation in ``out``, or check that ``identity`` (everything
    that makes its numbers) is the one the journal holds and add a resume to it. Returns the
    resumes so far. Raises :class:`ResumeError` in one line."""
    path = out / RUN
    identity = json.loads(json.dumps(_scoring(identity), default=str))  # as it reads back
    if not resume or not (path.is_file() or had_predictions):
        _write(path, {"identity": identity, "started": now(), "resumes": []})
        return []
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        earlier, resumes = journal["identity"], list(journal["resumes"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ResumeError(
            f"{out} holds predictions but no readable {RUN} saying what made them; "
            "rerun with --overwrite (or another --out) instead of --resume"
        ) from None
    differences = _differences(earlier, identity)
    if differences:
        shown = "; ".join(differences[:3]) + (
            f"; and {len(differences) - 3} more" if len(differences) > 3 else ""
        )
        raise ResumeError(
            f"--resume would mix two evaluations in {out} ({shown}); resume with the same "
            "settings, or use --overwrite or another --out"
        )
    journal["resumes"] = resumes + [{"at": now(), "command": command}]
    _write(path, journal)
    return list(journal["resumes"])


def note_resume(out: Path, **facts: Any) -> None:
    """Add ``facts`` (what the resume kept and retried) to the latest resume in the journal."""
    path = out / RUN
    journal = json.loads(path.read_text(encoding="utf-8"))
    if journal["resumes"]:
        journal["resumes"][-1].update(facts)
        _write(path, journal)


def read_journal(out: Path) -> dict[str, Any]:
    return json.loads((out / RUN).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _write(path: Path, journal: dict[str, Any]) -> None:
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json_text(journal, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)
