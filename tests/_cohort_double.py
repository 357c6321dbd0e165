"""A small stand-in for a fitted HTVAE and a labelled CycleSet, for the cohort tests.

The "model" has a 4-d latent space of interpretable breath parameters (peak flow, inspiratory share,
length, PEEP), standardised; ``decode`` draws the parametric waveform, ``assign`` reads the parameters
back from a cycle and takes the nearest code, level by level, like the HTVAE discretisation chain.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from sklearn.cluster import KMeans

T = 200
RATE = 25.0

#: class -> (peak flow L/min, inspiratory share, length in samples, PEEP, run length range)
CLASSES = {
    "normal breathing": (30.0, 0.38, 100.0, 5.0, (10, 30)),
    "apnea": (3.0, 0.30, 180.0, 5.0, (2, 5)),
    "snoring": (48.0, 0.45, 80.0, 5.5, (3, 8)),
}


def waves(params: np.ndarray, T: int = T) -> np.ndarray:
    """(n, 4) parameters -> (n, 2, T) float32 flow/pressure cycles, edge-padded after the length."""
    amp, share, L, peep = (params[:, i][:, None] for i in range(4))
    L = np.clip(np.round(L), 10, T)
    ti = np.maximum(np.round(share * L), 2)
    t = np.arange(T)[None, :].astype(float)
    te = np.maximum(L - ti, 2)
    insp = amp * np.sin(np.pi * np.minimum(t, ti) / ti)
    exp_amp = amp * ti / te
    exp_ = -exp_amp * np.sin(np.pi * np.clip(t - ti, 0, te) / te)
    flow = np.where(t < ti, insp, exp_)
    vol = np.cumsum(flow, axis=1) / RATE / 60 * 1000  # mL
    pres = peep + 0.02 * vol
    tt = np.minimum(t, L - 1).astype(int)  # edge padding: hold the last value
    flow = np.take_along_axis(flow, tt, axis=1)
    pres = np.take_along_axis(pres, tt, axis=1)
    return np.stack([flow, pres], axis=1).astype(np.float32)


def params_of(X: np.ndarray) -> np.ndarray:
    """Read (peak flow, inspiratory share, length, PEEP) back from cycles."""
    f = X[:, 0, :].astype(float)
    amp = f.max(axis=1)
    moving = np.abs(np.diff(f, axis=1)) > 1e-6
    last = moving.shape[1] - 1 - np.argmax(moving[:, ::-1], axis=1)
    L = np.where(moving.any(axis=1), last + 2, f.shape[1]).astype(float)
    ti = np.argmax(f < -1e-6, axis=1).astype(float)
    return np.stack([amp, ti / L, L, X[:, 1, 0]], axis=1)


def make_reference(n_subjects: int = 3, per_subject: int = 300, seed: int = 0):
    """A labelled CycleSet look-alike with runs of events and per-breath jitter."""
    rng = np.random.default_rng(seed)
    names = list(CLASSES)
    labels, subjects, params = [], [], []
    for s in range(n_subjects):
        n = 0
        while n < per_subject:
            c = names[rng.choice(3, p=[0.6, 0.2, 0.2])]
            amp, share, L, peep, (r0, r1) = CLASSES[c]
            k = int(rng.integers(r0, r1 + 1))
            p = np.column_stack([
                amp * (1 + 0.1 * rng.standard_normal(k)),
                share + 0.02 * rng.standard_normal(k),
                L * (1 + 0.08 * rng.standard_normal(k)),
                peep + 0.2 * rng.standard_normal(k),
            ])
            params.append(p)
            labels += [c] * k
            subjects += [f"s{s}"] * k
            n += k
    P = np.concatenate(params)
    P[:, 2] = np.clip(np.round(P[:, 2]), 20, T)
    X = waves(P)
    sup = np.array(["normal breathing" if v == "normal breathing" else "respiratory event" for v in labels])
    return SimpleNamespace(X=X, lengths=P[:, 2].astype(np.int64), labels=np.array(labels), superclasses=sup,
                           subjects=np.array(subjects), sampling_rate=RATE, channels=["flow_lpm", "paw_cmh2o"])


class DoubleModel:
    """Implements the part of the HTVAE contract generate_cohort uses."""

    def __init__(self, reference, maps=((3, 3), (1, 2)), sigma=0.05, seed=0):
        self.maps = [tuple(m) for m in maps]
        P = params_of(reference.X)
        self.mean_, self.std_ = P.mean(axis=0), P.std(axis=0) + 1e-9
        Z = (P - self.mean_) / self.std_
        self.codes_ = []
        pts = Z
        for h, w in self.maps:
            km = KMeans(n_clusters=h * w, n_init=4, random_state=seed).fit(pts)
            self.codes_.append(km.cluster_centers_)
            pts = km.cluster_centers_
        self.tree_ = [self._nearest(self.codes_[i + 1], self.codes_[i]) for i in range(len(self.maps) - 1)]
        self.sigma = sigma
        self.n_decoded = 0

    @staticmethod
    def _nearest(codes, Z):
        return np.argmin(((Z[:, None, :] - codes[None]) ** 2).sum(-1), axis=1)

    def codebook(self, level):
        return self.codes_[level - 1].copy()

    def node_sigma(self, level):
        return np.full_like(self.codes_[level - 1], self.sigma)

    def transform(self, X):
        return (params_of(np.asarray(X)) - self.mean_) / self.std_

    def assign(self, X):
        k = self._nearest(self.codes_[0], self.transform(X))
        cols = [k]
        for t in self.tree_:
            k = t[k]
            cols.append(k)
        return np.stack(cols, axis=1)

    def decode(self, Z):
        self.n_decoded += len(Z)
        return waves(np.asarray(Z, dtype=float) * self.std_ + self.mean_)

    def reconstruct(self, X, level=0):
        return self.decode(self.transform(X))

    def sample(self, level, node, n, random_state=None):
        rng = np.random.default_rng(random_state)
        c = self.codes_[level - 1][node]
        return self.decode(c + self.sigma * rng.standard_normal((n, c.size)))
