"""Benchmark evaluation: run networks over (HR, LR) pairs and score them with the community protocol.

The protocol (`protocol()` describes it in words, for the output) is BasicSR's / the MATLAB scripts':
HR cropped to a multiple of the scale; output clamped and rounded to uint8; PSNR and SSIM on the Y
channel of MATLAB's rgb2ycbcr with `scale` pixels cropped from each border; mean over images.

A benchmark's images are compared with its published table as they are read (`SetResult.check`):
a copy that is incomplete or differs is scored, but gets no difference from the paper's number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from srzoo.engine.device import is_out_of_memory
from srzoo.engine.upscaler import Upscaler
from srzoo.errors import SrzooError
from srzoo.evaluation.datasets import Dataset, ImagePair, LrChoice, list_images, load_pairs
from srzoo.evaluation.facts import SetCheck, check_digests
from srzoo.evaluation.metrics import evaluate_pair
from srzoo.fsutil import atomic_path
from srzoo.media.images import Network
from srzoo.zoo.manifest import Scores

__all__ = ["ImageScore", "Contender", "SetResult", "batches", "evaluate", "on_uint8", "measured_scores", "protocol"]

# Largest batch of same-size LR images run together (in LR pixels, and in images).
BATCH_PIXELS = 1 << 16
BATCH_IMAGES = 16

Upscale = Callable[[list[np.ndarray]], list[np.ndarray]]


def protocol(inference: str) -> dict[str, str]:
    """What was measured, in words; `inference` says how the network was run."""
    return {
        "hr": "cropped (top-left) to a multiple of the scale",
        "lr": "'files': the dataset's LR_bicubic/X<s> images (or --lr); 'matlab' (where there are no files): "
              "made from the cropped HR on uint8 like older MATLAB releases (replicated edges, rounded after "
              "each pass: bit-exact with the classic LR files); 'basicsr': made from the cropped HR "
              "by MATLAB-compatible bicubic (Keys a=-0.5, antialiased) on floats in [0, 1] with mirrored "
              "edges, rounded to uint8 once, as BasicSR prepares benchmarks",
        "inference": inference,
        "output": "clamped to [0, 1], x255, rounded to uint8",
        "channel": "Y of MATLAB rgb2ycbcr (BT.601, range 16-235), unrounded",
        "border": "scale pixels cropped from each side",
        "psnr": "10 log10(255^2 / MSE)",
        "ssim": "Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data range 255, "
                "mean over the valid region",
        "mean": "over images",
    }


@dataclass(frozen=True)
class ImageScore:
    """PSNR (dB) and SSIM of one image."""

    name: str
    psnr: float
    ssim: float


@dataclass
class SetResult:
    """The scores of one model at one scale on one dataset."""

    model: str
    scale: int
    dataset: str
    lr: str
    paper: tuple[float, float | None] | None = None
    per_image: list[ImageScore] = field(default_factory=list)
    seconds: float = 0.0
    paper_verified: bool = True
    check: SetCheck | None = None  # a benchmark's copy against its published table

    @property
    def published_set(self) -> bool:
        """Whether the images were the published set (True for folders that are no benchmark)."""
        return self.check is None or self.check.ok

    @property
    def images(self) -> int:
        return len(self.per_image)

    @property
    def psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.per_image]))

    @property
    def ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.per_image]))

    @property
    def delta_psnr(self) -> float | None:
        """Measured minus published PSNR; None without a published number, or when the images were
        not the published set."""
        return None if self.paper is None or not self.published_set else self.psnr - self.paper[0]

    def record(self, per_image: bool = False) -> dict[str, Any]:
        """The JSON record of this result (`per_image` adds every image's numbers)."""
        data: dict[str, Any] = {
            "model": self.model, "scale": self.scale, "dataset": self.dataset, "images": self.images,
            "psnr": self.psnr, "ssim": self.ssim,
            "paper_psnr": self.paper[0] if self.paper else None,
            "paper_ssim": self.paper[1] if self.paper else None,
            "delta_psnr": self.delta_psnr, "paper_verified": self.paper_verified, "lr": self.lr,
            "seconds": round(self.seconds, 3),
            "published_set": self.published_set,
            "set_check": None if self.check is None else self.check.summary(),
        }
        if per_image:
            data["per_image"] = [{"image": s.name, "psnr": s.psnr, "ssim": s.ssim} for s in self.per_image]
        return data


@dataclass
class Contender:
    """One network to evaluate: its name for the results, its upscaler, and its published numbers
    (`paper_verified` False: not the authors' numbers)."""

    model: str
    upscale: Upscale
    paper: Scores = field(default_factory=dict)
    paper_verified: bool = True


def _float32(network: Network) -> Network:
    return network.exact() if isinstance(network, Upscaler) else network


def on_uint8(network: Network, device: torch.device | str = "cpu", fallback: Network | None = None) -> Upscale:
    """Wrap a float network (B, 3, h, w) in [0, 1] -> (B, 3, sh, sw) to take and give uint8 RGB images.

    The batch is a list of same-size (h, w, 3) arrays; the output is clamped, x255 and rounded. When
    a batch does not fit in memory its images are run one at a time, and an image that still does not
    fit goes through `fallback` (a tiled upscaler), or raises an error that suggests --tile.
    """
    # The evaluation protocol is float32: an engine left at precision "auto" (which may pick
    # bf16 on this machine) is switched to float32; an explicit precision is kept.
    network, fallback = _float32(network), (None if fallback is None else _float32(fallback))

    def run(lrs: list[np.ndarray], net: Network) -> list[np.ndarray]:
        batch = torch.from_numpy(np.stack(lrs)).to(device).permute(0, 3, 1, 2).float().div_(255)
        with torch.inference_mode():
            out = net(batch).float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)
        return list(out.permute(0, 2, 3, 1).cpu().numpy())

    def upscale(lrs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return run(lrs, network)
        except ValueError as exc:  # a network's own check, e.g. an input below its minimum size
            raise SrzooError(str(exc)) from exc
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
        if len(lrs) > 1:
            return [sr for lr in lrs for sr in upscale([lr])]
        if fallback is None:
            h, w = lrs[0].shape[:2]
            raise SrzooError(f"a {w}x{h} LR image does not fit in memory on {device}; use --tile N")
        return run(lrs, fallback)

    return upscale


def batches(pairs: Iterable[ImagePair], max_pixels: int = BATCH_PIXELS,
            max_images: int = BATCH_IMAGES) -> Iterator[list[ImagePair]]:
    """Group pairs whose LR images have the same size, up to `max_pixels` LR pixels per batch.

    Only a bounded number of images is held back waiting for a partner of the same size.
    """
    pending: dict[tuple[int, ...], list[ImagePair]] = {}
    for pair in pairs:
        group = pending.setdefault(pair.lr.shape, [])
        group.append(pair)
        if len(group) >= _batch_size(pair.lr.shape, max_pixels, max_images):
            yield pending.pop(pair.lr.shape)
        elif sum(map(len, pending.values())) > max_images:
            yield pending.pop(max(pending, key=lambda k: len(pending[k])))
    yield from pending.values()


def _batch_size(shape: tuple[int, ...], max_pixels: int, max_images: int) -> int:
    return max(1, min(max_images, max_pixels // (shape[0] * shape[1])))


def evaluate(contenders: list[Contender], dataset: Dataset, scale: int, save_dir: Path | None = None,
             lr: LrChoice = "auto", on_images: Callable[[int], None] | None = None) -> list[SetResult]:
    """Every job's scores on `dataset` at `scale`; each image is read (and its LR made) only once.
    `on_images(n)` is told after each batch of n images is scored by every job. A benchmark's
    images are checked against its published table on the way (`SetResult.check`)."""
    source = dataset.lr_source(scale, lr)
    results = [SetResult(job.model, scale, dataset.name, source, job.paper.get(dataset.name),
                         paper_verified=job.paper_verified) for job in contenders]
    digests: dict[str, tuple[int, int, str] | None] = {path.stem: None for path in list_images(dataset.hr_dir)}
    for batch in batches(load_pairs(dataset, scale, lr)):
        digests.update((pair.name, pair.digest) for pair in batch)
        for job, result in zip(contenders, results):
            start = time.perf_counter()
            srs = job.upscale([pair.lr for pair in batch])
            result.per_image += [_score(pair, sr, scale) for pair, sr in zip(batch, srs)]
            result.seconds += time.perf_counter() - start
            if save_dir is not None:
                _save(save_dir / f"{job.model}_x{scale}" / dataset.name, batch, srs)
        if on_images is not None:
            on_images(len(batch))
    check = check_digests(dataset.benchmark, digests) if dataset.benchmark else None
    for result in results:
        result.per_image.sort(key=lambda s: s.name)
        result.check = check
    return results


def _score(pair: ImagePair, sr: np.ndarray, scale: int) -> ImageScore:
    return ImageScore(pair.name, *evaluate_pair(sr, pair.hr, scale))


def _save(folder: Path, batch: list[ImagePair], srs: list[np.ndarray]) -> None:
    """Write the SR images as PNG, each under a temporary name first."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for pair, sr in zip(batch, srs):
            with atomic_path(folder / f"{pair.name}.png") as tmp:
                Image.fromarray(sr).save(tmp, format="PNG")
    except OSError as exc:
        raise SrzooError(f"cannot write the SR images to {folder}: {exc.strerror or exc}") from exc


def measured_scores(results: list[SetResult]) -> dict[tuple[str, int], Scores]:
    """The results as (entry name, scale) -> {dataset: (PSNR, SSIM)}, for `srzoo.zoo.manifest.update_measured`."""
    scores: dict[tuple[str, int], Scores] = {}
    for result in results:
        scores.setdefault((result.model, result.scale), {})[result.dataset] = (result.psnr, result.ssim)
    return scores
