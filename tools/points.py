"""Screen points: the one argument type whose meaning depends on who is speaking.

A field annotated with :data:`Point` holds a position on the observed screen. Models write it in
their own coordinate space; the dialect that parsed the answer converts it to normalized floats in
[0, 1] before validation (docs/architecture.md, "Coordinates"). Dialects find such fields through
:func:`point_fields`, so a custom tool can take screen points too.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, BeforeValidator

from vlagent.tools.limits import Number


class ScreenPoint:
    """Marker put in a field's metadata: this field is an [x, y] point on the screen."""

    def __repr__(self) -> str:
        return "ScreenPoint()"


def _as_pair(value: Any) -> Any:
    # Models write points as JSON lists; tuples arrive from Python callers. Anything else is left
    # for pydantic to reject with its own message.
    if isinstance(value, (list, tuple)) and len(value) != 2:
        raise ValueError("a point is [x, y]: exactly two numbers")
    return value


Point = Annotated[tuple[Number, Number], ScreenPoint(), BeforeValidator(_as_pair)]
"""An [x, y] screen position (two finite numbers); after validation, normalized to [0, 1] of the
observed image."""


def _has_marker(annotation: Any) -> bool:
    # ``Point | None`` keeps the marker inside the union's Annotated member, out of field.metadata.
    if get_origin(annotation) is Annotated and any(
        isinstance(meta, ScreenPoint) for meta in annotation.__metadata__
    ):
        return True
    return any(_has_marker(arg) for arg in get_args(annotation))


@functools.lru_cache(maxsize=1024)  # a tool class does not change; every step asks
def point_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of the fields of ``model`` that hold screen points."""
    return frozenset(
        name
        for name, field in model.model_fields.items()
        if any(isinstance(meta, ScreenPoint) for meta in field.metadata)
        or _has_marker(field.annotation)
    )


def is_on_screen(point: tuple[float, float]) -> bool:
    """True when a normalized point lies on the screen (edges included)."""
    return 0.0 <= point[0] <= 1.0 and 0.0 <= point[1] <= 1.0
