"""One file layer for recordings and datasets (vlagent.tools.files): a path a recording names is
read only from inside its run (no absolute path, no ``..``, no link, no FIFO, socket or folder
where a file belongs); every file a command writes replaces a link planted at its name instead of
writing through it; the times a recording gives are bounded when replay paces itself by them."""

from __future__ import annotations

import json
import os
import socket
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vlagent.agent.outputs.export import ExportError, export_lerobot
from vlagent.agent.outputs.report import render_run_report
from vlagent.agent.replay.replayer import (
    MAX_PAUSE_S,
    check_recording,
    recorded_pause,
    recorded_screen,
    replay,
)
from vlagent.agent.trajectory import Recorder, TrajectoryError, read_trajectory
from vlagent.environments import make
from vlagent.tools.files import (
    FileError,
    MissingFile,
    UnsafeFile,
    name_parts,
    private_folder,
    read_inside,
    write_inside,
)

PRECIOUS = b"precious: must stay as it is"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


# -- a recording made by hand: a header, steps that tap, an end ------------------------------


def header() -> dict[str, object]:
    return {
        "type": "header",
        "format": "vlagent-trajectory",
        "version": 5,
        "run_id": "r",
        "goal": "g",
        "started_at": "2024-01-01T00:00:00Z",
        "environment": {"name": "memory", "space": "mobile"},
        "screen": {"width": 64, "height": 48, "scale": 1.0},
        "model": {"id": "m", "runtime": "scripted"},
        "dialect": "qwen25-vl",
        "tools": [],
        "limits": {},
        "versions": {},
    }


def step(index: int, screenshot: str | None = None, **extra: object) -> dict[str, object]:
    tap = {"action": "click", "coordinate": [0.5, 0.5]}
    return {
        "type": "step",
        "index": index,
        "started_at": f"2024-01-01T00:00:{index:02d}Z",
        "image_size": [64, 48],
        "scale": 1.0,
        "frame": [64.0, 48.0],
        "screen_hash": "0" * 32,
        "screenshot": screenshot if screenshot is not None else f"screens/{index:06d}.png",
        "action": {"tool": "mobile_use", "model": tap, "normalized": tap, "device": tap},
        "result": {"ok": True, "executed": True},
        **extra,
    }


def recording(folder: Path, steps: int = 2, **extra: object) -> Path:
    """A run folder of ``steps`` steps with a red screenshot each (``extra`` on every step)."""
    (folder / "screens").mkdir(parents=True)
    lines = [header()]
    for index in range(steps):
        Image.new("RGB", (64, 48), (200, 0, 0)).save(folder / f"screens/{index:06d}.png")
        lines.append(step(index, **extra))
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / "trajectory.jsonl").write_text(text, encoding="utf-8")
    return folder


def victim(tmp_path: Path, name: str = "victim") -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / name
    path.write_bytes(PRECIOUS)
    return path


