"""Reading downloaded archives (tar in any compression, zip) without trusting their member names.

Every member is checked before anything is written: an absolute name, a drive letter or
backslash, a `..` part, a link (symbolic or hard) or a special file refuses the whole archive
(`UnsafeArchive`). Files are then written by this module itself (never `extractall`), each to a
path built from the checked name under the target folder, which must stay inside it.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from srzoo.errors import SrzooError

__all__ = ["UnsafeArchive", "extract", "member_path"]

_CHUNK = 1 << 20


class UnsafeArchive(SrzooError):
    """An archive whose members could write outside the target folder, or are links or devices."""


def member_path(name: str) -> PurePosixPath:
    """A member name as a relative path (a leading "./" dropped); `UnsafeArchive` for anything that
    could leave the folder it is extracted to."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"member {name!r} has an absolute or Windows path")
    path = PurePosixPath(name)
    parts = [part for part in path.parts if part != "."]
    if any(part == ".." for part in parts):
        raise UnsafeArchive(f"member {name!r} points outside the archive's folder")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def extract(archive: Path, target: Path, select: Callable[[PurePosixPath], PurePosixPath | None],
            on_bytes: Callable[[int], None] | None = None) -> list[Path]:
    """Write the regular files of `archive` that `select` keeps into `target`; return their paths.

    `select(member)` gets each file's checked relative name and returns where to write it (relative
    to `target`), or None to skip it. `on_bytes(n)` is told as bytes are written. Raises
    `UnsafeArchive` before writing anything if any member is unsafe, `SrzooError` if the archive
    cannot be read (not an archive, truncated, corrupt).
    """
    root = target.resolve()
    written: list[Path] = []
    try:
        with _members(archive) as members:
            plan = [(rel, opener) for name, kind, opener in members if kind == "file"
                    and (rel := select(member_path(name))) is not None]
            for rel, opener in plan:
                path = (root / rel).resolve()
                if root not in path.parents:
                    raise UnsafeArchive(f"member {str(rel)!r} would be written outside {target}")
                path.parent.mkdir(parents=True, exist_ok=True)
                with opener() as source, open(path, "wb") as sink:
                    while chunk := source.read(_CHUNK):
                        sink.write(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                written.append(path)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise SrzooError(f"cannot read {archive.name}: {exc} (truncated or not an archive)") from exc
    return written


Opener = Callable[[], "_Closing"]


@contextmanager
def _members(archive: Path) -> Iterator[list[tuple[str, str, Opener]]]:
    """(name, "file" or "dir", opener) for every member, after every member was checked."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                member_path(info.filename)
                kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix type recorded (a plain file)
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise UnsafeArchive(f"member {info.filename!r} is a link or a special file")
            yield [(i.filename, "dir" if i.is_dir() else "file", _zip_opener(zf, i)) for i in infos]
        return
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        for member in members:
            member_path(member.name)
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchive(f"member {member.name!r} is a link or a special file")
        yield [(m.name, "dir" if m.isdir() else "file", _tar_opener(tf, m)) for m in members]


class _Closing:
    """A readable member stream usable in `with`."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            raise OSError("member has no data")
        self.stream = stream

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def _zip_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Opener:
    return lambda: _Closing(zf.open(info))


def _tar_opener(tf: tarfile.TarFile, info: tarfile.TarInfo) -> Opener:
    return lambda: _Closing(tf.extractfile(info))

