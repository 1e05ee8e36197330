"""One process, or several launched by ``accelerate launch``: which rank writes, how work is shared, and how
gradients are synchronised (DistributedDataParallel, through accelerate; never our own).

Tuning (:mod:`rrs.tuning.trainer`):

``accelerate launch --num_processes N -m rrs train ...`` starts N copies of the trainer. Each rank takes an equal
share of every micro-batch of the global batch (``batch_size`` per rank × ``grad_accum`` × N); DDP averages
the gradients, and each rank's loss is scaled so that the average equals the single-process loss of the same
global batch. Rank 0 alone writes the run folder: config, status, metrics, snapshots and checkpoints. A
checkpoint does not depend on the number of processes, so a run resumes with any number of them.

Evaluation (:func:`rrs.evaluation.metrics.evaluate`): each rank answers every N-th window of queries (each
window has its own seed, so the answers do not depend on who generates them) into its own records file;
rank 0 merges them and writes the results.

Extraction (:func:`rrs.representations.extract`, so ``features`` and RRS's frozen targets): the batches, sorted
by length, go to the ranks in turn, and :meth:`Parallel.gather` hands every rank the whole set. ``compare``
combines these and lets rank 0 alone write ``compare.json``. SARSteer's vectors
(:func:`rrs.steering.compute_vectors`) split their batches the same way and exchange sums and benign activations.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["Parallel"]


class Parallel:
    """The process group this trainer runs in (a group of one without ``accelerate launch``)."""

    def __init__(self) -> None:
        self.accelerator: Any = None
        self.rank, self.world = 0, 1
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch
            from accelerate import Accelerator
            from accelerate.utils import DistributedDataParallelKwargs

            # Without CUDA the ranks run on CPU (gloo): ``accelerate launch --multi_gpu`` or torchrun on a CPU
            # machine then works as on GPUs (accelerate's own ``--cpu`` multi-process mode needs MPI).
            self.accelerator = Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[
                DistributedDataParallelKwargs(find_unused_parameters=False, broadcast_buffers=False)])
            self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes

    @classmethod
    def single(cls) -> Parallel:
        """A group of one, whatever the environment says (for work that must not be shared)."""
        group = cls.__new__(cls)
        group.accelerator, group.rank, group.world = None, 0, 1
        return group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """The device this rank loads the model on: its own GPU when several processes share a machine."""
        if self.accelerator is not None and requested in ("auto", "cuda") and self.accelerator.device.type == "cuda":
            return str(self.accelerator.device)
        if self.accelerator is not None and requested == "auto":
            return self.accelerator.device.type
        return requested

    def wait(self) -> None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()

    def wrap(self, module: Any) -> Any:
        """``module`` wrapped for gradient synchronisation (DDP), or ``None`` in a single process."""
        if self.accelerator is None:
            return None
        return self.accelerator.prepare_model(module, device_placement=False)

    def share(self, micro: Sequence[int], batch_size: int) -> tuple[list[int], float]:
        """This rank's items of one micro-batch of the global batch, and their weight (0 for a stand-in item:
        a rank left without items at the end of an epoch still runs a forward pass, which DDP needs)."""
        mine = list(micro[self.rank * batch_size : (self.rank + 1) * batch_size])
        return (mine, 1.0) if mine else ([micro[0]], 0.0)

    def total(self, value: float) -> float:
        """The sum of ``value`` over all ranks."""
        if self.accelerator is None:
            return value
        import torch

        tensor = torch.tensor([value], dtype=torch.float64, device=self.accelerator.device)
        return float(self.accelerator.reduce(tensor, reduction="sum").item())

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
        if self.accelerator is None:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, value)
        return gathered

    @contextlib.contextmanager
    def no_sync(self, wrapped: Any, sync: bool) -> Iterator[None]:
        """Skip DDP's gradient all-reduce for micro-batches before the last one of a step."""
        if wrapped is None or sync:
            yield
        else:
            with wrapped.no_sync():
                yield
