"""Weight resolution, `srzoo models/download` and `zoo publish` against a real HTTP server.

The server (`loopback.LoopbackHub`) runs on 127.0.0.1 in a thread and answers the Hub's resolve URLs
(`/{repo_id}/resolve/{revision}/{filename}`, HEAD and GET, with ETag, X-Repo-Commit and
Content-Length). huggingface_hub talks to it over real sockets: nothing below it is mocked. Its
settings are read from the environment when it is imported, so `hub_settings` re-reads them the way
a fresh process would; one test also runs the CLI as a subprocess with the variables set.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import safetensors.torch
import torch
from loopback import REPO_ID, LoopbackHub, hub_settings

from srzoo.cli import main
from srzoo.errors import SrzooError, UsageError
from srzoo.models import build_model
from srzoo.zoo.convert import first_mismatch
from srzoo.zoo.resolve import ChecksumError, Located, load_pretrained, resolve_weights
from srzoo.zoo.weightfile import save_weights

CITATION = '{ title = "A paper", venue = "A venue", year = 2023 }'


def _weights_file(path: Path, family: str, scale: int, form: str, seed: int) -> bytes:
    torch.manual_seed(seed)
    model = build_model(family, scale, form)
    save_weights(path, model.state_dict(), {"family": family, "scale": str(scale), "form": form})
    return path.read_bytes()


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Tiny randomly initialised weight files: the zoo's two entries, plus misfits."""
    root = tmp_path_factory.mktemp("blobs")
    return {
        "lkdn_x2.safetensors": _weights_file(root / "a", "lkdn", 2, "inference", seed=0),
        "lkdn-s_x2.safetensors": _weights_file(root / "b", "lkdn-s", 2, "training", seed=0),
        "other_lkdn_x2": _weights_file(root / "c", "lkdn", 2, "inference", seed=1),
        "lkdn_x3": _weights_file(root / "d", "lkdn", 3, "inference", seed=0),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(path: Path, blobs: dict[str, bytes]) -> Path:
    """A three-entry manifest: lkdn x2 (inference), lkdn-s x2 (training form), lkdn x3 (untrained)."""
    common = f'repo_id = "{REPO_ID}"\nrevision = "main"\nlicence = "MIT"\ncitation = {CITATION}\n'
    source = 'source = { kind = "srzoo-train", command = "pytest", data = "random init" }\n'
    path.write_text(
        "schema = 1\n"
        f'[[models]]\nname = "lkdn"\naliases = ["lkdnet"]\nscale = 2\nstatus = "available"\n'
        f'form = "inference"\nparams = 303812\nfilename = "lkdn_x2.safetensors"\n{common}{source}'
        f'sha256 = "{_sha(blobs["lkdn_x2.safetensors"])}"\npaper = {{ Set5 = [37.5, 0.95] }}\n'
        f'[[models]]\nname = "lkdn-s"\naliases = []\nscale = 2\nstatus = "available"\n'
        f'form = "training"\nparams = 115533\nfilename = "lkdn-s_x2.safetensors"\n{common}{source}'
        f'sha256 = "{_sha(blobs["lkdn-s_x2.safetensors"])}"\n'
        f'[[models]]\nname = "lkdn"\naliases = []\nscale = 3\nstatus = "untrained"\n'
        f'form = "inference"\nparams = 311387\nfilename = "lkdn_x3.safetensors"\n{common}'
        'how = "train it with srzoo train"\n',
        encoding="utf-8")
    return path


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blobs: dict[str, bytes]) -> Iterator[LoopbackHub]:
    """A running loopback Hub serving the zoo files, with srzoo and huggingface_hub pointed at it."""
    server = LoopbackHub({k: v for k, v in blobs.items() if k.endswith(".safetensors")})
    monkeypatch.setenv("SRZOO_MANIFEST", str(write_manifest(tmp_path / "zoo.toml", blobs)))
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    hub_settings(monkeypatch, HF_ENDPOINT=server.url, HF_HOME=str(tmp_path / "hf"),
                 HF_HUB_DISABLE_TELEMETRY="1")
    yield server
    server.stop()


