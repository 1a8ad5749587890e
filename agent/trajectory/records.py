"""The three records of ``trajectory.jsonl`` (a header, one line per step, an end line) as pydantic
models. The recorder writes them, the reader returns them, and ``schema.json`` is generated from
them (``python -m vlagent.agent.trajectory`` rewrites it): one definition, no copy to drift.

See docs/trajectory-format.md for what each field means.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

FORMAT: Literal["vlagent-trajectory"] = "vlagent-trajectory"
VERSION: Literal[6] = 6
"""2: a step's ``prompt_text`` is what is new since the step before (``prompt_from``).
3: the end line may carry ``replay`` (self-healing replay), and ``status`` may be ``unverified``.
4: a step may carry ``elements`` (the UI tree the model was shown).
5: a step may carry ``views`` (further camera images), ``depth`` maps, the robot's ``state`` and
the observation's ``metadata``.
6: ``status`` may be ``ended`` (the environment ended the episode and nothing said whether it
succeeded: a Gymnasium episode with no success rule)."""

Status = Literal[
    "success",
    "failure",
    "answered",
    "max_steps",
    "time_limit",
    "error",
    "aborted",
    "unverified",
    "ended",
]
"""``unverified``: a self-healing replay said it was done, but never re-joined its recording.
``ended``: the environment ended the episode, and neither it nor a rule of the user's said
whether that was a success (neither success nor failure)."""
ErrorKind = Literal["parse", "validation", "policy", "loop", "environment", "model"]

_TIME: JsonDict = {"format": "date-time"}


class Record(BaseModel):
    """Strict: a line with a field we do not know is damaged, not silently half-read."""

    # Serialization-mode schemas list fields with defaults as required: every line has them all.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class Open(BaseModel):
    """Facts that each environment, runtime or tool adds its own keys to."""

    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)


# -- header ------------------------------------------------------------------------------------


class EnvironmentInfo(Open):
    name: str


class ModelInfo(Open):
    id: str
    runtime: str
    options: dict[str, Any] = Field(default_factory=dict)


class Screen(Record):
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    scale: float = Field(gt=0)


class Limits(Record):
    """When a run stops on its own.

    ``max_retries``: invalid answers in a row (unparseable, invalid, refused) fed back to the model
    before the run stops. ``max_repeats``: the same action proposed this many times in a row on an
    unchanged screen stops the run (the last one is not executed).
    """

    max_steps: int = Field(default=30, ge=1)
    max_retries: int = Field(default=2, ge=0)
    max_repeats: int = Field(default=3, ge=2)
    time_limit_s: float | None = Field(default=None, gt=0)


class Header(Record):
    type: Literal["header"] = "header"
    format: Literal["vlagent-trajectory"] = FORMAT
    version: Literal[1, 2, 3, 4, 5, 6] = VERSION
    run_id: str
    goal: str
    started_at: str = Field(json_schema_extra=_TIME)
    environment: EnvironmentInfo
    screen: Screen
    model: ModelInfo
    dialect: str
    prompt_source: str = ""
    """Whose prompt the dialect renders (empty in files written before it was recorded)."""
    tools: list[dict[str, Any]]
    limits: Limits
    dry_run: bool = False
    versions: dict[str, str]


# -- steps ---------------------------------------------------------------------------------------


class StepError(Record):
    kind: ErrorKind
    message: str


class ElementRecord(Record):
    """One listed screen element; its number in the list is its position in ``Step.elements``."""

    bounds: tuple[int, int, int, int]
    """left, top, right, bottom in pixels of the step's screenshot"""
    kind: str = ""
    text: str = ""
    description: str = ""
    resource_id: str = ""
    clickable: bool = False


class CallRecord(Record):
    """A call as the model wrote it (its points in the model's own space)."""

    name: str
    arguments: dict[str, Any]


