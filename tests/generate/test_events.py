"""Events: runs of one class whose breaths change node as the reference's consecutive breaths do."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ventgen.generate.events import _breath_nodes, node_persistence


def _runs(n_runs=20, length=50, nodes=4):
    entry = np.zeros(n_runs * length, dtype=np.int64)
    run = np.repeat(np.arange(n_runs), length)
    run_node = np.repeat(np.arange(n_runs) % nodes, length)
    r = SimpleNamespace(nodes=np.arange(nodes), node_labels=np.array(["a"] * nodes), level=1)
    return entry, run, run_node, [r], [np.full(nodes, 1.0 / nodes)]


def _same_as_previous(node, run):
    inside = run[1:] == run[:-1]
    return float((node[1:] == node[:-1])[inside].mean())


def test_persistence_is_the_share_of_consecutive_breaths_on_one_node():
    gid = np.array([[0, 4], [0, 4], [1, 4], [1, 5], [2, 5], [2, 5]])
    labels = np.array(["a", "a", "a", "b", "b", "b"])
    assert node_persistence(gid, labels) == {(1, "a"): 0.5, (1, "b"): 0.5, (2, "a"): 1.0, (2, "b"): 1.0}
    # a change of subject is not a transition
    assert node_persistence(gid[:3], labels[:3], subjects=np.array([1, 1, 2])) == {(1, "a"): 1.0, (2, "a"): 1.0}


def test_breaths_keep_their_node_with_the_persistence_and_runs_start_on_their_node():
    entry, run, run_node, resolved, weights = _runs()
    rng = np.random.default_rng(0)
    held = _breath_nodes(entry, run_node, run, resolved, weights, {(1, "a"): 1.0}, rng)
    assert np.array_equal(held, run_node)  # persistence 1: an event is one node
    free = _breath_nodes(entry, run_node, run, resolved, weights, {}, rng)
    first = np.r_[True, run[1:] != run[:-1]]
    assert np.array_equal(free[first], run_node[first])
    # independent draws among 4 equally weighted nodes: a quarter of consecutive breaths share one
    assert abs(_same_as_previous(free, run) - 0.25) < 0.05
    half = _breath_nodes(entry, run_node, run, resolved, weights, {(1, "a"): 0.5}, rng)
    assert abs(_same_as_previous(half, run) - (0.5 + 0.5 * 0.25)) < 0.05
    assert set(np.unique(half)) == {0, 1, 2, 3}
