"""`srzoo models` (what the zoo holds) and `srzoo download` (prefetch weights for offline use)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from srzoo.cli.common import command, err_console
from srzoo.constants import DEFAULT_MODEL, DEFAULT_SCALE
from srzoo.errors import SrzooError
from srzoo.zoo.manifest import ZooEntry, load_manifest
from srzoo.zoo.resolve import (
    local_copy,
    origin_hint,
    resolve_weights,
)
from srzoo.zoo.select import entries_to_download

_SHOWN_SETS = ("Set5", "Urban100")
_LEGEND = "\n".join((
    "official: the authors' weights; trained: made by `srzoo train`; unverified: released by the "
    "authors and checked by git blob id, our conversion not yet checked on the real file.",
    "from: where a run would take the weights now: dir ($SRZOO_WEIGHTS_DIR), bundled (inside srzoo), "
    "hub cache, hub, origin (the authors' checkpoint, converted; needs the network). ~: size estimate.",
    f"(default): what `srzoo upscale` runs without -m and -s ({DEFAULT_MODEL} x{DEFAULT_SCALE}).",
    "*: the paper row is not its own (another variant, or third-party; see zoo.toml).",
))


@command("models", short_help="List the zoo and where each entry's weights come from.")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print every entry as JSON instead of a table."),
) -> None:
    """List the zoo: each model and scale, its source, status, local copy, and PSNR."""
    entries = load_manifest()
    if as_json:
        typer.echo(json.dumps([_as_dict(e) for e in entries], indent=2))
        return
    table = Table(title="srzoo model zoo", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True,
                  pad_edge=False)
    for column in ("model", "params", "status", "from", "size"):
        table.add_column(column, justify="right" if column in ("params", "size") else "left", no_wrap=True)
    for name in _SHOWN_SETS:
        table.add_column(f"{name}\npaper/ours", justify="right", no_wrap=True)
    for entry in entries:
        default = " (default)" if (entry.name, entry.scale) == (DEFAULT_MODEL, DEFAULT_SCALE) else ""
        table.add_row(entry.label + default, f"{entry.params / 1000:.0f}K", _status_label(entry), origin_hint(entry),
                      _size_label(entry), *(_psnr_pair(entry, name) for name in _SHOWN_SETS))
    console = Console(highlight=False)
    console.print(table)
    console.print(_LEGEND)


@command("download", short_help="Fetch and verify zoo weights for offline use.")
def download_command(
    model: str | None = typer.Option(None, "--model", "-m", help="Model name or alias, e.g. alkdn."),
    scale: int | None = typer.Option(None, "--scale", "-s", help="Upscaling factor (default: every available one)."),
    all_entries: bool = typer.Option(False, "--all", help="Every entry that has weights."),
    from_origin: bool = typer.Option(False, "--from-origin",
                                     help="Fetch and convert the authors' checkpoints even where a copy or the "
                                          "Hub has the file (official entries only)."),
) -> None:
    """Fetch zoo weights (verified by sha256) so that later runs work offline.

    The usual order applies (weights dir, bundled, Hub, then the authors' origin); every file is
    checked against the manifest and stored under $SRZOO_WEIGHTS_DIR. Exit 1 if any entry fails.
    """
    failed = 0
    single = model is not None and scale is not None
    for entry in entries_to_download(model, scale, all_entries, official_only=from_origin, on_note=err_console.print):
        try:
            found = resolve_weights(entry.name, entry.scale, progress=True, origin_only=from_origin)
        except SrzooError as exc:
            if single:
                raise
            err_console.print(f"[red]failed[/] {entry.label}: {exc}", markup=True, highlight=False)
            failed += 1
            continue
        typer.echo(f"{entry.label}: {found.path} ({found.origin})")
    if failed:
        raise typer.Exit(code=1)


def _status_label(entry: ZooEntry) -> str:
    if entry.status != "available" or entry.source is None:
        return entry.status
    return "official" if entry.source.kind == "official" else "trained"


def _size_label(entry: ZooEntry) -> str:
    """The file's size, or about 4 bytes per parameter (float32) where it is not here yet."""
    if not entry.available:
        return "-"
    found = local_copy(entry)
    size = found.path.stat().st_size if found else 4 * entry.params
    return f"{'' if found else '~'}{size / 1e6:.1f}M"


def _psnr_pair(entry: ZooEntry, dataset: str) -> str:
    paper, ours = (f"{scores[dataset][0]:.2f}" if dataset in scores else "-"
                   for scores in (entry.paper, entry.measured))
    return f"{paper}{'' if entry.paper_verified or paper == '-' else '*'}/{ours}"


def _as_dict(entry: ZooEntry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    found = local_copy(entry) if entry.available else None
    data["cached"] = str(found.path) if found else None
    data["weights_from"] = origin_hint(entry)
    return data
