"""Progress reporting: the CSV log of a run and the live progress line."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from srzoo.fsutil import atomic_path

FIELDS = ("iteration", "stage", "lr", "loss", "val_psnr")


class CsvLog:
    """`log.csv` of a run: one row per log interval (and per validation).

    Resuming at iteration N drops the rows after N, so the file ends up exactly as an
    uninterrupted run would have written it.
    """

    def __init__(self, path: Path, resume_at: int | None = None) -> None:
        self.path = Path(path)
        rows = self.rows() if resume_at is not None and self.path.is_file() else []
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS)
            writer.writeheader()
            writer.writerows(r for r in rows if int(r["iteration"]) <= (resume_at or 0))

    def write(self, iteration: int, stage: int, lr: float, loss: float | None, val_psnr: float | None) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([iteration, stage, f"{lr:.6g}", "" if loss is None else f"{loss:.8g}",
                                         "" if val_psnr is None else f"{val_psnr:.4f}"])

    def rows(self) -> list[dict[str, str]]:
        with open(self.path, newline="") as handle:
            return list(csv.DictReader(handle))


class ProgressLine:
    """On a terminal, a rich progress bar with it/s, loss, lr, last validation and ETA; otherwise
    the same text printed once per log row (for log files)."""

    def __init__(self, console: Console, total: int, start: int) -> None:
        self.console, self.total, self.start = console, total, start
        self.began = time.perf_counter()
        self.text = ""
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[info]}"), console=console)
            self.task = self.bar.add_task("train", total=total, completed=start, info="")
            self.bar.start()

    def advance(self, iteration: int) -> None:
        """Move the bar (terminal only; cheap)."""
        if self.bar is not None:
            self.bar.update(self.task, completed=iteration, info=self._info(iteration))

    def show(self, iteration: int, loss: float | None, lr: float, val: tuple[int, float] | None) -> None:
        """New numbers for the line (printed as a line when not on a terminal)."""
        self.text = (f"loss {loss:.5f}  " if loss is not None else "") + f"lr {lr:.2e}"
        if val is not None:
            self.text += f"  val {val[1]:.2f} dB @{val[0]}"
        if self.bar is None:
            self.console.print(f"{iteration}/{self.total}  {self._info(iteration)}", highlight=False)
        else:
            self.advance(iteration)

    def _info(self, iteration: int) -> str:
        rate = (iteration - self.start) / max(time.perf_counter() - self.began, 1e-9)
        eta = (self.total - iteration) / rate if rate > 0 else 0.0
        return f"{rate:.2f} it/s  {self.text}  ETA {_duration(eta)}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def estimate(remaining: int, rate: float, device: str, finetune: bool) -> str:
    """An honest line about how long the rest of a run takes at the measured `rate` (it/s) on
    `device` ("cpu", "cuda:0", ...), e.g. "1,000,000 iterations at 0.02 it/s ≈ 579 days on this
    CPU; `--finetune` is the CPU recipe"."""
    seconds = remaining / rate if rate > 0 else float("inf")
    where = "this CPU" if device == "cpu" else f"this device ({device})"
    line = f"{remaining:,} iterations at {rate:.3g} it/s ≈ {_long(seconds)} on {where}"
    if device == "cpu" and not finetune and seconds > 86_400:
        line += "; `--finetune` is the CPU recipe"
    return line


def _long(seconds: float) -> str:
    """A duration in the largest unit that keeps it readable: days, hours or minutes."""
    if seconds == float("inf"):
        return "forever"
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:,.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{max(seconds / 60, 1):.0f} minutes" if seconds >= 60 else f"{seconds:.0f} s"

