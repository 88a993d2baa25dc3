"""Upscaling a batch of files: planning outputs, skip/resume, atomic writes, progress, the summary.

`upscale_files` is what `srzoo upscale` runs; scripts get the same guarantees from it (outputs
written under a temporary name and renamed, existing outputs skipped, inputs never overwritten,
one bad file reported and the batch continued) and the same summary as `--json`.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import av

from srzoo import api
from srzoo.engine.device import use_threads
from srzoo.engine.upscaler import Upscaler
from srzoo.errors import SrzooError, UsageError
from srzoo.fsutil import atomic_path
from srzoo.media.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    Network,
    pillow_format,
    read_image,
    upscale_pixels,
    write_image,
)
from srzoo.media.video import (
    VIDEO_SUFFIXES,
    FrameNetwork,
    VideoSettings,
    muxer_for,
    upscale_video,
)
from srzoo.models import get_family
from srzoo.zoo.resolve import choose_network, resolve_weights

STDIO = "-"
WRITABLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"})
Outcome = Literal["done", "skipped", "failed", "note"]
Progress = Callable[[int, int | None], None]


class Reporter:
    """Where a batch tells what it does; this base says nothing (the library never prints).

    `srzoo.cli.progress.RichReporter` shows it on a terminal. Calls may come from one worker
    thread per device."""

    def start(self, total: int) -> None:
        """The batch has `total` jobs."""

    def job(self, label: str) -> Progress:
        """Job `label` starts; the result is called with (done, total or None) steps of it."""
        return lambda done, total: None

    def job_ended(self, label: str) -> None:
        """Job `label` ended (whatever the outcome)."""

    def outcome(self, kind: Outcome, label: str, message: str) -> None:
        """A one-line result or note about job `label`."""


@dataclass(frozen=True)
class Job:
    """One input and where its result goes (None: stdin / stdout)."""

    source: Path | None
    target: Path | None
    is_video: bool = False

    @property
    def label(self) -> str:
        return STDIO if self.source is None else str(self.source)


@dataclass(frozen=True)
class Options:
    """What every job needs besides the network."""

    scale: int
    overwrite: bool
    image_format: str | None
    quality: int | None
    max_pixels: int | None
    video: VideoSettings


@dataclass
class Summary:
    """The batch's outcome; `--json` prints it as is."""

    model: str
    scale: int
    inputs: list[str] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)  # path and where it came from (`Located`)
    engine: dict[str, str] = field(default_factory=dict)  # device, precision, back-end, threads, tiling
    peak_rss_mb: float | None = None  # this process's peak resident memory so far (None: not measurable)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        """The summary as `--json` prints it (with `exit_code`)."""
        return {**asdict(self), "exit_code": self.exit_code}


