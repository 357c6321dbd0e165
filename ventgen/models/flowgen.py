"""The high-fidelity breath generator of an HTVAE: training, storage and sampling of the flow model.

The HTVAE gives the control (node, class, latent ``z``); its decoder gives the mean breath of ``z``,
which blurs the sharp, variably timed edges of real breaths. :class:`FlowGenerator` learns the whole
conditional law ``p(x | z, length)`` of the training cycles with conditional flow matching
(:mod:`ventgen.models.generator`), on the *residual* ``x - decoder(z)``:

* every channel is standardised with the mean and spread of the training cycles (inside the breaths);
* the target is the standardised residual from the decoder's mean, divided by its own spread, channel by
  channel (a channel whose residual is small, such as a pressure-controlled ventilator's airway
  pressure, is learnt as precisely as the others; model files from before share one spread);
* the loss covers the whole cycle, edge padding included (the padding repeats the last sample, so the
  last sample is learnt as often as it is seen);
* the condition is ``z`` (standardised), ``length / T``, the decoder's mean and a length mask.

A fitted generator turns latents and lengths into cycles in original units, edge-padded after each
length (the CycleSet convention): :meth:`FlowGenerator.sample`. It also keeps the recording
resolution of the training cycles' channels (:func:`ventgen.signals.resolution.cycle_resolution`), to
which ``HTVAE.generate_cycles`` rounds calibrated breaths, as the device that recorded them would.
Sampling integrates the flow from Gaussian noise with ``steps`` midpoint steps (two network calls
each), shrinking towards the data end (``time_power``); the noise is the only random input, so the
caller's noise fixes the output.

Training uses the one :class:`~ventgen.models.loop.TrainingLoop` (per-epoch history, resumable state):
an epoch is one pass over the cycles, or over at least 50 batches for small sets (indices wrap), and
the learning rate follows a linear warm-up (5 %) then a cosine decay over the requested steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import FileFormatError
from ..signals.resolution import cycle_resolution
from .checkpoint import _to_arrays, to_tensors
from .generator import FlowNet, edge_pad, flow_matching_loss, length_mask, sample_flow
from .loop import Step, TrainingLoop
from .marginals import MarginalMap

__all__ = ["FlowGenerator", "GeneratorStep", "fit_flow_generator", "MIN_BATCHES_PER_EPOCH"]

#: an epoch of the generator is at least this many batches (small training sets wrap around)
MIN_BATCHES_PER_EPOCH = 50
_CHUNK = 1024
_Z_CLIP = 5.0  # standardised latents are clipped to +-this many training spreads
_NORM_KEYS = ("mean", "std", "z_mean", "z_std", "residual_scale")


class FlowGenerator:
    """A fitted flow-matching generator of cycles, conditioned on the HTVAE latent and the length.

    Parameters
    ----------
    net : FlowNet
        The velocity network (on the model's device).
    norm : dict of numpy arrays
        ``mean``, ``std`` (C,): per-channel standardisation of the cycles; ``z_mean``, ``z_std`` (d,):
        of the latents; ``residual_scale`` (C,), or (1,) in older files: spread of the standardised
        residual per channel.
    history : list of dict
        Per-epoch training losses.
    marginals : MarginalMap, optional
        The calibration of the generated breaths' marginals to the training breaths' (per class,
        channel and position; :mod:`ventgen.models.marginals`), fitted after training.
    resolution : array (C,), optional
        The recording resolution of each channel of the training cycles (the step their values come
        in, :func:`ventgen.signals.resolution.recording_resolution`; 0: continuous): calibrated breaths
        are rounded to it. Default (model files before it): 0 for every channel.
    """

    def __init__(self, net: FlowNet, norm: dict, history=None, marginals: MarginalMap | None = None,
                 resolution=None):
        self.net = net.eval()
        self.norm = {k: np.asarray(norm[k], dtype=np.float32).reshape(-1) for k in _NORM_KEYS}
        self.history = [dict(h) for h in (history or [])]
        self.marginals = marginals
        C = self.norm["mean"].size
        self.resolution = np.zeros(C) if resolution is None else np.asarray(resolution, np.float64).reshape(C)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    # ------------------------------------------------------------------ conditioning
    def conditions(self, Z: np.ndarray, decoded: np.ndarray, lengths: np.ndarray) -> tuple:
        """(standardised decoder mean, length mask, vector condition) as tensors on the device."""
        return _conditions(self.norm, Z, decoded, lengths, self.device)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, Z, decoded, lengths, noise, steps: int = 8, time_power: float = 1.0) -> np.ndarray:
        """Cycles for latents ``Z`` (n, d), their decoder means ``decoded`` (n, C, T, original units)
        and ``lengths`` (n,), from standard normal ``noise`` (n, C, T), with ``steps`` midpoint steps on
        the time grid of ``time_power`` (:func:`~ventgen.models.generator.time_grid`); returns
        (n, C, T) float32 in original units, each cycle edge-padded after its length."""
        lengths = np.clip(np.asarray(lengths, dtype=np.int64), 1, decoded.shape[-1])
        out = np.empty(decoded.shape, dtype=np.float32)
        sd, mu = self.norm["std"][None, :, None], self.norm["mean"][None, :, None]
        rs = torch.from_numpy(self.norm["residual_scale"].reshape(1, -1, 1)).to(self.device)  # (1, C or 1, 1)
        for i in range(0, len(Z), _CHUNK):
            sl = slice(i, i + _CHUNK)
            mean, mask, cond = self.conditions(Z[sl], decoded[sl], lengths[sl])
            x0 = torch.from_numpy(np.ascontiguousarray(noise[sl], dtype=np.float32)).to(mean.device)
            x = sample_flow(self.net, mean, mask, cond, steps=int(steps), x0=x0, time_power=time_power)
            out[sl] = (x * rs + mean).cpu().numpy() * sd + mu
        return edge_pad(out, lengths)

    # ------------------------------------------------------------------ storage
    def state(self, trainer=None) -> dict:
        """What a model file stores (tensors and plain containers only)."""
        return {
            "weights": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "norm": {k: torch.from_numpy(v.copy()) for k, v in self.norm.items()},
            "history": [dict(h) for h in self.history],
            "trainer": trainer,
            "resolution": torch.from_numpy(self.resolution.copy()),
            **({} if self.marginals is None else {"marginals": to_tensors(self.marginals.to_state())}),
        }

    @classmethod
    def from_state(cls, path, state, *, channels: int, latent_dim: int, width: int, device, load_weights,
                   length: int):
        """The generator a model file stores, every field checked (one FileFormatError line otherwise);
        ``load_weights(path, weights, build)`` checks the tensors against the network; ``length``: the
        cycles' samples (checks the stored marginal map)."""
        if not isinstance(state, dict) or not isinstance(state.get("weights"), dict):
            raise FileFormatError(path, "must be a dict with the generator's weights", field="generator")
        norm = state.get("norm")
        sizes = {"mean": channels, "std": channels, "z_mean": latent_dim, "z_std": latent_dim,
                 "residual_scale": (1, channels)}
        if not isinstance(norm, dict) or not all(
            isinstance(norm.get(k), torch.Tensor) and norm[k].numel() in np.atleast_1d(n) and norm[k].is_floating_point()
            and bool(torch.isfinite(norm[k]).all()) for k, n in sizes.items()
        ):
            raise FileFormatError(path, f"the generator's normalisation must hold finite {sizes}", field="generator")
        if not all(float(norm[k].min()) > 0 for k in ("std", "z_std", "residual_scale")):
            raise FileFormatError(path, "the generator's spreads must be positive", field="generator")
        hist = state.get("history", [])
        if not isinstance(hist, list) or not all(isinstance(h, dict) for h in hist):
            raise FileFormatError(path, "the generator's history must be a list of dicts", field="generator")
        res = state.get("resolution")
        if res is not None and not (isinstance(res, torch.Tensor) and res.numel() == channels
                                    and res.is_floating_point() and bool(torch.isfinite(res).all())
                                    and float(res.min()) >= 0):
            raise FileFormatError(path, f"the generator's resolution must hold {channels} finite steps >= 0",
                                  field="generator")
        net = load_weights(path, state["weights"], lambda: FlowNet(channels, latent_dim + 1, width=width))
        return cls(net.to(device), {k: v.numpy() for k, v in norm.items()}, hist,
                   _stored_map(path, state.get("marginals"), channels, length),
                   None if res is None else res.double().numpy())


def _stored_map(path, state, channels: int, length: int) -> MarginalMap | None:
    """The checked marginal map of a model file (None when it holds none: files before it, or none fitted)."""
    if state is None:
        return None
    arrays = _to_arrays(state)
    why = MarginalMap.check_state(arrays, channels, int(length))
    if why is not None:
        raise FileFormatError(path, f"the generator's marginal map {why}", field="generator")
    return MarginalMap.from_state(arrays)


def _conditions(norm: dict, Z: np.ndarray, decoded: np.ndarray, lengths: np.ndarray, dev) -> tuple:
    """(standardised decoder mean, length mask, vector condition) of ``Z`` and ``lengths``, on ``dev``."""
    T = decoded.shape[-1]
    std = (decoded - norm["mean"][None, :, None]) / norm["std"][None, :, None]
    mean = torch.from_numpy(std.astype(np.float32)).to(dev)
    lens = torch.from_numpy(np.asarray(lengths, dtype=np.int64)).to(dev)
    # latents far outside the training encodings (a node's Gaussian of a barely trained model) are
    # held at the edge of what the network has seen
    zc = np.clip((np.asarray(Z, np.float32) - norm["z_mean"]) / norm["z_std"], -_Z_CLIP, _Z_CLIP)
    cond = np.c_[zc, np.asarray(lengths, np.float32)[:, None] / T].astype(np.float32)
    return mean, length_mask(lens, T), torch.from_numpy(cond).to(dev)


class GeneratorStep(Step):
    """One flow-matching step on a batch (indices wrap around the ``n`` cycles), with the learning-rate
    schedule (warm-up then cosine over ``total`` steps) and gradient clipping."""

    terms = ("loss",)
    clip_grad_norm = 1.0

    def __init__(self, net, target, mean, mask, cond, optimizer, gen_dev, *, lr: float, total: int, rank_seed=None):
        self.module, self.target, self.mean, self.mask, self.cond = net, target, mean, mask, cond
        self.optimizer, self.gen_dev = optimizer, gen_dev
        self.lr, self.total, self.t = float(lr), max(1, int(total)), 0
        self.rank_seed = rank_seed  # (seed, rank) of a DDP process above rank 0: its noise restarts every epoch
        self.ones = torch.ones_like(mask[:1])
        self._set_lr()

    def _set_lr(self) -> None:
        warm = max(1, self.total // 20)
        f = min(1.0, (self.t + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(self.t, self.total) / self.total))
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr * max(f, 1e-3)

    def begin_epoch(self, n_batches: int) -> None:
        if self.rank_seed is not None:  # rank 0's noise state is checkpointed; the others' follow (seed, rank, step)
            seed, rank = self.rank_seed
            self.gen_dev.manual_seed((int(seed) * 1_000_003 + 7919 * int(rank) + self.t) % 2**62)

    def __call__(self, sel: torch.Tensor) -> dict:
        sel = sel % self.target.shape[0]
        loss = flow_matching_loss(self.module, self.target[sel], self.mean[sel], self.mask[sel], self.cond[sel],
                                  generator=self.gen_dev, loss_mask=self.ones.expand(len(sel), -1, -1))
        return {"loss": loss}

    def after_batch(self, out: dict, b: int) -> None:
        self.t += 1
        self._set_lr()

    def state_dict(self) -> dict:
        return {"rng_device": self.gen_dev.get_state().cpu(), "step_count": self.t}

    def load_state_dict(self, state: dict) -> None:
        self.gen_dev.set_state(state["rng_device"])
        self.t = int(state.get("step_count", 0))
        self._set_lr()


def _training_tensors(model, arr: np.ndarray, lengths: np.ndarray):
    """(normalisation, target, decoder mean, mask, condition) of the training cycles, on the device."""
    Z = model.transform(arr).astype(np.float32)
    decoded = np.asarray(model.decode(Z), dtype=np.float32)
    T = arr.shape[-1]
    inside = np.arange(T)[None, :] < lengths[:, None]
    mean = np.array([arr[:, c][inside].mean() for c in range(arr.shape[1])], np.float32)
    std = np.array([arr[:, c][inside].std() for c in range(arr.shape[1])], np.float32)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
    norm = {"mean": mean, "std": std, "z_mean": Z.mean(0), "z_std": Z.std(0) + 1e-6}
    res = ((arr - decoded) / std[None, :, None]).astype(np.float32)
    norm["residual_scale"] = np.maximum(res.std(axis=(0, 2)), 1e-6)  # per channel, edge padding included
    norm = {k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in norm.items()}
    mean_n, mask, cond = _conditions(norm, Z, decoded, lengths, model.device_)
    target = torch.from_numpy(res / norm["residual_scale"][None, :, None]).to(model.device_)
    return norm, target, mean_n, mask, cond


def fit_flow_generator(model, arr: np.ndarray, lengths, *, steps: int, width: int, lr: float, batch_size: int,
                       seed: int, progress=None, resume=None, restore=None, on_epoch_end=None, dist=None) -> tuple:
    """Train the generator of the fitted ``model`` on its training cycles ``arr`` (n, C, T), original
    units, with ``lengths`` (n,) (None: every cycle fills T).

    ``resume`` = a stored generator state (its weights and normalisation), ``restore(loop)`` loads its
    checked training state into the loop (continue it); ``on_epoch_end(gen, loop, epochs)``
    is called after every epoch (the estimator writes its checkpoint there). ``dist`` (a
    :class:`~ventgen.models.ddp.DDPContext`, every process with the same cycles): each process takes its
    part of every epoch (a ``DistributedSampler``), the network inside DistributedDataParallel, so the
    weights stay identical on every process. Returns ``(FlowGenerator, TrainingLoop)``.
    """
    arr = np.asarray(arr, dtype=np.float32)
    n, C, T = arr.shape
    lengths = np.full(n, T, np.int64) if lengths is None else np.clip(np.asarray(lengths, np.int64), 1, T)
    norm, target, mean, mask, cond = _training_tensors(model, arr, lengths)
    dev = model.device_
    with torch.random.fork_rng(devices=[]):  # seeded weights; the caller's global random state is left alone
        torch.manual_seed(int(seed))
        net = FlowNet(C, cond.shape[1], width=int(width)).to(dev)
    if resume is not None:
        net.load_state_dict(resume["weights"])
        norm = {k: v.numpy() for k, v in resume["norm"].items()}
    optimizer = torch.optim.AdamW(net.parameters(), lr=float(lr), weight_decay=1e-4)
    gen_cpu = torch.Generator().manual_seed(int(seed))
    gen_dev = torch.Generator(device=dev).manual_seed(int(seed) + 104729)
    n_virtual = max(n, MIN_BATCHES_PER_EPOCH * int(batch_size))
    per_epoch = -(-n_virtual // int(batch_size))
    epochs = -(-int(steps) // per_epoch) if steps > 0 else 0
    batches, reduce, trained, rank_seed = None, None, net, None
    if dist is not None:
        from .ddp import IndexBatches  # torch.distributed: only for DDP runs

        batches = IndexBatches(n_virtual, batch_size=int(batch_size), rank=dist.rank, world_size=dist.world_size,
                               seed=int(seed), device=dev)
        per_epoch = len(batches)
        epochs = -(-int(steps) // per_epoch) if steps > 0 else 0
        reduce, trained = dist.reduce, dist.wrap(net)
        rank_seed = (int(seed), dist.rank) if dist.rank > 0 else None
    step = GeneratorStep(trained, target, mean, mask, cond, optimizer, gen_dev, lr=lr, total=epochs * per_epoch,
                         rank_seed=rank_seed)
    loop = TrainingLoop(step, n_virtual, optimizer, batch_size=batch_size, generator=gen_cpu, device=dev,
                        progress=progress, batches=batches, reduce=reduce)
    gen = FlowGenerator(net, norm, resolution=cycle_resolution(arr, lengths))
    if restore is not None:
        restore(loop)

    def after_epoch(lp):
        gen.history = [dict(h) for h in lp.history]
        if on_epoch_end is not None:
            on_epoch_end(gen, lp, epochs)

    loop.fit(epochs, on_epoch_end=after_epoch)
    net.eval()
    gen.history = [dict(h) for h in loop.history]
    return gen, loop
