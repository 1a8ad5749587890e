"""What binds a test's agent: the model a fixture or a marker gives, and ``@pytest.mark.vl``.

    @pytest.mark.vl(cache="off", max_steps=5, model="python:models:strict")
    def test_checkout(vl_agent): ...

A marker's value is checked when the test starts; a wrong one is a one-line usage error naming
the test's marker, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from vlagent.agent.uitest.options import CACHE_MODES

if TYPE_CHECKING:
    from vlagent.agent.runtimes.base import Runtime
    from vlagent.prompts import Dialect

MARKER = "vl"
MARKER_HELP = (
    "vl(cache=MODE, max_steps=N, model=NAME): this test's plan cache mode (off, read, write, "
    "update, prune), act's step limit and model (a --vl-model name, a Runtime or a function)"
)


class VLModel(NamedTuple):
    runtime: Runtime
    dialect: Dialect


class Marked(NamedTuple):
    """What ``@pytest.mark.vl`` changes for one test (None: the session's option)."""

    cache: str | None = None
    max_steps: int | None = None
    model: Any = None


# The options an environment's errors name, as ``agent run`` spells them; under pytest they are
# the plugin's own (--vl-xvfb), so that the advice in a message can be followed as written.
_RUN_FLAGS = re.compile(r"(?<![\w-])--(xvfb|display|launch|serial|settle)(?![\w-])")


def usage(message: str) -> pytest.UsageError:
    return pytest.UsageError("vlagent: " + _RUN_FLAGS.sub(r"--vl-\1", message))


def marked(node: pytest.Item) -> Marked:
    """The test's ``vl`` marker (the closest one wins, as pytest's markers do)."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return Marked()
    if marker.args:
        raise usage("@pytest.mark.vl takes keywords only: cache=, max_steps=, model=")
    unknown = sorted(set(marker.kwargs) - set(Marked._fields))
    if unknown:
        raise usage(f"@pytest.mark.vl: unknown {', '.join(unknown)}; give cache, max_steps, model")
    empty = sorted(name for name, value in marker.kwargs.items() if value is None)
    if empty:
        raise usage(f"@pytest.mark.vl({empty[0]}=None): give a value, or leave the keyword out")
    cache, steps = marker.kwargs.get("cache"), marker.kwargs.get("max_steps")
    if cache is not None and cache not in CACHE_MODES:
        raise usage(f"@pytest.mark.vl(cache={cache!r}): give one of {', '.join(CACHE_MODES)}")
    if steps is not None and (type(steps) is not int or steps < 1):
        raise usage(f"@pytest.mark.vl(max_steps={steps!r}): give a whole number, 1 or more")
    return Marked(cache, steps, marker.kwargs.get("model"))


def load_named(name: str, config: pytest.Config) -> VLModel:
    """A model by its ``--vl-model`` name, reached as the session's options say."""
    from vlagent.agent.core.build import ModelSpec, load_model
    from vlagent.agent.runtimes.base import ModelUnavailable
    from vlagent.prompts import UnknownDialect

    spec = ModelSpec(
        model=name,
        endpoint=config.getoption("--vl-endpoint"),
        dialect=config.getoption("--vl-dialect"),
    )
    try:
        runtime, dialect = load_model(spec)
    except (ModelUnavailable, UnknownDialect) as exc:
        raise usage(f"--vl-model {name}: {exc}") from None
    return VLModel(runtime, dialect)


def model_of(value: Any) -> tuple[Runtime, Dialect]:
    """What vl_model (or a marker) gave: a VLModel, a Runtime, or a function prompt -> text."""
    from vlagent.agent.core.build import ModelSpec, choose_dialect
    from vlagent.agent.runtimes.base import Runtime
    from vlagent.agent.runtimes.function import FunctionRuntime

    if isinstance(value, VLModel):
        return value.runtime, value.dialect
    runtime = value if isinstance(value, Runtime) else FunctionRuntime(_callable(value))
    return runtime, choose_dialect(ModelSpec(model="python:fixture"), runtime)


def _callable(value: Any) -> Callable[..., str]:
    if not callable(value):
        raise usage(
            f"vl_model gave {type(value).__name__}: return a Runtime or a function prompt -> text"
        )
    return value  # type: ignore[no-any-return]
