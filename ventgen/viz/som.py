"""SOM levels drawn as their lattices, every node coloured by the classes of the breaths it holds."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle, Wedge

from ..errors import VentgenValueError
from ..evaluate.nodes import (
    as_labels,
    check_assignments,
    check_maps,
    node_class_table,
    ordered_classes,
)
from ._style import EMPTY_COLOR, class_colors, class_legend, new_figure

__all__ = ["plot_som_levels"]


def plot_som_levels(
    assignments,
    labels,
    maps,
    *,
    style: str = "pie",
    colors: Mapping[str, str] | None = None,
    title: str | None = None,
    cell_size: float = 0.42,
) -> Figure:
    """Each SOM level as its lattice, every node coloured by the classes of the breaths it holds.

    Like Figure 1 of the HTVAE paper: one panel per level (deepest, largest map first), one cell per
    code in row-major order. ``style="pie"`` draws a pie of class proportions per node whose radius
    grows with the node's share of the data; ``style="bar"`` fills each cell with stacked class
    fractions. Empty nodes are pale grey.

    Parameters
    ----------
    assignments : array of int, shape (n, M)
        Node of every breath at every level (column ``i - 1`` = level ``i``, as ``HTVAE.assign``).
    labels : array of str, shape (n,) or None
        Class of every breath; ``None`` or ``""`` = unlabelled (grey).
    maps : list of (h, w)
        Lattice shapes, level 1 (deepest) first, as ``HTVAE.maps``.
    style : {"pie", "bar"}
    colors : mapping, optional
        Class -> colour; default :func:`class_colors`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per level.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = np.stack([rng.integers(0, 16, 50), rng.integers(0, 4, 50)], axis=1)
    >>> fig = plot_som_levels(a, rng.choice(["apnea", "snoring"], 50), [(4, 4), (2, 2)])
    >>> len(fig.axes)
    2
    """
    if style not in ("pie", "bar"):
        raise VentgenValueError(f"style must be 'pie' or 'bar', got {style!r}")
    maps = check_maps(maps)
    a = check_assignments(assignments, maps)
    lab = as_labels(labels, a.shape[0])
    classes = ordered_classes(lab)
    colors = {**class_colors(classes), **(colors or {})}
    M = len(maps)
    widths = [max(w, 3) for _, w in maps]
    hmax = max(h for h, _ in maps)
    fig = new_figure(
        max(5.0, cell_size * sum(widths) + 0.6 * M + 0.5), max(3.0, cell_size * hmax + 1.9)
    )
    axes = fig.subplots(1, M, width_ratios=widths, squeeze=False)[0]
    for i, ax in enumerate(axes, start=1):
        h, w = maps[i - 1]
        tab = node_class_table(a, lab, maps, i)
        n_node = tab["n"].to_numpy()
        _draw_level(ax, (h, w), tab[classes].to_numpy(), n_node, [colors[c] for c in classes], style)
        pad = (widths[i - 1] - w) / 2  # narrow maps sit centred in a wider box: same cell size everywhere
        _lattice_axes(ax, h, w, pad)
        used = int((n_node > 0).sum())
        ax.set_title(f"level {i}: {h}×{w}\n{used}/{h * w} nodes used", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=12)
    class_legend(fig, classes, colors)
    return fig


def _draw_level(ax, shape, counts: np.ndarray, n_node: np.ndarray, colors: list, style: str) -> None:
    """Every node of one lattice: a white cell, hatched when empty, else its pie or bar of classes."""
    h, w = shape
    share_max = n_node.max() if n_node.max() > 0 else 1
    for k in range(h * w):
        r, c = divmod(k, w)
        ax.add_patch(Rectangle((c + 0.04, h - r - 0.96), 0.92, 0.92, facecolor="white",
                               edgecolor="#d9d9d9", linewidth=0.6))
        if n_node[k] == 0:
            ax.add_patch(Rectangle((c + 0.04, h - r - 0.96), 0.92, 0.92, facecolor=EMPTY_COLOR,
                                   edgecolor="#d9d9d9", linewidth=0.6, hatch="///", alpha=0.7))
            continue
        frac = counts[k] / n_node[k]
        if style == "pie":
            radius = 0.18 + 0.27 * np.sqrt(n_node[k] / share_max)
            _pie(ax, (c + 0.5, h - r - 0.5), radius, frac, colors)
        else:
            _bar(ax, c + 0.08, h - r - 0.92, frac, colors)


def _pie(ax, centre, radius: float, frac: np.ndarray, colors: list) -> None:
    start = 90.0
    for j, f in enumerate(frac):
        if f <= 0:
            continue
        if f >= 1 - 1e-9:
            ax.add_patch(Circle(centre, radius, facecolor=colors[j], edgecolor="white", linewidth=0.5))
            break
        ax.add_patch(Wedge(centre, radius, start, start + 360 * f, facecolor=colors[j], edgecolor="white",
                           linewidth=0.4))
        start += 360 * f


def _bar(ax, x0: float, y0: float, frac: np.ndarray, colors: list) -> None:
    for j, f in enumerate(frac):
        if f <= 0:
            continue
        ax.add_patch(Rectangle((x0, y0), 0.84 * f, 0.84, facecolor=colors[j], edgecolor="none"))
        x0 += 0.84 * f


def _lattice_axes(ax, h: int, w: int, pad: float) -> None:
    ax.set_xlim(-pad, w + pad)
    ax.set_ylim(0, h)
    ax.set_aspect("equal")
    ax.set_anchor("N")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
