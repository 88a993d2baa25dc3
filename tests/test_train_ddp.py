"""`srzoo train` under `torchrun --nproc-per-node 2` (gloo, CPU) equals one process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import smooth_images

from srzoo.cli import main
from srzoo.zoo.weightfile import load_weights

TORCHRUN = Path(sys.executable).parent / "torchrun"
ARGS = ("train", "lkdn", "--scale", "2", "--data", "train", "--iters", "4", "--batch-size", "4", "--patch-size", "16",
        "--log-every", "1", "--checkpoint-every", "2", "--workers", "0", "--val", "none", "--ema", "0")


@pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun not installed next to the interpreter")
def test_two_processes_train_like_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    smooth_images(tmp_path / "train", 8)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "srzoo", *ARGS,
                          "--run-dir", "ddp", "--output", "ddp.safetensors"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stderr.count("2 process(es)") == 1 and ddp.stderr.count("4/4 ") == 1  # rank 0 logs
    assert ddp.stderr.count("[rank 1/2] done at iteration 4") == 1
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == [
        "iter_00000002.pt", "iter_00000004.pt"]  # written once (rank 0), atomically: no leftovers

    threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit) as exc:
            main([*ARGS, "--run-dir", "single", "--output", "single.safetensors", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert exc.value.code == 0
    two, _ = load_weights(tmp_path / "ddp.safetensors")
    one, _ = load_weights(tmp_path / "single.safetensors")
    for key in one:
        torch.testing.assert_close(two[key], one[key], atol=2e-5, rtol=1e-4)
    rows = [[float(v) for v in (tmp_path / run / "log.csv").read_text().splitlines()[-1].split(",")[:4]]
            for run in ("ddp", "single")]
    assert rows[0] == pytest.approx(rows[1], rel=1e-5)
