"""Classes per node of a learned hierarchy: the counts behind the SOM and tree figures and the report.

Labels are strings (``""`` = unlabelled); class order is the ventilation tree's, then natural sort,
unlabelled last, so every table and figure lists classes alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import VentgenTypeError, VentgenValueError
from ..labels import VENTILATION_TREE

__all__ = ["UNLABELLED", "natural_key", "ordered_classes", "as_labels", "check_maps", "check_assignments",
           "node_class_table"]

UNLABELLED = ""


def natural_key(s: str):
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def ordered_classes(labels: np.ndarray) -> list[str]:
    """Distinct labels: ventilation order first, then natural sort, unlabelled last."""
    present = {str(v) for v in np.unique(labels)}
    known = list(VENTILATION_TREE.classes) + [c for c in VENTILATION_TREE.level_labels(VENTILATION_TREE.n_levels - 1)
                                              if c not in VENTILATION_TREE.classes]
    vent = [c for c in known if c in present]
    rest = sorted(present - set(vent) - {UNLABELLED}, key=natural_key)
    return vent + rest + ([UNLABELLED] if UNLABELLED in present else [])



def as_labels(labels, n: int, what: str = "labels") -> np.ndarray:
    if labels is None:
        return np.full(n, UNLABELLED, dtype=object)
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise VentgenValueError(f"{what}: expected a 1-D array of {n} labels, got shape {arr.shape}")
    return np.array([str(v) for v in arr], dtype=object)


def check_maps(maps) -> list[tuple[int, int]]:
    try:
        out = [(int(h), int(w)) for h, w in maps]
    except (TypeError, ValueError):
        raise VentgenTypeError(f"maps must be a list of (height, width) pairs, got {maps!r}") from None
    if not out or any(h < 1 or w < 1 for h, w in out):
        raise VentgenValueError(f"maps must be a non-empty list of positive (height, width) pairs, got {maps!r}")
    return out


def check_assignments(assignments, maps) -> np.ndarray:
    a = np.asarray(assignments)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] != len(maps):
        raise VentgenValueError(
            f"assignments: expected shape (n, {len(maps)}) (one column per SOM level), got {np.shape(assignments)}"
        )
    if not np.issubdtype(a.dtype, np.integer):
        raise VentgenTypeError(f"assignments: expected integer node ids, got dtype {a.dtype}")
    for i, (h, w) in enumerate(maps):
        col = a[:, i]
        if col.size and (col.min() < 0 or col.max() >= h * w):
            raise VentgenValueError(
                f"assignments: level {i + 1} has node ids outside [0, {h * w - 1}] (map {h}x{w}): "
                f"min {int(col.min())}, max {int(col.max())}"
            )
    return a.astype(np.int64)


def node_class_table(assignments, labels, maps, level: int) -> pd.DataFrame:
    """Counts of each class per node of one SOM level.

    Parameters
    ----------
    assignments : array of int, shape (n, M)
        Node of every breath at every level (column ``i - 1`` = level ``i``).
    labels : array of str, shape (n,)
        Class of every breath (``""`` = unlabelled).
    maps : list of (h, w)
        Lattice shapes, level 1 first.
    level : int
        1-based level.

    Returns
    -------
    DataFrame
        One row per node (index = node id, row-major), one column per class, plus ``n`` and
        ``majority`` (``""`` for empty nodes; unlabelled breaths never win unless alone; a tie goes to
        the class that sorts first, as in :func:`ventgen.generate.labelling.label_nodes`).

    Examples
    --------
    >>> t = node_class_table([[0], [0], [3]], ["apnea", "apnea", "snoring"], [(2, 2)], level=1)
    >>> int(t.loc[0, "apnea"]), t.loc[3, "majority"], int(t.loc[1, "n"])
    (2, 'snoring', 0)
    >>> node_class_table([[0]] * 4, ["coughing"] * 2 + ["apnea"] * 2, [(1, 1)], level=1).loc[0, "majority"]
    'apnea'

    """
    maps = check_maps(maps)
    a = check_assignments(assignments, maps)
    if not 1 <= level <= len(maps):
        raise VentgenValueError(f"level must be in [1, {len(maps)}], got {level}")
    lab = as_labels(labels, a.shape[0])
    classes = ordered_classes(lab)
    K = maps[level - 1][0] * maps[level - 1][1]
    codes = {c: i for i, c in enumerate(classes)}
    ci = np.array([codes[v] for v in lab], dtype=np.int64) if lab.size else np.zeros(0, np.int64)
    counts = np.zeros((K, len(classes)), dtype=np.int64)
    np.add.at(counts, (a[:, level - 1], ci), 1)
    df = pd.DataFrame(counts, columns=classes)
    df.index.name = "node"
    df["n"] = counts.sum(axis=1)
    labelled = counts.copy()
    if UNLABELLED in codes and len(classes) > 1:
        labelled[:, codes[UNLABELLED]] = 0
    # the generation's rule (ventgen.generate.labelling): a tie goes to the class that sorts first
    alpha = np.argsort(np.array(classes, dtype=str), kind="stable")
    best = alpha[np.where(labelled.sum(axis=1) > 0, labelled[:, alpha].argmax(axis=1), counts[:, alpha].argmax(axis=1))]
    df["majority"] = np.where(df["n"].to_numpy() > 0, np.array(classes, dtype=object)[best], UNLABELLED)
    return df
