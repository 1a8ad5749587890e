"""How text becomes key events (environments/xkeys.py), without a display: one key per character,
in order, control characters left out and named; texts with more distinct characters than spare
keycodes cut into parts that each fit; and no code of the package ever writes the clipboard."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vlagent.environments.xkeys import KEYSYMS, keystrokes, keysym_of, parts
from vlagent.tools.keys import KEY_NAMES

REPO = Path(__file__).resolve().parents[2]


def character_of(keysym: int) -> str:
    """What a program types for ``keysym`` (X11 keysymdef.h), the inverse of keysym_of."""
    specials = {0xFF0D: "\n", 0xFF09: "\t", 0xFF08: "\b", 0xFF1B: "\x1b", 0xFFFF: "\x7f"}
    if keysym in specials:
        return specials[keysym]
    return chr(keysym & 0xFFFFFF if keysym >= 0x01000000 else keysym)


@settings(max_examples=200)
@given(text=st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=40))
def test_every_printable_character_is_one_key_in_order(text: str) -> None:
    strokes, left_out = keystrokes(text)
    assert left_out == [] and "".join(character_of(k) for k in strokes) == text


@settings(max_examples=200)
@given(text=st.text(st.characters(categories=["Cc", "Cs", "L", "Zs"]), max_size=40))
def test_control_characters_without_a_key_are_left_out_and_named(text: str) -> None:
    strokes, left_out = keystrokes(text)
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    typed = "".join(character_of(k) for k in strokes)
    keyed = set("\n\t\b\x1b\x7f")
    assert typed == "".join(c for c in normalized if c in keyed or c not in left_out)
    assert all(c not in keyed for c in left_out)
    assert len(strokes) + len(left_out) == len(normalized)


def test_line_breaks_and_tabs_are_their_keys() -> None:
    assert keystrokes("a\r\nb\rc\nd\te")[0] == [
        *map(keysym_of, "a"),
        0xFF0D,
        ord("b"),
        0xFF0D,
        ord("c"),
        0xFF0D,
        ord("d"),
        0xFF09,
        ord("e"),
    ]


@settings(max_examples=200)
@given(
    strokes=st.lists(st.integers(0, 40), max_size=200),
    on_map=st.sets(st.integers(0, 40)),
    spare=st.integers(1, 19),
)
def test_parts_keep_the_order_and_each_fits_the_spare_keys(
    strokes: list[int], on_map: set[int], spare: int
) -> None:
    found = {k: (10, 0) for k in on_map}
    cut = list(parts(strokes, found, spare))
    assert [k for part in cut for k in part] == strokes
    assert all(part for part in cut)
    assert all(len({k for k in part if k not in found}) <= spare for part in cut)
    if len({k for k in strokes if k not in found}) <= spare:
        assert len(cut) <= 1  # no wait between parts when the spare keys suffice


def test_every_key_name_a_model_may_use_has_a_keysym() -> None:
    for name in KEY_NAMES:
        keysym = KEYSYMS.get(name) or keysym_of(name)
        assert keysym > 0, name
    assert KEYSYMS["f24"] == 0xFFD5 and KEYSYMS["win"] == 0xFFEB


def test_no_code_of_the_package_writes_a_selection() -> None:
    """Typing never goes through the clipboard: no module starts a clipboard tool or takes a
    selection (the running check is tests/e2e/test_desktop_typing.py's watcher)."""
    writers = re.compile(r"[\"'](xclip|xsel|wl-copy)\b|set_selection_owner\(|\bClipboard\(")
    folders = ("agent", "environments", "tools", "prompts")
    found = [
        f"{path.relative_to(REPO)}: {match.group()}"
        for folder in folders
        for path in (REPO / folder).rglob("*.py")
        for match in writers.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
