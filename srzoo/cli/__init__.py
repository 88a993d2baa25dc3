"""The `srzoo` command line. Each sub-command lives in its own module and registers on import.

`main` catches Ctrl-C and SIGTERM first, then imports the CLI inside its error handling, so that a
signal at any moment, start-up included, ends in one line; each command module imports torch and
the rest only when its command runs.
"""

from __future__ import annotations

import sys

from srzoo.cli.signals import catch_signals, leave, stop_reason
from srzoo.constants import prefer_passive_openmp


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (see `srzoo.cli.app.run`)."""
    catch_signals()
    prefer_passive_openmp()
    try:
        from srzoo.cli.app import run
    except KeyboardInterrupt:
        reason, code = stop_reason()
        sys.stderr.write(f"error: {reason}\n")
        leave(code)
    run(argv)


__all__ = ["main"]
