"""Every official checkpoint, imported by srzoo, reproduces the official network's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from srzoo.fsutil import sha256_file
from srzoo.models import build_model, get_family
from srzoo.models.layers import count_parameters
from srzoo.zoo.convert import import_checkpoint
from srzoo.zoo.weightfile import load_weights, save_weights

# (checkpoint, family, scale, fold-to-inference, parity fixture, trainable parameters in SOURCES.md)
CHECKPOINTS = [
    ("lkdn/LKDN_x2.pth", "lkdn", 2, "lkdn_x2", 303_812),
    ("lkdn/LKDN_x3.pth", "lkdn", 3, "lkdn_x3", 311_387),
    ("lkdn/LKDN_x4.pth", "lkdn", 4, "lkdn_x4", 321_992),
    ("lkdn/LKDN-S_x4.pth", "lkdn-s", 4, "lkdn_s_train_x4", 172_449),
    ("lkdn/LKDN-S_del_rep_x4.pth", "lkdn-s", 4, "lkdn_s_x4", 129_177),
    ("alkdn/net_g_ALKDN_x2.pth", "alkdn", 2, "alkdn_x2", 372_716),
    ("alkdn/net_g_ALKDN_x3.pth", "alkdn", 3, "alkdn_x3", 381_371),
    ("alkdn/net_g_ALKDN_x4.pth", "alkdn", 4, "alkdn_x4", 393_488),
    ("ddistill/DDistill-SRx4_inference.pth", "ddistill", 4, "ddistill_x4", 675_780),
    ("aidn/team14_arfdn.pth", "aidn", 4, "aidn_x4", 241_548),
]
# Fixture pairs checked per family, with their tolerance. DDistill-SR's full-amplitude random input
# overflows float32 in the official network (its output is all NaN), so the mild pair replaces it.
PAIRS = {
    "ddistill": {"rand_mild": 1e-5, "butterfly": 1e-5},
    "aidn": {"rand_mild": 1e-5, "butterfly": 1e-5},
}
DEFAULT_PAIRS = {"rand": 1e-5, "butterfly": 1e-5}


def _imported_model(shared: Path, tmp_path: Path, ckpt: str, family: str, scale: int):
    state, meta = import_checkpoint(shared / "weights" / "official" / ckpt, family, scale)
    out = tmp_path / "w.safetensors"
    save_weights(out, state, meta)
    loaded, meta = load_weights(out)
    model = build_model(family, scale, meta["form"])
    model.load_state_dict(loaded, strict=True)
    return model.eval(), meta


@pytest.mark.parametrize("ckpt,family,scale,fixture,params", CHECKPOINTS,
                         ids=[c[3] for c in CHECKPOINTS])
def test_official_parity(shared_dir: Path, tmp_path: Path, ckpt, family, scale, fixture, params):
    model, meta = _imported_model(shared_dir, tmp_path, ckpt, family, scale)
    assert count_parameters(model) == params
    tensors = load_file(str(shared_dir / "parity" / f"{fixture}.safetensors"))
    with torch.no_grad():
        for pair, tol in PAIRS.get(family, DEFAULT_PAIRS).items():
            out = model(tensors[f"input_{pair}"])
            expected = tensors[f"output_{pair}"]
            assert out.shape == expected.shape
            diff = (out - expected).abs().max().item()
            assert diff <= tol, f"{fixture} {pair}: max abs diff {diff:.2e} > {tol:.0e}"


@pytest.mark.parametrize("ckpt,family,scale", [c[:3] for c in CHECKPOINTS], ids=[c[3] for c in CHECKPOINTS])
def test_batches_and_odd_sizes_match_single_images(shared_dir: Path, tmp_path: Path, ckpt, family, scale):
    """A batch of two odd-sized crops gives each crop's own output: nothing depends on the batch."""
    model, _ = _imported_model(shared_dir, tmp_path, ckpt, family, scale)
    butterfly = load_file(str(shared_dir / "parity" / f"{family.replace('-', '_')}_x{scale}.safetensors"))
    image = butterfly["input_butterfly"][..., 3:40, 5:56]  # 37 x 51
    batch = torch.cat([image, image.flip(-1).flip(-2)])
    with torch.no_grad():
        together = model(batch)
        alone = torch.cat([model(batch[:1]), model(batch[1:])])
    assert together.shape == (2, 3, 37 * scale, 51 * scale)
    assert (together - alone).abs().max().item() <= 1e-5


