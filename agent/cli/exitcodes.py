"""Exit codes of the ``agent`` command (documented in docs/cli.md)."""

OK = 0  # the run ended with success or an answer
NOT_DONE = 1  # the run ended without success: failure, max_steps, time_limit, unverified
USAGE = 2  # a bad command line: unknown flag, bad value, an option the environment does not take
SETUP = 3  # could not start: unknown environment/model/dialect, no device or display, bad --out
RUN_ERROR = 4  # the run stopped on an error: invalid model output, loop, device lost
INTERNAL = 70  # a bug in vlagent: rerun with --debug and report the traceback
ABORTED = 130  # interrupted (Ctrl-C or SIGTERM); the trajectory is closed

BY_STATUS = {
    "success": OK, "answered": OK, "failure": NOT_DONE, "max_steps": NOT_DONE,
    "time_limit": NOT_DONE, "unverified": NOT_DONE, "error": RUN_ERROR, "aborted": ABORTED,
}
