"""The options of the pytest plugin (``--vl-*``), and the converters that check their values
(a bad value is pytest's one-line usage error, never a traceback)."""

from __future__ import annotations

import argparse
import re

import pytest

TRAJECTORY_MODES = ("off", "on", "retain-on-failure")
PATH_OPTIONS = ("--vl-model", "--vl-runs", "--vl-cache-dir")
CACHE_MODES = ("off", "read", "write", "update", "prune")
"""agent.uitest.plans.MODES, spelled here too: the plugin is imported by every pytest session
of a project where vlagent is installed, and must not import the cache (numpy, Pillow) there."""


def add_options(parser: pytest.Parser) -> None:
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
        choices=CACHE_MODES,
        default="off",
        help="the cache of every verb's answers (act's plans, tap's points, check's verdicts "
        "...): off (default), read, write, update, prune (read, then list the entries no test "
        "reached)",
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
    group.addoption(
        "--vl-secret",
        metavar="NAME",
        action="append",
        default=[],
        type=_secret_name,
        help="a secret the model types as {{NAME}} without seeing it; its value comes from the "
        "environment variable NAME (repeatable; the vl_secrets fixture holds them)",
    )


PATH_OPTIONS = ("--vl-model", "--vl-runs", "--vl-cache-dir")
CACHE_MODES = ("off", "read", "write", "update", "prune")
"""agent.uitest.plans.MODES, spelled here too: the plugin is imported by every pytest session
of a project where vlagent is installed, and must not import the cache (numpy, Pillow) there."""


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


def _secret_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a secret's name is letters, digits and _ (e.g. PASSWORD)"
        )
    return text
