"""Where actions happen: the Environment protocol, its drivers, ``make()`` and the checker."""

from environments.base import (
    ActionResult,
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
    UIElement,
)
from environments.checker import EnvironmentCheckError, check_environment
from environments.android import AndroidEnvironment
from environments.desktop import DesktopEnvironment
from environments.memory import MemoryEnvironment
from environments.registry import available, make, options_of, register
from environments.wrappers import DryRun, Secrets, Wrapper

register("memory", MemoryEnvironment)
register("desktop", DesktopEnvironment)
register("android", AndroidEnvironment)


def _sim_pick(env_seed: int = 0) -> Environment:
    from environments.sim_pick import SimPickEnvironment  # MuJoCo loads only when asked for

    return SimPickEnvironment(seed=env_seed)


register("sim-pick", _sim_pick)

__all__ = [
    "ActionResult", "AndroidEnvironment", "DesktopEnvironment", "DryRun", "Environment", "EnvironmentCheckError", "EnvironmentFault",
    "EnvironmentUnavailable", "MemoryEnvironment", "Observation", "RunAborted", "Secrets", "UIElement", "Wrapper",
    "available", "check_environment", "make", "options_of", "register",
]
