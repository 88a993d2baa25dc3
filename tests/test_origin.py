"""The authors' origin as the last source of weights, against a loopback mirror of GitHub.

`LoopbackOrigin` serves `shared/weights/official` under the manifest's upstream paths
(`/OWNER/REPO/raw/COMMIT/PATH`), `$SRZOO_ORIGIN_ENDPOINT` points srzoo at it, and a loopback Hub
that has no `srzoo/zoo` files answers 404, so resolution falls through to the origin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
from loopback import LoopbackHub, LoopbackOrigin, hub_settings
from safetensors.torch import load_file

from srzoo.cli import main
from srzoo.fsutil import sha256_file
from srzoo.models import build_model
from srzoo.zoo.integrity import git_blob_id
from srzoo.zoo.manifest import MANIFEST_PATH, ZooEntry, find_entry, load_manifest
from srzoo.zoo.resolve import load_pretrained, resolve_weights

OFFICIAL_FILES = 9  # official entries whose checkpoints are in shared/weights/official


def url_path(entry: ZooEntry) -> str:
    return urlsplit(entry.source.url).path


@pytest.fixture
def zoo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LoopbackHub, LoopbackOrigin]]:
    """An empty weights dir and Hub cache, a Hub without the zoo's files, and an empty origin."""
    hub = LoopbackHub({}, repo_id="srzoo/zoo")
    origin = LoopbackOrigin({})
    monkeypatch.delenv("SRZOO_MANIFEST", raising=False)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("SRZOO_ORIGIN_ENDPOINT", origin.url)
    hub_settings(monkeypatch, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    yield hub, origin
    hub.stop()
    origin.stop()


@pytest.fixture
def mirror(zoo_env: tuple[LoopbackHub, LoopbackOrigin], shared_dir: Path) -> LoopbackOrigin:
    """The origin serving every official checkpoint in shared/ under its upstream path."""
    origin = zoo_env[1]
    for entry in load_manifest():
        local = shared_dir / "weights" / "official" / entry.source.checkpoint if entry.source else None
        if local is not None and entry.source.kind == "official" and local.is_file():
            origin.files[url_path(entry)] = local.read_bytes()
    assert len(origin.files) == OFFICIAL_FILES
    return origin


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def leftovers(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "weights").rglob("*")) if (tmp_path / "weights").exists() else []


def test_download_all_from_origin_gives_the_manifest_sha256(mirror: LoopbackOrigin, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]):
    code, out, err = run_cli(capsys, "download", "--all", "--from-origin")
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert len(lines) == OFFICIAL_FILES and all(text.endswith("(origin)") for text in lines.values())
    for label in lines:
        name, scale = label.split(" x")
        entry = find_entry(name, int(scale))
        assert sha256_file(tmp_path / "weights" / entry.filename) == entry.sha256
    # DDistill-SR x2/x3 are not on the mirror (nor in shared/): one line each, exit 1, nothing left
    assert code == 1
    failures = [line for line in err.splitlines() if line.startswith("failed")]
    assert [f.split(":")[0] for f in failures] == ["failed ddistill x2", "failed ddistill x3"]
    assert all("HTTP 404" in f for f in failures)
    assert sorted(p.name for p in leftovers(tmp_path)) == sorted(f"{label.replace(' x', '_x')}.safetensors"
                                                                 for label in lines)


def test_hub_miss_falls_back_to_the_origin_then_stays_local(
        mirror: LoopbackOrigin, zoo_env: tuple[LoopbackHub, LoopbackOrigin], tmp_path: Path):
    hub, _ = zoo_env
    found = resolve_weights("alkdn", 3)
    assert found.origin == "origin" and found.path == tmp_path / "weights" / "alkdn_x3.safetensors"
    assert hub.requests and len(mirror.requests) == 1  # the Hub was asked first
    again = resolve_weights("alkdn", 3)
    assert again.origin == "dir" and len(mirror.requests) == 1
    assert load_pretrained("alkdn", 3)(torch.rand(1, 3, 16, 16)).shape == (1, 3, 48, 48)


