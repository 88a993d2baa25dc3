"""The authors' origin: their checkpoint fetched from its pinned commit, checked, converted, stored.

`install_checkpoint` is the one path from an official .pth to a zoo file: check the checkpoint's
hash, convert it with the deterministic importer, check the result's sha256, move it into the
weights dir. `fetch_from_origin` downloads the checkpoint first (huggingface_hub's `http_get`:
retries, resume, progress bar), from `$SRZOO_ORIGIN_ENDPOINT` instead of GitHub when that is set.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from huggingface_hub import constants
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import silent_tqdm

from srzoo.constants import weights_dir
from srzoo.errors import SrzooError
from srzoo.fsutil import sha256_file
from srzoo.zoo.hub import HUB_ERRORS, hub_error_reason, hub_warnings_silenced
from srzoo.zoo.integrity import (
    ChecksumError,
    record_path,
    verify_checkpoint,
    write_record,
)
from srzoo.zoo.manifest import ZooEntry

_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def has_origin(entry: ZooEntry) -> bool:
    """Whether the entry's weights can be made from an authors' checkpoint with a known URL."""
    return entry.source is not None and entry.source.kind == "official"


def fetch_from_origin(entry: ZooEntry, progress: bool = False) -> Path:
    """Download `entry`'s checkpoint from the authors' origin and install it (see `install_checkpoint`)."""
    assert entry.source is not None
    url = entry.source.origin_url()
    if constants.HF_HUB_OFFLINE:
        raise SrzooError(f"not fetching {url}: HF_HUB_OFFLINE is set")
    with _scratch_dir() as scratch:
        checkpoint = scratch / Path(entry.source.checkpoint).name  # the name the importer records
        try:
            with hub_warnings_silenced(), open(checkpoint, "wb") as handle:
                http_get(url, handle, displayed_filename=checkpoint.name,
                         tqdm_class=None if progress else silent_tqdm)
        except HUB_ERRORS as exc:
            raise SrzooError(f"cannot download {url}: {hub_error_reason(exc)}") from exc
        with open(checkpoint, "rb") as handle:
            if handle.read(len(_LFS_POINTER)) == _LFS_POINTER:
                raise SrzooError(f"{url} is a Git LFS pointer, not the checkpoint: the server must serve "
                                 "the LFS object itself")
        return _install(entry, checkpoint, scratch)


def install_checkpoint(entry: ZooEntry, checkpoint: Path) -> Path:
    """Check `checkpoint` against the manifest, convert it and store the verified file in the weights dir."""
    with _scratch_dir() as scratch:
        return _install(entry, checkpoint, scratch)


def _install(entry: ZooEntry, checkpoint: Path, scratch: Path) -> Path:
    from srzoo.zoo.convert import import_checkpoint  # torch: only when converting
    from srzoo.zoo.weightfile import save_weights

    assert entry.source is not None
    verify_checkpoint(checkpoint, entry)
    state, metadata = import_checkpoint(checkpoint, entry.name, entry.scale, fold=entry.form == "inference")
    converted = scratch / entry.filename
    save_weights(converted, state, metadata)
    target = weights_dir() / entry.filename
    if entry.sha256 is not None:
        actual = sha256_file(converted)
        if actual != entry.sha256:
            raise ChecksumError(f"{entry.filename}: sha256 {actual[:12]}… of the conversion differs from the "
                                f"manifest's {entry.sha256[:12]}… for {entry.label}; not stored")
    else:
        write_record(converted, entry.source.checkpoint_git_blob)
        os.replace(record_path(converted), record_path(target))
    os.replace(converted, target)
    return target


@contextmanager
def _scratch_dir() -> Iterator[Path]:
    """A temporary folder inside the weights dir (same file system: the final move is atomic)."""
    directory = weights_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".incoming-") as name:
        yield Path(name)
