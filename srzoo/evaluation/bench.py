"""Throughput measurements: srzoo's inference paths against a plain fp32 forward, side by side."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import cast

import torch
from torch.utils.flop_counter import FlopCounterMode

from srzoo.engine.device import DTYPES, Precision, pick_device
from srzoo.engine.upscaler import Backend, Tiling, Upscaler
from srzoo.models import build_model, get_family


@dataclass(frozen=True)
class BenchResult:
    """One measured setting. `mpx_per_s` counts output megapixels; `ratio_to_plain_fp32` is the
    speed relative to the plain fp32 forward of the same run. `precision` and `tile` say what was
    asked for and, for `auto`, what it chose (e.g. "auto (fp32)", "auto (whole image)"); `layout`
    is the memory format, NCHW or channels-last NHWC. `threads` is torch's CPU thread count for
    the setting (the ratio is to the plain forward at the same count); `gflop_per_s` counts the
    network's convolution and matrix FLOPs (2 per multiply-add) per second."""

    model: str
    scale: int
    device: str
    precision: str
    tile: str
    layout: str
    seconds: float
    mpx_per_s: float
    ratio_to_plain_fp32: float
    threads: int = 0
    gflop_per_s: float = 0.0
    tiling: str = ""
    backend: str = "torch"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def time_interleaved(fns: list[Callable[[], object]], repeat: int, warmup: int,
                     device: torch.device) -> list[float]:
    """Median wall time of each of `fns` (CUDA synchronised), after `warmup` runs of each. The
    runs are interleaved round-robin, so that drifting machine load falls on every setting alike
    and the ratios between them stay fair."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for fn in fns:
        for _ in range(warmup):
            fn()
    sync()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, seconds in zip(fns, times):
            start = time.perf_counter()
            fn()
            sync()
            seconds.append(time.perf_counter() - start)
    return [sorted(seconds)[len(seconds) // 2] for seconds in times]


LAYOUTS = {"auto": None, "nchw": False, "nhwc": True}


def count_flops(model: torch.nn.Module, image: torch.Tensor) -> int:
    """FLOPs of one forward (convolutions and matrix products, 2 per multiply-add)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(image)
    return counter.get_total_flops()


def cpu_peak_gflops(threads: int) -> tuple[float, str] | None:
    """float32 peak of `threads` cores, from the ISA detected at run time and the maximum clock:
    2 FMA units x (16 lanes with AVX-512, 8 with AVX2) x 2 FLOPs per cycle. None if unknown."""
    capability = torch.backends.cpu.get_cpu_capability()
    lanes = 16 if "AVX512" in capability else 8 if "AVX2" in capability else None
    ghz = None
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            ghz = int(f.read()) / 1e6
    except (OSError, ValueError):
        try:
            with open("/proc/cpuinfo") as f:
                ghz = max(float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")) / 1e3
        except (OSError, ValueError):
            pass
    if lanes is None or ghz is None:
        return None
    return threads * 2 * lanes * 2 * ghz, f"{threads} x 2 FMA x {lanes} lanes x 2 x {ghz:.2f} GHz"


def with_threads(fn: Callable[[], object], threads: int) -> Callable[[], object]:
    def run() -> object:
        if threads:
            torch.set_num_threads(threads)
        return fn()
    return run


def bench_model(name: str, scale: int, size: tuple[int, int], device: str, precisions: list[str],
                tiles: list[str], repeat: int, warmup: int, layouts: tuple[str, ...] = ("auto",),
                threads: tuple[int, ...] = (0,), tilings: tuple[str, ...] = ("auto",),
                backends: tuple[str, ...] = ("auto",)) -> list[BenchResult]:
    """Measure the plain fp32 forward and every precision x tile x layout x tiling setting of
    the Upscaler, at each thread count (0: leave torch's), all interleaved. Random weights:
    throughput does not depend on the weights' values."""
    family = get_family(name)
    torch.manual_seed(0)
    model = build_model(family.name, scale).eval()
    dev = pick_device(device)
    image = torch.rand(1, 3, *size)
    out_mpx = size[0] * size[1] * scale * scale / 1e6

    plain = model.to(dev)
    lr = image.to(dev)
    gflop = count_flops(plain, lr) / 1e9

    @torch.inference_mode()
    def plain_forward() -> None:
        plain(lr).cpu()

    # the names as given: the Upscaler rejects unknown ones
    upscalers = [(precision, tile, layout, tiling, backend,
                  Upscaler(model, family, scale, device=device, precision=cast(Precision, precision),
                           tile="auto" if tile == "auto" else int(tile), channels_last=LAYOUTS[layout],
                           tiling=cast(Tiling, tiling), backend=cast(Backend, backend)))
                 for precision in precisions for tile in tiles for layout in layouts for tiling in tilings
                 for backend in backends]
    for *_, upscaler in upscalers:  # export and compile outside the timing (cached on disk)
        upscaler.quantised(image)
    runs: list[Callable[[], object]] = []
    keys: list[tuple[int, tuple[str, str, str, str, str, Upscaler] | None]] = []
    for n in threads:
        runs.append(with_threads(plain_forward, n))
        keys.append((n, None))
        for entry in upscalers:
            runs.append(with_threads(partial(entry[-1].quantised, image), n))
            keys.append((n, entry))
    before = torch.get_num_threads()
    try:
        timed = time_interleaved(runs, repeat, warmup, dev)
    finally:
        torch.set_num_threads(before)
    results, base = [], 1.0
    for (n, setting), seconds in zip(keys, timed):
        count = n or before
        if setting is None:
            base = seconds
            results.append(BenchResult(family.name, scale, str(dev), "fp32", "plain forward", "nchw",
                                       seconds, out_mpx / seconds, 1.0, count, gflop / seconds, "none",
                                       "torch"))
            continue
        precision, tile, layout, tiling, backend, upscaler = setting
        chosen = "nhwc" if upscaler.memory_format == torch.channels_last else "nchw"
        tile_size = upscaler.tile_for(image)
        results.append(BenchResult(
            family.name, scale, str(dev), _label(precision, _dtype_name(upscaler)),
            _label(tile, _tile_name(tile_size)), _label(layout, chosen), seconds,
            out_mpx / seconds, base / seconds, count, gflop / seconds,
            "none" if tile_size == 0 else _label(tiling, upscaler.tiling_used),
            _label(backend, upscaler.backend)))
    return results


def _label(asked: str, chosen: str) -> str:
    return f"{asked} ({chosen})" if asked == "auto" else asked


def _dtype_name(upscaler: Upscaler) -> str:
    return next(name for name, dtype in DTYPES.items() if dtype == upscaler.dtype)


def _tile_name(tile: int) -> str:
    return "whole image" if tile == 0 else f"{tile} px"
