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

__all__ = ["SOMStack", "lattice_neighbours", "lattice_coords"]

SIGMA_FLOOR = 1e-6


def lattice_coords(h: int, w: int) -> torch.Tensor:
    """(h*w, 2) long tensor of (row, column) of every code, row-major."""
    k = torch.arange(h * w)
    return torch.stack([k // w, k % w], dim=1)


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

    Notes
    -----
    Levels are 1-based in every public method (level 1 = S_1), as in the paper. The codes of all levels
    live in ONE parameter ``codes`` of shape (K_1 + ... + K_M, d), level i in rows
    ``offsets[i-1]:offsets[i]``; the neighbour tables use the same global row numbers. One tensor for
    all levels lets a training step gather, sample and penalise every level with a handful of kernels
    instead of a handful per level (:meth:`step`), which keeps the SOM machinery cheap next to the
    networks.
    """

    def __init__(self, maps, latent_dim: int, sigma_init: float = 1.0, rho: float = 2.0, seed=None):
        super().__init__()
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
    def nearest(self, z: torch.Tensor, level: int = 1) -> torch.Tensor:
        """Index of the nearest code of ``level`` for every row of ``z`` (n, d) -> (n,)."""
        return torch.cdist(z.detach(), self.level_codes(level).detach()).argmin(dim=1)

    def parents(self) -> list[torch.Tensor]:
        """The learned tree: ``parents()[i-1][k]`` = nearest code of S_(i+1) to code k of S_i.

        M-1 long tensors of local indices, computed for all codes at once from the current codes.
        """
        c = self.codes.detach()
        o = self.offsets
        return [
            torch.cdist(c[o[i] : o[i + 1]], c[o[i + 1] : o[i + 2]]).argmin(dim=1)
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
        c = self.codes.detach()
        diff = (c[:, None, :] - c[self._nbr]).abs()
        diff = diff.masked_fill(~self._mask[:, :, None], float("inf"))
        return (diff.amin(dim=1) / self.rho).clamp_min(SIGMA_FLOOR)

    def sigma(self, level: int) -> torch.Tensor:
        """(K, d) per-dimension sigma of every code of ``level`` (detached from the codes).

        sigma[k, j] = min over existing 4-neighbours e of |code_k[j] - e[j]| / rho, floored at 1e-6 so
        that it stays positive and finite.
        """
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
        return z, idx, self._topology(g, mu), parents

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
            st = {} if optimizer is None else optimizer.state.get(self.codes)
            if st:
                for key in ("exp_avg", "exp_avg_sq"):
                    if key in st:
                        st[key][rows] = 0.0
        return [int(d.numel()) for d in dead_per_level]
