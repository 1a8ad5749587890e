"""Bounds on what a model may ask for, and plain numbers only, for every tool.

Models write arguments as JSON, and JSON lets through what no action should get: numbers written
as strings or booleans (``["1", "1"]`` would otherwise be read as the corner of the screen),
``NaN`` and infinities, integers hundreds of digits long, and lengths no device should spend
minutes on. Every GUI argument is checked here; the limits are documented in docs/tools.md. They
are enforced by validation, not written into the prompt's schemas, which keep the published shape.

The number rule (:func:`finite_number`) holds for every tool, the user's own models and typed
functions included: ``ToolSet.validate`` checks each call against :func:`number_gate` of its
tool and :func:`number_problem` before the tool's own model sees it.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import types
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from vlagent.tools.secrets import redact

MAX_TEXT = 2000
"""Characters of ``text`` (typing, app names, answers)."""
MAX_KEYS = 6
"""Keys pressed together in one ``key`` action (``ctrl+shift+t`` is three)."""
MAX_SCROLL_PIXELS = 10_000
"""|pixels| of one ``scroll`` / ``hscroll`` (100 wheel clicks)."""
MAX_WAIT_S = 60
"""Seconds of ``wait``, ``long_press`` and ``swipe``."""
MAX_MAGNITUDE = 10**9
"""Any number's absolute value, before it is scaled or bounded by its field."""


MAX_NUMBER = 2**53
"""Any number argument of any tool, in absolute value: the largest integer a float (and so
every JSON reader) holds exactly. GUI arguments are bounded further by :data:`MAX_MAGNITUDE`."""


def finite_number(value: Any) -> Any:
    """The one number rule (``ToolSet`` applies it to every tool): an int or float, finite, at
    most :data:`MAX_NUMBER` in size; a string, a boolean or anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, not {type(value).__name__} {_short(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number, not NaN or an infinity")
    if abs(value) > MAX_NUMBER:
        raise ValueError(f"is too large (at most {MAX_NUMBER:,} in size)")
    return value


def plain_number(value: Any) -> Any:
    """:func:`finite_number` within :data:`MAX_MAGNITUDE`: a GUI coordinate or duration."""
    finite_number(value)
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"is too large (at most {MAX_MAGNITUDE:,} in size)")
    return value


def _bounded_text(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise ValueError(f"is {len(text):,} characters long; at most {MAX_TEXT:,} per action")
    return text


def _bounded_scroll(pixels: int) -> int:
    if abs(pixels) > MAX_SCROLL_PIXELS:
        raise ValueError(f"is more than {MAX_SCROLL_PIXELS:,} pixels; scroll in several steps")
    return pixels


def _short(value: Any) -> str:
    if isinstance(value, (str, bytes)) and len(value) > 40:
        value = value[:40]  # repr of the whole would copy megabytes to cut them
    try:
        shown = redact(repr(value))  # masked before it is cut
    except ValueError:  # an int over Python's int-string limit
        shown = "(a huge number)"
    return shown if len(shown) <= 40 else shown[:37] + "..."


Number = Annotated[float, BeforeValidator(plain_number)]
"""A coordinate or a duration: an int or float, finite, not a string or a boolean."""
ScrollPixels = Annotated[int, BeforeValidator(plain_number), AfterValidator(_bounded_scroll)]
Seconds = Annotated[float, Field(gt=0, le=MAX_WAIT_S), BeforeValidator(plain_number)]
Text = Annotated[str, Field(min_length=1), AfterValidator(_bounded_text)]


# -- the number rule for every tool ------------------------------------------------------------

MAX_NESTING = 32
"""Lists and objects nested in one argument (a point is one level)."""

FiniteFloat = Annotated[float, BeforeValidator(finite_number)]
FiniteInt = Annotated[int, BeforeValidator(finite_number)]


def with_number_rule(annotation: Any) -> Any:
    """``annotation`` with :func:`finite_number` before every ``float``, ``int`` and ``Decimal``
    in it (a ``NewType`` of one too), at any depth: ``list[float]``, ``tuple[float, float,
    float] | None``, ``Annotated[float, ...]``. The very same object when it holds none."""
    if annotation is float:
        return FiniteFloat
    if annotation is int:
        return FiniteInt
    if annotation is Decimal or annotation is Fraction:
        return Annotated[annotation, BeforeValidator(finite_number)]
    supertype = getattr(annotation, "__supertype__", None)  # NewType("Metres", float)
    if supertype is not None:
        ruled_super = with_number_rule(supertype)
        return annotation if ruled_super is supertype else ruled_super
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return _literal_rule(annotation, args)
    if origin is None or not args:
        return annotation
    if origin is Annotated:
        inner = with_number_rule(args[0])
        if inner is args[0]:
            return annotation
        rebuilt = (inner, *annotation.__metadata__)
        return Annotated[rebuilt]
    ruled = tuple(with_number_rule(arg) for arg in args)
    if all(new is old for new, old in zip(ruled, args)):
        return annotation
    if origin is Union or origin is types.UnionType:
        return functools.reduce(operator.or_, ruled)
    try:
        return origin[ruled]
    except TypeError:  # a generic that cannot be rebuilt: pydantic's own checks stand
        return annotation


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be one of the numbers allowed, not {value!r}")
    return value


def _literal_rule(annotation: Any, values: tuple[Any, ...]) -> Any:
    """A ``Literal`` of numbers takes numbers only: ``True`` equals 1 and ``"1"`` reads as 1
    to a lax validator, so each is refused before the literal is matched."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers or any(isinstance(v, bool) for v in values):
        return annotation
    if len(numbers) == len(values):
        return Annotated[annotation, BeforeValidator(finite_number)]
    return Annotated[annotation, BeforeValidator(_not_a_bool)]


