"""The UI tree for the model: one element list from a live ``uiautomator dump`` (through the
real adb server) and from AndroidControl's accessibility forests (written by android_env's own
protos), numbered marks on the screenshot, and taps by element number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from vlagent.agent.core.elements import element_points
from vlagent.agent.core.interpret import AnswerError, read_answer
from vlagent.environments import Observation, UIElement
from vlagent.environments.android import AndroidEnvironment
from vlagent.environments.ui_tree import (
    draw_marks,
    dump_package,
    element_lines,
    for_model,
    from_accessibility_nodes,
)
from vlagent.environments.virtual_android import VirtualDevice
from vlagent.prompts import get_dialect
from vlagent.tools import mobile_tools

CONTROL = Path(__file__).parents[1] / "data" / "tfrecord" / "androidcontrol-sample.tfrecord.gz"


@pytest.fixture
def android(phone: VirtualDevice) -> Iterator[AndroidEnvironment]:
    env = AndroidEnvironment(serial=phone.serial, ui_tree=True)
    yield env
    env.close()


def test_a_live_observation_lists_what_is_on_screen_and_nothing_else(
    android: AndroidEnvironment, phone: VirtualDevice
) -> None:
    elements = android.observe().elements or []
    texts = [e.text for e in elements]
    assert "Settings" in texts and "Notes" in texts
    notes = next(e for e in elements if e.text == "Notes")
    assert notes.clickable and notes.kind.endswith("TextView")
    # The root container says nothing and is not clickable: it is not listed.
    assert all(e.text or e.description or e.clickable for e in elements)
    phone.run("monkey -p com.vlagent.notes -c android.intent.category.LAUNCHER 1")
    observation = android.observe()
    shown = [e.resource_id for e in observation.elements or []]
    assert "com.vlagent.notes:id/save" in shown
    assert observation.metadata["foreground"] == "com.vlagent.notes"  # the dump's root names it


def test_the_app_in_front_is_the_package_of_the_dumps_first_node() -> None:
    node = (
        '<node index="0" text="say package=&quot;x&quot;" class="android.widget.FrameLayout" '
        'package="com.android.settings" bounds="[0,0][1080,2400]">'
    )
    assert dump_package(
        f'<?xml version="1.0"?><hierarchy rotation="0">{node}</node></hierarchy>'
    ) == ("com.android.settings")
    assert dump_package('<hierarchy rotation="0"></hierarchy>') is None


def test_the_list_is_written_in_the_models_own_coordinate_space() -> None:
    element = UIElement(
        bounds=(108, 252, 324, 552), text="Settings", kind="android.widget.TextView", clickable=True
    )
    assert (
        element_lines([element]).splitlines()[1]
        == '0: TextView "Settings" [108,252][324,552] clickable'
    )
    relative = element_lines([element], (1000 / 1080, 1000 / 2400)).splitlines()[1]
    assert relative == '0: TextView "Settings" [100,105][300,230] clickable'


def test_off_screen_empty_and_repeated_elements_are_left_out() -> None:
    elements = [
        UIElement(bounds=(0, 0, 1080, 2400), kind="android.widget.FrameLayout"),  # says nothing
        UIElement(bounds=(0, 2500, 100, 2600), text="below the screen", clickable=True),
        UIElement(bounds=(10, 10, 11, 11), text="a speck"),
        UIElement(bounds=(-50, 100, 200, 300), text="partly off"),
        UIElement(bounds=(-50, 100, 200, 300), text="partly off"),
        UIElement(bounds=(500, 500, 600, 600), description="Search", clickable=True),
    ]
    kept = for_model(elements, (1080, 2400))
    assert [(e.text or e.description, e.bounds) for e in kept] == [
        ("partly off", (0, 100, 200, 300)),
        ("Search", (500, 500, 600, 600)),
    ]


def test_androidcontrol_accessibility_forests_become_the_same_elements() -> None:
    from vlagent.agent.evaluation.tfrecord import accessibility_nodes, example, records

    features = example(next(iter(records(CONTROL))))
    width, height = int(features["screenshot_widths"][0]), int(features["screenshot_heights"][0])
    nodes = accessibility_nodes(features["accessibility_trees"][0])
    elements = for_model(from_accessibility_nodes(nodes), (width, height))
    assert elements, "the fixture's first screen has visible, labelled nodes"
    visible = [
        n
        for n in nodes
        if n["visible"] and (n["text"] or n["content_description"] or n["clickable"])
    ]
    assert {e.text or e.description for e in elements} <= {
        n["text"] or n["content_description"] for n in visible
    }
    assert all(
        0 <= e.bounds[0] < e.bounds[2] <= width and 0 <= e.bounds[1] < e.bounds[3] <= height
        for e in elements
    )


def test_marks_number_each_element_on_a_copy_of_the_screenshot() -> None:
    image = Image.new("RGB", (400, 800), "white")
    elements = [
        UIElement(bounds=(20, 20, 200, 100), text="A"),
        UIElement(bounds=(20, 300, 380, 400), text="B"),
    ]
    marked = draw_marks(image, elements)
    assert image.getpixel((20, 60)) == (255, 255, 255)  # the original is untouched
    assert marked.getpixel((20, 60)) != (255, 255, 255)  # outline of 0
    assert marked.getpixel((20, 350)) != (255, 255, 255)  # outline of 1
    assert marked.getpixel((300, 200)) == (255, 255, 255)  # nothing between them


ELEMENTS = [
    UIElement(bounds=(0, 0, 100, 100), text="a", clickable=True),
    UIElement(bounds=(500, 1000, 700, 1200), text="b", clickable=True),
]
OBS = Observation(Image.new("RGB", (1000, 2000)), elements=ELEMENTS)


def _read(arguments: str) -> object:
    dialect = get_dialect("qwen2-vl")
    text = f'<tool_call>{{"name": "mobile_use", "arguments": {arguments}}}</tool_call>'
    return read_answer(
        text,
        dialect,
        dialect.frame_for(OBS.size),
        mobile_tools(elements=True),
        OBS.to_device,
        element_points=element_points(OBS),
    )


def test_a_tap_on_an_element_number_lands_on_its_centre_in_every_space() -> None:
    record = _read('{"action": "click", "element": 1}').record  # type: ignore[attr-defined]
    assert record.model == {"action": "click", "element": 1}
    assert record.normalized["coordinate"] == [0.6, 0.55]
    assert record.device["coordinate"] == [600.0, 1100.0]


def test_an_element_number_outside_the_list_is_feedback_for_the_model() -> None:
    with pytest.raises(
        AnswerError, match="element 2 is not in the list; the elements are numbered 0 to 1"
    ):
        _read('{"action": "click", "element": 2}')
    with pytest.raises(AnswerError, match="needs 'coordinate' or 'element'"):
        _read('{"action": "click"}')
    plain = Observation(Image.new("RGB", (1000, 2000)))
    dialect = get_dialect("qwen2-vl")
    with pytest.raises(
        AnswerError, match="no elements are listed for this screen; give 'coordinate'"
    ):
        read_answer(
            '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "element": 0}}'
            "</tool_call>",
            dialect,
            dialect.frame_for(plain.size),
            mobile_tools(elements=True),
            plain.to_device,
            element_points=element_points(plain),
        )


@given(
    st.one_of(
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=3),
    )
)
def test_whatever_a_model_writes_as_element_is_read_or_refused_never_a_crash(value: object) -> None:
    import json

    try:
        reading = _read(json.dumps({"action": "click", "element": value}))
    except AnswerError as exc:
        assert exc.stage == "validation"
        return
    assert value in (0, 1) and not isinstance(value, bool)
    assert reading.record.normalized["coordinate"] == list(element_points(OBS)[value])  # type: ignore[attr-defined,index]
