"""Ctrl-C and SIGTERM: one line, exit 130 / 143, and no temporary file left, at any moment of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_video import make_video

CODES = {signal.SIGINT: (130, "error: interrupted"), signal.SIGTERM: (143, "error: terminated")}


def start(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", SRZOO_WEIGHTS_DIR=str(cwd / "no-weights"), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "srzoo", *map(str, args)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_interactive)


def _interactive() -> None:
    """Ctrl-C as in a terminal: a child of a background job would inherit SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def assert_clean_stop(code: int, err: str, sig: signal.Signals, folder: Path) -> None:
    expected_code, line = CODES[sig]
    assert code == expected_code, err
    assert err.strip().splitlines()[-1] == line and "Traceback" not in err, err
    assert [p.name for p in folder.rglob("*") if p.name.endswith(".part") or ".incoming-" in str(p)] == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_during_start_up(tmp_path: Path, sig: signal.Signals):
    (tmp_path / "in.png").write_bytes(b"")  # never read: the signal comes while torch loads
    process = start("upscale", "in.png", "-s", "2", "-o", "out/", cwd=tmp_path)
    time.sleep(0.8)
    code, err = stop(process, sig)
    assert_clean_stop(code, err, sig, tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_during_a_video(tmp_path: Path, sig: signal.Signals):
    make_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    process = start("upscale", "clip.mp4", "-s", "2", "-o", "out/", cwd=tmp_path)
    wait_for(lambda: any(out.glob(".*.part")) if out.exists() else False)
    code, err = stop(process, sig)
    assert_clean_stop(code, err, sig, tmp_path)
    assert list(out.iterdir()) == []