def go_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    hub_settings(monkeypatch, HF_ENDPOINT=os.environ["HF_ENDPOINT"], HF_HOME=os.environ["HF_HOME"],
                 HF_HUB_OFFLINE="1")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def assert_one_line_error(err: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


def cached_blobs(tmp_path: Path) -> list[Path]:
    """Blobs and snapshot links in the test's Hugging Face cache (partial downloads included)."""
    return [p for p in (tmp_path / "hf").rglob("*")
            if {"blobs", "snapshots"} & set(p.parts) and (p.is_file() or p.is_symlink())]


# --- resolution -----------------------------------------------------------------------------------

def test_first_download_is_verified_then_used_offline(hub: LoopbackHub, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch):
    path = resolve_weights("lkdn", 2).path
    assert path.is_relative_to(tmp_path / "hf" / "hub") and hub.gets() == 1
    model = load_pretrained("lkdnet", 2)
    assert not model.training
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)

    hub.stop()  # second run: the server is gone, the cache answers
    assert resolve_weights("lkdn", 2).path == path
    go_offline(monkeypatch)
    assert resolve_weights("lkdn", 2).path == path


def test_offline_without_a_cached_copy_is_one_clear_error(hub: LoopbackHub, monkeypatch: pytest.MonkeyPatch):
    go_offline(monkeypatch)
    with pytest.raises(SrzooError, match="HF_HUB_OFFLINE"):
        resolve_weights("lkdn", 2)
    assert hub.requests == []


def test_weights_dir_comes_before_the_hub(hub: LoopbackHub, tmp_path: Path, blobs: dict[str, bytes]):
    local = tmp_path / "weights" / "lkdn_x2.safetensors"
    local.parent.mkdir()
    local.write_bytes(blobs["lkdn_x2.safetensors"])
    assert resolve_weights("lkdn", 2) == Located(local, "dir")
    assert hub.requests == []

    local.write_bytes(blobs["other_lkdn_x2"])  # a wrong file there is an error, and stays put
    with pytest.raises(ChecksumError, match="does not match"):
        load_pretrained("lkdn", 2)
    assert local.exists() and hub.requests == []


def test_checksum_mismatch_is_never_loaded_and_is_fetched_again(
        hub: LoopbackHub, tmp_path: Path, blobs: dict[str, bytes]):
    hub.files["lkdn_x2.safetensors"] = blobs["other_lkdn_x2"]
    for attempt in (1, 2):
        with pytest.raises(ChecksumError, match="removed from the Hugging Face cache"):
            load_pretrained("lkdn", 2)
        assert hub.gets() == attempt  # the bad copy was deleted, so the rerun downloads again
        assert cached_blobs(tmp_path) == []


def test_corrupted_cache_is_replaced_by_a_fresh_download(hub: LoopbackHub, tmp_path: Path):
    path = resolve_weights("lkdn", 2).path
    blob = path.resolve()
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    with pytest.raises(ChecksumError):
        resolve_weights("lkdn", 2)
    assert not blob.exists()
    assert resolve_weights("lkdn", 2).path == path and hub.gets() == 2


@pytest.mark.parametrize("status,reason", [(404, "HTTP 404"), (500, "HTTP 500")])
def test_http_errors_are_one_line(hub: LoopbackHub, capsys: pytest.CaptureFixture[str], status: int,
                                  reason: str):
    hub.status = status
    code, _, err = run_cli(capsys, "download", "-m", "lkdn", "-s", "2")
    assert code == 1
    assert_one_line_error(err)
    assert reason in err and hub.url in err


def test_missing_file_or_repository_is_named(hub: LoopbackHub):
    del hub.files["lkdn_x2.safetensors"]
    with pytest.raises(SrzooError, match=r"lkdn_x2.safetensors .*file not found in the repository \(HTTP 404"):
        resolve_weights("lkdn", 2)
    hub.repo_id = "someone/else"
    with pytest.raises(SrzooError, match=r"repository not found \(or private\) \(HTTP 401"):
        resolve_weights("lkdn-s", 2)


def test_dropped_connection_is_retried_and_verified(hub: LoopbackHub, blobs: dict[str, bytes]):
    hub.drop_at, hub.drops_left = 100_000, 1
    path = resolve_weights("lkdn", 2).path
    assert path.read_bytes() == blobs["lkdn_x2.safetensors"]
    assert hub.gets() == 2


def test_connection_that_keeps_dropping_fails_cleanly(hub: LoopbackHub, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]):
    hub.drop_at, hub.drops_left = 100_000, -1
    code, _, err = run_cli(capsys, "download", "-m", "lkdn", "-s", "2")
    assert code == 1
    assert_one_line_error(err)
    assert "cannot download" in err
    assert cached_blobs(tmp_path) == []  # no partial blob left behind


