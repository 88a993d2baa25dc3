"""`srzoo eval`: dataset lookup, LR sources, batching, the manifest writer and the command itself.

The fast tests use tiny generated datasets and a randomly initialised LKDN x2; the last test
evaluates the official LKDN x4 weights on the genuine Set5 (skipped without the shared folder).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srzoo.cli import main
from srzoo.errors import SrzooError, UsageError
from srzoo.evaluation import facts
from srzoo.evaluation.datasets import (
    ImagePair,
    canonical_name,
    find_dataset,
    folder_dataset,
    load_pairs,
)
from srzoo.evaluation.evaluate import (
    ImageScore,
    SetResult,
    batches,
    measured_scores,
    on_uint8,
)
from srzoo.evaluation.imresize import make_lr
from srzoo.evaluation.metrics import evaluate_pair
from srzoo.models import build_model
from srzoo.zoo.convert import import_checkpoint
from srzoo.zoo.manifest import load_manifest, update_measured
from srzoo.zoo.weightfile import save_weights

CITATION = '{ title = "A paper", venue = "A venue", year = 2023 }'
SIZES = ((38, 45), (38, 45), (33, 30))  # (H, W): two of a size (batched together), odd sizes (cropped)


def _image(path: Path, shape: tuple[int, int], seed: int, grey: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (*shape, 1 if grey else 3), dtype=np.uint8)
    pixels = np.repeat(pixels, 3, axis=2) if grey else pixels
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[..., 0] if grey else pixels).save(path)
    return pixels


def _hr_folder(folder: Path) -> dict[str, np.ndarray]:
    """Three small HR images (one grey) in `folder`, by stem."""
    return {f"im{i}": _image(folder / f"im{i}.png", shape, seed=i, grey=i == 2) for i, shape in enumerate(SIZES)}


def publish(monkeypatch: pytest.MonkeyPatch, table: Path, sets: tuple[str, ...] = ("Set5", "B100", "Manga109")) -> None:
    """Make `_hr_folder`'s three images the published images of `sets` (a benchmark table of our own)."""
    rows = ["set\tname\twidth\theight\tsha256"]
    for name in sets:
        for i, shape in enumerate(SIZES):
            pixels = _image(table.parent / "im.png", shape, seed=i, grey=i == 2)
            rows.append(f"{name}\tim{i}\t{shape[1]}\t{shape[0]}\t{hashlib.sha256(pixels.tobytes()).hexdigest()}")
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(facts, "FACTS_PATH", table)


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A one-entry manifest (random LKDN x2 in the weights dir) and a data root with Set5 and BSD100."""
    torch.manual_seed(0)
    weights = tmp_path / "weights" / "lkdn_x2.safetensors"
    weights.parent.mkdir()
    save_weights(weights, build_model("lkdn", 2).state_dict(), {"family": "lkdn", "scale": "2", "form": "inference"})
    manifest = tmp_path / "zoo.toml"
    manifest.write_text(
        "# the test zoo\nschema = 1\n\n[[models]]\n"
        'name = "lkdn"\naliases = ["lkdnet"]\nscale = 2\nstatus = "available"\nform = "inference"\n'
        'params = 303812\nfilename = "lkdn_x2.safetensors"\nrepo_id = "test/zoo"\nrevision = "main"\n'
        f'licence = "MIT"\ncitation = {CITATION}\n'
        'source = { kind = "srzoo-train", command = "pytest", data = "random init" }\n'
        f'sha256 = "{hashlib.sha256(weights.read_bytes()).hexdigest()}"\n'
        "paper = { Set5 = [30.0, 0.9] }  # a made-up row\n", encoding="utf-8")
    monkeypatch.setenv("SRZOO_MANIFEST", str(manifest))
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(weights.parent))
    monkeypatch.setenv("SRZOO_DATA", str(tmp_path / "data"))
    _hr_folder(tmp_path / "data" / "Set5" / "HR")
    _hr_folder(tmp_path / "data" / "BSD100" / "HR")
    publish(monkeypatch, tmp_path / "benchmarks.tsv")
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["eval", *args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


# --- datasets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, canonical", [("set5", "Set5"), ("URBAN100", "Urban100"), ("BSD100", "B100"),
                                             ("b100", "B100"), (" Manga109 ", "Manga109")])
def test_dataset_names_are_case_insensitive_with_the_bsd100_alias(name: str, canonical: str):
    assert canonical_name(name) == canonical


def test_unknown_dataset_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown dataset 'Set6'"):
        canonical_name("Set6")


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path: Path):
    with pytest.raises(SrzooError) as exc:
        find_dataset("manga109", tmp_path)
    message = str(exc.value)
    assert "\n" not in message
    assert str(tmp_path / "Manga109" / "HR") in message and "manga109.org" in message
    assert "$SRZOO_DATA" in message and "~/.local/share/srzoo/datasets" in message


def test_alias_folder_is_found(tmp_path: Path):
    _hr_folder(tmp_path / "bsd100" / "HR")
    dataset = find_dataset("B100", tmp_path)
    assert dataset.name == "B100" and dataset.hr_dir == tmp_path / "bsd100" / "HR"


@pytest.mark.parametrize("choice,recipe", [("auto", "matlab"), ("basicsr", "basicsr"), ("matlab", "matlab")])
def test_lr_is_made_by_bicubic_when_absent(tmp_path: Path, choice: str, recipe: str):
    hrs = _hr_folder(tmp_path / "Set14" / "HR")
    dataset = find_dataset("Set14", tmp_path)
    assert dataset.lr_source(3, choice) == recipe
    pairs = list(load_pairs(dataset, 3, choice))
    assert [p.name for p in pairs] == sorted(hrs)
    for pair in pairs:
        hr = hrs[pair.name]
        h, w = hr.shape[0] // 3 * 3, hr.shape[1] // 3 * 3
        np.testing.assert_array_equal(pair.hr, hr[:h, :w])
        np.testing.assert_array_equal(pair.lr, make_lr(hr, 3, recipe))


def test_genuine_lr_files_are_used_and_checked(tmp_path: Path):
    hrs = _hr_folder(tmp_path / "Set5" / "HR")
    lr_dir = tmp_path / "Set5" / "LR_bicubic" / "X2"
    lrs = {name: _image(lr_dir / f"{name}x2.png", (hr.shape[0] // 2, hr.shape[1] // 2), seed=10)
           for name, hr in hrs.items()}
    dataset = find_dataset("Set5", tmp_path)
    assert dataset.lr_source(2) == "files" and dataset.lr_source(3) == "matlab"
    for pair in load_pairs(dataset, 2):
        np.testing.assert_array_equal(pair.lr, lrs[pair.name])
    assert dataset.lr_source(2, "matlab") == "matlab"  # a recipe ignores the files
    for pair in load_pairs(dataset, 2, "matlab"):
        np.testing.assert_array_equal(pair.lr, make_lr(hrs[pair.name], 2, "matlab"))
    _image(lr_dir / "im0x2.png", (5, 5), seed=0)
    with pytest.raises(SrzooError, match="not its x2 LR input"):
        list(load_pairs(dataset, 2))
    (lr_dir / "im0x2.png").unlink()
    with pytest.raises(SrzooError, match="no LR input for im0.png"):
        list(load_pairs(dataset, 2))


def test_folder_dataset_with_flat_lr_folder(tmp_path: Path):
    hrs = _hr_folder(tmp_path / "photos" / "HR")
    for name, hr in hrs.items():
        _image(tmp_path / "small" / f"{name}.png", (hr.shape[0] // 2, hr.shape[1] // 2), seed=3)
    dataset = folder_dataset(tmp_path / "photos" / "HR", tmp_path / "small")
    assert dataset.name == "photos" and dataset.lr_source(2) == "files"
    assert len(list(load_pairs(dataset, 2))) == 3
    assert folder_dataset(tmp_path / "photos" / "HR").lr_source(2) == "matlab"


# --- evaluation -------------------------------------------------------------------------------------

def _pair(name: str, shape: tuple[int, int]) -> ImagePair:
    return ImagePair(name, np.zeros((*shape, 3), np.uint8), np.zeros((*shape, 3), np.uint8))


def test_batches_group_same_size_images_within_the_budget():
    pairs = [_pair(f"a{i}", (10, 10)) for i in range(5)] + [_pair("b", (20, 10)), _pair("a5", (10, 10))]
    groups = list(batches(pairs, max_pixels=300, max_images=16))
    assert sorted(p.name for g in groups for p in g) == sorted(p.name for p in pairs)
    assert all(len({p.lr.shape for p in g}) == 1 and len(g) <= 3 for g in groups)
    assert [len(g) for g in groups] == [3, 1, 3]  # b is a batch on its own: 200 pixels


def _nearest_x2(x: torch.Tensor) -> torch.Tensor:
    return x.repeat_interleave(2, -1).repeat_interleave(2, -2)


def test_out_of_memory_splits_the_batch_then_uses_the_fallback():
    sizes = []

    def network(x: torch.Tensor) -> torch.Tensor:
        sizes.append(tuple(x.shape))
        if x.shape[0] > 1 or x.shape[-1] > 4:
            raise torch.OutOfMemoryError("out of memory")
        return _nearest_x2(x)

    small = [np.full((4, 4, 3), v, np.uint8) for v in (10, 200)]
    assert [sr[0, 0, 0] for sr in on_uint8(network)(small)] == [10, 200]
    assert sizes == [(2, 3, 4, 4), (1, 3, 4, 4), (1, 3, 4, 4)]
    big = [np.full((8, 8, 3), 7, np.uint8)]
    with pytest.raises(SrzooError, match="8x8 LR image does not fit .* use --tile"):
        on_uint8(network)(big)
    [sr] = on_uint8(network, fallback=_nearest_x2)(big)
    assert sr.shape == (16, 16, 3) and sr.dtype == np.uint8 and (sr == 7).all()


def test_result_record_and_delta():
    result = SetResult("lkdn", 4, "Set5", "files", paper=(32.0, 0.9))
    result.per_image = [ImageScore("a", 32.5, 0.91), ImageScore("b", 32.3, 0.89)]
    record = result.record(per_image=True)
    assert record["images"] == 2 and record["psnr"] == pytest.approx(32.4) and record["ssim"] == pytest.approx(0.9)
    assert record["delta_psnr"] == pytest.approx(0.4) and record["paper_ssim"] == 0.9
    assert [row["image"] for row in record["per_image"]] == ["a", "b"]


def test_update_manifest_edits_only_the_measured_line(zoo: Path):
    manifest = zoo / "zoo.toml"
    before = manifest.read_text(encoding="utf-8")
    first = SetResult("lkdn", 2, "Set5", "files")
    first.per_image = [ImageScore("a", 31.23456, 0.876543)]
    assert update_measured(measured_scores([first]), manifest) == ["lkdn x2"]
    after = manifest.read_text(encoding="utf-8")
    assert after == before + "measured = { Set5 = [31.235, 0.8765] }\n"
    second = SetResult("lkdn", 2, "Urban100", "basicsr")
    second.per_image = [ImageScore("a", 25.0, 0.75)]
    update_measured(measured_scores([second]), manifest)
    assert manifest.read_text(encoding="utf-8") == before + (
        "measured = { Set5 = [31.235, 0.8765], Urban100 = [25.000, 0.7500] }\n")
    assert load_manifest(manifest)[0].measured == {"Set5": (31.235, 0.8765), "Urban100": (25.0, 0.75)}


def test_update_manifest_refuses_unknown_entries(zoo: Path):
    result = SetResult("alkdn", 4, "Set5", "files")
    result.per_image = [ImageScore("a", 30.0, 0.8)]
    before = (zoo / "zoo.toml").read_text(encoding="utf-8")
    with pytest.raises(SrzooError, match="alkdn x4"):
        update_measured(measured_scores([result]), zoo / "zoo.toml")
    assert (zoo / "zoo.toml").read_text(encoding="utf-8") == before


# --- the command ------------------------------------------------------------------------------------

def test_json_output_shape_and_numbers(zoo: Path, capsys: pytest.CaptureFixture[str]):
    code, out, _ = run_cli(capsys, "-m", "lkdn", "-s", "2", "--dataset", "set5", "--dataset", "BSD100",
                           "--json", "--per-image")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"protocol", "results"}
    assert "rgb2ycbcr" in data["protocol"]["channel"]
    set5, b100 = data["results"]
    for key in ("model", "scale", "dataset", "images", "psnr", "ssim", "paper_psnr", "paper_ssim", "delta_psnr"):
        assert key in set5
    assert (set5["model"], set5["scale"], set5["dataset"], set5["images"]) == ("lkdn", 2, "Set5", 3)
    assert b100["dataset"] == "B100" and b100["paper_psnr"] is None and b100["delta_psnr"] is None
    assert set5["delta_psnr"] == pytest.approx(set5["psnr"] - 30.0)
    # the numbers are those of the protocol, recomputed here image by image
    torch.manual_seed(0)
    model = build_model("lkdn", 2).eval()
    scores = []
    for pair in load_pairs(find_dataset("Set5", zoo / "data"), 2):
        x = torch.from_numpy(pair.lr.copy()).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            sr = (model(x).clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).numpy()
        scores.append(evaluate_pair(sr, pair.hr, 2))
    assert [row["psnr"] for row in set5["per_image"]] == pytest.approx([s[0] for s in scores], abs=1e-6)
    assert set5["ssim"] == pytest.approx(np.mean([s[1] for s in scores]), abs=1e-7)


def test_user_supplied_manga109_is_evaluated_with_bicubic_lr(zoo: Path, capsys: pytest.CaptureFixture[str]):
    """Manga109 is not shipped (academic licence): a copy the user puts under the data root, with
    no LR files and a grey page among colour ones, is found by name and scored like the others."""
    _hr_folder(zoo / "data" / "Manga109" / "HR")
    code, out, _ = run_cli(capsys, "-m", "lkdn", "-s", "2", "--dataset", "manga109", "--json")
    assert code == 0
    (result,) = json.loads(out)["results"]
    assert (result["dataset"], result["images"], result["lr"]) == ("Manga109", 3, "matlab")
    assert 0 < result["psnr"] < 100 and 0 < result["ssim"] <= 1


def test_default_runs_every_available_entry_on_every_found_dataset(zoo: Path, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch):
    from loopback import hub_settings

    hub_settings(monkeypatch, HF_HOME=str(zoo / "hf"), HF_HUB_OFFLINE="1")  # the public sets cannot be fetched
    code, out, err = run_cli(capsys, "--markdown")
    assert code == 0
    assert "not found under" in err and "Manga109" in err
    assert "| LKDN | x2 | measured |" in out and "| LKDN | x2 | paper | 30.00/0.9000 |" in out
    assert out.splitlines()[0] == "| model | scale | row | Set5 | B100 |"


def test_rich_tables_show_protocol_and_delta(zoo: Path, capsys):
    code, out, _ = run_cli(capsys, "-m", "lkdnet", "--dataset", "Set5", "--per-image")
    assert code == 0
    protocol = [line for line in out.splitlines() if line.startswith(("Protocol:", "LR inputs:"))]
    assert len(protocol) == 2 and "LR inputs: matlab for Set5" in protocol[1]
    assert "Wang et al. 2004" not in out and "30.00 / 0.9000" in out and "im2" in out
    code, out, _ = run_cli(capsys, "-m", "lkdnet", "--dataset", "Set5", "--verbose")
    assert code == 0 and "Wang et al. 2004" in out and "basicsr" in out


def test_check_exit_codes(zoo: Path, capsys: pytest.CaptureFixture[str]):
    code, _, err = run_cli(capsys, "--dataset", "Set5", "--dataset", "B100", "--check", "--tolerance", "1000")
    assert code == 0 and "check passed: 1 result(s) of 1 entries" in err
    assert "not checked (the paper gives no number): lkdn x2 B100" in err
    code, _, err = run_cli(capsys, "--dataset", "Set5", "--check", "--tolerance", "0")
    assert code == 1 and "check failed: lkdn x2 Set5" in err


def test_check_skips_a_paper_row_that_is_not_the_authors(zoo: Path, capsys: pytest.CaptureFixture[str]):
    manifest = zoo / "zoo.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "paper_verified = false\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--dataset", "Set5", "--check", "--tolerance", "0", "--markdown")
    assert code == 0 and "not checked, no paper row of their own (see zoo.toml paper_note): lkdn x2" in err
    assert "| paper (not its own) | 30.00/0.9000 |" in out


def test_hr_and_lr_folders(zoo: Path, capsys: pytest.CaptureFixture[str]):
    hrs = _hr_folder(zoo / "mine")
    for name, hr in hrs.items():
        _image(zoo / "mine_lr" / f"{name}x2.png", (hr.shape[0] // 2, hr.shape[1] // 2), seed=5)
    code, out, _ = run_cli(capsys, "--hr", str(zoo / "mine"), "--lr", str(zoo / "mine_lr"), "--json")
    assert code == 0
    [result] = json.loads(out)["results"]
    assert (result["dataset"], result["lr"], result["images"]) == ("mine", "files", 3)


def test_missing_dataset_is_a_one_line_error(zoo: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch):
    from loopback import closed_port_url, hub_settings

    monkeypatch.setenv("SRZOO_ORIGIN_ENDPOINT", closed_port_url())
    hub_settings(monkeypatch, HF_ENDPOINT=closed_port_url(), HF_HOME=str(zoo / "hf"))
    code, out, err = run_cli(capsys, "--dataset", "Urban100")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Urban100" in err and str(zoo / "data") in err
    assert not (zoo / "data" / "Urban100").exists()
    code, out, err = run_cli(capsys, "--dataset", "Manga109")
    assert code == 1 and err.count("\n") == 1 and "http://www.manga109.org/en/" in err


def test_update_manifest_from_the_command(zoo: Path, capsys: pytest.CaptureFixture[str]):
    code, out, _ = run_cli(capsys, "--dataset", "Set5", "--update-manifest", "--json")
    assert code == 0
    measured = json.loads(out)["results"][0]
    written = tomllib.loads((zoo / "zoo.toml").read_text(encoding="utf-8"))["models"][0]["measured"]
    assert written["Set5"] == [round(measured["psnr"], 3), round(measured["ssim"], 4)]
    code, _, err = run_cli(capsys, "--dataset", "Set5", "--update-manifest", "--tile", "16")
    assert code == 2 and "--update-manifest" in err


@pytest.mark.parametrize("args, message", [
    (("--all", "-m", "lkdn"), "--all cannot be combined"),
    (("-s", "5"), "no model has an x5 variant"),
    (("--weights", "w.safetensors", "-m", "lkdn", "-m", "alkdn"), "--weights is one network"),
    (("--json", "--markdown"), "cannot be combined"),
    (("--lr", "x"), "--lr needs --hr"),
    (("--dataset", "Set6"), "unknown dataset"),
    (("--lr-recipe", "pil"), "--lr-recipe must be one of"),
    (("--lr-recipe", "matlab", "--update-manifest"), "--update-manifest records"),
])
def test_usage_errors_exit_2(zoo: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str):
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and message in err


# --- the official weights on the genuine Set5 ---------------------------------------------------------

@pytest.mark.parametrize("recipe,lr,psnr,ssim", [("auto", "files", 32.395, 0.8980),
                                                 ("basicsr", "basicsr", 32.389, 0.8979)])
def test_official_lkdn_x4_on_set5(shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], recipe: str, lr: str, psnr: float,
                                  ssim: float):
    """LKDN x4 on Set5: 32.395 / 0.8980 with the genuine MATLAB LR files, 32.389 / 0.8979 with
    BasicSR-style LR (the authors' README: 32.39 / 0.8979)."""
    datasets = shared_dir / "datasets"
    if not (datasets / "Set5" / "HR").is_dir():
        pytest.skip(f"Set5 not found under {datasets}")
    state, metadata = import_checkpoint(shared_dir / "weights" / "official" / "lkdn" / "LKDN_x4.pth", "lkdn", 4)
    save_weights(tmp_path / "lkdn_x4.safetensors", state, metadata)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path))
    code, out, _ = run_cli(capsys, "-m", "lkdn", "-s", "4", "--dataset", "Set5", "--data-root", str(datasets),
                           "--lr-recipe", recipe, "--json")
    assert code == 0
    [result] = json.loads(out)["results"]
    assert (result["images"], result["lr"]) == (5, lr)
    assert result["psnr"] == pytest.approx(psnr, abs=0.001)
    assert result["ssim"] == pytest.approx(ssim, abs=0.0001)


