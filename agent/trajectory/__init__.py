"""Trajectories: one directory per run, written crash-safe and read back tolerantly."""

from agent.trajectory.format import FORMAT, VERSION, schema
from agent.trajectory.reader import Trajectory, TrajectoryError, read_trajectory
from agent.trajectory.recorder import Recorder, RecorderError

__all__ = [
    "FORMAT", "VERSION", "Recorder", "RecorderError", "Trajectory", "TrajectoryError",
    "read_trajectory", "schema",
]