def test_aidn_ill_conditioned_pair_in_float64(shared_dir: Path, tmp_path: Path):
    """AIDN's full-amplitude random pair amplifies float32 rounding: the reference's own float32
    vs float64 results differ by 1.3e-5, and our float32 result by up to 5.5e-5 depending on the
    convolution kernels chosen (thread count). Run in float64, ours is within the reference's own
    rounding; run in float32, within 1e-4."""
    model, _ = _imported_model(shared_dir, tmp_path, "aidn/team14_arfdn.pth", "aidn", 4)
    tensors = load_file(str(shared_dir / "parity" / "aidn_x4.safetensors"))
    x, expected = tensors["input_rand"], tensors["output_rand"]
    with torch.no_grad():
        assert (model(x) - expected).abs().max().item() <= 1e-4
        exact = model.double()(x.double())
    assert (exact - expected.double()).abs().max().item() <= 2e-5


def test_ddistill_overflow_is_reproduced(shared_dir: Path, tmp_path: Path):
    """The official network's output on full-amplitude noise is all NaN; ours must be too."""
    model, _ = _imported_model(shared_dir, tmp_path, "ddistill/DDistill-SRx4_inference.pth", "ddistill", 4)
    tensors = load_file(str(shared_dir / "parity" / "ddistill_x4.safetensors"))
    with torch.no_grad():
        assert torch.isnan(model(tensors["input_rand"])).all()


@pytest.mark.parametrize("ckpt,family,scale", [c[:3] for c in CHECKPOINTS[:5]])
def test_import_is_byte_deterministic(shared_dir: Path, tmp_path: Path, ckpt, family, scale):
    paths = []
    for name in ("a", "b"):
        state, meta = import_checkpoint(shared_dir / "weights" / "official" / ckpt, family, scale)
        paths.append(tmp_path / f"{name}.safetensors")
        save_weights(paths[-1], state, meta)
    assert sha256_file(paths[0]) == sha256_file(paths[1])


def test_fold_on_import_matches_shipped_deploy_file(shared_dir: Path):
    """Folding LKDN-S's training-form EMA weights gives the authors' own deploy file."""
    official = shared_dir / "weights" / "official" / "lkdn"
    folded, meta = import_checkpoint(official / "LKDN-S_x4.pth", "lkdn-s", 4, fold=True)
    deploy, _ = import_checkpoint(official / "LKDN-S_del_rep_x4.pth", "lkdn-s", 4)
    assert meta["form"] == "inference" and list(folded) == list(deploy)
    assert max((folded[k] - deploy[k]).abs().max().item() for k in deploy) < 1e-6


def test_metadata_names_the_source(shared_dir: Path):
    _, meta = import_checkpoint(shared_dir / "weights" / "official" / "lkdn" / "LKDN_x4.pth", "lkdn", 4)
    assert meta["family"] == "lkdn" and meta["scale"] == "4" and meta["form"] == "inference"
    assert meta["source_repo"] == "stella-von/LKDN" and meta["licence"] == "MIT"
    assert meta["source_param_key"] == "params_ema"
    assert "Large Kernel Distillation Network" in meta["paper"]


def test_wrong_checkpoint_says_what_it_holds(shared_dir: Path):
    from srzoo.errors import SrzooError
    from srzoo.zoo.resolve import load_network

    checkpoint = shared_dir / "weights" / "official" / "lkdn" / "LKDN_x4.pth"
    with pytest.raises(SrzooError, match="holds LKDN x4, not x2"):
        import_checkpoint(checkpoint, "lkdn", 2)
    with pytest.raises(SrzooError, match="holds LKDN x4, not ALKDNet"):
        import_checkpoint(checkpoint, "alkdn", 4)
    with pytest.raises(SrzooError, match="does not fit LKDN x2.*upsampler.0.weight"):
        load_network("lkdn", 2, checkpoint)  # a file forced onto another network names the first mismatch
    assert get_family("lkdn").title == "LKDN"


@pytest.mark.parametrize("scale", [2, 3])
def test_ddistill_training_form_matches_the_authors(shared_dir: Path, scale: int):
    """The authors' training-form state dict (seeded random weights) loads strictly, reproduces their
    output, and folds into their inference-form tensors (`parity/README.md`)."""
    tensors = load_file(str(shared_dir / "parity" / f"ddistill_train_x{scale}.safetensors"))
    train = {k.removeprefix("train."): v for k, v in tensors.items() if k.startswith("train.")}
    inference = {k.removeprefix("inference."): v for k, v in tensors.items() if k.startswith("inference.")}
    model = build_model("ddistill", scale, "training")
    model.load_state_dict(train, strict=True)
    model.eval()
    with torch.no_grad():
        assert (model(tensors["input_mild"]) - tensors["output_train_mild"]).abs().max() <= 1e-5
        folded = get_family("ddistill").fold(model)
        state = folded.state_dict()
        assert set(state) == set(inference)
        for key, value in inference.items():
            assert state[key].shape == value.shape
            assert (state[key] - value).abs().max() <= 1e-6, key
        out = folded(tensors["input_mild"])
        assert (out - tensors["output_inference_mild"]).abs().max() <= 1e-5
        assert (out - tensors["output_train_mild"]).abs().max() <= 1e-5
