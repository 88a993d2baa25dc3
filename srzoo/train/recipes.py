"""Training recipes: the typed config object, srzoo's fine-tuning recipe, and `recipe_for`.

Each family's published recipe lives in its package (`srzoo.models.<family>.recipe`).

Patch sizes are always LR pixels (the HR patch is `patch_size * scale`); a paper that states an
HR patch is converted here. Batch sizes are global: under DDP each process takes its share.
Every field can be overridden (`Recipe.override`, the `srzoo train` options).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from srzoo.errors import UsageError
from srzoo.models import Form, check_scale, get_family

Loss = Literal["l1", "l2"]
Optimizer = Literal["adam", "adan"]
Schedule = Literal["constant", "cosine", "step"]
Augment = Literal["none", "flips", "dihedral"]
Trains = Literal["all", "new"]

LOSSES: tuple[Loss, ...] = ("l1", "l2")
OPTIMIZERS: tuple[Optimizer, ...] = ("adam", "adan")
SCHEDULES: tuple[Schedule, ...] = ("constant", "cosine", "step")
AUGMENTS: tuple[Augment, ...] = ("none", "flips", "dihedral")
STAGE_FIELDS = ("iters", "batch_size", "patch_size", "lr", "loss")


@dataclass(frozen=True)
class Stage:
    """One phase of training; each stage starts a fresh optimizer and its own LR schedule."""

    iters: int
    batch_size: int
    patch_size: int  # LR pixels
    lr: float
    loss: Loss = "l1"
    train: Trains = "all"  # "new": only the tensors that `--init` did not supply (the rest frozen)


@dataclass(frozen=True)
class Recipe:
    """How to train one family: the stages plus settings shared by every stage.

    `schedule`: "constant"; "cosine" from the stage's lr down to `min_lr` over the stage;
    "step": multiply by `gamma` every `step_iters`. `ema` is the EMA decay (0: no EMA);
    `grad_clip` the max gradient norm (0: none). "dihedral" augmentation = flips and
    90/180/270-degree rotations. `teacher`: a zoo entry at the training scale (e.g. "lkdn:x2";
    "" for none) whose output is a second target: the loss is (1 - `teacher_weight`) x loss to
    the ground truth + `teacher_weight` x loss to the teacher. `source` says where the settings
    come from.
    """

    family: str
    form: Form
    stages: tuple[Stage, ...]
    optimizer: Optimizer
    betas: tuple[float, ...]
    weight_decay: float = 0.0
    schedule: Schedule = "constant"
    min_lr: float = 0.0
    step_iters: int = 200_000
    gamma: float = 0.5
    ema: float = 0.0
    grad_clip: float = 0.0
    augment: Augment = "dihedral"
    teacher: str = ""
    teacher_weight: float = 0.5
    source: str = ""

    @property
    def iters(self) -> int:
        """Total iterations over all stages."""
        return sum(s.iters for s in self.stages)

    def spans(self) -> list[tuple[int, Stage, int, int]]:
        """(index, stage, first iteration, end iteration) of every stage."""
        out, start = [], 0
        for index, stage in enumerate(self.stages):
            out.append((index, stage, start, start + stage.iters))
            start += stage.iters
        return out

    def lr_at(self, iteration: int) -> float:
        """The learning rate of (0-based) `iteration`: a pure function, so resuming is exact."""
        _, stage, start, _ = next(s for s in self.spans() if s[2] <= iteration < s[3])
        t = iteration - start
        if self.schedule == "cosine":
            return self.min_lr + (stage.lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * t / stage.iters))
        if self.schedule == "step":
            return stage.lr * self.gamma ** (t // self.step_iters)
        return stage.lr

    def override(self, **changes: Any) -> Recipe:
        """A copy with fields replaced. Stage fields (`STAGE_FIELDS`) take a list with one value
        for every stage, or one value per stage; a single `iters` is the total, split across the
        stages in the recipe's proportions."""
        stage_changes = {k: changes.pop(k) for k in STAGE_FIELDS if k in changes}
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise UsageError(f"unknown recipe field {sorted(unknown)[0]!r}")
        stages = self.stages
        for name, values in stage_changes.items():
            stages = _set_stage_field(stages, name, list(values))
        recipe = replace(self, stages=stages, **changes)
        recipe.check()
        return recipe

    def check(self) -> None:
        """Raise a usage error for settings that cannot train."""
        family = get_family(self.family)
        problems = [
            (self.form not in family.forms, f"form must be one of {family.forms}"),
            (self.optimizer not in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.schedule not in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.augment not in AUGMENTS, f"augment must be one of {AUGMENTS}"),
            (len(self.betas) != (3 if self.optimizer == "adan" else 2),
             f"{self.optimizer} needs {3 if self.optimizer == 'adan' else 2} betas"),
            (not 0 <= self.ema < 1, "ema must be in [0, 1)"),
            (self.step_iters < 1, "step_iters must be positive"),
            (not 0 <= self.teacher_weight <= 1, "teacher_weight must be in [0, 1]"),
        ]
        for index, stage in enumerate(self.stages, 1):
            where = f"stage {index}: " if len(self.stages) > 1 else ""
            problems += [
                (stage.iters < 1 or stage.batch_size < 1, f"{where}iters and batch_size must be positive"),
                (stage.patch_size < family.min_input_size,
                 f"{where}patch_size {stage.patch_size} is below {family.title}'s minimum input "
                 f"of {family.min_input_size} LR pixels"),
                (not stage.lr > 0, f"{where}lr must be positive"),
                (stage.loss not in LOSSES, f"{where}loss must be one of {LOSSES}"),
                (stage.train not in ("all", "new"), f"{where}train must be 'all' or 'new'"),
            ]
        message = next((text for bad, text in problems if bad), None)
        if message:
            raise UsageError(f"{family.title} recipe: {message}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        values = dict(data)
        values["stages"] = tuple(Stage(**s) for s in values["stages"])
        values["betas"] = tuple(values["betas"])
        return cls(**values)


def _set_stage_field(stages: tuple[Stage, ...], name: str, values: list[Any]) -> tuple[Stage, ...]:
    if len(values) not in (1, len(stages)):
        raise UsageError(f"--{name.replace('_', '-')}: give one value or one per stage ({len(stages)})")
    if name == "iters" and len(values) == 1 and len(stages) > 1:
        values = _split(int(values[0]), [s.iters for s in stages])
    elif len(values) == 1:
        values = values * len(stages)
    return tuple(replace(stage, **{name: value}) for stage, value in zip(stages, values))


def _split(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, each part at least 1, summing to `total`."""
    if total < len(weights):
        raise UsageError(f"--iters {total}: need at least one iteration per stage ({len(weights)})")
    parts: list[int] = []
    for index, weight in enumerate(weights[:-1]):
        room = total - sum(parts) - (len(weights) - 1 - index)  # leave one per later stage
        parts.append(min(room, max(1, round(total * weight / sum(weights)))))
    return parts + [total - sum(parts)]


def finetune(family: str, scale: int) -> Recipe:
    """srzoo's recipe for a new scale from the family's x4 weights (`--init FAMILY:x4`), in the
    inference form those weights have. Stage 1 trains only what the x4 weights do not supply
    (the upsampler) with the body frozen; stage 2 the whole network. Adam (0.9, 0.99), cosine
    decay per stage, EMA 0.999, batch 32, LR patch 48, L1; distilled from the official LKDN of
    the same scale (bundled with srzoo), half the loss to its output."""
    stages = (Stage(1_000, 32, 48, 2e-3, "l1", "new"), Stage(19_000, 32, 48, 5e-4, "l1", "all"))
    return Recipe(get_family(family).name, "inference", stages, "adam", (0.9, 0.99), schedule="cosine",
                  min_lr=1e-6, ema=0.999, teacher=f"lkdn:x{scale}", teacher_weight=0.5,
                  source="srzoo fine-tuning recipe (x4 weights -> new scale)")


def recipe_for(model: str, scale: int, finetune_from_x4: bool = False) -> Recipe:
    """The default recipe of a family (name or alias) at `scale`: its paper's, or srzoo's
    fine-tuning recipe from its x4 weights."""
    family = get_family(model)
    check_scale(family, scale)
    if finetune_from_x4:
        return finetune(family.name, scale)
    return family.recipe(scale)
