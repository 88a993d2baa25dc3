"""`srzoo models` (what the zoo holds) and `srzoo download` (prefetch weights for offline use)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from srzoo.cli.common import command, err_console
from srzoo.constants import DEFAULT_MODEL, DEFAULT_SCALE, data_root
from srzoo.errors import SrzooError, UsageError
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
    architectures: bool = typer.Option(False, "--architectures",
                                       help="List the other architectures whose checkpoints --weights takes "
                                            "(through spandrel: pip install \"srzoo[spandrel]\")."),
) -> None:
    """List the zoo: each model and scale, its source, status, local copy, and PSNR."""
    if architectures:
        from srzoo.models.external import INSTALL
        from srzoo.models.external import architectures as known

        names = known()
        if not names:
            raise SrzooError(f"other architectures come through spandrel, which is not installed: {INSTALL}")
        typer.echo(json.dumps(names) if as_json else "\n".join(names))
        return
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


@command("download", short_help="Fetch and verify zoo weights (and benchmarks) for offline use.", epilog="""Examples:

\b
  srzoo download --all                     # every entry's weights
  srzoo download --datasets                # Set5, Set14, B100 and Urban100
  srzoo download --datasets Set5 Urban100  # those two""")
def download_command(
    sets: list[str] | None = typer.Argument(None, metavar="[SET]...",
                                            help="With --datasets: the benchmarks to fetch (default: every "
                                                 "public one)."),
    datasets: bool = typer.Option(False, "--datasets", help="Fetch and check benchmarks into the data root "
                                                             "(Set5, Set14, B100, Urban100; or the training "
                                                             "sets DIV2K, Flickr2K, OST) instead of weights."),
    root: Path | None = typer.Option(None, "--data-root", metavar="DIR", show_default="$SRZOO_DATA, else "
                                     "~/.local/share/srzoo/datasets", help="Where --datasets stores them."),
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
    With --datasets, benchmarks instead: each is fetched (Hub, then GitHub), its images checked
    against the published names, sizes and pixels, and stored under the data root.
    """
    if sets and not datasets:
        raise UsageError(f"{sets[0]!r}: name benchmarks after --datasets")
    if datasets:
        if model is not None or scale is not None or all_entries or from_origin:
            raise UsageError("--datasets fetches benchmarks: it cannot be combined with -m, -s, --all or "
                             "--from-origin (run two commands)")
        _download_datasets(sets or [], root if root is not None else data_root())
        return
    failed = 0
    single = model is not None and scale is not None
    for entry in entries_to_download(model, scale, all_entries, official_only=from_origin, on_note=err_console.print):
        try:
            found = resolve_weights(entry.name, entry.scale, progress=True, origin_only=from_origin)
        except SrzooError as exc:
            if single:
                raise
            err_console.print(f"[red]failed[/] {entry.label}: {escape(str(exc))}", markup=True, highlight=False)
            failed += 1
            continue
        typer.echo(f"{entry.label}: {found.path} ({found.origin})")
    if failed:
        raise typer.Exit(code=1)


def _download_datasets(names: list[str], root: Path) -> None:
    """Fetch (or find) each benchmark or training set; a line per set; exit 1 if any cannot be had."""
    from srzoo.cli.fetchbar import benchmark, download_bars
    from srzoo.evaluation.datasets import canonical_name, list_images
    from srzoo.evaluation.fetch import FETCHABLE
    from srzoo.train.paperdata import TRAINING_SETS, prepare

    training = {name.lower(): name for name in TRAINING_SETS}
    chosen = list(dict.fromkeys(training.get(n.strip().lower()) or canonical_name(n) for n in names))
    failed = 0
    for name in chosen or FETCHABLE:
        try:
            if name in TRAINING_SETS:
                with download_bars() as progress:
                    [folder] = prepare((name,), root, progress)
                typer.echo(f"{name}: {folder} ({len(list_images(folder))} images)")
                continue
            dataset = benchmark(name, root)
        except SrzooError as exc:
            if len(chosen or FETCHABLE) == 1:
                raise
            err_console.print(f"[red]failed[/] {name}: {escape(str(exc))}", markup=True, highlight=False)
            failed += 1
            continue
        typer.echo(f"{dataset.name}: {dataset.hr_dir} ({len(list_images(dataset.hr_dir))} images)")
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
