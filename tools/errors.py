"""The root of every error vlagent raises on purpose.

It lives in ``tools``, the layer every other part may import; import it as
``vlagent.agent.VlagentError``. Each subclass also derives from the built-in exception that says
what kind of failure it is (ValueError, RuntimeError, ...), so code that catches those still does.
The ``agent`` command maps the subclasses to its exit codes (agent/cli/exitcodes.py).
"""


class VlagentError(Exception):
    """An error vlagent raised on purpose, with a message that says what to do next."""
