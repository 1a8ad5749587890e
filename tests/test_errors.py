"""One exception root: every error class of vlagent derives from VlagentError, each name has one
home, and the agent command maps an uncaught one to its documented exit code."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.test_repository import _modules
from vlagent.agent import VlagentError
from vlagent.agent.cli import exitcodes

ERROR_WORDS = ("Error", "Exception", "Failure", "Unavailable", "Fault", "Aborted", "Overrun")
ERROR_WORDS += ("Finished", "Gone")


def _error_classes() -> dict[str, list[str]]:
    """Class name -> the modules defining it, for every class named like an error or exception."""
    found: dict[str, list[str]] = {}
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(ERROR_WORDS):
                found.setdefault(node.name, []).append(module)
    return found


ERRORS = _error_classes()


def test_every_error_class_has_one_home() -> None:
    assert {name: homes for name, homes in ERRORS.items() if len(homes) > 1} == {}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_class_derives_from_vlagenterror(name: str) -> None:
    cls = getattr(importlib.import_module(ERRORS[name][0]), name)
    # A private retry signal inside one module; a record (StepError) is no exception.
    if name.startswith("_") or not issubclass(cls, BaseException):
        return
    assert issubclass(cls, VlagentError), f"{ERRORS[name][0]}.{name}"


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_an_uncaught_error_gets_a_documented_exit_code_not_the_bug_code(name: str) -> None:
    cls = getattr(importlib.import_module(ERRORS[name][0]), name)
    if not issubclass(cls, VlagentError):
        return
    error = cls.__new__(cls)
    assert exitcodes.code_for(error) in (1, 2, 3, 4, 130)
    assert exitcodes.code_for(RuntimeError("a bug")) == exitcodes.INTERNAL


def test_the_exit_code_table_names_real_classes() -> None:
    assert set(exitcodes.BY_ERROR) <= set(ERRORS)
    assert "EnvironmentCheckError" in ERRORS and not issubclass(
        getattr(
            importlib.import_module(ERRORS["EnvironmentCheckError"][0]), "EnvironmentCheckError"
        ),
        AssertionError,
    )  # a failed environment check is an error of the environment, not of a test's assert


def test_docs_list_the_exit_codes() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text("utf-8")
    assert "VlagentError" in text
