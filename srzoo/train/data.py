"""Training data: HR image folders, LR made on the fly (or read), random aligned crops, augmentation.

Every random choice of iteration i comes from a generator seeded with (seed, i): the images and
per-sample seeds of the whole (global) batch are drawn first and each process takes its slice.
So the data do not depend on the number of processes or workers, and a resumed run sees exactly
what an uninterrupted one would have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from srzoo.errors import SrzooError
from srzoo.evaluation.datasets import Dataset as Benchmark
from srzoo.evaluation.datasets import _index_lr, modcrop, read_rgb
from srzoo.evaluation.imresize import make_lr
from srzoo.fsutil import atomic_path
from srzoo.media.images import IMAGE_SUFFIXES
from srzoo.train.recipes import Augment

# LR pixels of context around a crop: more than the bicubic kernel reaches, so the LR of the
# HR window equals that crop of the whole image's LR exactly.
MARGIN = 2
_LR_FOLDER = re.compile(r"(^|[^a-z0-9])lr([^a-z0-9]|$)", re.IGNORECASE)
_COMPLETE = ".complete"

Key = tuple[int, int]  # (image index, sample seed)


def find_images(folders: Sequence[Path]) -> list[Path]:
    """The images under `folders`, recursively and sorted, skipping folders named like LR ones
    (`LR_bicubic`, `DIV2K_train_LR_bicubic`, ...)."""
    files: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise SrzooError(f"training data folder not found: {folder}")
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not any(_LR_FOLDER.search(part) for part in p.relative_to(folder).parts[:-1]))
        if not found:
            raise SrzooError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
        files += found
    return files


def bicubic_patch(hr: np.ndarray, scale: int, top: int, left: int, size: int) -> np.ndarray:
    """`make_lr(hr)[top:top+size, left:left+size]` for a modcropped `hr`, computed from a window."""
    height, width = hr.shape[0] // scale, hr.shape[1] // scale
    t0, l0 = max(top - MARGIN, 0), max(left - MARGIN, 0)
    t1, l1 = min(top + size + MARGIN, height), min(left + size + MARGIN, width)
    lr = make_lr(hr[t0 * scale:t1 * scale, l0 * scale:l1 * scale], scale)
    return lr[top - t0:top - t0 + size, left - l0:left - l0 + size]


@dataclass(frozen=True)
class Window:
    """Where one sample's patch sits in its image (LR pixels) and how it is flipped."""

    top: int
    left: int
    hflip: bool = False
    vflip: bool = False
    transpose: bool = False  # the 90/270-degree rotations, with the flips


def draw_window(key: Key, lr_size: tuple[int, int], patch: int, mode: Augment) -> Window:
    """The window of sample `key` = (image index, seed) in an image of `lr_size` (height, width):
    a pure function of the key, so every way of cutting batches cuts the same ones."""
    rng = np.random.default_rng(key[1])
    top = int(rng.integers(0, lr_size[0] - patch + 1))
    left = int(rng.integers(0, lr_size[1] - patch + 1))
    if mode == "none":
        return Window(top, left)
    hflip, vflip, transpose = (bool(flag) for flag in rng.random(3) < 0.5)
    return Window(top, left, hflip, vflip, transpose and mode == "dihedral")


def orient(image: np.ndarray, window: Window) -> np.ndarray:
    """An HWC patch flipped and transposed as `window` says."""
    image = image[:, ::-1] if window.hflip else image
    image = image[::-1] if window.vflip else image
    return image.transpose(1, 0, 2) if window.transpose else image


