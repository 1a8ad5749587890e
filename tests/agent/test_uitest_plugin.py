"""The pytest plugin, tested with pytest's own pytester: every option, fixture and verb, passing
and failing (failure messages checked), trajectories kept only when asked, and the plan cache."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.environments.android_fixtures import AdbServer
from tests.environments.test_desktop import require
from vlagent.agent.uitest.plans import folder_of

EXAMPLES = Path(__file__).parents[2] / "examples" / "ui-tests" / "phone"

# A model for these tests: the example suite's phone model, plus a few behaviours to fail with.
MODEL = (
    (EXAMPLES / "phone_model.py").read_text(encoding="utf-8")
    + """

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
"""
)

CONFTEST = """
import os
import pytest
from vlagent.tools import ToolCall

@pytest.fixture(autouse=True)
def start_home(request, vl_environment):
    vl_environment.freeze_clock("1200")  # the status bar's clock would change cached screens
    if os.environ.get("VL_DARK"):  # the app's screens change: Notes in the dark theme
        vl_environment.embedded.device.phone.toggles["Dark theme"] = True
    if os.environ.get("VL_NOTE"):  # the app's data changed: one more note is saved
        vl_environment.embedded.device.phone.notes.append(os.environ["VL_NOTE"])
    vl_environment.execute(vl_environment.toolset.validate(
        ToolCall("mobile_use", {"action": "system_button", "button": "Home"})))
"""

VERBS = """
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
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(model=MODEL)
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\npythonpath = .\n")
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--vl-model", "python:model:tested", *args, timeout=240
    )