def test_a_paper_row_without_ssim_is_shown_and_checked(zoo: Path, capsys: pytest.CaptureFixture[str]):
    manifest = zoo / "zoo.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("Set5 = [30.0, 0.9]", "Set5 = [30.0]"), encoding="utf-8")
    code, out, err = run_cli(capsys, "--dataset", "Set5", "--check", "--tolerance", "1000", "--markdown")
    assert code == 0 and "check passed: 1 result(s)" in err
    assert "| LKDN | x2 | paper | 30.00/- |" in out


def test_images_smaller_than_the_scale_are_a_clear_error(zoo: Path, capsys: pytest.CaptureFixture[str]):
    _image(zoo / "small" / "tiny.png", (3, 5), seed=1)
    code, _, err = run_cli(capsys, "-m", "lkdn", "-s", "2", "--hr", str(zoo / "small"))
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "tiny.png is 5x3: too small to evaluate at x2" in err


def test_save_images_where_nothing_can_be_written(zoo: Path, capsys: pytest.CaptureFixture[str]):
    (zoo / "a-file").write_text("not a folder")
    code, _, err = run_cli(capsys, "-m", "lkdn", "-s", "2", "--dataset", "Set5", "--save-images",
                           str(zoo / "a-file" / "sr"))
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: cannot write the SR images to "), err
    assert "internal error" not in err


