"""Hierarchical clustering baselines with the same branching as the HTVAE maps.

The paper compares the HTVAE with a VAE followed by hierarchical k-means (VAE-HKM) and by a recursive
Gaussian mixture (VAE-RGMM); breath cycles also get a classical time-series baseline, tslearn's
``TimeSeriesKMeans`` applied the same way. All three split the data top-down: the top level (``maps[-1]``,
e.g. 2x2 = 4 clusters) is fitted on all samples, then each node is split into its share of the next
level's codes (``K_i / K_{i+1}`` children each, e.g. 16 / 4 = 4), down to level 1 (e.g. 64 leaves).

They expose the HTVAE's evaluation interface: ``fit(X)``, ``predict(X, level=1)``, ``assign(X)`` ->
``(n, M)`` node ids (column ``i-1`` = level ``i``), ``tree_`` (parents per level) and ``maps``, so
:func:`ventgen.evaluate.metrics.level_report` and :class:`ventgen.labels.LearnedTree` treat them alike.

Examples
--------
>>> import numpy as np
>>> from ventgen.evaluate.clustering import HierarchicalKMeans
>>> Z = np.random.default_rng(0).normal(size=(200, 3))
>>> hkm = HierarchicalKMeans(maps=[8, 4, 2], random_state=0).fit(Z)
>>> A = hkm.assign(Z)
>>> A.shape, int(A[:, 0].max()) < 8, [len(p) for p in hkm.tree_]
((200, 3), True, [8, 4])
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from .._core import check_random_state, progress
from ..errors import NotFittedError, VentgenTypeError, VentgenValueError
from ..labels import LearnedTree, _level_size

__all__ = ["HierarchicalKMeans", "RecursiveGMM", "HierarchicalTimeSeriesKMeans"]


def _allocate(K_child: int, counts: np.ndarray) -> np.ndarray:
    """Number of children per parent: ``K_child`` split as evenly as possible, extras to the largest parents."""
    P = counts.shape[0]
    base = np.full(P, K_child // P, dtype=np.int64)
    extra = K_child - base.sum()
    if extra:
        order = np.argsort(-counts, kind="stable")
        base[order[:extra]] += 1
    return base


class _TopDownClustering(BaseEstimator):
    """Top-down recursive clustering; subclasses provide the per-node estimator.

    A scikit-learn estimator: ``__init__`` only stores, ``fit`` validates, ``clone``/``get_params``/
    ``set_params`` work and an unfitted model raises :class:`ventgen.errors.NotFittedError`.
    """

    def __init__(
        self, maps=((8, 8), (4, 4), (2, 2)), random_state=None, progress: bool | None = None
    ):
        self.maps = maps
        self.random_state = random_state
        self.progress = progress

    # hooks ---------------------------------------------------------------
    def _prepare(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise VentgenValueError(
                f"{type(self).__name__}: X must be (n_samples, n_features), got shape {X.shape}"
            )
        if not np.isfinite(X).all():
            raise VentgenValueError(f"{type(self).__name__}: X contains NaN or infinite values")
        return X

    def _make(self, n_clusters: int, seed: int):  # pragma: no cover - abstract
        raise NotImplementedError

    # API -----------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the hierarchy on ``X`` (n, d) (time-series subclass: (n, C, T)); returns self."""
        X = self._prepare(X)
        sizes = [_level_size(s) for s in self.maps]
        if any(a < b for a, b in zip(sizes[:-1], sizes[1:], strict=False)):
            raise VentgenValueError(
                f"{type(self).__name__}: levels must not grow upwards, got sizes {sizes}"
            )
        n = X.shape[0]
        if n < sizes[-1]:
            raise VentgenValueError(
                f"{type(self).__name__}: {n} samples cannot make {sizes[-1]} top-level clusters"
            )
        rng = check_random_state(self.random_state)
        M = len(sizes)
        self.sizes_ = sizes
        self.nodes_ = {}  # (level, parent) -> (estimator or None, child ids)
        parents: list[np.ndarray] = [None] * (M - 1)
        top_ids = np.arange(sizes[-1])
        labels = self._fit_node(X, np.arange(n), M, 0, top_ids, rng)
        bar = progress(
            range(M - 1, 0, -1), enabled=self.progress, desc=f"{type(self).__name__} levels"
        )
        for lvl in bar:
            K_par, K_child = sizes[lvl], sizes[lvl - 1]
            counts = np.bincount(labels, minlength=K_par)
            n_children = _allocate(K_child, counts)
            par = np.repeat(np.arange(K_par), n_children)
            starts = np.concatenate([[0], np.cumsum(n_children)[:-1]])
            new = np.empty(n, dtype=np.int64)
            for p in range(K_par):
                idx = np.flatnonzero(labels == p)
                ids = starts[p] + np.arange(n_children[p])
                if idx.size:
                    new[idx] = self._fit_node(X, idx, lvl, p, ids, rng)
            parents[lvl - 1] = par
            labels = new
        self.tree_ = parents
        self.n_features_in_ = X.shape[1] if X.ndim == 2 else X.shape[1:]
        return self

    def _fit_node(self, X, idx, level, parent, ids, rng) -> np.ndarray:
        k = int(min(len(ids), idx.size))
        if k <= 1:
            self.nodes_[(level, parent)] = (None, ids)
            return np.full(idx.size, ids[0], dtype=np.int64)
        est = self._make(k, int(rng.integers(2**31 - 1)))
        local = np.asarray(est.fit_predict(X[idx]), dtype=np.int64)
        self.nodes_[(level, parent)] = (est, ids)
        return ids[local]

    def _check_fitted(self):
        if not hasattr(self, "tree_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def assign(self, X) -> np.ndarray:
        """(n, M) node ids, column ``i-1`` = node at level ``i`` (level 1 = deepest)."""
        self._check_fitted()
        X = self._prepare(X)
        M = len(self.sizes_)
        out = np.zeros((X.shape[0], M), dtype=np.int64)
        out[:, M - 1] = self._predict_node(X, np.arange(X.shape[0]), M, 0)
        for lvl in range(M - 1, 0, -1):
            for p in np.unique(out[:, lvl]):
                idx = np.flatnonzero(out[:, lvl] == p)
                out[idx, lvl - 1] = self._predict_node(X, idx, lvl, p)
        return out

    def _predict_node(self, X, idx, level, parent) -> np.ndarray:
        est, ids = self.nodes_[(level, parent)]
        if est is None:
            return np.full(idx.size, ids[0], dtype=np.int64)
        return ids[np.asarray(est.predict(X[idx]), dtype=np.int64)]

    def predict(self, X, level: int = 1) -> np.ndarray:
        """Node id at ``level`` (1 = deepest) of every sample."""
        self._check_fitted()
        if not 1 <= level <= len(self.sizes_):
            raise VentgenValueError(f"level must be in [1, {len(self.sizes_)}], got {level}")
        return self.assign(X)[:, level - 1]

    def fit_predict(self, X, y=None, level: int = 1) -> np.ndarray:
        return self.fit(X).predict(X, level)

    @property
    def learned_tree_(self) -> LearnedTree:
        """The fitted hierarchy as a :class:`~ventgen.labels.LearnedTree`."""
        self._check_fitted()
        return LearnedTree(self.tree_, self.sizes_)


class HierarchicalKMeans(_TopDownClustering):
    """Top-down k-means with the branching of the HTVAE maps (scikit-learn ``KMeans`` per node).

    Parameters
    ----------
    maps : sequence of (h, w) or int
        Codes per level, level 1 (deepest, largest) first, as the HTVAE's ``maps``.
    n_init : int
        k-means restarts per node.
    random_state : None, int or Generator
    progress : bool, optional

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.concatenate([np.random.default_rng(0).normal(m, 0.1, (50, 2)) for m in (0, 5)])
    >>> HierarchicalKMeans(maps=[4, 2], random_state=0).fit(Z).predict(Z, level=2)[[0, 99]].tolist() in ([0, 1], [1, 0])
    True
    """

    def __init__(
        self, maps=((8, 8), (4, 4), (2, 2)), n_init: int = 4, random_state=None, progress=None
    ):
        super().__init__(maps, random_state, progress)
        self.n_init = n_init

    def _make(self, n_clusters, seed):
        return KMeans(n_clusters=n_clusters, n_init=self.n_init, random_state=seed)


class RecursiveGMM(_TopDownClustering):
    """Top-down Gaussian mixtures with the branching of the HTVAE maps (scikit-learn ``GaussianMixture``).

    Parameters
    ----------
    maps : sequence of (h, w) or int
    covariance_type : {"full", "diag", "tied", "spherical"}
    n_init : int
    reg_covar : float
    random_state : None, int or Generator

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(1).normal(size=(120, 2))
    >>> RecursiveGMM(maps=[6, 3], random_state=0).fit(Z).assign(Z).shape
    (120, 2)
    """

    def __init__(
        self,
        maps=((8, 8), (4, 4), (2, 2)),
        covariance_type: str = "full",
        n_init: int = 1,
        reg_covar: float = 1e-4,
        random_state=None,
        progress=None,
    ):
        super().__init__(maps, random_state, progress)
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.reg_covar = reg_covar

    def _make(self, n_clusters, seed):
        return GaussianMixture(
            n_components=n_clusters,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            reg_covar=self.reg_covar,
            random_state=seed,
        )


class HierarchicalTimeSeriesKMeans(_TopDownClustering):
    """tslearn ``TimeSeriesKMeans`` (DTW, soft-DTW or Euclidean) applied top-down with the HTVAE branching.

    A classical baseline for breath cycles: no network, the cycles are clustered directly.

    Parameters
    ----------
    maps : sequence of (h, w) or int
    metric : {"dtw", "softdtw", "euclidean"}
    max_iter : int
    sakoe_chiba_radius : int or None
        DTW warping window in samples (default 10: 0.4 s at 25 Hz); None = unconstrained (slow).
    random_state : None, int or Generator

    Notes
    -----
    ``X`` is a :class:`~ventgen.signals.cycles.CycleSet` or a float array ``(n, channels, time)``;
    each channel is z-scored over the whole set before clustering so flow and pressure weigh alike.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 20)
    >>> X = np.stack([np.sin(2 * np.pi * f * t)[None] for f in (1, 1.1, 3, 3.1)]).astype("float32")
    >>> m = HierarchicalTimeSeriesKMeans(maps=[2, 1], metric="euclidean", random_state=0).fit(X)
    >>> a = m.predict(X); bool(a[0] == a[1] and a[2] == a[3] and a[0] != a[2])
    True
    """

    def __init__(
        self,
        maps=((8, 8), (4, 4), (2, 2)),
        metric: str = "dtw",
        max_iter: int = 20,
        sakoe_chiba_radius: int | None = 10,
        random_state=None,
        progress=None,
    ):
        super().__init__(maps, random_state, progress)
        self.metric = metric
        self.max_iter = max_iter
        self.sakoe_chiba_radius = sakoe_chiba_radius

    def _prepare(self, X) -> np.ndarray:
        if self.metric not in ("dtw", "softdtw", "euclidean"):
            raise VentgenValueError(
                f"metric must be 'dtw', 'softdtw' or 'euclidean', got {self.metric!r}"
            )
        X = getattr(X, "X", X)
        if not isinstance(X, np.ndarray):
            raise VentgenTypeError(
                f"X must be a CycleSet or an array (n, channels, time), got {type(X).__name__}"
            )
        if X.ndim != 3:
            raise VentgenValueError(f"X must be (n, channels, time), got shape {X.shape}")
        X = X.astype(np.float64)
        if not np.isfinite(X).all():
            raise VentgenValueError("X contains NaN or infinite values")
        if not hasattr(self, "scale_"):
            self.mean_ = X.mean(axis=(0, 2), keepdims=True)
            self.scale_ = X.std(axis=(0, 2), keepdims=True) + 1e-12
        return np.transpose(
            (X - self.mean_) / self.scale_, (0, 2, 1)
        )  # tslearn: (n, time, channels)

    def fit(self, X, y=None):
        for attr in ("mean_", "scale_"):
            if hasattr(self, attr):
                delattr(self, attr)
        return super().fit(X, y)

    def _make(self, n_clusters, seed):
        from tslearn.clustering import (
            TimeSeriesKMeans,  # heavy (about 5 s): only this baseline needs it
        )

        params = None
        if self.metric == "dtw" and self.sakoe_chiba_radius is not None:
            params = {
                "global_constraint": "sakoe_chiba",
                "sakoe_chiba_radius": int(self.sakoe_chiba_radius),
            }
        return TimeSeriesKMeans(
            n_clusters=n_clusters,
            metric=self.metric,
            max_iter=self.max_iter,
            metric_params=params,
            random_state=seed,
        )
