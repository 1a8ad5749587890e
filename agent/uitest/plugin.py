"""The pytest plugin (entry point ``pytest11: vlagent``): options, and fixtures for the model, an
Android device, a desktop, and the test agent bound to them (docs/testing.md).

Importing it is cheap: models, devices and displays are opened by the fixtures that need them.
"""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    from vlagent.agent.runtimes.base import Runtime
    from vlagent.agent.uitest.tester import UITester
    from vlagent.environments import Environment
    from vlagent.prompts import Dialect

TRAJECTORY_MODES = ("off", "on", "retain-on-failure")


class VLModel(NamedTuple):
    runtime: Runtime
    dialect: Dialect


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vlagent", "UI tests driven by a vision-language model (vlagent)")
    _add_model_options(group)
    _add_environment_options(group)
    _add_run_options(group)


def _add_model_options(group: pytest.OptionGroup) -> None:
    """The options that choose the model and how it is reached."""
    group.addoption(
        "--vl-model",
        help="scripted:PATH, python:module:function, a Hugging Face id or a "
        "local folder (with --vl-endpoint: the served name)",
    )
    group.addoption(
        "--vl-endpoint", help="an OpenAI-compatible server URL (vLLM, SGLang, transformers serve)"
    )
    group.addoption("--vl-dialect", help="force a dialect (default: chosen from the model)")


def _add_environment_options(group: pytest.OptionGroup) -> None:
    """The options that choose the device or desktop the tests drive."""
    group.addoption(
        "--vl-env",
        choices=("android", "desktop"),
        help="the environment of vl_environment (default: desktop when --vl-display or "
        "--vl-xvfb is given, else android)",
    )
    group.addoption(
        "--vl-serial", help="an Android device serial (default: a virtual phone for the session)"
    )
    group.addoption("--vl-display", help="an existing X display, e.g. :0")
    group.addoption(
        "--vl-xvfb", metavar="WxH", help="a private Xvfb screen for the session, e.g. 1280x800"
    )
    group.addoption(
        "--vl-launch",
        metavar="CMD",
        help="a program to start on the desktop first (run in the rootdir, where pytest.ini is)",
    )
    group.addoption(
        "--vl-settle",
        metavar="S",
        type=_seconds,
        default=2.0,
        help="desktop: after each action wait up to S s until the screen is still (default 2; 0: "
        "do not wait)",
    )


def _add_run_options(group: pytest.OptionGroup) -> None:
    """The options for what the tests keep (trajectories, cached plans) and how far act() goes."""
    group.addoption(
        "--vl-trajectory",
        choices=TRAJECTORY_MODES,
        default="retain-on-failure",
        help="keep each test's trajectories and reports: off, on, retain-on-failure (default)",
    )
    group.addoption(
        "--vl-runs",
        metavar="DIR",
        default="vl-runs",
        help="where trajectories go, one folder per test (default: vl-runs under the rootdir)",
    )
    group.addoption(
        "--vl-cache",
        choices=("off", "read", "write", "update"),
        default="off",
        help="the plan cache of act(): off (default), read, write, update",
    )
    group.addoption(
        "--vl-cache-dir",
        metavar="DIR",
        help="where plans go (default: vl-plans/ beside each test file)",
    )
    group.addoption(
        "--vl-max-steps",
        type=_at_least_one,
        default=20,
        help="the step limit of one act() (default 20)",
    )


PATH_OPTIONS = ("--vl-model", "--vl-runs", "--vl-cache-dir")


def pytest_configure(config: pytest.Config) -> None:
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
    if report.failed:  # read by vl_agent's teardown: retain-on-failure keeps this test's runs
        item.stash[_FAILED] = True


_FAILED = pytest.StashKey[bool]()


def _option(config: pytest.Config, name: str) -> Any:
    return config.getoption(name)


def _usage(message: str) -> pytest.UsageError:
    return pytest.UsageError(f"vlagent: {message}")


