"""Metrics room: purity, NMI, accuracy, Dtree, level reports, learned trees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from ventgen.errors import VentgenTypeError, VentgenValueError
from ventgen.evaluate.metrics import (
    contingency,
    dtree,
    level_report,
    nmi,
    purity,
    unsupervised_accuracy,
)
from ventgen.labels import LabelTree, LearnedTree, flat_tree


# ----------------------------------------------------------------------------- purity / accuracy
def test_purity_hand_computed():
    # clusters: {a,a,b} -> 2, {b,b,c,c} -> 2, {c} -> 1 ; 5 / 8
    y = ["a", "a", "b", "b", "b", "c", "c", "c"]
    k = [0, 0, 0, 1, 1, 1, 1, 2]
    assert purity(y, k) == pytest.approx(5 / 8)


def test_purity_bounds_and_singletons():
    y = np.array([0, 1, 2, 0, 1, 2])
    assert purity(y, np.arange(6)) == 1.0  # one cluster per sample
    assert purity(y, np.zeros(6)) == pytest.approx(2 / 6)  # one cluster: largest class share


def test_accuracy_is_one_to_one():
    y = [0, 0, 1, 1, 2, 2]
    # two clusters both dominated by class 0 and 1; class 2 split off: one-to-one limits the credit
    k = [5, 5, 5, 5, 7, 8]
    # best matching: 5->0 (2) or 5->1 (2), 7->2 (1), 8 unmatched (2 already used) -> 3/6
    assert unsupervised_accuracy(y, k) == pytest.approx(3 / 6)
    assert purity(y, k) == pytest.approx(4 / 6)
    # a relabelled perfect clustering scores 1
    assert unsupervised_accuracy(y, [9, 9, 3, 3, 4, 4]) == 1.0


def test_accuracy_not_above_purity_random():
    rng = np.random.default_rng(0)
    for _ in range(10):
        y = rng.integers(0, 5, 200)
        k = rng.integers(0, 12, 200)
        assert unsupervised_accuracy(y, k) <= purity(y, k) + 1e-12


# ----------------------------------------------------------------------------- NMI
def test_nmi_matches_sklearn_arithmetic():
    rng = np.random.default_rng(1)
    for K in (2, 7, 30):
        y = rng.integers(0, 10, 500)
        k = np.where(rng.random(500) < 0.6, y, rng.integers(0, K, 500))
        assert nmi(y, k) == pytest.approx(
            normalized_mutual_info_score(y, k, average_method="arithmetic"), abs=1e-12
        )


def test_nmi_hand_computed():
    # y = [0,0,1,1], k = [0,0,0,1]: H(C) = ln2, H(K) = -(3/4 ln 3/4 + 1/4 ln 1/4),
    # I = 1/2 ln(1/2 / (3/4*1/2)) + 1/4 ln(1/4/(3/4*1/2)) + 1/4 ln(1/4/(1/4*1/2))
    hc = np.log(2)
    hk = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    i = 0.5 * np.log(0.5 / 0.375) + 0.25 * np.log(0.25 / 0.375) + 0.25 * np.log(0.25 / 0.125)
    assert nmi([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(2 * i / (hk + hc))


def test_nmi_string_labels_and_invariance():
    y = np.array(["x", "y", "x", "z", "y", "z"])
    k = np.array([1, 2, 1, 3, 2, 3])
    assert nmi(y, k) == pytest.approx(1.0)
    assert nmi(y, 10 - k) == pytest.approx(nmi(y, k))


def test_metric_input_errors():
    with pytest.raises(VentgenValueError, match="same length"):
        purity([0, 1], [0])
    with pytest.raises(VentgenValueError, match="empty"):
        nmi([], [])
    with pytest.raises(VentgenValueError, match="1-D"):
        unsupervised_accuracy(np.zeros((2, 2)), np.zeros((2, 2)))


def test_contingency_table():
    t, k, c = contingency(["b", "a", "b"], [3, 3, 1])
    assert t.tolist() == [[0, 1], [1, 1]] and k.tolist() == [1, 3] and c.tolist() == ["a", "b"]


# ----------------------------------------------------------------------------- learned tree
def test_learned_tree_paths_and_distances():
    # 4 leaves -> 2 parents -> root (3 levels: sizes 4, 2, 1)
    tree = LearnedTree([np.array([0, 0, 1, 1]), np.array([0, 0])], sizes=[4, 2, 1])
    assert tree.paths().tolist() == [[0, 0, 0], [1, 0, 0], [2, 1, 0], [3, 1, 0]]
    D = tree.distance_matrix()
    assert D.tolist() == [[0, 2, 4, 4], [2, 0, 4, 4], [4, 4, 0, 2], [4, 4, 2, 0]]
    assert tree.children(1, level=2).tolist() == [2, 3]
    assert tree.ancestors([3], level=4).tolist() == [0]  # the virtual root


def test_learned_tree_from_maps_and_roundtrip():
    parents = [np.repeat(np.arange(4), 4), np.array([0, 0, 1, 1])]
    tree = LearnedTree(parents, sizes=[(4, 4), (2, 2), (1, 2)])
    assert tree.sizes == [16, 4, 2]
    again = LearnedTree.from_dict(tree.to_dict())
    assert np.array_equal(again.distance_matrix(), tree.distance_matrix())
    # two top nodes meet only at the root: 2 * 3 edges
    assert tree.distance_matrix()[0, 15] == 6


def test_learned_tree_errors():
    with pytest.raises(VentgenValueError, match="shape"):
        LearnedTree([np.array([0, 1])], sizes=[3, 2])
    with pytest.raises(VentgenValueError, match=r"in \[0, 2\)"):
        LearnedTree([np.array([0, 2, 1])], sizes=[3, 2])
    with pytest.raises(VentgenValueError, match="parent arrays"):
        LearnedTree([], sizes=[3, 2])
    with pytest.raises(VentgenTypeError):
        LearnedTree.from_model(object())


class _FakeModel:
    maps = [(2, 2), (1, 2)]
    tree_ = [np.array([0, 0, 1, 1])]


def test_learned_tree_from_model():
    assert LearnedTree.from_model(_FakeModel()).sizes == [4, 2]


# ----------------------------------------------------------------------------- Dtree
def _dtree_bruteforce(nodes, labels, learned, label_tree):
    DS = learned.distance_matrix()[np.ix_(nodes, nodes)]
    DH = np.array([[label_tree.distance(a, b) for b in labels] for a in labels])
    return ((DS - DH) ** 2).sum() / len(nodes) ** 2


def test_dtree_known_answer_tiny():
    learned = LearnedTree([np.array([0, 0, 1, 1])], sizes=[4, 2])  # D_S in {0, 2, 4}
    tree = flat_tree(["a", "b"])  # D_H in {0, 2}
    # samples at nodes 0, 1 (both 'a'), 2 ('b'): pairs (0,1): DS 2, DH 0 -> 4 (x2);
    # (0,2) and (1,2): DS 4, DH 2 -> 4 each (x2 each) -> total 4*2 + 4*4 = 24 over 9
    assert dtree([0, 1, 2], ["a", "a", "b"], learned, tree) == pytest.approx(24 / 9)
    # a learned tree that matches the label tree perfectly (leaf = class, one parent each) gives 0
    match = LearnedTree([np.array([0, 1])], sizes=[2, 2])
    tree2 = LabelTree({"a": ["A"], "b": ["B"]})
    assert dtree([0, 1, 1, 0], ["a", "b", "b", "a"], match, tree2) == 0.0


def test_dtree_matches_bruteforce_and_lca_is_quarter():
    rng = np.random.default_rng(3)
    learned = LearnedTree([rng.integers(0, 4, 16), rng.integers(0, 2, 4)], sizes=[16, 4, 2])
    tree = LabelTree(
        {
            c: [g, top]
            for c, g, top in [
                ("a", "A", "X"),
                ("b", "A", "X"),
                ("c", "B", "X"),
                ("d", "C", "Y"),
                ("e", "C", "Y"),
            ]
        }
    )
    nodes = rng.integers(0, 16, 60)
    labels = rng.choice(list("abcde"), 60)
    expect = _dtree_bruteforce(nodes, labels, learned, tree)
    assert dtree(nodes, labels, learned, tree) == pytest.approx(expect)
    assert dtree(nodes, labels, learned, tree, distance="lca") == pytest.approx(expect / 4)


def test_dtree_errors():
    learned = LearnedTree([np.array([0, 0])], sizes=[2, 1])
    tree = flat_tree(["a", "b"])
    with pytest.raises(VentgenValueError, match="unknown to the tree"):
        dtree([0, 1], ["a", "zzz"], learned, tree)
    with pytest.raises(VentgenValueError, match=r"\[0, 2\)"):
        dtree([0, 5], ["a", "b"], learned, tree)
    with pytest.raises(VentgenTypeError):
        dtree([0, 1], ["a", "b"], "tree", tree)
    with pytest.raises(VentgenValueError, match="distance"):
        dtree([0, 1], ["a", "b"], learned, tree, distance="euclid")


# ----------------------------------------------------------------------------- level report
def test_level_report_per_level():
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], 100)
    parents = [np.repeat(np.arange(4), 2), np.array([0, 0, 1, 1])]
    learned = LearnedTree(parents, sizes=[(2, 4), (2, 2), (1, 2)])
    leaf = rng.integers(0, 8, 100)
    A = np.stack([leaf, parents[0][leaf], parents[1][parents[0][leaf]]], axis=1)
    rep = level_report(A, y, flat_tree(["a", "b", "c"]), learned)
    assert rep["level"].tolist() == [1, 2, 3] and rep["K"].tolist() == [8, 4, 2]
    assert rep.loc[0, "purity"] == pytest.approx(purity(y, leaf))
    assert rep.loc[1, "nmi"] == pytest.approx(nmi(y, A[:, 1]))
    assert np.isfinite(rep.loc[0, "dtree"]) and rep["dtree"].isna().sum() == 2
    # purity never grows when going up the tree (children are merged)
    assert rep["purity"].is_monotonic_decreasing


def test_level_report_errors():
    with pytest.raises(VentgenValueError, match="samples"):
        level_report(np.zeros((3, 2), int), ["a", "b"])
    learned = LearnedTree([np.array([0, 0])], sizes=[2, 1])
    with pytest.raises(VentgenValueError, match="levels"):
        level_report(np.zeros((2, 3), int), ["a", "b"], None, learned)
