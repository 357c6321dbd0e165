"""Memorisation: how close synthetic breaths come to real training breaths (distance to closest record)."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ..._core import check_random_state
from ...errors import VentgenValueError

__all__ = ["memorisation_check"]


def memorisation_check(real_X, synth_X, *, max_real: int = 20000, max_synthetic: int = 20000,
                       random_state=0) -> dict:
    """Nearest-real-neighbour distances of synthetic breaths vs real-to-real nearest distances.

    Features are standardised with the real statistics. For every synthetic breath: the distance to
    the nearest real (training) breath; for every real breath: the distance to the nearest *other* real
    breath. A generator that memorises puts synthetic breaths much closer to real ones than real
    breaths are to each other.

    The verdict ``passes`` is a distance-to-closest-record test: no exact copy, and no more synthetic
    breaths unusually or typically close to a training breath than real breaths are: at most 10 % below
    the real 5th percentile (5 % expected) and at most 60 % below the real median (50 % expected). It
    is not "no synthetic breath closer than the real median": fresh breaths from the real
    distribution itself put about half of their nearest distances below that median, so a per-breath
    rule would fail a perfect generator and reward one that avoids the dense regions of the data.

    Returns
    -------
    dict
        Quantiles (``p01``, ``p05``, ``median``) of both distance sets, ``min_synthetic``,
        ``fraction_below_real_p01`` / ``_p05`` / ``_median`` (share of synthetic breaths closer to a
        real breath than that quantile of the real-to-real distances; a generator that draws from the
        real distribution gives about 0.01 / 0.05 / 0.5), ``n_exact_copies``, ``passes`` and
        ``distances`` (the synthetic distances, an array).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(500, 6))
    >>> memorisation_check(real, real[:50] + 1e-9)["n_exact_copies"]
    50
    >>> memorisation_check(real, rng.normal(size=(200, 6)))["passes"]  # fresh draws of the same law
    True
    """
    rng = check_random_state(random_state)
    rX, sX = np.asarray(real_X, dtype=float), np.asarray(synth_X, dtype=float)
    if len(rX) < 3 or len(sX) < 1:
        raise VentgenValueError(f"memorisation_check: needs >= 3 real and >= 1 synthetic breaths, got {len(rX)}, {len(sX)}")
    if len(rX) > max_real:
        rX = rX[rng.choice(len(rX), max_real, replace=False)]
    if len(sX) > max_synthetic:
        sX = sX[rng.choice(len(sX), max_synthetic, replace=False)]
    mu, sd = rX.mean(axis=0), rX.std(axis=0)
    sd[sd == 0] = 1.0
    rZ, sZ = (rX - mu) / sd, (sX - mu) / sd
    nn = NearestNeighbors(n_neighbors=2).fit(rZ)
    d_rr = nn.kneighbors(rZ, 2, return_distance=True)[0][:, 1]
    d_sr = nn.kneighbors(sZ, 1, return_distance=True)[0][:, 0]
    q = {k: float(np.quantile(d_rr, v)) for k, v in (("p01", 0.01), ("p05", 0.05), ("median", 0.5))}
    scale = float(np.median(d_rr)) or 1.0
    n_copies = int((d_sr < 1e-6 * scale).sum())
    passes = bool(n_copies == 0 and (d_sr < q["p05"]).mean() <= 0.10 and (d_sr < q["median"]).mean() <= 0.60)
    return {
        "real_to_real_p01": q["p01"], "real_to_real_p05": q["p05"], "real_to_real_median": q["median"],
        "synthetic_to_real_p01": float(np.quantile(d_sr, 0.01)),
        "synthetic_to_real_p05": float(np.quantile(d_sr, 0.05)),
        "synthetic_to_real_median": float(np.median(d_sr)),
        "min_synthetic": float(d_sr.min()),
        "fraction_below_real_p01": float((d_sr < q["p01"]).mean()),
        "fraction_below_real_p05": float((d_sr < q["p05"]).mean()),
        "fraction_below_real_median": float((d_sr < q["median"]).mean()),
        "n_exact_copies": n_copies,
        "passes": passes,
        "n_real": int(len(rZ)), "n_synthetic": int(len(sZ)),
        "distances": d_sr,
    }
