"""What the benchmark images are, and whether a copy holds exactly them.

`benchmarks.tsv` (package data) lists every HR image of Set5, Set14, B100, Urban100 and Manga109:
its name (the file stem), width, height and the sha256 of its decoded pixels as uint8 RGB
(`pixel_sha256`: Pillow's `convert("RGB")`, then the row-major bytes), so that a grey PNG and its
RGB copy, or a JPEG and its lossless re-encoding, hash alike. Every fetched set is checked against
it before it is stored, and every set on disk while it is evaluated (`SetCheck`).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from srzoo.errors import SrzooError

__all__ = ["FACTS_PATH", "ImageFact", "SetCheck", "benchmark_facts", "check_digests", "file_digest",
           "pixel_sha256"]

FACTS_PATH = Path(__file__).resolve().with_name("benchmarks.tsv")
_SHOWN = 5  # image names listed in a one-line summary before "and N more"


@dataclass(frozen=True)
class ImageFact:
    """One benchmark image as published: its name (file stem), size and pixel hash."""

    name: str
    width: int
    height: int
    sha256: str


@dataclass(frozen=True)
class SetCheck:
    """How a copy of a benchmark compares with its table: images missing, differing, or not in it."""

    dataset: str
    expected: int
    missing: tuple[str, ...] = ()
    differing: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Every published image is there with its published pixels, and nothing else."""
        return not (self.missing or self.differing or self.unknown)

    def summary(self) -> str:
        """One line: "as published (5 images)", or what is missing, differs or is extra, by name."""
        if self.ok:
            return f"as published ({self.expected} images)"
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} of {self.expected} images missing ({_names(self.missing)})")
        if self.differing:
            parts.append(f"{len(self.differing)} differ from the published pixels ({_names(self.differing)})")
        if self.unknown:
            parts.append(f"{len(self.unknown)} not in {self.dataset} ({_names(self.unknown)})")
        return "; ".join(parts)


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def benchmark_facts(dataset: str) -> dict[str, ImageFact]:
    """The published images of `dataset` (canonical name) by name; empty for a set not in the table."""
    return _load(FACTS_PATH).get(dataset, {})


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, dict[str, ImageFact]]:
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    except OSError as exc:
        raise SrzooError(f"cannot read the benchmark table {path}: {exc.strerror or exc}") from exc
    table: dict[str, dict[str, ImageFact]] = {}
    for row in csv.DictReader(lines, delimiter="\t"):
        fact = ImageFact(row["name"], int(row["width"]), int(row["height"]), row["sha256"])
        table.setdefault(row["set"], {})[fact.name] = fact
    return table


def pixel_sha256(rgb: np.ndarray) -> str:
    """sha256 of a uint8 (H, W, 3) image's row-major bytes."""
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def file_digest(path: Path) -> tuple[int, int, str]:
    """(width, height, pixel sha256) of an image file decoded as RGB; one-line error if unreadable."""
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SrzooError(f"cannot read image {path}: {exc}") from exc
    return rgb.shape[1], rgb.shape[0], pixel_sha256(rgb)


def check_digests(dataset: str, digests: dict[str, tuple[int, int, str] | None]) -> SetCheck:
    """Compare a copy with `dataset`'s table. `digests` maps each image name of the copy to its
    (width, height, pixel sha256), or to None where only its presence is known (not compared)."""
    facts = benchmark_facts(dataset)
    differing = tuple(sorted(name for name, digest in digests.items() if name in facts and digest is not None
                             and digest != (facts[name].width, facts[name].height, facts[name].sha256)))
    return SetCheck(dataset, len(facts), tuple(sorted(set(facts) - set(digests))), differing,
                    tuple(sorted(set(digests) - set(facts))))
