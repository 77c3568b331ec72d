"""Process-group plumbing for ``gld8tr train`` under ``torchrun``: one process per device, the same code otherwise.

``torchrun --nproc_per_node N -m gld8tr train ...`` (or the ``gld8tr`` script) sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; :func:`init_distributed` then joins the process group with NCCL when CUDA is available (one GPU
per process, ``cuda:LOCAL_RANK``) and gloo otherwise (CPU processes). Without those variables it returns a
single-process context and touches nothing, so a plain ``gld8tr train`` is unchanged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and the frame cache; the other ranks only train."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def shard(self, n: int) -> list[int]:
        """The indices of ``range(n)`` this rank handles (every ``world_size``-th, starting at ``rank``)."""
        return list(range(self.rank, n, self.world_size))


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU; anything else as given."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


def init_distributed(device: str = "auto") -> DistContext:
    """Join the ``torchrun`` process group if this process was started by one; else a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world <= 1:
        return DistContext(device=dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info("rank %d of %d joined the %s process group on %s", rank, world, backend, dev)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown() -> None:
    """Leave the process group (no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def replicas_agree(module: torch.nn.Module, ctx: DistContext) -> bool:
    """Whether every rank holds the same weights (a float64 checksum of the parameters, gathered from all ranks).

    Why: data-parallel training keeps replicas identical only if every rank applies the same averaged gradient;
    a rank that skipped a step or saw another config would drift silently. Checked at every checkpoint.
    """
    if not ctx.distributed:
        return True
    with torch.no_grad():
        flat = torch.cat([p.detach().double().flatten() for p in module.parameters()])
        weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64, device=flat.device).remainder(97) + 1
        local = torch.stack([flat.sum(), (flat * weights).sum()]).to(ctx.device)
        gathered = [torch.zeros_like(local) for _ in range(ctx.world_size)]
        dist.all_gather(gathered, local)
    return all(torch.equal(g, gathered[0]) for g in gathered)
