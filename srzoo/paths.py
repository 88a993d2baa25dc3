"""Where srzoo keeps its files: the weights directory and the datasets root."""

from __future__ import annotations

import os
from pathlib import Path


def _user_dir(xdg_var: str, fallback: str) -> Path:
    base = os.environ.get(xdg_var)
    return Path(base) if base else Path.home() / fallback


def weights_dir() -> Path:
    """`$SRZOO_WEIGHTS_DIR`, else `$XDG_CACHE_HOME/srzoo/weights` (default ~/.cache/srzoo/weights)."""
    env = os.environ.get("SRZOO_WEIGHTS_DIR")
    return Path(env).expanduser() if env else _user_dir("XDG_CACHE_HOME", ".cache") / "srzoo" / "weights"


def data_root() -> Path:
    """`$SRZOO_DATA`, else `$XDG_DATA_HOME/srzoo/datasets` (default ~/.local/share/srzoo/datasets)."""
    env = os.environ.get("SRZOO_DATA")
    return Path(env).expanduser() if env else _user_dir("XDG_DATA_HOME", ".local/share") / "srzoo" / "datasets"
