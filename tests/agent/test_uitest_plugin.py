"""The pytest plugin, tested with pytest's own pytester: every option, fixture and verb, passing
and failing (failure messages checked), trajectories kept only when asked, and the plan cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.environments.android_fixtures import AdbServer, adb_server, phone  # noqa: F401 (fixtures)
from tests.environments.test_desktop import require

EXAMPLES = Path(__file__).parents[2] / "examples" / "ui-tests"

# A model for these tests: the example suite's phone model, plus a few behaviours to fail with.
MODEL = (EXAMPLES / "phone_model.py").read_text(encoding="utf-8") + '''

import os
from pathlib import Path as _Path

_retried = []


def tested(prompt):
    _Path("calls.txt").open("a").write("x")  # one character per model call
    tools = {t["function"]["name"]: t["function"] for t in prompt.tools or []}
    goal = prompt.text().split("The user query: ", 1)[-1].split("<image", 1)[0]
    image = prompt.images()[-1].convert("RGB")
    if "answer" in tools:
        properties = tools["answer"]["parameters"]["properties"]
        count = count_rows(image, SAVED_NOTE)
        if "retry" in goal and not _retried:
            _retried.append(1)
            return call("answer", value="several")  # not an int: fed back, asked again
        if "value" in properties:
            return call("answer", value=count)
        return call("answer", **{name: count for name in properties})
    if "give up" in goal:
        return call("mobile_use", action="terminate", status="failure")
    if "forever" in goal:
        return call("mobile_use", action="wait", time=0.01 * (1 + prompt.text().count("Step ")))  # never the same
    if "the screen is 640x360" in goal:
        holds = image.size == (640, 360)
        return call("verdict", holds=holds, reason=f"the screenshot is {image.width}x{image.height}")
    return answer(prompt)
'''

CONFTEST = '''
import os
import pytest
from tools import ToolCall

@pytest.fixture(autouse=True)
def start_home(request, vl_environment):
    if os.environ.get("VL_DARK"):  # the app's screens change: Notes in the dark theme
        vl_environment.embedded.device.phone.toggles["Dark theme"] = True
    vl_environment.execute(vl_environment.toolset.validate(
        ToolCall("mobile_use", {"action": "system_button", "button": "Home"})))
'''

VERBS = '''
from pydantic import BaseModel


class Notes(BaseModel):
    saved: int


def test_act(vl_agent):
    vl_agent.act("Write the note 'Buy milk' in the Notes app and save it")

def test_act_fails(vl_agent):
    vl_agent.act("give up")

def test_act_runs_out_of_steps(vl_agent):
    vl_agent.act("wait forever")

def test_tap_and_check(vl_agent):
    vl_agent.tap("the Notes app icon")
    vl_agent.check("the Notes app is open")

def test_check_fails(vl_agent):
    vl_agent.check("the Notes app is open")

def test_query(vl_agent):
    assert vl_agent.query("How many notes are saved?", int) == 0
    vl_agent.act("Write the note 'Eggs' in the Notes app and save it")
    notes = vl_agent.query("How many notes are saved?", Notes)
    assert isinstance(notes, Notes) and notes.saved == 2

def test_query_wrong_type_is_retried(vl_agent):
    vl_agent.tap("the Notes app icon")
    assert vl_agent.query("retry: how many notes are saved?", int) == 2

def test_wait_for(vl_agent):
    vl_agent.tap("the Notes app icon")
    vl_agent.wait_for("the Notes app is open", timeout_s=5)

def test_wait_for_times_out(vl_agent):
    vl_agent.wait_for("the Notes app is open", timeout_s=1, interval_s=0.3)
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(model=MODEL)
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\npythonpath = .\n")
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("-p", "no:cacheprovider", "--vl-model", "python:model:tested", *args,
                                      timeout=240)


def calls(suite: pytest.Pytester) -> int:
    path = suite.path / "calls.txt"
    count = len(path.read_text()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


def test_each_verb_passes_and_fails_with_a_message_that_names_step_reason_and_report(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_verbs=VERBS)
    result = run(suite, "--vl-trajectory", "retain-on-failure", "--vl-max-steps", "6")
    result.assert_outcomes(passed=5, failed=4)
    out = result.stdout.str()
    runs = suite.path / "vl-runs"
    assert re.search(r"act\('give up'\) failed at step 0 \(failure\): the model reported failure", out)
    assert re.search(r"act\('wait forever'\) failed at step 5 \(max_steps\)", out)
    assert re.search(r"check\('the Notes app is open'\) failed at step 0 \(failure\): the model says: "
                     r"the notes app is open: no", out)
    assert re.search(r"wait_for\('the Notes app is open'\) failed at step \d+ \(failure\): the model says: "
                     r"not within 1 s", out)
    failing = re.findall(r"report: (\S+report\.html)", out)
    assert len(failing) >= 4 and all(Path(p).is_file() and str(runs) in p for p in failing)
    assert re.search(r"screenshot: \S+/screens/000000\.png", out)
    kept = sorted(p.name for p in runs.iterdir())  # retain-on-failure: the failing tests' folders only
    assert kept == sorted(f"test_verbs.py_{n}" for n in (
        "test_act_fails", "test_act_runs_out_of_steps", "test_check_fails", "test_wait_for_times_out"))


@pytest.mark.parametrize("mode, kept", [("off", []), ("on", ["test_fails", "test_passes"]),
                                        ("retain-on-failure", ["test_fails"])])
def test_trajectories_are_kept_only_when_asked(suite: pytest.Pytester, mode: str, kept: list[str]) -> None:
    suite.makepyfile(test_modes='''
def test_passes(vl_agent):
    vl_agent.check("the home screen is shown")

def test_fails(vl_agent):
    vl_agent.check("the Notes app is open")
''')
    result = run(suite, "--vl-trajectory", mode, "--vl-runs", "kept")
    result.assert_outcomes(passed=1, failed=1)
    folder = suite.path / "kept"
    found = sorted(p.name.removeprefix("test_modes.py_") for p in folder.iterdir()) if folder.exists() else []
    assert found == kept
    for name in kept:
        run_dir = folder / f"test_modes.py_{name}" / "01-check"
        lines = (run_dir / "trajectory.jsonl").read_text().splitlines()
        assert json.loads(lines[-1])["type"] == "end" and (run_dir / "screens" / "000000.png").is_file()
    assert ("report: " in result.stdout.str()) == (mode != "off")


def test_the_plan_cache_runs_without_the_model_and_replans_a_changed_screen(suite: pytest.Pytester,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    suite.makepyfile(test_cached='''
def test_note(vl_agent):
    vl_agent.act("Write the note 'Buy milk' in the Notes app and save it")
''')
    first = run(suite, "--vl-cache", "update")
    first.assert_outcomes(passed=1)
    assert calls(suite) == 5  # open Notes, focus, type, save, done
    (entry,) = (suite.path / "vl-plans" / "test_note").iterdir()  # one act, one entry
    assert entry.name.startswith("00-write-the-note-buy-milk-in-the-notes-app")
    assert (entry / "trajectory.jsonl").is_file() and not (entry / "report.html").exists()
    written = (entry / "trajectory.jsonl").read_text()

    run(suite, "--vl-cache", "update").assert_outcomes(passed=1)
    assert calls(suite) == 0  # every step replayed from the plan
    assert (entry / "trajectory.jsonl").read_text() == written  # nothing new to store

    # The app looks different now (dark theme): the cached steps on Notes are planned again by the
    # model, not replayed; read mode leaves the cache as it was.
    monkeypatch.setenv("VL_DARK", "1")
    run(suite, "--vl-cache", "read").assert_outcomes(passed=1)
    assert calls(suite) >= 3
    assert (entry / "trajectory.jsonl").read_text() == written
    run(suite, "--vl-cache", "update").assert_outcomes(passed=1)
    assert calls(suite) >= 3
    assert (entry / "trajectory.jsonl").read_text() != written  # the re-planned run is stored
    monkeypatch.delenv("VL_DARK")
    run(suite, "--vl-cache", "write").assert_outcomes(passed=1)
    assert calls(suite) == 5  # write ignores what is cached
    run(suite, "--vl-cache", "off", "--vl-cache-dir", "elsewhere").assert_outcomes(passed=1)
    assert calls(suite) == 5 and not (suite.path / "elsewhere").exists()
    run(suite, "--vl-cache", "update", "--vl-cache-dir", "elsewhere").assert_outcomes(passed=1)
    assert (suite.path / "elsewhere" / "test_note" / entry.name / "trajectory.jsonl").is_file()


def test_usage_errors_are_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(vl_agent):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert "vlagent: no model: give --vl-model" in result.stdout.str() + result.stderr.str()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--vl-model", "python:nowhere:f", timeout=120)
    assert "cannot import nowhere" in result.stdout.str() + result.stderr.str()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--vl-cache", "sometimes", timeout=120)
    assert "invalid choice: 'sometimes'" in result.stderr.str()


def test_a_device_by_serial(suite: pytest.Pytester, phone, adb_server: AdbServer) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    suite.makepyfile(test_serial='''
def test_note(vl_agent, vl_android):
    assert vl_android.describe()["serial"] != "virtual"
    vl_agent.act("Write the note 'On the real server' in the Notes app and save it")
''')
    run(suite, "--vl-serial", phone.serial).assert_outcomes(passed=1)
    assert phone.state()["notes"] == ["On the real server"]


def test_a_desktop_on_a_private_xvfb_with_a_program(suite: pytest.Pytester) -> None:
    require("Xvfb")
    suite.makeconftest("")  # no phone here
    suite.makepyfile(test_desktop='''
def test_screen(vl_agent, vl_desktop, vl_environment):
    assert vl_environment is vl_desktop
    vl_agent.check("the screen is 640x360")
''')
    run(suite, "--vl-xvfb", "640x360", "--vl-launch", "sleep 30").assert_outcomes(passed=1)
    run(suite, "--vl-xvfb", "800x600").assert_outcomes(failed=1)
