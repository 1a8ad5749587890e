"""Reading a dataset with a complete account of it: the one place every file, shard, episode and
split id given to an evaluation passes through.

Each ends in the record (``metrics.json`` → ``dataset``) as read, skipped with its reason, or
excluded by a selection the user made; nothing is dropped without a word. A damaged file, an
empty episode, a repeated episode id or a split id the dataset lacks is an error (one line) unless
the caller asked to score around it (``skip_damaged``, ``skip_missing``), and that is recorded.
The record also holds the dataset's content hash, so a number names the exact data it was
computed on.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from vlagent.agent.evaluation import published
from vlagent.agent.evaluation.formats import (
    DAMAGED,
    FORMATS,
    LOADERS,
    DatasetError,
    candidates,
    classify,
    load_tfrecord,
)
from vlagent.agent.evaluation.gold import Episode

SKIP_DAMAGED = "--skip-damaged"
SKIP_MISSING = "--skip-missing"


@dataclass(frozen=True)
class Selection:
    """The part of a dataset the user chose to score, recorded with the numbers."""

    episodes: tuple[str, ...] = ()
    """Only these episode ids (each must be in the dataset)."""
    categories: tuple[str, ...] = ()
    """Only episodes of these categories (AITZ / AITW subsets, e.g. GOOGLE_APPS)."""
    action_types: tuple[str, ...] = ()
    """Only steps whose gold action is of these types (the runner applies it: a step filter)."""
    limit: int | None = None
    """The first N episodes (after the filters and the sample)."""
    sample: int | None = None
    """N episodes drawn at random with ``seed`` (kept in dataset order)."""
    seed: int = 0

    def record(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "episodes": list(self.episodes),
            "categories": list(self.categories),
            "action_types": list(self.action_types),
        }


@dataclass
class Dataset:
    episodes: list[Episode]
    record: dict[str, Any]


@dataclass
class _Account:
    """What happened to each thing the dataset was given, as it is read."""

    skip_damaged: bool
    skip_missing: bool
    files: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    read: list[Path] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    """The format of each source read (an episode's ``source`` → e.g. ``aitw-tfrecord``)."""

    def damaged(self, what: dict[str, Any], reason: str) -> None:
        """Refuse the damaged thing, or with ``skip_damaged`` record it as skipped."""
        if not self.skip_damaged:
            raise DatasetError(
                f"{reason}; fix or remove it, or add {SKIP_DAMAGED} to score the rest "
                "without it (recorded in metrics.json)"
            )
        self.skipped.append({**what, "reason": reason})

    def missing(self, ids: list[str], where: str) -> None:
        if not ids:
            return
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        if not self.skip_missing:
            raise DatasetError(
                f"{len(ids)} episode id(s) of {where} are not in the dataset ({shown}); add "
                f"{SKIP_MISSING} to score the ones found (recorded in metrics.json)"
            )
        self.skipped += [{"episode": i, "reason": f"in {where}, not in the dataset"} for i in ids]


def load_dataset(
    path: str | Path, fmt: str = "auto", level: str | None = None, split: str | None = None
) -> list[Episode]:
    """The episodes of :func:`read_dataset` (strict: anything damaged or missing is an error)."""
    return read_dataset(path, fmt, level, split).episodes


def read_dataset(
    path: str | Path,
    fmt: str = "auto",
    level: str | None = None,
    split: str | None = None,
    *,
    skip_damaged: bool = False,
    skip_missing: bool = False,
    selection: Selection | None = None,
) -> Dataset:
    """Every episode in ``path`` (a file, a run directory, or a folder searched recursively),
    with the record of how they were found.

    ``level`` (AndroidControl): "high" gives the goal only, "low" adds each step's instruction;
    None keeps JSON episodes' instructions and reads TFRecords as "high". ``split`` keeps the
    episodes of that split of the dataset's ``splits.json``; ``selection`` narrows further."""
    root, selection = Path(path), selection or Selection()
    _check_arguments(root, fmt, level)
    account = _Account(skip_damaged, skip_missing)
    files, other, links = candidates(root)
    for link in links:
        account.damaged(
            {"file": str(link.relative_to(root))},
            f"{link} is a symbolic link: a dataset is read without following links (copy the "
            "file or folder in its place)",
        )
    found = _read_files(files, root, fmt, level, account)
    episodes = _check_episodes(found, account)
    split_file, episodes = _apply_split(root, split, episodes, account)
    episodes = _select(episodes, selection, account)
    if not episodes:
        raise DatasetError(_nothing_found(root, fmt, split, account))
    kinds = sorted({account.kinds[e.source] for e in episodes})
    record = {
        "path": str(root),
        "format": kinds[0] if len(kinds) == 1 else kinds,
        "level": resolved_level(episodes),
        "split": split,
        "sha256": content_hash(root, account.read + ([split_file] if split_file else []), found),
        "files": account.files,
        "other_files": other,
        "episodes_found": len(found),
        "episodes_scored": len(episodes),
        "steps_scored": sum(len(e.steps) for e in episodes),
        "skipped": account.skipped,
        "excluded": dict(sorted(account.excluded.items())),
        "steps_not_gold": [
            {"episode": e.id, "step": n, "reason": why} for e in found for n, why in e.skipped_steps
        ],
        "skip_damaged": skip_damaged,
        "skip_missing": skip_missing,
        "selection": selection.record(),
    }
    return Dataset(episodes, record)


def _check_arguments(root: Path, fmt: str, level: str | None) -> None:
    if not root.exists():
        raise DatasetError(f"no dataset at {root}")
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if level is not None and level not in published.LEVELS:
        raise DatasetError(f"unknown level {level!r}; high or low")


def _read_files(
    files: list[Path], root: Path, fmt: str, level: str | None, account: _Account
) -> list[Episode]:
    """The episodes of every file; each file recorded as read, ignored or skipped, with why."""
    episodes: list[Episode] = []
    for path in files:
        name = _relative(path, root)
        kind, why = classify(path)
        if kind is None and "splits" in path.name and path.suffix == ".json":
            why = "a splits file (what --split reads)"
        if kind is None:
            if path == root:  # the one file the user named
                raise DatasetError(f"{path}: not a dataset file ({why})")
            account.files.append({"path": name, "status": "ignored", "reason": why})
            continue
        if kind == DAMAGED:
            account.damaged({"file": name}, f"{path}: {why}")
            account.files.append({"path": name, "status": "damaged", "reason": why})
            continue
        if fmt != "auto" and kind.split("-")[0] != fmt:
            reason = f"{kind.split('-')[0]} data, not the asked --format {fmt}"
            account.files.append({"path": name, "status": "ignored", "reason": reason})
            continue
        try:
            loaded = _load(path, kind, level)
        except Exception as exc:  # any failure to read a file is that file's damage, not a crash
            reason = str(exc) if isinstance(exc, DatasetError) else f"{type(exc).__name__}: {exc}"
            reason = reason if str(path) in reason else f"{path}: {reason}"
            account.damaged({"file": name}, reason)
            account.files.append({"path": name, "status": "damaged", "reason": reason})
            continue
        account.read.append(path / "trajectory.jsonl" if path.is_dir() else path)
        account.kinds.update({e.source: kind for e in loaded})
        account.files.append(
            {"path": name, "status": "read", "format": kind, "episodes": len(loaded)}
        )
        episodes += loaded
    return episodes


def _load(path: Path, kind: str, level: str | None) -> list[Episode]:
    if kind.endswith("-tfrecord"):
        found = load_tfrecord(path, kind, level)
    else:
        found = [LOADERS[kind](path)]
        if level == "high":
            found[0].steps = [replace(step, instruction=None) for step in found[0].steps]
    for episode in found:
        episode.benchmark = kind.split("-")[0]
    return found


def _check_episodes(found: list[Episode], account: _Account) -> list[Episode]:
    """The episodes that can be scored: steps present, ids and step numbers unique, screenshots
    readable; the others are damaged."""
    kept: list[Episode] = []
    seen: dict[str, str] = {}
    for episode in found:
        what = {"episode": episode.id, "source": episode.source}
        problem = _episode_problem(episode)
        if problem is None and episode.id in seen:
            problem = f"its id is also the id of an episode in {seen[episode.id]}"
        if problem is not None:
            account.damaged(what, f"episode {episode.id} ({episode.source}): {problem}")
            continue
        seen[episode.id] = episode.source
        kept.append(episode)
    return kept


def _episode_problem(episode: Episode) -> str | None:
    """What makes ``episode`` damaged (the one check every format's episodes pass), or None."""
    if not episode.steps:
        return "it has no steps: nothing to score"
    indices = [step.index for step in episode.steps]
    if len(set(indices)) != len(indices):
        return "two of its steps have the same step number"
    numbered = indices + [index for index, _ in episode.skipped_steps]  # a run's failed steps
    if sorted(numbered) != list(range(len(numbered))):
        missing = sorted(set(range(max(numbered) + 1)) - set(numbered))
        return f"its steps are numbered {_ranges(indices)}: step {_ranges(missing)} is missing"
    if episode.length is not None and episode.length != len(numbered):
        return f"it says it has {episode.length} steps, and {len(indices)} are there"
    bare = [step.index for step in episode.steps if not step.instruction]
    if bare and len(bare) < len(episode.steps):  # low-level prompts mixed with high-level ones
        return (
            f"step {_ranges(bare)} has no step instruction where the others have one "
            "(--level high leaves them all out)"
        )
    for step in episode.steps:
        try:
            _check_image(step.image)
        except (OSError, ValueError, SyntaxError) as exc:
            return f"the screenshot of step {step.index} is unreadable ({type(exc).__name__})"
    return None


def _check_image(image: Any) -> None:
    """The whole image read: a PNG's every chunk against its checksum (as fast as reading the
    file; a download cut short fails here), any other format decoded."""
    with Image.open(image) as opened:
        if opened.format == "PNG":
            opened.verify()
        else:
            opened.load()


def _ranges(numbers: list[int]) -> str:
    shown = sorted(numbers)
    return ", ".join(map(str, shown)) if len(shown) <= 6 else f"{shown[0]}…{shown[-1]}"


def _apply_split(
    root: Path, split: str | None, episodes: list[Episode], account: _Account
) -> tuple[Path | None, list[Episode]]:
    """The episodes of ``split``; each of its ids must be found (or be skipped, recorded)."""
    if split is None:
        return None, episodes
    try:
        split_file, wanted = published.split_ids(root, split)
    except (OSError, ValueError) as exc:
        raise DatasetError(str(exc)) from None
    present = {e.id for e in episodes}
    damaged = {s.get("episode") for s in account.skipped}
    account.missing(sorted(wanted - present - damaged), f"split {split!r} of {split_file.name}")
    kept = [e for e in episodes if e.id in wanted]
    if len(kept) < len(episodes):
        account.excluded[f"not in split {split}"] += len(episodes) - len(kept)
    return split_file, kept


def _select(episodes: list[Episode], selection: Selection, account: _Account) -> list[Episode]:
    """The user's own narrowing, each step counted in ``account.excluded``."""

    def keep(reason: str, chosen: list[Episode]) -> list[Episode]:
        if len(chosen) < len(episodes_now):
            account.excluded[reason] += len(episodes_now) - len(chosen)
        return chosen

    episodes_now = episodes
    if selection.episodes:
        wanted = set(selection.episodes)
        account.missing(sorted(wanted - {e.id for e in episodes}), "--episode")
        episodes_now = keep("not an --episode", [e for e in episodes_now if e.id in wanted])
    if selection.categories:
        wanted = {c.upper() for c in selection.categories}
        chosen = [e for e in episodes_now if e.category.upper() in wanted]
        episodes_now = keep("not a --category", chosen)
    if selection.sample is not None and selection.sample < len(episodes_now):
        drawn = set(
            random.Random(selection.seed).sample(range(len(episodes_now)), selection.sample)
        )
        chosen = [e for n, e in enumerate(episodes_now) if n in drawn]
        episodes_now = keep(f"not in the --sample (seed {selection.seed})", chosen)
    if selection.limit is not None:
        episodes_now = keep(f"beyond --limit {selection.limit}", episodes_now[: selection.limit])
    return episodes_now


def _nothing_found(root: Path, fmt: str, split: str | None, account: _Account) -> str:
    what = f"no {'' if fmt == 'auto' else fmt + ' '}episodes found in {root}"
    if split:
        what += f" (split {split})"
    notes = [f"{f['path']}: {f['reason']}" for f in account.files if f["status"] != "read"][:3]
    notes += [s["reason"] for s in account.skipped][:3]
    if account.excluded:
        notes.append(", ".join(f"{n} {why}" for why, n in account.excluded.items()))
    return what + (f" ({'; '.join(notes)})" if notes else "")


def resolved_level(episodes: list[Episode]) -> str:
    """What the model was given: "low" when step instructions were in the prompts, "high" when
    an AndroidControl dataset was read without them, else "not applicable" (no such level)."""
    if any(step.instruction for e in episodes for step in e.steps):
        return "low"
    if any(e.benchmark == "androidcontrol" for e in episodes):
        return "high"
    return "not applicable"


def content_hash(root: Path, files: list[Path], episodes: list[Episode]) -> str:
    """SHA-256 over every file read and every screenshot under ``root`` the episodes use, each by
    its path relative to ``root`` and its contents: the same data gives the same hash wherever it
    lies (screenshots extracted from TFRecords are covered by their files)."""
    paths = {p.resolve() for p in files}
    base = root.resolve() if root.is_dir() else root.resolve().parent
    for episode in episodes:
        for step in episode.steps:
            image = Path(step.image).resolve()
            if base in image.parents:
                paths.add(image)
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: _relative(p, base)):
        digest.update(os.fsencode(_relative(path, base)) + b"\0")  # any name the disk holds
        digest.update(_file_hash(path).encode("ascii") + b"\n")
    return "sha256:" + digest.hexdigest()


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _relative(path: Path, root: Path) -> str:
    base = root if root.is_dir() else root.parent
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)
