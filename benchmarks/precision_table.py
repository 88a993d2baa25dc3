"""Reduced precision against float32 on real photos, official x4 weights, every family.

For each family and precision, the engine's output (whole images, uint8) is compared with the
float32 output of the same engine: PSNR (RGB, 255 scale) averaged over the images, the largest
difference in uint8 levels, and the share of differing values.

    python benchmarks/precision_table.py [--shared /work/shared] [--set Set5] [--precisions bf16]
        [--device cpu] [--limit N] [--crop 0] [--threads 2]

`--crop N` uses the top-left N x N of each LR image (quick runs, e.g. the GPU script's dry run).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiling_table import CHECKPOINTS, load  # noqa: E402

from srzoo.engine.upscaler import Upscaler  # noqa: E402
from srzoo.models import get_family  # noqa: E402


def lr_images(shared: Path, name: str, limit: int, crop: int) -> list[torch.Tensor]:
    folder = shared / "datasets" / name / "LR_bicubic" / "X4"
    images = []
    for path in sorted(folder.iterdir())[:limit or None]:
        pixels = np.array(Image.open(path).convert("RGB"))
        if crop:
            pixels = pixels[:crop, :crop]
        images.append(torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255)
    return images


def compare(model: torch.nn.Module, name: str, images: list[torch.Tensor], precision: str,
            device: str, backend: str = "torch") -> tuple[float, int, float]:
    """(mean PSNR dB, max |diff| in levels, share of differing values) against float32 (torch)."""
    exact = Upscaler(model, name, 4, device=device, precision="fp32", tile=0, backend="torch")
    reduced = Upscaler(model, name, 4, device=device, precision=precision, tile=0, backend=backend)
    psnrs, worst, differing, total = [], 0, 0, 0
    for lr in images:
        a, b = exact.quantised(lr).int(), reduced.quantised(lr).int()
        mse = (a - b).double().pow(2).mean().item()
        psnrs.append(math.inf if mse == 0 else 10 * math.log10(255**2 / mse))
        worst = max(worst, int((a - b).abs().max()))
        differing += int((a != b).sum())
        total += a.numel()
    finite = [p for p in psnrs if math.isfinite(p)]
    mean = sum(finite) / len(finite) if finite else math.inf
    return mean, worst, differing / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("/work/shared"))
    parser.add_argument("--set", default="Set5")
    parser.add_argument("--precisions", default="bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=0, help="first N images (0: all)")
    parser.add_argument("--crop", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(CHECKPOINTS))
    parser.add_argument("--backends", default="torch", help="e.g. torch,openvino")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = lr_images(args.shared, args.set, args.limit, args.crop)
    print(f"{args.set} genuine x4 LR inputs ({len(images)} images), {args.device}, "
          "uint8 outputs against float32\n")
    print("| model | precision | back-end | PSNR vs float32 | max difference (levels) | differing values |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model = load(args.shared, name)
        for precision in args.precisions.split(","):
            for backend in args.backends.split(","):
                psnr, worst, share = compare(model, name, images, precision, args.device, backend)
                print(f"| {get_family(name).title} | {precision} | {backend} | {psnr:.2f} dB | {worst} "
                      f"| {100 * share:.2f} % |", flush=True)


if __name__ == "__main__":
    main()