def test_bundled_weights_need_no_network(zoo_env: tuple[LoopbackHub, LoopbackOrigin]):
    hub, origin = zoo_env
    for scale in (2, 3, 4):
        assert resolve_weights("lkdn", scale).origin == "bundled"
    assert hub.requests == [] and origin.requests == []


@pytest.mark.parametrize("damage,message", [
    (lambda data: data[:1000] + bytes([data[1000] ^ 1]) + data[1001:], "sha256 .* does not match the manifest"),
    (lambda data: b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1\n",
     "Git LFS pointer"),
    (None, "HTTP 404"),
])
def test_bad_origin_files_are_one_line_and_leave_nothing(
        mirror: LoopbackOrigin, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage, message: str):
    path = url_path(find_entry("alkdn", 2))
    if damage is None:
        del mirror.files[path]
    else:
        mirror.files[path] = damage(mirror.files[path])
    code, out, err = run_cli(capsys, "download", "-m", "alkdn", "-s", "2")
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert leftovers(tmp_path) == []


def test_truncated_transfer_is_one_line_and_leaves_nothing(mirror: LoopbackOrigin, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]):
    mirror.cut_at = 100_000
    code, _, err = run_cli(capsys, "download", "-m", "lkdn-s", "-s", "4")
    assert code == 1
    assert err.startswith("error: cannot download") and err.count("\n") == 1, err
    assert leftovers(tmp_path) == []


