"""The upper maps as merges of the level-1 Gaussians, after training (``upper_levels="merged"``).

With ``upper_levels="merged"`` (:class:`ventgen.models.config.HTVAEConfig`) the HTVAE trains as usual;
then :func:`merge_upper_maps` rebuilds every upper map S_i (i > 1) from level 1:

1. every used code k of S_1 is the Gaussian of the training encodings ``mu_0`` it holds (weight: their
   number; mean and covariance: theirs, the covariance shrunk toward the pooled within-code covariance
   by the :data:`~ventgen.models.som.COV_PRIOR` pseudo-samples the maps use);
2. the two Gaussians whose merge loses the least likelihood are merged into one (the moment-matched
   Gaussian of both), again and again (Runnalls' greedy mixture reduction; A. R. Runnalls, "Kullback-Leibler
   approach to Gaussian mixture reduction", IEEE Trans. Aerosp. Electron. Syst. 43(3), 2007): when
   K_i groups are left they are the nodes of S_i, and the merging goes on to the next map's K_(i+1);
3. the groups of each map are matched to its trained codes (least total squared distance) to keep their
   lattice places; a group's code is its mean and its covariance is the group's.

The tree is nested by construction: a node's parent is the group it merged into; a code of S_1 that
holds no encodings takes the group with the nearest mean. A sample's node at level i is still the parent
of its node at level i-1 (the chain of eq. 4), and sampling from an upper node draws from its Gaussian,
which is the mean and covariance of the training encodings under it. Deterministic: no random start.

Why: the trained chain discretises the level-1 codes by nearest code once per level and throws away the
shape of the clusters they form. On MNIST (paper protocol, K = 64, three seeds) the trained chain gave
level-2 purity 0.838 +- 0.039 and level-3 NMI 0.582; the merged maps 0.925 +- 0.004 and 0.655, above
VAE-RGMM (0.850, 0.591) at every level. A Gaussian mixture refitted to the encodings by EM from the
trained codes, the chain kept by member majority, varied with its random start from 0.84 to 0.93
(benchmarks/README.md).

Examples
--------
>>> import torch
>>> from ventgen.models.som import SOMStack
>>> som = SOMStack([(4, 4), (2, 2)], latent_dim=2, seed=0, covariance="full", stored_upper=True)
>>> z = torch.cat([torch.randn(200, 2) * 0.3 + 4, torch.randn(200, 2) * 0.3 - 4])
>>> som.init_from(z)
>>> merge_upper_maps(som, z)["n_used"]
[4]
>>> som.upper_stored
True
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..errors import VentgenValueError
from .som import COV_PRIOR

__all__ = ["merge_upper_maps", "greedy_merge", "merge_model_upper", "merge_trained_model", "MAX_MERGE_SAMPLES"]

#: encodings the level-1 Gaussians are estimated from at most (a seeded random subset of the training set)
MAX_MERGE_SAMPLES = 20_000


def _merged(w, mu, cov, a, b):
    """Weight, mean and covariance of the moment-matched merge of Gaussian ``a`` with each of ``b``."""
    wt = w[a] + w[b]
    fa, fb = w[a] / wt, w[b] / wt
    dm = mu[b] - mu[a]
    m = mu[a] + fb[:, None] * dm
    c = fa[:, None, None] * cov[a] + fb[:, None, None] * cov[b] + (fa * fb)[:, None, None] * dm[:, :, None] * dm[:, None, :]
    return wt, m, c


def greedy_merge(w, mu, cov, sizes) -> list[np.ndarray]:
    """Runnalls' greedy reduction of a Gaussian mixture, recorded at several sizes.

    Parameters
    ----------
    w : array (n,)
        Weights (> 0).
    mu, cov : arrays (n, d), (n, d, d)
        Means and (positive definite) covariances.
    sizes : sequence of int
        Decreasing numbers of components to record.

    Returns
    -------
    list of arrays (n,)
        For every size, the group (0 .. size-1, in order of first member) of every component. Groups
        are nested: a group at a smaller size is a union of groups at the larger ones.

    Examples
    --------
    >>> import numpy as np
    >>> mu = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> [g.tolist() for g in greedy_merge(np.ones(4), mu, np.full((4, 1, 1), 0.01), [2, 1])]
    [[0, 0, 1, 1], [0, 0, 0, 0]]
    """
    w, mu, cov = (np.asarray(v, dtype=np.float64).copy() for v in (w, mu, cov))
    n = len(w)
    logdet = np.linalg.slogdet(cov)[1]
    cost = np.full((n, n), np.inf)

    def row(a, alive):
        b = np.flatnonzero(alive)
        b = b[b != a]
        if len(b):
            wt, _, c = _merged(w, mu, cov, a, b)
            cost[a, b] = cost[b, a] = 0.5 * (wt * np.linalg.slogdet(c)[1] - w[a] * logdet[a] - w[b] * logdet[b])

    alive = np.ones(n, dtype=bool)
    for a in range(n):
        row(a, alive)
    group = np.arange(n)
    out = []
    for size in sizes:
        while alive.sum() > size:
            a, b = np.unravel_index(np.argmin(cost), cost.shape)
            a, b = min(a, b), max(a, b)
            w[a], mu[a], cov[a] = (v[0] for v in _merged(w, mu, cov, a, np.array([b])))
            logdet[a] = np.linalg.slogdet(cov[a])[1]
            alive[b] = False
            cost[b, :] = cost[:, b] = np.inf
            group[group == b] = a
            row(a, alive)
        out.append(np.unique(group, return_inverse=True)[1].reshape(-1))
    return out


def _member_gaussians(z: np.ndarray, k1: np.ndarray, n_codes: int):
    """Weight, mean and covariance of the encodings each level-1 code holds (zero weight: none), the
    covariance shrunk toward the pooled within-code covariance (a code with few encodings takes the
    typical code's shape, not the spread of all the data, which would let it merge with anything)."""
    d = z.shape[1]
    w = np.bincount(k1, minlength=n_codes).astype(np.float64)
    s1 = np.zeros((n_codes, d))
    np.add.at(s1, k1, z)
    mu = s1 / np.maximum(w, 1)[:, None]
    r = z - mu[k1]
    scatter = np.zeros((n_codes, d, d))
    np.add.at(scatter, k1, r[:, :, None] * r[:, None, :])
    pooled = scatter.sum(0) / max(len(z), 1)  # the typical code's shape: the pooled within-code covariance
    pooled += np.eye(d) * 1e-6 * max(float(np.trace(pooled)) / d, float(z.var(0).mean()) * 1e-6, 1e-12)
    cov = (scatter + COV_PRIOR * pooled) / (w + COV_PRIOR)[:, None, None]
    return w, mu, cov


@torch.no_grad()
def merge_upper_maps(som, z, *, max_samples: int = MAX_MERGE_SAMPLES, random_state: int = 0) -> dict:
    """Rebuild the upper maps of ``som`` (built with ``stored_upper=True``) as merges of the level-1
    Gaussians of the encodings ``z`` (n, d) (see the module notes).

    Parameters
    ----------
    som : SOMStack
        Trained maps with Gaussian codes; changed in place (:meth:`SOMStack.set_upper`).
    z : tensor or array (n, d)
        Training encodings mu_0.
    max_samples : int
        At most this many encodings are used (a subset drawn with ``random_state``).
    random_state : int
        Seed of that subset (the merge itself is deterministic).

    Returns
    -------
    dict
        ``n_used``: per upper map, how many of its nodes the encodings reach (all of them unless fewer
        level-1 codes hold encodings than the map has codes; the others keep their trained code and
        covariance, and hold nothing).
    """
    from scipy.optimize import linear_sum_assignment

    z = torch.as_tensor(z).detach().to(device=som.codes.device, dtype=som.codes.dtype)
    if z.shape[0] > max_samples:
        z = z[torch.as_tensor(_subset(z.shape[0], max_samples, random_state), device=z.device)]
    sizes = [h * w for h, w in som.maps]
    k1 = som.nearest(z, 1).cpu().numpy()
    x = z.cpu().double().numpy()
    w, mu, cov = _member_gaussians(x, k1, sizes[0])
    used = np.flatnonzero(w > 0)
    k_eff = [min(k, len(used)) for k in sizes[1:]]  # with fewer used codes than nodes some nodes stay empty
    groups = greedy_merge(w[used], mu[used], cov[used], k_eff)
    all_cov = som.covariances().detach().cpu().double().numpy()
    codes, covs, parents, n_used = [], [], [], []
    child_of = np.arange(sizes[0])  # node of every level-1 code at the level below the one being built
    for level, (g, kg) in enumerate(zip(groups, k_eff, strict=True), start=2):
        wu, mu_u, cov_u = w[used], mu[used], cov[used]
        moments = [_moments(wu[g == j], mu_u[g == j], cov_u[g == j]) for j in range(kg)]
        gmu, gcov = np.stack([m for m, _ in moments]), np.stack([c for _, c in moments])
        trained = som.level_codes(level).detach().cpu().double().numpy()
        _, place = linear_sum_assignment(((gmu[:, None, :] - trained[None, :, :]) ** 2).sum(-1))
        parent = np.full(sizes[level - 2], -1, dtype=np.int64)
        parent[child_of[used]] = place[g]  # nested groups: all level-1 codes under a node share its group
        orphan = np.flatnonzero(parent < 0)  # nodes below that hold no encodings: the nearest group
        if len(orphan):
            below = som.level_codes(level - 1).detach().cpu().double().numpy()[orphan]
            parent[orphan] = place[((below[:, None, :] - gmu[None]) ** 2).sum(-1).argmin(1)]
        parents.append(parent)
        rows = som._rows(level)
        new_codes, new_cov = trained.copy(), all_cov[rows].copy()  # empty nodes keep theirs
        new_codes[place], new_cov[place] = gmu, gcov
        codes.append(new_codes)
        covs.append(new_cov)
        child_of = parent[child_of]
        n_used.append(int(np.unique(child_of[k1]).size))
    som.set_upper(codes, covs, parents)
    return {"n_used": n_used}


def _moments(w, mu, cov):
    """Mean and covariance of the moment-matched merge of a group of weighted Gaussians."""
    m = (w[:, None] * mu).sum(0) / w.sum()
    dm = mu - m
    return m, (w[:, None, None] * (cov + dm[:, :, None] * dm[:, None, :])).sum(0) / w.sum()


def _subset(n: int, max_samples: int, random_state) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``max_samples`` of ``n`` rows (all rows when n is smaller)."""
    if n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, max_samples, replace=False))


def merge_model_upper(model, arr: np.ndarray, dist=None) -> None:
    """The fitting step of a trained :class:`ventgen.HTVAE` with ``upper_levels="merged"``: its upper maps
    rebuilt from the encodings of (a subset, seeded by the model's training seed, of) its training cycles
    ``arr`` (original units). A no-op for ``upper_levels="trained"``, with one map, or when the maps are
    merged already (a resumed, finished training). With DDP (``dist``) every rank takes rank 0's maps.
    """
    som = model.module_.som
    if model.config_.upper_levels != "merged" or som.upper_stored or som.n_levels < 2:
        return
    sub = _subset(arr.shape[0], MAX_MERGE_SAMPLES, model.seeds_[1])  # only these are encoded
    merge_upper_maps(som, model.transform(arr[sub]))
    if dist is not None and som.upper_stored:
        for t in (som.codes.data, som.upper_cov, som.upper_parents):
            dist.broadcast(t)


def merge_trained_model(model, arr: np.ndarray) -> None:
    """:meth:`ventgen.HTVAE.merge_upper_levels`: a model trained with ``upper_levels="trained"`` turned
    into the one ``upper_levels="merged"`` trains (the merge is a step after training, so the two are
    the same model when ``arr`` holds the training cycles, in original units)."""
    cfg = model.config_
    if cfg.covariance == "lattice":
        raise VentgenValueError("merging the upper maps needs Gaussian codes; this model has covariance='lattice'")
    if model.module_.som.upper_stored:
        raise VentgenValueError("the upper maps of this model are merged already")
    if cfg.upper_levels != "merged":
        state = model.module_.state_dict()
        model.config_ = dataclasses.replace(cfg, upper_levels="merged")
        model.upper_levels = "merged"
        module = model._build(model.input_shape_, model.seeds_[0])
        missing, unexpected = module.load_state_dict(state, strict=False)
        if unexpected or not all(k.startswith("som.upper_") for k in missing):  # only the new buffers are new
            raise RuntimeError(f"merge_upper_levels: weights do not fit (missing {missing}, unexpected {unexpected})")
        model.module_ = module.to(model.device_).eval()
    merge_model_upper(model, arr)
