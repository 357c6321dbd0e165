"""Patient profiles: what makes each patient of a cohort differ, drawn once for the whole cohort.

A patient has its own node weights for every composition entry (a Dirichlet draw around the entry's
weights, the spec's ``node_concentration``: which breath types dominate its breaths) and its own latent
deviation ``u`` (a share ``patient_variability`` of every breath's jitter). Drawn patient by patient,
the cohort as a whole drifts from the reference: four patients' node mixes and deviations do not average
out, and a classifier tells the pooled cohort from the real breaths by its mix rather than its breaths.

``patient_profiles="balanced"`` (:class:`~ventgen.generate.options.GenerationOptions`, the default) draws the
profiles of all patients at once and balances them, as stratified sampling does:

* the node weights of an entry (one row per patient) are fitted by iterative proportional fitting
  (:func:`balance_weights`): every row still sums to 1, and the sum over patients weighted by their
  breaths of the entry equals the entry's own weights, so the cohort keeps the reference's node mix;
* the deviations are centred (breath-weighted mean 0) and rescaled to unit spread (:func:`centred`),
  so the cohort keeps the reference's mean.

Every patient still differs from the others as much as before. A cohort of one patient is drawn as one
patient, on its own (balancing it would make it the reference's average). ``patient_profiles="independent"``
draws each patient on its own (ventgen before 2026-12-07). Either way the draws come from one stream of the
cohort's seed, so that patients can be made in any order, on any worker.

Measured (simulated seed-4 model, 4 patients x 10 min, 50 % normal / 25 % apnea / 25 % snoring,
``benchmarks/README.md``): independent patients forest 0.149, CNN 0.112; no patient structure at all
(``node_concentration=None``, ``patient_variability=0``) 0.101 / 0.055.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Profiles", "PATIENT_PROFILES", "draw_profiles", "balance_weights", "centred"]

#: How the patients' profiles are drawn (``GenerationOptions.patient_profiles``).
PATIENT_PROFILES = ("balanced", "independent")


@dataclass
class Profiles:
    """The patients' profiles: ``u`` (P, d) latent deviations; ``weights`` one entry per composition
    entry, (P, K) node weights of each patient (rows sum to 1), or None where every patient takes the
    entry's own weights."""

    u: np.ndarray
    weights: list

    def node_weights(self, p: int) -> list:
        """Patient ``p``'s node weights of every entry (None: the entry's own)."""
        return [None if w is None else w[p] for w in self.weights]


def draw_profiles(resolved: list, counts: np.ndarray, dim: int, node_concentration, rng, balanced: bool) -> Profiles:
    """The :class:`Profiles` of ``counts.shape[0]`` patients (``counts`` (P, entries) breaths), from ``rng``.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> entry = SimpleNamespace(weights=np.array([0.5, 0.3, 0.2]))
    >>> counts = np.array([[100], [100], [100], [100]])
    >>> pr = draw_profiles([entry], counts, 2, 1.0, np.random.default_rng(0), balanced=True)
    >>> np.round(pr.weights[0].mean(axis=0), 6).tolist(), bool(np.allclose(pr.u.mean(axis=0), 0))
    ([0.5, 0.3, 0.2], True)
    """
    counts = np.asarray(counts, dtype=np.float64)
    P = counts.shape[0]
    balanced = bool(balanced) and P >= 2  # one patient stays a patient, not the reference's average
    u = rng.standard_normal((P, int(dim)))
    weights = []
    for j, r in enumerate(resolved):
        w = np.asarray(r.weights, dtype=np.float64)
        if node_concentration is None or w.size < 2:
            weights.append(None)
            continue
        W = rng.dirichlet(node_concentration * w * w.size, size=P)
        bad = ~(np.isfinite(W).all(axis=1) & (W.sum(axis=1) > 0))  # an extreme concentration: no preference
        W[bad] = w
        weights.append(balance_weights(W, counts[:, j], w) if balanced else W)
    if balanced:
        u = centred(u, counts.sum(axis=1))
    return Profiles(u=u, weights=weights)


def balance_weights(W: np.ndarray, breaths: np.ndarray, target: np.ndarray, *, iterations: int = 1000,
                    tol: float = 1e-9) -> np.ndarray:
    """Rows of ``W`` (P, K) rescaled so that each still sums to 1 and ``breaths @ W`` (the cohort's
    expected node counts) is ``breaths.sum() * target``: iterative proportional fitting. Patients without
    breaths of the entry keep their draw; a node no patient can take (all its weights 0) stays empty.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> B = balance_weights(W, np.array([10.0, 10.0]), np.array([0.5, 0.5]))
    >>> np.round(B.sum(axis=1), 6).tolist(), np.round(B.mean(axis=0), 6).tolist(), bool(B[0, 0] > B[1, 0])
    ([1.0, 1.0], [0.5, 0.5], True)
    """
    W = np.array(W, dtype=np.float64)
    n = np.asarray(breaths, dtype=np.float64)
    on = n > 0
    if not on.any():
        return W
    A = W[on]
    goal = n[on].sum() * np.asarray(target, dtype=np.float64)
    for _ in range(int(iterations)):
        col = n[on] @ A
        A *= np.divide(goal, col, out=np.ones_like(goal), where=col > 0)[None, :]
        A /= A.sum(axis=1, keepdims=True)
        if np.abs(n[on] @ A - goal).max() <= tol * n[on].sum():
            break
    W[on] = A
    return W


def centred(u: np.ndarray, breaths: np.ndarray) -> np.ndarray:
    """Deviations ``u`` (P, d) with their ``breaths``-weighted mean removed and rescaled to unit spread
    per dimension (one patient: zeros, the cohort's mean itself).

    Examples
    --------
    >>> import numpy as np
    >>> c = centred(np.random.default_rng(0).standard_normal((5, 3)), np.ones(5))
    >>> bool(np.allclose(c.mean(axis=0), 0)), np.round(c.std(axis=0), 6).tolist()
    (True, [1.0, 1.0, 1.0])
    """
    u = np.asarray(u, dtype=np.float64)
    n = np.asarray(breaths, dtype=np.float64)
    if u.shape[0] < 2 or n.sum() <= 0:
        return np.zeros_like(u)
    c = u - (n @ u / n.sum())[None, :]
    sd = np.sqrt(n @ c**2 / n.sum())
    return c / np.where(sd > 0, sd, 1.0)[None, :]