def upscale_files(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                  output: str | os.PathLike[str] | None = None, model: str | None = None,
                  scale: int | None = None, *,
                  image_format: str | None = None, quality: int | None = None, recursive: bool = False,
                  pattern: str | None = None, overwrite: bool = False, tile: int | str = "auto",
                  tile_overlap: int | None = None, ensemble: bool = False, device: str = "auto",
                  precision: str = "auto", weights: Path | None = None, codec: str | None = None,
                  crf: int | None = None, pix_fmt: str | None = None, tiling: str = "auto",
                  backend: str = "auto",
                  max_pixels: int | None = DEFAULT_MAX_PIXELS, reporter: Reporter | None = None,
                  shard: tuple[int, int] | None = None, threads: int | None = None) -> Summary:
    """Upscale files, folders, videos or `-` (stdin to stdout); returns the summary (`to_json()`
    is what `--json` prints). `reporter` hears of progress and outcomes (default: nothing).

    `image_format` None keeps each input's format; `max_pixels` None means no limit; `threads`:
    torch's CPU threads (default: `$SRZOO_THREADS`, else one per core). `shard` (K, N)
    keeps every N-th input by sorted path, starting at the K-th, so N processes split a batch with
    no overlap and the same output layout. One str or path is one input. Usage errors raise
    `UsageError` (also a `ValueError`); a failing input is recorded in the summary's `failed` and
    the batch goes on; files named like srzoo's own outputs are skipped (see `plan`).
    """
    names = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(i) for i in inputs]
    folder_named = output is not None and os.fspath(output).endswith(("/", os.sep))
    output = Path(output) if output is not None else None
    weights = Path(weights) if weights is not None else None
    name, scale = choose_network(model, scale, weights)
    family = get_family(name)
    check_codec(codec)
    thread_count = use_threads(threads)
    suffix = f"_{family.name}_x{scale}"
    jobs, passed_over = plan(names, output, suffix, image_format, recursive, pattern, folder_named)
    if shard is not None:
        jobs = share(jobs, *shard)
    if any(job.source is None for job in jobs) and sys.stdin.isatty():
        raise UsageError("- reads an image from stdin, which is a terminal: pipe one in "
                         "(srzoo upscale - -s 2 < in.png > out.png)")
    if any(job.target is None for job in jobs) and sys.stdout.isatty():
        raise UsageError("refusing to write image data to a terminal: redirect stdout "
                         "(srzoo upscale - -s 2 < in.png > out.png) or give -o FILE")
    options = Options(scale, overwrite, image_format, quality, max_pixels, VideoSettings(codec, crf, pix_fmt))
    summary = Summary(family.name, scale, inputs=names)
    reporter = reporter or Reporter()
    if output is not None and not output.exists() and not output.suffix and not folder_named:
        reporter.outcome("note", str(output), "has no file suffix, so it is a folder (created); "
                                              "give e.g. big.png for one file")
    for item in passed_over:
        if item.failed:
            _fail(summary, reporter, item.input, item.reason)
        else:
            summary.skipped.append({"input": item.input, "output": "", "reason": item.reason})
            reporter.outcome("skipped", item.input, item.reason)
    engine = {"precision": precision, "tile": tile, "tile_overlap": tile_overlap, "ensemble": ensemble,
              "tiling": tiling, "backend": backend}

    def loader(on: str) -> Callable[[], Upscaler]:
        def load() -> Upscaler:
            found = resolve_weights(family.name, scale, weights)
            summary.weights = {"path": str(found.path), "from": found.origin}
            upscaler = api.load_upscaler(family.name, scale, weights=found.path, device=on, **engine)
            summary.engine = {"device": str(upscaler.device), "precision": upscaler.precision,
                              "backend": upscaler.backend, "threads": str(thread_count),
                              "architecture": family.title, "source": family.source,
                              "tiling": "whole image" if tile == 0 else upscaler.tiling_used}
            return upscaler
        return load

    devices = device_list(device)
    if len(devices) == 1:
        run_batch(jobs, options, loader(devices[0]), summary, reporter)
    else:
        run_on_devices(jobs, options, [loader(on) for on in devices], summary, reporter)
    summary.peak_rss_mb = peak_rss_mb()
    return summary


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MiB (None where the OS does not report it)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)  # bytes on macOS, KiB elsewhere


def device_list(device: str) -> list[str]:
    """`--device`: one device, a comma-separated list (one worker each), or `cuda:all`."""
    if device == "cuda:all":
        import torch

        count = torch.cuda.device_count()
        if count == 0:
            raise UsageError("--device cuda:all: CUDA is not available on this machine")
        return [f"cuda:{index}" for index in range(count)]
    devices = [name.strip() for name in device.split(",")]
    if not all(devices):
        raise UsageError(f"--device {device!r}: an empty name in the list")
    return devices


def run_on_devices(jobs: list[Job], options: Options, loads: list[Callable[[], Upscaler]],
                   summary: Summary, reporter: Reporter) -> None:
    """One worker thread per device, each over its share of the jobs; results merged into `summary`.

    On Ctrl-C the workers stop after their current file (written whole, or not at all)."""
    start = time.perf_counter()
    stop = threading.Event()
    parts = [Summary(summary.model, summary.scale) for _ in loads]
    with ThreadPoolExecutor(len(loads), thread_name_prefix="srzoo-device") as pool:
        quiet = _FailuresOnly(reporter)
        futures = [pool.submit(run_batch, share(jobs, index + 1, len(loads)), options, load, part, quiet, stop)
                   for index, (load, part) in enumerate(zip(loads, parts))]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise
    for part in parts:
        summary.outputs += part.outputs
        summary.skipped += part.skipped
        summary.failed += part.failed
    summary.timings["model_load_s"] = max(part.timings.get("model_load_s", 0.0) for part in parts)
    summary.timings["total_s"] = round(time.perf_counter() - start, 3)


class _FailuresOnly(Reporter):
    """Passes on failures and notes only (device workers run side by side: no bars)."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def outcome(self, kind: Outcome, label: str, message: str) -> None:
        if kind in ("failed", "note"):
            self.inner.outcome(kind, label, message)


def share(jobs: list[Job], k: int, n: int) -> list[Job]:
    """Share `k` (1-based) of `n` of the jobs: every n-th one in the order of their input paths."""
    ordered = sorted(jobs, key=lambda job: str(job.source))
    return ordered[k - 1::n]


def check_codec(codec: str | None) -> None:
    if codec is not None and codec not in av.codecs_available:
        raise UsageError(f"--codec {codec}: no such encoder in this FFmpeg build")


@dataclass(frozen=True)
class PassedOver:
    """An input that gives no job: missing (`failed`), or one of srzoo's own outputs (skipped)."""

    input: str
    reason: str
    failed: bool = True


