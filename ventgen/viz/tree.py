"""The learned hierarchy as a tree: level-1 codes at the bottom, the virtual root on top."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from ..errors import VentgenValueError
from ..evaluate.nodes import (
    as_labels,
    check_assignments,
    check_maps,
    node_class_table,
    ordered_classes,
)
from ._style import UNLABELLED, UNLABELLED_COLOR, class_colors, class_legend, new_figure

__all__ = ["plot_learned_tree"]


def _check_tree(tree, maps) -> list[np.ndarray]:
    if len(tree) != len(maps) - 1:
        raise VentgenValueError(
            f"tree: expected {len(maps) - 1} parent arrays for {len(maps)} levels, got {len(tree)}"
        )
    out = []
    for i, parents in enumerate(tree, start=1):
        p = np.asarray(parents)
        K = maps[i - 1][0] * maps[i - 1][1]
        Kup = maps[i][0] * maps[i][1]
        if p.shape != (K,) or not np.issubdtype(p.dtype, np.integer):
            raise VentgenValueError(f"tree[{i - 1}]: expected {K} integer parents (level {i}), got shape {p.shape}, dtype {p.dtype}")
        if p.size and (p.min() < 0 or p.max() >= Kup):
            raise VentgenValueError(f"tree[{i - 1}]: parents must be node ids of level {i + 1} in [0, {Kup - 1}]")
        out.append(p.astype(np.int64))
    return out


def _tree_layout(parents: list[np.ndarray], maps, keep: list[np.ndarray]) -> list[np.ndarray]:
    """x position of every kept node per level (NaN for hidden nodes); leaves spread in DFS order."""
    M = len(maps)
    sizes = [h * w for h, w in maps]
    children: list[dict[int, list[int]]] = [dict() for _ in range(M)]  # children[i][k]: kids of level i+1 node k
    for i in range(1, M):
        for k in np.flatnonzero(keep[i - 1]):
            children[i].setdefault(int(parents[i - 1][k]), []).append(int(k))
    xs = [np.full(s, np.nan) for s in sizes]
    slot = [0.0]

    def place(level: int, k: int) -> float:  # level is 0-based
        kids = children[level].get(k, []) if level > 0 else []
        if not kids:
            x = slot[0]
            slot[0] += 1.0
        else:
            x = float(np.mean([place(level - 1, c) for c in kids]))
        xs[level][k] = x
        return x

    for k in np.flatnonzero(keep[M - 1]):
        place(M - 1, int(k))
    return xs


def plot_learned_tree(
    tree,
    maps,
    *,
    assignments=None,
    labels=None,
    colors: Mapping[str, str] | None = None,
    hide_empty: bool = True,
    title: str | None = None,
) -> Figure:
    """The learned hierarchy: level-1 codes at the bottom, their parents above, a virtual root on top.

    Nodes are coloured by the majority class of the breaths assigned to them and sized by how many
    they hold. Nodes with no data (and, with ``hide_empty``, no used descendant) are hidden.

    Parameters
    ----------
    tree : list of M-1 int arrays
        ``tree[i-1][k]`` = parent in level ``i+1`` of node ``k`` of level ``i`` (``HTVAE.tree_``).
    maps : list of (h, w)
        Lattice shapes, level 1 first.
    assignments : array of int, shape (n, M), optional
        Node of every breath at every level; without it every node is drawn the same.
    labels : array of str, shape (n,), optional
    colors : mapping, optional
    hide_empty : bool
        Hide nodes that hold no breath and whose subtree holds none.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> tree = [np.array([0, 0, 1, 1]), np.array([0, 0])]
    >>> a = np.array([[0, 0, 0], [2, 1, 0], [3, 1, 0]])
    >>> fig = plot_learned_tree(tree, [(2, 2), (1, 2), (1, 1)], assignments=a, labels=["apnea", "cough", "cough"])
    >>> len(fig.axes)
    1
    """
    maps = check_maps(maps)
    parents = _check_tree(tree, maps)
    M = len(maps)
    sizes = [h * w for h, w in maps]
    classes, counts, majority = _node_summary(assignments, labels, maps)
    colors = {**class_colors(classes or [UNLABELLED]), **(colors or {})}
    keep = _shown_nodes(counts, parents, sizes, hide_empty)
    xs = _tree_layout(parents, maps, keep)
    n_leaves = max(1, int(np.nansum([np.isfinite(x).sum() for x in xs[:1]])))
    width = float(np.nanmax(np.concatenate([x[np.isfinite(x)] for x in xs] + [np.zeros(1)]))) + 1
    fig = new_figure(min(12.5, max(6.0, 0.18 * width + 2.0)), 0.95 * (M + 1) + 1.4)
    ax = fig.add_subplot(1, 1, 1)
    root_x = np.nanmean(xs[M - 1][keep[M - 1]]) if keep[M - 1].any() else 0.0
    _edges(ax, xs, parents, keep, root_x)
    # marker area: a node's diameter grows with sqrt(its share of the level's breaths), capped so that
    # neighbours do not overlap (the slot of a node = leaves under it x leaf spacing)
    slot_pt = 0.85 * fig.get_figwidth() * 72 / (width + 1)
    n_shown = [max(1, int(kp.sum())) for kp in keep]
    for i in range(M):
        k = np.flatnonzero(keep[i])
        cap = min(34.0, 0.9 * slot_pt * n_shown[0] / n_shown[i])
        if assignments is not None:
            rel = counts[i][k] / max(1, counts[i][k].max())
            sz = (3.0 + (cap - 3.0) * np.sqrt(rel)) ** 2
        else:
            sz = np.full(k.size, min(cap, 7.0) ** 2)
        fc = [colors.get(m, UNLABELLED_COLOR) if counts[i][kk] > 0 else "white"
              for m, kk in zip(majority[i][k], k, strict=True)]
        ax.scatter(xs[i][k], np.full(k.size, i), s=sz, c=fc, edgecolors="#444444", linewidths=0.5, zorder=2)
    ax.scatter([root_x], [M], s=90, c="#333333", marker="s", zorder=3)
    ax.set_yticks(range(M + 1), [f"level {i + 1}\n{maps[i][0]}×{maps[i][1]}" for i in range(M)] + ["root"],
                  fontsize=10)
    ax.set_xticks([])
    ax.set_ylim(-0.6, M + 0.5)
    ax.set_xlim(-1, width)
    for s in ("top", "right", "bottom"):
        ax.spines[s].set_visible(False)
    ax.set_title(title or f"learned tree ({n_leaves} used level-1 nodes{'; empty nodes hidden' if hide_empty else ''})",
                 fontsize=11)
    if classes:
        class_legend(fig, classes, colors)
    return fig


def _node_summary(assignments, labels, maps):
    """(classes, breaths per node, majority class per node) of every level; all alike without data."""
    if assignments is None:
        sizes = [h * w for h, w in maps]
        return ([], [np.ones(s, dtype=np.int64) for s in sizes],
                [np.full(s, UNLABELLED, dtype=object) for s in sizes])
    a = check_assignments(assignments, maps)
    lab = as_labels(labels, a.shape[0])
    tabs = [node_class_table(a, lab, maps, i) for i in range(1, len(maps) + 1)]
    return ordered_classes(lab), [t["n"].to_numpy() for t in tabs], [t["majority"].to_numpy() for t in tabs]


def _shown_nodes(counts, parents, sizes, hide_empty: bool) -> list:
    """Per level, whether each node is drawn: it (or a descendant) holds data, or all with ``hide_empty`` off."""
    keep = [c > 0 if hide_empty else np.ones_like(c, dtype=bool) for c in counts]
    for i in range(1, len(sizes)):
        up = np.zeros(sizes[i], dtype=bool)
        up[parents[i - 1][keep[i - 1]]] = True
        keep[i] = keep[i] | up
    return keep


def _edges(ax, xs, parents, keep, root_x) -> None:
    """The lines from every shown node to its parent (the top level's to the root)."""
    M = len(xs)
    segs_x, segs_y = [], []
    for i in range(M):
        for k in np.flatnonzero(keep[i]):
            if i < M - 1:
                px, py = xs[i + 1][parents[i][k]], i + 1
            else:
                px, py = root_x, M
            segs_x += [xs[i][k], px, np.nan]
            segs_y += [i, py, np.nan]
    ax.plot(segs_x, segs_y, color="#9a9a9a", linewidth=0.7, zorder=1)
