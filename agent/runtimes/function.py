"""A model that is a Python function: it receives each prompt (text and screenshot) and returns
the answer text. Deterministic like ``scripted:``, but it can look at the screen, so a test model
can find a button by its colour instead of knowing where it was when the script was written.

A function that takes a second argument also receives the observation the prompt was made from,
as data: ``function(prompt, observation)``, the :class:`~vlagent.environments.Observation` with
its images, ``state`` (a robot's joints and gripper), depth maps and metadata; None for a prompt
made from no observation (an evaluation's recorded screenshot). It is also
``prompt.metadata["observation"]``.

``python:package.module:function`` on the command line (and ``--vl-model`` in pytest) names one.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from vlagent.agent.runtimes.base import Completion, ModelUnavailable, Runtime, RuntimeFailure
from vlagent.prompts import Prompt

ModelFunction = Callable[[Prompt], str] | Callable[[Prompt, Any], str]
"""``function(prompt)`` or ``function(prompt, observation)``."""


@contextlib.contextmanager
def from_working_folder() -> Iterator[None]:
    """Imports see the working folder first, as ``python -m`` gives them: the ``agent`` command
    (a console script) does not, and ``python:mymodel:answer`` run beside mymodel.py must work
    either way."""
    folder = os.getcwd()
    added = folder not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


class FunctionRuntime(Runtime):
    """Answers each prompt with ``function(prompt)``. ``calls`` counts the prompts answered."""

    name = "function"

    def __init__(self, function: ModelFunction, source: str | None = None) -> None:
        self.function = function
        self.source = (
            source or f"{function.__module__}:{getattr(function, '__qualname__', 'function')}"
        )
        self.model_id = f"python:{self.source}"
        self.calls = 0
        self._with_observation = _takes_two(function)

    @classmethod
    def from_name(cls, name: str) -> FunctionRuntime:
        """``module:function`` → the runtime. Raises :class:`ModelUnavailable` in one line."""
        module_name, _, attribute = name.partition(":")
        if not module_name or not attribute:
            raise ModelUnavailable(
                f"python:{name}: name a function as python:package.module:function"
            )
        try:
            with from_working_folder():
                module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelUnavailable(
                f"python:{name}: cannot import {module_name} ({exc}); run from the folder that "
                "holds it, or put that folder on PYTHONPATH"
            ) from None
        function = getattr(module, attribute, None)
        if not callable(function):
            raise ModelUnavailable(f"python:{name}: {module_name} has no function {attribute!r}")
        return cls(function, name)

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        answers = []
        for prompt in prompts:
            try:
                if self._with_observation:
                    text = self.function(prompt, prompt.metadata.get("observation"))  # type: ignore[call-arg]
                else:
                    text = self.function(prompt)  # type: ignore[call-arg]
            except Exception as exc:  # the model's failure, not ours: one line, the run ends
                raise RuntimeFailure(
                    f"the model function {self.source} raised {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(text, str):
                raise RuntimeFailure(
                    f"the model function {self.source} returned "
                    f"{type(text).__name__}, not the answer text (str)"
                )
            self.calls += 1
            answers.append(Completion(text=text))
        return answers

    def describe(self) -> dict[str, Any]:
        return {"id": self.model_id, "runtime": self.name, "options": {}}


def _takes_two(function: Callable[..., Any]) -> bool:
    """Whether ``function`` asks for the observation too: a second positional parameter with no
    default, one named ``observation``, or ``*args`` (a parameter with a default is the
    function's own business, not a place to put the observation)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: one argument, as before
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    named = any(p.name == "observation" for p in positional[1:])
    return varargs or named or len(required) >= 2
