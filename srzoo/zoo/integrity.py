"""Checking files against the hashes the manifest records, before anything reads them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from srzoo.errors import SrzooError
from srzoo.fsutil import atomic_path, sha256_file
from srzoo.zoo.manifest import ZooEntry

_CHUNK = 1 << 20


class ChecksumError(SrzooError):
    """A file whose hash differs from the recorded one."""


def git_blob_id(path: Path) -> str:
    """Git's object id of a file: SHA-1 of `b"blob <size>\\0"` followed by the content."""
    digest = hashlib.sha1(b"blob %d\0" % Path(path).stat().st_size)  # noqa: S324 - git's id, not security
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(weights_file: Path) -> Path:
    """Where srzoo records the sha256 of a converted file whose manifest entry has none (unverified)."""
    return weights_file.with_name(weights_file.name + ".sha256")


def write_record(weights_file: Path, checkpoint_blob: str) -> None:
    """Record `weights_file`'s sha256, made from the checkpoint with git blob id `checkpoint_blob`."""
    line = f"{sha256_file(weights_file)}  {weights_file.name}  converted from git blob {checkpoint_blob}\n"
    with atomic_path(record_path(weights_file)) as tmp:
        tmp.write_text(line, encoding="utf-8")


def expected_sha256(entry: ZooEntry, path: Path) -> str | None:
    """The sha256 `path` must have: the manifest's, or for an unverified entry the recorded one."""
    if entry.sha256 is not None:
        return entry.sha256
    try:
        return record_path(path).read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return None


def verify(path: Path, entry: ZooEntry, remedy: str) -> Path:
    """`path`, after checking its sha256 against what is recorded for `entry`; `ChecksumError` if not."""
    expected = expected_sha256(entry, path)
    if expected is None:
        raise ChecksumError(f"{path}: no recorded sha256 for {entry.label} (unverified entry), so it is not "
                            f"loaded: {remedy}")
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(f"{path}: sha256 {actual[:12]}… does not match the recorded "
                            f"{expected[:12]}… for {entry.label}; not loaded: {remedy}")
    return path


def verify_checkpoint(path: Path, entry: ZooEntry) -> None:
    """Check an official checkpoint against the manifest's sha256 (or git blob id) before it is read."""
    source = entry.source
    assert source is not None and source.kind == "official"
    if source.checkpoint_sha256:
        kind, expected, actual = "sha256", source.checkpoint_sha256, sha256_file(path)
    else:
        kind, expected, actual = "git blob id", source.checkpoint_git_blob, git_blob_id(path)
    if actual != expected:
        raise ChecksumError(f"{path.name}: {kind} {actual[:12]}… does not match the manifest's {expected[:12]}… "
                            f"for {entry.label}'s checkpoint; not converted")
