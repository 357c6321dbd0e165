"""Metrics room: hierarchical clusterings and the baseline networks on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from ventgen.errors import VentgenValueError
from ventgen.evaluate.clustering import (
    HierarchicalKMeans,
    HierarchicalTimeSeriesKMeans,
    RecursiveGMM,
)
from ventgen.evaluate.metrics import purity
from ventgen.labels import LearnedTree


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # tiny problems: thread start-up dominates on a busy 2-core machine
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _blobs(n_per=30, centres=8, d=3, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.normal(0, 10, (centres, d))
    X = np.concatenate([rng.normal(c, 0.2, (n_per, d)) for c in C])
    return X, np.repeat(np.arange(centres), n_per)


@pytest.mark.parametrize("Cls", [HierarchicalKMeans, RecursiveGMM])
def test_branching_and_consistency(Cls):
    X, y = _blobs()
    m = Cls(maps=[(4, 4), (2, 2), 2], random_state=0).fit(X)
    A = m.assign(X)
    assert A.shape == (240, 3)
    assert [len(p) for p in m.tree_] == [16, 4]
    # each parent has K_i / K_{i+1} children
    assert np.bincount(m.tree_[0], minlength=4).tolist() == [4, 4, 4, 4]
    assert np.bincount(m.tree_[1], minlength=2).tolist() == [2, 2]
    # assignments agree with the tree
    assert np.array_equal(m.tree_[0][A[:, 0]], A[:, 1]) and np.array_equal(
        m.tree_[1][A[:, 1]], A[:, 2]
    )
    assert isinstance(m.learned_tree_, LearnedTree)
    # well separated blobs: leaves are pure
    assert purity(y, A[:, 0]) == 1.0
    # deterministic for a seed
    assert np.array_equal(Cls(maps=[(4, 4), (2, 2), 2], random_state=0).fit(X).assign(X), A)


def test_uneven_branching_and_tiny_parents():
    X, _ = _blobs(n_per=3, centres=3)
    m = HierarchicalKMeans(maps=[7, 2], random_state=1).fit(X)
    assert sorted(np.bincount(m.tree_[0], minlength=2).tolist()) == [3, 4]
    assert m.predict(X).max() < 7 and m.predict(X, level=2).max() < 2


def test_clustering_errors():
    with pytest.raises(VentgenValueError, match="not fitted"):
        HierarchicalKMeans().predict(np.zeros((3, 2)))
    with pytest.raises(VentgenValueError, match="grow"):
        HierarchicalKMeans(maps=[2, 4]).fit(np.zeros((10, 2)))
    with pytest.raises(VentgenValueError, match="NaN"):
        HierarchicalKMeans(maps=[2]).fit(np.full((4, 2), np.nan))
    X, _ = _blobs()
    m = HierarchicalKMeans(maps=[4, 2], random_state=0).fit(X)
    with pytest.raises(VentgenValueError, match="level"):
        m.predict(X, level=3)


def test_time_series_kmeans_hierarchy():
    t = np.linspace(0, 1, 24)
    rng = np.random.default_rng(0)
    shapes = [
        np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t) * 10]) for f in (1, 2, 4, 6)
    ]
    X = np.concatenate([s + rng.normal(0, 0.02, (6, 2, 24)) for s in shapes]).astype(np.float32)
    y = np.repeat(np.arange(4), 6)
    m = HierarchicalTimeSeriesKMeans(maps=[4, 2], metric="euclidean", random_state=0).fit(X)
    A = m.assign(X)
    assert A.shape == (24, 2) and purity(y, A[:, 0]) == 1.0
    with pytest.raises(VentgenValueError, match="channels, time"):
        m.fit(X[:, 0])
    with pytest.raises(VentgenValueError, match="metric"):
        HierarchicalTimeSeriesKMeans(maps=[2], metric="cosine").fit(X)
