"""The stack of self-organizing maps of the HTVAE: lattices, nearest codes, parents, sigma, topology.

Maps ``S_1 .. S_M`` are 2-D lattices of ``h_i x w_i`` codes in the latent space, ``S_1`` the deepest and
largest. Code ``k`` of a lattice sits at row ``k // w``, column ``k % w`` (row-major). Everything here is
vectorised: nearest codes come from one :func:`torch.cdist` + ``argmin``; the 4-neighbour tables and the
lattice coordinates are precomputed buffers; the parent table of every code is computed once per step.

Dead codes
----------
A code that no training sample reached for a while is *dead*: no loss term pulls it toward the data
any more, and a map with many dead codes collapses to a few clusters (at initialisation, when the codes
N(0, sigma_init^2 I) and the first encodings have different scales, one code can take every sample).
:meth:`SOMStack.revive_dead` re-initialises every code that a window of training batches left unused
next to live data, following the chain of the maps (the training loop decides the windows, see
:mod:`ventgen.models.train`):

* a dead code of S_1 is moved onto the encoding ``mu_0`` of a random recent training sample, plus noise
  of 1% of those encodings' per-dimension spread;
* a dead code of S_i (i > 1) is moved onto a *used* code of S_(i-1), drawn in proportion to its usage
  in the window, plus the same small noise, so that it becomes that code's parent.

The Adam moments of re-initialised codes are reset to zero.

Gaussian codes
--------------
With ``covariance="full"`` (or ``"diagonal"``) every code k is also the mean of a Gaussian with its own
covariance, and every discretisation is by likelihood instead of eq. 4: mu_1 = the code of S_1 under
whose Gaussian ``z_0`` is most likely, and the parent of a code of S_i is the code of S_(i+1) under whose
Gaussian it is most likely. The likelihood is taken at equal volumes: every code's covariance is
scaled to the mean log-determinant of its level, so that a code's *shape* (elongation, orientation)
decides, not its size. Free volumes let a broad code take ever more samples and grow broader still
(measured: on the simulated ventilation cohort the free-volume maps fell to purity 0.35 against 0.47
for eq. 4; equal volumes gave 0.48, and on MNIST 0.826 against 0.804, mean of 3 seeds, see
``benchmarks/README.md``). With equal isotropic covariances this is eq. 4 again. A code's covariance
is estimated, like batch norm's statistics, from the training encodings it discretises (at its level):
running sums of the residuals' outer products with a decay of :data:`COV_DECAY` per batch, shrunk toward
the running covariance of all encodings by :data:`COV_PRIOR` pseudo-samples, so that a code with few
samples keeps a sensible shape. These are buffers of the model (saved with it); they do not change
outside training. The noise of ``z_i`` in training stays eq. 5's; a node's sigma (:meth:`SOMStack.sigma`,
used to sample from it) is the square root of its covariance's diagonal, and :meth:`SOMStack.scale_tril`
gives the whole covariance's Cholesky factor. A revived code starts from the overall covariance.
``covariance="lattice"`` is the paper: nearest code, sigma from the lattice neighbours (eq. 5).

:func:`batch_som` fits codes to encodings (a batch SOM whose neighbourhood shrinks to zero, so that it
ends as k-means started from a topologically ordered grid); :meth:`SOMStack.init_from` uses it to place
every map after an autoencoder warm-up (DPSOM's recipe).

Examples
--------
>>> import torch
>>> som = SOMStack([(4, 4), (2, 2)], latent_dim=3, sigma_init=1.0, rho=2.0, seed=0)
>>> idx = som.chain(torch.randn(5, 3))
>>> [tuple(i.shape) for i in idx]
[(5,), (5,)]
>>> bool((som.sigma(1) > 0).all())
True
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import VentgenValueError
from ._checks import check_maps
from .placement import batch_som, lattice_coords

__all__ = ["SOMStack", "lattice_neighbours", "lattice_coords", "batch_som", "COVARIANCES"]

SIGMA_FLOOR = 1e-6
#: what sets the spread of a code: "lattice" (eq. 5, the paper) or an estimated "diagonal" / "full" covariance
COVARIANCES = ("lattice", "diagonal", "full")
#: per-batch decay of the running statistics of the Gaussian codes (a window of about 200 batches)
COV_DECAY = 0.995
#: pseudo-samples of the overall covariance that every code's covariance is shrunk toward
COV_PRIOR = 10.0


def lattice_neighbours(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """4-neighbour table of an ``h x w`` lattice.

    Returns ``(index, mask)``, both (h*w, 4) in the order up, down, left, right; missing neighbours (at
    the borders) have ``mask`` False and ``index`` pointing at the code itself.
    """
    rc = lattice_coords(h, w)
    r, c = rc[:, 0:1], rc[:, 1:2]
    dr = torch.tensor([[-1, 1, 0, 0]])
    dc = torch.tensor([[0, 0, -1, 1]])
    rr, cc = r + dr, c + dc
    mask = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    index = torch.where(mask, rr * w + cc, torch.arange(h * w)[:, None])
    return index, mask


class SOMStack(nn.Module):
    """M stacked 2-D self-organizing maps whose codes are trainable parameters.

    Parameters
    ----------
    maps : list of (h, w)
        Lattice sizes, S_1 (deepest, most codes) first; must shrink strictly.
    latent_dim : int
        Dimension of the codes.
    sigma_init : float
        Codes start from N(0, sigma_init^2 I).
    rho : float
        sigma of a code (per dimension) = smallest |difference| to its lattice neighbours / rho.
    seed : int, optional
        Seed of the code initialisation (a private generator; the global RNG is untouched).
    covariance : {"lattice", "diagonal", "full"}
        "lattice" (the paper): nearest-code assignment (eq. 4), sigma from the lattice (eq. 5);
        "diagonal" / "full": every code has its own estimated covariance and assignment is by likelihood.
    parents : {"likelihood", "nearest"}
        With Gaussian codes, the parent of a code of S_i is the code of S_(i+1) under whose Gaussian it
        is most likely ("likelihood") or the nearest one ("nearest", eq. 4). Lattice codes: the nearest.
    stored_upper : bool
        Gaussian codes only: keep room (buffers) for upper maps rebuilt after training
        (:meth:`set_upper`, see :mod:`ventgen.models.upper`): their codes, covariances and a stored
        table of parents then replace the trained ones.

    Notes
    -----
    Levels are 1-based in every public method (level 1 = S_1), as in the paper. The codes of all levels
    live in ONE parameter ``codes`` of shape (K_1 + ... + K_M, d), level i in rows
    ``offsets[i-1]:offsets[i]``; the neighbour tables use the same global row numbers. One tensor for
    all levels lets a training step gather, sample and penalise every level with a handful of kernels
    instead of a handful per level (:meth:`step`), which keeps the SOM machinery cheap next to the
    networks.
    """

    def __init__(self, maps, latent_dim: int, sigma_init: float = 1.0, rho: float = 2.0, seed=None,
                 covariance: str = "lattice", parents: str = "likelihood", stored_upper: bool = False):
        super().__init__()
        if covariance not in COVARIANCES:
            raise VentgenValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
        if parents not in ("likelihood", "nearest"):
            raise VentgenValueError(f"parents must be 'likelihood' or 'nearest', got {parents!r}")
        if stored_upper and covariance == "lattice":
            raise VentgenValueError("stored_upper needs Gaussian codes (covariance 'diagonal' or 'full')")
        self.covariance = covariance
        self.parent_rule = parents
        self.maps = check_maps(maps)
        self.latent_dim = int(latent_dim)
        self.rho = float(rho)
        self.sigma_init = float(sigma_init)
        sizes = [h * w for h, w in self.maps]
        self.offsets = [0]
        for k in sizes:
            self.offsets.append(self.offsets[-1] + k)
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed))
        self.codes = nn.Parameter(
            torch.cat([torch.randn(k, self.latent_dim, generator=gen) for k in sizes])
            * self.sigma_init
        )
        if covariance != "lattice":
            k, d = self.codes.shape
            eye = torch.eye(d) * self.sigma_init**2
            # running statistics (saved with the model): weight and residual scatter per code, overall covariance
            self.register_buffer("cov_weight", torch.zeros(k))
            self.register_buffer("cov_scatter", torch.zeros(k, d, d))
            self.register_buffer("cov_all", eye.clone())
        if stored_upper:
            k1, k = sizes[0], sum(sizes)
            # set by set_upper: the upper codes' covariances and every non-top code's parent (local index)
            self.register_buffer("upper_done", torch.zeros((), dtype=torch.bool))
            self.register_buffer("upper_cov", torch.zeros(k - k1, self.latent_dim, self.latent_dim))
            self.register_buffer("upper_parents", torch.zeros(k - sizes[-1], dtype=torch.long))
            self.register_buffer("upper_trained", torch.zeros(k - k1, self.latent_dim))  # the codes replaced
            self.register_load_state_dict_post_hook(lambda m, _: setattr(m, "_upper_stored", bool(m.upper_done)))
        self._upper_stored = False  # upper_done as a Python bool: no device sync in every training step
        nbr, mask, coords, level_of = [], [], [], []
        for i, (h, w) in enumerate(self.maps):
            index, m = lattice_neighbours(h, w)
            nbr.append(index + self.offsets[i])
            mask.append(m)
            coords.append(lattice_coords(h, w))
            level_of.append(torch.full((h * w,), i))
        self.register_buffer("_nbr", torch.cat(nbr), persistent=False)
        self.register_buffer("_mask", torch.cat(mask), persistent=False)
        self.register_buffer("_coords", torch.cat(coords), persistent=False)
        self.register_buffer("_maskf", torch.cat(mask).float(), persistent=False)

    # ------------------------------------------------------------------ helpers
    @property
    def n_levels(self) -> int:
        """Number of maps M."""
        return len(self.maps)

    def _lvl(self, level: int) -> int:
        if not 1 <= level <= self.n_levels:
            raise VentgenValueError(f"level must be in 1..{self.n_levels}, got {level}")
        return level - 1

    def _rows(self, level: int) -> slice:
        i = self._lvl(level)
        return slice(self.offsets[i], self.offsets[i + 1])

    def level_codes(self, level: int) -> torch.Tensor:
        """(K, d) codes of ``level`` (a view into :attr:`codes`, gradients flow)."""
        return self.codes[self._rows(level)]

    def neighbours(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(index, mask) 4-neighbour tables of ``level`` in LOCAL indices (see :func:`lattice_neighbours`)."""
        r = self._rows(level)
        return self._nbr[r] - r.start, self._mask[r]

    def coords(self, level: int) -> torch.Tensor:
        """(K, 2) lattice coordinates (row, column) of the codes of ``level``."""
        return self._coords[self._rows(level)]

    # ------------------------------------------------------------------ the discretisation chain
    @property
    def gaussian(self) -> bool:
        """True when the codes have estimated covariances and assignment is by likelihood."""
        return self.covariance != "lattice"

    @property
    def upper_stored(self) -> bool:
        """True when the upper maps were rebuilt after training (:meth:`set_upper`)."""
        return self._upper_stored

    def covariances(self) -> torch.Tensor:
        """(K_1 + ... + K_M, d, d) covariance of every code (Gaussian codes only; see the module notes);
        those of :meth:`set_upper` for the upper maps once they are stored."""
        cov = (self.cov_scatter + COV_PRIOR * self.cov_all) / (self.cov_weight + COV_PRIOR)[:, None, None]
        if self.upper_stored:
            cov = torch.cat([cov[: self.offsets[1]], self.upper_cov])
        if self.covariance == "diagonal":
            cov = torch.diag_embed(torch.diagonal(cov, dim1=1, dim2=2))
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
        return cov + eye * (1e-6 * torch.diagonal(self.cov_all).mean().clamp_min(1e-12))

    def scale_tril(self, level: int) -> torch.Tensor:
        """(K, d, d) lower Cholesky factor L of every code's covariance at ``level``: a sample from node k is
        ``code_k + L_k @ eps`` (Gaussian codes only)."""
        return torch.linalg.cholesky(self.covariances()[self._rows(level)])

    def _assign(self, z: torch.Tensor, rows: slice, likelihood: bool = True) -> torch.Tensor:
        """Best code among ``rows`` for every row of ``z``: nearest (eq. 4) or, with Gaussian codes and
        ``likelihood``, most likely."""
        c = self.codes[rows].detach()
        z = z.detach()
        if not (self.gaussian and likelihood):
            return torch.cdist(z, c).argmin(dim=1)
        cov = self.covariances()[rows]
        # equal volumes: each code's covariance scaled to the level's mean log-determinant
        logdet = torch.linalg.slogdet(cov)[1]
        cov = cov * torch.exp((logdet.mean() - logdet) / cov.shape[-1])[:, None, None]
        return self._neg_log_lik(z, c, torch.linalg.cholesky(cov)).argmin(dim=1)

    @staticmethod
    def _neg_log_lik(z: torch.Tensor, c: torch.Tensor, tril: torch.Tensor) -> torch.Tensor:
        """(n, K): twice the negative log-likelihood, less d log 2 pi, of each z under each N(c_k, L_k L_k^T)."""
        diff = (z.unsqueeze(0) - c.unsqueeze(1)).transpose(1, 2)  # (K, d, n)
        w = torch.linalg.solve_triangular(tril, diff, upper=False)  # L^-1 (z - c)
        logdet = 2.0 * torch.log(torch.diagonal(tril, dim1=1, dim2=2)).sum(1)  # (K,)
        return ((w * w).sum(1) + logdet[:, None]).T

    def nearest(self, z: torch.Tensor, level: int = 1) -> torch.Tensor:
        """Index of the code of ``level`` that discretises each row of ``z`` (n, d) -> (n,).

        The nearest code (eq. 4) or, with Gaussian codes, the code under whose Gaussian z is most likely.
        """
        return self._assign(z, self._rows(level))

    def parents(self) -> list[torch.Tensor]:
        """The learned tree: ``parents()[i-1][k]`` = the code of S_(i+1) that discretises code k of S_i.

        M-1 long tensors of local indices, computed for all codes at once from the current codes, or the
        table stored by :meth:`set_upper`.
        """
        o = self.offsets
        if self.upper_stored:
            return [self.upper_parents[o[i] : o[i + 1]] for i in range(self.n_levels - 1)]
        lik = self.parent_rule == "likelihood"
        return [
            self._assign(self.codes[o[i] : o[i + 1]], slice(o[i + 1], o[i + 2]), lik)
            for i in range(self.n_levels - 1)
        ]

    def chain(
        self, z0: torch.Tensor, parents: list[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Node indices (local) of ``z0`` at every level: mu_1 = nearest code of S_1, mu_i = parent of mu_(i-1).

        Since mu_(i-1) is itself a code of S_(i-1), the nearest code of S_i to it is its parent in the
        table of :meth:`parents`, so only level 1 needs a search over the batch.
        """
        if parents is None:
            parents = self.parents()
        idx = [self.nearest(z0, 1)]
        for p in parents:
            idx.append(p[idx[-1]])
        return idx

    # ------------------------------------------------------------------ Gaussian codes
    def _sigma_all(self) -> torch.Tensor:
        """(K_1 + ... + K_M, d) eq. 5's sigma of every code: the noise of z_i in training."""
        c = self.codes.detach()
        diff = (c[:, None, :] - c[self._nbr]).abs()
        diff = diff.masked_fill(~self._mask[:, :, None], float("inf"))
        return (diff.amin(dim=1) / self.rho).clamp_min(SIGMA_FLOOR)

    def sigma(self, level: int) -> torch.Tensor:
        """(K, d) per-dimension sigma of every code of ``level`` (detached from the codes).

        sigma[k, j] = min over existing 4-neighbours e of |code_k[j] - e[j]| / rho (eq. 5), or, with
        Gaussian codes, the square root of the diagonal of the code's covariance (what sampling from the
        node uses); floored at 1e-6 so that it stays positive.
        """
        if self.gaussian:
            var = torch.diagonal(self.covariances()[self._rows(level)], dim1=1, dim2=2)
            return var.detach().sqrt().clamp_min(SIGMA_FLOOR)
        return self._sigma_all()[self._rows(level)]

    # ------------------------------------------------------------------ losses
    def _topology(self, g: torch.Tensor, mu: torch.Tensor | None = None) -> torch.Tensor:
        if mu is None:
            mu = self.codes[g]  # (M, n, d)
        d2 = ((mu.unsqueeze(-2) - self.codes[self._nbr[g]]) ** 2).sum(-1)  # (M, n, 4)
        return (d2 * self._maskf[g]).sum((0, 2))

    def step(self, z0: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True):
        """Everything a training step needs from the maps, for all levels at once.

        Returns ``(z, idx, topo, parents)``: ``z`` (M, n, d) = mu_i + sigma_i * eps (or mu_i when
        ``sample`` is False), ``idx`` list of M local node indices (n,), ``topo`` (n,) eq. 9 per sample,
        ``parents`` as :meth:`parents`.
        """
        parents = self.parents()
        idx = self.chain(z0, parents)
        g = torch.stack([k + self.offsets[i] for i, k in enumerate(idx)])  # (M, n)
        mu = self.codes[g]
        if sample:
            eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
            z = mu + self._sigma_all()[g] * eps
        else:
            z = mu
        if self.training and self.gaussian:
            self.update_covariances(z0, g)
        return z, idx, self._topology(g, mu), parents

    @torch.no_grad()
    def update_covariances(self, z0: torch.Tensor, g: torch.Tensor) -> None:
        """Fold a batch of encodings ``z0`` (n, d) and their nodes ``g`` (M, n; global rows) into the
        running statistics of the Gaussian codes (decay :data:`COV_DECAY`)."""
        z0 = z0.detach().to(self.cov_all)
        if z0.shape[0] > 1:
            zc = z0 - z0.mean(0)
            batch_cov = zc.T @ zc / (z0.shape[0] - 1)
            self.cov_all.mul_(COV_DECAY).add_((1 - COV_DECAY) * batch_cov)
        r = z0.unsqueeze(0) - self.codes.detach()[g]  # (M, n, d)
        outer = (r.unsqueeze(-1) * r.unsqueeze(-2)).flatten(0, 1)  # (M n, d, d)
        self.cov_weight.mul_(COV_DECAY).index_add_(0, g.flatten(), torch.ones_like(g.flatten(), dtype=z0.dtype))
        self.cov_scatter.mul_(COV_DECAY).index_add_(0, g.flatten(), outer)

    @torch.no_grad()
    def set_upper(self, codes: list, covariances: list, parents: list) -> None:
        """Replace the upper maps S_2 .. S_M after training (see :mod:`ventgen.models.upper`).

        ``codes[j]`` (K_(j+2), d) and ``covariances[j]`` (K_(j+2), d, d) are the new Gaussians of S_(j+2);
        ``parents[j]`` (K_(j+1),) the local index in S_(j+2) of the parent of every code of S_(j+1).
        From then on :meth:`parents` returns that table and :meth:`covariances` those covariances.
        """
        if not hasattr(self, "upper_done"):
            raise VentgenValueError("this SOMStack was built without stored_upper=True")
        m = self.n_levels - 1
        if not (len(codes) == len(covariances) == len(parents) == m):
            raise VentgenValueError(f"set_upper needs {m} codes, covariances and parents, one per upper map")
        new = []
        for j in range(m):  # every level checked before anything is written
            rows = self._rows(j + 2)
            k, d = rows.stop - rows.start, self.latent_dim
            c, cov = torch.as_tensor(codes[j]).to(self.codes), torch.as_tensor(covariances[j]).to(self.upper_cov)
            p = torch.as_tensor(parents[j], dtype=torch.long, device=self.codes.device)
            k_child = self.offsets[j + 1] - self.offsets[j]
            if c.shape != (k, d) or cov.shape != (k, d, d) or p.shape != (k_child,):
                raise VentgenValueError(f"set_upper: level {j + 2} needs codes ({k}, {d}), covariances "
                                        f"({k}, {d}, {d}) and parents ({k_child},)")
            if bool((p < 0).any() or (p >= k).any()):
                raise VentgenValueError(f"set_upper: parents of level {j + 1} must lie in 0..{k - 1}")
            new.append((rows, c, cov, p))
        o1 = self.offsets[1]
        if not self.upper_stored:  # keep the codes as trained (unset_upper), not those of an earlier set_upper
            self.upper_trained.copy_(self.codes[o1:])
        for j, (rows, c, cov, p) in enumerate(new):
            self.codes[rows] = c
            self.upper_cov[rows.start - o1 : rows.stop - o1] = cov
            self.upper_parents[self.offsets[j] : self.offsets[j + 1]] = p
        self.upper_done.fill_(True)
        self._upper_stored = True

    @torch.no_grad()
    def unset_upper(self) -> None:
        """Undo :meth:`set_upper`: the trained upper codes and the computed parents again (a training
        that resumes for more epochs continues from the maps as trained)."""
        if self.upper_stored:
            self.codes[self.offsets[1] :] = self.upper_trained
            self.upper_done.fill_(False)
            self._upper_stored = False

    def lattice_distance(self, level: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Graph (Manhattan) distance on the ``level`` lattice between node indices ``a`` and ``b``."""
        c = self.coords(level)
        return (c[a] - c[b]).abs().sum(-1)

    @torch.no_grad()
    def revive_dead(
        self, counts: list[torch.Tensor], mu0: torch.Tensor, generator: torch.Generator, optimizer=None
    ) -> list[int]:
        """Re-initialise the codes whose usage ``counts`` (one (K_i,) tensor per level) are zero.

        ``mu0`` holds recent encodings (k, d); ``generator`` (CPU) draws the sources and the noise; the
        Adam moments of the moved codes in ``optimizer`` (if given) are reset. Returns how many codes
        were re-initialised per level (see the module notes).
        """
        dead_per_level = [torch.nonzero(c == 0).flatten() for c in counts]
        if not any(d.numel() for d in dead_per_level):
            return [0] * len(counts)
        device = self.codes.device
        k = mu0.shape[0]
        spread = mu0.std(0, unbiased=False).clamp_min(1e-6) if k > 1 else torch.ones_like(mu0[0])
        for lvl, dead in enumerate(dead_per_level):
            if dead.numel() == 0:
                continue
            if lvl == 0:
                src = mu0[torch.randint(k, (dead.numel(),), generator=generator).to(device)]
            else:
                used = counts[lvl - 1].double().cpu()
                pick = torch.multinomial(used / used.sum(), dead.numel(), replacement=True, generator=generator)
                src = self.level_codes(lvl)[pick.to(device)]
            noise = torch.randn(src.shape, generator=generator).to(device) * 0.01 * spread
            rows = dead + self.offsets[lvl]
            self.codes[rows] = src + noise
            if self.gaussian:  # a revived code starts from the overall covariance
                self.cov_weight[rows] = 0.0
                self.cov_scatter[rows] = 0.0
            st = {} if optimizer is None else optimizer.state.get(self.codes)
            for key in ("exp_avg", "exp_avg_sq"):
                if st and key in st:
                    st[key][rows] = 0.0
        return [int(d.numel()) for d in dead_per_level]

    @torch.no_grad()
    def init_from(self, z: torch.Tensor, iterations: int = 20) -> None:
        """Place every map on encodings ``z`` (n, d) (after an autoencoder warm-up; DPSOM's recipe).

        S_1 is fitted to ``z`` by :func:`batch_som`, each S_i (i > 1) to the codes of S_(i-1) weighted by
        their usage; with Gaussian codes every code's statistics become those of the encodings it then
        discretises (at every level). The optimizer's moments of the codes must be reset by the caller.
        """
        z = z.detach().to(self.codes)
        x, weight = z, None
        for i, (h, w) in enumerate(self.maps):
            c = batch_som(x, h, w, weight=weight, iterations=iterations)
            self.codes[self._rows(i + 1)] = c
            if i + 1 < self.n_levels:
                weight = torch.bincount(torch.cdist(x, c).argmin(1), weights=weight, minlength=h * w).to(c)
                x = c
        if self.gaussian:
            zc = z - z.mean(0)
            self.cov_all.copy_(zc.T @ zc / max(1, z.shape[0] - 1))
            self.cov_weight.zero_()
            self.cov_scatter.zero_()
            g = torch.stack([k + self.offsets[i] for i, k in enumerate(self.chain(z))])
            r = z.unsqueeze(0) - self.codes[g]
            self.cov_weight.index_add_(0, g.flatten(), torch.ones_like(g.flatten(), dtype=z.dtype))
            self.cov_scatter.index_add_(0, g.flatten(), (r.unsqueeze(-1) * r.unsqueeze(-2)).flatten(0, 1))
