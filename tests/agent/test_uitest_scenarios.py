"""The plan cache against a changed app, on the virtual phone, through pytest as a user runs it:
each suite runs first to write the cache, then, with the app changed, in read mode. A changed app
is never passed on the strength of the cache: a moved or renamed button, a pop-up, a pop-up that
steals the focus, a verdict-changing text and a dropped letter all go back to the model, and a
broken app fails. Also here: cache keys (same-named tests in two files, an inserted verb),
secrets in plan folders, the ``vl`` marker, the single-shot verbs and the reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vlagent.agent.uitest.plans import folder_of

EXAMPLES = Path(__file__).parents[2] / "examples" / "ui-tests" / "phone"

# The example suite's colour-finding phone model, plus what a model that reads the screen does:
# it reads the words drawn (the virtual phone's own element list, exactly what is on the screen).
MODEL = (
    (EXAMPLES / "phone_model.py").read_text(encoding="utf-8")
    + """

from pathlib import Path as _Path

PHONE = None  # the virtual phone, set by the conftest


def _elements():
    return PHONE.elements()


def _centre(element):
    left, top, right, bottom = element.bounds
    x, y = (left + right) / 2 / PHONE.width, (top + bottom) / 2 / PHONE.height
    return [round(x * 1000), round(y * 1000)]


def _find(words):
    for element in reversed(_elements()):
        if element.text == words or element.resource_id.endswith("/" + words):
            return element
    return None


TARGETS = {"notes app icon": "Notes", "note field": "note", "save button": "save",
           "saved note": "saved_0", "later button": "later", "settings app icon": "Settings"}


def _target(goal):
    for words, name in TARGETS.items():
        if words in goal.lower():
            return _find(name)
    return None


def tested(prompt):
    _Path("calls.txt").open("a").write("x")  # one character per model call
    tools = {t["function"]["name"] for t in prompt.tools or []}
    text = prompt.text()
    goal = text.split("The user query: ", 1)[-1].split("\\n", 1)[0].split("<image", 1)[0]
    image = prompt.images()[-1].convert("RGB")
    title = re.search(r"the title reads '([^']+)'", goal)
    if "verdict" in tools and title:
        shown = [e.text for e in _elements() if e.resource_id.endswith("/title")]
        return call("verdict", holds=shown == [title.group(1)], reason=f"the title reads {shown}")
    if "tap" in tools or "locate" in tools:
        found = _target(goal)
        if found is None:
            return "I cannot see it."
        if "tap" in tools:
            return call("tap", coordinate=_centre(found))
        left, top, right, bottom = found.bounds
        corner = lambda x, y: [round(x / PHONE.width * 1000), round(y / PHONE.height * 1000)]
        return call("locate", top_left=corner(left, top), bottom_right=corner(right, bottom))
    if "mobile_use" in tools and _find("later") is not None:  # a dialog: dismiss it first
        return call("mobile_use", action="click", coordinate=_centre(_find("later")))
    said = answer(prompt)
    wanted = re.search(r"make sure '([^']+)' is saved", goal)
    if wanted and '"terminate"' in said:
        saved = [e.text for e in _elements() if "/saved_" in e.resource_id]
        status = "success" if wanted.group(1) in saved else "failure"
        return call("mobile_use", action="terminate", status=status)
    return said
