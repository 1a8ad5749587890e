"""``python -m agent`` is the ``agent`` command."""

from agent.cli import entry

entry()
