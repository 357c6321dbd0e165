"""The HTVAE's training step, its must-link pairs and its dead-code windows (run by :mod:`.loop`).

:func:`htvae_loop` builds the one training loop (:class:`ventgen.models.loop.TrainingLoop`) around an
:class:`HTVAEStep`: Adam with the SOM codes in a parameter group of their own (learning rate
``lr * code_lr_scale``), a CPU generator for the data order, the must-link pairs and the dead codes, and a
generator on the device for the reparametrisation noise.

Dead codes
----------
With ``dead_codes="reinit"`` (the default) the usage of every code is counted over windows of
``min(dead_window, max(10, batches per epoch // 4, ceil(12 K_1 / batch_size)))`` batches, and at most one
epoch (``dead_window`` defaults to 200; ``K_1`` is the number of level-1 codes: a window holds at least 12
samples per code, so that a live code with a quarter of its fair share goes unused in a window with a
chance of about exp(-3) = 5 %; windows restart with each epoch and a trailing partial window is not
judged), and at the end of each window every code nobody used is re-initialised
next to live data by :meth:`ventgen.models.som.SOMStack.revive_dead` (S_1 codes onto one of the last
``reservoir`` encodings seen). The history logs, per epoch and level, ``perplexity_1 .. perplexity_M``
(exp of the entropy of the code-usage distribution over the epoch; K for uniform usage, 1 when one code
takes everything), ``dead_1 .. dead_M`` (codes unused during the whole epoch) and ``revived_1 ..
revived_M`` (codes re-initialised during the epoch). ``dead_codes="ignore"`` only logs.

Streams and DistributedDataParallel
-----------------------------------
A step also takes batches that are dicts (``{"x": scaled inputs, "mask": weights or None}`` on the
device, from :class:`ventgen.models.streaming.ScaledBatches`) instead of indices into ``X``. With ``dist`` (a
:class:`ventgen.models.ddp.DDPContext`) the module runs inside ``DistributedDataParallel`` (the
gradients, the codes' included, are averaged over the processes, so every process takes the same
optimizer step), the code-usage windows and epoch counts are summed over the processes before dead
codes are judged (every process revives the same codes), and the codes are broadcast from rank 0
after every revival and every epoch, so they stay identical everywhere. Ranks other than 0 draw their
reparametrisation noise from a generator re-seeded every epoch from ``(seed, rank, epoch)``, so that a
resumed run continues as the uninterrupted one (rank 0's generator is in the checkpoint).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import VentgenValueError
from .htvae import HTVAEModule
from .loop import Step, TrainingLoop

__all__ = ["HTVAEStep", "MustLinkSampler", "must_link_sampler", "htvae_loop"]

LOSS_TERMS = ("loss", "rec", "hier", "topo", "must_link", "kl")


class MustLinkSampler:
    """Draws must-link pairs from index pairs or from a partial label vector.

    Parameters
    ----------
    n : int
        Number of training samples.
    pairs : (k, 2) int array, optional
        Linked index pairs.
    labels : (n,) int array, optional
        Group per sample, -1 = unknown; any two samples of the same group are linked.
    """

    def __init__(self, n: int, pairs=None, labels=None):
        self.n = int(n)
        self.pairs = None
        self.groups = None
        if pairs is not None:
            self.pairs = torch.as_tensor(np.asarray(pairs, dtype=np.int64))
        elif labels is not None:
            lab = np.asarray(labels, dtype=np.int64)
            known = np.flatnonzero(lab >= 0)
            order = known[np.argsort(lab[known], kind="stable")]
            g = lab[order]
            _, start, count = np.unique(g, return_index=True, return_counts=True)
            keep = count >= 2  # a singleton group links nothing
            grp_of = np.repeat(np.arange(len(start)), count)
            anchor_ok = keep[grp_of]
            self.groups = {
                "order": torch.as_tensor(order),
                "start": torch.as_tensor(start[grp_of]),
                "count": torch.as_tensor(count[grp_of]),
                "anchors": torch.as_tensor(np.flatnonzero(anchor_ok)),
            }
        self.n_links = self._count()

    def _count(self) -> int:
        if self.pairs is not None:
            return int(self.pairs.shape[0])
        if self.groups is not None:
            return int(self.groups["anchors"].shape[0])
        return 0

    def sample(self, k: int, generator: torch.Generator) -> torch.Tensor:
        """(k, 2) long tensor of linked index pairs (k limited by what exists)."""
        if self.n_links == 0 or k <= 0:
            return torch.zeros((0, 2), dtype=torch.long)
        if self.pairs is not None:
            sel = torch.randint(self.pairs.shape[0], (k,), generator=generator)
            return self.pairs[sel]
        g = self.groups
        a_pos = g["anchors"][torch.randint(g["anchors"].shape[0], (k,), generator=generator)]
        u = torch.rand(k, generator=generator, dtype=torch.float64)
        b_pos = g["start"][a_pos] + (u * g["count"][a_pos]).long().clamp_max(g["count"][a_pos] - 1)
        return torch.stack([g["order"][a_pos], g["order"][b_pos]], dim=1)


def must_link_sampler(must_link, n: int) -> MustLinkSampler | None:
    """A sampler from ``(k, 2)`` integer index pairs or a label vector of length ``n`` (-1, "" or None =
    unknown); None for None."""
    if must_link is None:
        return None
    ml = np.asarray(must_link)
    if ml.ndim == 2 and ml.shape[1] == 2 and ml.dtype.kind in "iu":
        if ml.size and (ml.min() < 0 or ml.max() >= n):
            raise VentgenValueError(
                f"must_link pairs must be indices in 0..{n - 1}, got values in [{ml.min()}, {ml.max()}]"
            )
        return MustLinkSampler(n, pairs=ml)
    if ml.ndim == 1:
        if ml.shape[0] != n:
            raise VentgenValueError(
                f"must_link as a label vector must have one entry per sample ({n}), got {ml.shape[0]}"
            )
        return MustLinkSampler(n, labels=_label_codes(ml))
    raise VentgenValueError(
        f"must_link must be (k, 2) integer index pairs or a label vector of length {n} "
        f"(-1 or '' = unknown), got an array of shape {ml.shape} and dtype {ml.dtype}"
    )


def _label_codes(ml: np.ndarray) -> np.ndarray:
    """Integer group codes of a label vector, -1 where the label is unknown."""
    if ml.dtype.kind in "iu":
        codes = ml.astype(np.int64)
        codes[codes < 0] = -1
        return codes
    s = ml.astype(object)
    unknown = np.array(
        [v is None or (isinstance(v, float) and math.isnan(v)) or str(v) in ("", "-1") for v in s]
    )
    _, inv = np.unique(np.where(unknown, "", s.astype(str)), return_inverse=True)
    return np.where(unknown, -1, inv).astype(np.int64)


class HTVAEStep(Step):
    """One HTVAE training step on a batch, and the per-epoch code-usage statistics.

    Parameters
    ----------
    module : HTVAEModule
        On the training device.
    X : tensor (n, *input_shape)
        Training data scaled to [0, 1], on the device.
    optimizer : torch.optim.Optimizer
        Its moments of revived codes are reset.
    gen_cpu, gen_dev : torch.Generator
        Must-link pairs and dead codes (CPU); reparametrisation noise (device).
    mask : tensor (n, 1, T) or (n, C, T), optional
        Reconstruction weights per training sample (1 on a cycle's samples, 0 on its padding).
    must_link : MustLinkSampler, optional
    must_link_level : int
    batch_size, dead_codes, dead_window, reservoir :
        See the module notes.
    dist : DDPContext, optional
        Train inside DistributedDataParallel (see the module notes).
    noise_seed : int
        Seed of the noise of ranks other than 0 (with ``dist``).
    """

    terms = LOSS_TERMS

    def __init__(self, module, X, optimizer, gen_cpu, gen_dev, *, mask=None, must_link=None, must_link_level=1,
                 batch_size=32, dead_codes="reinit", dead_window=200, reservoir=1024, dist=None, noise_seed=0):
        self.module, self.X, self.mask, self.optimizer = module, X, mask, optimizer
        self.dist = dist
        self.forward_module = module if dist is None else dist.wrap(module)
        self.rank_noise_seed = None if dist is None or dist.rank == 0 else int(noise_seed) + 1_000_003 * dist.rank
        self.epochs_begun = 0
        self.gen_cpu, self.gen_dev = gen_cpu, gen_dev
        self.must_link = must_link
        self.must_link_level = int(must_link_level)
        self.dead_codes = dead_codes
        self.dead_window = int(dead_window)
        self.batch_size = int(batch_size)
        self.keep = max(1, -(-int(reservoir) // int(batch_size)))
        self.n_pairs = int(batch_size) // 2 if must_link is not None and must_link.n_links else 0
        self.sizes = [h * w for h, w in module.som.maps]

    def begin_epoch(self, n_batches: int) -> None:
        dev = self.module.som.codes.device
        if self.rank_noise_seed is not None:
            self.gen_dev.manual_seed(self.rank_noise_seed + 104_729 * self.epochs_begun)
        self.epochs_begun += 1
        self.counts = [torch.zeros(k, dtype=torch.long, device=dev) for k in self.sizes]
        self.window = [torch.zeros(k, dtype=torch.long, device=dev) for k in self.sizes]
        self.revived = [0] * len(self.sizes)
        self.recent: list[torch.Tensor] = []
        fair = -(-12 * max(self.sizes) // self.batch_size)  # 12 samples per level-1 code (module notes)
        self.check_every = min(self.dead_window, max(10, n_batches // 4, fair), n_batches)

    def __call__(self, sel) -> dict:
        if isinstance(sel, dict):  # a streamed batch, already scaled and on the device
            return self.forward_module(sel["x"], must_link_level=self.must_link_level, generator=self.gen_dev,
                                       mask=sel.get("mask"))
        pairs = None
        if self.n_pairs:
            pr = self.must_link.sample(self.n_pairs, self.gen_cpu).to(self.X.device)
            pairs = (self.X[pr[:, 0]], self.X[pr[:, 1]])
        mask = None if self.mask is None else self.mask[sel]
        return self.forward_module(
            self.X[sel], pairs=pairs, must_link_level=self.must_link_level, generator=self.gen_dev, mask=mask
        )

    def after_batch(self, out: dict, b: int) -> None:
        for lvl, k in enumerate(out["idx"]):
            bc = torch.bincount(k, minlength=self.sizes[lvl])
            self.counts[lvl] += bc
            self.window[lvl] += bc
        if self.dead_codes != "reinit":
            return
        self.recent.append(out["mu0"].detach())
        if len(self.recent) > self.keep:
            self.recent.pop(0)
        if (b + 1) % self.check_every == 0:
            if self.dist is not None:
                for c in self.window:
                    self.dist.reduce(c)
            revived = self.module.som.revive_dead(self.window, torch.cat(self.recent), self.gen_cpu, self.optimizer)
            for lvl, r in enumerate(revived):
                self.revived[lvl] += r
            for c in self.window:
                c.zero_()
            if self.dist is not None and any(revived):
                self.dist.broadcast(self.module.som.codes.data)

    def end_epoch(self, row: dict) -> None:
        if self.dist is not None:
            for c in self.counts:
                self.dist.reduce(c)
            self.dist.broadcast(self.module.som.codes.data)
        for lvl, counts in enumerate(self.counts):
            c = counts.double()
            p = c / c.sum()
            ent = -(p[p > 0] * p[p > 0].log()).sum()
            row[f"perplexity_{lvl + 1}"] = float(ent.exp())
            row[f"dead_{lvl + 1}"] = int((counts == 0).sum())
            row[f"revived_{lvl + 1}"] = self.revived[lvl]

    def state_dict(self) -> dict:
        return {"rng_device": self.gen_dev.get_state().cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.gen_dev.set_state(state["rng_device"])
        self.epochs_begun = int(state.get("epoch", 0))

    def upgrade_optimizer_state(self, opt: dict, optimizer) -> dict:
        """A one-group Adam state (written before the codes had a parameter group of their own, all
        parameters in ``module.parameters()`` order) as the two groups of ``optimizer`` (every parameter
        but the codes, then the codes), with the same per-parameter moments."""
        if len(opt["param_groups"]) != 1:
            return opt
        params = list(self.module.parameters())
        k = next(i for i, p in enumerate(params) if p is self.module.som.codes)
        order = [i for i in range(len(params)) if i != k] + [k]  # new position -> old position
        old_ids = opt["param_groups"][0]["params"]
        g0, g1 = (dict(g) for g in optimizer.state_dict()["param_groups"])
        for g in (g0, g1):
            g.update({key: v for key, v in opt["param_groups"][0].items() if key not in ("params", "lr")})
        g0["params"], g1["params"] = list(range(len(params) - 1)), [len(params) - 1]
        state = {new: opt["state"][old_ids[old]] for new, old in enumerate(order) if old_ids[old] in opt["state"]}
        return {"state": state, "param_groups": [g0, g1]}


def htvae_loop(
    module: HTVAEModule,
    X: torch.Tensor | None,
    *,
    lr: float = 5e-4,
    batch_size: int = 32,
    code_lr_scale: float = 1.0,
    mask: torch.Tensor | None = None,
    device="cpu",
    seed: int = 0,
    must_link: MustLinkSampler | None = None,
    must_link_level: int = 1,
    dead_codes: str = "reinit",
    dead_window: int = 200,
    reservoir: int = 1024,
    progress: bool | None = None,
    batches=None,
    dist=None,
) -> TrainingLoop:
    """The training loop of an :class:`HTVAEModule` on scaled inputs ``X`` (moved to ``device`` once).

    ``batches`` replaces the shuffled slices of ``X`` by another batch source (``X`` may then be None:
    a stream, see :class:`ventgen.models.streaming.ScaledBatches`; or index batches of ``X`` from a
    ``DistributedSampler``, :class:`ventgen.models.ddp.IndexBatches`); ``dist`` trains inside
    DistributedDataParallel (see the module notes).

    The SOM codes learn at ``lr * code_lr_scale`` (one Adam parameter group of their own): codes that
    follow the encodings faster are used more evenly and cluster better (see ``benchmarks/README.md``).
    ``seed`` seeds the data-order / pair / dead-code generator (CPU) and the noise generator (on
    ``device``). The other arguments are those of :class:`HTVAEStep`.
    """
    if dead_codes not in ("reinit", "ignore"):
        raise VentgenValueError(f"dead_codes must be 'reinit' or 'ignore', got {dead_codes!r}")
    if not 1 <= int(must_link_level) <= module.n_levels:
        raise VentgenValueError(
            f"must_link_level must be in 1..{module.n_levels} (the number of maps), got {must_link_level}"
        )
    if X is None and (batches is None or must_link is not None):
        raise VentgenValueError("htvae_loop: X is needed without batches, and for must-link pairs")
    device = torch.device(device)
    module = module.to(device)
    X = None if X is None else X.to(device)
    mask = None if mask is None or X is None else mask.to(device, dtype=X.dtype)
    optimizer = torch.optim.Adam(module.param_groups(lr, code_lr_scale), lr=lr)
    gen_cpu = torch.Generator()
    gen_cpu.manual_seed(int(seed))
    gen_dev = torch.Generator(device=device)
    gen_dev.manual_seed(int(seed) + 7919)
    step = HTVAEStep(module, X, optimizer, gen_cpu, gen_dev, mask=mask, must_link=must_link,
                     must_link_level=must_link_level, batch_size=batch_size, dead_codes=dead_codes,
                     dead_window=dead_window, reservoir=reservoir, dist=dist, noise_seed=int(seed) + 7919)
    n = X.shape[0] if batches is None else batches.samples_per_epoch
    return TrainingLoop(step, n, optimizer, batch_size=batch_size, generator=gen_cpu, device=device,
                        progress=progress, batches=batches, reduce=None if dist is None else dist.reduce)
