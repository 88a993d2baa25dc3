"""`srzoo bench` measures every requested setting next to the plain fp32 forward."""

from __future__ import annotations

import json

import pytest
import torch

from srzoo.cli import main
from srzoo.engine.device import cpu_has_native_bf16
from srzoo.evaluation.bench import time_interleaved

AUTO = "auto (bf16)" if cpu_has_native_bf16() else "auto (fp32)"


def bench_rows(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    """Run `srzoo bench ARGS --repeat 1 --warmup 0 --json`; it must succeed. Returns its rows."""
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *args, "--repeat", "1", "--warmup", "0", "--json"])
    assert exit_info.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_bench_json_lists_baseline_and_settings(capsys):
    rows = bench_rows(capsys, "-m", "lkdn", "-m", "aidn", "-s", "2", "--size", "20x24", "-p", "auto",
                      "-t", "auto", "-t", "16")
    assert [(r["model"], r["precision"], r["tile"]) for r in rows] == [
        ("lkdn", "fp32", "plain forward"), ("lkdn", AUTO, "auto (whole image)"),
        ("lkdn", AUTO, "16"), ("aidn", "fp32", "plain forward"),
        ("aidn", AUTO, "auto (whole image)"), ("aidn", AUTO, "16")]
    for row in rows:
        assert row["mpx_per_s"] > 0 and row["seconds"] > 0 and row["device"] == "cpu"
        assert row["mpx_per_s"] == pytest.approx(20 * 24 * 4 / 1e6 / row["seconds"])
    assert all(r["ratio_to_plain_fp32"] == 1.0 for r in rows if r["tile"] == "plain forward")


def test_bench_measures_memory_layouts(capsys):
    rows = bench_rows(capsys, "-m", "lkdn-s", "-s", "2", "--size", "16x16", "-p", "fp32", "-t", "0",
                      "-l", "auto", "-l", "nhwc")
    assert [r["layout"] for r in rows] == ["nchw", "auto (nchw)", "nhwc"]


def test_bench_rejects_bad_size(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--size", "big"])
    assert exit_info.value.code == 2
    assert "--size" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--layout", "nhcw"])
    assert exit_info.value.code == 2


def test_settings_are_timed_round_robin():
    calls: list[str] = []
    times = time_interleaved([lambda: calls.append("a"), lambda: calls.append("b")], repeat=3, warmup=1,
                             device=torch.device("cpu"))
    assert calls == ["a", "b"] + ["a", "b"] * 3
    assert len(times) == 2 and all(t >= 0 for t in times)


def test_bench_threads_each_against_the_plain_forward_at_that_count(capsys):
    before = torch.get_num_threads()
    rows = bench_rows(capsys, "-m", "aidn", "-s", "2", "--size", "20x20", "-p", "fp32", "-t", "0", "-t", "8",
                      "--threads", "1", "--threads", "2")
    assert [(r["threads"], r["tile"], r["tiling"]) for r in rows] == [
        (1, "plain forward", "none"), (1, "0", "none"), (1, "8", "auto (breadth-first)"),
        (2, "plain forward", "none"), (2, "0", "none"), (2, "8", "auto (breadth-first)")]
    assert all(r["gflop_per_s"] > 0 for r in rows)
    assert torch.get_num_threads() == before


def test_whole_job_times_an_upscale_process_with_its_peak_memory(tmp_path) -> None:
    from PIL import Image

    from srzoo.evaluation.wholejob import time_job

    for name, size in (("a.png", (24, 20)), ("b.png", (18, 30))):
        Image.new("RGB", size, (100, 60, 20)).save(tmp_path / name)
    timing = time_job(tmp_path, "lkdn", 2, "torch", threads=1)
    assert timing.images == 2 and timing.megapixels == (48 * 40 + 36 * 60) / 1e6
    assert timing.seconds > 0 and 50 < timing.peak_rss_mb < 8000
