"""Exit codes of the ``agent`` command (documented in docs/cli.md)."""

OK = 0  # the run ended with success or an answer
NOT_DONE = 1  # the run ended without success: failure, max_steps, time_limit, unverified
USAGE = 2  # a bad command line: unknown flag, bad value, an option the environment does not take
SETUP = 3  # could not start: unknown environment/model/dialect, no device or display, bad --out
RUN_ERROR = 4  # the run stopped on an error: invalid model output, loop, device lost
ENDED = 5  # the environment ended the episode with no verdict: neither success nor failure
INTERNAL = 70  # a bug in vlagent: rerun with --debug and report the traceback
ABORTED = 130  # interrupted (Ctrl-C or SIGTERM); the trajectory is closed

BY_STATUS = {
    "success": OK,
    "answered": OK,
    "failure": NOT_DONE,
    "max_steps": NOT_DONE,
    "time_limit": NOT_DONE,
    "unverified": NOT_DONE,
    "ended": ENDED,
    "error": RUN_ERROR,
    "aborted": ABORTED,
}

# Errors vlagent raises on purpose (VlagentError) that reach the command line uncaught, by class:
# the first class in an error's ancestry found here gives its exit code; any other is SETUP.
# Names, not classes, so that the CLI starts without importing the library behind them.
BY_ERROR = {
    "CliError": None,  # carries its own code
    "ParseError": NOT_DONE,
    "ToolError": NOT_DONE,
    "AnswerError": NOT_DONE,
    "EnvironmentFault": RUN_ERROR,
    "ChannelError": RUN_ERROR,
    "RuntimeFailure": RUN_ERROR,
    "StepOverrun": RUN_ERROR,
    "RunAborted": ABORTED,
}

# Errors not of vlagent's making that only a damaged input file or the machine raise, when a reader
# let one through: the user's situation (SETUP), not a bug. By name, as above; the first class in
# the error's ancestry found here counts. A RecursionError is one only while JSON is decoded (a
# file nested deeper than the parser goes); anywhere else it is a bug.
BY_INPUT_ERROR = {
    "JSONDecodeError": SETUP,  # a file that is not JSON
    "UnicodeDecodeError": SETUP,  # a file that is not UTF-8 text
    "DecompressionBombError": SETUP,  # an image too large to open (Pillow)
    "OSError": SETUP,  # missing, a directory, no permission, not an image (Pillow), disk full
    "RecursionError": SETUP,  # only while JSON is decoded (is_bad_input)
}


def code_for(exc: BaseException) -> int:
    """The exit code of ``exc``: from its class for a VlagentError, SETUP for a damaged input
    (BY_INPUT_ERROR), INTERNAL for anything else."""
    from vlagent.tools.errors import VlagentError

    if not isinstance(exc, VlagentError):
        found = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in BY_INPUT_ERROR), None)
        return BY_INPUT_ERROR[found] if found and is_bad_input(exc) else INTERNAL
    for cls in type(exc).__mro__:
        if cls.__name__ in BY_ERROR:
            code = BY_ERROR[cls.__name__]
            return code if code is not None else int(getattr(exc, "code", SETUP))
    return SETUP


def is_bad_input(exc: BaseException) -> bool:
    """Whether ``exc`` (not a VlagentError) says the input is damaged rather than vlagent wrong."""
    if isinstance(exc, RecursionError):
        return _raised_in_json(exc)
    return any(cls.__name__ in BY_INPUT_ERROR for cls in type(exc).__mro__)


def _raised_in_json(exc: BaseException) -> bool:
    tb = exc.__traceback__
    innermost = ""
    while tb is not None:
        innermost = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return innermost.replace("\\", "/").endswith(("/json/decoder.py", "/json/__init__.py"))