"""
)

CONFTEST = '''
import dataclasses, os
import pytest
import model
from vlagent.tools import ToolCall
from vlagent.environments.virtual_android.elements import Element


def change(phone, kind):
    """The app as a new release changed it (VL_CHANGE)."""
    notes = phone._notes
    if kind == "dropped":  # Save drops the last letter
        def save():
            if phone.note:
                phone.notes.append(phone.note[:-1])
                phone.note = ""
        phone.save = save
    elif kind == "focus":  # tapping the field opens a pop-up that keeps the focus
        phone.popup = False
        def focus():
            phone.popup = True
        phone._focus = focus
    elif kind == "modal":
        phone.modal = True
    def drawn():
        items = notes()
        for i, item in enumerate(items):
            if item.resource_id.endswith("/title") and kind == "title":
                items[i] = dataclasses.replace(item, text="Nope")
            if item.resource_id.endswith("/save") and kind == "move":
                l, t, r, b = item.bounds
                moved = (phone.width - r, t, phone.width - l, b)
                items[i] = dataclasses.replace(item, bounds=moved)
            if item.resource_id.endswith("/save") and kind == "rename":
                items[i] = dataclasses.replace(item, text="Delete", on_tap=phone.notes.clear)
        w, h, app = phone.width, phone.height, "com.vlagent.notes"
        middle = (w // 4, h // 2, 3 * w // 4, h // 2 + 200)
        if kind == "focus" and phone.popup:
            items.append(Element("android.widget.TextView", middle, "Update available",
                                 app + ":id/popup", app, "#fce8e6"))
        if kind == "modal" and phone.modal:
            def later():
                phone.modal = False
            items.append(Element("android.widget.FrameLayout", (0, 0, w, h), "",
                                 app + ":id/scrim", app, "#9e9e9e", on_tap=lambda: None))
            items.append(Element("android.widget.Button", middle, "Later",
                                 app + ":id/later", app, "#ffffff", on_tap=later))
        return items
    phone._notes = drawn


@pytest.fixture(autouse=True)
def start_home(request, vl_environment):
    phone = vl_environment.embedded.device.phone
    model.PHONE = phone
    vl_environment.freeze_clock("1200")
    if os.environ.get("VL_CHANGE") and not hasattr(phone, "changed"):
        phone.changed = True
        change(phone, os.environ["VL_CHANGE"])
    vl_environment.execute(vl_environment.toolset.validate(
        ToolCall("mobile_use", {"action": "system_button", "button": "Home"})))
'''

NOTE = """
def test_note(vl_agent):
    vl_agent.act(
        "Write the note 'Call Bob' in the Notes app, save it and make sure 'Call Bob' is saved"
    )
    vl_agent.check("the title reads 'Notes'")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(model=MODEL)
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\npythonpath = .\n")
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--vl-model",
        "python:model:tested",
        "--vl-max-steps=8",
        *args,
        timeout=240,
    )


