"""Tiled vs whole-image inference for every family, official x4 weights, on a 512x512 LR photo.

Prints a markdown table: PSNR (uint8 outputs) of the tiled result against the whole-image one
with the default overlap, how many uint8 values differ, and for the families with
ChannelMoments the same without the whole-image statistics pass (tile-local statistics).

    python benchmarks/tiling_table.py [--shared /work/shared] [--tile 192] [--image PATH] [--threads 1]

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

from srzoo.zoo.convert import import_checkpoint
from srzoo.inference import Upscaler
from srzoo.models import build_model, get_family

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
    parser.add_argument("--image", type=Path, default=None, help="default: Set5 baby.webp")
    parser.add_argument("--tile", type=int, default=192, help="LR tile size (several tiles)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = args.image or args.shared / "datasets" / "Set5" / "HR" / "baby.webp"
    pixels = np.array(Image.open(path).convert("RGB"))
    lr = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255

    print(f"LR input: {path.name} {lr.shape[-1]}x{lr.shape[-2]}, x4, float32 on the CPU "
          f"({args.threads} thread(s)), tile {args.tile} px\n")
    print("| model | overlap (LR px) | tiles | PSNR tiled vs whole | differing uint8 values "
          "| tile-local statistics | time whole / tiled |")
    print("|---|---|---|---|---|---|---|")
    for name in CHECKPOINTS:
        model = load(args.shared, name)
        whole = Upscaler(model, name, 4, device="cpu", tile=0)
        tiled = Upscaler(model, name, 4, device="cpu", tile=args.tile)
        started = time.perf_counter()
        reference = whole.quantised(lr)
        middle = time.perf_counter()
        tiles: list[int] = []
        result = tiled.quantised(lr, on_tile=lambda done, total: tiles.append(total))
        ended = time.perf_counter()
        local = "n/a"
        if tiled.moments[0]:
            tiled.moments = [[] for _ in tiled.moments]  # skip the statistics pass
            local = f"{psnr_uint8(tiled.quantised(lr), reference):.2f} dB"
        differing = int((result != reference).sum())
        passes = 2 if local != "n/a" else 1
        print(f"| {get_family(name).title} | {tiled.overlap} | {tiles[-1] // passes} "
              f"| {psnr_uint8(result, reference):.2f} dB | {differing} / {result.numel()} | {local} "
              f"| {middle - started:.0f} s / {ended - middle:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
