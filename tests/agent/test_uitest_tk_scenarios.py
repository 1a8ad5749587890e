"""The plan cache against a changed app, on the desktop: a Tk notes app on a private Xvfb, driven
through pytest as a user runs it (the phone's scenarios are in test_uitest_scenarios.py). The suite
runs first to write the cache with a model that reads the screen, then, with the app changed
(tests/environments/apps/tk_notes.py --change), in read mode. A moved or renamed button and a
dialog go back to the model and pass; a verdict-changing text, a pop-up that steals the keyboard,
a button that now deletes and a dropped letter fail: a broken app never passes from the cache."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from tests.conftest import need
from tests.environments.test_desktop import require

APP = Path(__file__).parents[1] / "environments" / "apps" / "tk_notes.py"

# A model that reads the screen: what the app draws, from the state file the app writes after
# every change (its words and boxes), as a model reads them off the screenshot. It answers in
# Qwen2-VL's tool calls, points on a 0-1000 grid.
MODEL = """
import json, re, time
from pathlib import Path


def call(name, **arguments):
    return "<tool_call>\\n" + json.dumps({"name": name, "arguments": arguments}) + "\\n</tool_call>"


def shown():
    path = Path("app-state.json")
    for _ in range(100):  # the app writes it once its window is up
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.05)
    raise RuntimeError("the app wrote no app-state.json")


def centre(state, name, image):
    x, y, w, h = state["widgets"][name]["box"]
    return [round((x + w / 2) / image.width * 1000), round((y + h / 2) / image.height * 1000)]


def button(state, words):
    for name, widget in state["widgets"].items():
        if widget["text"] in words:
            return name
    return None


def act(goal, state, image):
    if "later" in state["widgets"]:  # a dialog: dismiss it first
        return call("computer_use", action="left_click", coordinate=centre(state, "later", image))
    if "popup" in state["widgets"] and state["focus"] != "field":
        return call("computer_use", action="terminate", status="failure")  # cannot type
    wanted = re.search(r"'([^']+)'", goal).group(1)
    if state["notes"]:
        status = "success" if wanted in state["notes"] else "failure"
        return call("computer_use", action="terminate", status=status)
    if state["field"] == wanted:
        save = button(state, ("Save", "Store"))  # a button that saves, whatever its place
        if save is None:
            return call("computer_use", action="terminate", status="failure")
        return call("computer_use", action="left_click", coordinate=centre(state, save, image))
    if state["focus"] == "field":
        return call("computer_use", action="type", text=wanted)
    return call("computer_use", action="left_click", coordinate=centre(state, "field", image))


def tested(prompt):
    Path("calls.txt").open("a").write("x")  # one character per model call
    tools = {tool["function"]["name"] for tool in prompt.tools or []}
    goal = prompt.text().split("The user query: ", 1)[-1].split("\\n", 1)[0]
    image, state = prompt.images()[-1], shown()
    status = re.search(r"the status reads '([^']+)'", goal)
    if "verdict" in tools and status:
        said = state["widgets"]["status"]["text"]
        return call("verdict", holds=said == status.group(1), reason=f"it reads {said!r}")
    if "answer" in tools:
        return call("answer", value=len(state["notes"]))
    if "tap" in tools:
        return call("tap", coordinate=centre(state, "save", image))
    return act(goal, state, image)
"""

NOTE = """
def test_note(vl_agent):
    vl_agent.act("Write the note 'Call Bob', save it and make sure 'Call Bob' is saved")
    vl_agent.check("the status reads 'Welcome, alice'")
    assert vl_agent.query("How many notes are saved?", int) == 1
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    need("tkinter")
    require("Xvfb")
    pytester.makepyfile(model=MODEL, test_note=NOTE)
    pytester.makeini("[pytest]\npythonpath = .\n")
    return pytester


def run(
    suite: pytest.Pytester, cache: str, change: str | None = None, *flags: str
) -> pytest.RunResult:
    (suite.path / "app-state.json").unlink(missing_ok=True)  # what this run's app draws only
    launch = shlex.join([sys.executable, str(APP), "app-state.json"])
    return suite.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--vl-model=python:model:tested",
        "--vl-xvfb=800x600",
        f"--vl-launch={launch}" + (f" --change {change}" if change else ""),
        "--vl-max-steps=8",
        f"--vl-cache={cache}",
        *flags,
        timeout=120,
    )


def calls(suite: pytest.Pytester) -> int:
    path = suite.path / "calls.txt"
    count = len(path.read_text()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


def pressed(suite: pytest.Pytester) -> list[str]:
    """The buttons the app saw pressed in the last run."""
    state = json.loads((suite.path / "app-state.json").read_text())
    return list(state["pressed"])


# (the change, the verb that fails on it (None: the app still works), the buttons it saw pressed)
CHANGES = [
    ("move", None, ["Save"]),  # Save moved: the model finds it
    ("rename", None, ["Store"]),  # Save reads "Store": the model reads it
    ("modal", None, ["Later", "Save"]),  # a dialog: the model dismisses it, the rest replays
    ("status", "check", ["Save"]),  # "Failed, alice": the cached check must not be reused
    ("dropped", "act", ["Save"]),  # saves "Call Bo": the cached "success" must not be reused
    ("focus", "act", []),  # a pop-up takes the keyboard: nothing is typed, nothing saved
    ("steal", "act", []),  # the keyboard taken with no pop-up: the type is not replayed blindly
    ("delete", "act", []),  # Save became Delete: never clicked blindly
]


def test_a_changed_tk_app_goes_back_to_the_model_and_a_broken_one_fails(
    suite: pytest.Pytester,
) -> None:
    run(suite, "update").assert_outcomes(passed=1)
    assert calls(suite) == 6  # click, type, click Save, terminate; the check; the query
    assert pressed(suite) == ["Save"]
    run(suite, "read").assert_outcomes(passed=1)
    assert calls(suite) == 0  # unchanged: everything from the cache
    assert pressed(suite) == ["Save"]  # the cached clicks reached the app
    for change, failing, buttons in CHANGES:
        result = run(suite, "read", change)
        out = result.stdout.str()
        outcome = {"failed": 1} if failing else {"passed": 1}
        assert result.parseoutcomes() == outcome, (change, out[-3000:])
        assert failing is None or f"UITestFailure: {failing}(" in out, (change, out[-3000:])
        assert calls(suite) >= 1, change  # the model looked at the changed screen
        assert pressed(suite) == buttons, change


TAP = """
def test_save(vl_agent):
    vl_agent.tap("the Save button")
"""


@pytest.mark.parametrize("cache", ["off", "read"])
def test_an_app_that_exits_during_a_verb_fails_that_verb(
    suite: pytest.Pytester, cache: str
) -> None:
    """Save ends the app (exit code 3): the tap that pressed it fails, naming the exit, though
    the click itself was done; the cached click, replayed, fails the same way."""
    suite.makepyfile(test_note="")  # this suite's one test is the tap
    suite.makepyfile(test_save=TAP)
    if cache == "read":
        run(suite, "update").assert_outcomes(passed=1)
    result = run(suite, cache, "crash")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "UITestFailure: tap(" in out and "exited with code 3" in out, out[-3000:]
