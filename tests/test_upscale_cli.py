"""`srzoo upscale` end to end with a random-weight LKDN x2, and the `srzoo.upscale` library call."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image, ImageCms

import srzoo
from srzoo.cli import main
from srzoo.media import batch
from srzoo.models import build_model
from srzoo.zoo.weightfile import save_weights

RNG = np.random.default_rng(1)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "lkdn_x2.safetensors"
    torch.manual_seed(0)
    save_weights(path, build_model("lkdn", 2).state_dict(), {"family": "lkdn", "scale": "2", "form": "inference"})
    return path


def run(weights: Path, *args: str | Path) -> int:
    """Run `srzoo upscale ARGS -m lkdn -s 2 --weights W` in-process; returns the exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", *map(str, args), "-m", "lkdn", "-s", "2", "--weights", str(weights)])
    return exit_info.value.code


def picture(path: Path, mode: str = "RGB", size: tuple[int, int] = (24, 20), **save: object) -> Path:
    channels = len(Image.new(mode, (1, 1)).getbands())
    data = RNG.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(data[..., 0] if channels == 1 else data).convert(mode).save(path, **save)
    return path


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_writes_default_name_at_exactly_twice_the_size(tmp_path: Path, weights: Path) -> None:
    source = picture(tmp_path / "photo.png")
    assert run(weights, source, "-q") == 0
    with Image.open(tmp_path / "photo_lkdn_x2.png") as out:
        assert out.size == (48, 40) and out.mode == "RGB"


@pytest.mark.parametrize(("mode", "expected"), [("RGBA", "RGBA"), ("LA", "LA"), ("L", "L"), ("P", "RGB")])
def test_modes_round_trip(tmp_path: Path, weights: Path, mode: str, expected: str) -> None:
    source = picture(tmp_path / "in.png", mode)
    assert run(weights, source, "-q") == 0
    with Image.open(tmp_path / "in_lkdn_x2.png") as out:
        assert out.mode == expected and out.size == (48, 40)


def test_palette_with_transparency_gets_alpha(tmp_path: Path, weights: Path) -> None:
    image = Image.new("P", (24, 20), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 12, 20))
    image.save(tmp_path / "pal.png", transparency=0)
    assert run(weights, tmp_path / "pal.png", "-q") == 0
    assert Image.open(tmp_path / "pal_lkdn_x2.png").mode == "RGBA"


def test_16bit_stays_16bit(tmp_path: Path, weights: Path) -> None:
    samples = RNG.integers(0, 65536, size=(20, 24), dtype=np.uint16)
    Image.fromarray(samples).save(tmp_path / "deep.png")
    assert run(weights, tmp_path / "deep.png", "-q") == 0
    with Image.open(tmp_path / "deep_lkdn_x2.png") as out:
        assert out.mode == "I;16" and out.size == (48, 40)


def test_exif_and_icc_are_carried_over(tmp_path: Path, weights: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Orientation] = 8
    source = picture(tmp_path / "cam.jpg", exif=exif.tobytes(), icc_profile=icc)
    assert run(weights, source, "-q", "--quality", "92") == 0
    with Image.open(tmp_path / "cam_lkdn_x2.jpg") as out:
        assert out.size == (40, 48)  # orientation 8 applied: portrait
        assert out.info["icc_profile"] == icc
        tags = out.getexif()
        assert tags[ExifTags.Base.Make] == "TestCam" and ExifTags.Base.Orientation not in tags


