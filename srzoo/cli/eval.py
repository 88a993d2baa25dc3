"""`srzoo eval`: score zoo models on the benchmark sets and compare with the papers' numbers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from srzoo.cli.common import command, err_console
from srzoo.constants import data_root
from srzoo.errors import SrzooError, UsageError
from srzoo.models import get_family, list_families
from srzoo.zoo.manifest import (
    DATASETS,
    ZooEntry,
    manifest_path,
    update_measured,
)
from srzoo.zoo.resolve import load_pretrained
from srzoo.zoo.select import entries_to_evaluate, fetchable

if TYPE_CHECKING:  # the evaluation itself (torch, numpy) is imported when a command runs
    import torch

    from srzoo.evaluation.datasets import Dataset, LrChoice
    from srzoo.evaluation.evaluate import SetResult, Upscale


_MODELS = ", ".join(family.name for family in list_families())


@command("eval", short_help="Measure PSNR/SSIM on the benchmarks; compare with the papers.", epilog="""Examples:

\b
  srzoo eval -m lkdn -s 4 -d Set5                   # one entry, one set (fetched once)
  srzoo eval --check --markdown                     # every entry vs its paper
  srzoo eval -m alkdn -s 2 --hr HR/ --lr LR/ --json # your own images""")
def eval_command(
    models: list[str] | None = typer.Option(None, "--model", "-m", metavar="NAME", show_default="every entry",
                                            help=f"Model (repeatable): {_MODELS}."),
    all_entries: bool = typer.Option(False, "--all", help="Every zoo entry that has weights (as by default)."),
    scales: list[int] | None = typer.Option(None, "--scale", "-s", metavar="N", show_default="every scale",
                                            help="Upscaling factor (repeatable): 2, 3 or 4."),
    dataset_names: list[str] | None = typer.Option(
        None, "--dataset", "-d", metavar="SET", show_default="every one",
        help="Set5, Set14, B100 (BSD100), Urban100 (fetched and checked when absent), Manga109 (yours: "
             "http://www.manga109.org/en/) (repeatable)."),
    root: Path | None = typer.Option(None, "--data-root", metavar="DIR", show_default="$SRZOO_DATA, else "
                                     "~/.local/share/srzoo/datasets", help="Folder holding the datasets."),
    hr: Path | None = typer.Option(None, "--hr", metavar="DIR", help="Evaluate on any folder of HR images."),
    lr: Path | None = typer.Option(None, "--lr", metavar="DIR", show_default="made from HR by MATLAB bicubic",
                                   help="LR inputs for --hr (flat, or X<s>/ sub-folders)."),
    lr_recipe: str = typer.Option("auto", "--lr-recipe", metavar="RECIPE",
                                  help="LR inputs: auto (LR_bicubic files where present, else matlab), basicsr "
                                       "(made from HR as floats, mirrored edges, rounded once) or matlab (made "
                                       "on uint8 like older MATLAB, bit-exact with the classic LR files)."),
    weights: Path | None = typer.Option(None, "--weights", metavar="FILE",
                                        help="A local weights file (safetensors, or the authors' .pth) instead of "
                                             "the zoo's; it says which model and scale it holds."),
    ensemble: bool = typer.Option(False, "--ensemble", help="x8 self-ensemble (flips and rotations)."),
    tile: int = typer.Option(0, "--tile", min=0, metavar="PX",
                             help="Run in LR tiles of PX pixels; 0 = whole images (the reference protocol)."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps."),
    threads: int | None = typer.Option(None, "--threads", min=1, metavar="N",
                                       show_default="$SRZOO_THREADS, else one per core",
                                       help="CPU threads for torch."),
    save_images: Path | None = typer.Option(None, "--save-images", metavar="DIR",
                                            help="Also write the SR images (PNG) under DIR."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a paper-style markdown table."),
    per_image: bool = typer.Option(False, "--per-image", help="Also show every image's numbers."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the whole protocol, step by step."),
    check: bool = typer.Option(False, "--check", help="Exit 1 if a PSNR differs from the paper's by more "
                                                      "than --tolerance."),
    tolerance: float = typer.Option(0.05, "--tolerance", min=0.0, metavar="DB", help="dB allowed by --check."),
    update: bool = typer.Option(False, "--update-manifest", help="Write the measured numbers into zoo.toml."),
) -> None:
    """Measure PSNR/SSIM (Y channel, MATLAB protocol) and compare with the published numbers."""
    from srzoo.engine.device import pick_device, use_threads
    from srzoo.evaluation.datasets import LR_CHOICES
    from srzoo.evaluation.evaluate import measured_scores, protocol

    if as_json and markdown:
        raise UsageError("--json and --markdown cannot be combined")
    if lr_recipe not in LR_CHOICES:
        raise UsageError(f"--lr-recipe must be one of {', '.join(LR_CHOICES)}, not {lr_recipe!r}")
    if update and (weights or hr or ensemble or tile or lr_recipe != "auto"):
        raise UsageError("--update-manifest records the reference protocol for the zoo's own weights: "
                         "it cannot be combined with --weights, --hr, --ensemble, --tile or --lr-recipe")
    datasets = select_datasets(dataset_names or [], root, hr, lr)
    entries = entries_to_evaluate(models or [], scales or [], all_entries, weights, on_note=err_console.print)
    if weights is None and not (models and scales):  # a selection, not named entries: skip what cannot be had
        entries = fetchable(entries, on_note=err_console.print)
    target = pick_device(device)
    use_threads(threads)
    inference = _inference_label(target, tile, ensemble)
    start = time.perf_counter()
    results = run(entries, datasets, lambda e: _upscaler(e, weights, target, tile, ensemble), save_images,
                  cast("LrChoice", lr_recipe))
    err_console.print(f"evaluated in {time.perf_counter() - start:.1f} s")
    if as_json:
        typer.echo(json.dumps({"protocol": protocol(inference),
                               "results": [r.record(per_image) for r in results]}, indent=2))
    elif markdown:
        typer.echo(markdown_table(results))
    else:
        print_tables(results, inference, per_image, verbose)
    if update:
        _published_only(results)
        written = update_measured(measured_scores(results), manifest_path())
        err_console.print(f"wrote the measured numbers of {', '.join(written)} to {manifest_path()}")
    if check:
        _check(results, tolerance)


def select_datasets(names: list[str], root: Path | None, hr: Path | None, lr: Path | None) -> list[Dataset]:
    """The named benchmarks, plus the --hr folder; by default every benchmark. A public benchmark
    missing from the root is fetched (and checked) first; by default one that cannot be fetched,
    and a Manga109 the user has not supplied, are skipped with a note."""
    from srzoo.cli.fetchbar import benchmark
    from srzoo.evaluation.datasets import canonical_name, folder_dataset

    if lr is not None and hr is None:
        raise UsageError("--lr needs --hr")
    root = root if root is not None else data_root()
    folder = [folder_dataset(hr, lr)] if hr is not None else []
    if names:
        return [benchmark(name, root) for name in dict.fromkeys(map(canonical_name, names))] + folder
    if folder:
        return folder
    found, missing, errors = [], [], []
    for name in DATASETS:
        try:
            found.append(benchmark(name, root))
        except SrzooError as exc:
            missing.append(name)
            errors.append(exc)
    if not found:
        raise errors[0]
    if missing:
        err_console.print(f"not found under {root} and not fetched (skipped): {', '.join(missing)}")
    return found


def run(entries: list[ZooEntry], datasets: list[Dataset], upscaler: Callable[[ZooEntry], Upscale],
        save_dir: Path | None, lr_recipe: LrChoice = "auto") -> list[SetResult]:
    """Evaluate every entry on every dataset, one scale at a time, models resident, images read once."""
    from srzoo.evaluation.datasets import list_images
    from srzoo.evaluation.evaluate import Contender, evaluate

    results: list[SetResult] = []
    for scale in sorted({e.scale for e in entries}):
        group = [e for e in entries if e.scale == scale]
        contenders = [Contender(e.name, upscaler(e), e.paper, e.paper_verified) for e in group]
        for dataset in datasets:
            with _progress() as progress:
                task = progress.add_task(f"x{scale} {dataset.name}", total=len(list_images(dataset.hr_dir)))
                scored = evaluate(contenders, dataset, scale, save_dir, lr_recipe,
                                  on_images=partial(_advance, progress, task))
            for result in scored:
                err_console.print(f"{result.model} x{scale} {result.dataset}: {result.psnr:.3f} dB / "
                                  f"{result.ssim:.4f} ({result.images} images, {result.lr} LR, "
                                  f"{result.seconds:.1f} s)")
                results.append(result)
            if scored and scored[0].check is not None and not scored[0].check.ok:
                err_console.print(f"[bold yellow]{dataset.name} under {escape(str(dataset.hr_dir))} is not the "
                                  f"published set:[/] {escape(scored[0].check.summary())}; its numbers are not "
                                  "compared with the papers'", markup=True)
    order = {(e.name, e.scale): i for i, e in enumerate(entries)}
    return sorted(results, key=lambda r: order[(r.model, r.scale)])


def _progress() -> Progress:
    """Images of the current set, on stderr, only on a terminal."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=not err_console.is_terminal)


def _upscaler(entry: ZooEntry, weights: Path | None, device: torch.device, tile: int | None,
              ensemble: bool) -> Upscale:
    """The uint8 upscaler for an entry: its network, resident on `device`, whole-image unless told."""
    from srzoo.engine.upscaler import Upscaler
    from srzoo.evaluation.evaluate import on_uint8

    model = load_pretrained(entry.name, entry.scale, weights).to(device)
    if not (tile or ensemble):
        return on_uint8(model, device)
    return on_uint8(Upscaler(model, entry.name, entry.scale, device=device, tile=tile, ensemble=ensemble), device)


def _inference_label(device: torch.device, tile: int | None, ensemble: bool) -> str:
    """How the networks are run, for the protocol description."""
    how = f"LR tiles of {tile} px" if tile else "whole images (same-size images batched)"
    return f"{how}{', x8 self-ensemble' if ensemble else ''}, float32, {device}"


def protocol_summary(results: list[SetResult], inference: str) -> str:
    """The protocol in two lines, naming the LR inputs actually used per dataset (--verbose: all of it)."""
    by_source: dict[str, list[str]] = {}
    for result in results:
        names = by_source.setdefault(result.lr, [])
        if result.dataset not in names:
            names.append(result.dataset)
    lr = "; ".join(f"{source} for {', '.join(names)}" for source, names in by_source.items())
    return (f"Protocol: PSNR/SSIM on Y (BT.601), border = scale, uint8 outputs; {inference}.\n"
            f"LR inputs: {lr or '-'} (files = the dataset's LR_bicubic images; --verbose for the recipes).")


def print_tables(results: list[SetResult], inference: str, per_image: bool, verbose: bool = False) -> None:
    """The protocol, then one rich table per (model, scale), and per-image tables if asked."""
    from srzoo.evaluation.evaluate import protocol

    console = Console(highlight=False, soft_wrap=True)
    if verbose:
        console.print("[bold]Protocol[/]")
        for key, text in protocol(inference).items():
            console.print(f"  {key}: {text}")
    else:
        console.print(protocol_summary(results, inference))
    for (model, scale), rows in _by_entry(results).items():
        table = Table(title=f"{get_family(model).title} x{scale}", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False, collapse_padding=True)
        for column in ("dataset", "images", "LR", "PSNR", "SSIM", "paper", "Δ PSNR", "time"):
            table.add_column(column, justify="left" if column in ("dataset", "LR") else "right", no_wrap=True)
        for r in rows:
            table.add_row(r.dataset, str(r.images), r.lr, f"{r.psnr:.3f}", f"{r.ssim:.4f}", *_paper_cells(r),
                          f"{r.seconds:.1f} s")
        console.print(table)
        if per_image:
            for r in rows:
                console.print(_image_table(r))


def _paper_cells(result: SetResult) -> tuple[str, str]:
    if result.paper is None:
        return "-", "-"
    mark = "" if result.paper_verified else " (not its own)"
    delta = "set differs" if result.delta_psnr is None else f"{result.delta_psnr:+.3f}"
    return f"{paper_score(result.paper, ' / ')}{mark}", delta


def paper_score(score: tuple[float, float | None], sep: str = "/") -> str:
    """A published (PSNR, SSIM) pair as text; '-' for an SSIM the paper does not give."""
    psnr, ssim = score
    return f"{psnr:.2f}{sep}{'-' if ssim is None else f'{ssim:.4f}'}"


def _image_table(result: SetResult) -> Table:
    table = Table(title=f"{result.model} x{result.scale} {result.dataset}, per image", title_justify="left",
                  box=box.SIMPLE)
    for column in ("image", "PSNR", "SSIM"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for score in result.per_image:
        table.add_row(score.name, f"{score.psnr:.3f}", f"{score.ssim:.4f}")
    return table


def _advance(progress: Progress, task: TaskID, images: int) -> None:
    progress.advance(task, images)


def markdown_table(results: list[SetResult]) -> str:
    """A paper-style table: PSNR/SSIM per dataset; rows for ours, the paper's and the PSNR delta."""
    datasets = list(dict.fromkeys(r.dataset for r in results))
    lines = [f"| model | scale | row | {' | '.join(datasets)} |", "|---|---|---|" + "---|" * len(datasets)]
    for (model, scale), rows in _by_entry(results).items():
        cells = {r.dataset: r for r in rows}
        title = get_family(model).title
        ours = [f"{cells[d].psnr:.2f}/{cells[d].ssim:.4f}" if d in cells else "-" for d in datasets]
        paper = [paper_score(row) if d in cells and (row := cells[d].paper) else "-" for d in datasets]
        delta = [_delta_cell(cells[d]) if d in cells and cells[d].paper else "-" for d in datasets]
        lines.append(f"| {title} | x{scale} | measured | {' | '.join(ours)} |")
        if any(cell != "-" for cell in paper):
            label = "paper" if rows[0].paper_verified else "paper (not its own)"
            lines.append(f"| {title} | x{scale} | {label} | {' | '.join(paper)} |")
            lines.append(f"| {title} | x{scale} | Δ PSNR | {' | '.join(delta)} |")
    return "\n".join(lines)


def _delta_cell(result: SetResult) -> str:
    delta = result.delta_psnr
    return "n/a (set differs)" if delta is None else f"{delta:+.3f}"


def _published_only(results: list[SetResult]) -> None:
    """Refuse to record numbers measured on a copy that is not the published set."""
    wrong = {r.dataset: r.check.summary() for r in results if r.check is not None and not r.check.ok}
    if wrong:
        raise SrzooError("not writing the measured numbers: " + "; ".join(
            f"{name} is not the published set ({summary})" for name, summary in wrong.items()))


def _by_entry(results: list[SetResult]) -> dict[tuple[str, int], list[SetResult]]:
    groups: dict[tuple[str, int], list[SetResult]] = {}
    for result in results:
        groups.setdefault((result.model, result.scale), []).append(result)
    return groups


def _check(results: list[SetResult], tolerance: float) -> None:
    """Exit 1, naming them, when results differ from the paper by more than `tolerance` dB."""
    checkable = [r for r in results if r.delta_psnr is not None and r.paper_verified]
    own_row = {(r.model, r.scale) for r in results if r.paper is not None and r.paper_verified}
    without = sorted({f"{r.model} x{r.scale}" for r in results if (r.model, r.scale) not in own_row})
    if without:
        err_console.print(f"not checked, no paper row of their own (see zoo.toml paper_note): {', '.join(without)}")
    gaps = [f"{r.model} x{r.scale} {r.dataset}" for r in results
            if (r.model, r.scale) in own_row and r.paper is None]
    if gaps:
        err_console.print(f"not checked (the paper gives no number): {', '.join(gaps)}")
    wrong = sorted({f"{r.dataset} ({r.check.summary()})" for r in results if r.check is not None and not r.check.ok})
    if wrong:
        err_console.print(f"[bold red]check failed:[/] not the published images, so not comparable with the "
                          f"papers: {escape('; '.join(wrong))}", markup=True)
    failed = [(r, r.delta_psnr, r.paper[0]) for r in checkable
              if r.delta_psnr is not None and r.paper is not None and abs(r.delta_psnr) > tolerance]
    for r, delta, paper_psnr in failed:
        err_console.print(f"[bold red]check failed:[/] {r.model} x{r.scale} {r.dataset}: {r.psnr:.3f} dB, "
                          f"paper {paper_psnr:.2f} dB, delta {delta:+.3f} dB exceeds {tolerance} dB")
    if failed or wrong:
        raise typer.Exit(code=1)
    err_console.print(f"check passed: {len(checkable)} result(s) of {len(own_row)} entries within {tolerance} dB "
                      "of the paper")
