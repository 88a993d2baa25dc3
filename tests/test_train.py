"""`srzoo train` / `srzoo export`: recipes, data, every family learning, exact resume, `--init`
across scales, export -> load -> upscale. Tiny generated images, one CPU thread, workers 0."""

from __future__ import annotations

import os
import signal
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from srzoo.cli import main
from srzoo.errors import UsageError
from srzoo.evaluation.imresize import make_lr
from srzoo.models import build_model
from srzoo.train.checkpoint import load_checkpoint
from srzoo.train.config import TrainConfig
from srzoo.train.data import (
    HeldBatches,
    IterationBatches,
    PatchDataset,
    bicubic_patch,
    extract_subimages,
    find_images,
    make_loader,
)
from srzoo.train.export import inference_model, trained_state
from srzoo.train.loop import _stop_signals
from srzoo.train.optim import make_ema
from srzoo.train.recipes import recipe_for
from srzoo.train.teacher import load_teacher, teacher_targets
from srzoo.train.warmstart import load_fitting
from srzoo.zoo.manifest import parse_manifest
from srzoo.zoo.resolve import load_pretrained
from srzoo.zoo.weightfile import load_weights, save_weights

FAST = ("--batch-size", "2", "--patch-size", "16", "--workers", "0", "--threads", "1", "--val", "none")