# --- loading --------------------------------------------------------------------------------------

def test_training_form_file_is_folded(hub: LoopbackHub, blobs: dict[str, bytes]):
    model = load_pretrained("lkdn-s", 2)
    assert first_mismatch(build_model("lkdn-s", 2, "inference"), model.state_dict()) is None
    train = build_model("lkdn-s", 2, "training")
    train.load_state_dict(safetensors.torch.load(blobs["lkdn-s_x2.safetensors"]))
    train.eval()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(model(x), train(x), atol=1e-4)


def test_explicit_weights_must_fit(hub: LoopbackHub, tmp_path: Path, blobs: dict[str, bytes]):
    fits, misfit = tmp_path / "mine.safetensors", tmp_path / "x3.safetensors"
    fits.write_bytes(blobs["other_lkdn_x2"])
    misfit.write_bytes(blobs["lkdn_x3"])
    assert load_pretrained("lkdn", 2, weights=fits) is not None  # any sha256: it is the user's file
    with pytest.raises(SrzooError, match=r"does not fit LKDN x2 \(inference form\): shape mismatch"):
        load_pretrained("lkdn", 2, weights=misfit)
    with pytest.raises(SrzooError, match="not found"):
        load_pretrained("lkdn", 2, weights=tmp_path / "nope.safetensors")
    assert hub.requests == []


def test_usage_errors(hub: LoopbackHub):
    with pytest.raises(UsageError, match="status untrained.*train it with srzoo train"):
        resolve_weights("lkdn", 3)
    with pytest.raises(UsageError, match="did you mean 'lkdn'"):
        resolve_weights("lkdnn", 2)
    with pytest.raises(UsageError, match="no x5 variant"):
        resolve_weights("lkdn", 5)


# --- srzoo models / download ------------------------------------------------------------------------

def test_models_lists_statuses_and_cache(hub: LoopbackHub, capsys: pytest.CaptureFixture[str]):
    code, out, _ = run_cli(capsys, "models", "--json")
    rows = {(r["name"], r["scale"]): r for r in json.loads(out)}
    assert code == 0 and len(rows) == 3
    assert rows["lkdn", 3]["status"] == "untrained" and rows["lkdn", 2]["cached"] is None
    assert rows["lkdn", 2]["paper"] == {"Set5": [37.5, 0.95]}

    assert run_cli(capsys, "download", "-m", "lkdn", "-s", "2")[0] == 0
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    lines = {line.split()[0] + " " + line.split()[1]: line for line in out.splitlines() if " x" in line}
    assert "trained" in lines["lkdn x2"] and "hub cache" in lines["lkdn x2"] and "37.50/-" in lines["lkdn x2"]
    assert "untrained" in lines["lkdn x3"]
    assert " hub " in lines["lkdn-s x2"] and "~0.5M" in lines["lkdn-s x2"]


def test_download_all_skips_untrained(hub: LoopbackHub, capsys: pytest.CaptureFixture[str]):
    code, out, err = run_cli(capsys, "download", "--all")
    assert code == 0 and hub.gets() == 2
    assert [line.split(":")[0] for line in out.splitlines()] == ["lkdn x2", "lkdn-s x2"]
    assert "lkdn x3" in err


@pytest.mark.parametrize("args,message", [
    (["-m", "lkdn", "-s", "3"], "no weights yet"),
    (["-m", "lkdnn"], "did you mean 'lkdn'"),
    (["-m", "lkdn", "-s", "5"], "no x5 variant"),
    (["-s", "5"], "no model has an x5 variant"),
    ([], "say what to download"),
    (["--all", "-m", "lkdn"], "cannot be combined"),
])
def test_download_usage_errors_exit_2(hub: LoopbackHub, capsys: pytest.CaptureFixture[str], args, message):
    code, _, err = run_cli(capsys, "download", *args)
    assert code == 2
    assert_one_line_error(err)
    assert message in err
    assert hub.requests == []


