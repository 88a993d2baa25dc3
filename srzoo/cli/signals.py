"""Ctrl-C and SIGTERM: raised as KeyboardInterrupt in the main thread, remembered for the exit line.

Standard library only, so that `srzoo.cli.main` can install it before anything else is imported.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

INTERRUPTED, TERMINATED = 130, 143
_received: list[int] = []  # the signals that stopped this run


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def catch_signals() -> None:
    """Route SIGINT and SIGTERM to `_on_signal`, except where they are ignored (nohup, background jobs)."""
    _received.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _on_signal)


def stopped() -> bool:
    """Whether a signal stopped this run."""
    return bool(_received)


def stop_reason() -> tuple[str, int]:
    """The one-line reason and exit code of a stopped run: 'terminated' 143 or 'interrupted' 130."""
    return ("terminated", TERMINATED) if signal.SIGTERM in _received else ("interrupted", INTERRUPTED)


def leave(code: int) -> None:
    """Exit at once after a signal: every `finally` and context manager has run by now (no
    temporary file is left), and skipping the interpreter's own shutdown keeps an import that the
    signal cut short from turning the exit into an 'unhandled KeyboardInterrupt'."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
