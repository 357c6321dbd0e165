"""The one training loop of every model (HTVAE, SOM-VAE, VAE): epochs of shuffled mini-batches.

The loop knows nothing of a model's losses: a *step* object computes them. Per epoch the loop draws a
random order of the training samples (from its CPU generator), and for every batch asks the step for its
outputs, back-propagates ``out["loss"]``, takes an optimizer step, adds the step's loss terms (weighted
by the batch size) to the epoch's sums and lets the step update its own statistics. It appends one
history row per epoch (``epoch``, the mean of every term, the step's own columns, ``time_s``), stops
with a clear error when the loss diverges, and calls ``on_epoch_end(loop)`` after every epoch (the
estimator uses it to write a checkpoint). It never touches files.

A step provides ``terms`` (names of the scalar outputs to average, ``"loss"`` first), ``module`` (put in
training mode every epoch), optionally ``clip_grad_norm`` (the gradients' largest norm),
``begin_epoch(n_batches)``, ``__call__(sel) -> dict`` (``sel`` = the indices
of the batch), ``after_batch(out, b)``, ``end_epoch(row)`` and ``state_dict()``/``load_state_dict()``
for what it keeps between epochs (e.g. a noise generator).

:meth:`TrainingLoop.state_dict` holds everything a bit-identical continuation needs (epoch, optimizer
moments, random generators, history) as tensors and primitive containers that
``torch.load(weights_only=True)`` accepts.

Other batch sources
-------------------
By default the batches are slices of a random permutation of ``range(n)`` drawn from the loop's
generator. ``batches=`` hands the loop any other source instead: an object with ``set_epoch(epoch)``
(called before every epoch), ``len()`` (batches per epoch) and iteration (the batches, handed to the
step as they come: index tensors, or dicts of tensors whose ``"x"`` has the batch on its first axis).
This is how a streamed CycleSet (:mod:`ventgen.io.stream`, :mod:`ventgen.models.streaming`) or a
``DistributedSampler`` (:mod:`ventgen.models.ddp`) feeds the same loop. ``reduce=`` (e.g. an
all-reduce over the processes of a DistributedDataParallel run) sums the epoch's loss sums and sample
count over processes before the means are taken, so every process logs the same history row.
"""

from __future__ import annotations

import math
import time

import torch

from .._core import progress
from ..errors import VentgenValueError

__all__ = ["TrainingLoop", "Step"]


