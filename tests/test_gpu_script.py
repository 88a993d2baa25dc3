"""The GPU check's code paths, on the CPU with tiny sizes (`benchmarks/gpu_check.py --dry-run`)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT


def test_gpu_check_dry_run_prints_one_table(shared_dir):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "gpu_check.py"), "--dry-run",
                           "--shared", str(shared_dir)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert lines[0] == "| part | model | setting | result |"
    parts = [line.split(" | ")[0] for line in lines[1:]]
    assert parts.count("| precision") == 10 and parts.count("| video") == 1
    assert parts.count("| bench") == 15
    assert "frames/s" in lines[-1] and "failed" not in lines[-1]
