"""Benchmark datasets: lookup by name, the LR source for a scale, and (HR, LR) image pairs.

Layout under the data root (`--data-root`, else `srzoo.constants.data_root()`):

    <root>/<Name>/HR/<image>.<ext>                      ground truth (any size, RGB or grey)
    <root>/<Name>/LR_bicubic/X<s>/<image>x<s>.<ext>     optional genuine MATLAB LR inputs

The LR inputs (`LrChoice`): "auto" reads `LR_bicubic/X<s>` where it exists and otherwise makes the
LR from the HR image with `srzoo.evaluation.imresize.make_lr`'s "matlab" recipe (bit-exact with the
genuine MATLAB LR files, so a set without them scores as it would with them); "basicsr" or
"matlab" always make it with that recipe.

A benchmark found by name (`find_dataset`) knows its name (`Dataset.benchmark`), and each of its
HR images is hashed as it is read (`ImagePair.digest`), so that an evaluation can say whether the
copy is the published set (`srzoo.evaluation.facts`). Public benchmarks missing from the root are
fetched by `srzoo.evaluation.fetch`; this module never touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from srzoo.errors import SrzooError, UsageError
from srzoo.evaluation.facts import pixel_sha256
from srzoo.evaluation.imresize import LR_RECIPES, LrRecipe, make_lr
from srzoo.media.images import IMAGE_SUFFIXES
from srzoo.zoo.manifest import DATASETS

__all__ = ["DATASETS", "LR_CHOICES", "Dataset", "ImagePair", "LrChoice", "LrSource", "canonical_name",
           "find_dataset", "folder_dataset", "list_images", "load_pairs", "modcrop", "read_rgb"]

LrChoice = Literal["auto", "basicsr", "matlab"]
LR_CHOICES: tuple[LrChoice, ...] = ("auto", *LR_RECIPES)
LrSource = Literal["files", "basicsr", "matlab"]  # what an evaluation actually used

_ALIASES = {"bsd100": "B100", **{name.lower(): name for name in DATASETS}}
_HOW_TO_GET = {
    "Manga109": "its owners (http://www.manga109.org/en/, academic use only; srzoo checks the copy against "
                "the published names, sizes and pixels)",
}
_DEFAULT_HOW = "any public copy of the benchmark HR images (srzoo eval fetches it itself when it can reach the network)"


@dataclass(frozen=True)
class Dataset:
    """A folder of HR images and, optionally, a folder of LR input files (`X<s>` subfolders or flat)."""

    name: str
    hr_dir: Path
    lr_root: Path | None = None
    lr_flat: bool = False
    benchmark: str | None = None  # the benchmark's name when found by name (checked against its table)

    def lr_dir(self, scale: int) -> Path | None:
        """The folder of LR input files for `scale`, or None when LR must be generated."""
        if self.lr_root is None:
            return None
        sub = self.lr_root / f"X{scale}"
        if sub.is_dir():
            return sub
        return self.lr_root if self.lr_flat else None

    def lr_source(self, scale: int, choice: LrChoice = "auto") -> LrSource:
        """Where the LR inputs at `scale` come from: files on disk, or the `make_lr` recipe."""
        if choice not in LR_CHOICES:
            raise UsageError(f"unknown LR recipe {choice!r} (one of {', '.join(LR_CHOICES)})")
        if choice != "auto":
            return choice
        return "files" if self.lr_dir(scale) is not None else "matlab"


@dataclass(frozen=True)
class ImagePair:
    """One test image: `hr` cropped to a multiple of the scale, and its LR input (uint8 RGB);
    `digest`: the whole HR image's (width, height, pixel sha256), for benchmarks."""

    name: str
    hr: np.ndarray
    lr: np.ndarray
    digest: tuple[int, int, str] | None = None