class Step:
    """The defaults of a step: no statistics of its own, nothing to keep between epochs."""

    terms: tuple[str, ...] = ("loss",)
    module: torch.nn.Module

    def begin_epoch(self, n_batches: int) -> None:
        """Called before the first batch of every epoch."""

    def after_batch(self, out: dict, b: int) -> None:
        """Called (without gradients) after the optimizer step of batch ``b``."""

    def end_epoch(self, row: dict) -> None:
        """Add the step's own columns to the epoch's history ``row``."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""

    def upgrade_optimizer_state(self, state: dict, optimizer) -> dict:
        """An optimizer state written by an older version, as ``optimizer`` expects it."""
        return state


class TrainingLoop:
    """Trains ``step.module`` on ``n`` samples with ``optimizer``.

    Parameters
    ----------
    step : object
        Computes a batch's outputs and keeps the model's own statistics (see the module notes).
    n : int
        Number of training samples.
    optimizer : torch.optim.Optimizer
    batch_size : int
    generator : torch.Generator
        CPU generator of the data order (the step may draw from it too).
    device : torch.device
    progress : bool, optional
        Progress bar per epoch (None: the global setting).
    batches : object, optional
        Another source of batches (see the module notes); None: shuffled slices of ``range(n)``.
    reduce : callable, optional
        ``reduce(tensor)`` sums a tensor over processes in place (see the module notes).
    """

    def __init__(self, step, n: int, optimizer, *, batch_size: int, generator: torch.Generator, device, progress=None,
                 batches=None, reduce=None):
        self.batches = batches
        self.reduce = reduce
        self.step = step
        self.n = int(n)
        self.optimizer = optimizer
        self.batch_size = int(batch_size)
        self.generator = generator
        self.device = torch.device(device)
        self.progress = progress
        self.epoch = 0
        self.history: list[dict] = []

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically (tensors and primitive containers only)."""
        state = {
            "epoch": self.epoch,
            "optimizer": self.optimizer.state_dict(),
            "rng_cpu": self.generator.get_state(),
        }
        state.update(self.step.state_dict())
        state["history"] = [dict(h) for h in self.history]
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (the module's weights are restored separately)."""
        self.epoch = int(state["epoch"])
        self.optimizer.load_state_dict(self.step.upgrade_optimizer_state(state["optimizer"], self.optimizer))
        self.generator.set_state(state["rng_cpu"])
        self.step.load_state_dict(state)
        self.history = [dict(h) for h in state["history"]]

    # ------------------------------------------------------------------ training
    def fit(self, epochs: int, on_epoch_end=None) -> list[dict]:
        """Train until ``self.epoch == epochs``; returns the history (one dict per epoch).

        Raises :class:`~ventgen.errors.VentgenValueError` as soon as an epoch's mean loss is NaN or
        infinite (training diverged), before ``on_epoch_end``: the last checkpoint stays the last good
        epoch.
        """
        while self.epoch < int(epochs):
            row = self.run_epoch(total=int(epochs))
            if not math.isfinite(row["loss"]):
                raise self._diverged(row)
            if on_epoch_end is not None:
                on_epoch_end(self)
        return self.history

    def _diverged(self, row: dict) -> VentgenValueError:
        lrs = sorted({g["lr"] for g in self.optimizer.param_groups})
        terms = ", ".join(f"{k}={row[k]:.4g}" for k in self.step.terms[1:4])
        return VentgenValueError(
            f"training diverged at epoch {row['epoch']}: the loss is NaN or infinite ({terms}); try a lower "
            f"learning rate (lr now {', '.join(f'{v:g}' for v in lrs)}) or smaller loss weights"
        )

    def run_epoch(self, total: int | None = None) -> dict:
        """One pass over the data in a random order; appends and returns the epoch's history row."""
        step, n, bs = self.step, self.n, self.batch_size
        step.module.train()
        t0 = time.perf_counter()
        if self.batches is None:
            perm = torch.randperm(n, generator=self.generator).to(self.device)
            n_batches = (n + bs - 1) // bs
            source = None
        else:
            self.batches.set_epoch(self.epoch)
            n_batches = len(self.batches)
            source = iter(self.batches)
        sums = torch.zeros(len(step.terms), dtype=torch.float64, device=self.device)
        seen = 0
        step.begin_epoch(n_batches)
        clip = getattr(step, "clip_grad_norm", None)
        desc = f"epoch {self.epoch + 1}/{total}" if total else f"epoch {self.epoch + 1}"
        bar = progress(range(n_batches), enabled=self.progress, desc=desc, unit="batch")
        for b in bar:
            sel = perm[b * bs : (b + 1) * bs] if source is None else next(source)
            size = sel["x"].shape[0] if isinstance(sel, dict) else sel.shape[0]
            seen += size
            out = step(sel)
            self.optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(step.module.parameters(), clip)
            self.optimizer.step()
            with torch.no_grad():
                sums += torch.stack([out[k].detach().double() for k in step.terms]) * size
                step.after_batch(out, b)
            if b % 50 == 0 and self.progress is not False:
                bar.set_postfix(loss=f"{out['loss'].item():.3g}")
        if self.reduce is not None:
            count = torch.tensor([float(seen)], dtype=torch.float64, device=self.device)
            self.reduce(sums)
            self.reduce(count)
            sums, n = sums / count, 1
        elif source is not None:
            n = seen
        row = {"epoch": self.epoch + 1}
        row.update({k: float(v) for k, v in zip(step.terms, (sums / n).tolist(), strict=True)})
        step.end_epoch(row)
        self.epoch += 1
        row["time_s"] = time.perf_counter() - t0
        self.history.append(row)
        return row
