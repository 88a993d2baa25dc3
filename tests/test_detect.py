"""Detection at the door: a weights file says which family, scale and form it holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srzoo.cli import main
from srzoo.errors import SrzooError, UsageError
from srzoo.models import build_model, list_families
from srzoo.models.detect import read_state, unwrap
from srzoo.zoo.convert import identify, import_checkpoint
from srzoo.zoo.weightfile import save_weights

OFFICIAL = [  # (checkpoint under weights/official, family, scale)
    ("lkdn/LKDN_x2.pth", "lkdn", 2), ("lkdn/LKDN_x3.pth", "lkdn", 3), ("lkdn/LKDN_x4.pth", "lkdn", 4),
    ("lkdn/LKDN-S_x4.pth", "lkdn-s", 4), ("lkdn/LKDN-S_del_rep_x4.pth", "lkdn-s", 4),
    ("alkdn/net_g_ALKDN_x2.pth", "alkdn", 2), ("alkdn/net_g_ALKDN_x3.pth", "alkdn", 3),
    ("alkdn/net_g_ALKDN_x4.pth", "alkdn", 4), ("aidn/team14_arfdn.pth", "aidn", 4),
    ("ddistill/DDistill-SRx4_inference.pth", "ddistill", 4),
]


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state.items()}


@pytest.mark.parametrize("family", list_families(), ids=lambda f: f.name)
def test_every_family_scale_and_form_is_read_back(family) -> None:
    for scale in family.scales:
        for form in family.forms:
            reading = read_state(_shapes(build_model(family.name, scale, form).state_dict()))
            assert (reading.family, reading.scale, reading.form) == (family.name, scale, form)


def test_wrappers_and_prefixes_are_taken_off() -> None:
    state = build_model("aidn", 3).state_dict()
    wrapped = {"params": {f"module.{k}": v for k, v in state.items()}, "params_ema": state, "iter": 5}
    flat, key = unwrap(wrapped)
    assert key == "params_ema" and flat.keys() == state.keys()
    flat, key = unwrap({"params": {f"module.{k}": v for k, v in state.items()}})
    assert key == "params" and flat.keys() == state.keys()


def test_an_unknown_state_dict_is_one_line_naming_what_was_expected() -> None:
    with pytest.raises(SrzooError, match="not a network srzoo knows.*ALKDNet.*LKDN"):
        read_state({"conv_first.weight": (64, 3, 3, 3)}, "esrgan.pth")


def test_a_given_model_or_scale_is_checked_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    torch.save({"params_ema": build_model("lkdn-s", 2, "training").state_dict()}, path)
    reading = identify(path)
    assert (reading.family, reading.scale, reading.form) == ("lkdn-s", 2, "training")
    with pytest.raises(UsageError, match="holds LKDN-S x2, not x3"):
        identify(path, scale=3)
    with pytest.raises(UsageError, match="holds LKDN-S x2, not AIDN"):
        identify(path, model="aidn")


def _upscale(capsys, image: Path, out: Path, *args: str) -> np.ndarray:
    with pytest.raises(SystemExit) as done:
        main(["upscale", str(image), "-o", str(out), "-q", "--device", "cpu", *args])
    assert done.value.code == 0, capsys.readouterr().err
    return np.asarray(Image.open(out))


@pytest.mark.parametrize("checkpoint, family, scale", OFFICIAL, ids=[c[0].split("/")[1] for c in OFFICIAL])
def test_weights_alone_give_the_same_pixels_as_with_model_and_scale(
        shared_dir: Path, tmp_path: Path, capsys, checkpoint: str, family: str, scale: int) -> None:
    """The authors' .pth and its imported safetensors, with and without -m/-s: the same output."""
    source = shared_dir / "weights" / "official" / checkpoint
    state, metadata = import_checkpoint(source)
    assert (metadata["family"], int(metadata["scale"])) == (family, scale)
    imported = tmp_path / "imported.safetensors"
    save_weights(imported, state, metadata)
    image = tmp_path / "in.png"
    y, x = np.mgrid[0:20, 0:18]
    smooth = np.stack([8 * x + 40, 6 * y + 60, 4 * (x + y) + 30], axis=-1)  # DDistill-SR overflows on noise
    Image.fromarray(smooth.astype(np.uint8)).save(image)
    given = _upscale(capsys, image, tmp_path / "given.png", "--weights", str(imported), "-m", family,
                     "-s", str(scale))
    assert given.shape == (20 * scale, 18 * scale, 3)
    for weights in (imported, source):
        alone = _upscale(capsys, image, tmp_path / f"alone_{weights.suffix[1:]}.png", "--weights", str(weights))
        np.testing.assert_array_equal(alone, given)


def test_weights_that_disagree_with_the_options_are_a_usage_error(shared_dir: Path, tmp_path: Path,
                                                                    capsys) -> None:
    image = tmp_path / "in.png"
    Image.new("RGB", (20, 16)).save(image)
    source = shared_dir / "weights" / "official" / "lkdn" / "LKDN_x3.pth"
    with pytest.raises(SystemExit) as done:
        main(["upscale", str(image), "--weights", str(source), "-s", "2"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "holds LKDN x3, not x2" in err and len(err.strip().splitlines()) == 1


def test_another_architecture_without_spandrel_says_how_to_get_it(tmp_path: Path, capsys) -> None:
    from srzoo.models.external import available

    if available():
        pytest.skip("spandrel is installed here (tests/test_spandrel.py covers it)")
    weights = tmp_path / "esrgan.pth"
    torch.save({"params_ema": {"conv_first.weight": torch.zeros(8, 3, 3, 3)}}, weights)
    image = tmp_path / "in.png"
    Image.new("RGB", (20, 16)).save(image)
    with pytest.raises(SystemExit) as done:
        main(["upscale", str(image), "--weights", str(weights)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and 'pip install "srzoo[spandrel]"' in err and err.count("\n") == 1
