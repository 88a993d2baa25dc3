"""Retrain the four srzoo-trained zoo entries (LKDN-S x2/x3, AIDN x2/x3) on one CUDA GPU, then
evaluate them: one call, about 10 minutes of wall time.

Each entry is `srzoo train FAMILY --scale S --finetune` (the zoo's recipe: the family's x4 weights,
the upsampler resampled and trained first, then the whole network, distilled from the bundled
LKDN) at GPU sizes: bf16 autocast, channels-last, the images and the teacher's outputs held in
memory and cut into batches in the training process, batch 64, LR patch 64. The four runs share
the GPU as four processes (one of these networks alone fills a small part of an H100). Then
`srzoo eval` measures Set5, Set14, B100 and Urban100 and a table compares the result with
zoo.toml's entry.

    benchmarks/train_gpu.sh              # on a CUDA machine, from the repository root
    benchmarks/train_gpu.sh --dry-run    # the same steps on the CPU: 2+2 iterations, tiny images

SRZOO_SHARED (default ../shared) holds the official weights (imported into a fresh weights folder
under --out) and the datasets. The iteration count is a guess at what fits in the time, not a
measurement: nothing here has run on a GPU yet. Give --iters to change it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ENTRIES = (("lkdn-s", 2), ("lkdn-s", 3), ("aidn", 2), ("aidn", 3))
SETS = ("Set5", "Set14", "B100", "Urban100")


def srzoo(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """Start `srzoo ARGS` (stdout and stderr to `log`, else captured)."""
    out = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "srzoo", *args], env=env, stdout=out,
                            stderr=subprocess.STDOUT if log else subprocess.PIPE, text=True)


def tiny_data(shared: Path, folder: Path) -> tuple[Path, Path]:
    """Dry run: 4 training crops and 2 evaluation crops of T91 (72 px)."""
    sources = sorted((shared / "datasets" / "train" / "T91").rglob("*.webp"))[:6]
    for name in ("train", "val"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(sources):
        crop = np.asarray(Image.open(path).convert("RGB"))[:72, :72]
        Image.fromarray(crop).save(folder / ("train" if index < 4 else "val") / f"{path.stem}.png")
    return folder / "train", folder / "val"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("SRZOO_SHARED", "../shared")))
    parser.add_argument("--out", type=Path, default=Path("runs/gpu"))
    parser.add_argument("--iters", default="300,2700")
    parser.add_argument("--batch-size", default="64")
    parser.add_argument("--patch-size", default="64")
    parser.add_argument("--dry-run", action="store_true", help="CPU, 2+2 iterations, tiny images")
    args = parser.parse_args()
    shared, out = args.shared.resolve(), args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    env = {**os.environ, "SRZOO_WEIGHTS_DIR": str(out / "weights"), "SRZOO_DATA": str(shared / "datasets"),
           "HF_HUB_OFFLINE": "1"}
    if args.dry_run:
        data, val = tiny_data(shared, out / "data")
        device = ["--device", "cpu", "--threads", "1"]
        sizes = ["--iters", "2,2", "--batch-size", "2", "--patch-size", "16"]
        evaluation = ["--hr", str(val)]
    else:
        data = shared / "datasets" / "train"
        device = ["--device", "cuda", "--precision", "bf16", "--channels-last"]
        sizes = ["--iters", args.iters, "--batch-size", args.batch_size, "--patch-size", args.patch_size]
        evaluation = [arg for name in SETS for arg in ("-d", name)]
    began = time.perf_counter()
    imported = srzoo("zoo", "import", "--all", str(shared / "weights" / "official"), env=env)
    imported.communicate()
    runs = {}
    for family, scale in ENTRIES:
        name = f"{family}_x{scale}"
        runs[name] = srzoo("train", family, "--scale", str(scale), "--finetune", "--data", str(data), *sizes,
                           *device, "--val", "none", "--checkpoint-every", "500", "--run-dir", str(out / name),
                           "-o", str(out / f"{name}.safetensors"), env=env, log=out / f"{name}.log")
    failed = [name for name, run in runs.items() if run.wait() != 0]
    trained = time.perf_counter() - began
    print(f"trained {len(runs) - len(failed)} of {len(runs)} entries in {trained:.0f} s"
          + (f"; failed: {', '.join(failed)} (see {out}/<name>.log)" if failed else ""))
    print("| entry | " + " | ".join(SETS if not args.dry_run else ["tiny"]) + " | zoo.toml |")
    print("|---|" + "---|" * (len(SETS) + 1 if not args.dry_run else 2))
    manifest = _manifest_rows()
    for family, scale in ENTRIES:
        name = f"{family}_x{scale}"
        if name in failed:
            continue
        done = srzoo("eval", "-m", family, "-s", str(scale), "--weights", str(out / f"{name}.safetensors"),
                     *evaluation, *device[:2], "--json", env=env)
        stdout, stderr = done.communicate()
        if done.returncode != 0:
            print(f"| {family} x{scale} | eval failed: {stderr.strip().splitlines()[-1]} |")
            continue
        scores = {r["dataset"]: r["psnr"] for r in json.loads(stdout)["results"]}
        cells = [f"{psnr:.3f}" for psnr in scores.values()]
        print(f"| {family} x{scale} | " + " | ".join(cells) + f" | {manifest.get((family, scale), '-')} |")
    print(f"total {time.perf_counter() - began:.0f} s")
    sys.exit(1 if failed else 0)


def _manifest_rows() -> dict[tuple[str, int], str]:
    """zoo.toml's measured Set5..Urban100 PSNR per entry, as one cell."""
    from srzoo.zoo.manifest import load_manifest

    rows = {}
    for entry in load_manifest():
        measured = getattr(entry, "measured", None) or {}
        if measured:
            rows[(entry.name, entry.scale)] = " / ".join(f"{measured[s][0]:.3f}" for s in SETS if s in measured)
    return rows


if __name__ == "__main__":
    main()
