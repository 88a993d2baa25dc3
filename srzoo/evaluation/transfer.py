"""Downloads for data sets: a Hugging Face Hub dataset file, or any URL (resumed, size- and sha256-checked).

Both go through huggingface_hub, so `HF_ENDPOINT`, `HF_HUB_OFFLINE`, its cache (for Hub files),
its retries and its resuming of a cut transfer apply. Nothing is printed: progress reaches the
caller through `Progress(label, done, total, unit)`; failures are one-line `SrzooError`s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, cast

from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import LocalEntryNotFoundError
from huggingface_hub.file_download import http_get

from srzoo.errors import SrzooError
from srzoo.fsutil import sha256_file
from srzoo.zoo.hub import HUB_ERRORS, discard_cached, hub_error_reason, hub_warnings_silenced

__all__ = ["OfflineError", "Progress", "cached_hub_file", "discard_hub_file", "download", "hub_dataset_file", "offline"]

_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


class Progress(Protocol):
    """Told how far a step is: `done` of `total` (None: unknown) `unit`s ("bytes" or "images")."""

    def __call__(self, label: str, done: int, total: int | None, unit: str) -> None: ...


class OfflineError(SrzooError):
    """`HF_HUB_OFFLINE` is set and the file is not already here."""


def offline() -> bool:
    """Whether `HF_HUB_OFFLINE` forbids the network (srzoo applies it to every download)."""
    return bool(constants.HF_HUB_OFFLINE)


def _bar(label: str, progress: Progress | None) -> Any:
    """A tqdm stand-in for huggingface_hub that forwards the byte count to `progress`."""

    class Bar:
        def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any) -> None:
            self.total, self.n = total, initial

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def update(self, n: int | float | None = 1) -> None:
            self.n += int(n or 0)
            if progress is not None:
                progress(label, self.n, self.total, "bytes")

        def close(self) -> None:
            pass

    return Bar


def hub_dataset_file(repo_id: str, filename: str, revision: str, progress: Progress | None = None) -> Path:
    """`filename` of the Hub dataset repo `repo_id` at `revision`, from the Hugging Face cache or
    downloaded into it (offline: from the cache only)."""
    try:
        with hub_warnings_silenced():
            return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision,
                                        tqdm_class=_bar(f"{repo_id}/{filename}", progress)))
    except HUB_ERRORS as exc:
        where = f"{repo_id}@{revision[:12]}/{filename}"
        if isinstance(exc, LocalEntryNotFoundError) and offline():
            raise OfflineError(f"{where} is not in the Hugging Face cache and HF_HUB_OFFLINE is set") from exc
        raise SrzooError(f"cannot download {where} from {constants.ENDPOINT}: {hub_error_reason(exc)}") from exc


def cached_hub_file(repo_id: str, filename: str, revision: str) -> Path | None:
    """A Hub dataset file already in the Hugging Face cache (no network), or None."""
    hit = try_to_load_from_cache(repo_id, filename, revision=revision, repo_type="dataset")
    return Path(hit) if isinstance(hit, str) else None


def discard_hub_file(repo_id: str, filename: str, revision: str) -> None:
    """Delete a Hub dataset file from the Hugging Face cache (a copy that failed its check)."""
    hit = cached_hub_file(repo_id, filename, revision)
    if hit is not None:
        discard_cached(hit)


def download(url: str, target: Path, *, size: int | None = None, sha256: str | None = None,
             label: str = "", progress: Progress | None = None, keep_partial: bool = False) -> Path:
    """Fetch `url` into `target` (written as `target.part`, renamed when complete and checked).

    `size` and `sha256`, when given, must match, or the file is deleted and a one-line error
    raised. With `keep_partial`, a `.part` left by an earlier run is resumed and a cut transfer
    leaves it for the next run; otherwise it is removed. A Git LFS pointer served instead of the
    file is an error.
    """
    if offline():
        raise OfflineError(f"not fetching {url}: HF_HUB_OFFLINE is set")
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not keep_partial:
        part.unlink(missing_ok=True)
    done = part.stat().st_size if part.is_file() else 0
    if size is not None and done > size:
        part.unlink()
        done = 0
    try:
        with hub_warnings_silenced(), open(part, "ab") as handle:
            http_get(url, handle, resume_size=done, expected_size=size,
                     displayed_filename=target.name, tqdm_class=cast(Any, _bar(label or target.name, progress)))
    except (*HUB_ERRORS, KeyboardInterrupt) as exc:
        if not keep_partial:
            part.unlink(missing_ok=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SrzooError(f"cannot download {url}: {hub_error_reason(exc)}") from exc
    try:
        _check(part, url, size, sha256)
    except SrzooError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    return target


def _check(path: Path, url: str, size: int | None, sha256: str | None) -> None:
    with open(path, "rb") as handle:
        if handle.read(len(_LFS_POINTER)) == _LFS_POINTER:
            raise SrzooError(f"{url} is a Git LFS pointer, not the file: the server must serve the LFS object itself")
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise SrzooError(f"{url}: {actual:,} bytes received, {size:,} expected (cut off); not kept")
    if sha256 is not None and (digest := sha256_file(path)) != sha256:
        raise SrzooError(f"{url}: sha256 {digest[:12]}… differs from the pinned {sha256[:12]}…; not kept")
