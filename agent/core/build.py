"""Build a ready agent from a spec: what the ``agent`` CLI is given, as plain data.

>>> spec = RunSpec(env="memory", env_options={"space": "mobile"},
...                model=ModelSpec(model="scripted:docs/examples/tap-type-done.txt"), out="runs/x")
>>> with build_agent(spec) as agent:           # doctest: +SKIP
...     result = agent.run("Type a greeting")

The environment comes first (a missing device should fail before a model loads), then the model
and its dialect, then the recorder. Whatever fails, what was opened before is closed again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer, field_validator

from vlagent.agent.core.context import RunListener
from vlagent.agent.core.loop import Agent
from vlagent.agent.core.policy import Policy
from vlagent.agent.runtimes.base import Runtime, RuntimeOptions
from vlagent.agent.trajectory.records import Limits
from vlagent.environments import Environment
from vlagent.prompts import Dialect, ResizeRule, UnknownDialect, dialect_for, get_dialect
from vlagent.prompts.resize import user_budget
from vlagent.tools.secrets import MASK, Secret

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"
log = logging.getLogger("vlagent.build")


class ModelSpec(BaseModel):
    """Which model, reached how, spoken to in which dialect.

    ``model``: ``scripted:PATH``, a Hugging Face id or a local folder (with ``endpoint``: the name
    the server knows it by). ``dialect``: forced; by default chosen from the checkpoint (scripted
    answers: ``qwen2-vl``). ``options``: how it is loaded and asked.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    model: str = DEFAULT_MODEL
    endpoint: str | None = None
    dialect: str | None = None
    options: RuntimeOptions = Field(default_factory=RuntimeOptions)

    @field_serializer("options")
    def _options_without_key(self, options: RuntimeOptions) -> dict[str, Any]:
        # A dump (a saved spec, a log) shows that a key was given, never the key.
        shown = asdict(options)
        if shown.get("api_key"):
            shown["api_key"] = MASK
        return shown

    @property
    def scripted(self) -> bool:
        """A deterministic model with no processor: ``scripted:`` answers or a ``python:``
        function."""
        return self.model.startswith(("scripted:", "python:"))


class RunSpec(BaseModel):
    """Everything a run needs: environment, model, limits, where the trajectory goes, a policy.

    ``out``: the run directory (None: nothing is recorded). ``dry_run``: observe and plan, but
    execute nothing.
    """

    # An invalid spec's error never quotes what it was given: that may be a secret.
    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, hide_input_in_errors=True
    )

    env: str
    env_options: dict[str, Any] = Field(default_factory=dict)
    model: ModelSpec = Field(default_factory=ModelSpec)
    limits: Limits = Field(default_factory=Limits)
    out: Path | None = None
    dry_run: bool = False
    policy: Policy | None = None
    _held: list[Secret] = PrivateAttr(default_factory=list)
    secrets: dict[str, Secret] = Field(default_factory=dict, repr=False)
    """name → value (text or :class:`~vlagent.tools.secrets.Secret`); the model writes
    ``{{name}}`` and never sees the value, which no repr, dump or output of vlagent shows."""

    @field_validator("model", mode="before")
    @classmethod
    def _model_by_name(cls, value: Any) -> Any:
        return ModelSpec(model=value) if isinstance(value, str) else value

    @field_validator("secrets", mode="before")
    @classmethod
    def _named_secrets(cls, value: Any) -> Any:
        # Each value becomes a Secret named after its placeholder, masked as {{name}}.
        if not isinstance(value, dict):
            return value
        return {name: Secret(secret, str(name)) for name, secret in value.items()}

    def model_post_init(self, context: Any) -> None:
        # The API key given is masked from the start, before any environment or program starts.
        key = self.model.options.api_key
        self._held = [Secret(key)] if key else []


def with_budget(
    name: str, max_pixels: int | None, min_pixels: int | None, resize: ResizeRule | None = None
) -> Dialect:
    """Dialect ``name`` with ``resize`` (default: its family's rule), pixel budget overridden."""
    dialect = get_dialect(name, resize)
    if dialect.resize is not None and (max_pixels is not None or min_pixels is not None):
        dialect = get_dialect(name, user_budget(dialect.resize, min_pixels, max_pixels))
    return dialect


def choose_dialect(spec: ModelSpec, runtime: Runtime) -> Dialect:
    """The forced dialect, else the one for the loaded checkpoint, told how the model's processor
    resizes screenshots. Scripted answers have no processor: the family rule applies, with the
    spec's pixel budget if given. Raises :class:`prompts.UnknownDialect`."""
    options = spec.options
    if runtime.resize is None:
        name = spec.dialect or ("qwen2-vl" if spec.scripted else None)
        if name is not None:
            return with_budget(name, options.max_pixels, options.min_pixels)
    if spec.dialect:
        return get_dialect(spec.dialect, runtime.resize)
    return dialect_for(runtime.model_id, runtime.model_type, runtime.resize)


def load_model(spec: ModelSpec) -> tuple[Runtime, Dialect]:
    """The runtime and its dialect. Raises :class:`vlagent.agent.runtimes.base.ModelUnavailable` or
    :class:`prompts.UnknownDialect`; the runtime is closed again when the dialect fails."""
    from vlagent.agent.runtimes import runtime_for

    runtime = runtime_for(spec.model, spec.options, spec.endpoint)
    try:
        return runtime, choose_dialect(spec, runtime)
    except UnknownDialect:
        runtime.close()
        raise


def build_agent(
    spec: RunSpec, listeners: Sequence[RunListener] = (), environment: Environment | None = None
) -> Agent:
    """A ready :class:`~agent.loop.Agent` for ``spec``, with its recorder; use it as a context
    manager so that the runtime and the environment are closed. ``environment``: one you made
    yourself (``spec.env`` and ``env_options`` are then not used).

    Raises :class:`environments.EnvironmentUnavailable`,
    :class:`vlagent.agent.runtimes.base.ModelUnavailable`,
    :class:`prompts.UnknownDialect` or :class:`vlagent.agent.trajectory.RecorderError`, each one
    line.
    """
    from vlagent import environments
    from vlagent.agent.runtimes import check_model
    from vlagent.agent.trajectory import Recorder

    check_model(spec.model.model, spec.model.endpoint)  # before an environment starts
    if environment is None:
        environment = environments.make(spec.env, **spec.env_options)
    try:
        runtime, dialect = load_model(spec.model)
    except BaseException:
        environment.close()
        raise
    try:
        recorder = Recorder(spec.out) if spec.out is not None else None
    except BaseException:
        environment.close()
        runtime.close()
        raise
    if spec.secrets:
        environment = environments.Secrets(environment, spec.secrets)
    if spec.dry_run:
        environment = environments.DryRun(environment)
    log.debug("built %s on %s with dialect %s", spec.model.model, environment.name, dialect.name)
    return Agent(
        runtime,
        dialect,
        environment,
        limits=spec.limits,
        recorder=recorder,
        policy=spec.policy,
        listeners=listeners,
    )
