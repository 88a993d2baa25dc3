"""`srzoo zoo ...`: import official checkpoints into srzoo's safetensors format."""

from __future__ import annotations

from pathlib import Path

import typer

from srzoo.cli.app import err_console, zoo_app
from srzoo.convert import import_checkpoint
from srzoo.fsutil import sha256_file
from srzoo.manifest import find_entry
from srzoo.models import get_family
from srzoo.paths import weights_dir
from srzoo.weights import save_weights


@zoo_app.command("import")
def import_command(
    checkpoint: Path = typer.Argument(..., help="The authors' checkpoint (.pth)."),
    model: str = typer.Option(..., "--model", "-m", help="Family name, e.g. lkdn, alkdn, lkdn-s."),
    scale: int = typer.Option(..., "--scale", "-s", help="Upscaling factor of the checkpoint."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Output .safetensors (default: the weights dir, manifest name)."),
    fold: bool = typer.Option(False, "--fold", help="Fold a training-form checkpoint into the inference form."),
) -> None:
    """Convert an official checkpoint to a verified, deterministic safetensors file."""
    family = get_family(model)
    state, metadata = import_checkpoint(checkpoint, family.name, scale, fold=fold)
    if out is None:
        entry = find_entry(family.name, scale)
        filename = entry["filename"] if entry else f"{family.name}_x{scale}.safetensors"
        if metadata["form"] == "training":
            filename = filename.replace(".safetensors", "_train.safetensors")
        out = weights_dir() / filename
    if out.resolve() == checkpoint.resolve():
        raise typer.BadParameter("--out must not be the input checkpoint")
    save_weights(out, state, metadata)
    err_console.print(f"{family.title} x{scale} ({metadata['form']} form, {len(state)} tensors) -> {out}")
    typer.echo(f"sha256 {sha256_file(out)}  {out}")
