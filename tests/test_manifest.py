"""The zoo manifest: the shipped zoo.toml is complete and consistent; bad manifests are rejected."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
import torch

from srzoo.cli import main
from srzoo.errors import SrzooError
from srzoo.fsutil import sha256_file
from srzoo.models import SCALES, build_model, list_families
from srzoo.models.layers import count_parameters
from srzoo.zoo.convert import import_checkpoint
from srzoo.zoo.manifest import MANIFEST_PATH, find_entry, load_manifest, parse_manifest
from srzoo.zoo.weightfile import load_weights, save_weights

REPO_ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = {("alkdn", 2), ("alkdn", 3), ("alkdn", 4), ("lkdn", 2), ("lkdn", 3), ("lkdn", 4),
            ("lkdn-s", 4), ("aidn", 4), ("ddistill", 4)}
UNVERIFIED = {("ddistill", 2), ("ddistill", 3)}  # released, known only by git blob id
SRZOO_TRAINED = {("lkdn-s", 2), ("lkdn-s", 3), ("aidn", 2), ("aidn", 3)}  # released by nobody else


@pytest.fixture(autouse=True)
def _shipped_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SRZOO_MANIFEST", raising=False)


def test_shipped_manifest_covers_every_family_and_scale():
    entries = load_manifest()
    assert [(e.name, e.scale) for e in entries] == [
        (f.name, s) for f in sorted(list_families(), key=_family_order) for s in SCALES]
    for entry in entries:
        key = (entry.name, entry.scale)
        assert (entry.status == "available") == (key in OFFICIAL | SRZOO_TRAINED), entry.label
        assert (entry.status == "unverified") == (key in UNVERIFIED), entry.label
        assert entry.filename == f"{entry.name}_x{entry.scale}.safetensors"
        assert (entry.repo_id, entry.revision) == ("srzoo/zoo", "main")
        source = entry.source
        assert source is not None and entry.how is None, entry.label
        if key in SRZOO_TRAINED:
            assert source.kind == "srzoo-train" and entry.sha256
        else:
            assert source.kind == "official"
            assert bool(entry.sha256) == bool(source.checkpoint_sha256) != bool(source.checkpoint_git_blob)
            assert source.url.startswith(f"https://github.com/{source.repo}/raw/{source.commit}/")


def _family_order(family: Any) -> int:
    return ["alkdn", "lkdn", "lkdn-s", "aidn", "ddistill"].index(family.name)


def test_shipped_params_match_the_networks():
    for entry in load_manifest():
        assert entry.params == count_parameters(build_model(entry.name, entry.scale, "inference")), entry.label


def test_package_manifest_is_the_repository_one():
    assert MANIFEST_PATH.read_bytes() == (REPO_ROOT / "zoo.toml").read_bytes()


def test_manifest_path_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = _base()
    data["models"][0]["licence"] = "CC0"
    path = tmp_path / "zoo.toml"
    path.write_text(_to_toml(data), encoding="utf-8")
    monkeypatch.setenv("SRZOO_MANIFEST", str(path))
    assert len(load_manifest()) == 1 and find_entry("lkdn", 2).licence == "CC0"
    assert find_entry("lkdn", 4) is None


def _base() -> dict[str, Any]:
    """A valid one-entry manifest, decoded."""
    shipped = tomllib.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    entry = next(m for m in shipped["models"] if (m["name"], m["scale"]) == ("lkdn", 2))
    entry["paper"] = {"Set5": [38.0, 0.96]}
    return {"schema": 1, "models": [entry]}


def _to_toml(data: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return str(v).lower()
        return f'"{v}"' if isinstance(v, str) else str(v)

    lines = [f"schema = {data['schema']}"]
    for row in data["models"]:
        lines += ["[[models]]", *(f"{k} = {value(v)}" for k, v in row.items())]
    return "\n".join(lines) + "\n"


def _set(path: str, value: Any):
    def edit(data: dict[str, Any]) -> None:
        *parents, key = path.split(".")
        target = data["models"][0]
        for part in parents:
            target = target[part]
        if value is KeyError:
            del target[key]
        else:
            target[key] = value
    return edit


def _untrained_with_sha(data: dict[str, Any]) -> None:
    data["models"][0]["status"] = "untrained"
    data["models"][0]["how"] = "train it"
    del data["models"][0]["source"]


BAD = [
    (_set("sha265", "x"), "unknown key 'sha265'"),
    (_set("filename", KeyError), "missing field 'filename'"),
    (_set("filename", "../lkdn_x2.safetensors"), "no '..'"),
    (_set("filename", "sub/lkdn_x2.safetensors"), "no path separator"),
    (_set("filename", "sub\\lkdn_x2.safetensors"), "no path separator"),
    (_set("filename", "lkdn_x2.pth"), "plain \\*.safetensors"),
    (_set("sha256", "abc123"), "malformed sha256"),
    (_set("sha256", "A" * 64), "malformed sha256"),
    (_set("status", "maybe"), "status = 'maybe' is not one of"),
    (_untrained_with_sha, "'sha256' is not allowed when status = 'untrained'"),
    (_set("source", KeyError), "missing field 'source'"),
    (_set("source.kind", "stolen"), "kind = 'stolen'"),
    (_set("source.commit", KeyError), "missing field 'commit'"),
    (_set("source.extra", "x"), "unknown key 'extra'"),
    (_set("source.url", "https://github.com/stella-von/LKDN/raw/main/LKDN_x2.pth"), "url must be"),
    (_set("source.url", "https://example.org/LKDN_x2.pth"), "url must be"),
    (_set("source.commit", "54df78a"), "full 40-digit hash"),
    (_set("source.checkpoint_git_blob", "0" * 40), "exactly one of"),
    (_set("source.checkpoint_sha256", KeyError), "exactly one of"),
    (_set("source.checkpoint_sha256", "abc"), "malformed checkpoint_sha256"),
    (_set("status", "unverified"), "'sha256' is not allowed when status = 'unverified'"),
    (lambda d: (d["models"][0].update(status="unverified"), d["models"][0].pop("sha256"),
                d["models"][0].pop("measured"), d["models"][0].pop("measured_note")),
     "known only by its checkpoint_git_blob"),
    (_set("name", "lkdnet"), "canonical 'lkdn'"),
    (_set("name", "lkdm"), "unknown model 'lkdm'"),
    (_set("aliases", ["lkdn-s"]), "alias 'lkdn-s'"),
    (_set("aliases", "lkdnet"), "'aliases' must be list"),
    (_set("scale", 5), "scale = 5 is not one of"),
    (_set("form", "training"), "form = 'training' is not one of"),
    (_set("params", "big"), "'params' must be int"),
    (_set("params", True), "'params' must be int"),
    (_set("params", 0), "params must be positive"),
    (_set("repo_id", "no-owner"), "malformed repo_id"),
    (_set("revision", " "), "revision must not be empty"),
    (_set("citation.year", KeyError), "missing field 'year'"),
    (_set("citation.year", "2023"), "citation.year must be int"),
    (_set("paper.Set6", [30.0, 0.9]), "unknown dataset 'Set6'"),
    (_set("paper.Set5", [30.0, 0.9, 1.0]), "must be \\[psnr, ssim\\] or \\[psnr\\]"),
    (_set("measured.Set5", [30.0]), "must be \\[psnr, ssim\\]"),
    (_set("paper.Set5", [30.0, 1.5]), "plausible"),
    (_set("measured", {"Urban100": ["30", 0.9]}), "must be \\[psnr, ssim\\]"),
    (_set("paper_verified", "no"), "'paper_verified' must be bool"),
    (lambda d: d.update(extra=1), "unknown top-level key 'extra'"),
    (lambda d: d.update(schema=2), "expected schema = 1"),
    (lambda d: d.update(models=[]), "no \\[\\[models\\]\\] entries"),
    (lambda d: d["models"].append(copy.deepcopy(d["models"][0])), "duplicate entry 'lkdn x2'"),
]


@pytest.mark.parametrize("edit,message", BAD, ids=[m for _, m in BAD])
def test_invalid_manifests_are_rejected(edit, message: str):
    data = _base()
    parse_manifest(copy.deepcopy(data))  # the base is valid
    edit(data)
    with pytest.raises(SrzooError, match=message) as info:
        parse_manifest(data)
    assert "\n" not in str(info.value)


def test_errors_name_the_entry():
    data = _base()
    data["models"][0]["sha256"] = "nope"
    with pytest.raises(SrzooError, match=r"^zoo.toml: models\[0\] \(lkdn x2\): malformed sha256 'nope'"):
        parse_manifest(data)


def test_broken_manifest_is_a_one_line_cli_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "zoo.toml"
    monkeypatch.setenv("SRZOO_MANIFEST", str(path))
    for text in ("schema = 1\n[[models]\n", _to_toml(_base()).replace('sha256 = "', 'sha256 = "x')):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(SystemExit) as info:
            main(["models"])
        err = capsys.readouterr().err
        assert info.value.code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    path.unlink()
    with pytest.raises(SrzooError, match="cannot read the model manifest"):
        load_manifest()


def test_import_metadata_comes_from_the_manifest(tmp_path: Path):
    checkpoint = tmp_path / "LKDN_x2.pth"
    torch.save({"params_ema": build_model("lkdn", 2).state_dict()}, checkpoint)
    _, metadata = import_checkpoint(checkpoint, "lkdn", 2)
    assert metadata["licence"] == "MIT" and metadata["source_repo"] == "stella-von/LKDN"
    assert metadata["paper"].startswith("Large Kernel Distillation Network") and metadata["paper"].endswith("2023")


def test_import_all_gives_the_shipped_sha256_for_every_official_entry(
        shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as info:
        main(["zoo", "import", "--all", str(shared_dir / "weights" / "official")])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert out.count("(sha256 verified)") == len(OFFICIAL) and "imported 9 of 11" in err
    for name, scale in OFFICIAL:
        entry = find_entry(name, scale)
        assert sha256_file(tmp_path / entry.filename) == entry.sha256


def test_import_all_removes_a_file_whose_checksum_does_not_match(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    weights = tmp_path / "weights"
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(weights))
    checkpoint = tmp_path / "official" / find_entry("lkdn", 2).source.checkpoint
    checkpoint.parent.mkdir(parents=True)
    torch.save({"params_ema": build_model("lkdn", 2).state_dict()}, checkpoint)  # not the authors' weights
    with pytest.raises(SystemExit) as info:
        main(["zoo", "import", "--all", str(tmp_path / "official")])
    out, err = capsys.readouterr()
    assert info.value.code == 1 and out == ""
    assert "failed lkdn x2:" in err and "does not match the manifest" in err and "imported 0 of 11" in err
    assert not list(weights.iterdir())


BUNDLED = Path(__file__).resolve().parents[1] / "srzoo" / "zoo" / "bundled"


TRAINED = ["aidn_x2.safetensors", "aidn_x3.safetensors", "lkdn-s_x2.safetensors", "lkdn-s_x3.safetensors"]


def test_bundle_is_lkdn_and_the_trained_entries_with_their_manifest_sha256():
    sums = dict(reversed(line.split()) for line in (BUNDLED / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == sorted(["lkdn_x2.safetensors", "lkdn_x3.safetensors", "lkdn_x4.safetensors", *TRAINED])
    for name, digest in sums.items():
        entry = next(e for e in load_manifest() if e.filename == name)
        assert entry.sha256 == digest == sha256_file(BUNDLED / name)
        assert entry.licence == "MIT" and entry.status == "available"
    licences = ["LICENSE-AIDN.txt", "LICENSE-LKDN.txt"]
    assert all("MIT License" in (BUNDLED / name).read_text() for name in licences)
    assert sorted(p.name for p in BUNDLED.iterdir()) == sorted([*sums, "SHA256SUMS", *licences])


def test_trained_bundle_files_carry_the_command_that_made_them():
    trained = [e for e in load_manifest() if e.source is not None and e.source.kind == "srzoo-train"]
    assert sorted(e.filename for e in trained) == TRAINED
    for entry in trained:
        _, metadata = load_weights(BUNDLED / entry.filename)
        assert metadata["command"] == entry.source.command and metadata["data"] == entry.source.data
        assert entry.source.command.startswith(f"srzoo train {entry.name} --scale {entry.scale} --finetune ")
        assert (metadata["init"], metadata["scale"], metadata["weights"]) == (f"{entry.name}:x4", str(entry.scale),
                                                                              "ema")
        assert set(entry.measured) == {"Set5", "Set14", "B100", "Urban100"} and entry.measured_note


def test_bundle_is_byte_identical_to_the_importer(shared_dir: Path, tmp_path: Path):
    for scale in (2, 3, 4):
        entry = find_entry("lkdn", scale)
        state, metadata = import_checkpoint(shared_dir / "weights" / "official" / entry.source.checkpoint,
                                            "lkdn", scale)
        save_weights(tmp_path / entry.filename, state, metadata)
        assert (tmp_path / entry.filename).read_bytes() == (BUNDLED / entry.filename).read_bytes()


def test_a_damaged_bundled_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from srzoo.zoo import resolve

    copy_dir = tmp_path / "bundled"
    copy_dir.mkdir()
    for item in BUNDLED.iterdir():
        (copy_dir / item.name).write_bytes(item.read_bytes())
    damaged = copy_dir / "lkdn_x2.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\1")
    monkeypatch.setattr(resolve, "BUNDLED_DIR", copy_dir)
    monkeypatch.setenv("SRZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert resolve.resolve_weights("lkdn", 3).origin == "bundled"
    with pytest.raises(resolve.ChecksumError, match="reinstall srzoo"):
        resolve.resolve_weights("lkdn", 2)


class NotATensor:
    """Any class: a pickle that needs it is not a plain checkpoint."""


def test_a_pickle_with_objects_is_refused_without_dangerous_advice(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "evil.pth"
    torch.save({"params": build_model("lkdn", 2).state_dict(), "extra": NotATensor()}, path)
    with pytest.raises(SystemExit) as info:
        main(["zoo", "import", str(path), "-m", "lkdn", "-s", "2", "-o", str(tmp_path / "o.safetensors")])
    err = capsys.readouterr().err
    assert info.value.code == 1 and err.count("\n") == 1
    assert "not a plain checkpoint" in err and "not loaded" in err
    assert "weights_only" not in err and "succeed" not in err
    assert not (tmp_path / "o.safetensors").exists()
