"""srzoo's errors: what the CLI turns into one line and an exit code.

Each also subclasses the standard exception a Python caller would expect (`ValueError` for bad
arguments, `ConnectionError` for a source that cannot be reached), so library users can catch
either.
"""


class SrzooError(Exception):
    """A user-facing error: printed as one line, exit code `exit_code`, never a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(SrzooError, ValueError):
    """Bad command-line usage or arguments (unknown model, unsupported scale, ...): exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class NetworkError(SrzooError, ConnectionError):
    """A download source cannot be reached (refused, unknown host, no answer): exit code 1."""
