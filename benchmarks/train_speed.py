"""Training throughput on the CPU: precision, memory format, threads and how batches are fed.

Every configuration runs `srzoo train`'s own loop (`srzoo.train.loop.train`) for a few iterations
of the same data, one after the other in one process, and reports iterations per second (timed
after the first three iterations) and the ratio to the first configuration, today's old default:
float32, contiguous, one thread, a DataLoader with a worker process per core.

    python benchmarks/train_speed.py [--data ../shared/datasets/train] [--models lkdn-s,aidn]
        [--scale 2] [--batch-size 16] [--patch-size 48] [--iters 20] [--markdown]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from srzoo.train.config import Runtime, TrainConfig
from srzoo.train.loop import train
from srzoo.train.recipes import recipe_for


@dataclass(frozen=True)
class Setting:
    label: str
    precision: str
    channels_last: bool
    threads: int
    workers: int  # 0: batches cut in the training process from images held in memory


SETTINGS = (
    Setting("fp32, DataLoader (2 workers), 1 thread", "fp32", False, 1, 2),
    Setting("fp32, in memory, 1 thread", "fp32", False, 1, 0),
    Setting("fp32 + channels-last, in memory, 1 thread", "fp32", True, 1, 0),
    Setting("bf16, in memory, 1 thread", "bf16", False, 1, 0),
    Setting("bf16 + channels-last, in memory, 1 thread", "bf16", True, 1, 0),
    Setting("bf16 + channels-last, in memory, 2 threads", "bf16", True, 2, 0),
    Setting("fp32 + channels-last, in memory, 2 threads", "fp32", True, 2, 0),
)


def measure(model: str, scale: int, data: str, batch: int, patch: int, iters: int, setting: Setting) -> float:
    """Iterations per second of `setting` (a fresh run in a temporary folder, no validation)."""
    torch.set_num_threads(setting.threads)
    recipe = recipe_for(model, scale).override(iters=[iters] * len(recipe_for(model, scale).stages),
                                               batch_size=[batch], patch_size=[patch], form="inference")
    with tempfile.TemporaryDirectory() as run_dir:
        config = TrainConfig(family=model, scale=scale, recipe=recipe, data=(data,), run_dir=run_dir,
                             val=None, checkpoint_every=10**9, log_every=10**9)
        runtime = Runtime(device="cpu", precision=setting.precision, channels_last=setting.channels_last,
                          workers=setting.workers, stop_after=iters)
        outcome = train(config, runtime, console=Console(stderr=True, quiet=True))
    assert outcome.rate is not None
    return outcome.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/train"))
    parser.add_argument("--models", default="lkdn-s,aidn")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--settings", default="", help="indices into SETTINGS, comma-separated (default: all)")
    args = parser.parse_args()
    chosen = [SETTINGS[int(i)] for i in args.settings.split(",")] if args.settings else list(SETTINGS)
    models = args.models.split(",")
    print(f"x{args.scale}, batch {args.batch_size}, LR patch {args.patch_size}, {args.iters} iterations each "
          f"(rate after the first 3); it/s and ratio to the first row")
    print("| setting | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    base: dict[str, float] = {}
    for setting in chosen:
        cells = []
        for model in models:
            rate = measure(model, args.scale, args.data, args.batch_size, args.patch_size, args.iters, setting)
            base.setdefault(model, rate)
            cells.append(f"{rate:.2f} ({rate / base[model]:.2f}x)")
        print(f"| {setting.label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
