"""Every test starts on the phone's home screen (the virtual phone lives for the whole session)."""

import pytest

from environments import Environment
from tools import ToolCall

HOME = ToolCall("mobile_use", {"action": "system_button", "button": "Home"})


@pytest.fixture(autouse=True)
def home(vl_environment: Environment) -> None:
    vl_environment.execute(vl_environment.toolset.validate(HOME))
