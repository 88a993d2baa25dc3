"""Benchmarks on demand: a public benchmark missing from the data root is fetched, checked, stored.

`ensure_benchmark(name, root)` returns the benchmark under `root`, fetching it first when it is
not there and can be fetched (Set5, Set14, B100, Urban100; Manga109 is supplied by the user). The
sources of `srzoo.evaluation.sources` are tried in order; a source's images must equal the table
of `srzoo.evaluation.facts` (names, sizes, pixel hashes), or the source is refused with one line
naming the images that differ and the next one is tried. Everything happens in a scratch folder
under the root, and the set appears as `<root>/<Name>/HR/*.png` by one rename: complete or absent.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from PIL import Image

from srzoo.errors import SrzooError
from srzoo.evaluation.datasets import Dataset, canonical_name, find_dataset
from srzoo.evaluation.facts import SetCheck, check_digests, file_digest
from srzoo.evaluation.sources import SOURCES, Source
from srzoo.evaluation.transfer import OfflineError, Progress
from srzoo.zoo.network import Unreachable

__all__ = ["FETCHABLE", "ensure_benchmark", "fetch_benchmark"]

FETCHABLE = tuple(SOURCES)
_log = logging.getLogger("srzoo")


def ensure_benchmark(name: str, root: Path, progress: Progress | None = None) -> Dataset:
    """The benchmark `name` under `root`; fetched first if it is absent and public."""
    canonical = canonical_name(name)
    try:
        return find_dataset(canonical, root)
    except SrzooError:
        if canonical not in SOURCES:
            raise
    fetch_benchmark(canonical, root, progress)
    return find_dataset(canonical, root)


def fetch_benchmark(name: str, root: Path, progress: Progress | None = None) -> Path:
    """Fetch benchmark `name` (canonical) into `root/<name>/HR` from the first source whose images
    are the published ones; return that folder. One-line `SrzooError` naming every source's
    failure when none gives them."""
    sources = SOURCES.get(name)
    if sources is None:
        raise SrzooError(f"{name} cannot be fetched by srzoo (public: {', '.join(SOURCES)})")
    created = [folder for folder in (root, *root.parents) if not folder.exists()]  # deepest first
    try:
        root.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(dir=root, prefix=f".incoming-{name}-")
    except OSError as exc:
        raise SrzooError(f"cannot write to the data root {root}: {exc.strerror or exc}") from exc
    failures: list[str] = []
    with scratch as folder:
        for index, source in enumerate(sources):
            try:
                return _from(source, name, root, Path(folder) / f"source{index}", progress)
            except SrzooError as exc:
                failures.append(f"{source.label}: {exc}")
                if index + 1 < len(sources) and not isinstance(exc, (Unreachable, OfflineError)):
                    _log.warning(f"{name} from {source.label}: {exc}; trying {sources[index + 1].label}")
    for made in created:  # leave no trace of a fetch that got nothing
        try:
            made.rmdir()
        except OSError:
            break
    raise SrzooError(f"cannot fetch {name}: {'; '.join(failures)}. Or put its HR images in {root / name / 'HR'} "
                     "(or pass --data-root DIR)")


def _from(source: Source, name: str, root: Path, scratch: Path, progress: Progress | None) -> Path:
    """Fetch from one source, check every image, and store the set."""
    _log.info(f"fetching {name} from {source.label}")
    images = source.fetch(name, scratch, progress)
    check = _check(name, images)
    if not check.ok:
        source.forget()
        raise SrzooError(f"refused, not the published images: {check.summary()}")
    return _install(name, images, scratch, root)


def _check(name: str, images: dict[str, Path]) -> SetCheck:
    """The images against the table; one that does not decode counts as differing."""
    digests: dict[str, tuple[int, int, str] | None] = {}
    for stem, path in images.items():
        try:
            digests[stem] = file_digest(path)
        except SrzooError:
            digests[stem] = (0, 0, "")
    return check_digests(name, digests)


def _install(name: str, images: dict[str, Path], scratch: Path, root: Path) -> Path:
    """Move the checked images into `root/<name>/HR` at once (PNG; other formats decoded and
    re-encoded losslessly, so their pixels no longer depend on a decoder)."""
    staged = scratch / name / "HR"
    staged.mkdir(parents=True)
    for stem, path in images.items():
        if path.suffix.lower() == ".png":
            os.replace(path, staged / f"{stem}.png")
        else:
            with Image.open(path) as img:
                img.convert("RGB").save(staged / f"{stem}.png", format="PNG")
    target = root / name
    hr = target / "HR"
    try:
        if not target.exists():
            os.rename(scratch / name, target)
            return hr
        if hr.is_dir() and not any(hr.iterdir()):
            hr.rmdir()
        os.rename(staged, hr)
    except OSError as exc:
        raise SrzooError(f"cannot store {name} in {hr}: {exc.strerror or exc} (move it away and retry)") from exc
    return hr
