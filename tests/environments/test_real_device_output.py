"""What real phones print, parsed as the driver reads it: ``uiautomator dump`` files of real
devices give the elements a person sees on those screens, and a real ``dumpsys window`` gives the
display's rotation (tests/data/real-android, with its sources)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlagent.environments.android_commands import display_rotation
from vlagent.environments.ui_tree import dump_package, for_model, parse_hierarchy

DATA = Path(__file__).parents[1] / "data" / "real-android"


def listed(name: str, size: tuple[int, int]) -> dict[str, tuple[str, bool]]:
    """The elements the model is given: text or description → (kind, clickable)."""
    xml = (DATA / name).read_text(encoding="utf-8")
    return {
        e.text or e.description: (e.kind.rsplit(".", 1)[-1], e.clickable)
        for e in for_model(parse_hierarchy(xml), size)
    }


def test_a_pixel_home_screen_lists_what_a_person_sees() -> None:
    # Checked by hand against the dump: the date and weather at the top, the four hotseat apps,
    # the all-apps handle and the search bar at the bottom, all tappable but the weather.
    seen = listed("uiautomator-dump-api27-nexus-launcher.xml", (1080, 1794))
    for app in ("Phone", "Messages", "Play Store", "Chrome"):
        assert seen[app] == ("TextView", True)
    assert seen["Sunday, May 19"] == ("TextView", True)
    assert seen["56°F"] == ("TextView", False)
    assert seen["Apps list"] == ("ImageView", True) and seen["Search"] == ("FrameLayout", True)
    xml = (DATA / "uiautomator-dump-api27-nexus-launcher.xml").read_text(encoding="utf-8")
    assert dump_package(xml) == "com.google.android.apps.nexuslauncher"
    # Containers that say nothing are left out: 29 nodes in the dump; 12 lines, and those
    # without words are the tappable groups (the home screen's pages, the hotseat).
    assert len(parse_hierarchy(xml)) == 29


def test_an_android_4_lock_screen_lists_its_clock_and_carrier() -> None:
    seen = listed("uiautomator-dump-api17-chinese.xml", (800, 1216))
    assert seen["6:40"] == ("TextView", False)
    assert seen["ANDROID"] == ("TextView", False)
    assert seen["语言"] == ("TextView", False)


@pytest.mark.parametrize(
    ("output", "rotation"),
    [
        ((DATA / "dumpsys-window-windows-api17.txt").read_text(), 0),
        ("  mCurrentRotation=ROTATION_90\n", 1),
        ("  mCurrentRotation=3 mCurrentOrientation=0\n", 3),
        ("  mRotation=2 mAltOrientation=false\n", 2),
        ("no rotation here\n", None),
    ],
)
def test_the_rotation_is_read_from_dumpsys_window(output: str, rotation: int | None) -> None:
    # The first is a real device's (Android 4.2: mRotation); the others are the forms of the
    # lines Android prints (Surface.rotationToString gives ROTATION_90).
    assert display_rotation(output) == rotation
