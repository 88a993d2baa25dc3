"""`srzoo bench`: megapixels per second per model x precision x tile on this device."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from srzoo.cli.common import command
from srzoo.errors import UsageError
from srzoo.models import list_families

if TYPE_CHECKING:
    from srzoo.evaluation.bench import BenchResult


@command("bench", short_help="Measure throughput against a plain float32 forward.", epilog="""Examples:

\b
  srzoo bench -m lkdn -s 4 --size 128x128      # default path vs plain fp32
  srzoo bench -p fp32 -p bf16 -t 0 --threads 1 --threads 2
  srzoo bench -b torch -b openvino --json
  srzoo bench --whole-job -m lkdn -s 4            # whole upscale jobs: default vs torch""")
def bench_command(
    models: list[str] = typer.Option([], "--model", "-m", help="Models to measure (default: all)."),
    scale: int = typer.Option(4, "--scale", "-s", metavar="N", help="Upscaling factor: 2, 3 or 4."),
    size: str = typer.Option("256x256", "--size", help="LR input size, HxW."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    precisions: list[str] = typer.Option(["auto", "fp32"], "--precision", "-p",
                                         help="Precisions to measure (auto, fp32, fp16, bf16)."),
    tiles: list[str] = typer.Option(["auto", "128"], "--tile", "-t",
                                    help="Tile settings to measure (auto, 0 = whole image, N px)."),
    layouts: list[str] = typer.Option(["auto"], "--layout", "-l",
                                      help="Memory formats to measure: auto (the engine's choice), nchw, "
                                           "nhwc (channels-last)."),
    threads: list[int] = typer.Option([], "--threads", min=1,
                                      help="CPU thread counts to measure, each against the plain forward "
                                           "at the same count (default: torch's)."),
    tilings: list[str] = typer.Option(["auto"], "--tiling",
                                      help="Tiling schemes for tiled settings: auto, breadth-first (exact), "
                                           "overlap."),
    backends: list[str] = typer.Option(["auto"], "--backend", "-b",
                                       help="Back-ends for whole images: auto, torch, openvino (srzoo[fast])."),
    repeat: int = typer.Option(3, "--repeat", min=1, metavar="N", help="Timed runs per setting (the median is kept)."),
    warmup: int = typer.Option(1, "--warmup", min=0, metavar="N", help="Untimed runs first."),
    whole_job: bool = typer.Option(False, "--whole-job",
                                   help="Time whole `srzoo upscale` processes instead (fresh graph cache, "
                                        "first run included, peak memory), one per --backend (default: auto "
                                        "and torch)."),
    inputs: Path | None = typer.Option(None, "--inputs", metavar="DIR", show_default="four photos of four sizes",
                                       help="With --whole-job: the folder to upscale."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Measure throughput, with srzoo's path side by side with a plain fp32 forward of each model.

    `srzoo`'s path is the Upscaler (tiling, precision, back-end, uint8 on the device) as `upscale`
    runs it; the ratio column is its speed divided by the plain whole-image fp32 forward's at the
    same thread count, same run (round-robin). GFLOP/s counts convolution and matrix FLOPs.
    """
    if whole_job:
        _whole_job(models, scale, backends if backends != ["auto"] else ["auto", "torch"], threads, inputs, as_json)
        return
    from srzoo.engine.upscaler import BACKENDS, TILINGS
    from srzoo.evaluation.bench import (  # torch: only when measuring
        LAYOUTS,
        bench_model,
        cpu_peak_gflops,
    )

    try:
        height, width = (int(v) for v in size.lower().split("x"))
    except ValueError as exc:
        raise UsageError(f"--size must look like 256x256, not {size!r}") from exc
    bad = [layout for layout in layouts if layout not in LAYOUTS]
    if bad:
        raise UsageError(f"--layout {bad[0]!r}: one of {', '.join(LAYOUTS)}")
    bad = [tiling for tiling in tilings if tiling not in TILINGS]
    if bad:
        raise UsageError(f"--tiling {bad[0]!r}: one of {', '.join(TILINGS)}")
    bad = [backend for backend in backends if backend not in BACKENDS]
    if bad:
        raise UsageError(f"--backend {bad[0]!r}: one of {', '.join(BACKENDS)}")
    names = models or [f.name for f in list_families()]
    results: list[BenchResult] = []
    for name in names:
        results += bench_model(name, scale, (height, width), device, precisions, tiles, repeat, warmup,
                               tuple(layouts), tuple(threads) or (0,), tuple(tilings), tuple(backends))
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    table = Table(title=f"srzoo bench: x{scale}, LR {height}x{width}, output megapixels per second",
                  caption="random weights, whether or not the zoo has trained ones: the speed does not "
                          "depend on their values", caption_justify="left")
    for column in ("model", "device", "threads", "precision", "tile", "tiling", "backend", "layout", "s / image",
                   "MP/s", "GFLOP/s", "vs plain fp32"):
        table.add_column(column, justify="right" if column[0] in "stMGv" and column != "tiling" else "left")
    for r in results:
        table.add_row(r.model, r.device, str(r.threads), r.precision, r.tile, r.tiling, r.backend, r.layout,
                      f"{r.seconds:.3f}",
                      f"{r.mpx_per_s:.3f}", f"{r.gflop_per_s:.1f}", f"{r.ratio_to_plain_fp32:.2f}x")
    console = Console()
    console.print(table)
    if results and results[0].device == "cpu":
        peaks = {r.threads: cpu_peak_gflops(r.threads) for r in results}
        for n, peak in sorted(peaks.items()):
            if peak is not None:
                console.print(f"float32 peak at {n} thread(s): {peak[0]:.0f} GFLOP/s ({peak[1]})")


def _whole_job(models: list[str], scale: int, backends: list[str], threads: list[int], inputs: Path | None,
               as_json: bool) -> None:
    """`--whole-job`: one `srzoo upscale` process per back-end on the same folder, side by side."""
    from srzoo.evaluation.wholejob import sample_folder, time_job

    if len(models) > 1 or len(threads) > 1:
        raise UsageError("--whole-job times one model at one thread count")
    if inputs is not None and not inputs.is_dir():
        raise UsageError(f"--inputs {inputs}: not a folder")
    model = models[0] if models else "lkdn"
    with tempfile.TemporaryDirectory(prefix="srzoo-bench-") as scratch:
        folder = inputs or sample_folder(Path(scratch) / "photos")
        timings = [time_job(folder, model, scale, backend, threads[0] if threads else None) for backend in backends]
    if as_json:
        typer.echo(json.dumps([{**asdict(t), "mpx_per_s": t.mpx_per_s} for t in timings], indent=2))
        return
    table = Table(title=f"srzoo upscale {folder if inputs else 'four photos of four sizes'} -m {model} -s {scale}",
                  title_justify="left")
    for column in ("backend", "images", "seconds", "MP/s", "peak RSS MB"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for t in timings:
        table.add_row(t.backend, str(t.images), f"{t.seconds:.1f}", f"{t.mpx_per_s:.2f}", f"{t.peak_rss_mb:.0f}")
    Console().print(table)
