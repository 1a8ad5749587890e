"""Secrets as a type, and the one redaction every outward text of vlagent passes.

A :class:`Secret` holds a value (a password given with ``--secret``, an API key) that no
prompt, trajectory, report, log, error or terminal line may show. Its ``repr`` and ``str`` are
its mask, it is never pickled, and pydantic serializes it as its mask: printing or dumping it
by accident shows nothing. The value comes out through :meth:`Secret.reveal` only, where it is
used (typed on a device, sent in an ``Authorization`` header).

While a secret lives it is registered, and :func:`redact` masks it in any text, in the forms
it takes when quoted or escaped (tools/escapes.py). The places where text leaves vlagent call
it: the recorder for every line of the trajectory (the report and exports read those lines),
the prompt for the model, the CLI's consoles. Programs vlagent starts get
:func:`child_environment`: no API key, no secret. Where the design is told: docs/safety.md.
"""

from __future__ import annotations

import functools
import hmac
import os
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from vlagent.tools.errors import VlagentError
from vlagent.tools.escapes import escaped_forms, unnested

MASK = "********"
CREDENTIAL_VARIABLES = frozenset(
    {"OPENAI_API_KEY", "VLAGENT_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}
)
"""Variables no program vlagent starts is given (nor any ``*_API_KEY``)."""

T = TypeVar("T")


class SecretError(VlagentError, ValueError):
    """A secret cannot be made from what was given (an empty value)."""


class Secret:
    """A value that is shown nowhere: ``repr``/``str``/``format`` give its mask (``{{NAME}}``
    for a named secret, the placeholder the model writes; ``********`` otherwise)."""

    __slots__ = ("__weakref__", "_value", "name")
    _value: str
    name: str | None

    def __init__(self, value: str | Secret, name: str | None = None) -> None:
        if isinstance(value, Secret):
            name, value = name or value.name, value.reveal()
        if not isinstance(value, str) or not value:
            what = f"the secret {name}" if name else "a secret"
            raise SecretError(f"{what} is empty: give it a value")
        self._value = value
        self.name = name
        _register(self)

    def reveal(self) -> str:
        """The value, for the one place that uses it (never for text that is shown)."""
        return self._value

    @property
    def mask(self) -> str:
        return "{{" + self.name + "}}" if self.name else MASK

    def __repr__(self) -> str:
        return f"Secret({self.mask!r})"

    def __str__(self) -> str:
        return self.mask

    def __format__(self, spec: str) -> str:
        return format(self.mask, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = (s.encode("utf-8", "surrogatepass") for s in (self._value, other._value))
        return self.name == other.name and hmac.compare_digest(mine, theirs)

    def __hash__(self) -> int:
        return hash((Secret, self.name, self._value))

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret is never pickled; pass its name and read the value there")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        # A pickle is a file or a message to another process: the value would leave with it.
        raise TypeError("a Secret is never pickled; pass its name and read the value there")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: Any) -> Secret:
        return self

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            lambda value: value if isinstance(value, Secret) else Secret(value),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda secret: secret.mask, when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "string", "writeOnly": True}


# -- the registry of live secrets -----------------------------------------------------------------

_lock = threading.Lock()
_live: weakref.WeakSet[Secret] = weakref.WeakSet()


def _register(secret: Secret) -> None:
    with _lock:
        _live.add(secret)


def live_secrets() -> list[Secret]:
    """The secrets that exist now (a secret is masked for as long as something holds it)."""
    with _lock:
        return list(_live)


class _Forms:
    """One pattern for many forms, each form with the mask it is replaced by."""

    def __init__(self, masks: dict[str, str]) -> None:
        masks.pop("", None)
        # Longest first: where two forms start at one place, the whole escaped value goes.
        forms = sorted(masks, key=lambda form: (-len(form), form))
        self.pattern = re.compile("|".join(map(re.escape, forms)))
        self.masks = masks

    def mask_of(self, found: str) -> str:
        return self.masks.get(found) or MASK