def test_batch_with_a_corrupt_file_finishes_the_rest_and_exits_1(tmp_path: Path, weights: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "c.jpg"):
        picture(folder / name)
    good = (folder / "a.png").read_bytes()
    (folder / "b.png").write_bytes(good[: len(good) // 2])
    assert run(weights, folder, "-o", tmp_path / "out", "--json", "-q") == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert sorted(Path(o["output"]).name for o in summary["outputs"]) == ["a_lkdn_x2.png", "c_lkdn_x2.jpg"]
    assert [f["input"] for f in summary["failed"]] == [str(folder / "b.png")]
    assert "truncated" in summary["failed"][0]["error"] and summary["exit_code"] == 1
    assert {"model_load_s", "total_s"} <= set(summary["timings"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_lkdn_x2.png", "c_lkdn_x2.jpg"]
    assert "failed" in captured.err and "Traceback" not in captured.err


def test_interrupted_batch_leaves_no_partial_file_and_a_rerun_resumes(tmp_path: Path, weights: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a.png", "b.png", "c.png"):
        picture(tmp_path / name)
    real = batch.write_image

    def interrupted_on_b(result: object, target: Path, *args: object) -> None:
        real(result, target, *args)  # the temporary file is fully written...
        if "b_lkdn_x2" in target.name:
            raise KeyboardInterrupt  # ...and Ctrl-C arrives before the rename

    monkeypatch.setattr(batch, "write_image", interrupted_on_b)
    assert run(weights, tmp_path, "-q") == 130
    assert sorted(p.name for p in tmp_path.glob("*_x2*")) == ["a_lkdn_x2.png"] and not leftovers(tmp_path)

    monkeypatch.setattr(batch, "write_image", real)
    stamp = (tmp_path / "a_lkdn_x2.png").stat().st_mtime_ns
    assert run(weights, tmp_path, "-q") == 0
    assert sorted(p.name for p in tmp_path.glob("*_x2*")) == ["a_lkdn_x2.png", "b_lkdn_x2.png", "c_lkdn_x2.png"]
    assert (tmp_path / "a_lkdn_x2.png").stat().st_mtime_ns == stamp  # skipped, not redone
    assert run(weights, tmp_path, "-q", "--overwrite") == 0
    assert (tmp_path / "a_lkdn_x2.png").stat().st_mtime_ns != stamp


def test_recursive_glob_mirrors_subfolders(tmp_path: Path, weights: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    picture(tmp_path / "in" / "a.png")
    picture(tmp_path / "in" / "sub" / "b.png")
    picture(tmp_path / "in" / "sub" / "c.jpg")
    assert run(weights, tmp_path / "in", "-r", "--glob", "*.png", "-o", tmp_path / "out", "--format", "webp",
               "-q") == 0
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*"))
    assert written == ["a_lkdn_x2.webp", "sub/b_lkdn_x2.webp"]


def test_output_file_and_never_overwriting_an_input(tmp_path: Path, weights: Path) -> None:
    source = picture(tmp_path / "a.png")
    assert run(weights, source, "-o", tmp_path / "big.jpg", "-q") == 0
    assert Image.open(tmp_path / "big.jpg").format == "JPEG"
    before = source.read_bytes()
    assert run(weights, source, "-o", source, "--overwrite", "-q") == 1
    assert source.read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["-s", "5"], "no x5 variant"),
    (["--tile", "big"], "--tile"),
    (["-o", "one.png", "b.png"], "names one file"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    picture(tmp_path / "a.png")
    picture(tmp_path / "b.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", "a.png", "--weights", str(weights), "-m", "lkdn", "-s", "2", *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_huge_and_missing_inputs_are_reported_failures(tmp_path: Path, weights: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    source = picture(tmp_path / "a.png")
    assert run(weights, source, tmp_path / "missing.png", "--max-pixels", "100", "-q") == 1
    err = capsys.readouterr().err
    assert "over the limit of 100" in err and "--max-pixels" in err and "no such file" in err
    assert not list(tmp_path.glob("*_x2*"))


def test_stdin_to_stdout(weights: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)).save(buffer, "JPEG")
    done = subprocess.run([sys.executable, "-m", "srzoo", "upscale", "-", "-m", "lkdn", "-s", "2",
                           "--weights", str(weights)], input=buffer.getvalue(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    with Image.open(io.BytesIO(done.stdout)) as out:
        assert out.format == "PNG" and out.size == (48, 40)


def test_library_call_keeps_the_input_type(weights: Path) -> None:
    options = {"model": "lkdn", "scale": 2, "weights": weights}
    image = Image.new("LA", (12, 10), (128, 200))
    assert (out := srzoo.upscale(image, **options)).mode == "LA" and out.size == (24, 20)
    deep = RNG.integers(0, 65536, size=(10, 12), dtype=np.uint16)
    assert (array := srzoo.upscale(deep, **options)).dtype == np.uint16 and array.shape == (20, 24)
    tensor = torch.rand(2, 4, 10, 12, dtype=torch.float64)
    assert (result := srzoo.upscale(tensor, **options)).shape == (2, 4, 20, 24) and result.dtype == torch.float64
    with pytest.raises(TypeError):
        srzoo.upscale("photo.png", **options)


def test_library_batch_gives_the_cli_summary(tmp_path: Path, weights: Path, capsys) -> None:
    """`srzoo.upscale_files` is what the CLI runs: same outputs, same summary as --json."""
    import srzoo

    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png"):
        picture(tmp_path / "in" / name)
    result = srzoo.upscale_files([str(tmp_path / "in")], output=tmp_path / "lib", model="lkdn", scale=2,
                                 weights=weights)
    assert result.exit_code == 0 and not capsys.readouterr().err  # the library prints nothing
    summary = result.to_json()
    assert summary["exit_code"] == 0 and summary["weights"]["from"] == "file"
    assert sorted(Path(o["output"]).name for o in summary["outputs"]) == ["a_lkdn_x2.png", "b_lkdn_x2.png"]
    again = srzoo.upscale_files([str(tmp_path / "in")], output=tmp_path / "lib", model="lkdn", scale=2,
                                weights=weights)
    assert [s["reason"] for s in again.skipped] == ["output exists", "output exists"]
    capsys.readouterr()
    assert run(weights, tmp_path / "in", "-o", tmp_path / "cli", "--json") == 0
    cli = json.loads(capsys.readouterr().out)
    assert set(cli) == set(summary) and [o["size"] for o in cli["outputs"]] == [o["size"] for o in summary["outputs"]]


def test_image_bytes_are_not_written_to_a_terminal(weights: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert run(weights, "-") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "refusing to write image data to a terminal" in captured.err and "> out.png" in captured.err


def test_a_folder_without_images_is_a_failure_that_says_so(tmp_path: Path, weights: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    assert run(weights, tmp_path / "empty") == 1
    assert f"no images or videos found in {tmp_path / 'empty'}" in capsys.readouterr().err


@pytest.mark.parametrize("blocked", ["not-a-folder", "read-only"])
def test_an_unwritable_output_names_the_output_not_the_temporary_file(
        tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        blocked: str) -> None:
    source = picture(tmp_path / "a.png")
    if blocked == "not-a-folder":
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "out"
    else:  # tests run as root, where chmod does not stop writes: refuse them where tempfiles are made
        out = tmp_path / "out"

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(out / ".a_lkdn_x2.png.x.part"))

        monkeypatch.setattr("srzoo.fsutil.tempfile.mkstemp", refuse)
    assert run(weights, source, "-o", f"{out}/") == 1
    err = capsys.readouterr().err
    assert f"cannot write {out / 'a_lkdn_x2.png'}:" in err and ".part" not in err


def test_float_tiff_is_upscaled_as_floats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A grey float32 TIFF in [0.70, 0.80] (the official LKDN x2, bundled): float TIFF out, same level;
    16-bit PNG where floats cannot go; samples outside [0, 1] refused in one line."""
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    samples = RNG.uniform(0.70, 0.80, (16, 16)).astype(np.float32)
    Image.fromarray(samples, mode="F").save(tmp_path / "float.tif")

    def upscale(*args: str | Path) -> int:
        with pytest.raises(SystemExit) as exit_info:
            main(["upscale", *map(str, args), "-m", "lkdn", "-s", "2", "-q"])
        return exit_info.value.code

    assert upscale(tmp_path / "float.tif", "-o", tmp_path / "o" / "") == 0
    with Image.open(tmp_path / "o" / "float_lkdn_x2.tif") as out:
        result = np.asarray(out)
        assert out.mode == "F" and out.size == (32, 32)
    assert abs(float(result.mean()) - float(samples.mean())) < 0.01 and result.min() > 0.5
    assert upscale(tmp_path / "float.tif", "-o", tmp_path / "f.png") == 0
    with Image.open(tmp_path / "f.png") as out:
        assert out.mode == "I;16"
    Image.fromarray(np.full((8, 8), 3.5, np.float32), mode="F").save(tmp_path / "hdr.tif")
    capsys.readouterr()
    assert upscale(tmp_path / "hdr.tif", "-o", tmp_path / "h" / "") == 1
    assert "float samples span [3.5, 3.5]" in capsys.readouterr().err
    assert not (tmp_path / "h").exists() or not list((tmp_path / "h").iterdir())


def test_shards_split_a_batch_without_overlap(tmp_path: Path, weights: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    for index in range(5):
        picture(tmp_path / "in" / f"p{index}.png")
    done: list[list[str]] = []
    for k in (1, 2, 3):
        assert run(weights, tmp_path / "in", "-o", tmp_path / "out", "--shard", f"{k}/3", "--json") == 0
        done.append(sorted(Path(o["input"]).name for o in json.loads(capsys.readouterr().out)["outputs"]))
    assert done == [["p0.png", "p3.png"], ["p1.png", "p4.png"], ["p2.png"]]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"p{i}_lkdn_x2.png" for i in range(5)]
    for bad in ("0/3", "4/3", "1-3", "x"):
        assert run(weights, tmp_path / "in", "--shard", bad) == 2
        assert "--shard takes K/N" in capsys.readouterr().err


def test_a_device_list_runs_one_worker_each(tmp_path: Path, weights: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    for index in range(4):
        picture(tmp_path / "in" / f"p{index}.png")
    assert run(weights, tmp_path / "in", "-o", tmp_path / "out", "--device", "cpu,cpu", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(Path(o["input"]).name for o in summary["outputs"]) == [f"p{i}.png" for i in range(4)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"p{i}_lkdn_x2.png" for i in range(4)]
    assert run(weights, tmp_path / "in", "--device", "cpu,") == 2


def test_an_animated_gif_says_only_its_first_frame_is_upscaled(tmp_path: Path, weights: Path, capsys) -> None:
    frames = [Image.new("RGB", (12, 10), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    assert run(weights, tmp_path / "anim.gif", "-o", tmp_path / "out" / "", "--json") == 0
    captured = capsys.readouterr()
    assert "only the first of its 3 frames is upscaled" in captured.err
    (output,) = json.loads(captured.out)["outputs"]
    assert output["size"] == [24, 20] and "3 frames" in output["notes"][0]


def test_the_xargs_pipeline_can_be_rerun(tmp_path: Path, weights: Path, capsys, monkeypatch) -> None:
    """`find . -name '*.jpg' | xargs srzoo upscale -m lkdn -s 2 -o out/`, twice: the second run finds
    out/a_lkdn_x2.jpg among its inputs and skips it, upscales nothing twice, and exits 0."""
    monkeypatch.chdir(tmp_path)
    picture(tmp_path / "a.jpg")
    (tmp_path / "sub").mkdir()
    picture(tmp_path / "sub" / "b.jpg")

    def found() -> list[str]:
        return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.jpg"))

    assert run(weights, *found(), "-o", "out/", "-q") == 0
    assert found() == ["a.jpg", "out/a_lkdn_x2.jpg", "out/b_lkdn_x2.jpg", "sub/b.jpg"]
    capsys.readouterr()
    assert run(weights, *found(), "-o", "out/", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert found() == ["a.jpg", "out/a_lkdn_x2.jpg", "out/b_lkdn_x2.jpg", "sub/b.jpg"]
    reasons = sorted(s["reason"].split(" (")[0] for s in summary["skipped"])
    assert reasons == ["named like an srzoo output", "named like an srzoo output", "output exists", "output exists"]
    assert summary["failed"] == [] and summary["outputs"] == []


def test_the_library_takes_one_path_and_str_outputs(tmp_path: Path, weights: Path, monkeypatch) -> None:
    """A str (or PathLike) is one input, not a sequence of characters; `output` may be a str."""
    monkeypatch.chdir(tmp_path)
    picture(tmp_path / "photo.png")
    picture(tmp_path / "other.png")
    result = srzoo.upscale_files("photo.png", model="lkdn", scale=2, weights=weights)
    assert [Path(o["output"]).name for o in result.outputs] == ["photo_lkdn_x2.png"] and result.exit_code == 0
    result = srzoo.upscale_files([tmp_path / "photo.png"], output="out/", model="lkdn", scale=2, weights=str(weights))
    assert (tmp_path / "out" / "photo_lkdn_x2.png").is_file() and not (tmp_path / "other_lkdn_x2.png").exists()
    with pytest.raises(ValueError, match="unknown model"):
        srzoo.upscale_files("photo.png", model="nope")


def test_stdin_from_a_terminal_is_refused(weights: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert run(weights, "-", "-o", "x.png") == 2
    assert "reads an image from stdin, which is a terminal" in capsys.readouterr().err


def test_whole_image_runs_say_so_in_json(tmp_path: Path, weights: Path, capsys) -> None:
    source = picture(tmp_path / "photo.png")
    assert run(weights, source, "--tile", "0", "--json", "-o", tmp_path / "out.png") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["engine"]["tiling"] == "whole image" and summary["peak_rss_mb"] > 50


def test_an_output_without_a_suffix_is_a_folder_with_a_note(tmp_path: Path, weights: Path, capsys) -> None:
    source = picture(tmp_path / "photo.png")
    assert run(weights, source, "-o", tmp_path / "big") == 0
    assert (tmp_path / "big" / "photo_lkdn_x2.png").is_file()
    assert "has no file suffix, so it is a folder" in capsys.readouterr().err


def test_gif_and_other_unwritten_types_are_refused(tmp_path: Path, weights: Path, capsys) -> None:
    source = picture(tmp_path / "photo.png")
    assert run(weights, source, "-o", tmp_path / "big.gif") == 2
    assert "srzoo writes" in capsys.readouterr().err and not (tmp_path / "big.gif").exists()


def test_threads_option_and_environment(tmp_path: Path, weights: Path, capsys, monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        source = picture(tmp_path / "photo.png")
        assert run(weights, source, "--threads", "1", "--json", "-o", tmp_path / "a.png") == 0
        assert json.loads(capsys.readouterr().out)["engine"]["threads"] == "1"
        monkeypatch.setenv("SRZOO_THREADS", "2")
        assert run(weights, source, "--json", "-o", tmp_path / "b.png") == 0
        assert json.loads(capsys.readouterr().out)["engine"]["threads"] == "2"
        assert run(weights, source, "--threads", "0") == 2
    finally:
        torch.set_num_threads(before)