@pytest.fixture(scope="session")
def vl_model(pytestconfig: pytest.Config) -> Iterator[VLModel]:
    """The model (runtime and dialect) named by --vl-model, loaded once per session. Override
    this fixture to return a Runtime or a function ``prompt -> answer text``."""
    from vlagent.agent.core.build import ModelSpec, load_model
    from vlagent.agent.runtimes.base import ModelUnavailable
    from vlagent.prompts import UnknownDialect

    name = _option(pytestconfig, "--vl-model")
    if not name:
        raise _usage(
            "no model: give --vl-model (scripted:PATH, python:module:function, a model id)"
        )
    spec = ModelSpec(
        model=name,
        endpoint=_option(pytestconfig, "--vl-endpoint"),
        dialect=_option(pytestconfig, "--vl-dialect"),
    )
    try:
        runtime, dialect = load_model(spec)
    except (ModelUnavailable, UnknownDialect) as exc:
        raise _usage(f"--vl-model {name}: {exc}") from None
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


@pytest.fixture
def vl_agent(
    request: pytest.FixtureRequest, vl_model: Any, vl_environment: Environment
) -> Iterator[UITester]:
    """The test agent: ``act``, ``tap``, ``check``, ``query``, ``wait_for``
    (agent.uitest.UITester)."""
    from vlagent.agent.uitest.plans import PlanCache
    from vlagent.agent.uitest.tester import UITester

    config, node = request.config, request.node
    runtime, dialect = _model(vl_model)
    mode = _option(config, "--vl-trajectory")
    runs = None if mode == "off" else _runs_root(config) / _safe(node.nodeid)
    if runs is not None:
        shutil.rmtree(runs, ignore_errors=True)  # this test's runs from an earlier session
    cache_mode = _option(config, "--vl-cache")
    plans = None
    if cache_mode != "off":
        given = _option(config, "--vl-cache-dir")
        folder = Path(given) if given else Path(str(node.path)).parent / "vl-plans"
        plans = PlanCache(folder / _safe(node.name), cache_mode)
    tester = UITester(
        runtime,
        dialect,
        vl_environment,
        runs=runs,
        plans=plans,
        max_steps=_option(config, "--vl-max-steps"),
    )
    yield tester
    tester.close()
    if runs is not None and mode == "retain-on-failure" and not node.stash.get(_FAILED, False):
        shutil.rmtree(runs, ignore_errors=True)
        if runs.parent.is_dir() and not any(runs.parent.iterdir()):
            runs.parent.rmdir()


def _model(value: Any) -> tuple[Runtime, Dialect]:
    """What vl_model gave: a VLModel, a Runtime, or a function prompt -> text."""
    from vlagent.agent.core.build import ModelSpec, choose_dialect
    from vlagent.agent.runtimes.base import Runtime
    from vlagent.agent.runtimes.function import FunctionRuntime

    if isinstance(value, VLModel):
        return value.runtime, value.dialect
    runtime = value if isinstance(value, Runtime) else FunctionRuntime(_callable(value))
    return runtime, choose_dialect(ModelSpec(model="python:fixture"), runtime)


def _callable(value: Any) -> Callable[..., str]:
    if not callable(value):
        raise _usage(
            f"vl_model gave {type(value).__name__}: return a Runtime or a function prompt -> text"
        )
    return value  # type: ignore[no-any-return]


def _runs_root(config: pytest.Config) -> Path:
    given = Path(_option(config, "--vl-runs"))
    return given if given.is_absolute() else Path(config.rootpath) / given


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "test"


def _at_least_one(text: str) -> int:
    """An option's whole number of 1 or more; anything else is pytest's usage error."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number}: give 1 or more")
    return number


def _seconds(text: str) -> float:
    """An option's number of seconds, 0 or more; anything else is pytest's usage error."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text}: give 0 or more seconds")
    return seconds
