"""Make docs/training_curves.png: Set5 PSNR against iteration for the zoo entries srzoo trained.

    pip install matplotlib && python docs/training_curves.py

Reads the runs' logs kept in docs/training/<family>_x<scale>.csv (`srzoo train`'s log.csv) and
draws one panel per scale, with the official LKDN of that scale (zoo.toml's measured Set5) as a
dashed line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from srzoo.zoo.manifest import find_entry  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS = {2: ("lkdn-s", "aidn"), 3: ("lkdn-s", "aidn")}
TITLES = {"lkdn-s": "LKDN-S", "aidn": "AIDN"}


def curve(path: Path) -> tuple[list[int], list[float], int]:
    """(iterations, validation PSNRs, last iteration of stage 1) of a log.csv."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    scored = [r for r in rows if r["val_psnr"]]
    first_stage_end = max(int(r["iteration"]) for r in rows if r["stage"] == "1")
    return [int(r["iteration"]) for r in scored], [float(r["val_psnr"]) for r in scored], first_stage_end


def main() -> None:
    figure, axes = plt.subplots(1, len(RUNS), figsize=(10, 4.8), dpi=120)
    for ax, (scale, families) in zip(axes, RUNS.items()):
        for family in families:
            iterations, psnr, head_only = curve(HERE / "training" / f"{family}_x{scale}.csv")
            ax.plot(iterations, psnr, marker="o", markersize=3, label=f"{TITLES[family]} x{scale} (srzoo train)")
        ax.axvspan(0, head_only, color="grey", alpha=0.12, label="stage 1: upsampler only")
        lkdn = find_entry("lkdn", scale)
        assert lkdn is not None and "Set5" in lkdn.measured
        ax.axhline(lkdn.measured["Set5"][0], color="grey", linestyle="--",
                   label=f"LKDN x{scale}, official ({lkdn.measured['Set5'][0]:.2f} dB)")
        ax.set(title=f"x{scale}", xlabel="iteration", ylabel="Set5 Y-PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    figure.suptitle("Fine-tuning from the x4 weights on a 2-core CPU (EMA weights, Set5, genuine LR)")
    figure.tight_layout()
    figure.savefig(HERE / "training_curves.png")


if __name__ == "__main__":
    main()
