"""Deterministic models for tests, demos and benchmarks: tiny checkpoints built locally."""

from agent.testing.checkpoints import FAMILIES, SIZES, build_checkpoint

__all__ = ["FAMILIES", "SIZES", "build_checkpoint"]
