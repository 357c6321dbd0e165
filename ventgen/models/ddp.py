"""Training on several processes with DistributedDataParallel (torchrun): the pieces the loop needs.

The process group itself is set up by the caller (``ventgen train`` under ``torchrun``, see
:func:`ventgen.workflows.train.init_distributed`: gloo on CPU, nccl on GPU); this module only uses it:

* :class:`DDPContext` -- this process's rank, the number of processes and its device; sums, minima
  and maxima over processes (all-reduce), a broadcast from rank 0 and the ``DistributedDataParallel``
  wrapper of a module;
* :class:`IndexBatches` -- index batches of an in-memory training set from a
  :class:`torch.utils.data.DistributedSampler` (``set_epoch`` every epoch: a new order, the same on
  every process, each taking its own part).

A streamed CycleSet splits itself between ranks (:class:`ventgen.io.stream.ShardStream`).

Examples
--------
>>> batches = IndexBatches(10, batch_size=4, rank=1, world_size=2, seed=0)
>>> batches.set_epoch(0)
>>> len(batches), batches.samples_per_epoch, sum(len(b) for b in batches)
(2, 10, 5)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from ..errors import VentgenValueError

__all__ = ["DDPContext", "ddp_context", "IndexBatches"]

@dataclass
class DDPContext:
    """This process in an initialised process group (see :func:`ddp_context`)."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints and logs."""
        return self.rank == 0

    def reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """``t`` replaced, in place, by its sum (or ``"min"``, ``"max"``) over all processes."""
        dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}[op])
        return t

    def broadcast(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` replaced, in place, by rank 0's."""
        dist.broadcast(t, 0)
        return t

    def barrier(self) -> None:
        dist.barrier()

    def wrap(self, module: torch.nn.Module) -> DistributedDataParallel:
        """``module`` inside DistributedDataParallel (gradients averaged over processes in ``backward``).

        ``find_unused_parameters``: the encoder's log-variance head takes no gradient when the posterior
        is not sampled and the KL term is off.
        """
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def ddp_context(device) -> DDPContext:
    """The :class:`DDPContext` of this process; a clear error when no process group is initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        raise VentgenValueError(
            "ddp=True needs an initialised torch.distributed process group: launch with "
            "'torchrun --nproc_per_node=N -m ventgen.cli train ...' (which sets it up)"
        )
    device = torch.device(device)
    if dist.get_backend() == "nccl" and device.type != "cuda":
        raise VentgenValueError(f"the process group uses nccl, which needs a CUDA device; got {device}")
    return DDPContext(dist.get_rank(), dist.get_world_size(), device)


class IndexBatches:
    """Index batches of ``n`` in-memory samples for one rank, from a ``DistributedSampler``.

    Every epoch (:meth:`set_epoch`) the sampler draws one permutation from ``(seed, epoch)``, pads it
    to a multiple of ``world_size`` and gives rank ``r`` every ``world_size``-th index from ``r``; every
    rank then makes ``len(self)`` steps.
    """

    def __init__(self, n: int, *, batch_size: int, rank: int, world_size: int, seed: int, device="cpu"):
        self.sampler = DistributedSampler(range(int(n)), num_replicas=int(world_size), rank=int(rank), shuffle=True,
                                          seed=int(seed) % 2**62, drop_last=False)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)

    @property
    def samples_per_epoch(self) -> int:
        return int(self.sampler.total_size)

    def __len__(self) -> int:
        return -(-self.sampler.num_samples // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(int(epoch))

    def __iter__(self):
        idx = torch.tensor(list(self.sampler), dtype=torch.long, device=self.device)
        bs = self.batch_size
        for b in range(len(self)):
            yield idx[b * bs : (b + 1) * bs]
