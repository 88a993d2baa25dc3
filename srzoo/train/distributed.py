"""Running under `torchrun`: process group setup, the rank's device, and small collectives."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from srzoo.errors import UsageError


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job (rank 0 of 1 without torchrun) and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, validates, checkpoints and exports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Ranks:
    """Join the `torchrun` process group if there is one (NCCL on CUDA, else gloo) and pick the device.

    `device`: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N". Under torchrun
    each process uses `cuda:LOCAL_RANK`.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine")
    if world_size == 1:
        target = torch.device("cuda" if device == "auto" else device) if use_cuda else torch.device("cpu")
        return Ranks(0, 1, target)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), target)


def teardown() -> None:
    """Leave the process group (if any)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_mean(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of `values` over all processes (itself without torchrun)."""
    if ranks.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= ranks.world_size
    return values


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """True on every process if `flag` is true on any."""
    if not ranks.distributed:
        return flag
    value = torch.tensor([float(flag)], device=ranks.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(ranks: Ranks) -> None:
    """Wait for every process."""
    if ranks.distributed:
        dist.barrier()
