"""Deterministic models for tests, demos and benchmarks: tiny checkpoints built locally."""

from vlagent.agent.testing.checkpoints import (
    FAMILIES,
    PUBLISHED_TEMPLATES,
    SIZES,
    build_checkpoint,
    published_template,
)

__all__ = ["FAMILIES", "PUBLISHED_TEMPLATES", "SIZES", "build_checkpoint", "published_template"]
