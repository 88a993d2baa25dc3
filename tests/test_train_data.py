"""Training data on demand: `srzoo train FAMILY --scale S` without `--data` fetches its paper's data.

A DIV2K-shaped zip and a Flickr2K-shaped tar of a few tiny images stand in for the real archives;
`LoopbackOrigin` serves them on 127.0.0.1 under `$SRZOO_DIV2K_URL` / `$SRZOO_FLICKR2K_URL`, and the
sets' facts (names, size, sha256) are swapped for these archives' own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from loopback import LoopbackOrigin, closed_port_url, hub_settings
from PIL import Image

from srzoo.cli import main
from srzoo.errors import SrzooError
from srzoo.train import paperdata
from srzoo.train.paperdata import TRAINING_SETS, prepare


def _png(seed: int, size: int = 40) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def div2k_zip(count: int = 3) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for i in range(1, count + 1):
            zf.writestr(f"DIV2K_train_HR/{i:04d}.png", _png(i))
    return out.getvalue()


def flickr2k_tar(count: int = 2) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        members = {f"Flickr2K/Flickr2K_HR/{i:06d}.png": _png(100 + i) for i in range(1, count + 1)}
        members["Flickr2K/Flickr2K_LR_bicubic/X2/000001x2.png"] = _png(7, 20)  # not taken
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackOrigin]:
    """The owners' sites on loopback, srzoo pointed at them, and the sets' facts set to these archives."""
    div2k, flickr = div2k_zip(), flickr2k_tar()
    server = LoopbackOrigin({"/div2k/DIV2K_train_HR.zip": div2k, "/edsr/Flickr2K.tar": flickr})
    monkeypatch.setenv("SRZOO_DIV2K_URL", f"{server.url}/div2k/")
    monkeypatch.setenv("SRZOO_FLICKR2K_URL", f"{server.url}/edsr")
    monkeypatch.setenv("SRZOO_DATA", str(tmp_path / "data"))
    hub_settings(monkeypatch, HF_HOME=str(tmp_path / "hf"))
    sets = dict(TRAINING_SETS)
    sets["DIV2K"] = dataclasses.replace(sets["DIV2K"], size=len(div2k), sha256=hashlib.sha256(div2k).hexdigest(),
                                        names=lambda: [f"{i:04d}.png" for i in range(1, 4)])
    sets["Flickr2K"] = dataclasses.replace(sets["Flickr2K"], names=lambda: [f"{i:06d}.png" for i in range(1, 3)])
    monkeypatch.setattr(paperdata, "TRAINING_SETS", sets)
    yield server
    server.stop()


def test_df2k_is_fetched_checked_and_prepared_once(site: LoopbackOrigin, tmp_path: Path):
    root = tmp_path / "data"
    said: list[str] = []
    div2k, flickr = prepare(("DIV2K", "Flickr2K"), root, announce=said.append)
    assert div2k == root / "train" / "DIV2K" / "HR" and flickr == root / "train" / "Flickr2K" / "HR"
    assert sorted(p.name for p in div2k.iterdir()) == ["0001.png", "0002.png", "0003.png"]
    assert sorted(p.name for p in flickr.iterdir()) == ["000001.png", "000002.png"]
    assert "DIV2K (800 train HR images, " in said[0] and "Flickr2K (2,650 HR images, size not pinned)" in said[0]
    assert sorted(p.name for p in (root / "train").iterdir()) == [".downloads", "DIV2K", "Flickr2K"]
    assert list((root / "train" / ".downloads").iterdir()) == []  # archives deleted once prepared
    requests = list(site.requests)
    assert prepare(("DIV2K", "Flickr2K"), root) == [div2k, flickr]
    assert site.requests == requests  # a second run fetches nothing


def test_a_cut_download_is_resumed_by_the_next_run(site: LoopbackOrigin, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 256)  # a tiny archive: write in small chunks
    root = tmp_path / "data"
    site.cut_at = 1000
    with pytest.raises(SrzooError) as info:
        prepare(("DIV2K",), root)
    assert "\n" not in str(info.value) and "DIV2K_train_HR.zip" in str(info.value)
    part = root / "train" / ".downloads" / "DIV2K_train_HR.zip.part"
    assert 0 < part.stat().st_size <= 1000 and not (root / "train" / "DIV2K").exists()
    site.cut_at = None
    [hr] = prepare(("DIV2K",), root)
    assert len(list(hr.iterdir())) == 3 and not part.exists()


def test_an_archive_that_is_not_the_pinned_one_is_refused(site: LoopbackOrigin, tmp_path: Path):
    site.files["/div2k/DIV2K_train_HR.zip"] = div2k_zip(2) + b"x" * (len(div2k_zip()) - len(div2k_zip(2)))
    with pytest.raises(SrzooError, match="sha256 .* differs from the pinned"):
        prepare(("DIV2K",), tmp_path / "data")
    assert not (tmp_path / "data" / "train" / "DIV2K").exists()
    assert list((tmp_path / "data" / "train" / ".downloads").iterdir()) == []


def test_an_unpinned_archive_must_hold_the_named_images(site: LoopbackOrigin, tmp_path: Path):
    site.files["/edsr/Flickr2K.tar"] = div2k_zip(2)  # the wrong archive: no Flickr2K images
    with pytest.raises(SrzooError, match="is not the Flickr2K archive: 2 of 2 images missing"):
        prepare(("Flickr2K",), tmp_path / "data")
    assert not (tmp_path / "data" / "train" / "Flickr2K").exists()


def test_train_without_data_fetches_the_papers_data(site: LoopbackOrigin, tmp_path: Path, monkeypatch,
                                                      capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    with pytest.raises(SystemExit) as info:
        main(["train", "alkdn", "--scale", "2", "--iters", "2", "--batch-size", "2", "--patch-size", "16",
              "--threads", "1", "--val", "none"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "training data: DF2K, as in the ALKDNet paper; fetching DIV2K" in err
    assert "--data " + str(tmp_path / "data" / "train" / "DIV2K" / "HR") in out  # the run's command line


def test_train_with_nothing_reachable_fails_in_seconds_in_one_line(tmp_path: Path, monkeypatch,
                                                                     capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(tmp_path)
    for variable in ("SRZOO_DIV2K_URL", "SRZOO_FLICKR2K_URL"):
        monkeypatch.setenv(variable, closed_port_url())
    monkeypatch.setenv("SRZOO_DATA", str(tmp_path / "data"))
    hub_settings(monkeypatch, HF_HOME=str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        main(["train", "alkdn", "--scale", "3"])
    _, err = capsys.readouterr()
    assert time.perf_counter() - start < 20
    assert info.value.code == 1 and err.count("\n") == 1, err
    assert "DIV2K (800 train HR images, 3.53 GB)" in err and "--data DIR" in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


def test_the_run_says_how_long_it_will_take(tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]):
    """The recipe's length before iteration 1, a measured estimate after the first few; never a refusal."""
    from srzoo.train.report import estimate

    assert estimate(1_000_000, 0.02, "cpu", False) == ("1,000,000 iterations at 0.02 it/s ≈ 579 days on this CPU; "
                                                        "`--finetune` is the CPU recipe")
    assert estimate(20_000, 3.1, "cuda:0", False) == ("20,000 iterations at 3.1 it/s ≈ 108 minutes on this device "
                                                       "(cuda:0)")
    assert estimate(1_000_000, 0.02, "cpu", True).endswith("579 days on this CPU")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.png").write_bytes(_png(i))
    with pytest.raises(SystemExit) as info:
        main(["train", "lkdn", "--scale", "2", "--data", str(folder), "--iters", "10", "--batch-size", "2",
              "--patch-size", "16", "--threads", "1", "--val", "none"])
    _, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "the recipe is 10 iterations (LKDN paper)" in err
    assert "2 iterations at " in err and " it/s ≈ " in err and "on this CPU" in err
