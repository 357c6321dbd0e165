"""Clustering and hierarchy metrics of the paper (section V): purity, NMI, accuracy, Dtree.

All metrics take label vectors of any hashable type (ints, strings); ``labels_pred`` are cluster or
node ids. They are computed from the contingency table, so they cost O(n + K x C) and run on the full
test sets at once.

Examples
--------
>>> from ventgen.evaluate.metrics import purity, nmi, unsupervised_accuracy
>>> y = ["a", "a", "a", "b", "b", "c"]
>>> k = [0, 0, 1, 1, 1, 2]
>>> float(purity(y, k)), round(float(unsupervised_accuracy(y, k)), 3)
(0.8333333333333334, 0.833)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from ..errors import VentgenTypeError, VentgenValueError
from ..labels import LabelTree, LearnedTree, _level_size

__all__ = [
    "contingency",
    "purity",
    "nmi",
    "unsupervised_accuracy",
    "dtree",
    "level_report",
]


def _as_1d(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise VentgenValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def contingency(labels_true, labels_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts table of clusters x classes.

    Returns
    -------
    table : (K, C) int64 array
        ``table[k, j]`` = number of samples in cluster ``clusters[k]`` with class ``classes[j]``.
    clusters, classes : arrays
        The distinct cluster ids and class labels, sorted.

    Examples
    --------
    >>> t, k, c = contingency(["x", "y", "y"], [1, 1, 0])
    >>> t.tolist(), k.tolist(), c.tolist()
    ([[0, 1], [1, 1]], [0, 1], ['x', 'y'])
    """
    y = _as_1d("labels_true", labels_true)
    k = _as_1d("labels_pred", labels_pred)
    if y.shape[0] != k.shape[0]:
        raise VentgenValueError(
            f"labels_true and labels_pred must have the same length, got {y.shape[0]} and {k.shape[0]}"
        )
    if y.shape[0] == 0:
        raise VentgenValueError("labels_true and labels_pred are empty: need at least one sample")
    table = contingency_matrix(y, k, dtype=np.int64).T  # scikit-learn: classes x clusters
    return np.ascontiguousarray(table), np.unique(k), np.unique(y)


def purity(labels_true, labels_pred) -> float:
    """Purity (eq. 11): share of samples whose cluster's majority class is their own class.

    Tends to 1 as the number of clusters grows; compare at equal K.

    Examples
    --------
    >>> purity([0, 0, 1, 1], [5, 5, 5, 6])
    0.75
    """
    table, _, _ = contingency(labels_true, labels_pred)
    return float(table.max(axis=1).sum() / table.sum())


def nmi(labels_true, labels_pred) -> float:
    """Normalised mutual information (eq. 12-14): ``2 I(Omega; C) / (H(Omega) + H(C))``.

    scikit-learn's ``normalized_mutual_info_score(..., average_method="arithmetic")``.
    Returns 1.0 when both partitions are a single identical block (0/0).

    Examples
    --------
    >>> nmi([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> nmi([0, 1, 0, 1], [0, 0, 1, 1])
    0.0
    """
    y = _as_1d("labels_true", labels_true)
    k = _as_1d("labels_pred", labels_pred)
    contingency(y, k)  # the same checks (lengths, empty input) as every metric here
    return float(max(0.0, normalized_mutual_info_score(y, k, average_method="arithmetic")))


