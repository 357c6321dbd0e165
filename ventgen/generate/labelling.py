"""Node labels: the class of every node of every level, the majority label of the reference breaths
it holds. This is ventgen's ONE node-labelling rule (generation, :func:`ventgen.label_nodes` and the
run report use it):

* a node's ``label`` is the fine label held by most of its labelled reference breaths; unlabelled
  breaths (``""`` or ``"unlabelled"``) never count;
* a tie goes to the label that sorts first (Python string order, e.g. ``"apnea"`` before
  ``"coughing"``): deterministic, and independent of the order of the breaths;
* ``purity`` is the majority's share of the node's labelled breaths; a node without labelled
  breaths has ``label == ""`` and NaN purities.

Examples
--------
>>> import numpy as np
>>> labels = np.array(["apnea"] * 3 + ["coughing"] * 3 + ["snoring"])
>>> assign = np.array([[0]] * 6 + [[1]])              # node 0 holds the tie, node 1 the snore
>>> t = node_label_table(assign, labels, [(1, 3)])
>>> t.node.tolist(), t.n_breaths.tolist(), t.label.tolist(), t.purity.tolist()
([0, 1, 2], [6, 1, 0], ['apnea', 'snoring', ''], [0.5, 1.0, nan])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import VentgenValueError
from ..labels import VENTILATION_TREE, LabelTree, flat_tree
from .reference import NO_LABEL, UNLABELLED, Encoded, Reference, as_reference, check_model

__all__ = ["UNLABELLED", "NodeStats", "label_nodes", "node_label_table", "node_stats", "label_table",
           "superclass_of"]


def infer_label_tree(labels: np.ndarray, superclasses=None, label_tree=None) -> LabelTree:
    """The class hierarchy: ``label_tree`` if given, else the reference's super-classes (when each
    class has one), else the ventilation tree (when every class is one of its), else a flat tree."""
    present = sorted({str(v) for v in labels if v not in NO_LABEL})
    if label_tree is not None:
        return label_tree
    if superclasses is not None:
        pairs = {}
        ok = True
        for lab, sup in zip(labels, superclasses, strict=True):
            if lab in NO_LABEL or sup == "":
                continue
            if pairs.setdefault(lab, sup) != sup:
                ok = False
                break
        if ok and pairs and set(pairs) == set(present):
            return LabelTree({k: [v] for k, v in pairs.items()}, name="reference")
    if present and set(present) <= set(VENTILATION_TREE.classes):
        return VENTILATION_TREE
    return flat_tree(present or ["?"], name="reference")


@dataclass
class NodeStats:
    """Assignments of the reference breaths and per-node label counts, for every level."""

    assign: np.ndarray  # (n, M)
    classes: list  # fine classes present, sorted: the order of the tie-break
    counts: list  # per level: (K, n_classes) int
    maps: list
    tree: LabelTree


def count_labels(assign: np.ndarray, labels: np.ndarray, maps: list, tree: LabelTree) -> NodeStats:
    """Per level, the (K, n_classes) counts of the labelled breaths each node holds."""
    classes = sorted({str(v) for v in labels if v not in NO_LABEL})
    cidx = {c: i for i, c in enumerate(classes)}
    y = np.array([cidx.get(v, -1) for v in labels], dtype=np.int64)
    counts = []
    for li, (h, w) in enumerate(maps):
        ok = y >= 0
        c = np.zeros((h * w, len(classes)), dtype=np.int64)
        np.add.at(c, (assign[ok, li], y[ok]), 1)
        counts.append(c)
    return NodeStats(assign, classes, counts, maps, tree)


def node_stats(model, ref: Reference, label_tree=None, enc: Encoded | None = None) -> NodeStats:
    """The model's assignments of the reference breaths, counted per node and class."""
    maps = check_model(model)
    A = (enc or Encoded(model, ref.X)).assign
    if A.ndim == 1:
        A = A[:, None]
    if A.shape != (ref.n, len(maps)):
        raise VentgenValueError(f"model.assign returned shape {A.shape}, expected ({ref.n}, {len(maps)})")
    tree = infer_label_tree(ref.labels, ref.superclasses, label_tree)
    return count_labels(A, ref.labels, maps, tree)