class ActionRecord(Record):
    """The validated action three ways: as the model wrote it, normalized to [0, 1] of the image,
    and in device pixels."""

    tool: str
    model: dict[str, Any]
    normalized: dict[str, Any]
    device: dict[str, Any]

    @property
    def name(self) -> str:
        """The action's name (``click``, ``type`` …), or the tool's for single-action tools."""
        return str(self.normalized.get("action", self.tool))


class Outcome(Record):
    """What executing the action did. ``executed`` is False when nothing reached the device."""

    ok: bool
    executed: bool
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class Step(Record):
    """One model call and what came of it."""

    type: Literal["step"] = "step"
    index: int = Field(ge=0)
    started_at: str = Field(json_schema_extra=_TIME)
    image_size: tuple[int, int]
    scale: float = Field(gt=0)
    frame: tuple[float, float]
    screen_hash: str = Field(pattern=r"^[0-9a-f]{32}$")
    prompt_text: str = ""
    """The prompt as the model read it; from the second step on, only its end (see prompt_from)."""
    prompt_from: int | None = Field(default=None, ge=0)
    """None: ``prompt_text`` is the whole prompt. N: the prompt is the previous step's first N
    characters followed by ``prompt_text`` (a history grows by a line a step: recording it whole
    every step would grow the file with the square of the steps)."""
    prompt_tokens: int | None = Field(default=None, ge=0)
    output_text: str | None = None
    completion_tokens: int | None = Field(default=None, ge=0)
    calls: list[CallRecord] = Field(default_factory=list)
    action: ActionRecord | None = None
    result: Outcome | None = None
    error: StepError | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    screenshot: str | None = Field(default=None, pattern=r"^screens/[0-9]{6}\.png$")
    elements: list[ElementRecord] | None = None
    """The UI tree listed in the prompt (--ui-tree), in order; null when none was."""
    image_name: str | None = None
    """What the observation calls ``screenshot`` when it is not "screen" (a camera's name)."""
    views: dict[str, str] | None = None
    """Further images the model was shown, by name: ``screens/NNNNNN-<name>.png``."""
    depth: dict[str, str] | None = None
    """Depth maps by image name, in metres: ``screens/NNNNNN-<name>.depth.npy`` (float32)."""
    state: dict[str, Any] | None = None
    """The robot's state as observed (joints, gripper, pose), full precision."""
    metadata: dict[str, Any] | None = None
    """What the environment said about the observation (device, rotation, display)."""

    @property
    def executed(self) -> bool:
        """True when the step's action reached the device."""
        return self.error is None and self.result is not None and self.result.executed

    def record(self) -> dict[str, Any]:
        """The JSON line for this step."""
        return self.model_dump(mode="json")


# -- end ------------------------------------------------------------------------------------------


class Totals(Record):
    model_calls: int = Field(ge=0)
    executed_actions: int = Field(ge=0)
    prompt_tokens: int | None
    completion_tokens: int | None
    timings_ms: dict[str, float]


class ReplayOutcome(Record):
    """How a self-healing replay went: which steps the model planned, and whether the run came
    back to the recording (a screen the recording reached) and ended as the recording ended."""

    of: str
    """The recorded run directory."""
    healed_steps: list[int]
    """This run's steps that the model planned (the others replayed the recording)."""
    rejoined_at: int | None
    """The recorded step whose screen this run reached after its last healed step (None: never)."""
    ended_as_recorded: bool
    """The run's last step was the recording's last step, replayed on a matching screen."""
    unverified: str = ""
    """What is not verified; empty when the run re-joined the recording and ended as it did."""


class End(Record):
    type: Literal["end"] = "end"
    status: Status
    reason: str
    answer: str | None = None
    steps: int = Field(ge=0)
    ended_at: str = Field(json_schema_extra=_TIME)
    duration_s: float = Field(ge=0)
    totals: Totals
    replay: ReplayOutcome | None = None
    """Set by self-healing replay."""

    @property
    def succeeded(self) -> bool:
        return self.status in ("success", "answered")
