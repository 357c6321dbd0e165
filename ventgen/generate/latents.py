"""Latents and lengths of the generated breaths.

Every breath belongs to a *component*: a (node, class) pair (the node alone for an explicit-node
entry). The reference breaths of that class in that node give the real lengths a breath of the
component is cut to and, with ``latent="data"``, its latent Gaussian (their encoded mean and spread).

``z = center + scale * (a * u_patient + sqrt(1 - a**2) * eps)``: the marginal of every breath is
exactly the component's Gaussian ``N(center, scale**2)``, and the share ``a`` of the deviation common
to one patient (``patient_variability``) makes a patient self-consistent and different from the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ..errors import VentgenValueError
from .events import Events
from .reference import Encoded, NodePools

__all__ = ["LENGTH_METHODS", "LATENT_SOURCES", "Components", "components", "draw_lengths", "draw_latents",
           "nearest_lengths"]

#: How a decoded cycle's length is chosen: from the node's real lengths, from the decoded padding, or
#: from the reference breath nearest to the latent (see :func:`ventgen.generate_cohort`).
LENGTH_METHODS = ("node", "padding", "nearest")
#: Where the latent Gaussians come from: ``"node"`` = the paper's ``N(code, sigma**2)``; ``"data"`` =
#: the mean and per-dimension spread of the encoded reference breaths of the requested class in that
#: node (falls back to ``"node"`` for a node/class pair with fewer than 3 reference breaths).
LATENT_SOURCES = ("node", "data")


@dataclass
class Components:
    """The (node, class) pairs the breaths are drawn from."""

    of_breath: np.ndarray  # (N,) component of every breath
    gid: np.ndarray  # (n_comp,) global node id
    members: list  # reference breaths of the pair
    centers: np.ndarray  # (n_comp, d) latent means
    scales: np.ndarray  # (n_comp, d) latent standard deviations
    n_data: int  # components whose Gaussian comes from the data

    def __len__(self) -> int:
        return self.gid.size


def components(events: Events, is_node_entry: np.ndarray, pools: NodePools, enc: Encoded | None) -> Components:
    """The components of the breaths; with ``enc`` (``latent="data"``), the Gaussians of the pairs with
    at least 3 reference breaths come from their encodings."""
    key_lab = np.where(is_node_entry[events.entry], "", events.label)
    lab_names, lab_code = np.unique(key_lab, return_inverse=True)
    pair = events.gid * len(lab_names) + lab_code.ravel()
    upair, comp = np.unique(pair, return_inverse=True)
    comp_g = (upair // len(lab_names)).astype(np.int64)
    comp_lab = lab_names[upair % len(lab_names)]
    members = [pools.members(int(comp_g[c]), comp_lab[c]) for c in range(len(upair))]
    centers, scales = pools.codes[comp_g].copy(), pools.sigmas[comp_g].copy()
    n_data = 0
    if enc is not None:
        for c, mem in enumerate(members):
            if mem.size >= 3:
                mean, std = enc.moments(int(comp_g[c]), str(comp_lab[c]), mem)
                centers[c] = mean
                scales[c] = std + 1e-6
                n_data += 1
    return Components(comp.ravel(), comp_g, members, centers, scales, n_data)


def draw_lengths(comps: Components, pools: NodePools, n: int, method: str, rng) -> np.ndarray:
    """(n,) lengths in samples: with ``method="node"`` drawn per component (in a fixed order) from the
    real lengths of its reference breaths; zeros otherwise (set later)."""
    lens = np.zeros(n, dtype=np.int64)
    if method == "node":
        for c in range(len(comps)):
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


def nearest_lengths(lens: np.ndarray, Z: np.ndarray, comps: Components, pools: NodePools, enc: Encoded,
                    rng) -> None:
    """In place: each breath takes the length of the reference breath of its component whose encoding
    is nearest to its latent (distances scaled by the component's spread; ``length_method="nearest"``).

    A k-d tree per component (:class:`sklearn.neighbors.NearestNeighbors`): memory grows with the
    number of reference breaths, not with their product with the breaths generated.
    """
    mu_ref = enc.mu
    for c in range(len(comps)):
        sel = np.flatnonzero(comps.of_breath == c)
        mem = comps.members[c]
        if mem.size == 0:
            lens[sel] = rng.choice(pools.lengths(int(comps.gid[c])), size=sel.size)
            continue
        ref_z = (mu_ref[mem] / comps.scales[c]).astype(np.float32)
        query = Z[sel] / comps.scales[c].astype(np.float32)
        nn = NearestNeighbors(n_neighbors=1, algorithm="kd_tree").fit(ref_z)
        lens[sel] = pools.ref.lengths[mem[nn.kneighbors(query, return_distance=False)[:, 0]]]


def check_nearest(latent: str) -> None:
    if latent != "data":
        raise VentgenValueError("length_method='nearest' needs latent='data' (the encodings of the reference breaths)")
