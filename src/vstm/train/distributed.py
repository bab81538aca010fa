"""Data-parallel training with torch.distributed (DDP), launched by ``torchrun``.

``torchrun --nproc_per_node=N -m vstm train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; without
them everything here is a no-op single process.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vstm.errors import VstmError
from vstm.system import resolve_device  # noqa: F401 (the one definition; old imports work)

__all__ = [
    "DistInfo",
    "all_reduce_mean",
    "barrier",
    "check_ranks_in_sync",
    "cleanup",
    "setup",
    "setup_probe",
]

log = logging.getLogger("vstm.train")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_probe() -> DistInfo:
    """Rank, world size and local rank from torchrun's environment, without joining a group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> DistInfo:
    """Join the process group if launched by torchrun (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # a rank that dies makes the others' next collective fail after this long instead of
        # hanging for torch's default 30 minutes (torchrun also stops the group on a failure)
        timeout = float(os.environ.get("VSTM_DIST_TIMEOUT_S", "600"))
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout))
    return DistInfo(rank, world, local)


def cleanup(info: DistInfo | None = None) -> None:
    """Destroy the process group if one was joined (every rank calls this once, at the end)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (identity when not distributed)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def check_ranks_in_sync(model: torch.nn.Module, info: DistInfo, step: int) -> None:
    """DDP keeps replicas identical; verify it at ``step`` with per-parameter checksums
    (a no-op in one process)."""
    if not info.enabled:
        return
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()])
    gathered = [torch.empty_like(sums) for _ in range(info.world_size)]
    dist.all_gather(gathered, sums)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise VstmError(f"step {step}: DDP ranks hold different weights; report a bug")
    if info.is_main:
        log.info("step %d: %d ranks hold identical weights", step, info.world_size)