def _real_problem(item: Any) -> str | None:
    """The number rule for any number a Python caller may pass (numpy scalars, Decimal,
    Fraction, complex), not only int and float."""
    if isinstance(item, bool) or not isinstance(item, numbers.Number):
        return None
    if not isinstance(item, numbers.Real):
        return "must be a real number"
    if isinstance(item, numbers.Integral):  # exactly: 2**53 + 1 as a float is 2**53
        return (
            None
            if abs(int(item)) <= MAX_NUMBER
            else f"is too large (at most {MAX_NUMBER:,} in size)"
        )
    try:
        size = abs(float(item))
    except OverflowError:
        return f"is too large (at most {MAX_NUMBER:,} in size)"
    except ValueError:  # a signalling NaN
        return "must be a finite number, not NaN or an infinity"
    if not math.isfinite(size):
        return "must be a finite number, not NaN or an infinity"
    if size > MAX_NUMBER:
        return f"is too large (at most {MAX_NUMBER:,} in size)"
    return None


@functools.lru_cache(maxsize=512)
def number_gate(tool: type[BaseModel]) -> type[BaseModel] | None:
    """A model that checks the number rule alone on ``tool``'s arguments: each of ``tool``'s
    fields that holds numbers, typed by :func:`with_number_rule` and optional (a missing argument
    is ``tool``'s to report); other arguments pass. None when ``tool`` takes no numbers. Made
    from the model, so it covers every tool a user brings without changing it."""
    fields: dict[str, Any] = {}
    for name, info in tool.model_fields.items():
        ruled = with_number_rule(info.annotation)
        if ruled is not info.annotation:
            spec = Field(None, alias=info.alias, validation_alias=info.validation_alias)
            fields[name] = (ruled | None, spec)
    if not fields:
        return None
    config = ConfigDict(extra="ignore", arbitrary_types_allowed=True, protected_namespaces=())
    for key in ("populate_by_name", "validate_by_name", "validate_by_alias"):
        if key in tool.model_config:
            config[key] = tool.model_config[key]
    gate: type[BaseModel] = create_model(f"{tool.__name__}Numbers", __config__=config, **fields)
    return gate


def number_problem(value: Any) -> str | None:
    """What breaks the number rule anywhere inside ``value`` (a NaN or infinity, a number over
    :data:`MAX_NUMBER` in size, nesting over :data:`MAX_NESTING`), whatever the field's type;
    None when nothing does. Iterative, and each list or object is looked at once."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    seen: set[int] = set()
    while pending:
        item, depth = pending.pop()
        problem = _real_problem(item)
        if problem is not None:
            return problem
        if isinstance(item, (dict, list, tuple, set, frozenset)) and id(item) not in seen:
            if depth >= MAX_NESTING:
                return f"nests more than {MAX_NESTING} levels deep"
            seen.add(id(item))
            members = item.values() if isinstance(item, dict) else item
            pending.extend((member, depth + 1) for member in members)
    return None
