"""`srzoo train` (a family's paper recipe, resumable, DDP under torchrun) and `srzoo export`."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from srzoo.cli.common import command, err_console
from srzoo.cli.signals import INTERRUPTED, TERMINATED
from srzoo.constants import data_root
from srzoo.errors import SrzooError, UsageError
from srzoo.models import get_family
from srzoo.train.config import Runtime, TrainConfig, default_init
from srzoo.train.recipes import recipe_for

_PER_STAGE = " One value, or one per stage separated by commas."


@command("train", short_help="Train a network with its paper's recipe.", epilog="""Examples:

\b
  srzoo train lkdn -s 2 --data DIV2K/           # the paper's recipe
  srzoo train aidn -s 3 --finetune --data DIR/  # from aidn x4, LKDN teacher
  srzoo train --resume runs/aidn_x3             # continue where it stopped""")
def train_command(
    model: str | None = typer.Argument(None, help="Family: alkdn, lkdn, lkdn-s, aidn, ddistill (optional with "
                                                  "--resume)."),
    scale: int | None = typer.Option(None, "--scale", "-s", metavar="N", help="Upscaling factor."),
    data: list[Path] | None = typer.Option(None, "--data", metavar="DIR",
                                           show_default="the paper's data (DF2K; AIDN: + OST), fetched once",
                                           help="Folder of HR images, searched recursively; "
                                                "folders named like LR_bicubic are skipped "
                                                "(repeatable)."),
    lr_dir: Path | None = typer.Option(None, "--lr-dir", metavar="DIR",
                                       help="Read LR images (<stem>x<s>.* or <stem>.*, flat or "
                                            "under X<s>/) instead of making them by MATLAB "
                                            "bicubic."),
    subimages: Path | None = typer.Option(None, "--subimages", metavar="DIR",
                                          help="Cut the HR images into 480-pixel PNG "
                                               "sub-images in this folder (once) and train "
                                               "on those: faster decoding."),
    val: str | None = typer.Option(None, "--val", metavar="SET",
                                   help="Validation set: a benchmark name (fetched when public and absent), "
                                        "or a folder; 'none' for none (default: Set5)."),
    val_every: int | None = typer.Option(None, "--val-every", metavar="N", min=1, show_default="5000",
                                         help="Validate every N iterations."),
    checkpoint_every: int | None = typer.Option(None, "--checkpoint-every", metavar="N", min=1,
                                                show_default="5000", help="Checkpoint every N iterations."),
    log_every: int | None = typer.Option(None, "--log-every", metavar="N", min=1, show_default="100",
                                         help="Log a row every N iterations."),
    keep_checkpoints: int | None = typer.Option(None, "--keep-checkpoints", metavar="N", min=0,
                                                show_default="3", help="Keep the N latest checkpoints, 0 for all."),
    iters: str | None = typer.Option(None, "--iters", metavar="N", help="Iterations: the total (split across stages in "
                                                                        "the recipe's proportions), or one per stage."),
    batch_size: str | None = typer.Option(None, "--batch-size", metavar="N", help="Global batch size." + _PER_STAGE),
    patch_size: str | None = typer.Option(None, "--patch-size", metavar="PX",
                                          help="LR patch size in pixels." + _PER_STAGE),
    lr: str | None = typer.Option(None, "--lr", metavar="RATE", help="Learning rate." + _PER_STAGE),
    loss: str | None = typer.Option(None, "--loss", metavar="NAME", help="l1 or l2." + _PER_STAGE),
    form: str | None = typer.Option(None, "--form", metavar="NAME", help="training or inference form of the network."),
    optimizer: str | None = typer.Option(None, "--optimizer", metavar="NAME", help="adam or adan."),
    betas: str | None = typer.Option(None, "--betas", metavar="B,B",
                                     help="Optimizer betas, comma-separated (2 for Adam, "
                                          "3 for Adan)."),
    weight_decay: float | None = typer.Option(None, "--weight-decay", metavar="W", min=0.0, help="Weight decay."),
    schedule: str | None = typer.Option(None, "--schedule", metavar="NAME", help="constant, cosine or step."),
    min_lr: float | None = typer.Option(None, "--min-lr", metavar="RATE", min=0.0, help="Cosine schedule floor."),
    step_iters: int | None = typer.Option(None, "--step-iters", metavar="N", min=1,
                                          help="Step schedule: iterations per step."),
    gamma: float | None = typer.Option(None, "--gamma", metavar="F", min=0.0, help="Step schedule: factor per step."),
    ema: float | None = typer.Option(None, "--ema", metavar="DECAY", help="EMA decay, 0 for no EMA."),
    grad_clip: float | None = typer.Option(None, "--grad-clip", metavar="NORM", min=0.0,
                                           help="Max gradient norm, 0 for none."),
    teacher: str | None = typer.Option(None, "--teacher", metavar="ENTRY",
                                       help="Distil from a zoo entry at the training scale (lkdn:x2): part of "
                                            "the loss (--teacher-weight) is to its output; 'none' for none."),
    teacher_weight: float | None = typer.Option(None, "--teacher-weight", min=0.0, max=1.0, metavar="W",
                                                show_default="0.5", help="Share of the loss that goes to the "
                                                                         "teacher's output."),
    augment: str | None = typer.Option(None, "--augment", metavar="NAME", help="none, flips, or dihedral (flips and "
                                                                               "90/180/270 rotations)."),
    seed: int | None = typer.Option(None, "--seed", metavar="N", show_default="0",
                                    help="Seed of the initial weights and of the data."),
    init: str | None = typer.Option(None, "--init", metavar="ENTRY",
                                    help="Start from weights: a file or a zoo entry (lkdn:x4); "
                                         "every tensor whose name and shape fit is loaded."),
    finetune: bool = typer.Option(False, "--finetune", help="srzoo's fine-tuning recipe instead of the paper's: "
                                                            "from the family's x4 weights, the new upsampler "
                                                            "first, then everything, distilled from LKDN."),
    run_dir: Path | None = typer.Option(None, "--run-dir", metavar="DIR", show_default="runs/<model>_x<scale>",
                                        help="Run folder: checkpoints/ and log.csv."),
    resume: Path | None = typer.Option(None, "--resume", metavar="DIR",
                                       help="Continue from a checkpoint, or a run folder's "
                                            "latest; options given override its settings."),
    stop_after: int | None = typer.Option(None, "--stop-after", metavar="N", min=1,
                                          help="Stop with a checkpoint after this "
                                               "iteration (e.g. a job's time limit)."),
    out: Path | None = typer.Option(None, "--output", "-o", metavar="DIR", show_default="<weights dir>/<run>_<N>it"
                                                              ".safetensors", help="Exported weights file."),
    workers: int = typer.Option(0, "--workers", min=0, metavar="N",
                                help="0: hold every image on the training device and cut the batches there; "
                                     "N: a DataLoader with N processes (data too large to hold)."),
    cache_images: bool = typer.Option(False, "--cache-images", help="With --workers: keep decoded images in "
                                                                    "each worker."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N."),
    precision: str = typer.Option("auto", "--precision", metavar="P",
                                  help="Autocast: auto (bf16 on CUDA where supported, "
                                       "else fp16; fp32 on the CPU), fp32, bf16 or "
                                       "fp16."),
    channels_last: bool = typer.Option(True, "--channels-last/--no-channels-last",
                                       help="channels_last memory format."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the network."),
    deterministic: bool = typer.Option(False, "--deterministic", help="Deterministic algorithms only."),
    threads: int | None = typer.Option(None, "--threads", metavar="N", min=1, help="CPU threads for torch."),
) -> None:
    """Train a network with its paper's recipe; exports inference weights and prints the zoo entry."""
    import torch  # torch and the training loop: only when a run starts

    from srzoo.train.checkpoint import load_checkpoint
    from srzoo.train.loop import train

    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise UsageError(f"--precision {precision!r}: choose auto, fp32, bf16 or fp16")
    if lr_dir is not None and subimages is not None:
        raise UsageError("--lr-dir and --subimages cannot be combined")
    if threads is not None:
        torch.set_num_threads(threads)
    recipe_changes = _recipe_changes(iters=iters, batch_size=batch_size, patch_size=patch_size, lr=lr, loss=loss,
                                     form=form, optimizer=optimizer, betas=betas, weight_decay=weight_decay,
                                     schedule=schedule, min_lr=min_lr, step_iters=step_iters, gamma=gamma,
                                     ema=ema, grad_clip=grad_clip, augment=augment, teacher=teacher,
                                     teacher_weight=teacher_weight)
    if recipe_changes.get("teacher", "").lower() == "none":
        recipe_changes["teacher"] = ""
    settings = _given(data=tuple(map(str, data)) if data else None, lr_dir=_text(lr_dir),
                      subimages=_text(subimages), val_every=val_every, checkpoint_every=checkpoint_every,
                      log_every=log_every, keep_checkpoints=keep_checkpoints, seed=seed, init=init,
                      run_dir=_text(run_dir))
    if val is not None:
        settings["val"] = None if val.lower() == "none" else val
    state = load_checkpoint(resume) if resume is not None else None
    if state is not None:
        config = _resumed(TrainConfig.from_dict(state["config"]), model, scale, recipe_changes, settings)
    else:
        config = _new(model, scale, recipe_changes, settings, finetune)
    runtime = Runtime(device=device, precision=precision, channels_last=channels_last, compile=compile_model,
                      deterministic=deterministic, workers=workers, cache_images=cache_images,
                      stop_after=stop_after)
    outcome = train(config, runtime, state, err_console)
    if outcome.finished and outcome.checkpoint is not None:
        _export(outcome.checkpoint, out)
    elif outcome.signal is not None and outcome.checkpoint is not None:
        err_console.print(f"continue with: srzoo train --resume {outcome.checkpoint.parent.parent}", highlight=False)
        raise typer.Exit(TERMINATED if outcome.signal == signal.SIGTERM else INTERRUPTED)


@command("export", short_help="Export a training checkpoint as inference weights.")
def export_command(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint, or a run folder (its latest)."),
    out: Path | None = typer.Option(None, "--output", "-o", metavar="DIR", show_default="<weights dir>/<run>_<N>it"
                                                              ".safetensors", help="Output file."),
    use_ema: bool = typer.Option(True, "--ema/--no-ema", help="Export the EMA weights when the run kept them."),
) -> None:
    """Write a checkpoint's network (inference form, folded) as safetensors and print its zoo entry."""
    _export(checkpoint, out, use_ema)


def _export(checkpoint: Path, out: Path | None, use_ema: bool = True) -> None:
    from srzoo.train.checkpoint import load_checkpoint
    from srzoo.train.export import export

    result = export(load_checkpoint(checkpoint), out, use_ema)
    err_console.print(f"exported {result.params:,} parameters (inference form) -> {result.path}\n"
                      f"use it: srzoo upscale IMAGE --weights {result.path}", highlight=False)
    typer.echo(f"# zoo.toml entry for {result.path.name}\n{result.entry}", nl=False)


def _new(model: str | None, scale: int | None, recipe_changes: dict[str, Any], settings: dict[str, Any],
         finetune: bool) -> TrainConfig:
    from srzoo.train.checkpoint import checkpoints

    if model is None or scale is None:
        raise UsageError("give MODEL and --scale (and --data DIR for your own images), or --resume CHECKPOINT")
    family = get_family(model)
    recipe = recipe_for(family.name, scale, finetune).override(**recipe_changes)
    if finetune and "init" not in settings:
        if scale == 4:
            raise UsageError("--finetune starts from the family's x4 weights, so it makes x2 or x3; "
                             "at x4 give --init")
        settings["init"] = default_init(family.name, finetune)
    settings.setdefault("run_dir", str(Path("runs") / f"{family.name}_x{scale}"))
    if checkpoints(Path(settings["run_dir"])):
        raise UsageError(f"{settings['run_dir']} already holds checkpoints: continue with --resume "
                         f"{settings['run_dir']}, or choose another --run-dir")
    if "data" not in settings:  # after every usage check: this may download gigabytes
        settings["data"] = _paper_data(family.name)
    if "val" not in settings:
        settings["val"] = _default_val()
    elif settings["val"] is not None and not Path(settings["val"]).is_dir():
        _fetch_val(settings["val"])
    return TrainConfig(family=family.name, scale=scale, recipe=recipe, finetune=finetune, **settings)


def _resumed(config: TrainConfig, model: str | None, scale: int | None, recipe_changes: dict[str, Any],
             settings: dict[str, Any]) -> TrainConfig:
    if model is not None and get_family(model).name != config.family:
        raise UsageError(f"the checkpoint trains {config.family}, not {model}")
    if scale is not None and scale != config.scale:
        raise UsageError(f"the checkpoint trains x{config.scale}, not x{scale}")
    return replace(config, recipe=config.recipe.override(**recipe_changes), **settings)


def _paper_data(family: str) -> tuple[str, ...]:
    """The HR folders of the family's paper data, after saying what will be fetched and fetching it."""
    from srzoo.cli.fetchbar import download_bars
    from srzoo.train.paperdata import PAPER_DATA, TRAINING_SETS, prepare, prepared

    names, words = PAPER_DATA[family]
    ready = all(prepared(TRAINING_SETS[name], data_root()) for name in names)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not ready:  # one fetch, not one per process
        raise UsageError(f"{words}: under torchrun, fetch it once first (`srzoo download --datasets "
                         f"{' '.join(names)}`), or give --data DIR")

    def announce(line: str) -> None:
        err_console.print(f"training data: {words}; {line}", highlight=False, markup=False)

    with download_bars() as progress:
        return tuple(str(folder) for folder in prepare(names, data_root(), progress, announce))


def _fetch_val(name: str) -> None:
    """A benchmark named by --val, fetched now when it is public and absent (errors are one line)."""
    from srzoo.cli.fetchbar import benchmark

    benchmark(name, data_root())


def _default_val() -> str | None:
    """Set5, fetched like any benchmark; without it, a note and no validation."""
    from srzoo.cli.fetchbar import benchmark

    try:
        benchmark("Set5", data_root())
    except SrzooError as exc:
        err_console.print(f"no Set5 under {data_root()} ({exc}): training without validation (see --val)",
                          highlight=False, markup=False)
        return None
    return "Set5"


def _recipe_changes(**options: str | float | int | None) -> dict[str, Any]:
    """Recipe fields from the CLI options that were given (lists for per-stage fields)."""
    kinds = {"iters": _count, "batch_size": _count, "patch_size": _count, "lr": float, "loss": str}
    changes = _given(**options)
    for name, kind in kinds.items():
        if name in changes:
            changes[name] = [_parse(kind, name, v) for v in str(changes[name]).split(",")]
    if "betas" in changes:
        changes["betas"] = tuple(_parse(float, "betas", v) for v in str(changes["betas"]).split(","))
    return changes


def _count(text: str) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    return int(value)


def _parse(kind: Any, name: str, text: str) -> Any:
    try:
        return kind(text.strip())
    except ValueError as exc:
        raise UsageError(f"--{name.replace('_', '-')}: cannot read {text!r}") from exc


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)
