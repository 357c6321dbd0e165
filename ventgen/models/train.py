"""The HTVAE training loop: batches, must-link pairs, dead codes, per-epoch history, resumable state.

The loop never touches files: after every epoch it calls ``on_epoch_end(trainer)`` (the estimator uses it
to write a checkpoint). :meth:`Trainer.state_dict` holds everything a bit-identical continuation needs
(weights, Adam moments, both random generators, epoch, history), as tensors and primitive containers
that ``torch.load(weights_only=True)`` accepts.

Dead codes
----------
A code that no training sample reached for a while is *dead*: no loss term pulls it toward the data
any more, and a map with many dead codes collapses to a few clusters (at initialisation, when the codes
N(0, sigma_init^2 I) and the first encodings have different scales, one code can take every sample).
With ``dead_codes="reinit"`` (the default) the usage of every code is counted over windows of
``min(dead_window, max(10, batches per epoch // 4))`` batches (``dead_window`` defaults to 200; one
whole epoch when an epoch has fewer than 10 batches; windows restart with each epoch and a trailing
partial window is not judged), and at the end of each window every code
nobody used is re-initialised next to live data, following the chain of the maps:

* a dead code of S_1 is moved onto the encoding ``mu_0`` of a random recent training sample (from the
  last ``reservoir`` samples seen), plus noise of 1% of those encodings' per-dimension spread;
* a dead code of S_i (i > 1) is moved onto a *used* code of S_(i-1), drawn in proportion to its usage
  in the window, plus the same small noise, so that it becomes that code's parent.

The Adam moments of re-initialised codes are reset to zero. The history logs, per epoch and level,
``perplexity_1 .. perplexity_M`` (exp of the entropy of the code-usage distribution over the epoch; K
for uniform usage, 1 when one code takes everything), ``dead_1 .. dead_M`` (codes unused during the
whole epoch) and ``revived_1 .. revived_M`` (codes re-initialised during the epoch).
``dead_codes="ignore"`` only logs.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .._core import progress
from ..errors import VentgenValueError
from .htvae import HTVAEModule

__all__ = ["Trainer", "MustLinkSampler"]

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


class Trainer:
    """Trains an :class:`HTVAEModule` on a tensor of scaled inputs.

    Parameters
    ----------
    module : HTVAEModule
    X : tensor (n, *input_shape)
        Training data scaled to [0, 1] (moved to ``device`` once).
    lr, batch_size : float, int
        Adam learning rate and batch size.
    code_lr_scale : float
        The SOM codes learn at ``lr * code_lr_scale`` (one Adam parameter group of their own): codes
        that follow the encodings faster are used more evenly and cluster better (see
        ``benchmarks/README.md``). 1 gives one learning rate for everything.
    mask : tensor (n, 1, T) or (n, C, T), optional
        Reconstruction weights per training sample (1 on a cycle's samples, 0 on its padding).
    device : torch.device
    seed : int
        Seeds the data-order / pair generator (CPU) and the noise generator (on ``device``).
    must_link : MustLinkSampler, optional
    must_link_level : int
    dead_codes : {"reinit", "ignore"}
    dead_window : int
        At most this many batches per dead-code check (see the module notes).
    reservoir : int
        Recent encodings kept to re-initialise dead codes.
    progress : bool, optional
        Progress bar per epoch (None: the global setting).
    """

    def __init__(
        self,
        module: HTVAEModule,
        X: torch.Tensor,
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
    ):
        if dead_codes not in ("reinit", "ignore"):
            raise VentgenValueError(f"dead_codes must be 'reinit' or 'ignore', got {dead_codes!r}")
        if not 1 <= int(must_link_level) <= module.n_levels:
            raise VentgenValueError(
                f"must_link_level must be in 1..{module.n_levels} (the number of maps), got {must_link_level}"
            )
        self.device = torch.device(device)
        self.module = module.to(self.device)
        self.X = X.to(self.device)
        self.mask = None if mask is None else mask.to(self.device, dtype=self.X.dtype)
        self.batch_size = int(batch_size)
        self.must_link = must_link
        self.must_link_level = int(must_link_level)
        self.dead_codes = dead_codes
        self.reservoir = int(reservoir)
        self.dead_window = int(dead_window)
        self.progress = progress
        codes = self.module.som.codes
        rest = [p for p in self.module.parameters() if p is not codes]
        self.optimizer = torch.optim.Adam(
            [{"params": rest}, {"params": [codes], "lr": lr * float(code_lr_scale)}], lr=lr
        )
        self.gen_cpu = torch.Generator()
        self.gen_cpu.manual_seed(int(seed))
        self.gen_dev = torch.Generator(device=self.device)
        self.gen_dev.manual_seed(int(seed) + 7919)
        self.epoch = 0
        self.history: list[dict] = []

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically (tensors and primitive containers only)."""
        return {
            "epoch": self.epoch,
            "optimizer": self.optimizer.state_dict(),
            "rng_cpu": self.gen_cpu.get_state(),
            "rng_device": self.gen_dev.get_state().cpu(),
            "history": [dict(h) for h in self.history],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (the module's weights are restored separately)."""
        self.epoch = int(state["epoch"])
        opt = state["optimizer"]
        if len(opt["param_groups"]) == 1:  # written before the codes had a parameter group of their own
            opt = self._split_codes_group(opt)
        self.optimizer.load_state_dict(opt)
        self.gen_cpu.set_state(state["rng_cpu"])
        self.gen_dev.set_state(state["rng_device"])
        self.history = [dict(h) for h in state["history"]]

    def _split_codes_group(self, opt: dict) -> dict:
        """A one-group Adam state (all parameters in ``module.parameters()`` order) as this trainer's two
        groups (every parameter but the codes, then the codes), with the same per-parameter moments."""
        params = list(self.module.parameters())
        k = next(i for i, p in enumerate(params) if p is self.module.som.codes)
        order = [i for i in range(len(params)) if i != k] + [k]  # new position -> old position
        old_ids = opt["param_groups"][0]["params"]
        g0, g1 = (dict(g) for g in self.optimizer.state_dict()["param_groups"])
        for g in (g0, g1):
            g.update({key: v for key, v in opt["param_groups"][0].items() if key not in ("params", "lr")})
        g0["params"], g1["params"] = list(range(len(params) - 1)), [len(params) - 1]
        state = {new: opt["state"][old_ids[old]] for new, old in enumerate(order) if old_ids[old] in opt["state"]}
        return {"state": state, "param_groups": [g0, g1]}

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
                lrs = sorted({g["lr"] for g in self.optimizer.param_groups})
                raise VentgenValueError(
                    f"training diverged at epoch {row['epoch']}: the loss is NaN or infinite (rec={row['rec']:.4g}, "
                    f"hier={row['hier']:.4g}, topo={row['topo']:.4g}); try a lower learning rate (lr now "
                    f"{', '.join(f'{v:g}' for v in lrs)}) or smaller loss weights"
                )
            if on_epoch_end is not None:
                on_epoch_end(self)
        return self.history

    def run_epoch(self, total: int | None = None) -> dict:
        """One pass over the data in a random order; appends and returns the epoch's history row."""
        m, n = self.module, self.X.shape[0]
        M = m.n_levels
        m.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=self.gen_cpu).to(self.device)
        n_batches = (n + self.batch_size - 1) // self.batch_size
        sums = torch.zeros(len(LOSS_TERMS), dtype=torch.float64, device=self.device)
        sizes = [h * w for h, w in m.som.maps]
        counts = [torch.zeros(k, dtype=torch.long, device=self.device) for k in sizes]
        window = [torch.zeros(k, dtype=torch.long, device=self.device) for k in sizes]
        revived = [0] * M
        recent: list[torch.Tensor] = []
        keep = max(1, -(-self.reservoir // self.batch_size))
        check_every = min(self.dead_window, max(10, n_batches // 4), n_batches)
        n_pairs = (
            self.batch_size // 2 if self.must_link is not None and self.must_link.n_links else 0
        )
        desc = f"epoch {self.epoch + 1}/{total}" if total else f"epoch {self.epoch + 1}"
        bar = progress(range(n_batches), enabled=self.progress, desc=desc, unit="batch")
        for b in bar:
            sel = perm[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.X[sel]
            pairs = None
            if n_pairs:
                pr = self.must_link.sample(n_pairs, self.gen_cpu).to(self.device)
                pairs = (self.X[pr[:, 0]], self.X[pr[:, 1]])
            out = m(x, pairs=pairs, must_link_level=self.must_link_level, generator=self.gen_dev,
                    mask=None if self.mask is None else self.mask[sel])
            self.optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            self.optimizer.step()
            with torch.no_grad():
                w = x.shape[0]
                sums += torch.stack([out[k].detach().double() for k in LOSS_TERMS]) * w
                for lvl, k in enumerate(out["idx"]):
                    bc = torch.bincount(k, minlength=sizes[lvl])
                    counts[lvl] += bc
                    window[lvl] += bc
                if self.dead_codes == "reinit":
                    recent.append(out["mu0"].detach())
                    if len(recent) > keep:
                        recent.pop(0)
                    if (b + 1) % check_every == 0:
                        for lvl, r in enumerate(self._reinit_dead(window, torch.cat(recent))):
                            revived[lvl] += r
                        for c in window:
                            c.zero_()
            if b % 50 == 0 and self.progress is not False:
                bar.set_postfix(loss=f"{out['loss'].item():.3g}")
        means = (sums / n).tolist()
        row = {"epoch": self.epoch + 1}
        row.update({k: float(v) for k, v in zip(LOSS_TERMS, means, strict=True)})
        for lvl in range(M):
            c = counts[lvl].double()
            p = c / c.sum()
            ent = -(p[p > 0] * p[p > 0].log()).sum()
            row[f"perplexity_{lvl + 1}"] = float(ent.exp())
            row[f"dead_{lvl + 1}"] = int((counts[lvl] == 0).sum())
            row[f"revived_{lvl + 1}"] = revived[lvl]
        self.epoch += 1
        row["time_s"] = time.perf_counter() - t0
        self.history.append(row)
        return row

    @torch.no_grad()
    def _reinit_dead(self, counts: list[torch.Tensor], mu0: torch.Tensor) -> list[int]:
        """Re-initialise the codes with zero ``counts``; returns how many per level."""
        m = self.module
        dead_per_level = [torch.nonzero(c == 0).flatten() for c in counts]
        if not any(d.numel() for d in dead_per_level):
            return [0] * len(counts)
        k = mu0.shape[0]
        spread = mu0.std(0, unbiased=False).clamp_min(1e-6) if k > 1 else torch.ones_like(mu0[0])
        for lvl, dead in enumerate(dead_per_level):
            if dead.numel() == 0:
                continue
            if lvl == 0:
                src = mu0[torch.randint(k, (dead.numel(),), generator=self.gen_cpu).to(self.device)]
            else:
                used = counts[lvl - 1].double().cpu()
                pick = torch.multinomial(
                    used / used.sum(), dead.numel(), replacement=True, generator=self.gen_cpu
                )
                src = m.som.level_codes(lvl)[pick.to(self.device)]
            noise = torch.randn(src.shape, generator=self.gen_cpu).to(self.device) * 0.01 * spread
            rows = dead + m.som.offsets[lvl]
            param = m.som.codes
            param[rows] = src + noise
            st = self.optimizer.state.get(param)
            if st:
                for key in ("exp_avg", "exp_avg_sq"):
                    if key in st:
                        st[key][rows] = 0.0
        return [int(d.numel()) for d in dead_per_level]
