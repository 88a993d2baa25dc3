"""The batch's progress and outcomes on the terminal (stderr): bars, and one line per file."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from srzoo.cli.common import err_console
from srzoo.media.batch import Outcome, Reporter

if TYPE_CHECKING:
    from srzoo.media.batch import Progress as JobProgress

_STYLES = {"done": "green", "skipped": "dim", "failed": "red", "note": "yellow"}


class RichReporter(Reporter):
    """Bars for the files and for the current file's tiles or frames (only on a terminal, never
    with `quiet`), and a line per outcome; `quiet` keeps only failures and notes. stdout is left
    alone: it may carry image bytes or the JSON summary."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err_console, transient=True,
                                 redirect_stdout=False, redirect_stderr=False,
                                 disable=quiet or not err_console.is_terminal)
        self.files: TaskID | None = None
        self.steps: dict[str, TaskID] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, total: int) -> None:
        with self.lock:
            if self.files is None:
                self.files = self.progress.add_task("files", total=total)

    def job(self, label: str) -> JobProgress:
        with self.lock:
            task = self.steps[label] = self.progress.add_task(f"  {label}", total=None)

        def update(done: int, total: int | None) -> None:
            self.progress.update(task, completed=done, total=total)

        return update

    def job_ended(self, label: str) -> None:
        with self.lock:
            task = self.steps.pop(label, None)
            if task is not None:
                self.progress.remove_task(task)

    def outcome(self, kind: Outcome, label: str, message: str) -> None:
        if kind in ("done", "skipped") and self.files is not None:
            self.progress.advance(self.files)
        if self.quiet and kind in ("done", "skipped"):
            return
        joiner = " ->" if kind == "done" else ":"
        self.progress.console.print(f"[{_STYLES[kind]}]{kind}[/] {escape(label)}{joiner} {escape(message)}",
                                    markup=True, highlight=False)