def calls(suite: pytest.Pytester) -> int:
    path = suite.path / "calls.txt"
    count = len(path.read_text()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


# (the change, whether the app is broken by it)
CHANGES = [
    ("dropped", True),  # saves "Call Bo": the cached "success" must not be reused
    ("title", True),  # a verdict-changing text: the cached check must not be reused
    ("rename", True),  # Save became Delete: never clicked blindly, and the note is gone
    ("focus", True),  # a pop-up steals the focus: nothing is typed
    ("modal", False),  # a dialog to dismiss: the model does, the rest replays
    ("move", False),  # Save moved: the model finds it
]


def test_a_changed_app_goes_back_to_the_model_and_a_broken_one_fails(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(test_note=NOTE)
    run(suite, "--vl-cache=update").assert_outcomes(passed=1)
    assert calls(suite) == 6  # five steps, one check
    run(suite, "--vl-cache=read").assert_outcomes(passed=1)
    assert calls(suite) == 0  # unchanged: everything from the cache
    for kind, broken in CHANGES:
        monkeypatch.setenv("VL_CHANGE", kind)
        result = run(suite, "--vl-cache=read")
        outcome = {"failed": 1} if broken else {"passed": 1}
        assert result.parseoutcomes() == outcome, (kind, result.stdout.str()[-3000:])
        assert calls(suite) >= 1, kind  # the model looked at the changed screen


def test_same_named_tests_in_two_files_and_an_inserted_verb_keep_their_own_entries(
    suite: pytest.Pytester,
) -> None:
    count = """
def test_count(vl_agent):
    vl_agent.tap("the Notes app icon")
    assert vl_agent.query("How many notes are saved?", int) == {n}
    vl_agent.check("the title reads 'Notes'")
    vl_agent.check("the title reads 'Notes'")
"""
    suite.makepyfile(test_a=count.format(n=0), test_b=count.format(n=0))
    run(suite, "--vl-cache=update").assert_outcomes(passed=2)
    assert calls(suite) == 8
    folders = sorted((suite.path / "vl-plans").iterdir())
    assert [p.name.split("-", 1)[0] for p in folders] == [
        "test_a.py_test_count",
        "test_b.py_test_count",
    ]  # the node id names each test's folder: same-named tests never share one
    entries = sorted(p.name for p in folders[0].iterdir() if p.is_dir())
    assert len(entries) == 4 and sum(e.endswith("-2") for e in entries) == 1  # the second check

    # A verb inserted at the top: only it is asked; every other entry is found by its key.
    suite.makepyfile(
        test_a="def test_count(vl_agent):\n"
        '    vl_agent.check("the home screen is shown")\n' + count.format(n=0).split(":\n", 1)[1]
    )
    run(suite, "--vl-cache=read", "test_a.py").assert_outcomes(passed=1)
    assert calls(suite) == 1
    result = run(suite, "--vl-cache=prune")
    result.assert_outcomes(passed=2)
    assert "none: every entry is used" in result.stdout.str()  # read mode never wrote the new one
    # A session that ran part of the suite judges nothing: its unselected tests are not stale.
    for selection in (["test_b.py::test_count"], ["-k", "count and b"], ["test_b.py"]):
        result = run(suite, "--vl-cache=prune", *selection)
        out = result.stdout.str()
        if "::" in selection[0] or selection[0] == "-k":
            assert "not judged" in out and "stale" not in out.replace("stale entries", ""), out
    suite.makepyfile(test_a="def test_other(vl_agent):\n    pass\n")
    result = run(suite, "--vl-cache=prune")
    assert "test_a.py_test_count-" in result.stdout.str() and "1 stale" in result.stdout.str()


SECRET_TEST = """
import os

def test_login(vl_agent, vl_secrets):
    vl_agent.act("Write the note '{{PASSWORD}}' in the Notes app and save it")
    vl_agent.type_text(vl_secrets["PASSWORD"], into="the note field")
    vl_agent.key("ENTER")
    phone = vl_agent.environment.inner.embedded.device.phone
    assert phone.notes == [os.environ["PASSWORD"]] * 2
    vl_agent.check("the title reads 'Notes' and no note says " + os.environ["PASSWORD"])
"""


def test_a_secret_reaches_the_app_but_never_a_plan_folder(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = "hunter2-Ünïcode\"'"
    monkeypatch.setenv("PASSWORD", value)
    suite.makepyfile(test_login=SECRET_TEST)
    args = ("--vl-secret=PASSWORD", "--vl-trajectory=on")
    run(suite, "--vl-cache=update", *args).assert_outcomes(passed=1)
    assert calls(suite) >= 6
    run(suite, "--vl-cache=read", *args).assert_outcomes(passed=1)
    assert calls(suite) == 0  # the placeholder replayed, the value typed
    plans = suite.path / "vl-plans"
    written = [p for p in plans.rglob("*")]
    assert any(p.suffix == ".jsonl" for p in written)
    for path in written + list((suite.path / "vl-runs").rglob("*")):
        assert "hunter2" not in str(path)
        if path.is_file() and path.suffix != ".png":
            assert b"hunter2" not in path.read_bytes(), path
    assert any(b"{{PASSWORD}}" in p.read_bytes() for p in written if p.suffix == ".jsonl")
    monkeypatch.delenv("PASSWORD")
    result = run(suite, "--vl-secret=PASSWORD")
    assert "vlagent: --vl-secret PASSWORD: set the environment variable PASSWORD" in (
        result.stdout.str()
    )


MARKED = """
import pytest

@pytest.mark.vl(cache="off")
def test_uncached(vl_agent):
    vl_agent.check("the home screen is shown")

@pytest.mark.vl(max_steps=2)
def test_short(vl_agent):
    vl_agent.act("Write the note 'x' in the Notes app and save it")

@pytest.mark.vl(model="python:model:other")
def test_other_model(vl_agent):
    vl_agent.check("the home screen is shown")

@pytest.mark.vl(cache="sometimes")
def test_bad(vl_agent):
    pass

@pytest.mark.vl(model=None)
def test_no_model(vl_agent):
    pass
"""


def test_the_vl_marker_changes_one_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(model=MODEL + "\n\ndef other(prompt):\n    return 'not a tool call'\n")
    suite.makepyfile(test_marked=MARKED)
    result = run(suite, "--vl-cache=update")
    result.assert_outcomes(passed=1, failed=2, errors=2)
    out = result.stdout.str()
    assert "vlagent: @pytest.mark.vl(model=None): give a value, or leave the keyword out" in out
    assert re.search(r"act\(.Write the note 'x'.*failed at step 1 \(max_steps\)", out)
    assert "check('the home screen is shown') failed" in out  # the other model says nothing
    assert "vlagent: @pytest.mark.vl(cache='sometimes'): give one of off, read" in out
    plans = suite.path / "vl-plans"
    folders = [p.name for p in plans.iterdir()] if plans.exists() else []
    assert not any("test_uncached" in name for name in folders)


VERBS = """
def test_verbs(vl_agent):
    vl_agent.tap("the Notes app icon")
    box = vl_agent.locate("the Save button")
    phone = vl_agent.environment.embedded.device.phone
    save = next(e for e in phone.elements() if e.resource_id.endswith("/save"))
    assert abs(box.left - save.bounds[0]) < 4 and abs(box.bottom - save.bounds[3]) < 4
    vl_agent.type_text("milk", into="the note field")
    vl_agent.key("ENTER")
    assert phone.notes == ["milk"]
    vl_agent.double_click("the note field")
    vl_agent.type_text("tea")
    vl_agent.tap("the Save button")
    vl_agent.right_click("the saved note")  # a long press deletes it
    assert phone.notes == ["tea"]
    vl_agent.key("HOME")
    vl_agent.tap("the Settings app icon")
    vl_agent.scroll("down")
    assert phone.scroll > 0

def test_hover_needs_a_desktop(vl_agent):
    vl_agent.hover("the Notes app icon")

def test_a_plain_assert(vl_agent):
    assert vl_agent.query("How many notes are saved?", int) == 5
"""


def test_single_shot_verbs_reports_and_junit(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_verbs=VERBS)
    args = ("--vl-trajectory=on", "--junitxml=out.xml")
    result = run(suite, "--vl-cache=update", *args)
    result.assert_outcomes(passed=1, failed=2)
    assert calls(suite) == 8  # tap, locate, type into, double, tap, right, tap, query
    out = result.stdout.str()
    assert "hover has no action on mobile_use: use a desktop environment" in out
    # The plain assert names the last screenshot and the test's report.
    shot = re.search(r"last screenshot: (\S+\.png)", out)
    page = re.search(r"report: (\S+test_a_plain_assert-[0-9a-f]+/report\.html)", out)
    assert shot and Path(shot.group(1)).is_file() and page and Path(page.group(1)).is_file()
    xml = (suite.path / "out.xml").read_text()
    assert re.search(
        r'<property name="vl_report" value="[^"]+test_verbs-[0-9a-f]+/report\.html"', xml
    )

    run(suite, "--vl-cache=read", *args).assert_outcomes(passed=1, failed=2)
    assert calls(suite) == 0  # every grounded verb and the query from the cache
    report = (
        folder_of(suite.path / "vl-runs", "test_verbs.py::test_verbs") / "report.html"
    ).read_text()
    verbs = re.findall(r"<h2>\d+\. (\w+)\(", report)
    assert (
        verbs
        == "tap locate type_text key double_click type_text tap right_click key tap scroll".split()
    )
    assert "from the cache: no model was called" in report and "max-width:1240px" in report
    index = (suite.path / "vl-runs" / "index.html").read_text()
    assert index.count("<tr>") == 4 and "test_verbs.py::test_verbs" in index
    step = folder_of(suite.path / "vl-runs", "test_verbs.py::test_verbs") / "01-tap" / "report.html"
    assert "no model was called for this step" in render(step.parent)


def render(run_dir: Path) -> str:
    from vlagent.agent.outputs.report import render_run_report

    return render_run_report(run_dir).read_text()
