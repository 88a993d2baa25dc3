"""The GPU retraining script's steps, on the CPU with tiny sizes (`benchmarks/train_gpu.py --dry-run`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT


def test_train_gpu_dry_run_trains_and_evaluates_the_four_entries(shared_dir, tmp_path: Path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "train_gpu.py"), "--dry-run",
                           "--shared", str(shared_dir), "--out", str(tmp_path / "gpu")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trained 4 of 4 entries" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "x" in line.split("|")[1]]
    assert [row.split(" | ")[0] for row in rows] == ["| lkdn-s x2", "| lkdn-s x3", "| aidn x2", "| aidn x3"]
    for row in rows:  # a PSNR on the tiny evaluation images: a number well above zero
        assert float(row.split(" | ")[1]) > 10
    for name in ("lkdn-s_x2", "lkdn-s_x3", "aidn_x2", "aidn_x3"):
        assert (tmp_path / "gpu" / f"{name}.safetensors").is_file()
