"""Training checkpoints: one `torch.save` file per save, written atomically, read back safely.

A checkpoint holds the run's config, the iteration, model, EMA, optimizer (and the stage it
belongs to), AMP scaler, torch RNG and sampler state, the open loss-log window and the last
validation. Loading uses `weights_only=True`, so a checkpoint cannot run code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from srzoo.errors import SrzooError
from srzoo.fsutil import atomic_path

FORMAT = "srzoo-train-checkpoint/1"
_NAME = re.compile(r"iter_(\d+)\.pt")


def checkpoint_path(run_dir: Path, iteration: int) -> Path:
    """Where the checkpoint of `iteration` goes inside a run folder."""
    return Path(run_dir) / "checkpoints" / f"iter_{iteration:08d}.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (never a half-written checkpoint)."""
    with atomic_path(Path(path)) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint file, or the latest checkpoint of a run folder."""
    path = find_checkpoint(Path(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt file can fail in many ways; report one line
        raise SrzooError(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SrzooError(f"{path}: not an srzoo training checkpoint")
    state["path"] = str(path)
    return state


def find_checkpoint(path: Path) -> Path:
    """`path` itself if it is a file, else the latest `checkpoints/iter_*.pt` of the run folder."""
    if path.is_file():
        return path
    found = checkpoints(path)
    if not found:
        raise SrzooError(f"no checkpoint at {path} (expected a file or a run folder with checkpoints/)")
    return found[-1]


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint files, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.fullmatch(p.name))


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the `keep` latest checkpoints (keep 0: keep them all)."""
    if keep > 0:
        for old in checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    """torch's global RNG states (the data pipeline has its own per-iteration generators)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved (CUDA states only when the device count matches)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