def _orient_chw(image: torch.Tensor, window: Window) -> torch.Tensor:
    """`orient` for a CHW tensor."""
    image = image.flip(-1) if window.hflip else image
    image = image.flip(-2) if window.vflip else image
    return image.transpose(-1, -2) if window.transpose else image


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class PatchDataset(Dataset):
    """Random aligned (LR, HR) uint8 CHW patches; an item is fetched by (image index, sample seed).

    LR is made from the HR image with `srzoo.evaluation.imresize.make_lr` (as `srzoo eval` does), or read
    from `lr_dir` (`<stem>x<s>.*` or `<stem>.*`, flat or under `X<s>/`). Images too small for the
    patch are left out. With `cache`, the decoded HR image and its whole LR image stay in memory
    (per worker), so a patch is two crops; without, the LR of each patch is made from a window
    around it. Both give the same bytes. `targets` (HR-sized uint8 HWC images per file, e.g. a
    teacher's output) adds a third, aligned patch to every item.
    """

    def __init__(self, files: Sequence[Path], scale: int, patch_size: int, mode: Augment,
                 lr_dir: Path | None = None, cache: bool = False,
                 targets: Mapping[Path, np.ndarray] | None = None) -> None:
        hr_size = patch_size * scale
        self.files = [f for f in files if min(_size(f)) >= hr_size]
        if not self.files:
            raise SrzooError(f"no training image is at least {hr_size}x{hr_size} pixels (LR patch "
                             f"{patch_size} at x{scale}); use a smaller --patch-size")
        self.skipped = len(files) - len(self.files)
        self.scale, self.patch_size, self.mode = scale, patch_size, mode
        self.lr_files = _lr_index(lr_dir, scale) if lr_dir is not None else None
        self.cache: dict[int, tuple[np.ndarray, np.ndarray | None]] | None = {} if cache else None
        self.targets = targets

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        path = self.files[index]
        hr = modcrop(read_rgb(path), self.scale)
        lr = None
        if self.lr_files is not None:
            if path.stem not in self.lr_files:
                raise SrzooError(f"no LR image for {path.name} in the LR folder")
            lr = read_rgb(self.lr_files[path.stem])
            if (lr.shape[0] * self.scale, lr.shape[1] * self.scale) != hr.shape[:2]:
                raise SrzooError(f"{self.lr_files[path.stem]} is not the x{self.scale} LR of {path}")
        if self.cache is not None:
            lr = make_lr(hr, self.scale) if lr is None else lr
            self.cache[index] = (hr, lr)
        return hr, lr

    def hr_image(self, index: int) -> np.ndarray:
        """The whole (modcropped) HR image of file `index` (uint8 HWC)."""
        return self._load(index)[0]

    def lr_image(self, index: int) -> np.ndarray:
        """The whole LR image of file `index` (uint8 HWC)."""
        hr, lr = self._load(index)
        return make_lr(hr, self.scale) if lr is None else lr

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, ...]:
        hr, lr = self._load(key[0])
        p, s = self.patch_size, self.scale
        window = draw_window(key, (hr.shape[0] // s, hr.shape[1] // s), p, self.mode)
        top, left = window.top, window.left
        lr_patch = (bicubic_patch(hr, s, top, left, p) if lr is None
                    else lr[top:top + p, left:left + p])
        hr_window = (slice(top * s, (top + p) * s), slice(left * s, (left + p) * s))
        patches = [lr_patch, hr[hr_window]]
        if self.targets is not None:
            patches.append(self.targets[self.files[key[0]]][hr_window])
        return tuple(_chw(orient(patch, window)) for patch in patches)


class HeldBatches:
    """The batches of `batches` cut in the training process from images held on `device`: the LR,
    HR (and target) images of every file, uint8, copied there once. The same bytes as a DataLoader
    over `dataset`, without worker processes or a host-to-device copy per step."""

    def __init__(self, dataset: PatchDataset, batches: IterationBatches, device: torch.device) -> None:
        self.batches, self.patch, self.scale, self.mode = batches, dataset.patch_size, dataset.scale, dataset.mode
        self.images: list[list[torch.Tensor]] = []
        for index, path in enumerate(dataset.files):
            images = [dataset.lr_image(index), dataset.hr_image(index)]
            if dataset.targets is not None:
                images.append(dataset.targets[path])
            self.images.append([_chw(image).to(device) for image in images])

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        p, s = self.patch, self.scale
        for keys in self.batches:
            samples = []
            for key in keys:
                lr, *hr_sized = self.images[key[0]]
                window = draw_window(key, (lr.shape[-2], lr.shape[-1]), p, self.mode)
                t, left = window.top, window.left
                crops = [lr[:, t:t + p, left:left + p],
                         *(x[:, t * s:(t + p) * s, left * s:(left + p) * s] for x in hr_sized)]
                samples.append([_orient_chw(crop, window) for crop in crops])
            yield tuple(torch.stack(column) for column in zip(*samples))


def _size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise SrzooError(f"cannot read image {path}: {exc}") from exc


def _lr_index(lr_dir: Path, scale: int) -> dict[str, Path]:
    if not Path(lr_dir).is_dir():
        raise SrzooError(f"LR folder not found: {lr_dir}")
    folder = Benchmark("train", Path(lr_dir), Path(lr_dir), lr_flat=True).lr_dir(scale)
    assert folder is not None  # an lr_flat benchmark always has one
    return _index_lr(folder, scale)


class IterationBatches(Sampler[list[Key]]):
    """This process's batches of `PatchDataset` keys for iterations [start, stop).

    Iteration i draws `batch_size` (image, seed) keys from a generator seeded with (seed, i);
    process `rank` of `world_size` takes the rank-th equal slice.
    """

    def __init__(self, images: int, batch_size: int, start: int, stop: int, seed: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise SrzooError(f"batch size {batch_size} is not divisible by the {world_size} processes")
        self.images, self.batch_size, self.start, self.stop = images, batch_size, start, stop
        self.seed, self.rank, self.share = seed, rank, batch_size // world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[Key]]:
        lo = self.rank * self.share
        for iteration in range(self.start, self.stop):
            rng = np.random.default_rng([self.seed, iteration])
            indices = rng.integers(self.images, size=self.batch_size)[lo:lo + self.share]
            seeds = rng.integers(2**63, size=self.batch_size)[lo:lo + self.share]
            yield [(int(i), int(s)) for i, s in zip(indices, seeds)]


def make_loader(dataset: PatchDataset, batches: IterationBatches, workers: int,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader yielding (LR, HR) uint8 batches in the sampler's order, made by `workers` processes."""
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, pin_memory=pin_memory)


def extract_subimages(files: Sequence[Path], out_dir: Path, size: int = 480, step: int = 240) -> Path:
    """Cut every HR image into `size` x `size` PNG sub-images every `step` pixels (BasicSR-style:
    the last row/column of crops is aligned with the border) and return `out_dir`.

    Cheap to decode during training. Done once: a finished folder is reused as it is.
    """
    out_dir = Path(out_dir)
    if (out_dir / _COMPLETE).is_file():
        return out_dir
    for number, path in enumerate(files):
        image = read_rgb(path)
        h, w = image.shape[:2]
        for y in _starts(h, size, step):
            for x in _starts(w, size, step):
                target = out_dir / f"{number:05d}_{path.stem}_{y:05d}_{x:05d}.png"
                with atomic_path(target) as tmp:
                    Image.fromarray(image[y:y + size, x:x + size]).save(tmp, format="PNG")
    (out_dir / _COMPLETE).write_text(f"{len(files)} images, size {size}, step {step}\n")
    return out_dir


def _starts(length: int, size: int, step: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, step))
    return starts if starts[-1] == length - size else starts + [length - size]