def calls(suite: pytest.Pytester) -> int:
    path = suite.path / "calls.txt"
    count = len(path.read_text()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


def test_each_verb_passes_and_fails_with_a_message_that_names_step_reason_and_report(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_verbs=VERBS)
    result = run(suite, "--vl-trajectory", "retain-on-failure", "--vl-max-steps", "6")
    result.assert_outcomes(passed=5, failed=4)
    out = result.stdout.str()
    runs = suite.path / "vl-runs"
    assert re.search(
        r"act\('give up'\) failed at step 0 \(failure\): the model reported failure", out
    )
    assert re.search(r"act\('wait forever'\) failed at step 5 \(max_steps\)", out)
    assert re.search(
        r"check\('the Notes app is open'\) failed at step 0 \(failure\): the model says: "
        r"the notes app is open: no",
        out,
    )
    assert re.search(
        r"wait_for\('the Notes app is open'\) failed at step \d+ \(failure\): the model says: "
        r"not within 1 s",
        out,
    )
    failing = re.findall(r"report: (\S+report\.html)", out)
    assert len(failing) >= 4 and all(Path(p).is_file() and str(runs) in p for p in failing)
    assert re.search(r"screenshot: \S+/screens/000000\.png", out)
    kept = sorted(
        p.name.rsplit("-", 1)[0] for p in runs.iterdir() if p.is_dir()
    )  # (less the id's digest) retain-on-failure: the failing tests' folders only, and the session's index of them
    assert (runs / "index.html").is_file()
    assert kept == sorted(
        f"test_verbs.py_{n}"
        for n in (
            *"test_act_fails test_act_runs_out_of_steps test_check_fails test_wait_for_times_out".split(),
        )
    )


@pytest.mark.parametrize(
    "mode, kept",
    [("off", []), ("on", ["test_fails", "test_passes"]), ("retain-on-failure", ["test_fails"])],
)
def test_trajectories_are_kept_only_when_asked(
    suite: pytest.Pytester, mode: str, kept: list[str]
) -> None:
    suite.makepyfile(
        test_modes="""
def test_passes(vl_agent):
    vl_agent.check("the home screen is shown")

def test_fails(vl_agent):
    vl_agent.check("the Notes app is open")
"""
    )
    result = run(suite, "--vl-trajectory", mode, "--vl-runs=kept")
    result.assert_outcomes(passed=1, failed=1)
    folder = suite.path / "kept"
    found = (
        sorted(
            p.name.removeprefix("test_modes.py_").rsplit("-", 1)[0]
            for p in folder.iterdir()
            if p.is_dir()
        )
        if folder.exists()
        else []
    )
    assert found == kept
    for name in kept:
        run_dir = folder_of(folder, f"test_modes.py::{name}") / "01-check"
        lines = (run_dir / "trajectory.jsonl").read_text().splitlines()
        assert (
            json.loads(lines[-1])["type"] == "end"
            and (run_dir / "screens" / "000000.png").is_file()
        )
    assert ("report: " in result.stdout.str()) == (mode != "off")


def test_the_plan_cache_runs_without_the_model_and_replans_a_changed_screen(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(
        test_cached="""
def test_note(vl_agent):
    vl_agent.act("Write the note 'Buy milk' in the Notes app and save it")
"""
    )
    first = run(suite, "--vl-cache", "update")
    first.assert_outcomes(passed=1)
    assert calls(suite) == 5  # open Notes, focus, type, save, done
    (folder,) = (suite.path / "vl-plans").iterdir()  # one test, one folder
    assert folder.name.startswith("test_cached.py_test_note-")
    entries = [p for p in folder.iterdir() if p.is_dir()]
    (entry,) = entries  # one act, one entry
    assert entry.name.startswith("act-write-the-note-buy-milk-in-the-notes-app")
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
    run(suite, "--vl-cache", "off", "--vl-cache-dir=elsewhere").assert_outcomes(passed=1)
    assert calls(suite) == 5 and not (suite.path / "elsewhere").exists()
    run(suite, "--vl-cache", "update", "--vl-cache-dir=elsewhere").assert_outcomes(passed=1)
    assert (suite.path / "elsewhere" / folder.name / entry.name / "trajectory.jsonl").is_file()


def test_cached_answers_are_reused_only_on_an_unchanged_screen(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makepyfile(
        test_answers="""
import os

def test_answers(vl_agent):
    vl_agent.check("the home screen is shown")
    vl_agent.tap("the Notes app icon")
    vl_agent.wait_for("the Notes app is open", timeout_s=5)
    assert vl_agent.query("How many notes are saved?", int) == int(os.environ.get("VL_EXPECT", "0"))
"""
    )
    run(suite, "--vl-cache", "update").assert_outcomes(passed=1)
    assert calls(suite) == 4
    (folder,) = (suite.path / "vl-plans").iterdir()
    entries = sorted(p.name.split("-", 1)[0] for p in folder.iterdir() if p.is_dir())
    assert entries == sorted("check tap wait_for query".split())
    run(suite, "--vl-cache", "update").assert_outcomes(passed=1)
    assert calls(suite) == 0  # every answer reused: the screens are as they were

    # One more saved note: the home screen, the tap and the empty-list verdict hold as before, but
    # the list reads otherwise, so the count is asked again, never taken from the cache.
    monkeypatch.setenv("VL_NOTE", "Tea")
    monkeypatch.setenv("VL_EXPECT", "1")
    run(suite, "--vl-cache", "read").assert_outcomes(passed=1)
    assert calls(suite) >= 1


class Served(BaseHTTPRequestHandler):
    """An OpenAI-compatible server whose answers come from the phone model's colour finder: a
    verdict on whether the home screen (the Notes icon) is shown, in the requested dialect."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(request)
        parts = [
            part
            for message in request["messages"]
            if isinstance(message["content"], list)
            for part in message["content"]
        ]
        url = next(part["image_url"]["url"] for part in parts if part["type"] == "image_url")
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
        found = image.getcolors(1 << 24)
        home = any(colour == (0xFB, 0xBC, 0x04) for _, colour in found or [])
        call = json.dumps(
            {"name": "verdict", "arguments": {"holds": home, "reason": f"the Notes icon: {home}"}}
        )
        text = call if "response_format" in request else f"<tool_call>\n{call}\n</tool_call>"
        body = json.dumps(
            {
                "choices": [{"message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("dialect", ["json", "qwen2-vl"])
def test_a_served_model_in_a_chosen_dialect(suite: pytest.Pytester, dialect: str) -> None:
    handler = type("Handler", (Served,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    suite.makepyfile(
        test_served="""
def test_home(vl_agent):
    vl_agent.check("the home screen is shown")
"""
    )
    try:
        result = suite.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            "--vl-endpoint",
            url,
            "--vl-model",
            "my-served-model",
            "--vl-dialect",
            dialect,
            timeout=240,
        )
    finally:
        server.shutdown()
    result.assert_outcomes(passed=1)
    (request,) = handler.requests
    assert request["model"] == "my-served-model"
    system = next(m["content"] for m in request["messages"] if m["role"] == "system")
    system_text = system if isinstance(system, str) else "".join(p.get("text", "") for p in system)
    if dialect == "json":  # the answer's JSON schema goes to the server, for constrained decoding
        schema = request["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["name"] == {"const": "verdict"}
        assert "Answer with exactly one JSON object" in system_text
    else:
        assert "response_format" not in request and "<tool_call>" in system_text


def test_the_model_fixture_overridden_by_a_function_or_a_runtime(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --vl-model: conftest.py gives the model, as a function of the prompt or as a Runtime."""
    suite.makeconftest(
        CONFTEST
        + """

import model
from vlagent.agent.runtimes.function import FunctionRuntime

@pytest.fixture(scope="session")
def vl_model():
    return FunctionRuntime(model.tested) if os.environ.get("VL_AS_RUNTIME") else model.tested
"""
    )
    suite.makepyfile(
        test_fixture="""
def test_home(vl_agent):
    vl_agent.check("the home screen is shown")
"""
    )
    for as_runtime in ("", "1"):
        monkeypatch.setenv("VL_AS_RUNTIME", as_runtime)
        suite.runpytest_subprocess("-p", "no:cacheprovider", timeout=240).assert_outcomes(passed=1)
        assert calls(suite) == 1  # the check went to the conftest's model


def test_ctrl_c_while_the_model_thinks_stops_the_session(suite: pytest.Pytester) -> None:
    """Ctrl-C lands in a verb's model call: the session stops there, as pytest stops on Ctrl-C,
    not one test failing and the next one starting."""
    suite.makeconftest(
        CONFTEST
        + """

import signal
import time
import model

def pressing_ctrl_c(prompt):
    if "ctrl-c" in prompt.text():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
        # Never read; not counted either: on a busy machine this thread can still finish here
        # while the session shuts down, and only the second test's calls are being counted.
        return ""
    return model.tested(prompt)

@pytest.fixture(scope="session")
def vl_model():
    return pressing_ctrl_c
"""
    )
    suite.makepyfile(
        test_interrupted="""
def test_first(vl_agent):
    vl_agent.act("open Notes; ctrl-c is pressed while the model thinks")

def test_second(vl_agent):
    vl_agent.check("the home screen is shown")
"""
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-3000:]
    assert "KeyboardInterrupt" in result.stdout.str()
    assert calls(suite) == 0  # the second test never asked the model


def test_two_tests_whose_ids_read_alike_keep_their_own_runs_and_reports(
    suite: pytest.Pytester,
) -> None:
    """Parameters that differ only in characters a folder name cannot hold ("milk eggs",
    "milk/eggs"): each failing test keeps its own run folder and report."""
    suite.makeconftest(
        CONFTEST
        + """

import json

def judge(prompt):
    goal = prompt.text().split("The user query: ", 1)[-1].split("<image", 1)[0].strip()
    said = {"holds": False, "reason": "it judged: " + goal}
    return '<tool_call>' + json.dumps({"name": "verdict", "arguments": said}) + '</tool_call>'

@pytest.fixture(scope="session")
def vl_model():
    return judge
"""
    )
    suite.makepyfile(
        test_items="""
import pytest

@pytest.mark.parametrize("item", ["milk eggs", "milk/eggs", "milk?eggs"])
def test_item(vl_agent, item):
    vl_agent.check(f"the list shows {item}")
"""
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--vl-runs=runs", timeout=240)
    result.assert_outcomes(failed=3)
    reports = sorted((suite.path / "runs").glob("*/*-check/report.html"))
    assert len(reports) == 3
    for item in ("milk eggs", "milk/eggs", "milk?eggs"):
        assert sum(f"shows {item}" in r.read_text(encoding="utf-8") for r in reports) == 1


def test_usage_errors_are_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(vl_agent):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert "vlagent: no model: give --vl-model" in result.stdout.str() + result.stderr.str()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--vl-model", "python:nowhere:f", timeout=120
    )
    assert "cannot import nowhere" in result.stdout.str() + result.stderr.str()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--vl-cache", "sometimes", timeout=120
    )
    assert "invalid choice: 'sometimes'" in result.stderr.str()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--vl-settle=-1", timeout=120)
    assert "argument --vl-settle: -1: give 0 or more seconds" in result.stderr.str()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--vl-max-steps=0", timeout=120
    )
    assert (
        "argument --vl-max-steps: 0: give 1 or more" in result.stderr.str()
        and "Traceback" not in result.stderr.str()
    )
    (pytester.path / "plans").mkdir()  # an existing folder given apart would move pytest's rootdir
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--vl-model", "python:m:f", "--vl-cache-dir", "plans", timeout=120
    )
    assert "vlagent: write --vl-cache-dir=plans (with '=')" in result.stderr.str()
    pytester.makepyfile(model="def f(prompt):\n    return ''\n")
    pytester.makeini("[pytest]\npythonpath = .\n")
    for flags, words in [
        (["--vl-display=:919"], "--vl-xvfb 1280x800"),  # the advice names the plugin's options
        (["--vl-display=:919", "--vl-xvfb=640x480"], "give --vl-display"),  # not one ignored
    ]:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--vl-model=python:model:f", *flags, timeout=120
        )
        said = result.stdout.str() + result.stderr.str()
        assert words in said and "--xvfb 1280x800" not in said.replace("--vl-xvfb", ""), said