def test_progress_is_reported_per_batch_of_images(zoo: Path):
    """What the progress bar counts: every image of the set, once, after every job scored it."""
    from srzoo.evaluation.evaluate import Contender, evaluate

    def nearest(lrs: list[np.ndarray]) -> list[np.ndarray]:
        return [lr.repeat(2, axis=0).repeat(2, axis=1) for lr in lrs]

    seen: list[int] = []
    dataset = find_dataset("Set5", zoo / "data")
    (result,) = evaluate([Contender("nearest", nearest)], dataset, 2, on_images=seen.append)
    assert sum(seen) == result.images == len(list(dataset.hr_dir.iterdir()))


def test_eval_without_a_model_skips_entries_that_cannot_be_fetched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]):
    """No network: every bundled entry is evaluated, the others are passed over in one note, exit 0."""
    from loopback import closed_port_url, hub_settings

    monkeypatch.delenv("SRZOO_MANIFEST", raising=False)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("SRZOO_ORIGIN_ENDPOINT", closed_port_url())
    hub_settings(monkeypatch, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    for seed in (0, 1):
        _image(tmp_path / "data" / "Set5" / "HR" / f"im{seed}.png", (64, 60), seed)
    code, out, err = run_cli(capsys, "--data-root", str(tmp_path / "data"), "-d", "Set5", "--json")
    assert code == 0, err
    evaluated = sorted((r["model"], r["scale"]) for r in json.loads(out)["results"])
    assert evaluated == [("aidn", 2), ("aidn", 3), ("lkdn", 2), ("lkdn", 3), ("lkdn", 4), ("lkdn-s", 2),
                         ("lkdn-s", 3)]
    assert "skipping entries whose weights cannot be fetched now: alkdn x2" in err


# --- is it the published set? -------------------------------------------------------------------------

def test_a_copy_that_differs_is_scored_but_not_compared(zoo: Path, capsys: pytest.CaptureFixture[str]):
    """One image changed, one missing: the results say so by name, with no difference from the paper;
    --check fails on it and --update-manifest refuses to record it."""
    hr = zoo / "data" / "Set5" / "HR"
    _image(hr / "im0.png", SIZES[0], seed=99)
    (hr / "im1.png").unlink()
    code, out, err = run_cli(capsys, "-m", "lkdn", "-s", "2", "--dataset", "Set5", "--json")
    assert code == 0, err
    [result] = json.loads(out)["results"]
    assert result["published_set"] is False and result["delta_psnr"] is None and result["images"] == 2
    assert result["set_check"] == "1 of 3 images missing (im1); 1 differ from the published pixels (im0)"
    assert "Set5 under" in err and "is not the published set" in err
    code, out, _ = run_cli(capsys, "-m", "lkdn", "-s", "2", "--dataset", "Set5")
    assert code == 0 and "set differs" in out and "30.00 / 0.9000" in out
    code, _, err = run_cli(capsys, "--dataset", "Set5", "--check", "--tolerance", "1000")
    assert code == 1 and "check failed: not the published images" in err and "im0" in err
    before = (zoo / "zoo.toml").read_text(encoding="utf-8")
    code, _, err = run_cli(capsys, "--dataset", "Set5", "--update-manifest")
    assert code == 1 and "not writing the measured numbers: Set5 is not the published set" in err
    assert (zoo / "zoo.toml").read_text(encoding="utf-8") == before


def test_a_users_manga109_is_checked_against_the_published_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]):
    """The real Manga109 table (names, sizes, pixel hashes; the images are not shipped): a copy
    holding other pages is named as such, image by image."""
    monkeypatch.setenv("SRZOO_DATA", str(tmp_path / "data"))
    _hr_folder(tmp_path / "data" / "Manga109" / "HR")
    code, out, err = run_cli(capsys, "-m", "lkdn", "-s", "2", "--dataset", "Manga109", "--json")
    assert code == 0, err
    [result] = json.loads(out)["results"]
    assert result["set_check"].startswith("109 of 109 images missing (ARMS, AisazuNihaIrarenai, ")
    assert result["set_check"].endswith("and 104 more); 3 not in Manga109 (im0, im1, im2)")
