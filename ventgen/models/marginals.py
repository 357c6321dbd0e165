"""Calibrating a generator's marginals to the real breaths: per-class, per-position quantile mapping.

A conditional generator gets the joint shape of a breath right but can blur a marginal that real breaths
hold sharply: the first flow sample of a breath that a ventilator marks at its trigger lies in a narrow
band just above the trigger threshold (on the ventmode recordings 95 % of them between 3 and 4.3 L/min,
where the flow generator spread them up to 8). :class:`MarginalMap` moves a sample of a generated breath
through the monotone map ``F_real^-1(F_gen(x))`` of its class, its channel and its position in the
breath (the quantile mapping of climate-model bias correction). Each position's values keep their
order, so the generator's dependence between samples (its copula) is kept, and each mapped position's
distribution becomes the real one:

* ``F_real`` are the quantiles of the real training breaths of the class at that position (inside the
  breath: a breath shorter than the position does not count);
* ``F_gen`` are those of the generator's breaths for real breaths' own latents and lengths (the
  reconstruction ceiling's breaths), drawn once at the end of training;
* a (class, channel, position) with fewer than ``min_count`` breaths on either side is left alone, and
  a class the map does not know (another reference's label) takes the map of all classes pooled;
* ``alpha`` maps only where a two-sample KS test tells the two marginals apart, and ``leading`` only
  the run of such positions that starts the breath (what :func:`~ventgen.models.generator_stage.calibrate_generator`
  fits). Mapping every position the test flags also moved isolated positions in the middle of the
  breath, and the kinks that left were seen by the CNN: on the ventmode mode-balanced cohort, CNN
  score 0.150 against 0.080 for the leading run, and the random forest's 0.121 against 0.128.

A value beyond the generator's own range (rarer than one in the breaths the map was fitted on) takes
the real extreme.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> real = rng.uniform(3.0, 4.0, (500, 1, 4)).astype(np.float32)     # a sharp band
>>> gen = rng.normal(3.5, 1.0, (500, 1, 4)).astype(np.float32)       # blurred by the generator
>>> L = np.full(500, 4)
>>> m = MarginalMap.fit(real, L, np.full(500, "a"), gen, L, np.full(500, "a"), min_count=50)
>>> x = rng.normal(3.5, 1.0, (200, 1, 4)).astype(np.float32)
>>> y = m.apply(x.copy(), np.full(200, 4), np.full(200, "a"))
>>> bool(y.min() > 2.9 and y.max() < 4.1), bool(np.all(np.argsort(y[:, 0, 0]) == np.argsort(x[:, 0, 0])))
(True, True)
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import VentgenValueError
from ..signals.cycles import edge_pad

__all__ = ["MarginalMap", "N_QUANTILES", "MIN_COUNT"]

#: Quantiles stored per (class, channel, position).
N_QUANTILES = 33
#: A (class, channel, position) needs this many breaths on each side to be mapped.
MIN_COUNT = 50


class MarginalMap:
    """Per-class, per-channel, per-position quantile maps from a generator's breaths to real ones.

    Parameters
    ----------
    labels : list of str
        The classes; entry 0 is ``""``, all classes pooled (the fallback).
    real, gen : arrays (G, C, T, Q) float32
        Quantiles of the real and of the generated values, increasing along the last axis.
    valid : array (G, C, T) bool
        Where the map applies.
    """

    def __init__(self, labels, real: np.ndarray, gen: np.ndarray, valid: np.ndarray):
        self.labels = [str(v) for v in labels]
        self.real = np.asarray(real, dtype=np.float32)
        self.gen = np.asarray(gen, dtype=np.float32)
        self.valid = np.asarray(valid, dtype=bool)

    def __repr__(self) -> str:
        G, C, T, Q = self.real.shape
        return f"MarginalMap({G - 1} classes, {C} channels x {T} samples, {Q} quantiles, {self.valid.mean():.0%} mapped)"

    @classmethod
    def fit(cls, real, real_lengths, real_labels, gen, gen_lengths, gen_labels, *,
            n_quantiles: int = N_QUANTILES, min_count: int = MIN_COUNT, alpha: float | None = None,
            leading: bool = False) -> MarginalMap:
        """The maps from the generated cycles ``gen`` (m, C, T) to the real ``real`` (n, C, T), both
        in original units with their lengths and labels (the generated breaths are drawn for real
        breaths of the same labels). ``alpha``: map only where a two-sample KS test rejects equal
        marginals at this level; ``leading``: only the run of such positions that starts the breath."""
        real_labels, gen_labels = np.asarray(real_labels).astype(str), np.asarray(gen_labels).astype(str)
        labels = ["", *sorted(set(real_labels.tolist()) - {""})]
        C, T = np.shape(real)[1:]
        qs = np.linspace(0.0, 1.0, int(n_quantiles))
        R = np.zeros((len(labels), C, T, qs.size), np.float32)
        Gq = np.zeros_like(R)
        valid = np.zeros((len(labels), C, T), bool)
        for g, lab in enumerate(labels):
            ir = slice(None) if lab == "" else real_labels == lab
            ig = slice(None) if lab == "" else gen_labels == lab
            R[g], nr = _quantiles(np.asarray(real)[ir], np.asarray(real_lengths)[ir], qs, min_count)
            Gq[g], ng = _quantiles(np.asarray(gen)[ig], np.asarray(gen_lengths)[ig], qs, min_count)
            valid[g] = (nr >= min_count) & (ng >= min_count)
            if alpha is not None:  # only where the two differ: a two-sample KS test at level alpha
                crit = np.sqrt(-0.5 * np.log(alpha / 2)) * np.sqrt((nr + ng) / np.maximum(nr * ng, 1))
                valid[g] &= _ks(R[g], Gq[g], qs) > crit
        if leading:  # only the run of mapped positions that starts the breath
            valid = np.logical_and.accumulate(valid, axis=-1)
        return cls(labels, R, Gq, valid)

    def apply(self, X: np.ndarray, lengths, labels=None) -> np.ndarray:
        """Map the cycles ``X`` (n, C, T, original units, breath ``i`` ``lengths[i]`` samples long) in
        place and return them, edge-padded again after each length; ``labels`` (n,) picks each
        breath's class (None or an unknown label: all classes pooled)."""
        n = X.shape[0]
        lengths = np.clip(np.asarray(lengths, dtype=np.int64), 1, X.shape[-1])
        lab = np.full(n, "") if labels is None else np.asarray(labels).astype(str)
        if lengths.shape != (n,) or lab.shape != (n,):
            raise VentgenValueError(f"MarginalMap.apply: {n} cycles need {n} lengths and labels, "
                                    f"got shapes {lengths.shape} and {lab.shape}")
        index = {v: i for i, v in enumerate(self.labels)}
        grp = np.array([index.get(v, 0) for v in lab.tolist()])
        C, T = X.shape[1:]
        for g in np.unique(grp):
            cols = np.flatnonzero(self.valid[g].ravel())  # the mapped (channel, position) pairs only
            if cols.size:
                rows = np.flatnonzero(grp == g)[:, None]
                c, t = cols // T, cols % T
                X[rows, c, t] = _map(X[rows, c, t], self.gen[g, c, t], self.real[g, c, t])
        return edge_pad(X, lengths)

    # ------------------------------------------------------------------ storage
    def to_state(self) -> dict:
        return {"labels": list(self.labels), "real": self.real, "gen": self.gen, "valid": self.valid}

    @classmethod
    def from_state(cls, state: dict) -> MarginalMap:
        return cls(state["labels"], np.asarray(state["real"]), np.asarray(state["gen"]), np.asarray(state["valid"]))

    @staticmethod
    def check_state(state, channels: int, length: int) -> str | None:
        """None when ``state`` is a well-formed map for cycles (channels, length), else what is wrong."""
        if not isinstance(state, dict) or not isinstance(state.get("labels"), list) or not state["labels"] \
                or state["labels"][0] != "":
            return "must hold its labels, the first one ''"
        G = len(state["labels"])
        shapes = {"real": 4, "gen": 4, "valid": 3}
        for k, nd in shapes.items():
            a = np.asarray(state.get(k))
            if a.ndim != nd or a.shape[:3] != (G, channels, length):
                return f"{k} must have shape ({G}, {channels}, {length}{', Q' if nd == 4 else ''})"
        real, gen = np.asarray(state["real"]), np.asarray(state["gen"])
        if real.shape != gen.shape or not (np.isfinite(real).all() and np.isfinite(gen).all()):
            return "real and gen must be finite quantiles of the same shape"
        if (np.diff(real, axis=-1) < 0).any() or (np.diff(gen, axis=-1) < 0).any():
            return "its quantiles must increase"
        return None