def test_a_device_by_serial(suite: pytest.Pytester, phone, adb_server: AdbServer) -> None:  # type: ignore[no-untyped-def]
    suite.makepyfile(
        test_serial="""
def test_note(vl_agent, vl_android):
    assert vl_android.describe()["serial"] != "virtual"
    vl_agent.act("Write the note 'On the real server' in the Notes app and save it")
"""
    )
    run(suite, "--vl-serial", phone.serial).assert_outcomes(passed=1)
    assert phone.state()["notes"] == ["On the real server"]


def test_a_desktop_on_a_private_xvfb_with_a_program(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("Xvfb")
    suite.makeconftest("")  # no phone here
    suite.makepyfile(
        test_desktop="""
import os

def test_screen(vl_agent, vl_desktop, vl_environment):
    assert vl_environment is vl_desktop
    assert vl_desktop.describe()["settle_s"] == float(os.environ.get("VL_SETTLE", "2"))
    vl_agent.check("the screen is 640x360")
"""
    )
    run(suite, "--vl-xvfb", "640x360", "--vl-launch", "sleep 30").assert_outcomes(passed=1)
    monkeypatch.setenv("VL_SETTLE", "0.5")  # read by the test in the pytester subprocess
    run(suite, "--vl-xvfb", "640x360", "--vl-settle", "0.5").assert_outcomes(passed=1)
    run(suite, "--vl-xvfb", "800x600").assert_outcomes(failed=1)


def test_an_existing_display_and_the_environment_option(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("Xvfb")
    from vlagent.environments.xvfb import Xvfb

    screen = Xvfb(640, 360)  # "the user's display": its name and authority are theirs to give
    monkeypatch.setenv("XAUTHORITY", screen.client_authority)
    suite.makeconftest("")  # no Home button to press on a desktop
    try:
        suite.makepyfile(
            test_display="""
def test_screen(vl_agent, vl_environment):
    assert "computer_use" in vl_environment.toolset.names
    vl_agent.check("the screen is 640x360")

def test_a_phone_instead(vl_environment):
    assert "mobile_use" in vl_environment.toolset.names
"""
        )
        run(suite, "--vl-display", screen.display, "-k", "test_screen").assert_outcomes(passed=1)
        # --vl-env picks the phone although a display is given
        run(
            suite, "--vl-display", screen.display, "--vl-env", "android", "-k", "phone"
        ).assert_outcomes(passed=1)
        run(
            suite, "--vl-display", screen.display, "--vl-env", "desktop", "-k", "test_screen"
        ).assert_outcomes(passed=1)
    finally:
        screen.stop()