def plan(inputs: list[str], output: Path | None, suffix: str, image_ext: str | None, recursive: bool,
         pattern: str | None, folder_named: bool = False) -> tuple[list[Job], list[PassedOver]]:
    """Expand inputs into jobs with their output paths, and the inputs passed over.

    `-o` is a folder when it is one, was given ending with a separator (`folder_named`) or has no
    suffix; otherwise it is one output file, allowed for a single input file only. Files named like srzoo's outputs
    (`*{suffix}.*`) are skipped where srzoo would have written them (in the output folder, or next
    to their input without one), so that a rerun of `find ... | xargs srzoo upscale` does not
    upscale its own results.
    """
    folder = output if output is not None and (folder_named or _is_folder(output)) else None
    if STDIO in inputs:
        if len(inputs) > 1:
            raise UsageError("- (stdin) cannot be combined with other inputs")
        target = folder / f"stdin{suffix}.{image_ext or 'png'}" if folder else _file_output(output, image_ext)
        return [Job(None, target)], []
    sources, missing = expand(inputs, recursive, pattern, suffix, folder)
    if output is None or folder is not None:
        return [Job(file, _target(file, root, folder, suffix, image_ext), is_video(file))
                for file, root in sources], missing
    if len(sources) > 1 or any(root for _, root in sources):
        raise UsageError(f"-o {output} names one file, but the inputs hold {len(sources)} files; "
                         "give a folder (e.g. -o out/)")
    return [Job(file, output if is_video(file) else _file_output(output, image_ext), is_video(file))
            for file, _ in sources], missing


def expand(inputs: list[str], recursive: bool, pattern: str | None, suffix: str,
           output_folder: Path | None) -> tuple[list[tuple[Path, Path | None]], list[PassedOver]]:
    """(file, the folder input it came from or None) for every input, and the inputs passed over."""
    sources: dict[Path, tuple[Path, Path | None]] = {}  # keyed by resolved path: each file once
    missing: list[PassedOver] = []
    folder = output_folder.resolve() if output_folder is not None else None
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            files = folder_files(path, recursive, pattern, suffix, output_folder)
            if not files:
                kind = f"matching {pattern!r}" if pattern else "images or videos"
                missing.append(PassedOver(name, f"no {kind} found in {path}"
                                                f"{'' if recursive or pattern else ' (-r: sub-folders too)'}"))
            for file in files:
                sources.setdefault(file.resolve(), (file, path))
        elif path.is_file():
            own = path.stem.endswith(suffix) and (folder is None or folder in path.resolve().parents)
            if own:
                missing.append(PassedOver(name, f"named like an srzoo output (*{suffix}); rename it to upscale "
                                                "it again", failed=False))
            else:
                sources.setdefault(path.resolve(), (path, None))
        else:
            missing.append(PassedOver(name, "no such file or directory"))
    return list(sources.values()), missing


def _is_folder(output: Path) -> bool:
    """-o names a folder when it is one, ends with a separator, or has no suffix."""
    return output.is_dir() or str(output).endswith(("/", os.sep)) or not output.suffix


def _file_output(output: Path | None, image_ext: str | None) -> Path | None:
    """`output` itself, once its suffix is known to be an image format that agrees with --format."""
    if output is None:
        return None
    if output.suffix.lower() not in WRITABLE_SUFFIXES:
        raise UsageError(f"-o {output}: srzoo writes {', '.join(sorted(WRITABLE_SUFFIXES))} images, "
                         f"not {output.suffix!r}")
    if image_ext and pillow_format(output.suffix) != pillow_format(f".{image_ext}"):
        raise UsageError(f"-o {output} does not end in .{image_ext}, which --format asks for")
    return output


