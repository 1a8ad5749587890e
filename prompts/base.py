"""The dialect protocol and the prompt it produces.

A dialect is how one model family is spoken to: it renders goal + history + screenshot + tools
into that family's chat messages, and parses the family's text back into tool calls whose screen
points are normalized to [0, 1]. Coordinate conventions live here and nowhere else.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from PIL import Image

from vlagent.prompts.bounds import ParseError as ParseError  # re-exported: its old home
from vlagent.prompts.bounds import check_answer
from vlagent.prompts.resize import ResizeRule
from vlagent.tools import ToolCall, ToolSet

Message = dict[str, Any]
"""A chat message in the Hugging Face form: ``{"role": ..., "content": [parts]}`` where a part
is ``{"type": "text", "text": ...}`` or ``{"type": "image", "image": PIL.Image}``."""


@dataclass(frozen=True)
class CoordinateFrame:
    """The model's coordinate space: model point (x, y) ↔ normalized (x / width, y / height).

    Relative 0–1000 spaces are ``CoordinateFrame(1000, 1000)``; a model that answers in pixels of
    a resized image has the resized size here.
    """

    width: float
    height: float

    def normalize(self, point: Sequence[float]) -> tuple[float, float]:
        return (float(point[0]) / self.width, float(point[1]) / self.height)

    def to_model(self, point: Sequence[float]) -> tuple[float, float]:
        return (float(point[0]) * self.width, float(point[1]) * self.height)


@dataclass
class Prompt:
    """One model call's input: chat messages, tool schemas for templates and servers that take
    ``tools=``, an optional JSON schema for constrained decoding, and the coordinate frame the
    answer will be read in.

    ``tools_text`` is the same tools written the way the family's chat template would write them,
    for templates that ignore ``tools=`` and for servers that are not asked to parse tool calls
    (:meth:`inline_messages`). ``model_image_size`` is the size the model sees the screenshot at,
    when the dialect knows it (Qwen family): remote runtimes send the image already that size,
    so the server's own resize cannot move the points. ``metadata`` is what the environment said
    about the screen (its observation's metadata, such as the ``foreground`` app, and its UI
    ``elements`` when listed); it is never sent to a model, but runtimes that compare screens
    (replay, cached answers) read it.
    """

    messages: list[Message]
    frame: CoordinateFrame
    tools: list[dict[str, Any]] | None = None
    json_schema: dict[str, Any] | None = None
    tools_text: str | None = None
    model_image_size: tuple[int, int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def inline_messages(self) -> list[Message]:
        """The messages with ``tools_text`` added to the system message (one is made if none)."""
        if not self.tools_text:
            return self.messages
        messages = [dict(m) for m in self.messages]
        if messages and messages[0]["role"] == "system":
            parts = _parts(messages[0])
            messages[0]["content"] = parts + [{"type": "text", "text": "\n\n" + self.tools_text}]
        else:
            messages.insert(
                0, {"role": "system", "content": [{"type": "text", "text": self.tools_text}]}
            )
        return messages

    def add_text(self, text: str) -> None:
        """Append ``text`` to the last user message, after its image: more about this screen
        (the UI tree's element list), in every family's format alike."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                message["content"] = _parts(message) + [{"type": "text", "text": "\n" + text}]
                return
        self.messages.append({"role": "user", "content": [{"type": "text", "text": text}]})

    def add_image(
        self, caption: str, image: Image.Image, model_size: tuple[int, int] | None
    ) -> None:
        """Append ``caption`` and ``image`` to the last user message (a further camera).
        ``model_size`` is the size the model sees it at (remote runtimes send it that size)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                message["content"] = _parts(message) + [
                    {"type": "text", "text": "\n" + caption},
                    {"type": "image", "image": image, "model_size": model_size},
                ]
                return
        raise ValueError("the prompt has no user message to add an image to")

    def images(self) -> list[Image.Image]:
        return [
            part["image"] for m in self.messages for part in _parts(m) if part["type"] == "image"
        ]

    def image_frames(self) -> list[tuple[int, int] | None]:
        """For each image, in order, the size its coordinates are read in: a further camera's
        own ``model_size``, else ``model_image_size``; None where answers are not in pixels."""
        return [
            part.get("model_size") or self.model_image_size
            for m in self.messages
            for part in _parts(m)
            if part["type"] == "image"
        ]

    def text(self) -> str:
        """A readable transcript (images as ``<image WxH>``), for trajectories and --dry-run."""
        lines = []
        for message in self.messages:
            body = "".join(
                part["text"]
                if part["type"] == "text"
                else f"<image {part['image'].width}x{part['image'].height}>"
                for part in _parts(message)
            )
            lines.append(f"[{message['role']}]\n{body}")
        return "\n".join(lines)


def _parts(message: Message) -> list[dict[str, Any]]:
    content = message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


class History(list[ToolCall]):
    """The earlier calls a prompt lists: the last ones of a run, numbered from ``first``, after
    ``earlier`` (one line that sums up the calls left out) and with the numbers in ``unexecuted``
    (decided, but not done: late past a deadline, stopped) marked as such."""

    def __init__(
        self,
        calls: Iterable[ToolCall] = (),
        first: int = 1,
        earlier: str = "",
        unexecuted: Iterable[int] = (),
    ) -> None:
        super().__init__(calls)
        self.first = first
        self.earlier = earlier
        self.unexecuted = frozenset(unexecuted)


class Dialect(ABC):
    """Render prompts for one model family and parse its answers.

    ``resize`` is how the model's processor resizes screenshots (None: the dialect does not need
    to know). Runtimes that load the processor pass its real settings; the family default
    otherwise.
    """

    name: ClassVar[str]
    default_resize: ClassVar[ResizeRule | None] = None
    pixel_space: ClassVar[bool] = False
    """True when the model answers in pixels of the image as its processor resized it."""
    relative_extent: ClassVar[float] = 1000
    """Otherwise: the number that stands for the full width and height (0–1000 spaces)."""
    prompt_source: ClassVar[str] = "vlagent"
    """Whose prompt this dialect renders (recorded in each trajectory's header)."""

    def relative_extent_for(self, toolset: ToolSet | None) -> float:
        """The relative extent for answers with ``toolset`` (one number for every tool here)."""
        return self.relative_extent

    def __init__(self, resize: ResizeRule | None = None) -> None:
        self.resize = resize if resize is not None else self.default_resize

    def model_image_size(self, image_size: tuple[int, int]) -> tuple[int, int] | None:
        """The size the model sees an image of ``image_size`` at, when the dialect knows it."""
        return self.resize.resized(image_size) if self.resize is not None else None

    def pixel_size(self, frame: CoordinateFrame) -> tuple[int, int] | None:
        """The frame as an image size for pixel-space dialects (what the model was shown)."""
        return (int(frame.width), int(frame.height)) if self.pixel_space else None

    # -- wording shared by every dialect ---------------------------------------------------------

    def history_text(self, call: ToolCall) -> str:
        """One earlier call as the history shows it (default: its JSON, in the model's space)."""
        return call_text(call)

    def history_lines(self, history: Sequence[ToolCall]) -> list[str]:
        """``Step N: <call>`` for each earlier call; each dialect frames the list its own way. A
        :class:`History` window adds its one-line summary of the calls before it, numbers its
        calls from where it starts, and marks the ones that were never executed."""
        if not isinstance(history, History):
            history = History(history)
        lines = [history.earlier] if history.earlier else []
        for number, call in enumerate(history, start=history.first):
            text = self.history_text(call)
            if number in history.unexecuted:
                text += " (decided, not executed)"
            lines.append(f"Step {number}: {text}")
        return lines

    @staticmethod
    def feedback_line(feedback: str) -> str:
        """Why the previous answer was not executed; the answer format is said once, elsewhere."""
        return f"Your previous answer was not executed: {feedback}."

    def frame_for(
        self, image_size: tuple[int, int], toolset: ToolSet | None = None
    ) -> CoordinateFrame:
        """The model's coordinate space for an image of ``image_size`` (width, height) when it
        answers with ``toolset``: pixels of the image as the processor resizes it
        (``pixel_space``), else ``relative_extent(toolset)`` across each side."""
        if not self.pixel_space:
            extent = self.relative_extent_for(toolset)
            return CoordinateFrame(extent, extent)
        size = self.model_image_size(image_size)
        if size is None:
            raise ValueError(
                f"dialect {self.name} answers in resized pixels and needs a resize rule"
            )
        return CoordinateFrame(*size)

    @abstractmethod
    def render(
        self,
        goal: str,
        history: Sequence[ToolCall],
        image: Image.Image,
        toolset: ToolSet,
        feedback: str | None = None,
        surface: str = "screen",
    ) -> Prompt:
        """Chat messages for one step. ``feedback`` explains why the last answer was refused;
        ``surface`` is what the image shows, in the environment's words ("screen", "camera
        image")."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The size check in parse() is what bounds the time of every parser: a dialect
        # implements parse_answer() and cannot step around it.
        if "parse" in cls.__dict__:
            raise TypeError(
                f"dialect {cls.__name__} overrides parse(); implement parse_answer() instead"
            )

    def parse(self, text: str, frame: CoordinateFrame, toolset: ToolSet) -> list[ToolCall]:
        """Every tool call in ``text``, points normalized. Raises only :class:`ParseError`: for
        an answer that is not text or is over ``MAX_ANSWER_CHARS`` before any parsing."""
        return self.parse_answer(check_answer(text), frame, toolset)

    @abstractmethod
    def parse_answer(self, text: str, frame: CoordinateFrame, toolset: ToolSet) -> list[ToolCall]:
        """:meth:`parse` below the size check: time linear in ``len(text)``."""


def call_text(call: ToolCall) -> str:
    """An earlier call as the history shows it: its JSON, in the model's own coordinates."""
    return json.dumps({"name": call.name, "arguments": call.raw()}, ensure_ascii=False)


def normalize_call(
    name: str, arguments: dict[str, Any], frame: CoordinateFrame, toolset: ToolSet
) -> ToolCall:
    """A :class:`ToolCall` whose screen points are converted from ``frame`` to [0, 1].

    Values that are not two finite numbers of sane size are passed on unchanged, so validation can
    say what is wrong with them in the model's own terms. Text that cannot be written as UTF-8 (a
    lone surrogate from a ``\\ud800`` escape) is a :class:`ParseError`.
    """
    if _unencodable(name) or _unencodable(arguments):
        raise ParseError(
            "the answer holds an invalid character (a lone surrogate escape); write "
            "the text as plain characters"
        )
    normalized = dict(arguments)
    for key in toolset.point_fields(name):
        value = arguments.get(key)
        if (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(_finite_number(v) for v in value)
        ):
            normalized[key] = list(frame.normalize(value))
    return ToolCall(name=name, arguments=normalized, raw_arguments=dict(arguments))


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):  # a 400-digit integer has no float
        return abs(value) <= 10**15
    return math.isfinite(value)


def _unencodable(value: Any) -> bool:
    """True when a string inside ``value`` cannot be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unencodable(k) or _unencodable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_unencodable(v) for v in value)
    return False


def model_call(
    name: str,
    normalized: dict[str, Any],
    frame: CoordinateFrame,
    toolset: ToolSet,
    ndigits: int | None = None,
) -> ToolCall:
    """The inverse of :func:`normalize_call`: a call with [0, 1] points whose ``raw()`` has them in
    ``frame``, rounded as ``round(v, ndigits)`` (whole numbers by default, as a model writes)."""
    raw = dict(normalized)
    for key in toolset.point_fields(name):
        point = raw.get(key)
        if isinstance(point, (list, tuple)) and len(point) == 2:
            raw[key] = [round(v, ndigits) for v in frame.to_model(point)]
    return ToolCall(name=name, arguments=dict(normalized), raw_arguments=raw)
