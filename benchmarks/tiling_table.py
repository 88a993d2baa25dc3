"""Tiled vs whole-image inference for every family, official x4 weights, float32, on an LR photo.

For each tile size, prints a markdown row per family: the largest float32 difference and the
number of differing uint8 values of breadth-first tiling against the whole image, the same for
the overlap scheme, which of the two `auto` picks, and the times of the whole image and of
both schemes.

    python benchmarks/tiling_table.py [--shared /work/shared] [--tiles 48,96,192] [--image PATH]
        [--crop 240x200] [--threads 1]

With more than one CPU thread, oneDNN's reduction order in some convolutions depends on the map
size, so tile and whole image can differ by float32 rounding (~1e-7) and a few uint8 values of the
local families flip by one level; with one thread the kernels are size-independent.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srzoo.engine.upscaler import Upscaler
from srzoo.models import build_model, get_family
from srzoo.zoo.convert import import_checkpoint

CHECKPOINTS = {
    "lkdn": "lkdn/LKDN_x4.pth",
    "lkdn-s": "lkdn/LKDN-S_x4.pth",
    "alkdn": "alkdn/net_g_ALKDN_x4.pth",
    "aidn": "aidn/team14_arfdn.pth",
    "ddistill": "ddistill/DDistill-SRx4_inference.pth",
}


def psnr_uint8(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def load(shared: Path, name: str) -> torch.nn.Module:
    state, meta = import_checkpoint(shared / "weights" / "official" / CHECKPOINTS[name], name, 4)
    model = build_model(name, 4, meta["form"])  # LKDN-S: training form, folded by the Upscaler
    model.load_state_dict(state)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("/work/shared"))
    parser.add_argument("--image", type=Path, default=None, help="default: Set14 baboon.webp")
    parser.add_argument("--crop", default="240x200", help="WxH crop from the top left (0: whole)")
    parser.add_argument("--tiles", default="48,96,192", help="LR tile sizes")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = args.image or args.shared / "datasets" / "Set14" / "HR" / "baboon.webp"
    pixels = np.array(Image.open(path).convert("RGB"))
    if args.crop != "0":
        w, h = (int(v) for v in args.crop.split("x"))
        pixels = pixels[:h, :w]
    lr = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255
    sizes = [int(t) for t in args.tiles.split(",")]
    print(f"LR input: {path.name} {lr.shape[-1]}x{lr.shape[-2]}, x4, float32 on the CPU "
          f"({args.threads} thread(s))\n")
    print("| model | tile | tiles | breadth-first: max float diff / differing uint8 | overlap: max float "
          "diff / PSNR / differing uint8 | auto | time whole / breadth-first / overlap |")
    print("|---|---|---|---|---|---|---|")
    for name in CHECKPOINTS:
        model = load(args.shared, name)
        whole = Upscaler(model, name, 4, device="cpu", precision="fp32", tile=0)
        started = time.perf_counter()
        reference = whole(lr)
        t_whole = time.perf_counter() - started
        ref8 = reference.mul(255).round().to(torch.uint8)
        for size in sizes:
            auto = Upscaler(model, name, 4, device="cpu", precision="fp32", tile=size, tiling="breadth-first")
            chosen = Upscaler(model, name, 4, device="cpu", precision="fp32", tile=size).tiling_used
            overlap = Upscaler(model, name, 4, device="cpu", precision="fp32", tile=size, tiling="overlap")
            started = time.perf_counter()
            result = auto(lr)
            t_auto = time.perf_counter() - started
            started = time.perf_counter()
            old = overlap(lr)
            t_old = time.perf_counter() - started
            res8, old8 = (r.mul(255).round().to(torch.uint8) for r in (result, old))
            tiles = len(auto._plan(lr.shape[-2], lr.shape[-1], size) or [1])
            print(f"| {get_family(name).title} | {size} | {tiles} "
                  f"| {(result - reference).abs().max().item():.1e} / {int((res8 != ref8).sum())} "
                  f"| {(old - reference).abs().max().item():.1e} / {psnr_uint8(old8, ref8):.2f} dB / "
                  f"{int((old8 != ref8).sum())} | {chosen} "
                  f"| {t_whole:.1f} s / {t_auto:.1f} s / {t_old:.1f} s |", flush=True)
        print(f"(uint8 values per output: {ref8.numel()})", flush=True)


if __name__ == "__main__":
    main()
