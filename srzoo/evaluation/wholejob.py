"""Timing whole `srzoo upscale` jobs as separate processes: start-up, model loading, graph
preparation (a fresh graph cache, so a first run is included), decoding and writing, with each
process's peak resident memory. One process per back-end, side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from srzoo.errors import SrzooError

SAMPLE_SIZES = ((320, 240), (400, 300), (480, 272), (360, 360))  # (width, height): four photos, four sizes


@dataclass(frozen=True)
class JobTiming:
    """One `srzoo upscale` process: what it ran on and how long and how much memory it took."""

    backend: str
    images: int
    seconds: float
    megapixels: float  # output pixels written, in millions
    peak_rss_mb: float

    @property
    def mpx_per_s(self) -> float:
        return self.megapixels / self.seconds


def sample_folder(folder: Path) -> Path:
    """Four smooth, slightly noisy photos of four sizes (`SAMPLE_SIZES`) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for width, height in SAMPLE_SIZES:
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], axis=-1)
        pixels = np.clip(base + rng.integers(0, 24, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo_{width}x{height}.png")
    return folder


def time_job(inputs: Path, model: str, scale: int, backend: str, threads: int | None = None) -> JobTiming:
    """Run `srzoo upscale INPUTS -m MODEL -s SCALE --backend BACKEND` as a process with a fresh graph
    cache and a fresh output folder; its wall time and its own peak RSS (from `wait4`)."""
    with tempfile.TemporaryDirectory(prefix="srzoo-job-") as scratch:
        env = {**os.environ, "SRZOO_CACHE_DIR": str(Path(scratch) / "graphs")}
        env.pop("SRZOO_BACKEND", None)
        command = [sys.executable, "-m", "srzoo", "upscale", str(inputs), "-m", model, "-s", str(scale),
                   "-o", str(Path(scratch) / "out") + os.sep, "--backend", backend, "--json", "-q",
                   *(["--threads", str(threads)] if threads else [])]
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stderr is not None
        out, err = process.stdout.read(), process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SrzooError(f"the {backend} job failed (exit {process.returncode}): "
                         f"{(err.strip().splitlines() or ['no message'])[-1]}")
    summary = json.loads(out)
    megapixels = sum(o["size"][0] * o["size"][1] for o in summary["outputs"]) / 1e6
    return JobTiming(backend, len(summary["outputs"]), seconds, megapixels, usage.ru_maxrss / 1024)
