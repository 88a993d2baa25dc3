"""The one exception type the CLI turns into a one-line error message."""


class SrzooError(Exception):
    """A user-facing error: printed as one line, exit code `exit_code`, never a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(SrzooError):
    """Bad command-line usage (unknown model, unsupported scale, ...): exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)
