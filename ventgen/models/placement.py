"""Placing a map on encodings: a batch SOM whose neighbourhood shrinks to zero (DPSOM's recipe).

:func:`batch_som` fits the codes of one lattice to a set of points; :meth:`ventgen.models.som.SOMStack.init_from`
uses it to place every map after an autoencoder warm-up.
"""

from __future__ import annotations

import torch

__all__ = ["batch_som", "lattice_coords"]


def lattice_coords(h: int, w: int) -> torch.Tensor:
    """(h*w, 2) long tensor of (row, column) of every code, row-major."""
    k = torch.arange(h * w)
    return torch.stack([k // w, k % w], dim=1)


def batch_som(x: torch.Tensor, h: int, w: int, weight=None, iterations: int = 20) -> torch.Tensor:
    """(h*w, d) codes of an ``h x w`` lattice fitted to the rows of ``x`` by a batch SOM.

    The codes start on the plane of the first two principal components of ``x`` (lattice rows along
    the first, columns along the second, +- 2 standard deviations), then ``iterations`` batch updates
    (every code = the weighted mean of the rows whose best code lies within its Gaussian lattice
    neighbourhood) with a radius that shrinks from half the lattice to 0; the last quarter has radius
    0, i.e. k-means (Lloyd) steps. Codes that no row reaches keep their place. Deterministic.

    Examples
    --------
    >>> import torch
    >>> x = torch.cat([torch.randn(50, 2) * 0.1 + 5, torch.randn(50, 2) * 0.1 - 5])
    >>> c = batch_som(x, 2, 1)
    >>> sorted(round(float(v)) for v in c[:, 0])
    [-5, 5]
    """
    x = x.detach()
    wt = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) if weight is None else weight.to(x)
    mean = (wt[:, None] * x).sum(0) / wt.sum()
    xc = x - mean
    cov = (wt[:, None] * xc).T @ xc / wt.sum()
    evals, evecs = torch.linalg.eigh(cov.double())
    evals, evecs = evals.flip(0).clamp_min(0).to(x.dtype), evecs.flip(1).to(x.dtype)
    rc = lattice_coords(h, w).to(x)
    grid = torch.stack([_span(rc[:, 0], h), _span(rc[:, 1], w)], 1)  # (K, 2) in [-1, 1]
    k2 = min(2, x.shape[1])
    c = mean + 2.0 * (grid[:, :k2] * evals[:k2].sqrt()) @ evecs[:, :k2].T
    lat2 = ((rc[:, None, :] - rc[None, :, :]) ** 2).sum(-1)  # (K, K) squared lattice distances
    radius0 = max(h, w) / 2.0
    n_smooth = max(1, iterations - max(1, iterations // 4))
    for t in range(iterations):
        r = radius0 * (0.02 / radius0) ** (t / max(1, n_smooth - 1)) if t < n_smooth else 0.0
        nb = torch.exp(-lat2 / (2 * r * r)) if r > 0 else torch.eye(h * w, dtype=x.dtype, device=x.device)
        bmu = torch.cdist(x, c).argmin(1)
        hw = nb[:, bmu] * wt[None, :]  # (K, n)
        mass = hw.sum(1, keepdim=True)
        c = torch.where(mass > 1e-12, (hw @ x) / mass.clamp_min(1e-12), c)
    return c


def _span(i: torch.Tensor, n: int) -> torch.Tensor:
    return (2.0 * i / (n - 1) - 1.0) if n > 1 else torch.zeros_like(i)