def _quantiles(X: np.ndarray, lengths: np.ndarray, qs: np.ndarray, min_count: int) -> tuple:
    """((C, T, Q) quantiles of the values inside the breaths at every position, zero where fewer than
    ``min_count`` breaths reach it; (T,) breaths that reach each position)."""
    n, C, T = X.shape
    inside = np.arange(T)[None, :] < np.asarray(lengths)[:, None]  # (n, T)
    count = inside.sum(0)
    vals = np.where(inside[:, None, :], X, np.nan).astype(np.float64)
    with warnings.catch_warnings():  # positions no breath reaches are all-NaN: left alone below
        warnings.simplefilter("ignore", RuntimeWarning)
        q = np.nanquantile(vals, qs, axis=0) if n else np.full((qs.size, C, T), np.nan)  # (Q, C, T)
    q = np.moveaxis(q, 0, -1)
    q = np.where((count >= min_count)[None, :, None], q, 0.0)
    return np.maximum.accumulate(q, axis=-1).astype(np.float32), count


def _ks(qr: np.ndarray, qg: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """(C, T) Kolmogorov-Smirnov distance between two distributions given by their quantiles (C, T, Q),
    read at the quantiles of both."""
    C, T, _ = qr.shape
    out = np.zeros((C, T))
    for c in range(C):
        for t in range(T):
            a, b = qr[c, t], qg[c, t]
            grid = np.r_[a, b]
            out[c, t] = np.abs(np.interp(grid, a, qs, 0, 1) - np.interp(grid, b, qs, 0, 1)).max()
    return out


def _map(V: np.ndarray, qg: np.ndarray, qr: np.ndarray) -> np.ndarray:
    """The values ``V`` (n, k) of k (channel, position) pairs through their piecewise-linear maps
    ``qg -> qr`` (k, Q)."""
    Q = qg.shape[-1]
    k = (V[..., None] >= qg[None]).sum(-1)  # (n, k) knot interval: generated quantiles at or below
    lo = np.clip(k - 1, 0, Q - 2)[..., None]
    g0, g1 = np.take_along_axis(qg[None], lo, -1)[..., 0], np.take_along_axis(qg[None], lo + 1, -1)[..., 0]
    r0, r1 = np.take_along_axis(qr[None], lo, -1)[..., 0], np.take_along_axis(qr[None], lo + 1, -1)[..., 0]
    w = np.clip((V - g0) / np.maximum(g1 - g0, 1e-12), 0.0, 1.0)  # beyond the ends: the real extremes
    return (r0 + w * (r1 - r0)).astype(V.dtype)