def canonical_name(name: str) -> str:
    """The standard spelling of a benchmark name (case-insensitive; BSD100 is B100)."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise UsageError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)}, BSD100 = B100; "
                         "or use --hr DIR for any folder)")
    return _ALIASES[key]


def find_dataset(name: str, root: Path) -> Dataset:
    """The benchmark `name` under `root`; a one-line error saying where it looked when it is absent."""
    canonical = canonical_name(name)
    folder = _find_subdir(root, canonical)
    hr_dir = folder / "HR" if folder is not None else root / canonical / "HR"
    if not hr_dir.is_dir() or not list_images(hr_dir):
        how = _HOW_TO_GET.get(canonical, _DEFAULT_HOW)
        raise SrzooError(f"dataset {canonical} not found: no images in {hr_dir} (the data root is --data-root, "
                         f"else $SRZOO_DATA, else the user data folder $XDG_DATA_HOME/srzoo/datasets, "
                         f"default ~/.local/share/srzoo/datasets); get it from {how} and put the HR images there")
    return Dataset(canonical, hr_dir, hr_dir.parent / "LR_bicubic", benchmark=canonical)


def folder_dataset(hr_dir: Path, lr_dir: Path | None = None) -> Dataset:
    """Any folder of HR images (`--hr`), with an optional folder of LR inputs (`--lr`, flat or `X<s>/`).

    The dataset is named after the folder (after its parent when the folder is called `HR`).
    """
    for what, folder in (("--hr", hr_dir), ("--lr", lr_dir)):
        if folder is not None and not folder.is_dir():
            raise SrzooError(f"{what} {folder} is not a directory")
    if not list_images(hr_dir):
        raise SrzooError(f"--hr {hr_dir} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    folder = hr_dir.resolve()
    name = folder.parent.name if folder.name.lower() == "hr" else folder.name
    return Dataset(name, hr_dir, lr_dir, lr_flat=True)


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3); grey images get three equal channels."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except OSError as exc:
        raise SrzooError(f"cannot read image {path}: {exc}") from exc


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """The top-left region of `img` whose height and width are multiples of `scale`."""
    h, w = img.shape[:2]
    return img[:h - h % scale, :w - w % scale]


def load_pairs(dataset: Dataset, scale: int, choice: LrChoice = "auto") -> Iterator[ImagePair]:
    """(HR, LR) pairs of `dataset` at `scale`, read lazily in name order."""
    source = dataset.lr_source(scale, choice)
    lr_dir = dataset.lr_dir(scale) if source == "files" else None
    lr_files = _index_lr(lr_dir, scale) if lr_dir is not None else {}
    for path in list_images(dataset.hr_dir):
        hr = read_rgb(path)
        digest = (hr.shape[1], hr.shape[0], pixel_sha256(hr)) if dataset.benchmark else None
        if min(hr.shape[:2]) < 3 * scale:
            raise SrzooError(f"{path} is {hr.shape[1]}x{hr.shape[0]}: too small to evaluate at x{scale} (each "
                             f"side needs at least {3 * scale} px, so that something is left after the "
                             f"{scale}-px border crop)")
        if lr_dir is None:
            recipe: LrRecipe = "matlab" if source == "matlab" else "basicsr"
            yield ImagePair(path.stem, modcrop(hr, scale), make_lr(hr, scale, recipe), digest)
            continue
        if path.stem not in lr_files:
            raise SrzooError(f"no LR input for {path.name} in {lr_dir} "
                             f"(expected {path.stem}x{scale}.* or {path.stem}.*)")
        yield _file_pair(path.stem, modcrop(hr, scale), lr_files[path.stem], scale, digest)


def _file_pair(name: str, hr: np.ndarray, lr_path: Path, scale: int,
               digest: tuple[int, int, str] | None) -> ImagePair:
    """The pair with the LR file at `lr_path`, after checking it is exactly the HR size over `scale`."""
    lr = read_rgb(lr_path)
    if (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape[:2]:
        raise SrzooError(f"{lr_path} is {lr.shape[1]}x{lr.shape[0]}, but the HR image cropped to a multiple "
                         f"of {scale} is {hr.shape[1]}x{hr.shape[0]}: not its x{scale} LR input")
    return ImagePair(name, hr, lr, digest)


def _index_lr(lr_dir: Path, scale: int) -> dict[str, Path]:
    """LR files by the HR stem they belong to (`<stem>x<s>.*` or `<stem>.*`)."""
    index: dict[str, Path] = {}
    suffix = f"x{scale}"
    for path in list_images(lr_dir):
        stem = path.stem
        index.setdefault(stem[:-len(suffix)] if stem.lower().endswith(suffix) else stem, path)
    return index


def _find_subdir(root: Path, canonical: str) -> Path | None:
    """The folder of `root` named as `canonical` or one of its aliases, in any letter case."""
    if not root.is_dir():
        return None
    names = {alias for alias, target in _ALIASES.items() if target == canonical}
    return next((p for p in sorted(root.iterdir()) if p.is_dir() and p.name.lower() in names), None)
