"""Shared fixtures: where the read-only `shared/` folder (official weights, datasets) lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tests run tiny tensors: one thread avoids oversubscribing a shared machine (and its slowdowns);
# the environment variable carries the same setting into CLI subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The compiled back-end is tested explicitly (test_backends.py); everything else runs torch.
os.environ["SRZOO_BACKEND"] = "torch"
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """`$SRZOO_SHARED`, else the `shared` folder next to the repository root."""
    return Path(os.environ.get("SRZOO_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder; tests that need it are skipped, with the reason, when it is absent."""
    path = shared_path()
    if not (path / "weights" / "official").is_dir():
        pytest.skip(f"official weights not found under {path} (set SRZOO_SHARED to the shared folder)")
    return path
