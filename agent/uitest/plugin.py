"""The pytest plugin (entry point ``pytest11: vlagent``): options, the ``vl`` marker, fixtures for
the model, an Android device, a desktop, secrets and the test agent bound to them, and the hooks
that report on them: a failing test that used the agent names its last screenshot and its report,
the junit XML carries the report's path, and a session writes an index of its reports
(docs/testing.md).

Importing it is cheap: models, devices and displays are opened by the fixtures that need them.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from vlagent.agent.uitest.binding import (
    MARKER,
    MARKER_HELP,
    VLModel,
    load_named,
    marked,
    model_of,
    usage,
)
from vlagent.agent.uitest.options import PATH_OPTIONS, add_options
from vlagent.agent.uitest.session import SessionLog

if TYPE_CHECKING:
    from vlagent.agent.uitest.plans import CacheMode
    from vlagent.agent.uitest.tester import UITester
    from vlagent.environments import Environment
    from vlagent.tools.secrets import Secret

__all__ = ["VLModel"]

pytest_addoption = add_options
_FAILED = pytest.StashKey[bool]()
_TESTER = pytest.StashKey["UITester"]()
_SESSION = pytest.StashKey[SessionLog]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}{MARKER_HELP.removeprefix(MARKER)}")
    config.stash[_SESSION] = SessionLog()
    # pytest picks its rootdir and ini file from the command line's arguments that name existing
    # paths, before it knows any plugin's options: "--vl-cache-dir plans" makes "plans" a test
    # path there, and the suite's pytest.ini (with its addopts) may silently not apply.
    args = list(config.invocation_params.args)
    for option, value in zip(args, args[1:]):
        if option in PATH_OPTIONS and Path(config.invocation_params.dir, value).exists():
            raise _usage(
                f"write {option}={value} (with '='): given apart, pytest takes the existing "
                f"path {value!r} for a test path when it chooses its rootdir and ini file"
            )


# The old-style hook wrapper: every pluggy takes it (``wrapper=True`` needs pluggy 1.2), and the
# plugin is loaded in every pytest session of a project where vlagent is installed.
@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    item.stash[_FAILED] = True  # read by vl_agent's teardown: retain-on-failure keeps the runs
    tester = item.stash.get(_TESTER, None)
    if tester is None or report.when != "call":
        return
    # Any failing assertion of a test that used the agent (a plain ``assert query(...) == 5``
    # too) says where to look: the last screen the agent saw and the test's report.
    from vlagent.agent.uitest.reports import write_test_report

    lines = [f"last screenshot: {tester.last_screenshot or '(not kept: --vl-trajectory off)'}"]
    if tester.runs is not None:
        page = write_test_report(tester.runs, item.nodeid, "failed", tester.journal)
        lines.append(f"report: {page}")
    text = "\n".join(lines)
    add = getattr(report.longrepr, "addsection", None)
    if callable(add):
        add("vlagent", text)
    else:
        report.sections.append(("vlagent", text))


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.config.getoption("--vl-cache", "off") == "prune":
        log = item.config.stash[_SESSION]
        log.collected.add(item.nodeid)
        log.cache_dirs.add(_cache_dir(item.config, item))


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        log = items[0].config.stash.get(_SESSION, None)
        if log is not None:
            log.narrowed = log.narrowed or "some tests were deselected"


def _selection(config: pytest.Config) -> str:
    """What narrowed this session to part of the suite, or ""."""
    if any("::" in str(arg) for arg in config.args):
        return "it ran chosen tests (a node id)"
    for option, what in (("keyword", "-k"), ("markexpr", "-m"), ("lf", "--lf")):
        if getattr(config.option, option, None):
            return f"it ran a selection ({what})"
    log = config.stash.get(_SESSION, None)
    return log.narrowed if log is not None else ""


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    log = config.stash.get(_SESSION, None)
    if log is None:
        return
    narrowed = _selection(config) if config.getoption("--vl-cache", "off") == "prune" else ""
    if narrowed:
        terminalreporter.section("vlagent: plan cache entries no test reaches")
        terminalreporter.line(
            f"not judged: {narrowed}; run --vl-cache=prune on the whole suite to list stale entries"
        )
    elif config.getoption("--vl-cache", "off") == "prune":
        stale = log.unreached(Path(config.rootpath))
        terminalreporter.section("vlagent: plan cache entries no test reaches")
        for path in stale:
            terminalreporter.line(str(path))
        terminalreporter.line(
            f"{len(stale)} stale (delete them to prune)" if stale else "none: every entry is used"
        )
    if any(report is not None for _, _, report in log.tests):
        from vlagent.agent.uitest.reports import write_index

        index = write_index(_runs_root(config), log.tests)
        terminalreporter.line(f"vlagent: the UI test reports: {index}")


def _option(config: pytest.Config, name: str) -> Any:
    return config.getoption(name)


_usage = usage


@pytest.fixture(scope="session")
def vl_model(pytestconfig: pytest.Config) -> Iterator[VLModel]:
    """The model (runtime and dialect) named by --vl-model, loaded once per session. Override
    this fixture to return a Runtime or a function ``prompt -> answer text``."""
    name = _option(pytestconfig, "--vl-model")
    if not name:
        raise _usage(
            "no model: give --vl-model (scripted:PATH, python:module:function, a model id)"
        )
    runtime, dialect = load_named(name, pytestconfig)
    yield VLModel(runtime, dialect)
    runtime.close()


@pytest.fixture(scope="session")
def vl_android(pytestconfig: pytest.Config) -> Iterator[Environment]:
    """An Android device: --vl-serial, or a virtual phone for the session."""
    from vlagent.environments import EnvironmentUnavailable
    from vlagent.environments.android import VIRTUAL, AndroidEnvironment

    try:
        environment = AndroidEnvironment(serial=_option(pytestconfig, "--vl-serial") or VIRTUAL)
    except EnvironmentUnavailable as exc:
        raise _usage(f"android: {exc}") from None
    yield environment
    environment.close()


@pytest.fixture(scope="session")
def vl_desktop(pytestconfig: pytest.Config) -> Iterator[Environment]:
    """A desktop: --vl-display (an existing X display), or a private Xvfb of --vl-xvfb WxH
    (default 1280x800), with --vl-launch started on it, in the rootdir; each action waits for the
    screen to settle (--vl-settle)."""
    from vlagent.environments import EnvironmentUnavailable
    from vlagent.environments.desktop import DesktopEnvironment

    display = _option(pytestconfig, "--vl-display")
    if display and _option(pytestconfig, "--vl-xvfb"):
        raise _usage("give --vl-display (an X display that runs) or --vl-xvfb (a private one)")
    xvfb = None if display else (_option(pytestconfig, "--vl-xvfb") or "1280x800")
    try:
        # Settled screens: a screenshot taken while the app still redraws is neither what the
        # model should judge nor what a cached step can be matched against next time.
        environment = DesktopEnvironment(
            display=display,
            xvfb=xvfb,
            launch=_option(pytestconfig, "--vl-launch"),
            launch_dir=pytestconfig.rootpath,
            settle=_option(pytestconfig, "--vl-settle"),
        )
    except EnvironmentUnavailable as exc:
        raise _usage(f"desktop: {exc}") from None
    yield environment
    environment.close()


@pytest.fixture(scope="session")
def vl_environment(request: pytest.FixtureRequest) -> Environment:
    """The environment the test agent acts on: --vl-env, else desktop when --vl-display or
    --vl-xvfb is given, else android."""
    config = request.config
    kind = _option(config, "--vl-env") or (
        "desktop" if _option(config, "--vl-display") or _option(config, "--vl-xvfb") else "android"
    )
    environment: Environment = request.getfixturevalue(f"vl_{kind}")
    return environment


@pytest.fixture(scope="session")
def vl_secrets(pytestconfig: pytest.Config) -> dict[str, Secret]:
    """The secrets of ``--vl-secret NAME`` (each value from the environment variable NAME), as
    :class:`~vlagent.tools.secrets.Secret`: the model types ``{{NAME}}`` and never sees the value;
    no trajectory, report or plan folder holds it. Override it to give values from elsewhere."""
    import os

    from vlagent.tools.secrets import Secret

    secrets: dict[str, Secret] = {}
    for name in _option(pytestconfig, "--vl-secret"):
        value = os.environ.get(name)
        if not value:
            raise _usage(f"--vl-secret {name}: set the environment variable {name} to its value")
        secrets[name] = Secret(value, name)
    return secrets


@pytest.fixture
def vl_agent(
    request: pytest.FixtureRequest,
    vl_model: Any,
    vl_environment: Environment,
    vl_secrets: dict[str, Secret],
) -> Iterator[UITester]:
    """The test agent (agent.uitest.UITester): ``act``, ``tap``, ``check``, ``query``,
    ``wait_for`` and the single-shot gestures, as ``@pytest.mark.vl`` and the options say."""
    from vlagent.agent.uitest.plans import PlanCache, folder_of
    from vlagent.agent.uitest.tester import UITester

    config, node = request.config, request.node
    mark = marked(node)
    model = load_named(mark.model, config) if isinstance(mark.model, str) else mark.model
    runtime, dialect = model_of(vl_model if model is None else model)
    mode = _option(config, "--vl-trajectory")
    runs = None if mode == "off" else folder_of(_runs_root(config), node.nodeid)
    if runs is not None:
        shutil.rmtree(runs, ignore_errors=True)  # this test's runs from an earlier session
    cache_mode = mark.cache or _option(config, "--vl-cache")
    plans = None
    if cache_mode != "off":
        folder = folder_of(_cache_dir(config, node), node.nodeid)
        plans = PlanCache(folder, cast("CacheMode", cache_mode), node.nodeid)
    tester = UITester(
        runtime,
        dialect,
        vl_environment,
        runs=runs,
        plans=plans,
        max_steps=mark.max_steps or _option(config, "--vl-max-steps"),
        secrets=vl_secrets,
    )
    node.stash[_TESTER] = tester
    yield tester
    tester.close()
    if isinstance(mark.model, str):
        runtime.close()  # the marker's own model; the session's closes with the session
    _after_test(node, tester, mode)


def _after_test(node: pytest.Item, tester: UITester, mode: str) -> None:
    """The test's report, its junit property and its line in the index; the runs of a passing
    test dropped under retain-on-failure; the entries it used, for prune."""
    from vlagent.agent.uitest.reports import write_test_report

    failed = node.stash.get(_FAILED, False)
    runs, log = tester.runs, node.config.stash[_SESSION]
    if tester.plans is not None and not failed:
        log.complete[tester.plans.folder] = list(tester.plans.used)
    if runs is not None and mode == "retain-on-failure" and not failed:
        shutil.rmtree(runs, ignore_errors=True)
        if runs.parent.is_dir() and not any(runs.parent.iterdir()):
            runs.parent.rmdir()
        runs = None
    page = None
    if runs is not None and tester.journal:
        page = write_test_report(
            runs, node.nodeid, "failed" if failed else "passed", tester.journal
        )
        node.user_properties.append(("vl_report", str(page)))
    log.tests.append((node.nodeid, "failed" if failed else "passed", page))


def _cache_dir(config: pytest.Config, node: pytest.Item) -> Path:
    given = _option(config, "--vl-cache-dir")
    return Path(given) if given else Path(str(node.path)).parent / "vl-plans"


def _runs_root(config: pytest.Config) -> Path:
    given = Path(_option(config, "--vl-runs"))
    return given if given.is_absolute() else Path(config.rootpath) / given
