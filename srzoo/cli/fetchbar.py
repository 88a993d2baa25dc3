"""Data-set downloads on the terminal: one rich bar per file or image series (stderr, terminal only),
and the benchmark lookup that fetches a missing public set behind one of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from srzoo.cli.common import err_console

if TYPE_CHECKING:
    from srzoo.evaluation.datasets import Dataset
    from srzoo.evaluation.transfer import Progress as StepProgress


@contextmanager
def download_bars() -> Iterator[StepProgress]:
    """A `srzoo.evaluation.transfer.Progress` callback that draws a bar per label."""
    bars = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[amount]}"),
                    TimeElapsedColumn(), console=err_console, transient=True,
                    disable=not err_console.is_terminal)
    tasks: dict[str, TaskID] = {}

    def update(label: str, done: int, total: int | None, unit: str) -> None:
        if label not in tasks:
            tasks[label] = bars.add_task(label, total=total, amount="")
        bars.update(tasks[label], completed=done, total=total, amount=_amount(done, total, unit))

    with bars:
        yield update


def _amount(done: int, total: int | None, unit: str) -> str:
    if unit != "bytes":
        return f"{done}/{total if total is not None else '?'} {unit}"
    of = f"/{total / 1e6:,.1f}" if total else ""
    return f"{done / 1e6:,.1f}{of} MB"


def benchmark(name: str, root: Path) -> Dataset:
    """The benchmark `name` under `root`, fetched (with bars) first when it is public and absent."""
    from srzoo.evaluation.fetch import ensure_benchmark  # the network stack: only when a set is needed

    with download_bars() as progress:
        return ensure_benchmark(name, root, progress)