def smooth_images(folder: Path, count: int, size: int = 64, seed: int = 0) -> None:
    """`count` random smooth RGB images (bicubic-upsampled 8x8 noise) saved as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for i in range(count):
        image = F.interpolate(torch.rand(1, 3, 8, 8, generator=gen), size=(size, size), mode="bicubic",
                              align_corners=False).clamp(0, 1)[0]
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"im{i}.png")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with train/ (8 images) and val/ (2 images); weights go to weights/."""
    smooth_images(tmp_path / "train", 8)
    smooth_images(tmp_path / "val", 2, size=48, seed=1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(threads)


def srzoo(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([*args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def losses(run_dir: Path, stage: int = 1) -> list[float]:
    """The logged losses of one stage of a run."""
    rows = [row.split(",") for row in (run_dir / "log.csv").read_text().splitlines()[1:]]
    return [float(row[3]) for row in rows if row[1] == str(stage)]


def test_recipes_carry_the_papers_settings():
    alkdn, lkdn, lkdn_s = recipe_for("alkdn", 3), recipe_for("lkdn", 4), recipe_for("lkdns", 4)
    assert (alkdn.optimizer, alkdn.betas, alkdn.schedule, alkdn.ema, alkdn.augment) == (
        "adam", (0.9, 0.999), "cosine", 0.0, "dihedral")
    assert [(s.iters, s.batch_size, s.patch_size, s.lr, s.loss) for s in alkdn.stages] == [
        (1_000_000, 64, 48, 1e-3, "l1")]
    assert (lkdn.optimizer, lkdn.betas, lkdn.schedule, lkdn.ema) == ("adan", (0.98, 0.92, 0.99), "constant", 0.999)
    assert lkdn_s.form == "training" and lkdn_s.ema == 0.999 and lkdn_s.optimizer == "adan"
    assert [(s.iters, s.batch_size, s.patch_size * 4, s.lr, s.loss) for s in lkdn_s.stages] == [
        (950_000, 128, 256, 5e-3, "l1"), (50_000, 64, 480, 2e-5, "l2")]
    assert recipe_for("ddistill", 2).form == "training"
    assert "srzoo defaults" in recipe_for("aidn", 2).source


def test_recipe_overrides_and_schedule():
    recipe = recipe_for("lkdn-s", 4)
    short = recipe.override(iters=[3000], batch_size=[8], lr=[1e-3, 1e-5])
    assert [s.iters for s in short.stages] == [2850, 150] and short.iters == 3000
    assert [s.batch_size for s in short.stages] == [8, 8] and [s.lr for s in short.stages] == [1e-3, 1e-5]
    assert short.lr_at(0) == 1e-3 and short.lr_at(2849) == 1e-3 and short.lr_at(2850) == 1e-5
    cosine = recipe_for("alkdn", 2).override(iters=[100], min_lr=1e-5)
    assert cosine.lr_at(0) == pytest.approx(1e-3) and cosine.lr_at(50) == pytest.approx(0.5 * (1e-3 + 1e-5))
    step = recipe_for("aidn", 2).override(iters=[10], step_iters=4)
    assert [step.lr_at(i) for i in (0, 3, 4, 8)] == [5e-4, 5e-4, 2.5e-4, 1.25e-4]
    with pytest.raises(UsageError, match="one per stage"):
        recipe.override(lr=[1, 2, 3])
    with pytest.raises(UsageError, match="minimum input"):
        recipe_for("aidn", 2).override(patch_size=[8])
    with pytest.raises(UsageError, match="3 betas"):
        recipe.override(betas=(0.9, 0.99))
    assert TrainConfig.from_dict(TrainConfig("lkdn-s", 4, short, ("d",), "r").to_dict()).recipe == short


def test_ema_warms_up_then_decays_at_the_recipes_rate():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.BatchNorm2d(1))
    torch.nn.init.zeros_(model[0].weight)
    ema = make_ema(model, 0.999)
    expected = 0.0
    for n in range(1, 12001):
        torch.nn.init.constant_(model[0].weight, float(n % 2))  # the model alternates 0, 1, 0, ...
        model[1].num_batches_tracked.fill_(n)
        ema.update_parameters(model)
        decay = min(0.999, (1 + n) / (10 + n))
        expected = decay * expected + (1 - decay) * (n % 2)
        if n == 1:
            assert ema.module[0].weight.item() == pytest.approx(1 - 2 / 11)  # not stuck at the initial 0
    assert ema.module[0].weight.item() == pytest.approx(expected, rel=1e-4)
    assert ema.module[1].num_batches_tracked.item() == 12000  # integer buffers follow the model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_patch_is_a_crop_of_the_whole_images_lr(scale: int):
    rng = np.random.default_rng(scale)
    hr = rng.integers(0, 256, (25 * scale, 31 * scale, 3), dtype=np.uint8)
    whole = make_lr(hr, scale)
    for top, left in ((0, 0), (25 - 9, 31 - 9), (7, 11), (1, 22)):
        np.testing.assert_array_equal(bicubic_patch(hr, scale, top, left, 9), whole[top:top + 9, left:left + 9])


def test_patches_batches_and_data_folders(tmp_path: Path):
    smooth_images(tmp_path / "a" / "HR", 3)
    smooth_images(tmp_path / "a" / "LR_bicubic" / "X2", 2)  # skipped: an LR folder
    Image.new("RGB", (20, 20)).save(tmp_path / "a" / "HR" / "tiny.png")
    files = find_images([tmp_path / "a"])
    assert [f.name for f in files] == ["im0.png", "im1.png", "im2.png", "tiny.png"]
    data = PatchDataset(files, 2, 16, "dihedral")
    assert data.skipped == 1 and len(data) == 3
    lr, hr = data[(1, 123)]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32) and lr.dtype == torch.uint8
    assert torch.equal(data[(1, 123)][1], hr)
    one = list(IterationBatches(3, 4, 5, 8, seed=1))
    two = [list(IterationBatches(3, 4, 5, 8, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(one) == 3 and all(a + b == full for a, b, full in zip(*two, one))
    cut = extract_subimages(files[:1], tmp_path / "sub", size=40, step=24)
    assert len(find_images([cut])) == 4 and Image.open(find_images([cut])[-1]).size == (40, 40)


def test_first_ctrl_c_only_asks_to_stop():
    with _stop_signals() as asked:
        assert not asked()
        os.kill(os.getpid(), signal.SIGINT)
        assert asked()


@pytest.mark.parametrize("model", ["alkdn", "lkdn", "lkdn-s", "aidn", "ddistill"])
def test_every_family_learns_in_30_iterations(work: Path, model: str, capsys):
    code, out, err = srzoo(capsys, "train", model, "--scale", "2", "--data", "train", "--iters", "30",
                           "--log-every", "5", "--lr", "2e-3", *FAST)
    assert code == 0, err
    curve = losses(work / "runs" / f"{model}_x2")
    assert len(curve) >= 5 and curve[-1] < 0.7 * curve[0]
    assert f"filename = \"{model}_x2_30it.safetensors\"" in out
    assert (work / "weights" / f"{model}_x2_30it.safetensors").is_file()


def test_resume_equals_an_uninterrupted_run(work: Path, capsys):
    common = ("lkdn-s", "--scale", "2", "--data", "train", "--iters", "12,8", "--checkpoint-every", "10",
              "--log-every", "1", "--val", "val", "--val-every", "5", "--batch-size", "2", "--patch-size", "16",
              "--workers", "0", "--threads", "1")
    assert srzoo(capsys, "train", *common, "--run-dir", "whole")[0] == 0
    code, _, err = srzoo(capsys, "train", *common, "--run-dir", "split", "--stop-after", "7")
    assert code == 0 and "stopped at iteration 7" in err
    assert srzoo(capsys, "train", "--resume", "split", "--workers", "0", "--threads", "1")[0] == 0
    assert (work / "split" / "log.csv").read_text() == (work / "whole" / "log.csv").read_text()
    whole, split = load_checkpoint(work / "whole"), load_checkpoint(work / "split")
    assert whole["iteration"] == split["iteration"] == 20
    for part in ("model", "ema"):
        assert all(torch.equal(whole[part][k], split[part][k]) for k in whole[part])
    a, _ = load_weights(work / "weights" / "whole_20it.safetensors")
    b, _ = load_weights(work / "weights" / "split_20it.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_across_scales_loads_the_body_and_resamples_the_upsampler(work: Path, capsys):
    torch.manual_seed(1)
    x4 = build_model("lkdn", 4).eval()
    save_weights(work / "x4.safetensors", x4.state_dict(), {"family": "lkdn", "scale": "4"})
    x2, x3 = build_model("lkdn", 2).eval(), build_model("lkdn", 3).eval()
    report = load_fitting(x2, x4.state_dict(), "x4", 2)
    assert report.resampled == ["upsampler.0.bias", "upsampler.0.weight"] and not report.fresh
    assert not report.unused and torch.equal(x2.c2.pw.weight, x4.c2.pw.weight)
    image = torch.rand(1, 3, 12, 16)
    with torch.no_grad():  # x4 -> x2: the x4 network followed by a 2x2 average, to rounding
        torch.testing.assert_close(x2(image), F.avg_pool2d(x4(image), 2), atol=1e-5, rtol=0)
        load_fitting(x3, x4.state_dict(), "x4", 3)
        middle = x3(image)[..., 1::3, 1::3]  # x3's centre sub-pixel sits between x4's 2nd and 3rd
        torch.testing.assert_close(middle, F.avg_pool2d(x4(image)[..., 1:-1, 1:-1], 2, 4), atol=1e-5, rtol=0)
    assert load_fitting(build_model("lkdn", 2), build_model("alkdn", 4).state_dict(), "alkdn", 2).fresh
    code, _, err = srzoo(capsys, "train", "lkdn", "--scale", "2", "--data", "train", "--iters", "2",
                         "--init", "x4.safetensors", *FAST)
    assert code == 0, err
    assert ("loaded 248 of 250 tensors; resampled to this scale's sub-pixel positions: upsampler.0.bias, "
            "upsampler.0.weight") in err


def test_export_then_load_then_upscale(work: Path, capsys):
    code, _, err = srzoo(capsys, "train", "ddistill", "--scale", "2", "--data", "train", "--iters", "3", *FAST)
    assert code == 0, err
    code, out, err = srzoo(capsys, "export", "runs/ddistill_x2", "--output", "exported.safetensors")
    assert code == 0, err
    entry = tomllib.loads("schema = 1\n" + out)
    [parsed] = parse_manifest(entry)
    assert (parsed.filename, parsed.form, parsed.source.kind) == ("exported.safetensors", "inference", "srzoo-train")
    _, metadata = load_weights(work / "exported.safetensors")
    assert metadata["iterations"] == "3" and metadata["form"] == "inference" and metadata["weights"] == "model"
    net = load_pretrained("ddistill", 2, weights=work / "exported.safetensors")
    checkpoint = load_checkpoint(work / "runs" / "ddistill_x2")
    trained = build_model("ddistill", 2, "training")
    trained.load_state_dict(trained_state(checkpoint)[0])
    image = torch.rand(1, 3, 20, 24) * 0.2 + 0.4
    with torch.no_grad():
        out_image = net(image)
        assert out_image.shape == (1, 3, 40, 48)
        torch.testing.assert_close(out_image, trained.eval()(image), atol=1e-5, rtol=0)
    config = TrainConfig.from_dict(checkpoint["config"])
    assert isinstance(inference_model(config, trained.state_dict()), type(net))


def test_usage_errors(work: Path, capsys):
    assert srzoo(capsys, "train", "lkdn")[0] == 2  # without --data the paper's data is fetched: test_train_data.py
    assert srzoo(capsys, "train", "lkdn", "--scale", "2", "--data", "train", "--iters", "1", *FAST)[0] == 0
    code, _, err = srzoo(capsys, "train", "lkdn", "--scale", "2", "--data", "train", *FAST)
    assert code == 2 and "--resume runs/lkdn_x2" in err
    code, _, err = srzoo(capsys, "train", "aidn", "--resume", "runs/lkdn_x2")
    assert code == 2 and "trains lkdn" in err


def test_cached_images_give_the_same_patches(tmp_path: Path):
    smooth_images(tmp_path, 3)
    files = find_images([tmp_path])
    for scale in (2, 3):
        cut, cached = PatchDataset(files, scale, 9, "dihedral"), PatchDataset(files, scale, 9, "dihedral", cache=True)
        for key in ((0, 1), (1, 77), (2, 2**40)):
            assert all(torch.equal(a, b) for a, b in zip(cut[key], cached[key]))


def test_held_batches_are_the_dataloaders_batches(tmp_path: Path):
    smooth_images(tmp_path, 3, size=50)
    data = PatchDataset(find_images([tmp_path]), 3, 8, "dihedral", cache=True)
    data.targets = {path: data.hr_image(i)[::-1].copy() for i, path in enumerate(data.files)}
    batches = IterationBatches(len(data), 4, 0, 6, seed=3)
    held, loaded = list(HeldBatches(data, batches, torch.device("cpu"))), list(make_loader(data, batches, 0))
    assert len(held) == len(loaded) == 6
    assert [b.shape for b in held[0]] == [(4, 3, 8, 8), (4, 3, 24, 24), (4, 3, 24, 24)]
    assert all(torch.equal(a, b) for h, d in zip(held, loaded) for a, b in zip(h, d))


def test_teacher_targets_are_crops_of_its_whole_image_output(tmp_path: Path):
    smooth_images(tmp_path, 2, size=40)
    data = PatchDataset(find_images([tmp_path]), 2, 16, "none", cache=True)
    teacher = build_model("lkdn", 2).eval()
    data.targets = teacher_targets(teacher, data, torch.device("cpu"), {})
    lr, hr, target = data[(1, 5)]
    rng = np.random.default_rng(5)  # the crop PatchDataset draws for sample seed 5
    top, left = (2 * int(rng.integers(0, 20 - 16 + 1)) for _ in range(2))
    with torch.no_grad():
        whole = teacher(torch.from_numpy(data.lr_image(1)).permute(2, 0, 1)[None].float() / 255).clamp(0, 1)[0]
    assert target.dtype == torch.uint8 and target.shape == hr.shape == (3, 32, 32)
    assert torch.equal(hr, torch.from_numpy(data.hr_image(1)[top:top + 32, left:left + 32].copy()).permute(2, 0, 1))
    assert torch.equal(target, whole[:, top:top + 32, left:left + 32].mul(255).round().to(torch.uint8))
    with pytest.raises(UsageError, match="must upscale x2"):
        load_teacher("lkdn:x3", 2)


def test_finetune_trains_the_new_upsampler_then_everything(work: Path, capsys):
    torch.manual_seed(1)
    x4 = build_model("lkdn-s", 4)
    save_weights(work / "x4.safetensors", x4.state_dict(), {"family": "lkdn-s", "scale": "4"})
    common = ("lkdn-s", "--scale", "2", "--finetune", "--init", "x4.safetensors", "--data", "train",
              "--iters", "3,3", "--checkpoint-every", "3", "--keep-checkpoints", "0", *FAST)
    code, out, err = srzoo(capsys, "train", *common)
    assert code == 0, err
    assert "resampled to this scale's sub-pixel positions: upsampler.0.bias, upsampler.0.weight" in err
    assert "teacher lkdn x2: its output on 8 training images" in err
    assert "--finetune --data train --iters 3,3 --batch-size 2 --patch-size 16" in out
    assert "--init x4.safetensors" in out
    after_head = load_checkpoint(work / "runs" / "lkdn-s_x2" / "checkpoints" / "iter_00000003.pt")["model"]
    after_all = load_checkpoint(work / "runs" / "lkdn-s_x2")["model"]
    init = x4.state_dict()
    for name, tensor in after_head.items():
        if name.startswith("upsampler."):
            assert not torch.equal(tensor, after_all[name])
        else:  # stage 1 leaves the body as loaded; stage 2 trains it
            assert torch.equal(tensor, init[name]), name
    assert not torch.equal(after_all["c2.pw.weight"], init["c2.pw.weight"])
    assert srzoo(capsys, "train", "lkdn-s", "--scale", "4", "--finetune", "--data", "train", *FAST)[0] == 2


def test_teacher_weight_zero_is_training_without_a_teacher(work: Path, capsys):
    common = ("lkdn", "--scale", "2", "--data", "train", "--iters", "4", "--log-every", "1", *FAST)
    assert srzoo(capsys, "train", *common, "--run-dir", "plain")[0] == 0
    assert srzoo(capsys, "train", *common, "--run-dir", "zero", "--teacher", "lkdn:x2", "--teacher-weight", "0")[0] == 0
    assert srzoo(capsys, "train", *common, "--run-dir", "half", "--teacher", "lkdn")[0] == 0
    assert losses(work / "plain") == losses(work / "zero") != losses(work / "half")
    plain, zero = load_checkpoint(work / "plain")["model"], load_checkpoint(work / "zero")["model"]
    assert all(torch.equal(plain[k], zero[k]) for k in plain)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_is_acknowledged_saves_a_checkpoint_and_exits_130_or_143(work: Path, sig: int, code: int):
    """The first Ctrl-C (or SIGTERM) is acknowledged at once; the run saves a checkpoint, says how to
    continue and exits like `upscale` does."""
    import subprocess
    import sys
    import time

    env = {**os.environ, "SRZOO_WEIGHTS_DIR": str(work / "weights")}
    process = subprocess.Popen([sys.executable, "-m", "srzoo", "train", "lkdn-s", "--scale", "2", "--data", "train",
                                "--iters", "100000", "--log-every", "1", *FAST], cwd=work, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = work / "runs" / "lkdn-s_x2" / "log.csv"
    deadline = time.monotonic() + 120
    while not (log.is_file() and len(log.read_text().splitlines()) > 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "stopping after iteration" in err and "saving a checkpoint" in err
    assert "continue with: srzoo train --resume" in err
    assert list((work / "runs" / "lkdn-s_x2" / "checkpoints").glob("iter_*.pt"))
