"""``sim-pick``: a simulated arm picks a cube and places it on a target square (MuJoCo)."""

from vlagent.environments.sim_pick.environment import SimPickEnvironment, pick_tools

__all__ = ["SimPickEnvironment", "pick_tools"]
