"""int8 post-training quantisation (NNCF on OpenVINO) against float32: speed and quality cost.

For each family at x4: the network is exported to OpenVINO (float32, dynamic input size) and
quantised with NNCF's post-training quantisation, calibrated on LR crops that srzoo makes from
the T91 training images (MATLAB bicubic; never a test set). Both graphs are then timed side by
side on one LR size (interleaved, median) and run on the benchmarks' genuine LR inputs, and the
PSNR/SSIM (Y, border = scale) of each is printed with the difference.

Needs `pip install 'srzoo[fast]' nncf` and the official weights and datasets:

    python benchmarks/int8_table.py --weights-dir ../shared/weights/official \
        --data-root ../shared/datasets --dataset Set5 --dataset Urban100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from srzoo.evaluation.datasets import find_dataset, list_images, load_pairs, read_rgb
from srzoo.evaluation.imresize import make_lr
from srzoo.evaluation.metrics import evaluate_pair
from srzoo.zoo.resolve import load_pretrained

WEIGHTS = {  # family -> official x4 file under --weights-dir
    "lkdn": "lkdn/LKDN_x4.pth",
    "lkdn-s": "lkdn/LKDN-S_x4.pth",
    "alkdn": "alkdn/net_g_ALKDN_x4.pth",
    "aidn": "aidn/team14_arfdn.pth",
    "ddistill": "ddistill/DDistill-SRx4_inference.pth",
}
SCALE = 4


def calibration_crops(train_dir: Path, count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """`count` random size x size LR crops (float32 NCHW in [0, 1]) of T91 images made x4 smaller."""
    rng = np.random.default_rng(seed)
    images = list_images(train_dir)
    crops = []
    for i in range(count):
        lr = make_lr(read_rgb(images[i % len(images)]), SCALE, "matlab")
        top = int(rng.integers(0, max(1, lr.shape[0] - size + 1)))
        left = int(rng.integers(0, max(1, lr.shape[1] - size + 1)))
        crop = lr[top:top + size, left:left + size]
        crops.append(np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32) / 255)
    return crops


def to_uint8(output: np.ndarray) -> np.ndarray:
    return (np.clip(output[0].transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights-dir", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--dataset", action="append", default=None)
    parser.add_argument("-m", "--model", action="append", default=None)
    parser.add_argument("--calibration", type=int, default=64, help="calibration crops")
    parser.add_argument("--size", type=int, default=128, help="LR size timed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--preset", choices=("performance", "mixed"), default="performance",
                        help="NNCF preset: symmetric activations, or asymmetric ones")
    args = parser.parse_args()

    import nncf  # type: ignore[import-not-found]
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": args.threads, "INFERENCE_PRECISION_HINT": "f32"}
    crops = calibration_crops(args.data_root / "train" / "T91" / "HR", args.calibration, 64)
    rng = np.random.default_rng(1)
    timed = rng.random((1, 3, args.size, args.size), dtype=np.float32)
    print("| model | float32 ms | int8 ms | int8 speed | dataset | float32 PSNR/SSIM | int8 PSNR/SSIM | "
          "cost dB |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.model or list(WEIGHTS):
        net = load_pretrained(name, SCALE, args.weights_dir / WEIGHTS[name])
        with torch.no_grad():
            graph = ov.convert_model(net, example_input=torch.from_numpy(crops[0]),
                                     input=[ov.PartialShape([1, 3, -1, -1])])
        preset = nncf.QuantizationPreset.MIXED if args.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE
        try:
            quantised = nncf.quantize(graph, nncf.Dataset(crops), subset_size=len(crops), preset=preset)
        except ValueError as exc:  # NNCF 3.4's bias correction fails on DDistill-SR's graph
            print(f"{name}: NNCF failed ({exc}); quantising again without bias correction", file=sys.stderr)
            quantised = nncf.quantize(graph, nncf.Dataset(crops), subset_size=len(crops), preset=preset,
                                      advanced_parameters=nncf.AdvancedQuantizationParameters(
                                          disable_bias_correction=True))
        compiled = {"fp32": core.compile_model(graph, "CPU", config),
                    "int8": core.compile_model(quantised, "CPU", config)}
        times: dict[str, list[float]] = {k: [] for k in compiled}
        for model in compiled.values():
            model(timed)
        for _ in range(args.repeat):
            for k, model in compiled.items():
                start = time.perf_counter()
                model(timed)
                times[k].append(time.perf_counter() - start)
        f32_ms, int8_ms = (statistics.median(times[k]) * 1000 for k in ("fp32", "int8"))
        for dataset_name in args.dataset or ["Set5"]:
            scores: dict[str, list[tuple[float, float]]] = {k: [] for k in compiled}
            for pair in load_pairs(find_dataset(dataset_name, args.data_root), SCALE):
                lr = np.ascontiguousarray(pair.lr.transpose(2, 0, 1)[None], dtype=np.float32) / 255
                for k, model in compiled.items():
                    sr = to_uint8(next(iter(model(lr).values())))
                    scores[k].append(evaluate_pair(sr, pair.hr, SCALE))
            mean = {k: (np.mean([s[0] for s in v]), np.mean([s[1] for s in v])) for k, v in scores.items()}
            print(f"| {name} | {f32_ms:.0f} | {int8_ms:.0f} | {f32_ms / int8_ms:.2f}x | {dataset_name} | "
                  f"{mean['fp32'][0]:.2f} / {mean['fp32'][1]:.4f} | {mean['int8'][0]:.2f} / {mean['int8'][1]:.4f} | "
                  f"{mean['fp32'][0] - mean['int8'][0]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
