"""`srzoo zoo ...`: import official checkpoints into srzoo's safetensors format; publish them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from srzoo.cli.common import command, err_console
from srzoo.constants import weights_dir
from srzoo.errors import SrzooError, UsageError
from srzoo.fsutil import sha256_file
from srzoo.models import get_family
from srzoo.zoo.manifest import find_entry, load_manifest
from srzoo.zoo.origin import has_origin, install_checkpoint


@command("import", short_help="Convert an official checkpoint to a zoo safetensors file.")
def import_command(
    checkpoint: Path = typer.Argument(..., help="The authors' checkpoint (.pth); with --all, the folder of "
                                                "official checkpoints."),
    model: str | None = typer.Option(None, "--model", "-m", metavar="NAME", show_default="what the file holds",
                                     help="Family name, e.g. lkdn, alkdn, lkdn-s (checked against the file)."),
    scale: int | None = typer.Option(None, "--scale", "-s", metavar="N", show_default="what the file holds",
                                     help="Upscaling factor of the checkpoint (checked against the file)."),
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
    from srzoo.zoo.convert import import_checkpoint  # torch, only for this command
    from srzoo.zoo.weightfile import save_weights

    state, metadata = import_checkpoint(checkpoint, model, scale, fold=fold)
    family, scale = get_family(metadata["family"]), int(metadata["scale"])
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
    checkpoints = {e.label: e.source.checkpoint for e in entries if e.source is not None}
    found = [e for e in entries if (folder / checkpoints[e.label]).is_file()]
    if not found:
        raise SrzooError(f"none of the official checkpoints named in zoo.toml is under {folder} "
                         f"(e.g. {checkpoints[entries[0].label]})")
    failed = 0
    for entry in found:
        try:
            target = install_checkpoint(entry, folder / checkpoints[entry.label])
        except SrzooError as exc:
            err_console.print(f"[red]failed[/] {entry.label}: {escape(str(exc))}", markup=True, highlight=False)
            failed += 1
            continue
        typer.echo(f"{entry.label}: {target} ({'sha256 verified' if entry.verified else 'git blob verified'})")
    missing = [f"{e.label} ({checkpoints[e.label]})" for e in entries if e not in found]
    if missing:
        err_console.print(f"not under {folder}: {', '.join(missing)}")
    err_console.print(f"imported {len(found) - failed} of {len(entries)} official entries into {weights_dir()}")
    return 1 if failed else 0


@command("publish", short_help="Upload the weights dir to the Hub; print the manifest lines.")
def publish_command(
    repo_id: str = typer.Option(..., "--repo-id", help="Hub model repository to upload to, e.g. you/srzoo-zoo."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the files and print the lines; upload nothing."),
) -> None:
    """Upload the zoo files of the weights dir to the Hub and print the manifest lines to paste."""
    from srzoo.zoo.publish import (  # torch: only for this command
        manifest_lines,
        publishable_files,
        upload,
    )

    files = publishable_files(weights_dir(), on_note=err_console.print)
    if dry_run:
        revision = "<commit of the upload>"
    else:
        revision, url = upload(files, repo_id)
        err_console.print(f"uploaded {len(files)} file(s) to {url}")
    for item in files:
        typer.echo(manifest_lines(item, repo_id, revision))
