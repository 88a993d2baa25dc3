"""`srzoo zoo ...`: import official checkpoints into srzoo's safetensors format; publish them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from huggingface_hub import CommitOperationAdd, HfApi, constants

from srzoo.cli.app import Command, err_console, zoo_app
from srzoo.errors import SrzooError, UsageError
from srzoo.fsutil import sha256_file
from srzoo.zoo.manifest import ZooEntry, find_entry, load_manifest
from srzoo.models import get_family
from srzoo.paths import weights_dir
from srzoo.zoo.hub import HUB_ERRORS, hub_error_reason, hub_warnings_silenced
from srzoo.zoo.origin import has_origin, install_checkpoint
from srzoo.zoo.resolve import load_pretrained


@zoo_app.command("import", cls=Command,
                 short_help="Convert an official checkpoint to a zoo safetensors file.")
def import_command(
    checkpoint: Path = typer.Argument(..., help="The authors' checkpoint (.pth); with --all, the folder of "
                                                "official checkpoints."),
    model: str | None = typer.Option(None, "--model", "-m", help="Family name, e.g. lkdn, alkdn, lkdn-s."),
    scale: int | None = typer.Option(None, "--scale", "-s", help="Upscaling factor of the checkpoint."),
    out: Path | None = typer.Option(None, "--output", "-o",
                                    help="Output .safetensors (default: the weights dir, manifest name)."),
    fold: bool = typer.Option(False, "--fold", help="Fold a training-form checkpoint into the inference form."),
    import_all: bool = typer.Option(False, "--all", help="Import every official zoo entry whose checkpoint "
                                                        "(as named in zoo.toml) is under the folder."),
) -> int:
    """Convert an official checkpoint to a verified, deterministic safetensors file.

    With --all, every official entry found under the folder is written to the weights dir and
    checked against the manifest's sha256 (exit 1 if one fails).
    """
    if import_all:
        if model or scale or out or fold:
            raise UsageError("--all takes only the folder: names, scales and files come from zoo.toml")
        return import_official(checkpoint)
    if model is None or scale is None:
        raise UsageError("give --model and --scale for one checkpoint, or --all with a folder")
    family = get_family(model)
    from srzoo.zoo.convert import import_checkpoint  # torch, only for this command
    from srzoo.zoo.weightfile import save_weights

    state, metadata = import_checkpoint(checkpoint, family.name, scale, fold=fold)
    if out is None:
        entry = find_entry(family.name, scale)
        filename = entry.filename if entry else f"{family.name}_x{scale}.safetensors"
        if metadata["form"] == "training":
            filename = filename.replace(".safetensors", "_train.safetensors")
        out = weights_dir() / filename
    if out.resolve() == checkpoint.resolve():
        raise typer.BadParameter("--output must not be the input checkpoint")
    save_weights(out, state, metadata)
    err_console.print(f"{family.title} x{scale} ({metadata['form']} form, {len(state)} tensors) -> {out}")
    typer.echo(f"sha256 {sha256_file(out)}  {out}")
    return 0


def import_official(folder: Path) -> int:
    """Install every official manifest entry whose checkpoint is under `folder` into the weights dir:
    checkpoint hash checked, converted, result checked against the manifest's sha256."""
    if not folder.is_dir():
        raise SrzooError(f"{folder} is not a folder of official checkpoints")
    entries = [e for e in load_manifest() if has_origin(e)]
    found = [e for e in entries if (folder / e.source.checkpoint).is_file()]
    if not found:
        raise SrzooError(f"none of the official checkpoints named in zoo.toml is under {folder} "
                         f"(e.g. {entries[0].source.checkpoint})")
    failed = 0
    for entry in found:
        try:
            target = install_checkpoint(entry, folder / entry.source.checkpoint)
        except SrzooError as exc:
            err_console.print(f"[red]failed[/] {entry.label}: {exc}", markup=True, highlight=False)
            failed += 1
            continue
        typer.echo(f"{entry.label}: {target} ({'sha256 verified' if entry.verified else 'git blob verified'})")
    missing = [f"{e.label} ({e.source.checkpoint})" for e in entries if e not in found]
    if missing:
        err_console.print(f"not under {folder}: {', '.join(missing)}")
    err_console.print(f"imported {len(found) - failed} of {len(entries)} official entries into {weights_dir()}")
    return 1 if failed else 0


@zoo_app.command("publish", cls=Command,
                 short_help="Upload the weights dir to the Hub; print the manifest lines.")
def publish_command(
    repo_id: str = typer.Option(..., "--repo-id", help="Hub model repository to upload to, e.g. you/srzoo-zoo."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the files and print the lines; upload nothing."),
) -> None:
    """Upload the zoo files of the weights dir to the Hub and print the manifest lines to paste."""
    files = publishable_files(weights_dir())
    revision = "<commit of the upload>" if dry_run else upload(files, repo_id)
    for item in files:
        typer.echo(manifest_lines(item, repo_id, revision))


@dataclass(frozen=True)
class Publishable:
    """A weights-dir file named as a manifest entry, checked to load into that entry's model."""

    entry: ZooEntry
    path: Path
    params: int
    sha256: str


def publishable_files(directory: Path) -> list[Publishable]:
    """The files in `directory` named as manifest entries; a one-line error if one does not fit."""
    from srzoo.models.layers import count_parameters  # torch, only for this command

    files = [Publishable(e, path, count_parameters(load_pretrained(e.name, e.scale, weights=path)),
                         sha256_file(path))
             for e in load_manifest() if (path := directory / e.filename).is_file()]
    if not files:
        raise SrzooError(f"no zoo weights in {directory}: nothing to publish "
                         "(files must be named as in zoo.toml; see `srzoo zoo import`)")
    known = {item.path.name for item in files}
    for stray in sorted(p.name for p in directory.glob("*.safetensors") if p.name not in known):
        err_console.print(f"skipping {stray}: not a file named in the manifest")
    return files


def manifest_lines(item: Publishable, repo_id: str, revision: str) -> str:
    """The zoo.toml lines that make `item`'s entry point at the uploaded file."""
    lines = [f"# {item.entry.label} ({item.path.name})", 'status = "available"', f'repo_id = "{repo_id}"',
             f'revision = "{revision}"', f'sha256 = "{item.sha256}"', f"params = {item.params}"]
    if item.entry.source is None:
        lines.append('# and replace `how` with source = { kind = "srzoo-train", command = "...", data = "..." }')
    return "\n".join(lines) + "\n"


def upload(files: list[Publishable], repo_id: str) -> str:
    """Upload `files` to the Hub model repo `repo_id` in one commit; returns the commit hash."""
    operations = [CommitOperationAdd(path_in_repo=f.path.name, path_or_fileobj=str(f.path)) for f in files]
    api = HfApi()
    try:
        with hub_warnings_silenced():
            api.create_repo(repo_id, exist_ok=True)
            commit = api.create_commit(repo_id, operations,
                                       commit_message=f"srzoo: upload {len(files)} weight file(s)")
    except HUB_ERRORS as exc:
        raise SrzooError(f"cannot upload to {repo_id} on {constants.ENDPOINT}: {hub_error_reason(exc)}") from exc
    err_console.print(f"uploaded {len(files)} file(s) to {commit.commit_url}")
    return commit.oid
