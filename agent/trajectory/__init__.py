"""Trajectories: one directory per run, written crash-safe and read back as typed records."""

from vlagent.agent.trajectory.format import FORMAT, VERSION, generate_schema, schema
from vlagent.agent.trajectory.reader import Trajectory, TrajectoryError, read_trajectory
from vlagent.agent.trajectory.recorder import Recorder, RecorderError
from vlagent.agent.trajectory.records import (
    ActionRecord,
    CallRecord,
    ElementRecord,
    End,
    Header,
    Limits,
    Outcome,
    ReplayOutcome,
    Status,
    Step,
    StepError,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "ActionRecord",
    "CallRecord",
    "ElementRecord",
    "End",
    "Header",
    "Limits",
    "Outcome",
    "ReplayOutcome",
    "Recorder",
    "RecorderError",
    "Status",
    "Step",
    "StepError",
    "Trajectory",
    "TrajectoryError",
    "generate_schema",
    "read_trajectory",
    "schema",
]
