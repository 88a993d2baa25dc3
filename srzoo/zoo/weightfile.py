"""Reading and writing srzoo weight files (safetensors with string metadata).

Files are written byte-for-byte deterministically: safetensors serialises its metadata map in
hash order, so we let it lay out the tensors and then rewrite the JSON header with sorted keys.
The data section and its offsets are untouched by that rewrite.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from srzoo.errors import SrzooError
from srzoo.fsutil import atomic_path

_HEADER_ALIGN = 8


def _canonical_header(blob: bytes, metadata: dict[str, str]) -> bytes:
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    header.pop("__metadata__", None)
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % _HEADER_ALIGN)
    return struct.pack("<Q", len(text)) + text + blob[8 + length:]


def save_weights(path: Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write `state_dict` and string `metadata` to `path` atomically and deterministically."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    blob = _canonical_header(save(tensors), {k: str(v) for k, v in metadata.items()})
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(blob)


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata stored in a safetensors file."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise SrzooError(f"{path}: not a readable safetensors file ({exc})") from exc


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load tensors and metadata from a safetensors file (the only format srzoo loads weights from)."""
    path = Path(path)
    if not path.is_file():
        raise SrzooError(f"weights file not found: {path}")
    metadata = read_metadata(path)
    try:
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as exc:
        raise SrzooError(f"{path}: not a readable safetensors file ({exc})") from exc
