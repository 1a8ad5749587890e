"""``python -m vlagent.agent`` is the ``agent`` command."""

from vlagent.agent.cli import entry

entry()
