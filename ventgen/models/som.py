"""The stack of self-organizing maps of the HTVAE: lattices, nearest codes, parents, sigma, topology.

Maps ``S_1 .. S_M`` are 2-D lattices of ``h_i x w_i`` codes in the latent space, ``S_1`` the deepest and
largest. Code ``k`` of a lattice sits at row ``k // w``, column ``k % w`` (row-major). Everything here is
vectorised: nearest codes come from one :func:`torch.cdist` + ``argmin``; the 4-neighbour tables and the
lattice coordinates are precomputed buffers; the parent table of every code is computed once per step.

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

import itertools
import operator

import torch
from torch import nn

from .._core.limits import MAX_CODES_PER_MAP, MAX_MAPS
from ..errors import VentgenTypeError, VentgenValueError

__all__ = ["SOMStack", "check_maps", "lattice_neighbours", "lattice_coords"]

SIGMA_FLOOR = 1e-6


def check_maps(maps) -> list[tuple[int, int]]:
    """Validate a list of lattice sizes ``[(h1, w1), ..., (hM, wM)]`` with ``h_i w_i > h_(i+1) w_(i+1)``.

    At most :data:`~ventgen._core.limits.MAX_MAPS` maps of at most :data:`~ventgen._core.limits.MAX_CODES_PER_MAP`
    codes each. Returns the sizes as a list of ``(int, int)`` tuples; raises :class:`VentgenValueError`
    naming the offending map and the limit otherwise.
    """
    if isinstance(maps, (str, bytes)) or not hasattr(maps, "__iter__"):
        raise VentgenTypeError(f"maps must be a list of (height, width) pairs, got {maps!r}")
    n = len(maps) if hasattr(maps, "__len__") else None
    maps = list(itertools.islice(maps, MAX_MAPS + 1))
    if len(maps) > MAX_MAPS:
        raise VentgenValueError(
            f"maps: at most {MAX_MAPS} stacked maps are allowed, got {n or f'more than {MAX_MAPS}'}"
        )
    out = []
    for i, m in enumerate(maps, start=1):
        try:
            h, w = (operator.index(v) for v in m)
        except (TypeError, ValueError):
            raise VentgenValueError(
                f"maps[{i - 1}] (S_{i}) must be a (height, width) pair of integers, got {m!r}"
            ) from None
        if h < 1 or w < 1 or h * w < 2:
            raise VentgenValueError(
                f"maps[{i - 1}] (S_{i}) = {(h, w)}: a map needs positive sizes and at least 2 codes"
            )
        if h * w > MAX_CODES_PER_MAP:
            raise VentgenValueError(
                f"maps[{i - 1}] (S_{i}) = {h}x{w} has {h * w} codes; a map may have at most "
                f"{MAX_CODES_PER_MAP} codes (e.g. 256x256)"
            )
        out.append((h, w))
    if not out:
        raise VentgenValueError("maps must contain at least one (height, width) lattice")
    for i in range(1, len(out)):
        k_prev, k = out[i - 1][0] * out[i - 1][1], out[i][0] * out[i][1]
        if k >= k_prev:
            raise VentgenValueError(
                f"maps must shrink from S_1 (deepest) to S_M: S_{i + 1} = {out[i]} has {k} codes, "
                f"not fewer than S_{i} = {out[i - 1]} with {k_prev}; e.g. maps=[(8, 8), (4, 4), (2, 2)]"
            )
    return out


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
    def topology_loss(self, idx: list[torch.Tensor]) -> torch.Tensor:
        """Eq. 9 per sample: sum over levels of sum over the lattice neighbours e of mu_i of ||mu_i - e||^2.

        ``idx`` holds the local node indices of each level (list of M (n,) tensors); returns (n,).
        """
        g = torch.stack([k + self.offsets[i] for i, k in enumerate(idx)])  # (M, n) global rows
        return self._topology(g)

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
