"""Training data on demand: the sets each family's paper trained on, fetched from their owners.

LKDN, LKDN-S, ALKDNet and DDistill-SR train on DF2K (DIV2K's 800 train HR images + Flickr2K's
2,650); AIDN adds OST. `prepare(names, root)` makes each set `<root>/train/<Name>/HR/` once: the
archive is downloaded into `<root>/train/.downloads/` (resumed across runs, checked by size and,
where pinned, sha256), its HR images are extracted (member names checked), counted, named and
checked to decode, and the folder appears by one rename, complete or absent; the archive is then
deleted. `$SRZOO_DIV2K_URL`, `$SRZOO_FLICKR2K_URL` and `$SRZOO_OST_URL` name mirrors.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from srzoo.constants import training_data_url
from srzoo.errors import SrzooError
from srzoo.evaluation.archive import extract
from srzoo.evaluation.transfer import OfflineError, Progress, download, offline
from srzoo.zoo.network import Unreachable, probe

__all__ = ["PAPER_DATA", "TRAINING_SETS", "TrainingSet", "prepare", "prepared"]

_IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class TrainingSet:
    """A training set's HR archive: where it is, what it must be, and where its images are in it.

    `size`/`sha256`: the archive's, where known (None: checked by the transfer's own length and
    the images only). `folder`: the archive folder holding the HR images (None: images anywhere).
    `names`: the image file names it must hold exactly (None: any, at least one).
    """

    name: str
    filename: str
    images: str  # in words, e.g. "800 train HR images"
    size: int | None
    sha256: str | None
    folder: str | None
    names: Callable[[], list[str]] | None

    @property
    def url(self) -> str:
        return f"{training_data_url(self.name)}/{self.filename}"

    def hr_dir(self, root: Path) -> Path:
        return root / "train" / self.name / "HR"

    def size_text(self) -> str:
        if not self.size:
            return "size not pinned"
        return f"{self.size / 1e9:.2f} GB" if self.size >= 1e9 else f"{self.size / 1e6:.1f} MB"


TRAINING_SETS = {
    # DIV2K_train_HR.zip: 3,530,603,713 bytes on the ETH DIV2K page; the sha256 is the Git LFS oid of
    # the same-size file in the Hub mirror goodfellowliu/DIV2K (commit d8a7b7e82add5be32adb51d9442b7932b1739e89).
    "DIV2K": TrainingSet("DIV2K", "DIV2K_train_HR.zip", "800 train HR images", 3_530_603_713,
                         "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335", "DIV2K_train_HR",
                         lambda: [f"{i:04d}.png" for i in range(1, 801)]),
    # Flickr2K.tar (the EDSR authors'): no published size or hash was found, so it is checked by the
    # transfer's length and by its 2,650 HR images (names, and each must decode).
    "Flickr2K": TrainingSet("Flickr2K", "Flickr2K.tar", "2,650 HR images", None, None, "Flickr2K/Flickr2K_HR",
                            lambda: [f"{i:06d}.png" for i in range(1, 2651)]),
    # OST (OutdoorSceneTraining, as BasicSR distributes it): neither its size, hash nor layout could be
    # checked here; every image in the archive is taken, and each must decode.
    "OST": TrainingSet("OST", "OST_dataset.zip", "OutdoorSceneTraining images", None, None, None, None),
}
DF2K = ("DIV2K", "Flickr2K")
PAPER_DATA: dict[str, tuple[tuple[str, ...], str]] = {
    "lkdn": (DF2K, "DF2K, as in the LKDN paper"),
    "lkdn-s": (DF2K, "DF2K, as in the LKDN paper"),
    "alkdn": (DF2K, "DF2K, as in the ALKDNet paper"),
    "ddistill": (DF2K, "DF2K, as in the DDistill-SR paper"),
    "aidn": ((*DF2K, "OST"), "DF2K + OST, as in the AIDN paper"),
}


def prepared(spec: TrainingSet, root: Path) -> bool:
    """Whether the set is already under `root` (it only ever appears complete)."""
    folder = spec.hr_dir(root)
    return folder.is_dir() and any(folder.iterdir())


def prepare(names: tuple[str, ...], root: Path, progress: Progress | None = None,
            announce: Callable[[str], None] | None = None) -> list[Path]:
    """The HR folders of the training sets `names` under `root`, each fetched and prepared once.

    Every missing set's host is asked first (one line within seconds if one cannot be reached, or
    if `HF_HUB_OFFLINE` is set); then `announce(line)` is told what will be fetched, and from where.
    """
    missing = [TRAINING_SETS[name] for name in names if not prepared(TRAINING_SETS[name], root)]
    for spec in missing:
        _reachable(spec, root)
    if announce is not None:
        parts = "; ".join(f"{s.name} ({s.images}, {s.size_text()}) from {s.url}" for s in missing)
        announce(f"fetching {parts} into {root / 'train'} (once; or give --data DIR)" if missing
                 else f"in {root / 'train'}")
    return [_ensure(TRAINING_SETS[name], root, progress) for name in names]


def _reachable(spec: TrainingSet, root: Path) -> None:
    what = f"{spec.name} ({spec.images}, {spec.size_text()})"
    if offline():
        raise OfflineError(f"{what} is not in {spec.hr_dir(root)} and HF_HUB_OFFLINE is set; "
                           "give --data DIR with your own HR images")
    try:
        probe(spec.url, f"{spec.name}'s site")
    except Unreachable as exc:
        raise Unreachable(f"cannot fetch {what} from {spec.url}: {exc}; or give --data DIR with your own "
                          "HR images") from exc


def _ensure(spec: TrainingSet, root: Path, progress: Progress | None) -> Path:
    hr = spec.hr_dir(root)
    if prepared(spec, root):
        return hr
    train = root / "train"
    archive = download(spec.url, train / ".downloads" / spec.filename, size=spec.size, sha256=spec.sha256,
                       label=f"{spec.name} {spec.filename}", progress=progress, keep_partial=True)
    try:
        with tempfile.TemporaryDirectory(dir=train, prefix=f".incoming-{spec.name}-") as scratch:
            staged = Path(scratch) / "HR"
            files = extract(archive, staged, _selector(spec))
            _check(spec, files, archive, progress)
            hr.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, hr)
    except OSError as exc:
        raise SrzooError(f"cannot prepare {spec.name} in {hr}: {exc.strerror or exc}") from exc
    archive.unlink()
    return hr


def _selector(spec: TrainingSet) -> Callable[[PurePosixPath], PurePosixPath | None]:
    """Keep the HR images: in `spec.folder` (flat), or anywhere (flattened, folders joined by "_")."""

    def select(member: PurePosixPath) -> PurePosixPath | None:
        if member.suffix.lower() not in _IMAGES or member.name.startswith("."):
            return None
        if spec.folder is None:
            return PurePosixPath("_".join(member.parts))
        return PurePosixPath(member.name) if member.parent == PurePosixPath(spec.folder) else None

    return select


def _check(spec: TrainingSet, files: list[Path], archive: Path, progress: Progress | None) -> None:
    """Exactly the expected image names, each of which decodes; else the archive is deleted."""
    problem = ""
    names = sorted(path.name for path in files)
    expected = sorted(spec.names()) if spec.names is not None else None
    if expected is not None and names != expected:
        missing, extra = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
        problem = f"{len(missing)} of {len(expected)} images missing {missing[:3]}, {len(extra)} unexpected {extra[:3]}"
    elif not names:
        problem = "no images"
    for done, path in enumerate(files if not problem else []):
        try:
            with Image.open(path) as img:
                img.verify()
        except (OSError, SyntaxError, ValueError) as exc:
            problem = f"{path.name} does not decode ({exc})"
            break
        if progress is not None and done % 50 == 0:
            progress(f"checking {spec.name}", done + 1, len(files), "images")
    if problem:
        archive.unlink(missing_ok=True)
        raise SrzooError(f"{spec.filename} from {spec.url} is not the {spec.name} archive: {problem}; deleted")