def test_offline_never_asks_the_origin(mirror: LoopbackOrigin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]):
    hub_settings(monkeypatch, HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    code, _, err = run_cli(capsys, "download", "-m", "aidn", "-s", "4")
    assert code == 1 and "HF_HUB_OFFLINE" in err and err.count("\n") == 1
    assert mirror.requests == []


def test_git_blob_id_is_gits(tmp_path: Path):
    sample = tmp_path / "blob.bin"
    sample.write_bytes(b"srzoo\0" * 1000)
    expected = subprocess.run(["git", "hash-object", str(sample)], capture_output=True, text=True, check=True)
    assert git_blob_id(sample) == expected.stdout.strip()


def _fixture_checkpoint(shared_dir: Path, tmp_path: Path, scale: int) -> tuple[bytes, dict]:
    """A training-form DDistill-SR .pth made from the parity fixture (the authors' key names)."""
    tensors = load_file(str(shared_dir / "parity" / f"ddistill_train_x{scale}.safetensors"))
    train = {k.removeprefix("train."): v for k, v in tensors.items() if k.startswith("train.")}
    path = tmp_path / f"DDistill-SRx{scale}.pth"
    torch.save(train, path)
    return path.read_bytes(), tensors


@pytest.mark.parametrize("scale", [2, 3])
def test_unverified_ddistill_is_checked_by_git_blob_and_folded(
        zoo_env: tuple[LoopbackHub, LoopbackOrigin], shared_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scale: int):
    """The fixture stands in for the unobtainable release: a manifest naming its git blob id."""
    _, origin = zoo_env
    data, tensors = _fixture_checkpoint(shared_dir, tmp_path, scale)
    entry = find_entry("ddistill", scale)
    assert entry.status == "unverified" and not entry.verified
    origin.files[url_path(entry)] = data

    code, _, err = run_cli(capsys, "download", "-m", "ddistill", "-s", str(scale))
    assert code == 1 and "git blob id" in err and "does not match" in err  # not the authors' file
    assert leftovers(tmp_path) == []

    (tmp_path / "blob").write_bytes(data)
    manifest = MANIFEST_PATH.read_text(encoding="utf-8").replace(entry.source.checkpoint_git_blob,
                                                                 git_blob_id(tmp_path / "blob"))
    (tmp_path / "zoo.toml").write_text(manifest, encoding="utf-8")
    monkeypatch.setenv("SRZOO_MANIFEST", str(tmp_path / "zoo.toml"))
    found = resolve_weights("ddistill", scale)
    assert found.origin == "origin"
    assert (found.path.parent / f"{found.path.name}.sha256").read_text().split()[0] == sha256_file(found.path)
    model = load_pretrained("ddistill", scale)
    assert type(model) is type(build_model("ddistill", scale, "inference"))
    with torch.no_grad():
        out = model(tensors["input_mild"])
    assert (out - tensors["output_inference_mild"]).abs().max() <= 1e-5
    assert resolve_weights("ddistill", scale).origin == "dir"
    found.path.write_bytes(found.path.read_bytes()[:-4] + b"\0\0\0\0")  # the record catches a changed file
    with pytest.raises(Exception, match="does not match the recorded"):
        resolve_weights("ddistill", scale)


def test_upscale_json_names_the_weights_source(tmp_path: Path, zoo_env: tuple[LoopbackHub, LoopbackOrigin]):
    """A fresh process with no weights dir, no cache and no network: LKDN comes from the bundle."""
    from PIL import Image

    Image.new("RGB", (20, 16), (120, 80, 40)).save(tmp_path / "in.png")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SRZOO_"))}
    env.update(SRZOO_WEIGHTS_DIR=str(tmp_path / "weights"), HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "srzoo", "upscale", str(tmp_path / "in.png"), "-s", "4",
                           "-o", str(tmp_path / "out.png"), "--json"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["weights"]["from"] == "bundled" and summary["model"] == "lkdn"
    assert summary["engine"]["precision"] in ("fp32", "bf16") and summary["engine"]["tiling"] == "breadth-first"
    assert Image.open(tmp_path / "out.png").size == (80, 64)


def test_the_trained_entries_come_from_the_bundle_with_no_network(tmp_path: Path,
                                                                 zoo_env: tuple[LoopbackHub, LoopbackOrigin]):
    """A fresh process with no weights dir, no cache and no network: 13 entries have weights, and
    the four that srzoo trained upscale from the bundle."""
    from PIL import Image

    Image.new("RGB", (20, 16), (120, 80, 40)).save(tmp_path / "in.png")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SRZOO_"))}
    env.update(SRZOO_WEIGHTS_DIR=str(tmp_path / "weights"), HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1",
               COLUMNS="100")
    listed = subprocess.run([sys.executable, "-m", "srzoo", "models"], env=env, capture_output=True, text=True,
                            timeout=120)
    rows = [[cell for cell in line.split() if cell != "(default)"]
            for line in listed.stdout.splitlines() if re.match(r"\s*[a-z-]+ x[234] ", line)]
    assert len(rows) == 15 and sum(row[4] == "bundled" for row in rows) == 7
    assert "lkdn x4 (default)" in listed.stdout
    assert [row[:2] for row in rows if row[4] == "-"] == []  # every entry has weights somewhere
    for model, scale in (("lkdn-s", 2), ("lkdn-s", 3), ("aidn", 2), ("aidn", 3)):
        done = subprocess.run([sys.executable, "-m", "srzoo", "upscale", str(tmp_path / "in.png"), "-m", model,
                               "-s", str(scale), "-o", str(tmp_path / f"{model}{scale}.png"), "--json"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["weights"]["from"] == "bundled"
        assert Image.open(tmp_path / f"{model}{scale}.png").size == (20 * scale, 16 * scale)


def test_an_unpublished_hub_repo_is_not_asked_and_an_unreachable_origin_fails_fast(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The packaged zoo.toml marks srzoo/zoo as unpublished: a first download goes straight to the
    authors' site; when that is unreachable, one line names it, the offline models and `zoo import`."""
    import time

    from loopback import closed_port_url

    monkeypatch.delenv("SRZOO_MANIFEST", raising=False)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("SRZOO_ORIGIN_ENDPOINT", closed_port_url())
    hub_settings(monkeypatch, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert not find_entry("alkdn", 4).published
    start = time.perf_counter()
    from PIL import Image

    Image.new("RGB", (20, 16)).save(tmp_path / "photo.png")
    code, _, err = run_cli(capsys, "upscale", str(tmp_path / "photo.png"), "-m", "alkdn", "-s", "4", "-q")
    assert time.perf_counter() - start < 10
    assert code == 1 and err.count("\n") == 1, err
    assert "the authors' site" in err and "Hugging Face" not in err
    assert "Offline, these work: lkdn x2, lkdn x3, lkdn x4" in err and "srzoo zoo import --all FOLDER" in err