def superclass_of(tree: LabelTree, label: str) -> str:
    """The super-class of a fine label (the label itself in a one-level tree or when unknown)."""
    if tree.n_levels < 2 or label not in tree.classes:
        return label
    return tree.ancestor(label, 1)


def label_table(st: NodeStats) -> pd.DataFrame:
    """One row per (level, node): breaths, majority label and purity, super-class and its purity."""
    rows = []
    for li, c in enumerate(st.counts):
        n_lab = c.sum(axis=1)
        n_all = np.bincount(st.assign[:, li], minlength=c.shape[0])
        for k in range(c.shape[0]):
            if n_lab[k]:
                j = int(np.argmax(c[k]))  # first maximum: ties go to the class that sorts first
                lab = st.classes[j]
                pur = c[k, j] / n_lab[k]
                sup = superclass_of(st.tree, lab)
                members = ([st.classes.index(m) for m in st.tree.members(sup) if m in st.classes]
                           if st.tree.n_levels > 1 else [j])
                sup_pur = c[k, members].sum() / n_lab[k]
            else:
                lab, pur, sup, sup_pur = "", np.nan, "", np.nan
            rows.append({"level": li + 1, "node": k, "n_breaths": int(n_all[k]), "n_labelled": int(n_lab[k]),
                         "label": lab, "purity": float(pur), "superclass": sup,
                         "superclass_purity": float(sup_pur)})
    return pd.DataFrame(rows)


def node_label_table(assignments, labels, maps, *, superclasses=None, label_tree=None) -> pd.DataFrame:
    """The node labels from assignments already made (the table :func:`label_nodes` returns).

    Parameters
    ----------
    assignments : array of int, shape (n, M)
        Node of every breath at every level (column ``i - 1`` = level ``i``, row-major node ids).
    labels : array-like of str, shape (n,)
        Fine label of every breath (``""`` or ``"unlabelled"`` = unlabelled, ignored).
    maps : list of (h, w)
        Lattice shapes, level 1 first.
    superclasses : array-like of str, optional
        Super-class of every breath (gives the class hierarchy when ``label_tree`` is not given).
    label_tree : LabelTree, optional
        The class hierarchy.

    Returns
    -------
    DataFrame
        As :func:`label_nodes`; the tie-break is in the module notes.
    """
    A = np.asarray(assignments, dtype=np.int64)
    A = A[:, None] if A.ndim == 1 else A
    maps = [tuple(int(v) for v in m) for m in maps]
    labels = np.asarray(labels).astype(str)
    if A.shape != (labels.size, len(maps)):
        raise VentgenValueError(f"assignments must have shape ({labels.size}, {len(maps)}) (breaths, levels), "
                                f"got {A.shape}")
    sup = None if superclasses is None else np.asarray(superclasses).astype(str)
    tree = infer_label_tree(labels, sup, label_tree)
    return label_table(count_labels(A, labels, maps, tree))


def label_nodes(model, reference, *, labels=None, label_tree=None) -> pd.DataFrame:
    """Class of every node of every level: the majority label of the reference breaths it holds.

    Parameters
    ----------
    model : HTVAE
        A fitted model (``assign`` and ``maps`` are used).
    reference : CycleSet or path
        The training (or any labelled reference) cycles.
    labels : array-like of str, optional
        One label per reference cycle (for example must-link group names) instead of
        ``reference.labels``; ``""`` = unlabelled (ignored for the majority).
    label_tree : LabelTree, optional
        The class hierarchy (default: from the reference's super-classes, else the ventilation tree).

    Returns
    -------
    DataFrame
        One row per (level, node): ``level``, ``node``, ``n_breaths`` (assigned reference breaths),
        ``n_labelled``, ``label`` (majority fine label, ``""`` when the node holds no labelled breath;
        a tie goes to the label that sorts first), ``purity`` (share of the majority label),
        ``superclass``, ``superclass_purity``.

    Examples
    --------
    >>> import ventgen
    >>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    >>> cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    >>> model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0,
    ...                       device="cpu", progress=False).fit(cycles)
    >>> table = label_nodes(model, cycles)
    >>> list(table.columns[:6])
    ['level', 'node', 'n_breaths', 'n_labelled', 'label', 'purity']
    >>> len(table), int(table[table.level == 1].n_breaths.sum()) == len(cycles.X)
    (6, True)
    """
    ref = as_reference(reference, labels)
    return label_table(node_stats(model, ref, label_tree))
