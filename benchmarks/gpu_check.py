"""The GPU check, one table: reduced precision vs float32, `srzoo bench`, and a 1080p -> 4K video.

On a CUDA machine (`benchmarks/gpu.sh` runs it under an 8-minute limit):

1. fp16 and bf16 against float32 for every family, official x4 weights, on Set5's genuine x4 LR
   photos (uint8 outputs: PSNR, max difference in levels);
2. `srzoo bench` throughput of every family at x4 on a 256x256 and a 512x512 LR input (plain
   float32 forward, the engine at auto, fp32, fp16, bf16, channels-last as the engine picks);
3. a 1080p -> 4K x2 LKDN video (`srzoo upscale clip.mp4`, auto precision): frames per second.

`--dry-run` runs every code path on the CPU with tiny sizes (the test suite does this).

    python benchmarks/gpu_check.py [--shared /work/shared] [--device cuda] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from precision_table import compare, lr_images  # noqa: E402
from tiling_table import CHECKPOINTS, load  # noqa: E402

from srzoo.evaluation.bench import bench_model  # noqa: E402
from srzoo.models import get_family  # noqa: E402


def make_clip(path: Path, width: int, height: int, frames: int, photo: Path) -> None:
    """A clip of `frames` frames panning across a photo, H.264 (or MPEG-4 where x264 is absent)."""
    import av

    base = Image.open(photo).convert("RGB").resize((width + frames * 2, height), Image.BICUBIC)
    pixels = np.array(base)
    with av.open(str(path), "w") as out:
        try:
            stream = out.add_stream("libx264", rate=24)
        except Exception:  # noqa: BLE001 - an FFmpeg build without x264
            stream = out.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[:, 2 * i:2 * i + width]), "rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def video_fps(shared: Path, device: str, width: int, height: int, frames: int, work: Path) -> tuple[float, str]:
    clip, out = work / "clip.mp4", work / "clip_x2.mp4"
    make_clip(clip, width, height, frames, shared / "datasets" / "Set14" / "HR" / "baboon.webp")
    env = {**os.environ, "SRZOO_WEIGHTS_DIR": str(work / "weights")}
    subprocess.run([sys.executable, "-m", "srzoo", "zoo", "import", "--all", str(shared / "weights" / "official")],
                   check=True, env=env, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "srzoo", "upscale", str(clip), "-m", "lkdn", "-s", "2", "-o", str(out),
                           "--device", device, "--json", "-q"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return 0.0, f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    summary = json.loads(done.stdout)
    made = summary["outputs"][0].get("frames", frames)
    return made / seconds, f"{made} frames {width}x{height} -> {2 * width}x{2 * height} in {seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("SRZOO_SHARED", "/work/shared")))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: every code path, quickly")
    args = parser.parse_args()
    dry = args.dry_run
    device = "cpu" if dry else args.device
    if not dry and not torch.cuda.is_available():
        sys.exit("no CUDA device (use --dry-run to check the script on a CPU)")
    rows: list[str] = []
    started = time.perf_counter()

    images = lr_images(args.shared, "Set5", 1 if dry else 0, 24 if dry else 0)
    for name in CHECKPOINTS:
        model = load(args.shared, name)
        for precision in ("fp16", "bf16"):
            psnr, worst, share = compare(model, name, images, precision, device)
            rows.append(f"| precision | {get_family(name).title} | {precision} vs fp32, Set5 | "
                        f"{psnr:.2f} dB, max {worst} levels, {100 * share:.2f} % differ |")

    sizes = [(16, 16)] if dry else [(256, 256), (512, 512)]
    precisions = ["auto", "fp32"] if dry else ["auto", "fp32", "fp16", "bf16"]
    for name in CHECKPOINTS:
        for size in sizes:
            for r in bench_model(name, 4, size, device, precisions, ["0"], 1 if dry else 5, 0 if dry else 2):
                rows.append(f"| bench | {get_family(name).title} | x4 LR {size[0]}x{size[1]}, {r.precision}, "
                            f"{r.tile}, {r.layout} | {r.mpx_per_s:.2f} MP/s "
                            f"({r.ratio_to_plain_fp32:.2f}x plain fp32) |")

    with tempfile.TemporaryDirectory() as tmp:
        w, h, n = (64, 36, 3) if dry else (1920, 1080, 48)
        fps, how = video_fps(args.shared, device, w, h, n, Path(tmp))
        rows.append(f"| video | LKDN x2 | {how} | {fps:.2f} frames/s |")

    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU (dry run)"
    print(f"GPU check on {name}, torch {torch.__version__}, {time.perf_counter() - started:.0f} s\n")
    print("| part | model | setting | result |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
