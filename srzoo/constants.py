"""Every `SRZOO_*` environment switch and every default that more than one module shares.

Environment switches (each read here, at call time, so that tests and long-lived processes see
changes):

- `SRZOO_WEIGHTS_DIR`: where downloaded and imported weights live (`weights_dir()`).
- `SRZOO_DATA`: the root of the benchmark and training data sets (`data_root()`).
- `SRZOO_CACHE_DIR`: where compiled graphs are cached (`graph_cache_dir()`).
- `SRZOO_BACKEND`: `torch` or `openvino` forces the back-end that `backend="auto"` picks.
- `SRZOO_MANIFEST`: a zoo.toml to use instead of the packaged one.
- `SRZOO_ORIGIN_ENDPOINT`: a mirror of the authors' sites (like `HF_ENDPOINT` for the Hub); also
  used for the GitHub copies of the benchmark sets.
- `SRZOO_DIV2K_URL`, `SRZOO_FLICKR2K_URL`, `SRZOO_OST_URL`: mirrors of the training sets' download
  folders (`training_data_url()`).
- `SRZOO_THREADS`: CPU threads for torch when `--threads` is not given (`threads_setting()`).
- `SRZOO_MEMORY_MB`: the memory a CPU run's automatic tiling plans for (`memory_budget()`).
- `SRZOO_DEBUG`: a traceback instead of the one-line "internal error".

On a busy machine the command line also sets `OMP_WAIT_POLICY=PASSIVE` unless it is set
(`prefer_passive_openmp()`).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL = "lkdn"
DEFAULT_SCALE = 4


def _env(name: str) -> str:
    return os.environ.get(name, "")


def _user_dir(xdg_var: str, fallback: str) -> Path:
    base = _env(xdg_var)
    return Path(base) if base else Path.home() / fallback


def weights_dir() -> Path:
    """`$SRZOO_WEIGHTS_DIR`, else `$XDG_CACHE_HOME/srzoo/weights` (default ~/.cache/srzoo/weights)."""
    env = _env("SRZOO_WEIGHTS_DIR")
    return Path(env).expanduser() if env else _user_dir("XDG_CACHE_HOME", ".cache") / "srzoo" / "weights"


def data_root() -> Path:
    """`$SRZOO_DATA`, else `$XDG_DATA_HOME/srzoo/datasets` (default ~/.local/share/srzoo/datasets)."""
    env = _env("SRZOO_DATA")
    return Path(env).expanduser() if env else _user_dir("XDG_DATA_HOME", ".local/share") / "srzoo" / "datasets"


def graph_cache_dir() -> Path:
    """`$SRZOO_CACHE_DIR`, else `$XDG_CACHE_HOME/srzoo/graphs` (default ~/.cache/srzoo/graphs)."""
    env = _env("SRZOO_CACHE_DIR")
    return Path(env).expanduser() if env else _user_dir("XDG_CACHE_HOME", ".cache") / "srzoo" / "graphs"


def forced_backend() -> str:
    """`$SRZOO_BACKEND` (torch, openvino), else "auto"."""
    return _env("SRZOO_BACKEND") or "auto"


def manifest_override() -> Path | None:
    """`$SRZOO_MANIFEST`, if set."""
    env = _env("SRZOO_MANIFEST")
    return Path(env).expanduser() if env else None


def origin_mirror() -> str:
    """`$SRZOO_ORIGIN_ENDPOINT` without a trailing slash, or ""."""
    return _env("SRZOO_ORIGIN_ENDPOINT").rstrip("/")


TRAINING_DATA_URLS = {
    "DIV2K": ("SRZOO_DIV2K_URL", "https://data.vision.ee.ethz.ch/cvl/DIV2K"),
    "Flickr2K": ("SRZOO_FLICKR2K_URL", "https://cv.snu.ac.kr/research/EDSR"),
    "OST": ("SRZOO_OST_URL", "https://openmmlab.oss-cn-hangzhou.aliyuncs.com/datasets"),
}


def training_data_url(name: str) -> str:
    """The folder URL a training set's archive is fetched from: `$SRZOO_<NAME>_URL` (a mirror, or
    a test server), else its owners' site; without a trailing slash."""
    variable, default = TRAINING_DATA_URLS[name]
    return (_env(variable) or default).rstrip("/")


def threads_setting() -> int | None:
    """`$SRZOO_THREADS` as a positive number, or None when unset (empty or not a positive number: None)."""
    value = _env("SRZOO_THREADS")
    return int(value) if value.isdigit() and int(value) > 0 else None


def prefer_passive_openmp() -> None:
    """On a machine whose cores are already busy (other processes running or waiting to run at
    least half the cores this process may use), make OpenMP threads sleep instead of spin while
    they wait, unless `OMP_WAIT_POLICY` is set. Must run before torch loads.

    Spinning threads fight other processes for the cores: with two other processes keeping both
    cores of a 2-core AMD EPYC (AVX2) busy, a 64x48 x2 upscale at two threads took 3.2 s spinning
    and 0.33 s sleeping. On the idle machine spinning is faster: a 640x360 x4 job took 25.8 s
    spinning and 30-31 s sleeping at two threads. The count is the kernel's instantaneous one
    (Linux), not the 1-minute load average, which still counts a run that has just ended (each
    command of `xargs srzoo upscale` would find the previous one's load)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return
    busy = other_running_tasks()
    if busy is None:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if busy >= cores / 2:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def other_running_tasks(loadavg: str | None = None) -> float | None:
    """Tasks (threads) running or runnable now other than this one, from `/proc/loadavg` (its
    fourth field, "running/total"); elsewhere the 1-minute load average; None where neither exists."""
    if loadavg is None:
        try:
            loadavg = Path("/proc/loadavg").read_text(encoding="ascii")
        except OSError:
            try:
                return os.getloadavg()[0]
            except (AttributeError, OSError):  # no load average (Windows)
                return None
    fields = loadavg.split()
    running = fields[3].split("/")[0] if len(fields) > 3 else ""
    return max(0, int(running) - 1) if running.isdigit() else None


DEFAULT_MEMORY_MB = 1024


def memory_budget() -> int:
    """Bytes that `--tile auto` lets one CPU run's network use: `$SRZOO_MEMORY_MB` (a positive number
    of MiB), else `DEFAULT_MEMORY_MB`."""
    value = _env("SRZOO_MEMORY_MB")
    return (int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MEMORY_MB) << 20


def debug() -> bool:
    """Whether `$SRZOO_DEBUG` asks for tracebacks."""
    return bool(_env("SRZOO_DEBUG"))