def folder_files(folder: Path, recursive: bool, pattern: str | None, suffix: str,
                 output_folder: Path | None) -> list[Path]:
    """Images and videos in a folder, sorted, leaving out our own outputs (stems ending in `suffix`)."""
    found = folder.rglob(pattern or "*") if recursive else folder.glob(pattern or "*")
    skip_under = output_folder.resolve() if output_folder is not None else None
    return sorted(path for path in found
                  if path.is_file() and not path.name.startswith(".") and not path.stem.endswith(suffix)
                  and (pattern or path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
                  and (skip_under is None or skip_under not in path.resolve().parents))


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _target(file: Path, root: Path | None, folder: Path | None, suffix: str, image_ext: str | None) -> Path:
    """`{stem}{suffix}.{ext}` next to `file`, or in `folder` (mirroring sub-folders of `root`)."""
    ext = file.suffix if is_video(file) or image_ext is None else f".{image_ext}"
    name = f"{file.stem}{suffix}{ext}"
    if folder is None:
        return file.with_name(name)
    return folder / (file.parent.relative_to(root) if root else Path()) / name


def run_batch(jobs: list[Job], options: Options, load: Callable[[], Upscaler], summary: Summary,
              reporter: Reporter, stop: threading.Event | None = None) -> None:
    """Run every job, skipping existing outputs and recording failures; the model loads on first use.
    A set `stop` ends the batch before the next job."""
    start = time.perf_counter()
    protected = {job.source.resolve() for job in jobs if job.source is not None}
    planned: set[Path] = set()
    upscaler = None
    reporter.start(len(jobs))
    for job in jobs:
        if stop is not None and stop.is_set():
            break
        reason = _conflict(job, protected, planned)
        if reason is not None:
            _fail(summary, reporter, job.label, f"output {job.target} {reason}")
        elif job.target is not None and job.target.exists() and not options.overwrite:
            summary.skipped.append({"input": job.label, "output": str(job.target), "reason": "output exists"})
            reporter.outcome("skipped", job.label, f"{job.target} exists (--overwrite to redo)")
        else:
            if upscaler is None:
                loading = time.perf_counter()
                upscaler = load()
                summary.timings["model_load_s"] = round(time.perf_counter() - loading, 3)
            _run_job(job, upscaler, options, summary, reporter)
    summary.timings["total_s"] = round(time.perf_counter() - start, 3)


def _conflict(job: Job, protected: set[Path], planned: set[Path]) -> str | None:
    """Why `job` must not write its output: it is an input, or another job's output."""
    if job.target is None:
        return None
    target = job.target.resolve()
    if target in protected:
        return "would overwrite an input"
    if target in planned:
        return "is also another input's output (same name)"
    planned.add(target)
    return None


def _fail(summary: Summary, reporter: Reporter, label: str, message: str) -> None:
    summary.failed.append({"input": label, "error": message})
    reporter.outcome("failed", label, message)


def _run_job(job: Job, upscaler: Upscaler, options: Options, summary: Summary, reporter: Reporter) -> None:
    """Process one job; any error is recorded and the batch goes on (Ctrl-C stops it)."""
    started = time.perf_counter()
    report = reporter.job(job.label)
    try:
        if job.is_video:
            details = _do_video(job, api.frame_network(upscaler), options, report)
        else:
            details = _do_image(job, api.network(upscaler, report), options)
    except Exception as exc:  # noqa: BLE001 - one bad input must not stop the batch
        reporter.job_ended(job.label)
        _fail(summary, reporter, job.label,
              str(exc) if isinstance(exc, SrzooError) else f"{type(exc).__name__}: {exc}")
        return
    reporter.job_ended(job.label)
    seconds = round(time.perf_counter() - started, 3)
    target = STDIO if job.target is None else str(job.target)
    summary.outputs.append({"input": job.label, "output": target, "seconds": seconds, **details})
    for note in details.get("notes", []):
        reporter.outcome("note", job.label, note)
    reporter.outcome("done", job.label, f"{target} ({seconds:.1f} s)")


def _do_image(job: Job, network: Network, options: Options) -> dict[str, Any]:
    """Read, upscale and write one image (stdin/stdout when the job has no path)."""
    source = io.BytesIO(sys.stdin.buffer.read()) if job.source is None else job.source
    picture = read_image(source, options.max_pixels)
    notes = [f"animated image: only the first of its {picture.frames} frames is upscaled (convert it to a "
             "video, e.g. MP4 or WebM, to upscale every frame)"] if picture.frames > 1 else []
    result = replace(picture, pixels=upscale_pixels(picture.pixels, network))
    if job.target is None:
        buffer = io.BytesIO()
        write_image(result, buffer, pillow_format(f".{options.image_format or 'png'}"), options.quality)
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
    else:
        with atomic_path(job.target) as tmp:
            write_image(result, tmp, pillow_format(job.target.suffix), options.quality)
    return {"size": list(result.size), "bits": result.bits, **({"notes": notes} if notes else {})}


def _do_video(job: Job, network: FrameNetwork, options: Options,
              report: Callable[[int, int | None], None]) -> dict[str, Any]:
    """Upscale one video file; notes on streams that could not be copied go into its details."""
    assert job.source is not None and job.target is not None
    muxer = muxer_for(job.target)
    with atomic_path(job.target) as tmp:
        result = upscale_video(job.source, tmp, network, options.scale, options.video, muxer, report)
    return {"frames": result.frames, "notes": result.notes}
