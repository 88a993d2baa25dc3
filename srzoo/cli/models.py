"""`srzoo models` (what the zoo holds) and `srzoo download` (prefetch weights for offline use)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from srzoo.cli.app import app, err_console
from srzoo.errors import UsageError
from srzoo.zoo.manifest import ZooEntry, load_manifest
from srzoo.models import SCALES, get_family
from srzoo.paths import weights_dir
from srzoo.zoo.resolve import cached_copy, require_available, resolve_weights, zoo_entry

_SHOWN_SETS = ("Set5", "Urban100")


@app.command("models")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print every entry as JSON instead of a table."),
) -> None:
    """List the zoo: each model and scale, its source, status, local copy, and PSNR."""
    entries = load_manifest()
    if as_json:
        typer.echo(json.dumps([_as_dict(e) for e in entries], indent=2))
        return
    table = Table(title="srzoo model zoo", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True,
                  caption="cached: dir = $SRZOO_WEIGHTS_DIR, hub = Hugging Face cache; "
                          "* paper row not the authors' own (see zoo.toml)",
                  caption_justify="left")
    for column in ("model", "params", "source", "status", "cached"):
        table.add_column(column, justify="right" if column == "params" else "left")
    for name in _SHOWN_SETS:
        table.add_column(f"{name}\npaper/ours", justify="right")
    for entry in entries:
        table.add_row(entry.label, f"{entry.params:,}", entry.source.kind if entry.source else "-",
                      entry.status, _cached_label(entry), *(_psnr_pair(entry, name) for name in _SHOWN_SETS))
    Console(highlight=False).print(table)


@app.command("download")
def download_command(
    model: str | None = typer.Option(None, "--model", "-m", help="Model name or alias, e.g. alkdn."),
    scale: int | None = typer.Option(None, "--scale", "-s", help="Upscaling factor (default: every available one)."),
    all_entries: bool = typer.Option(False, "--all", help="Every entry that has weights."),
) -> None:
    """Fetch zoo weights (verified by sha256) so that later runs work offline."""
    for entry in select_entries(model, scale, all_entries):
        path = resolve_weights(entry.name, entry.scale, progress=True)
        typer.echo(f"{entry.label}: {path}")


def select_entries(model: str | None, scale: int | None, all_entries: bool) -> list[ZooEntry]:
    """The available entries that `download`'s options name; usage errors for bad names/scales."""
    named = model is not None or scale is not None
    if all_entries == named:
        raise UsageError("--all cannot be combined with --model/--scale" if named else
                         "say what to download: --model NAME [--scale N], --scale N, or --all")
    if model is not None and scale is not None:
        return [require_available(zoo_entry(model, scale))]
    if scale is not None and scale not in SCALES:
        raise UsageError(f"no model has an x{scale} variant (scales: {', '.join(map(str, SCALES))})")
    family = get_family(model).name if model is not None else None
    chosen = [e for e in load_manifest()
              if family in (None, e.name) and scale in (None, e.scale)]
    skipped = [e.label for e in chosen if not e.available]
    if skipped:
        err_console.print(f"skipping entries without weights (untrained): {', '.join(skipped)}")
    available = [e for e in chosen if e.available]
    if not available:
        raise UsageError(f"no weights exist yet for {', '.join(skipped) or 'that selection'}")
    return available


def _cached_label(entry: ZooEntry) -> str:
    if not entry.available:
        return "-"
    path = cached_copy(entry)
    if path is None:
        return "no"
    return "dir" if path.parent == weights_dir() else "hub"


def _psnr_pair(entry: ZooEntry, dataset: str) -> str:
    paper, ours = (f"{scores[dataset][0]:.2f}" if dataset in scores else "-"
                   for scores in (entry.paper, entry.measured))
    return f"{paper}{'' if entry.paper_verified or paper == '-' else '*'}/{ours}"


def _as_dict(entry: ZooEntry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    path: Path | None = cached_copy(entry) if entry.available else None
    data["cached"] = str(path) if path else None
    return data
