"""Devices and precisions: which device runs, in which dtype, and how much memory it may use."""

from __future__ import annotations

import functools
import os
from typing import Literal

import torch

from srzoo.constants import memory_budget, threads_setting
from srzoo.errors import UsageError
from srzoo.models import ModelFamily

Precision = Literal["auto", "fp32", "fp16", "bf16"]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def pick_device(device: str | torch.device) -> torch.device:
    """`auto` is CUDA, else MPS, else the CPU; an unavailable device is a usage error."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {str(device)!r} (auto, cpu, cuda, cuda:N or mps)") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("CUDA is not available on this machine")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError("MPS is not available on this machine")
    return chosen


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX-BF16 on x86, the BF16
    extension on Arm), detected at run time. Without it oneDNN emulates bf16, which is slower
    than float32 (measured here: 1.5x slower capped at AVX-512 without BF16, 8-50x at AVX2)."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        try:
            if getattr(cpu, probe)():
                return True
        except (AttributeError, RuntimeError):
            pass
    try:
        with open("/proc/cpuinfo") as f:
            flags = {word for line in f if line.lower().startswith(("flags", "features"))
                     for word in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def pick_dtype(precision: str, device: torch.device, family: ModelFamily) -> torch.dtype:
    """`auto`: bf16 on CPUs with native bf16 (for families safe in it); on CUDA float16 for
    families safe in it, else bf16 where supported and safe; float32 otherwise."""
    if precision == "auto":
        if device.type == "cpu":
            return torch.bfloat16 if family.bf16 and cpu_has_native_bf16() else torch.float32
        if device.type == "cuda":
            if family.fp16:
                return torch.float16
            return torch.bfloat16 if family.bf16 and torch.cuda.is_bf16_supported() else torch.float32
        return torch.float32
    if precision not in DTYPES:
        raise UsageError(f"unknown precision {precision!r} (auto, fp32, fp16 or bf16)")
    return DTYPES[precision]


def use_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count to `threads`, else `$SRZOO_THREADS`, else leave torch's default
    (one per core); returns the count in use."""
    chosen = threads or threads_setting()
    if chosen:
        torch.set_num_threads(chosen)
    return torch.get_num_threads()


def free_memory(device: torch.device) -> int:
    """Bytes the next run may use: free plus cached CUDA memory; on the CPU the memory budget
    (`srzoo.constants.memory_budget`), or half the available RAM when that is less."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f
                             if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 4 << 30
    return min(available // 2, memory_budget())


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation failure (CUDA, MPS or CPU)."""
    text = str(exc).lower()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate" in text))