def unsupervised_accuracy(labels_true, labels_pred) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes (Hungarian algorithm).

    Each class receives at most one cluster; samples of unmatched clusters count as errors, so with
    more clusters than classes this is a strict measure (use :func:`purity` for many-to-one).

    Examples
    --------
    >>> unsupervised_accuracy([0, 0, 1, 1, 2], [2, 2, 0, 0, 0])
    0.8
    """
    table, _, _ = contingency(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def dtree(
    leaf_nodes, labels, learned_tree: LearnedTree, label_tree: LabelTree, distance: str = "path"
) -> float:
    """Tree distance Dtree (eq. 15) between a learned tree and the true class hierarchy.

    ``(1 / N^2) * || D_S - D_H ||_F^2`` where ``D_S[a, b]`` is the number of edges on the learned tree's
    path between the level-1 nodes of samples ``a`` and ``b`` (through the virtual root when they share
    no ancestor) and ``D_H[a, b]`` the same in the true hierarchy between their classes. Computed from
    the node x class counts in O(K^2 C + K C^2), never forming the N x N matrices.

    Parameters
    ----------
    leaf_nodes : (N,) int array
        Level-1 node of every sample.
    labels : (N,) array
        Fine class of every sample (names known to ``label_tree``; ints are compared as strings).
    learned_tree : LearnedTree
    label_tree : LabelTree
    distance : {"path", "lca"}
        ``"path"``: number of edges on the path between the two nodes (default); ``"lca"``: number of
        levels from the nodes up to their lowest common ancestor (half the path, since all leaves of
        each tree are at the same depth). The paper's wording allows both.

    Examples
    --------
    >>> from ventgen.labels import LearnedTree, flat_tree
    >>> learned = LearnedTree([[0, 1]], sizes=[2, 2])      # two leaves under two parents
    >>> dtree([0, 1], ["a", "b"], learned, flat_tree(["a", "b"]))   # paths 4 vs 2, twice, over 4 pairs
    2.0
    """
    if distance not in ("path", "lca"):
        raise VentgenValueError(f"distance must be 'path' or 'lca', got {distance!r}")
    if not isinstance(learned_tree, LearnedTree):
        raise VentgenTypeError(
            f"learned_tree must be a LearnedTree, got {type(learned_tree).__name__}"
        )
    if not isinstance(label_tree, LabelTree):
        raise VentgenTypeError(f"label_tree must be a LabelTree, got {type(label_tree).__name__}")
    nodes = _as_1d("leaf_nodes", leaf_nodes)
    labels = _as_1d("labels", labels).astype(str)
    if nodes.shape[0] != labels.shape[0]:
        raise VentgenValueError(
            f"leaf_nodes and labels must have the same length, got {nodes.shape[0]} and {labels.shape[0]}"
        )
    if nodes.shape[0] == 0:
        raise VentgenValueError("dtree needs at least one sample")
    K = learned_tree.sizes[0]
    if not np.issubdtype(nodes.dtype, np.integer) or nodes.min() < 0 or nodes.max() >= K:
        raise VentgenValueError(f"leaf_nodes must be integer node ids of level 1 in [0, {K})")
    unknown = sorted(set(np.unique(labels)) - set(label_tree.classes))
    if unknown:
        raise VentgenValueError(
            f"labels contain classes unknown to the tree {label_tree.name!r}: {unknown[:5]}; known: {label_tree.classes[:10]}"
        )
    classes, yi = np.unique(labels, return_inverse=True)
    n = np.zeros((K, classes.size), dtype=np.float64)
    np.add.at(n, (nodes.astype(np.int64), yi.ravel()), 1.0)
    DS = learned_tree.distance_matrix().astype(np.float64)
    DH = label_tree.distance_matrix(list(classes)).astype(np.float64)
    if distance == "lca":
        DS, DH = DS / 2.0, DH / 2.0
    a = n.sum(axis=1)
    b = n.sum(axis=0)
    total = a @ (DS**2) @ a + b @ (DH**2) @ b - 2.0 * np.einsum("kc,kl,ld,cd->", n, DS, n, DH)
    return float(total / nodes.shape[0] ** 2)


def level_report(
    model_assignments,
    labels,
    label_tree: LabelTree | None = None,
    learned_tree: LearnedTree | None = None,
    sizes: Sequence | None = None,
) -> pd.DataFrame:
    """Purity, NMI, accuracy (and Dtree) of every level of a hierarchical clustering.

    Parameters
    ----------
    model_assignments : (N, M) int array
        Column ``i-1`` = node of each sample at level ``i`` (the HTVAE's ``assign(X)``); a 1-D array is
        one level.
    labels : (N,) array
        Fine classes.
    label_tree : LabelTree, optional
        True hierarchy; needed for Dtree.
    learned_tree : LearnedTree, optional
        The model's tree; gives K per level and Dtree (reported on the level-1 row, NaN elsewhere).
    sizes : sequence, optional
        Codes per level when no ``learned_tree`` is given (ints or (h, w)); default: distinct ids seen.

    Returns
    -------
    DataFrame
        One row per level: ``level``, ``K`` (codes), ``used`` (codes holding a sample), ``purity``,
        ``nmi``, ``accuracy``, ``dtree`` (path lengths) and ``dtree_lca`` (depths to the common ancestor).

    Examples
    --------
    >>> import numpy as np
    >>> from ventgen.labels import LearnedTree, flat_tree
    >>> A = np.array([[0, 0], [1, 0], [2, 1], [3, 1]])
    >>> tree = LearnedTree([[0, 0, 1, 1]], sizes=[4, 2])
    >>> rep = level_report(A, ["a", "a", "b", "b"], flat_tree(["a", "b"]), tree)
    >>> rep[["level", "K", "purity", "accuracy"]].to_dict("records")[0]
    {'level': 1, 'K': 4, 'purity': 1.0, 'accuracy': 0.5}
    """
    A = np.asarray(model_assignments)
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2:
        raise VentgenValueError(f"model_assignments must be (N, M), got shape {A.shape}")
    y = _as_1d("labels", labels)
    if y.shape[0] != A.shape[0]:
        raise VentgenValueError(f"labels has {y.shape[0]} samples, model_assignments {A.shape[0]}")
    if learned_tree is not None and learned_tree.n_levels != A.shape[1]:
        raise VentgenValueError(
            f"learned_tree has {learned_tree.n_levels} levels, model_assignments {A.shape[1]} columns"
        )
    if learned_tree is not None:
        Ks = list(learned_tree.sizes)
    elif sizes is not None:
        Ks = [_level_size(s) for s in sizes]
    else:
        Ks = [int(np.unique(A[:, i]).size) for i in range(A.shape[1])]
    rows = []
    for i in range(A.shape[1]):
        k = A[:, i]
        row = {
            "level": i + 1,
            "K": Ks[i],
            "used": int(np.unique(k).size),
            "purity": purity(y, k),
            "nmi": nmi(y, k),
            "accuracy": unsupervised_accuracy(y, k),
            "dtree": np.nan,
            "dtree_lca": np.nan,
        }
        if i == 0 and learned_tree is not None and label_tree is not None:
            row["dtree"] = dtree(k, y, learned_tree, label_tree)
            row["dtree_lca"] = dtree(k, y, learned_tree, label_tree, distance="lca")
        rows.append(row)
    return pd.DataFrame(rows)
