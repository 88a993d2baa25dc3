"""Make docs/before_after.png: an LR crop upscaled x4 by bicubic and by srzoo, next to the HR truth.

    SRZOO_WEIGHTS_DIR=... python docs/make_figure.py --shared ../shared [--model alkdn]

The LR input is the genuine MATLAB x4 LR file of Urban100 img_092; the whole image is upscaled and
the same region of every panel is shown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import srzoo
from srzoo.evaluation.metrics import evaluate_pair

PANEL = 256  # HR pixels per panel side
LABEL = 22  # pixels of caption strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--model", default="alkdn")
    parser.add_argument("--image", default="img_092")
    parser.add_argument("--at", type=int, nargs=2, default=(400, 560), metavar=("TOP", "LEFT"),
                        help="top-left corner of the crop, HR pixels")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "before_after.png")
    args = parser.parse_args()
    root = args.shared / "datasets" / "Urban100"
    hr = Image.open(root / "HR" / f"{args.image}.webp").convert("RGB")
    lr = Image.open(root / "LR_bicubic" / "X4" / f"{args.image}x4.webp").convert("RGB")
    hr = hr.crop((0, 0, lr.width * 4, lr.height * 4))
    sr = srzoo.upscale(lr, model=args.model, scale=4)
    bicubic = lr.resize(hr.size, Image.BICUBIC)
    top, left = args.at
    box = (left, top, left + PANEL, top + PANEL)
    panels = [("LR (nearest x4)", lr.resize(hr.size, Image.NEAREST)), ("bicubic x4", bicubic),
              (f"srzoo {args.model} x4", sr), ("HR", hr)]
    figure = Image.new("RGB", (PANEL * len(panels) + 4 * (len(panels) - 1), PANEL + LABEL), "white")
    draw = ImageDraw.Draw(figure)
    for i, (title, image) in enumerate(panels):
        x = i * (PANEL + 4)
        figure.paste(image.crop(box), (x, LABEL))
        if title != "HR" and "LR" not in title:
            psnr, _ = evaluate_pair(np.asarray(image), np.asarray(hr), 4)
            title = f"{title}   (whole image: {psnr:.2f} dB Y-PSNR)"
        draw.text((x + 4, 4), title, fill="black")
    figure.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
