"""Latents and lengths of the generated breaths.

Every breath belongs to a *component*: a (node, class) pair (the node alone for an explicit-node
entry). The reference breaths of that class in that node give the real lengths a breath of the
component is cut to and, with ``latent="data"``, its latent Gaussian (their encoded mean and spread).

``z = center + scale * (a * u_patient + sqrt(1 - a**2) * eps)``: the marginal of every breath is
exactly the component's Gaussian ``N(center, scale**2)``, and the share ``a`` of the deviation common
to one patient (``patient_variability``) makes a patient self-consistent and different from the others.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ..errors import VentgenValueError
from .reference import Encoded, NodePools
from .walk import chain_picks

__all__ = ["LENGTH_METHODS", "LATENT_SOURCES", "KDE_BANDWIDTH", "Components", "components", "draw_lengths",
           "draw_latents", "draw_kde", "nearest_lengths", "nearest_trees"]

#: How a decoded cycle's length is chosen: from the node's real lengths, from the decoded padding, or
#: from the reference breath nearest to the latent (see :func:`ventgen.generate_cohort`).
LENGTH_METHODS = ("node", "padding", "nearest")
#: Where the latent Gaussians come from: ``"node"`` = the paper's ``N(code, sigma**2)``; ``"data"`` =
#: the mean and per-dimension spread of the encoded reference breaths of the requested class in that
#: node (falls back to ``"node"`` for a node/class pair with fewer than 3 reference breaths); ``"kde"`` =
#: the encoding of a reference breath of the class in the node, drawn at random, with Gaussian jitter
#: (a smoothed bootstrap: the component's mean and spread are kept) and that breath's length.
LATENT_SOURCES = ("node", "data", "kde")
#: Default bandwidth of ``latent="kde"``, in units of the component's per-dimension spread. Measured
#: with the flow generator at its default learning rate (``benchmarks/README.md``, fourth session of
#: 2026-12-07): 0.15 against the former 0.3, the forest's discriminative score 0.110 -> 0.047 (simulated,
#: seed 4) and 0.108 -> 0.081 (ventmode, mode-balanced), memorisation still passing; the jitter that
#: once hid a blurred generator now moves breaths off the real ones.
KDE_BANDWIDTH = 0.15


@dataclass
class Components:
    """The (node, class) pairs the breaths are drawn from (the class is "" for an explicit node)."""

    of_breath: np.ndarray  # (N,) component of every breath
    gid: np.ndarray  # (n_comp,) global node id
    members: list  # reference breaths of the pair
    centers: np.ndarray  # (n_comp, d) latent means
    scales: np.ndarray  # (n_comp, d) latent standard deviations
    n_data: int  # components whose Gaussian comes from the data
    label: np.ndarray | None = None  # (n_comp,) str: the pair's class

    def __len__(self) -> int:
        return self.gid.size

    def of(self, gid: np.ndarray, label: np.ndarray) -> np.ndarray:
        """The component of every (global node id, class) pair; one clear error for a pair not in the table."""
        names = np.unique(self.label)
        code = np.searchsorted(names, label)
        known = (code < names.size) & (names[np.minimum(code, names.size - 1)] == label)
        keys = self.gid * names.size + np.searchsorted(names, self.label)
        key = np.asarray(gid, dtype=np.int64) * names.size + code
        c = np.minimum(np.searchsorted(keys, key), keys.size - 1)
        if not (known & (keys[c] == key)).all():
            raise VentgenValueError("a breath's (node, class) pair is not among the composition's components")
        return c

    def for_breaths(self, of_breath: np.ndarray) -> Components:
        """The same table, for the breaths ``of_breath`` (one patient's)."""
        return dataclasses.replace(self, of_breath=np.asarray(of_breath, dtype=np.int64))


def components(resolved: list, pools: NodePools, enc: Encoded | None) -> Components:
    """Every (node, class) pair the composition ``resolved`` can draw from, sorted by global node id
    then class (the class is "" for an explicit-node entry), with no breath yet (see
    :meth:`Components.for_breaths`); with ``enc`` (``latent="data"`` or ``"kde"``), the Gaussians of the
    pairs with at least 3 reference breaths come from their encodings."""
    pairs = set()
    for r in resolved:
        for g, lab in zip(pools.global_id(r.level, r.nodes), r.node_labels, strict=True):
            pairs.add((int(g), "" if r.entry.is_node else str(lab)))
    comp_g = np.array([g for g, _ in sorted(pairs)], dtype=np.int64)
    comp_lab = np.array([lab for _, lab in sorted(pairs)], dtype=str)
    members = [pools.members(int(comp_g[c]), comp_lab[c]) for c in range(comp_g.size)]
    centers, scales = pools.codes[comp_g].copy(), pools.sigmas[comp_g].copy()
    n_data = 0
    if enc is not None:
        for c, mem in enumerate(members):
            if mem.size >= 3:
                mean, std = enc.moments(int(comp_g[c]), str(comp_lab[c]), mem)
                centers[c] = mean
                scales[c] = std + 1e-6
                n_data += 1
    return Components(np.zeros(0, dtype=np.int64), comp_g, members, centers, scales, n_data, comp_lab)


def draw_lengths(comps: Components, pools: NodePools, n: int, method: str, rng) -> np.ndarray:
    """(n,) lengths in samples: with ``method="node"`` drawn per component (in a fixed order) from the
    real lengths of its reference breaths; zeros otherwise (set later)."""
    lens = np.zeros(n, dtype=np.int64)
    if method == "node":
        for c in np.unique(comps.of_breath):
            sel = np.flatnonzero(comps.of_breath == c)
            mem = comps.members[c]
            pool = pools.ref.lengths[mem] if mem.size else pools.lengths(int(comps.gid[c]))
            lens[sel] = rng.choice(pool, size=sel.size)
    return lens


def length_bounds(pools: NodePools) -> tuple:
    """(lo, hi): the shortest and longest real length of every node (``length_method="padding"``)."""
    lo = np.array([pools.lengths(int(g)).min() for g in range(pools.n_nodes)])
    hi = np.array([pools.lengths(int(g)).max() for g in range(pools.n_nodes)])
    return lo, hi


def draw_latents(comps: Components, patient: np.ndarray, u: np.ndarray, a: float, rng) -> np.ndarray:
    """(N, d) float32 latents: the component's Gaussian, a share ``a`` of the deviation per patient."""
    c = comps.of_breath
    eps = rng.standard_normal((c.size, comps.centers.shape[1]))
    return (comps.centers[c] + comps.scales[c] * (a * u[patient] + np.sqrt(1.0 - a * a) * eps)).astype(np.float32)


def draw_kde(comps: Components, patient: np.ndarray, u: np.ndarray, a: float, mu: np.ndarray,
             lengths: np.ndarray, bandwidth: float, rng, chain=None) -> tuple:
    """(N, d) float32 latents, (N,) lengths and (N,) components of ``latent="kde"``: per component (in a
    fixed order), reference breaths drawn at random among its members; with ``chain`` (``(entry, label,
    successors, table, restarts)``, see :func:`ventgen.generate.walk.chain_picks`) a breath continues the reference
    breath its predecessor was drawn from where it may, and takes that breath's component. Each breath
    takes its reference breath's encoding ``mu[i]`` and length, with jitter ``bandwidth * scale`` (a
    share ``a`` of it common to the patient), shrunk towards the component's mean by
    ``1 / sqrt(1 + bandwidth**2)`` so that its mean and spread stay those of the reference breaths (a
    smoothed bootstrap). Components without members use their Gaussian and a length of 0 (set by the
    caller)."""
    c = comps.of_breath
    d = comps.centers.shape[1]
    eps = a * u[patient] + np.sqrt(1.0 - a * a) * rng.standard_normal((c.size, d))
    pick = np.full(c.size, -1, dtype=np.int64)
    for k in np.unique(c):
        sel = np.flatnonzero(c == k)
        mem = comps.members[k]
        if mem.size >= 3:
            pick[sel] = mem[rng.integers(0, mem.size, size=sel.size)]
    if chain is not None:
        entry, label, succ, table, restart = chain
        pick, c = chain_picks(pick, c, entry, succ, table, label, comps.label, restart)
    Z = comps.centers[c] + comps.scales[c] * eps
    h = float(bandwidth)
    ok = pick >= 0
    m = comps.centers[c[ok]]
    Z[ok] = m + (mu[pick[ok]] - m + h * comps.scales[c[ok]] * eps[ok]) / np.sqrt(1.0 + h * h)
    lens = np.where(ok, lengths[np.maximum(pick, 0)], 0).astype(np.int64)
    return Z.astype(np.float32), lens, c


def nearest_lengths(lens: np.ndarray, Z: np.ndarray, comps: Components, pools: NodePools, enc: Encoded,
                    rng, trees: dict | None = None) -> None:
    """In place: each breath takes the length of the reference breath of its component whose encoding
    is nearest to its latent (distances scaled by the component's spread; ``length_method="nearest"``).

    A k-d tree per component (:class:`sklearn.neighbors.NearestNeighbors`; ``trees``: those of
    :func:`nearest_trees`, built once for the cohort): memory grows with the number of reference breaths,
    not with their product with the breaths generated.
    """
    for c in np.unique(comps.of_breath):
        sel = np.flatnonzero(comps.of_breath == c)
        mem = comps.members[c]
        if mem.size == 0:
            lens[sel] = rng.choice(pools.lengths(int(comps.gid[c])), size=sel.size)
            continue
        query = Z[sel] / comps.scales[c].astype(np.float32)
        nn = trees[int(c)] if trees is not None else _tree(enc.mu[mem] / comps.scales[c])
        lens[sel] = pools.ref.lengths[mem[nn.kneighbors(query, return_distance=False)[:, 0]]]


def _tree(points: np.ndarray) -> NearestNeighbors:
    return NearestNeighbors(n_neighbors=1, algorithm="kd_tree").fit(points.astype(np.float32))


def nearest_trees(comps: Components, mu: np.ndarray) -> dict:
    """The k-d tree of :func:`nearest_lengths` of every component with reference breaths (its members'
    encodings ``mu`` scaled by the component's spread)."""
    return {c: _tree(mu[mem] / comps.scales[c]) for c, mem in enumerate(comps.members) if mem.size}


def check_nearest(latent: str) -> None:
    if latent != "data":
        raise VentgenValueError(f"length_method='nearest' needs latent='data' (the encodings of the reference "
                                f"breaths), got latent={latent!r}")