@functools.lru_cache(maxsize=32)
def _forms(masks: tuple[tuple[str, str], ...]) -> tuple[_Forms, _Forms]:
    """The forms of every secret as they are, and as they read in the unnested view of a text
    (tools/escapes.unnested: a form split by invisible characters or quoted any number of
    layers deep reads as its one-layer self). Both are searched: the view cannot tell an escaped
    quote from an escaped backslash before a quote, nor keep a secret made of invisible
    characters."""
    plain: dict[str, str] = {}
    nested: dict[str, str] = {}
    for value, mask in masks:
        for form in escaped_forms(value):
            plain.setdefault(form, mask)
            nested.setdefault(unnested(form).view, mask)
    return _Forms(plain), _Forms(nested)


def redact(text: str) -> str:
    """``text`` with every live secret, in every escaped form, replaced by its mask."""
    secrets = live_secrets()
    if not secrets or not isinstance(text, str) or not text:
        return text
    plain, nested = _forms(tuple(sorted({(s.reveal(), s.mask) for s in secrets})))
    text = _masked(text, plain, lambda start, end: slice(start, end), text)
    view = unnested(text)
    return text if view.view == text else _masked(view.view, nested, view.span, text)


def _masked(searched: str, forms: _Forms, span: Callable[[int, int], slice], text: str) -> str:
    """``text`` with every stretch where ``forms`` match in ``searched`` (``span`` says where in
    ``text`` a stretch of ``searched`` lies) replaced by a mask. Matches that overlap (two secrets
    sharing characters, one inside another) are merged: no part of either is left."""
    stretches: list[list[Any]] = []
    at = 0
    while (match := forms.pattern.search(searched, at)) is not None:
        where = span(match.start(), match.end())
        if stretches and where.start < stretches[-1][1]:
            stretches[-1][1] = max(stretches[-1][1], where.stop)
        else:
            stretches.append([where.start, where.stop, forms.mask_of(match.group())])
        at = match.start() + 1
    pieces: list[str] = []
    at = 0
    for start, stop, mask in stretches:
        pieces += [text[at:start], mask]
        at = stop
    pieces.append(text[at:])
    return "".join(pieces)


def redact_data(value: T, keep_keys: frozenset[str] = frozenset()) -> T:
    """``value`` with :func:`redact` applied to every string in it, keys included (but those in
    ``keep_keys``: the field names of a record), through dicts, lists and tuples (a record, a
    chat message); other objects are kept as they are."""
    if not live_secrets():
        return value
    return _redact_tree(value, keep_keys)  # type: ignore[no-any-return]


def _redact_tree(value: Any, keep: frozenset[str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Secret):
        return value.mask
    if isinstance(value, dict):
        return {
            (k if k in keep else _redact_tree(k, keep)): _redact_tree(v, keep)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_tree(v, keep) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_tree(v, keep) for v in value)
    return value


def holds_secret(text: str) -> bool:
    """Whether ``text`` holds a live secret's value (it must then go nowhere it can be read back,
    such as the clipboard)."""
    return any(secret.reveal() in text for secret in live_secrets())


def child_environment(
    extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a program vlagent starts (an app under ``--launch``, Xvfb, xclip,
    adb): ``base`` (default ``os.environ``) without API keys and tokens, without the variable of
    any named secret and without any variable whose value holds a secret; then ``extra``."""
    secrets = live_secrets()
    names = {s.name for s in secrets if s.name}
    values = [s.reveal() for s in secrets]
    kept = {
        name: value
        for name, value in (os.environ if base is None else base).items()
        if name not in CREDENTIAL_VARIABLES
        and not name.upper().endswith("_API_KEY")
        and name not in names
        and not any(secret in value for secret in values)
    }
    return {**kept, **(extra or {})}


__all__ = [
    "CREDENTIAL_VARIABLES",
    "MASK",
    "Secret",
    "SecretError",
    "child_environment",
    "holds_secret",
    "live_secrets",
    "redact",
    "redact_data",
]
