"""Every test starts on the phone's home screen (the virtual phone lives for the whole session)."""

import pytest

from vlagent.environments import Environment
from vlagent.environments.android import AndroidEnvironment
from vlagent.tools import ToolCall

HOME = ToolCall("mobile_use", {"action": "system_button", "button": "Home"})


@pytest.fixture(scope="session", autouse=True)
def frozen_clock(vl_environment: AndroidEnvironment) -> None:
    # A ticking status-bar clock would make the plan cache ask the model again about a screen
    # it has already seen (--vl-cache); demo mode shows 12:00 all session.
    vl_environment.freeze_clock("1200")


@pytest.fixture(autouse=True)
def home(vl_environment: Environment) -> None:
    vl_environment.execute(vl_environment.toolset.validate(HOME))