def test_cli_subprocess_reads_hub_environment(hub: LoopbackHub, tmp_path: Path):
    """A fresh process picks up HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")

    def srzoo(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "srzoo", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=120)

    done = srzoo("download", "-m", "lkdn", "-s", "2")
    assert done.returncode == 0, done.stderr
    assert hub.gets() == 1 and str(tmp_path / "hf") in done.stdout
    failed = srzoo("download", "-m", "lkdn-s", "-s", "2", HF_HUB_OFFLINE="1")
    assert failed.returncode == 1 and hub.gets() == 1
    assert_one_line_error(failed.stderr)
    assert "HF_HUB_OFFLINE is set" in failed.stderr


# --- srzoo zoo publish ------------------------------------------------------------------------------

def _fill_weights_dir(tmp_path: Path, blobs: dict[str, bytes]) -> Path:
    directory = tmp_path / "weights"
    directory.mkdir(exist_ok=True)
    for name in ("lkdn_x2.safetensors", "lkdn-s_x2.safetensors"):
        (directory / name).write_bytes(blobs[name])
    return directory


def test_publish_dry_run_prints_manifest_lines(hub: LoopbackHub, tmp_path: Path, blobs: dict[str, bytes],
                                               capsys: pytest.CaptureFixture[str]):
    directory = _fill_weights_dir(tmp_path, blobs)
    (directory / "stray.safetensors").write_bytes(blobs["lkdn_x3"])
    code, out, err = run_cli(capsys, "zoo", "publish", "--repo-id", "me/zoo", "--dry-run")
    assert code == 0 and "skipping stray.safetensors" in err
    assert f'sha256 = "{_sha(blobs["lkdn_x2.safetensors"])}"' in out
    assert 'repo_id = "me/zoo"' in out and "params = 303812" in out and "params = 115533" in out
    assert hub.requests == []


def test_publish_refuses_files_that_do_not_fit(hub: LoopbackHub, tmp_path: Path, blobs: dict[str, bytes],
                                               capsys: pytest.CaptureFixture[str]):
    directory = _fill_weights_dir(tmp_path, blobs)
    (directory / "lkdn_x2.safetensors").write_bytes(blobs["lkdn_x3"])
    code, _, err = run_cli(capsys, "zoo", "publish", "--repo-id", "me/zoo", "--dry-run")
    assert code == 1
    assert_one_line_error(err)
    assert "does not fit" in err


def test_publish_errors_are_one_line(hub: LoopbackHub, tmp_path: Path, blobs: dict[str, bytes],
                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    code, _, err = run_cli(capsys, "zoo", "publish", "--repo-id", "me/zoo")
    assert code == 1 and "nothing to publish" in err
    _fill_weights_dir(tmp_path, blobs)
    go_offline(monkeypatch)
    code, _, err = run_cli(capsys, "zoo", "publish", "--repo-id", "me/zoo")
    assert code == 1
    assert_one_line_error(err)
    assert "cannot upload to me/zoo" in err and "offline" in err


def test_a_transient_503_is_retried_and_the_download_succeeds(hub: LoopbackHub, capsys) -> None:
    hub.fail_next = 1
    code, out, err = run_cli(capsys, "download", "-m", "lkdn", "-s", "2")
    assert code == 0, err
    assert sum("/resolve/" in path for method, path, _ in hub.requests if method in ("HEAD", "GET")) >= 2


@pytest.mark.parametrize("where", ["closed port", "unknown host", "silent server"])
def test_an_unreachable_hub_fails_fast_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     blobs: dict[str, bytes], capsys, where: str) -> None:
    """Refused, unresolvable or never answering: one line within seconds, naming the Hub and what
    works offline (here: nothing), instead of huggingface_hub's retries."""
    import time

    from loopback import SilentServer, closed_port_url

    silent = SilentServer() if where == "silent server" else None
    url = {"closed port": closed_port_url(), "unknown host": "http://srzoo-test.invalid",
           "silent server": silent.url if silent else ""}[where]
    monkeypatch.setenv("SRZOO_MANIFEST", str(write_manifest(tmp_path / "zoo.toml", blobs)))
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    hub_settings(monkeypatch, HF_ENDPOINT=url, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    start = time.perf_counter()
    try:
        code, _, err = run_cli(capsys, "download", "-m", "lkdn", "-s", "2")
    finally:
        if silent is not None:
            silent.stop()
    assert time.perf_counter() - start < 20
    assert code == 1 and err.count("\n") == 1, err
    assert "the Hugging Face Hub" in err and "Offline, these work: none" in err
    assert ("did not answer" if where == "silent server" else "cannot be reached") in err
    assert not (tmp_path / "weights").exists() or not any((tmp_path / "weights").iterdir())
