"""Checkpoints of other architectures through spandrel (`srzoo[spandrel]`): detection, output equal
to spandrel's own forward, tiles equal to whole images, eval. Small random-weight models built with
spandrel's own classes; nothing is downloaded. Skipped where spandrel is not installed (it needs
torchvision, which the CPU-only torch wheel of CI cannot take beside it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from srzoo.cli import main
from srzoo.models import external

spandrel = pytest.importorskip("spandrel")


def _esrgan() -> torch.nn.Module:
    from spandrel.architectures.ESRGAN import ESRGAN

    return ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=4)


def _compact() -> torch.nn.Module:
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=2)


def _span() -> torch.nn.Module:
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=4)


def _swinir() -> torch.nn.Module:
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(img_size=32, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                  upsampler="pixelshuffledirect")


MODELS = {"esrgan": (_esrgan, 4, "ESRGAN"), "compact": (_compact, 2, "RealESRGAN Compact"),
          "span": (_span, 4, "SPAN"), "swinir": (_swinir, 2, "SwinIR")}


def _save(tmp_path: Path, key: str, kind: str) -> Path:
    torch.manual_seed(0)
    model = MODELS[key][0]()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))  # no all-zero layers
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / f"{key}.{kind}"
    if kind == "pth":
        torch.save({"params_ema": state} if key == "esrgan" else state, path)
    else:
        save_file(state, str(path))
    return path


def _image(path: Path, size: tuple[int, int] = (36, 28)) -> Path:
    y, x = np.mgrid[0:size[1], 0:size[0]]
    smooth = np.stack([x * 5 + 20, y * 6 + 30, (x + y) * 3 + 10], axis=-1)
    noise = np.random.default_rng(0).integers(0, 30, smooth.shape)
    Image.fromarray(np.clip(smooth + noise, 0, 255).astype(np.uint8)).save(path)
    return path


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def _spandrels_own(weights: Path, image: Path) -> np.ndarray:
    descriptor = spandrel.ModelLoader().load_from_file(weights).eval()
    pixels = torch.from_numpy(np.asarray(Image.open(image).convert("RGB")).copy()).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = descriptor(pixels.float() / 255)
    return (out[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
@pytest.mark.parametrize("key", ["esrgan", "compact", "span", "swinir"])
def test_weights_alone_upscale_like_spandrels_forward(tmp_path: Path, capsys, monkeypatch, key: str, kind: str):
    monkeypatch.setenv("SRZOO_CACHE_DIR", str(tmp_path / "cache"))
    factory, scale, title = MODELS[key]
    weights = _save(tmp_path, key, kind)
    image = _image(tmp_path / "photo.png")
    code, out, err = _cli(capsys, "upscale", str(image), "--weights", str(weights), "-o", str(tmp_path / "out") + "/",
                          "--json", "--device", "cpu", "--precision", "fp32")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["engine"]["architecture"] == title and summary["engine"]["source"] == "spandrel"
    name = external._slug(title)
    written = tmp_path / "out" / f"photo_{name}_x{scale}.png"
    ours = np.asarray(Image.open(written))
    theirs = _spandrels_own(weights, image)
    difference = np.abs(ours.astype(int) - theirs.astype(int))
    assert ours.shape == theirs.shape == (28 * scale, 36 * scale, 3)
    assert (difference == 0).mean() >= 0.999 and difference.max() <= 1
    code, _, err = _cli(capsys, "upscale", str(image), "--weights", str(weights), "-o", str(tmp_path / "tiled.png"),
                        "--tile", "24", "--device", "cpu", "--precision", "fp32", "-s", str(scale))
    assert code == 0, err
    tiled = np.asarray(Image.open(tmp_path / "tiled.png")).astype(int)
    assert np.abs(tiled - ours.astype(int)).max() <= 1


def test_the_receptive_radius_is_measured_and_local_models_tile(tmp_path: Path) -> None:
    torch.manual_seed(0)
    compact = _compact().eval()
    radius = external.measure_radius(compact, 2)
    assert radius is not None and 4 <= radius <= 12  # five 3x3 convs: 5 px, plus the margin

    class Global(torch.nn.Module):  # every output pixel sees the image's mean: image-global
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(x + x.mean(dim=(2, 3), keepdim=True), scale_factor=2)

    assert external.measure_radius(Global(), 2) is None


def test_a_given_scale_is_checked_against_the_file(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SRZOO_CACHE_DIR", str(tmp_path / "cache"))
    weights = _save(tmp_path, "span", "safetensors")
    code, _, err = _cli(capsys, "upscale", str(_image(tmp_path / "a.png")), "--weights", str(weights), "-s", "2")
    assert code == 2 and "holds SPAN x4, not x2" in err and err.count("\n") == 1


def test_eval_with_other_weights_prints_a_psnr(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SRZOO_CACHE_DIR", str(tmp_path / "cache"))
    weights = _save(tmp_path, "span", "safetensors")
    (tmp_path / "data" / "Set5" / "HR").mkdir(parents=True)
    for index in range(2):
        _image(tmp_path / "data" / "Set5" / "HR" / f"im{index}.png", (64, 48))
    code, out, err = _cli(capsys, "eval", "--weights", str(weights), "--dataset", "Set5", "--data-root",
                          str(tmp_path / "data"), "--json")
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["model"] == "span" and result["scale"] == 4 and 5 < result["psnr"] < 60