def picture(tmp_path: Path) -> Path:
    """A picture outside every run: what a planted link would smuggle in."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    Image.new("RGB", (64, 48), (0, 0, 255)).save(outside / "private.png")
    return outside / "private.png"


# -- names a recording may give ----------------------------------------------------------------

segment = st.one_of(
    st.sampled_from(["..", ".", "screens", "a", "000001.png", "..."]),
    st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=8),
)


@FAST
@given(parts=st.lists(segment, min_size=1, max_size=5), absolute=st.booleans())
def test_a_name_that_is_absolute_or_climbs_is_refused_before_any_file_is_touched(
    parts: list[str], absolute: bool
) -> None:
    name = ("/" if absolute else "") + "/".join(parts)
    climbs = ".." in parts
    if absolute or climbs or all(p == "." for p in parts):
        with pytest.raises(UnsafeFile):
            name_parts(name)
    else:
        assert name_parts(name) == [p for p in parts if p != "."]


@FAST
@given(depth=st.integers(0, 3), ups=st.integers(1, 4))
def test_reading_a_climbing_or_absolute_name_never_returns_the_file_it_names(
    tmp_path_factory: pytest.TempPathFactory, depth: int, ups: int
) -> None:
    base = tmp_path_factory.mktemp("climb")
    root = base.joinpath("run", *["d"] * depth)
    root.mkdir(parents=True)
    secret = victim(base)
    climbing = "/".join([".."] * (depth + ups)) + "/outside/victim"
    for name in (climbing, str(secret), f"screens/../../{climbing}"):
        with pytest.raises(UnsafeFile):
            read_inside(root, name)


@FAST
@given(
    depth=st.integers(1, 4),
    at=st.integers(0, 3),
    target=st.sampled_from(["outside file", "outside folder", "inside file", "inside folder"]),
)
def test_a_link_anywhere_on_the_way_is_refused_wherever_it_points(
    tmp_path_factory: pytest.TempPathFactory, depth: int, at: int, target: str
) -> None:
    """Not only links that leave the run: any link, since what it points to may change."""
    base = tmp_path_factory.mktemp("links")
    root = base / "run"
    parts = [f"p{i}" for i in range(depth - 1)] + ["file.png"]
    real = root.joinpath(*parts)
    real.parent.mkdir(parents=True)
    real.write_bytes(b"inside")
    secret = victim(base)
    at = min(at, depth - 1)
    linked = root.joinpath(*parts[: at + 1])
    pointed = {
        "outside file": secret,
        "outside folder": secret.parent,
        "inside file": real,
        "inside folder": root,
    }[target]
    moved = base / "moved"
    os.rename(linked, moved)
    linked.symlink_to(pointed if pointed != linked else moved)
    with pytest.raises(UnsafeFile, match="symbolic link|not a folder"):
        read_inside(root, "/".join(parts))


@pytest.mark.parametrize("kind", ["fifo", "socket", "folder"])
def test_a_fifo_a_socket_or_a_folder_where_a_file_belongs_is_refused_at_once(
    tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "run"
    (root / "screens").mkdir(parents=True)
    special = root / "screens" / "000000.png"
    held = None
    if kind == "fifo":
        os.mkfifo(special)  # a reader that opened it plainly would wait here forever
    elif kind == "socket":
        held = socket.socket(socket.AF_UNIX)
        held.bind(str(special))
    else:
        special.mkdir()
    try:
        with pytest.raises(UnsafeFile, match="not a regular file"):
            read_inside(root, "screens/000000.png")
    finally:
        if held is not None:
            held.close()


def test_a_hard_link_to_another_users_file_is_refused_and_ones_own_is_read(tmp_path: Path) -> None:
    root = tmp_path / "run"
    root.mkdir()
    own = victim(tmp_path, "own")
    os.link(own, root / "own.png")  # a copy made with cp -l: the user's own file
    assert read_inside(root, "own.png") == PRECIOUS
    if os.getuid() != 0:
        pytest.skip("only root can give a file to another user")
    theirs = victim(tmp_path, "theirs")
    os.chown(theirs, 4242, 4242)
    os.link(theirs, root / "theirs.png")
    with pytest.raises(UnsafeFile, match="hard link"):
        read_inside(root, "theirs.png")


def test_a_missing_file_is_missing_and_a_regular_one_is_read(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.png").write_bytes(b"x")
    assert read_inside(tmp_path, "a/./b.png") == b"x"
    with pytest.raises(MissingFile):
        read_inside(tmp_path, "a/c.png")
    with pytest.raises(UnsafeFile, match="larger"):
        read_inside(tmp_path, "a/b.png", limit=0)


# -- the reader, replay, export and report on crafted recordings ------------------------------


def test_the_reader_names_each_file_it_will_not_read(tmp_path: Path) -> None:
    run = recording(tmp_path / "run", views={"wrist": "../outside/private.png"})
    secret = picture(tmp_path)
    (run / "screens/000001.png").unlink()
    (run / "screens/000001.png").symlink_to(secret)
    trajectory = read_trajectory(run)
    problems = " ".join(trajectory.problems)
    assert "screenshot screens/000001.png is not read" in problems and "symbolic link" in problems
    assert "view wrist ../outside/private.png is not read" in problems
    assert trajectory.screenshot(trajectory.steps[1]) is None
    assert trajectory.screenshot(trajectory.steps[0]) == run / "screens/000000.png"


@pytest.mark.parametrize("special", ["link", "fifo"])
def test_a_trajectory_file_that_is_a_link_or_a_fifo_is_refused_not_read(
    tmp_path: Path, special: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    if special == "link":
        other = recording(tmp_path / "other")
        (run / "trajectory.jsonl").symlink_to(other / "trajectory.jsonl")
    else:
        os.mkfifo(run / "trajectory.jsonl")
    with pytest.raises(TrajectoryError, match="cannot read"):
        read_trajectory(run)


@FAST
@given(how=st.sampled_from(["link to picture", "link to folder", "fifo", "missing"]))
def test_replay_never_compares_with_a_picture_from_outside_the_run(
    tmp_path_factory: pytest.TempPathFactory, how: str
) -> None:
    base = tmp_path_factory.mktemp("replay")
    run = recording(base / "run")
    secret = picture(base)
    shot = run / "screens/000001.png"
    shot.unlink()
    if how == "link to picture":
        shot.symlink_to(secret)
    elif how == "link to folder":
        (run / "screens").rename(run / "real")
        (run / "screens").symlink_to(run / "real")
        shot = run / "screens/000000.png"
    elif how == "fifo":
        os.mkfifo(shot)
    trajectory = read_trajectory(run)
    index = 0 if how == "link to folder" else 1
    assert recorded_screen(trajectory, trajectory.steps[index]) is None
    if how == "missing":
        check_recording(trajectory)  # a missing screen is the screen check's: replay stops there
    else:
        with pytest.raises(TrajectoryError, match="read only from inside"):
            check_recording(trajectory)


def test_an_export_takes_no_image_from_outside_the_run(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    secret = picture(tmp_path)
    for n, (key, named) in enumerate(
        [
            ("views", {"wrist": str(secret)}),  # absolute
            ("views", {"wrist": "../outside/private.png"}),  # climbing
            ("views", {"wrist": "screens/link.png"}),  # a link inside the run
        ]
    ):
        run = recording(tmp_path / f"run{n}", **{key: named})
        (run / "screens/link.png").symlink_to(secret)
        out = tmp_path / f"ds{n}"
        with pytest.raises(ExportError, match="read from inside"):
            export_lerobot([run], out)
        assert not out.exists() or not any(out.rglob("*.parquet"))


def test_an_export_whose_screenshot_is_a_link_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    run = recording(tmp_path / "run")
    (run / "screens/000000.png").unlink()
    (run / "screens/000000.png").symlink_to(picture(tmp_path))
    with pytest.raises(ExportError, match="symbolic link"):
        export_lerobot([run], tmp_path / "ds")


# -- every output name a command writes: a link planted there is replaced, never followed ------


@FAST
@given(index=st.integers(0, 1), planted=st.sampled_from(["json", "recorded", "live", "folder"]))
def test_replay_replaces_links_planted_at_its_outputs_and_leaves_their_targets(
    tmp_path_factory: pytest.TempPathFactory, index: int, planted: str
) -> None:
    base = tmp_path_factory.mktemp("plant")
    run = recording(base / "run", steps=2)
    target = victim(base)
    names = {
        "json": "divergence.json",
        "recorded": f"step-{index:06d}-recorded.png",
        "live": f"step-{index:06d}-live.png",
    }
    if planted == "folder":
        (run / "replay").symlink_to(target.parent, target_is_directory=True)
    else:
        (run / "replay").mkdir()
        for name in names.values():
            (run / "replay" / name).symlink_to(target)
    trajectory = read_trajectory(run)
    environment = make("memory", space="mobile", size="64x48")
    try:
        if planted == "folder":
            with pytest.raises(FileError, match="report cannot be written: .* symbolic link"):
                replay(trajectory, environment, start=index, speed=0, patience=0)
        else:
            result = replay(trajectory, environment, start=index, speed=0, patience=0)
            assert result.diverged_at == index and result.report == run / "replay/divergence.json"
            assert json.loads(result.report.read_text())["step"] == index
            assert not (run / "replay" / names["recorded"]).is_symlink()
    finally:
        environment.close()
    assert target.read_bytes() == PRECIOUS
    assert sorted(p.name for p in target.parent.iterdir()) == ["victim"]


def test_the_report_replaces_a_planted_link(tmp_path: Path) -> None:
    run = recording(tmp_path / "run")
    target = victim(tmp_path)
    (run / "report.html").symlink_to(target)
    page = render_run_report(run)
    assert target.read_bytes() == PRECIOUS and not page.is_symlink()


def test_the_recorder_replaces_a_link_planted_at_a_screenshot(tmp_path: Path) -> None:
    target = victim(tmp_path)
    recorder = Recorder(tmp_path / "run")
    (tmp_path / "run/screens/000000.png").symlink_to(target)  # planted after the empty check
    recorder.capture(0, Image.new("RGB", (8, 8)), {}, {})
    recorder.flush()
    assert target.read_bytes() == PRECIOUS
    assert not (tmp_path / "run/screens/000000.png").is_symlink()
    with Image.open(tmp_path / "run/screens/000000.png") as written:
        assert written.size == (8, 8)


@FAST
@given(
    name=st.lists(
        st.text(string.ascii_lowercase, min_size=1, max_size=4), min_size=1, max_size=3
    ).map("/".join),
    at=st.integers(0, 2),
)
def test_write_inside_never_writes_through_a_link_on_the_way(
    tmp_path_factory: pytest.TempPathFactory, name: str, at: int
) -> None:
    base = tmp_path_factory.mktemp("write")
    root = base / "root"
    root.mkdir()
    target = victim(base)
    parts = name.split("/")
    at = min(at, len(parts) - 1)
    planted = root.joinpath(*parts[: at + 1])
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(target if at == len(parts) - 1 else target.parent)
    if at == len(parts) - 1:
        write_inside(root, name, b"new")
        assert planted.read_bytes() == b"new" and not planted.is_symlink()
    else:
        with pytest.raises(UnsafeFile):
            write_inside(root, name, b"new")
    assert target.read_bytes() == PRECIOUS
    assert sorted(p.name for p in target.parent.iterdir()) == ["victim"]


# -- recorded times -----------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
)


@FAST
@given(before=moments, after=moments, speed=st.floats(allow_nan=True, allow_infinity=True))
def test_a_replay_pause_stays_within_its_bound_whatever_the_recording_says(
    before: datetime, after: datetime, speed: float
) -> None:
    pause = recorded_pause(before, after, speed)
    assert 0.0 <= pause <= MAX_PAUSE_S
    if speed == 1.0 and timedelta(0) <= after - before <= timedelta(seconds=MAX_PAUSE_S):
        assert pause == (after - before).total_seconds()


def test_a_recording_whose_steps_are_years_apart_replays_without_waiting_years(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = recording(tmp_path / "run", steps=2)
    lines = (run / "trajectory.jsonl").read_text().splitlines()
    far = json.loads(lines[2])
    far["started_at"] = "9999-12-31T23:59:59"  # no zone: compared as UTC, never a crash
    lines[2] = json.dumps(far)
    (run / "trajectory.jsonl").write_text("\n".join(lines) + "\n")
    slept: list[float] = []
    monkeypatch.setattr("vlagent.agent.replay.replayer.time.sleep", slept.append)
    environment = make("memory", space="mobile", size="64x48")
    try:
        replay(read_trajectory(run), environment, speed=1e-9, check=False)
    finally:
        environment.close()
    assert slept and max(slept) <= MAX_PAUSE_S


def test_the_private_folder_refuses_a_planted_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlagent.tools import files

    monkeypatch.setattr(files, "machine_temp", lambda: tmp_path)
    (tmp_path / f"vlagent-{os.getuid()}").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "outside").mkdir(mode=0o700)
    with pytest.raises(OSError, match="not a private folder of yours: it is a symbolic link"):
        private_folder("locks")
