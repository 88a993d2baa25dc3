"""What defines a training run (saved in every checkpoint) and how one invocation runs it."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, fields
from typing import Any

from srzoo.train.recipes import STAGE_FIELDS, Recipe, recipe_for


@dataclass(frozen=True)
class TrainConfig:
    """A run: model, data, recipe and bookkeeping. `--resume` restores it from the checkpoint.

    `subimages`: a folder the HR images are cut into (once) and read from. `val` is a benchmark
    name (looked up under the data root) or a folder of HR images; None means no validation.
    Intervals are in iterations. `finetune`: the recipe is srzoo's fine-tuning recipe (and `init`
    defaults to the family's x4 entry) rather than the paper's.
    """

    family: str
    scale: int
    recipe: Recipe
    data: tuple[str, ...]
    run_dir: str
    lr_dir: str | None = None
    subimages: str | None = None
    val: str | None = None
    val_every: int = 5000
    checkpoint_every: int = 5000
    log_every: int = 100
    keep_checkpoints: int = 3
    seed: int = 0
    init: str | None = None
    finetune: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recipe": self.recipe.to_dict(), "data": list(self.data)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "recipe": Recipe.from_dict(values["recipe"]), "data": tuple(values["data"])})


@dataclass(frozen=True)
class Runtime:
    """How this invocation runs (not saved: a resumed run may use other hardware).

    `precision`: "auto" (CUDA: bf16 when supported, else fp16; CPU: fp32, measured faster than
    bf16 autocast), "fp32", "bf16", "fp16"; autocast only, the weights, loss and optimizer stay
    float32. `channels_last`: the channels_last memory format (measured as fast or faster on the
    CPU, and the usual choice on CUDA). `stop_after`: stop (with a
    checkpoint) once this iteration is done, e.g. to fit a job's time limit. `workers` 0: every
    image (LR, HR, teacher output) is held on the training device as uint8 and the batches are
    cut there, in the training process; N: a DataLoader with N processes that decode and cut
    (for data too large to hold), each keeping its decoded images when `cache_images`.
    """

    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    deterministic: bool = False
    workers: int = 0
    cache_images: bool = False
    stop_after: int | None = None


def default_init(family: str, finetune: bool) -> str | None:
    """The weights a run starts from when `--init` is not given: the family's x4 entry when fine-tuning."""
    return f"{family}:x4" if finetune else None


def command_line(config: TrainConfig) -> str:
    """An `srzoo train` command line that reproduces `config` (options only where it differs from
    the defaults)."""
    words = ["srzoo", "train", config.family, "--scale", str(config.scale)]
    if config.finetune:
        words.append("--finetune")
    for folder in config.data:
        words += ["--data", folder]
    for option, value in (("--lr-dir", config.lr_dir), ("--subimages", config.subimages)):
        if value:
            words += [option, value]
    default = recipe_for(config.family, config.scale, config.finetune)
    for name in STAGE_FIELDS:
        values = [getattr(s, name) for s in config.recipe.stages]
        if values != [getattr(s, name) for s in default.stages]:
            same = name != "iters" and len(set(values)) == 1
            words += [f"--{name.replace('_', '-')}", str(values[0]) if same else ",".join(map(str, values))]
    for item in fields(Recipe):
        value = getattr(config.recipe, item.name)
        if item.name not in ("stages", "family", "source") and value != getattr(default, item.name):
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value) or "none"
            words += [f"--{item.name.replace('_', '-')}", text]
    words += ["--seed", str(config.seed)]
    if config.init and config.init != default_init(config.family, config.finetune):
        words += ["--init", config.init]
    return shlex.join(words)
