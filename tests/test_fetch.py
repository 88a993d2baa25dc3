"""Benchmarks on demand, against loopback stand-ins for the Hub's dataset routes and GitHub's raw files.

`LoopbackHubDatasets` answers `/datasets/{repo_id}/resolve/{revision}/{path}` and `LoopbackOrigin`
answers `/OWNER/REPO/raw/COMMIT/PATH`; huggingface_hub and srzoo reach them over real sockets
(`HF_ENDPOINT`, `$SRZOO_ORIGIN_ENDPOINT`). The archives are built here from the genuine Set5 of the
shared folder, in each source's layout (PNG, as the sources serve them).
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from loopback import LoopbackHubDatasets, LoopbackOrigin, closed_port_url, hub_settings
from PIL import Image

from srzoo.cli import main
from srzoo.errors import SrzooError
from srzoo.evaluation.archive import UnsafeArchive, extract
from srzoo.evaluation.facts import benchmark_facts, file_digest
from srzoo.evaluation.fetch import ensure_benchmark
from srzoo.evaluation.sources import DENOISING_DATASETS, HUB_REVISIONS

HUB_FILE = "eugenesiow/Set5/data/Set5_HR.tar.gz"
REPO, COMMIT = DENOISING_DATASETS


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def set5(shared_dir: Path) -> dict[str, np.ndarray]:
    """The genuine Set5 HR pixels, by name."""
    folder = shared_dir / "datasets" / "Set5" / "HR"
    if not folder.is_dir():
        pytest.skip(f"no Set5 under {folder}")
    return {path.stem: np.asarray(Image.open(path).convert("RGB")) for path in sorted(folder.iterdir())}


def tar_gz(members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A .tar.gz of `members` (name -> bytes) plus `links` (name -> (tar type, target))."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    return out.getvalue()


def hub_archive(images: dict[str, np.ndarray]) -> bytes:
    return tar_gz({f"Set5_HR/{name}.png": _png(pixels) for name, pixels in images.items()})


def github_files(images: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {f"/{REPO}/raw/{COMMIT}/CSet5/{name}.png": _png(pixels) for name, pixels in images.items()}


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            set5: dict[str, np.ndarray]) -> Iterator[tuple[LoopbackHubDatasets, LoopbackOrigin]]:
    """A Hub serving Set5's HR archive and a GitHub serving CSet5, with srzoo pointed at both."""
    hub = LoopbackHubDatasets({HUB_FILE: hub_archive(set5)})
    github = LoopbackOrigin(github_files(set5))
    monkeypatch.setenv("SRZOO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SRZOO_ORIGIN_ENDPOINT", github.url)
    hub_settings(monkeypatch, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    yield hub, github
    hub.stop()
    github.stop()


def go_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hub: LoopbackHubDatasets) -> None:
    hub_settings(monkeypatch, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")


def assert_published(hr: Path) -> None:
    """`hr` holds exactly Set5's published images (names, sizes, pixels), as PNG."""
    facts = benchmark_facts("Set5")
    assert sorted(p.name for p in hr.iterdir()) == sorted(f"{name}.png" for name in facts)
    for path in hr.iterdir():
        fact = facts[path.stem]
        assert file_digest(path) == (fact.width, fact.height, fact.sha256)


def assert_nothing_left(root: Path) -> None:
    """No set, no scratch folder: the data root is empty (or absent)."""
    assert not root.exists() or list(root.iterdir()) == []


# --- the sources, in order -------------------------------------------------------------------------

def test_a_missing_set_is_fetched_from_the_hub_checked_and_stored(servers, tmp_path: Path):
    hub, github = servers
    root = tmp_path / "data"
    dataset = ensure_benchmark("set5", root)
    assert dataset.name == "Set5" and dataset.hr_dir == root / "Set5" / "HR"
    assert_published(dataset.hr_dir)
    assert [p.name for p in root.iterdir()] == ["Set5"]  # no scratch folder left
    assert any(path.startswith(f"/datasets/eugenesiow/Set5/resolve/{HUB_REVISIONS['Set5']}/")
               for _, path in hub.requests)
    assert github.requests == []


def test_a_second_run_downloads_nothing_and_offline_uses_the_cache(servers, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    hub, github = servers
    root = tmp_path / "data"
    ensure_benchmark("Set5", root)
    before = list(hub.requests)
    ensure_benchmark("Set5", root)  # present: no request at all
    assert hub.requests == before
    go_offline(monkeypatch, tmp_path, hub)
    ensure_benchmark("Set5", root)
    for path in (root / "Set5" / "HR").iterdir():
        path.unlink()
    (root / "Set5" / "HR").rmdir()
    assert_published(ensure_benchmark("Set5", root).hr_dir)  # rebuilt from the Hugging Face cache
    assert hub.requests == before and github.requests == []
    hub_settings(monkeypatch, HF_ENDPOINT=closed_port_url(), HF_HOME=str(tmp_path / "hf"))  # online, no network
    shutil.rmtree(root / "Set5")
    assert_published(ensure_benchmark("Set5", root).hr_dir)  # the cache, without asking the network


def test_offline_without_a_cache_is_one_line_and_leaves_nothing(servers, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    hub, github = servers
    go_offline(monkeypatch, tmp_path, hub)
    with pytest.raises(SrzooError) as info:
        ensure_benchmark("Set5", tmp_path / "data")
    message = str(info.value)
    assert "\n" not in message and "HF_HUB_OFFLINE" in message and "Set5" in message
    assert str(tmp_path / "data" / "Set5" / "HR") in message
    assert hub.requests == [] and github.requests == []
    assert_nothing_left(tmp_path / "data")


def test_a_tampered_hub_archive_is_refused_and_the_github_copy_used(servers, tmp_path: Path,
                                                                    set5: dict[str, np.ndarray],
                                                                    caplog: pytest.LogCaptureFixture):
    hub, github = servers
    tampered = dict(set5)
    tampered["bird"] = set5["bird"].copy()
    tampered["bird"][0, 0, 0] ^= 1
    hub.files[HUB_FILE] = hub_archive(tampered)
    with caplog.at_level(logging.WARNING, logger="srzoo"):
        dataset = ensure_benchmark("Set5", tmp_path / "data")
    assert_published(dataset.hr_dir)
    [refusal] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "refused" in refusal and "bird" in refusal and "baby" not in refusal and "GitHub" in refusal
    assert len(github.requests) == 5
    assert not list((tmp_path / "hf").rglob("Set5_HR.tar.gz"))  # the refused archive left the cache


def test_an_incomplete_archive_is_refused_by_name(servers, tmp_path: Path, set5: dict[str, np.ndarray]):
    hub, github = servers
    hub.files[HUB_FILE] = hub_archive({k: v for k, v in set5.items() if k != "head"})
    github.status = 404
    with pytest.raises(SrzooError) as info:
        ensure_benchmark("Set5", tmp_path / "data")
    assert "1 of 5 images missing (head)" in str(info.value) and "HTTP 404" in str(info.value)
    assert_nothing_left(tmp_path / "data")


def test_a_cut_transfer_is_resumed(servers, tmp_path: Path):
    hub, github = servers
    hub.drop_at, hub.drops_left = len(hub.files[HUB_FILE]) // 2, 1
    assert_published(ensure_benchmark("Set5", tmp_path / "data").hr_dir)
    assert github.requests == []


def test_a_transfer_that_keeps_being_cut_falls_back_then_fails_cleanly(servers, tmp_path: Path):
    hub, github = servers
    hub.drop_at, hub.drops_left = len(hub.files[HUB_FILE]) // 2, -1
    assert_published(ensure_benchmark("Set5", tmp_path / "data").hr_dir)  # GitHub, after the Hub's retries
    assert len(github.requests) == 5
    for path in (tmp_path / "data" / "Set5" / "HR").iterdir():
        path.unlink()
    github.cut_at = 100
    with pytest.raises(SrzooError) as info:
        ensure_benchmark("Set5", tmp_path / "data")
    assert "\n" not in str(info.value) and "GitHub" in str(info.value)
    assert not any((tmp_path / "data" / "Set5" / "HR").iterdir())
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["Set5"]  # no scratch folder left


@pytest.mark.parametrize("unsafe", ["../evil.png", "/tmp/srzoo-evil.png", "Set5_HR/../../evil.png",
                                    "symlink", "hardlink"])
def test_unsafe_archives_are_refused_before_anything_is_written(servers, tmp_path: Path, unsafe: str,
                                                                set5: dict[str, np.ndarray]):
    hub, github = servers
    members = {f"Set5_HR/{name}.png": _png(pixels) for name, pixels in set5.items()}
    links = None
    if unsafe == "symlink":
        links = {"Set5_HR/zzz.png": (tarfile.SYMTYPE, "/etc/hostname")}
    elif unsafe == "hardlink":
        links = {"Set5_HR/zzz.png": (tarfile.LNKTYPE, "../../../../etc/hostname")}
    else:
        members[unsafe] = b"evil"
    hub.files[HUB_FILE] = tar_gz(members, links)
    assert_published(ensure_benchmark("Set5", tmp_path / "data").hr_dir)  # refused, then GitHub
    assert len(github.requests) == 5
    assert not (tmp_path / "evil.png").exists() and not Path("/tmp/srzoo-evil.png").exists()
    assert not [p for p in tmp_path.rglob("*evil*")]


def test_extract_refuses_unsafe_zip_members_and_writes_nothing(tmp_path: Path):
    for name in ("../x.png", "/abs.png", "a\\..\\b.png", "C:/x.png"):
        archive = tmp_path / "a.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("ok/fine.png", b"fine")
            zf.writestr(name, b"evil")
        with pytest.raises(UnsafeArchive):
            extract(archive, tmp_path / "out", lambda member: member)
        assert not (tmp_path / "out").exists()
    link = zipfile.ZipInfo("ok/link.png")
    link.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(link, "/etc/hostname")
    with pytest.raises(UnsafeArchive, match="link"):
        extract(archive, tmp_path / "out", lambda member: member)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("./ok/fine.png", b"fine")
    assert extract(archive, tmp_path / "out", lambda m: PurePosixPath(m.name)) == [(tmp_path / "out" / "fine.png")
                                                                                  .resolve()]


def test_nothing_reachable_fails_within_seconds_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SRZOO_ORIGIN_ENDPOINT", closed_port_url())
    hub_settings(monkeypatch, HF_ENDPOINT=closed_port_url(), HF_HOME=str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(SrzooError) as info:
        ensure_benchmark("Urban100", tmp_path / "data")
    assert time.perf_counter() - start < 20
    message = str(info.value)
    assert "\n" not in message and message.startswith("cannot fetch Urban100")
    assert "the Hugging Face Hub" in message and "GitHub" in message and "cannot be reached" in message
    assert_nothing_left(tmp_path / "data")


# --- the command -----------------------------------------------------------------------------------

def test_eval_on_a_fresh_machine_gives_the_zoo_number_then_works_offline(servers, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]):
    """`srzoo eval --dataset Set5 -m lkdn -s 4` with nothing but the (loopback) network: Set5 is
    fetched, LR made by the matlab recipe, and the number is the one measured on the genuine files."""
    hub, _ = servers
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    monkeypatch.delenv("SRZOO_WEIGHTS_DIR", raising=False)
    for _ in ("online", "offline"):
        with pytest.raises(SystemExit) as info:
            main(["eval", "--dataset", "Set5", "-m", "lkdn", "-s", "4", "--json"])
        out, err = capsys.readouterr()
        assert info.value.code == 0, err
        import json
        [result] = json.loads(out)["results"]
        assert (result["lr"], result["published_set"]) == ("matlab", True)
        assert round(result["psnr"], 3) == 32.395
        go_offline(monkeypatch, tmp_path, hub)


def test_download_datasets_prefetches_and_a_second_run_downloads_nothing(servers, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]):
    hub, _ = servers
    for _ in range(2):
        with pytest.raises(SystemExit) as info:
            main(["download", "--datasets", "set5"])
        out, err = capsys.readouterr()
        assert info.value.code == 0, err
        assert out == f"Set5: {tmp_path / 'data' / 'Set5' / 'HR'} (5 images)\n"
    assert hub.gets() == 1
    with pytest.raises(SystemExit) as info:
        main(["download", "Set5"])
    assert info.value.code == 2 and "after --datasets" in capsys.readouterr().err



def test_b100_jpegs_from_github_are_checked_decoded_and_stored_as_png(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    """B100's canonical copy is BSDS500's val JPEGs: checked on Pillow's decoded pixels, stored as PNG
    (so that later reads do not depend on a JPEG decoder). Two made-up JPEGs and a table of their own."""
    from srzoo.evaluation import facts
    from srzoo.evaluation.facts import pixel_sha256
    from srzoo.evaluation.sources import BSDS500

    repo, commit = BSDS500
    files, rows = {}, ["set\tname\twidth\theight\tsha256"]
    for i, name in enumerate(("101085", "3096")):
        out = io.BytesIO()
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (21, 32, 3), dtype=np.uint8)).save(out, "JPEG")
        files[f"/{repo}/raw/{commit}/BSDS500/data/images/val/{name}.jpg"] = out.getvalue()
        decoded = np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB"))
        rows.append(f"B100\t{name}\t32\t21\t{pixel_sha256(decoded)}")
    (tmp_path / "table.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(facts, "FACTS_PATH", tmp_path / "table.tsv")
    hub, github = LoopbackHubDatasets({}), LoopbackOrigin(files)  # the Hub has no BSD100 archive here
    monkeypatch.setenv("SRZOO_ORIGIN_ENDPOINT", github.url)
    hub_settings(monkeypatch, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"))
    try:
        dataset = ensure_benchmark("BSD100", tmp_path / "data")
    finally:
        hub.stop()
        github.stop()
    assert dataset.name == "B100" and sorted(p.name for p in dataset.hr_dir.iterdir()) == ["101085.png", "3096.png"]
    for path in dataset.hr_dir.iterdir():
        fact = benchmark_facts("B100")[path.stem]
        assert file_digest(path) == (32, 21, fact.sha256) and Image.open(path).format == "PNG"
