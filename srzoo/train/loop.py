"""The training loop: stages, steps (AMP, channels_last, compile, clipping, EMA), validation,
logging, checkpoints, Ctrl-C, and DDP under torchrun.

Resuming is exact: the LR schedule and the data are pure functions of the iteration, and the
checkpoint holds everything else that changes (weights, EMA, optimizer, scaler, RNG, log window).
"""

from __future__ import annotations

import signal
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from rich.console import Console
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from srzoo.constants import data_root
from srzoo.models import build_model
from srzoo.train.checkpoint import (
    checkpoint_path,
    prune,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from srzoo.train.config import Runtime, TrainConfig
from srzoo.train.data import (
    HeldBatches,
    IterationBatches,
    PatchDataset,
    extract_subimages,
    find_images,
    make_loader,
)
from srzoo.train.distributed import Ranks, all_mean, any_rank, barrier, setup, teardown
from srzoo.train.optim import loss_function, make_ema, make_optimizer
from srzoo.train.recipes import Stage
from srzoo.train.report import CsvLog, ProgressLine, estimate
from srzoo.train.teacher import load_teacher, teacher_targets
from srzoo.train.validate import val_dataset, validate
from srzoo.train.warmstart import load_fitting, new_parameters, read_init

_AMP = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
ESTIMATE_AFTER = 5  # timed iterations (after the warm-up ones) before the run's length is estimated


@dataclass(frozen=True)
class Outcome:
    """How a run ended: at which iteration, its last checkpoint (rank 0), and whether every stage is done."""

    iteration: int
    checkpoint: Path | None
    finished: bool
    rate: float | None = None  # iterations per second of this invocation, after its first few
    signal: int | None = None  # the signal (SIGINT, SIGTERM) that stopped it early, if one did


def train(config: TrainConfig, runtime: Runtime, resume: dict[str, Any] | None = None,
          console: Console | None = None) -> Outcome:
    """Run (or continue, from the checkpoint `resume`) a training run; DDP under torchrun."""
    ranks = setup(runtime.device)
    try:
        return Trainer(config, runtime, ranks, resume, console or Console(stderr=True)).run()
    finally:
        teardown()


class Trainer:
    """One process's share of a run (see `train`)."""

    def __init__(self, config: TrainConfig, runtime: Runtime, ranks: Ranks, resume: dict[str, Any] | None,
                 console: Console) -> None:
        self.config, self.runtime, self.ranks, self.resume = config, runtime, ranks, resume
        self.recipe = config.recipe
        self.console = console
        self.device = ranks.device
        self.run_dir = Path(config.run_dir)
        self.amp = _amp_dtype(runtime.precision, self.device)
        self.timer = _RateTimer()
        if runtime.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        self.teacher = load_teacher(self.recipe.teacher, config.scale) if self.recipe.teacher else None
        self.model, self.ema, self.new_params = self._networks()
        self.net: nn.Module = self.model
        self.targets: dict[Path, Any] = {}
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        if resume is not None:
            self.scaler.load_state_dict(resume["scaler"])
        self.iteration = resume["iteration"] if resume else 0
        window = resume["window"] if resume else {"sum": 0.0, "count": 0}
        self.loss_sum = torch.tensor(window["sum"], dtype=torch.float64, device=self.device)
        self.loss_count = window["count"]
        self.val: dict[str, Any] = dict(resume["val"]) if resume else {}
        self.files = _training_files(config, ranks)
        if resume is not None and resume["sampler"]["images"] != len(self.files):
            self.say(f"warning: the data folders now hold {len(self.files)} images, the checkpoint's run had "
                     f"{resume['sampler']['images']}: the data order differs from an uninterrupted run")
        self.optimizer: torch.optim.Optimizer | None = None
        self.stage_index = 0
        self.saved_at = self.iteration if resume else -1
        self.val_set = val_dataset(config.val, config.scale, data_root()) if config.val and ranks.main else None
        self.log = CsvLog(self.run_dir / "log.csv", self.iteration if resume else None) if ranks.main else None

    def _networks(self) -> tuple[nn.Module, AveragedModel | None, list[str]]:
        """The model (seeded init, then `--init` or the checkpoint's weights), its EMA, and the
        names of the parameters that `--init` did not supply (all of them without `--init`)."""
        config, resume = self.config, self.resume
        torch.manual_seed(config.seed)
        model = build_model(config.family, config.scale, self.recipe.form).to(self.device)
        if self.runtime.channels_last:
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack memory_format
        new = [name for name, _ in model.named_parameters()]
        if config.init:
            state, source = read_init(config.init, config.scale)
            new = new_parameters(model, state)
            if resume is None:
                self.say(str(load_fitting(model, state, source, config.scale)))
        if resume is not None:
            model.load_state_dict(resume["model"])
            set_rng_state(resume["rng"])
        ema = make_ema(model, self.recipe.ema)
        if ema is not None and resume is not None:
            ema.load_state_dict(resume["ema"])
        return model, ema, new

    def _prepare_stage(self, stage: Stage) -> None:
        """Freeze what the stage does not train, then wrap what the steps call: the model, in DDP
        under torchrun (over the trainable parameters) and compiled when asked."""
        new = set(self.new_params)
        for name, param in self.model.named_parameters():
            param.requires_grad_(stage.train == "all" or name in new)
        net: nn.Module = self.model
        if self.ranks.distributed:
            # CPU depthwise-conv weight grads differ from DDP's bucket layout only along a size-1 axis
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                                          else None)
        self.net = cast(nn.Module, torch.compile(net)) if self.runtime.compile else net  # an OptimizedModule

    def say(self, text: str) -> None:
        """Print on rank 0 only."""
        if self.ranks.main:
            self.console.print(text, highlight=False, markup=False)

    def run(self) -> Outcome:
        """Train every remaining iteration of every stage, or until stopped."""
        self.say(f"training {self.config.family} x{self.config.scale} ({self.recipe.form} form) on "
                 f"{len(self.files)} images, {self.ranks.world_size} process(es) on {self.device}; "
                 f"the recipe is {self.recipe.iters:,} iterations ({self.recipe.source or 'as given'}), "
                 f"iterations {self.iteration}..{self.recipe.iters} to run; run folder {self.run_dir}")
        progress = ProgressLine(self.console, self.recipe.iters, self.iteration) if self.ranks.main else None
        stopped = False
        received: list[int] = []

        def acknowledge(signum: int) -> None:
            received.append(signum)
            self.say(f"{signal.Signals(signum).name}: stopping after iteration {self.iteration + 1} and saving "
                     "a checkpoint (Ctrl-C again to quit at once, without one)")

        try:
            with _stop_signals(acknowledge) as requested:
                for index, stage, start, end in self.recipe.spans():
                    if self.iteration < end and not stopped:
                        stopped = self._stage(index, stage, start, end, requested, progress)
        finally:
            if progress is not None:
                progress.close()
        finished = self.iteration >= self.recipe.iters
        if self.saved_at != self.iteration:
            self._checkpoint()
        path = checkpoint_path(self.run_dir, self.iteration) if self.ranks.main else None
        self.say(f"{'finished' if finished else 'stopped'} at iteration {self.iteration}; checkpoint {path}")
        if not self.ranks.main:
            self.console.print(f"[rank {self.ranks.rank}/{self.ranks.world_size}] done at iteration "
                               f"{self.iteration}", highlight=False, markup=False)
        return Outcome(self.iteration, path, finished, self.timer.rate(), received[0] if received else None)

    def _stage(self, index: int, stage: Stage, start: int, end: int, requested: Callable[[], bool],
               progress: ProgressLine | None) -> bool:
        """Train iterations [self.iteration, end) of one stage; True when asked to stop early."""
        self.stage_index = index
        self._prepare_stage(stage)
        self.optimizer = make_optimizer(self.model, self.recipe, stage)
        if self.resume is not None and self.resume["optimizer_stage"] == index and self.iteration > start:
            self.optimizer.load_state_dict(self.resume["optimizer"])
        dataset = PatchDataset(self.files, self.config.scale, stage.patch_size, self.recipe.augment,
                               Path(self.config.lr_dir) if self.config.lr_dir else None,
                               cache=self.runtime.cache_images or self.runtime.workers == 0)
        if dataset.skipped:
            self.say(f"stage {index + 1}: {dataset.skipped} image(s) smaller than the HR patch are left out")
        if self.teacher is not None:
            dataset.targets = self._teacher_targets(dataset, requested)
            if requested():
                return True
        batches = IterationBatches(len(dataset), stage.batch_size, self.iteration, end, self.config.seed,
                                   self.ranks.rank, self.ranks.world_size)
        loader: Iterable[tuple[torch.Tensor, ...]] = (
            HeldBatches(dataset, batches, self.device) if self.runtime.workers == 0
            else make_loader(dataset, batches, self.runtime.workers, pin_memory=self.device.type == "cuda"))
        criterion = loss_function(stage.loss)
        for batch in loader:
            self.loss_sum += self._step(*batch, criterion=criterion)
            self.loss_count += 1
            self.iteration += 1
            self.timer.tick()
            if self.timer.count == self.timer.skip + ESTIMATE_AFTER and (rate := self.timer.rate()):
                self.say(estimate(self.recipe.iters - self.iteration, rate, str(self.device), self.config.finetune))
            self._bookkeeping(end, progress)
            stop = self.runtime.stop_after is not None and self.iteration >= self.runtime.stop_after
            if any_rank(requested() or stop, self.ranks):
                return True
        return False

    def _teacher_targets(self, dataset: PatchDataset, requested: Callable[[], bool]) -> dict[Path, Any]:
        """The teacher's output on every training image of `dataset` (computed once per run; cut
        short when a stop is requested)."""
        assert self.teacher is not None
        teacher, name = self.teacher
        missing = sum(path not in self.targets for path in dataset.files)
        if missing:
            began = time.perf_counter()
            teacher_targets(teacher, dataset, self.device, self.targets, requested)
            self.say(f"teacher {name}: its output on {missing} training images in "
                     f"{time.perf_counter() - began:.0f} s (float32, whole images)")
        return self.targets

    def _step(self, lr_image: torch.Tensor, hr_image: torch.Tensor, target: torch.Tensor | None = None, *,
              criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """One optimisation step (`target`: the teacher's output); returns the (detached) loss."""
        assert self.optimizer is not None
        lr_image = lr_image.to(self.device, non_blocking=True).float().div_(255)
        hr_image = hr_image.to(self.device, non_blocking=True).float().div_(255)
        if self.runtime.channels_last:
            lr_image = lr_image.contiguous(memory_format=torch.channels_last)
        for group in self.optimizer.param_groups:
            group["lr"] = self.recipe.lr_at(self.iteration)
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            sr = self.net(lr_image)
        loss = criterion(sr.float(), hr_image)
        if target is not None:
            weight = self.recipe.teacher_weight
            target = target.to(self.device, non_blocking=True).float().div_(255)
            loss = (1 - weight) * loss + weight * criterion(sr.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.recipe.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss.detach().double()

    def _bookkeeping(self, end: int, progress: ProgressLine | None) -> None:
        """Validation, a log row and a checkpoint when their intervals come round."""
        it, config = self.iteration, self.config
        validated = config.val is not None and (it % config.val_every == 0 or it == self.recipe.iters)
        if validated and self.val_set is not None:
            self._validate()
        if it % config.log_every == 0 or validated or it == end:
            loss = all_mean(self.loss_sum / max(self.loss_count, 1), self.ranks).item()
            self.loss_sum.zero_()
            self.loss_count = 0
            lr = self.recipe.lr_at(it - 1)
            if self.log is not None and progress is not None:
                self.log.write(it, self.stage_index + 1, lr, loss, self.val["psnr"] if validated else None)
                progress.show(it, loss, lr, (self.val["iteration"], self.val["psnr"]) if self.val else None)
        elif progress is not None:
            progress.advance(it)
        if it % config.checkpoint_every == 0:
            self._checkpoint()

    def _validate(self) -> None:
        assert self.val_set is not None
        model = self.ema.module if self.ema is not None else self.model
        psnr = validate(model, self.val_set, self.config.scale, self.device)
        self.val = {"iteration": self.iteration, "psnr": psnr}

    def _checkpoint(self) -> None:
        """Save the state of this iteration (rank 0) and drop old checkpoints."""
        self.saved_at = self.iteration
        if not self.ranks.main:
            return
        path = checkpoint_path(self.run_dir, self.iteration)
        save_checkpoint(path, {
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "optimizer_stage": self.stage_index,
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "sampler": {"seed": self.config.seed, "iteration": self.iteration, "images": len(self.files)},
            "window": {"sum": self.loss_sum.item(), "count": self.loss_count},
            "val": self.val,
        })
        prune(self.run_dir, self.config.keep_checkpoints)


def _training_files(config: TrainConfig, ranks: Ranks) -> list[Path]:
    """The HR images to train on (cut into sub-images by rank 0 first, when asked)."""
    files = find_images([Path(d) for d in config.data])
    if not config.subimages:
        return files
    if ranks.main:
        extract_subimages(files, Path(config.subimages))
    barrier(ranks)
    return find_images([Path(config.subimages)])


def _amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for --precision (None: float32). "auto": bf16 on CUDA where supported,
    else fp16; float32 on the CPU, where bf16 autocast trained slower than float32 even with
    native bf16 (benchmarks/train_speed.py: 0.69-1.26x on Zen 5)."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return _AMP[precision]


class _RateTimer:
    """Iterations per second, timed from the `skip`-th iteration of this invocation on (the first
    ones pay for start-up: caches, allocator, oneDNN primitives); validation time included."""

    def __init__(self, skip: int = 3) -> None:
        self.skip, self.count, self.began = skip, 0, 0.0

    def tick(self) -> None:
        self.count += 1
        if self.count == self.skip:
            self.began = time.perf_counter()

    def rate(self) -> float | None:
        if self.count <= self.skip:
            return None
        return (self.count - self.skip) / (time.perf_counter() - self.began)


@contextmanager
def _stop_signals(on_first: Callable[[int], None] | None = None) -> Iterator[Callable[[], bool]]:
    """While active, the first Ctrl-C (or SIGTERM) asks the loop to stop after the current
    iteration and save a checkpoint, and `on_first(signum)` acknowledges it at once; a second
    Ctrl-C interrupts at once."""
    asked: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append(signum)
        if on_first is not None and len(asked) == 1:
            on_first(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(asked)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
