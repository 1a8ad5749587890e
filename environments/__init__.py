"""Where actions happen: the Environment protocol, its drivers, ``make()`` and the checker."""

from vlagent.environments.android import AndroidEnvironment
from vlagent.environments.base import (
    ActionResult,
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
    UIElement,
)
from vlagent.environments.checker import EnvironmentCheckError, check_environment
from vlagent.environments.desktop import DesktopEnvironment
from vlagent.environments.extend import WithTools
from vlagent.environments.from_gym import FromGym, box_tool, discrete_tool, make_gym
from vlagent.environments.memory import MemoryEnvironment
from vlagent.environments.registry import (
    Option,
    OptionSpec,
    available,
    make,
    option_specs,
    options_of,
    register,
)
from vlagent.environments.to_gym import to_gym
from vlagent.environments.wrappers import DryRun, Secrets, Wrapper

register("memory", MemoryEnvironment)
register("desktop", DesktopEnvironment)
register("android", AndroidEnvironment)


def _sim_pick(env_seed: int = 0) -> Environment:
    from vlagent.environments.sim_pick import SimPickEnvironment  # MuJoCo loads only when asked for

    return SimPickEnvironment(seed=env_seed)


_sim_pick.option_help = {  # type: ignore[attr-defined]
    "env_seed": Option("Seed of the episode (e.g. where the cube starts).", min=0),
}
register("sim-pick", _sim_pick)
register("gym", make_gym)

__all__ = [
    "ActionResult",
    "Option",
    "OptionSpec",
    "option_specs",
    "AndroidEnvironment",
    "FromGym",
    "box_tool",
    "discrete_tool",
    "DesktopEnvironment",
    "DryRun",
    "Environment",
    "EnvironmentCheckError",
    "EnvironmentFault",
    "EnvironmentUnavailable",
    "MemoryEnvironment",
    "Observation",
    "RunAborted",
    "Secrets",
    "UIElement",
    "Wrapper",
    "available",
    "check_environment",
    "to_gym",
    "WithTools",
    "make",
    "options_of",
    "register",
]
