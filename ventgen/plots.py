"""Figures of a ventgen run: SOM levels, the learned tree, reconstructions, generated breaths, fidelity.

Every function takes plain arrays, DataFrames and dicts (nothing here imports torch or a model) and
returns a :class:`matplotlib.figure.Figure` drawn on the Agg canvas. Nothing calls ``plt.show()`` and
nothing touches pyplot's global figure list, so the functions are safe in scripts, servers and tests;
save with ``fig.savefig(path)`` or display in a notebook.

Class colours are fixed: :func:`class_colors` derives them from
:data:`ventgen.labels.VENTILATION_TREE` (one colour family per super-class), so "apnea" has the same
colour in every figure of every report. Other labels (digits, image classes) get a stable qualitative
palette in sorted order; unlabelled breaths (``""``) are grey.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch, Rectangle, Wedge
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from .errors import VentgenTypeError, VentgenValueError
from .labels import VENTILATION_TREE

__all__ = [
    "class_colors",
    "plot_som_levels",
    "plot_learned_tree",
    "plot_reconstructions",
    "plot_generated_vs_real",
    "plot_metadata_distributions",
    "plot_metadata_by_class",
    "plot_training_curves",
    "plot_recording_excerpt",
    "node_class_table",
    "METADATA_COLUMNS",
]

#: Breath-metadata columns compared real vs synthetic, with display names and units.
METADATA_COLUMNS = {
    "rr_bpm": "Respiratory rate [breaths/min]",
    "itime_s": "Inspiratory time [s]",
    "tvi_ml": "Inspired tidal volume [mL]",
    "pip_cmh2o": "Peak inspiratory pressure [cmH2O]",
    "peep_cmh2o": "PEEP [cmH2O]",
}

UNLABELLED = ""
UNLABELLED_COLOR = "#b8b8b8"
EMPTY_COLOR = "#f1f1f1"

# one colour family per ventilation super-class (colour-blind-aware hues, Okabe-Ito based)
_FAMILIES = {
    "normal breathing": ["#2e9e5b"],
    # speaking, coughing, snoring, apnea, swallowing
    "respiratory event": ["#f5a623", "#d94801", "#e377c2", "#a50f15", "#8c6d31"],
    # lying down, turning left, turning right, knees to chest
    "movement": ["#08519c", "#41b6c4", "#9e9ac8", "#54278f"],
}
_SUPER_COLORS = {"normal breathing": "#2e9e5b", "respiratory event": "#d55e00", "movement": "#0072b2"}
_FALLBACK = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#bcbd22", "#8c564b", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
    "#9467bd", "#e377c2", "#7f7f7f", "#aec7e8",
]  # fmt: skip


def _ventilation_colors() -> dict[str, str]:
    out: dict[str, str] = {}
    used: dict[str, int] = {}
    for cls in VENTILATION_TREE.classes:
        sup = VENTILATION_TREE.ancestor(cls, VENTILATION_TREE.n_levels - 1)
        fam = _FAMILIES.get(sup, _FALLBACK)
        k = used.get(sup, 0)
        used[sup] = k + 1
        out[cls] = fam[k % len(fam)]
    for sup, col in _SUPER_COLORS.items():
        out.setdefault(sup, col)
    out["respiratory events"] = _SUPER_COLORS["respiratory event"]
    return out


_VENT_COLORS = _ventilation_colors()


def class_colors(classes: Sequence | None = None) -> dict[str, str]:
    """Fixed colours (hex strings) for class names.

    Ventilation classes and super-classes always get the colour derived from
    :data:`~ventgen.labels.VENTILATION_TREE`; other names get a qualitative palette in sorted order;
    ``""`` (unlabelled) is grey.

    Parameters
    ----------
    classes : sequence of str, optional
        The names to colour. Default: the ten ventilation classes and three super-classes.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> cols = class_colors(["apnea", "normal breathing", ""])
    >>> cols["apnea"] == class_colors()["apnea"], cols[""]
    (True, '#b8b8b8')
    """
    if classes is None:
        return dict(_VENT_COLORS)
    names = [str(c) for c in classes]
    out: dict[str, str] = {}
    others = sorted({c for c in names if c not in _VENT_COLORS and c != UNLABELLED}, key=_natural_key)
    for c in names:
        if c == UNLABELLED:
            out[c] = UNLABELLED_COLOR
        elif c in _VENT_COLORS:
            out[c] = _VENT_COLORS[c]
    for i, c in enumerate(others):
        out[c] = _FALLBACK[i % len(_FALLBACK)]
    return out


def _natural_key(s: str):
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def _ordered_classes(labels: np.ndarray) -> list[str]:
    """Distinct labels: ventilation order first, then natural sort, unlabelled last."""
    present = {str(v) for v in np.unique(labels)}
    known = list(VENTILATION_TREE.classes) + [c for c in VENTILATION_TREE.level_labels(VENTILATION_TREE.n_levels - 1)
                                              if c not in VENTILATION_TREE.classes]
    vent = [c for c in known if c in present]
    rest = sorted(present - set(vent) - {UNLABELLED}, key=_natural_key)
    return vent + rest + ([UNLABELLED] if UNLABELLED in present else [])


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _panel_grid(n: int, *, panel_w: float, panel_h: float, extra_h: float, max_cols: int = 3):
    """A figure with ``n`` panels in rows of at most ``max_cols``; unused cells removed.

    Returns the figure and the flat array of axes (its first ``n`` entries are the panels).
    """
    ncol = min(n, max_cols)
    nrow = int(np.ceil(n / ncol))
    fig = _new_figure(panel_w * ncol + 0.4, panel_h * nrow + extra_h)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    return fig, axes


def _as_labels(labels, n: int, what: str = "labels") -> np.ndarray:
    if labels is None:
        return np.full(n, UNLABELLED, dtype=object)
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise VentgenValueError(f"{what}: expected a 1-D array of {n} labels, got shape {arr.shape}")
    return np.array([str(v) for v in arr], dtype=object)


def _check_maps(maps) -> list[tuple[int, int]]:
    try:
        out = [(int(h), int(w)) for h, w in maps]
    except (TypeError, ValueError):
        raise VentgenTypeError(f"maps must be a list of (height, width) pairs, got {maps!r}") from None
    if not out or any(h < 1 or w < 1 for h, w in out):
        raise VentgenValueError(f"maps must be a non-empty list of positive (height, width) pairs, got {maps!r}")
    return out


def _check_assignments(assignments, maps) -> np.ndarray:
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
        ``majority`` (``""`` for empty nodes; unlabelled breaths never win unless alone).

    Examples
    --------
    >>> t = node_class_table([[0], [0], [3]], ["apnea", "apnea", "snoring"], [(2, 2)], level=1)
    >>> int(t.loc[0, "apnea"]), t.loc[3, "majority"], int(t.loc[1, "n"])
    (2, 'snoring', 0)
    """
    maps = _check_maps(maps)
    a = _check_assignments(assignments, maps)
    if not 1 <= level <= len(maps):
        raise VentgenValueError(f"level must be in [1, {len(maps)}], got {level}")
    lab = _as_labels(labels, a.shape[0])
    classes = _ordered_classes(lab)
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
    best = np.where(labelled.sum(axis=1) > 0, labelled.argmax(axis=1), counts.argmax(axis=1))
    df["majority"] = np.where(df["n"].to_numpy() > 0, np.array(classes, dtype=object)[best], UNLABELLED)
    return df


def _class_legend(fig: Figure, classes: Sequence[str], colors: Mapping[str, str], *, loc="outside lower center", ncol=None):
    handles = [Patch(facecolor=colors[c], edgecolor="none", label=c or "unlabelled") for c in classes]
    if handles:
        longest = max(len(h.get_label()) for h in handles)
        fit = max(1, int(fig.get_figwidth() / (0.45 + 0.075 * longest)))  # columns that fit the width
        fig.legend(handles=handles, loc=loc, ncol=ncol or min(len(handles), 6, fit), frameon=False, fontsize=9)


# ---------------------------------------------------------------------------------------------- SOM
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
    maps = _check_maps(maps)
    a = _check_assignments(assignments, maps)
    lab = _as_labels(labels, a.shape[0])
    classes = _ordered_classes(lab)
    colors = {**class_colors(classes), **(colors or {})}
    M = len(maps)
    widths = [max(w, 3) for _, w in maps]
    hmax = max(h for h, _ in maps)
    fig = _new_figure(
        max(5.0, cell_size * sum(widths) + 0.6 * M + 0.5), max(3.0, cell_size * hmax + 1.9)
    )
    axes = fig.subplots(1, M, width_ratios=widths, squeeze=False)[0]
    for i, ax in enumerate(axes, start=1):
        h, w = maps[i - 1]
        tab = node_class_table(a, lab, maps, i)
        counts = tab[classes].to_numpy()
        n_node = tab["n"].to_numpy()
        share_max = n_node.max() if n_node.max() > 0 else 1
        for k in range(h * w):
            r, c = divmod(k, w)
            cx, cy = c + 0.5, h - r - 0.5
            ax.add_patch(Rectangle((c + 0.04, h - r - 0.96), 0.92, 0.92, facecolor="white",
                                   edgecolor="#d9d9d9", linewidth=0.6))
            if n_node[k] == 0:
                ax.add_patch(Rectangle((c + 0.04, h - r - 0.96), 0.92, 0.92, facecolor=EMPTY_COLOR,
                                       edgecolor="#d9d9d9", linewidth=0.6, hatch="///", alpha=0.7))
                continue
            frac = counts[k] / n_node[k]
            if style == "pie":
                radius = 0.18 + 0.27 * np.sqrt(n_node[k] / share_max)
                start = 90.0
                for j, f in enumerate(frac):
                    if f <= 0:
                        continue
                    if f >= 1 - 1e-9:
                        ax.add_patch(Circle((cx, cy), radius, facecolor=colors[classes[j]],
                                            edgecolor="white", linewidth=0.5))
                        break
                    ax.add_patch(Wedge((cx, cy), radius, start, start + 360 * f,
                                       facecolor=colors[classes[j]], edgecolor="white", linewidth=0.4))
                    start += 360 * f
            else:
                x0 = c + 0.08
                for j, f in enumerate(frac):
                    if f <= 0:
                        continue
                    ax.add_patch(Rectangle((x0, h - r - 0.92), 0.84 * f, 0.84,
                                           facecolor=colors[classes[j]], edgecolor="none"))
                    x0 += 0.84 * f
        pad = (widths[i - 1] - w) / 2  # narrow maps sit centred in a wider box: same cell size everywhere
        ax.set_xlim(-pad, w + pad)
        ax.set_ylim(0, h)
        ax.set_aspect("equal")
        ax.set_anchor("N")
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        used = int((n_node > 0).sum())
        ax.set_title(f"level {i}: {h}×{w}\n{used}/{h * w} nodes used", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=12)
    _class_legend(fig, classes, colors)
    return fig


# --------------------------------------------------------------------------------------------- tree
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
    maps = _check_maps(maps)
    parents = _check_tree(tree, maps)
    M = len(maps)
    sizes = [h * w for h, w in maps]
    if assignments is not None:
        a = _check_assignments(assignments, maps)
        lab = _as_labels(labels, a.shape[0])
        classes = _ordered_classes(lab)
        tabs = [node_class_table(a, lab, maps, i) for i in range(1, M + 1)]
        counts = [t["n"].to_numpy() for t in tabs]
        majority = [t["majority"].to_numpy() for t in tabs]
    else:
        classes = []
        counts = [np.ones(s, dtype=np.int64) for s in sizes]
        majority = [np.full(s, UNLABELLED, dtype=object) for s in sizes]
    colors = {**class_colors(classes or [UNLABELLED]), **(colors or {})}
    # keep: a node is shown if it (or a descendant) holds data
    keep = [c > 0 if hide_empty else np.ones_like(c, dtype=bool) for c in counts]
    for i in range(1, M):
        up = np.zeros(sizes[i], dtype=bool)
        up[parents[i - 1][keep[i - 1]]] = True
        keep[i] = keep[i] | up
    xs = _tree_layout(parents, maps, keep)
    n_leaves = max(1, int(np.nansum([np.isfinite(x).sum() for x in xs[:1]])))
    width = float(np.nanmax(np.concatenate([x[np.isfinite(x)] for x in xs] + [np.zeros(1)]))) + 1
    fig = _new_figure(min(12.5, max(6.0, 0.18 * width + 2.0)), 0.95 * (M + 1) + 1.4)
    ax = fig.add_subplot(1, 1, 1)
    root_x = np.nanmean(xs[M - 1][keep[M - 1]]) if keep[M - 1].any() else 0.0
    # edges
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
        _class_legend(fig, classes, colors)
    return fig


# ---------------------------------------------------------------------------------- reconstructions
def _check_batch(X, what: str) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise VentgenValueError(f"{what}: expected an array (n, channels, time), got shape {np.shape(X)}")
    return arr


def _channel_names(C: int, channels) -> list[str]:
    if channels is not None:
        names = [str(c) for c in channels]
        if len(names) != C:
            raise VentgenValueError(f"channels: expected {C} names, got {len(names)}: {names}")
        return names
    default = ["flow [L/min]", "pressure [cmH2O]", "volume [mL]"]
    return default[:C] if C <= 3 else [f"channel {i}" for i in range(C)]


def _pretty_channel(name: str) -> str:
    return {"flow_lpm": "flow [L/min]", "flow": "flow [L/min]", "paw_cmh2o": "pressure [cmH2O]",
            "pressure": "pressure [cmH2O]", "volume_ml": "volume [mL]", "volume": "volume [mL]"}.get(name, name)


def _time_axis(T: int, sampling_rate):
    if sampling_rate is None:
        return np.arange(T), "sample"
    return np.arange(T) / float(sampling_rate), "time [s]"


def plot_reconstructions(
    original,
    reconstructions,
    *,
    n_show: int = 3,
    sampling_rate: float | None = None,
    channels: Sequence[str] | None = None,
    level_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Original breaths against their reconstructions from every level of the hierarchy.

    Parameters
    ----------
    original : array, shape (n, C, T)
        Breath cycles in original units.
    reconstructions : sequence of arrays (n, C, T), or array (L, n, C, T)
        Reconstructions at levels 0 (the continuous latent), 1, ..., M.
    n_show : int
        Number of breaths (columns) shown, the first ``n_show``.
    sampling_rate : float, optional
        Cycle sampling rate in Hz, for a time axis in seconds.
    channels : sequence of str, optional
        Channel names for the row labels.
    level_names : sequence of str, optional
        Legend names of the reconstructions (default ``z0``, ``level 1``...).

    Returns
    -------
    matplotlib.figure.Figure
        ``C x n_show`` axes (rows = channels, columns = breaths).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(4, 2, 50))
    >>> fig = plot_reconstructions(X, [X + 0.1, X + 0.2, X + 0.3], n_show=2)
    >>> len(fig.axes)
    4
    """
    X = _check_batch(original, "original")
    R = [_check_batch(r, f"reconstructions[{i}]") for i, r in enumerate(reconstructions)]
    if not R:
        raise VentgenValueError("reconstructions: need at least one level")
    for i, r in enumerate(R):
        if r.shape[1:] != X.shape[1:] or r.shape[0] < min(n_show, X.shape[0]):
            raise VentgenValueError(
                f"reconstructions[{i}]: shape {r.shape} does not match the originals {X.shape}"
            )
    n = min(int(n_show), X.shape[0])
    if n < 1:
        raise VentgenValueError("plot_reconstructions: no breath to show")
    C, T = X.shape[1], X.shape[2]
    names = [_pretty_channel(c) for c in _channel_names(C, channels)]
    levels = list(level_names) if level_names is not None else (
        ["z0 (continuous)"] + [f"level {i}" for i in range(1, len(R))])
    if len(levels) != len(R):
        raise VentgenValueError(f"level_names: expected {len(R)} names, got {len(levels)}")
    t, xlabel = _time_axis(T, sampling_rate)
    fig = _new_figure(max(6.0, 3.4 * n), 2.3 * C + 1.0)
    axes = fig.subplots(C, n, squeeze=False, sharex=True, sharey="row")
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    lcols = [to_hex(cmap(v)) for v in np.linspace(0.0, 0.85, len(R))]
    for b in range(n):
        for c in range(C):
            ax = axes[c, b]
            ax.plot(t, X[b, c], color="black", linewidth=2.0, label="original", zorder=5)
            for li, r in enumerate(R):
                ax.plot(t, r[b, c], color=lcols[li], linewidth=1.1, label=levels[li], alpha=0.9)
            ax.grid(alpha=0.25)
            if b == 0:
                ax.set_ylabel(names[c])
            if c == 0:
                ax.set_title(f"breath {b + 1}", fontsize=10)
            if c == C - 1:
                ax.set_xlabel(xlabel)
    handles = [Line2D([], [], color="black", linewidth=2, label="original")] + [
        Line2D([], [], color=lcols[i], linewidth=1.5, label=levels[i]) for i in range(len(R))]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


# ------------------------------------------------------------------------------ generated vs real
def plot_generated_vs_real(
    real,
    real_labels,
    generated,
    generated_labels,
    *,
    classes: Sequence[str] | None = None,
    n_per_class: int = 6,
    sampling_rate: float | None = None,
    channels: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    random_state=0,
    title: str | None = None,
) -> Figure:
    """Generated breaths of each class beside real breaths of the same class.

    One row per class; for every channel two panels side by side: real, then generated, on a shared
    y axis so amplitudes compare honestly. Each panel shows up to ``n_per_class`` breaths thin and
    their pointwise median bold.

    Parameters
    ----------
    real, generated : arrays, shape (n, C, T)
        Cycles in original units.
    real_labels, generated_labels : arrays of str
        Class of every cycle.
    classes : sequence of str, optional
        Rows to draw (default: the classes present in ``generated``, in ventilation order).
    n_per_class : int
    sampling_rate : float, optional
    channels : sequence of str, optional
    colors : mapping, optional
    random_state : int or Generator
        Which breaths are shown.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(classes) x 2C`` axes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 2, 40))
    >>> y = np.array(["apnea", "snoring"] * 10)
    >>> fig = plot_generated_vs_real(X, y, X[:8] + 0.1, y[:8])
    >>> len(fig.axes)
    8
    """
    from ._core import check_random_state

    rng = check_random_state(random_state)
    Xr = _check_batch(real, "real")
    Xg = _check_batch(generated, "generated")
    if Xr.shape[1:] != Xg.shape[1:]:
        raise VentgenValueError(f"real {Xr.shape} and generated {Xg.shape} cycles differ in channels/length")
    yr = _as_labels(real_labels, Xr.shape[0], "real_labels")
    yg = _as_labels(generated_labels, Xg.shape[0], "generated_labels")
    rows = list(classes) if classes is not None else [c for c in _ordered_classes(yg) if c != UNLABELLED]
    if not rows:
        raise VentgenValueError("plot_generated_vs_real: no class to draw (generated_labels are all unlabelled)")
    colors = {**class_colors(rows), **(colors or {})}
    C, T = Xr.shape[1], Xr.shape[2]
    names = [_pretty_channel(c) for c in _channel_names(C, channels)]
    t, xlabel = _time_axis(T, sampling_rate)
    fig = _new_figure(2.6 * 2 * C + 1.0, 1.55 * len(rows) + 1.2)
    axes = fig.subplots(len(rows), 2 * C, squeeze=False, sharex=True)
    for c in range(C):  # one y range per channel across the whole figure
        vals = [Xr[:, c], Xg[:, c]]
        lo = min(float(np.nanpercentile(v, 0.5)) for v in vals if v.size)
        hi = max(float(np.nanpercentile(v, 99.5)) for v in vals if v.size)
        pad = 0.06 * (hi - lo or 1.0)
        for r in range(len(rows)):
            for j in (0, 1):
                axes[r, 2 * c + j].set_ylim(lo - pad, hi + pad)
    for r, cls in enumerate(rows):
        for c in range(C):
            for j, (Xs, ys, kind) in enumerate(((Xr, yr, "real"), (Xg, yg, "generated"))):
                ax = axes[r, 2 * c + j]
                idx = np.flatnonzero(ys == cls)
                if idx.size == 0:
                    ax.text(0.5, 0.5, f"no {kind} breath", ha="center", va="center", transform=ax.transAxes,
                            color="#888888", fontsize=8)
                else:
                    pick = rng.choice(idx, size=min(n_per_class, idx.size), replace=False)
                    ax.plot(t, Xs[pick, c].T, color=colors[cls], linewidth=0.8, alpha=0.55,
                            linestyle="-" if kind == "real" else "--")
                    ax.plot(t, np.median(Xs[idx, c], axis=0), color=colors[cls], linewidth=2.0)
                    ax.text(0.98, 0.95, f"n={idx.size}", ha="right", va="top", transform=ax.transAxes,
                            fontsize=7, color="#555555")
                ax.grid(alpha=0.25)
                ax.tick_params(labelsize=7)
                if j == 1:
                    ax.tick_params(labelleft=False)
                if r == 0:
                    ax.set_title(f"{names[c].split(' [')[0]} — {kind}", fontsize=9)
                if r == len(rows) - 1:
                    ax.set_xlabel(xlabel, fontsize=8)
        axes[r, 0].set_ylabel(cls, fontsize=9, color=colors[cls], fontweight="bold")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


# ------------------------------------------------------------------------------ metadata fidelity
def ks_table(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Two-sample Kolmogorov-Smirnov statistic of each metadata column, real vs synthetic.

    Returns a DataFrame with columns ``column, n_real, n_synthetic, real_median, synthetic_median, ks,
    p_value`` (rows for columns present in both frames).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 200)})
    >>> float(ks_table(a, a)["ks"].iloc[0])
    0.0
    """
    from scipy.stats import ks_2samp

    cols = [c for c in (columns or METADATA_COLUMNS) if c in real.columns and c in synthetic.columns]
    rows = []
    for col in cols:
        a = pd.to_numeric(real[col], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(synthetic[col], errors="coerce").to_numpy(dtype=float)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size and b.size:
            res = ks_2samp(a, b)
            ks, p = float(res.statistic), float(res.pvalue)
        else:
            ks = p = float("nan")
        rows.append({"column": col, "n_real": int(a.size), "n_synthetic": int(b.size),
                     "real_median": float(np.median(a)) if a.size else float("nan"),
                     "synthetic_median": float(np.median(b)) if b.size else float("nan"),
                     "ks": ks, "p_value": p})
    return pd.DataFrame(rows, columns=["column", "n_real", "n_synthetic", "real_median",
                                       "synthetic_median", "ks", "p_value"])


__all__.append("ks_table")


def plot_metadata_distributions(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    bins: int = 30,
    title: str | None = None,
) -> Figure:
    """Histograms of breath metadata, real vs synthetic, with the KS statistic in each title.

    Parameters
    ----------
    real, synthetic : DataFrame
        Breath tables (``segment_breaths`` output or ``CycleSet.breaths``).
    columns : sequence of str, optional
        Default: ``rr_bpm, itime_s, tvi_ml, pip_cmh2o, peep_cmh2o``; columns missing from either frame
        are skipped.
    bins : int
        Shared bins per column, between the 0.5 and 99.5 percentiles of both samples together.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per column present in both frames.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 300), "tvi_ml": rng.normal(500, 50, 300)})
    >>> fig = plot_metadata_distributions(a, a * 1.05)
    >>> len(fig.axes)
    2
    """
    if not isinstance(real, pd.DataFrame) or not isinstance(synthetic, pd.DataFrame):
        raise VentgenTypeError("plot_metadata_distributions: real and synthetic must be pandas DataFrames")
    ks = ks_table(real, synthetic, columns)
    if ks.empty:
        wanted = list(columns or METADATA_COLUMNS)
        raise VentgenValueError(
            f"plot_metadata_distributions: none of {wanted} is in both frames "
            f"(real has {list(real.columns)[:12]}, synthetic has {list(synthetic.columns)[:12]})"
        )
    n = len(ks)
    fig, axes = _panel_grid(n, panel_w=3.9, panel_h=2.9, extra_h=0.7)
    for ax, row in zip(axes, ks.itertuples(index=False), strict=False):
        col = row.column
        a = pd.to_numeric(real[col], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(synthetic[col], errors="coerce").to_numpy(dtype=float)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        both = np.concatenate([a, b])
        if both.size:
            lo, hi = np.percentile(both, [0.5, 99.5])
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, bins + 1)
            ax.hist(np.clip(a, lo, hi), bins=edges, density=True, color="#4d4d4d", alpha=0.45, label="real")
            ax.hist(np.clip(b, lo, hi), bins=edges, density=True, histtype="step", color="#d55e00",
                    linewidth=1.8, label="synthetic")
        ax.set_xlabel(METADATA_COLUMNS.get(col, col), fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=8.5)
        ks_txt = "n/a" if not np.isfinite(row.ks) else f"{row.ks:.3f}"
        ax.set_title(f"{col}   KS = {ks_txt}", fontsize=10.5)
    handles = [Patch(facecolor="#4d4d4d", alpha=0.45, label="real"),
               Line2D([], [], color="#d55e00", linewidth=1.8, label="synthetic")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_metadata_by_class(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    by: str = "label",
    columns: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    bins: int = 25,
    colors: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Breath metadata per class, real vs synthetic: one row per class, one column per quantity.

    Real breaths are filled grey, synthetic ones a step line in the class colour; each panel's title
    holds the KS statistic of that class and quantity.

    Parameters
    ----------
    real, synthetic : DataFrame
        Breath tables with a class column ``by``.
    by : str
        The class column.
    columns : sequence of str, optional
        Default: ``rr_bpm, itime_s, tvi_ml, pip_cmh2o, peep_cmh2o`` (those in both frames).
    classes : sequence of str, optional
        Default: the classes of ``synthetic``, in ventilation order.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(classes) x len(columns)`` axes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 300), "label": rng.choice(["apnea", "snoring"], 300)})
    >>> len(plot_metadata_by_class(a, a).axes)
    2
    """
    for name, df in (("real", real), ("synthetic", synthetic)):
        if not isinstance(df, pd.DataFrame):
            raise VentgenTypeError(f"plot_metadata_by_class: {name} must be a pandas DataFrame")
        if by not in df.columns:
            raise VentgenValueError(f"plot_metadata_by_class: {name} has no class column {by!r} (columns: {list(df.columns)[:12]})")
    cols = [c for c in (columns or METADATA_COLUMNS) if c in real.columns and c in synthetic.columns]
    if not cols:
        raise VentgenValueError(f"plot_metadata_by_class: none of {list(columns or METADATA_COLUMNS)} is in both frames")
    yr = real[by].astype(str).to_numpy()
    ys = synthetic[by].astype(str).to_numpy()
    rows = list(classes) if classes is not None else [c for c in _ordered_classes(ys) if c != UNLABELLED]
    if not rows:
        raise VentgenValueError("plot_metadata_by_class: no labelled synthetic breath")
    colors = {**class_colors(rows), **(colors or {})}
    fig = _new_figure(2.5 * len(cols) + 0.8, 1.45 * len(rows) + 1.0)
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    from scipy.stats import ks_2samp

    for j, col in enumerate(cols):
        a_all = pd.to_numeric(real[col], errors="coerce").to_numpy(dtype=float)
        b_all = pd.to_numeric(synthetic[col], errors="coerce").to_numpy(dtype=float)
        both = np.concatenate([a_all, b_all])
        both = both[np.isfinite(both)]
        lo, hi = (np.percentile(both, [0.5, 99.5]) if both.size else (0.0, 1.0))
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        for i, cls in enumerate(rows):
            ax = axes[i, j]
            a = a_all[(yr == cls) & np.isfinite(a_all)]
            b = b_all[(ys == cls) & np.isfinite(b_all)]
            if a.size:
                ax.hist(np.clip(a, lo, hi), bins=edges, density=True, color="#4d4d4d", alpha=0.4)
            if b.size:
                ax.hist(np.clip(b, lo, hi), bins=edges, density=True, histtype="step", color=colors[cls],
                        linewidth=1.8)
            ks = ks_2samp(a, b).statistic if a.size and b.size else float("nan")
            ax.set_title(f"KS = {ks:.2f}" if np.isfinite(ks) else "KS n/a", fontsize=8.5, pad=2)
            ax.set_yticks([])
            ax.tick_params(labelsize=7.5)
            ax.set_xlim(lo, hi)
            if i < len(rows) - 1:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel(METADATA_COLUMNS.get(col, col), fontsize=8.5)
            if j == 0:
                ax.set_ylabel(cls, fontsize=9, color=colors[cls], fontweight="bold")
    handles = [Patch(facecolor="#4d4d4d", alpha=0.4, label="real"),
               Line2D([], [], color="#333333", linewidth=1.8, label="synthetic (class colour)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


# ------------------------------------------------------------------------------- training curves
_LOSS_TERMS = ("loss", "rec", "hier", "topo", "must_link", "kl")


def plot_training_curves(history: Sequence[Mapping], *, title: str | None = None) -> Figure:
    """Training curves: one panel per loss term present, the perplexity of every level, unused codes.

    Parameters
    ----------
    history : list of dict
        One dict per epoch (``HTVAE.history_``): ``epoch``, ``loss``, ``rec``, ``hier``, ``topo``,
        ``must_link``, ``perplexity_1..M``, ``dead_1..M`` (unused codes); ``val_<term>`` keys are drawn
        dashed in the same panel. Terms that are absent or always zero are left out.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per drawn loss term, plus one for perplexities and one for unused codes when present.

    Examples
    --------
    >>> h = [{"epoch": e, "loss": 1 / (e + 1), "rec": 0.5 / (e + 1), "perplexity_1": 10 + e} for e in range(5)]
    >>> len(plot_training_curves(h).axes)
    3
    """
    if isinstance(history, pd.DataFrame):
        df = history.copy()
    else:
        if not isinstance(history, Sequence) or not history or not all(isinstance(h, Mapping) for h in history):
            raise VentgenTypeError("plot_training_curves: history must be a non-empty list of per-epoch dicts")
        df = pd.DataFrame(list(history))
    if df.empty:
        raise VentgenValueError("plot_training_curves: history is empty")
    x = df["epoch"].to_numpy(dtype=float) if "epoch" in df else np.arange(1, len(df) + 1, dtype=float)
    terms = [t for t in _LOSS_TERMS if t in df and np.nanmax(np.abs(df[t].to_numpy(dtype=float))) > 0]
    extra = [c for c in df.columns if c.endswith("_loss") and c not in terms and not c.startswith("val_")]
    terms += extra
    perp = sorted((c for c in df.columns if c.startswith("perplexity_")), key=lambda c: _natural_key(c.split("_", 1)[1]))
    dead = sorted((c for c in df.columns if c.startswith("dead_")), key=lambda c: _natural_key(c.split("_", 1)[1]))
    n = len(terms) + (1 if perp else 0) + (1 if dead else 0)
    if n == 0:
        raise VentgenValueError(
            f"plot_training_curves: no loss term or perplexity in history (keys: {list(df.columns)})"
        )
    fig, axes = _panel_grid(n, panel_w=3.6, panel_h=2.5, extra_h=0.6)
    nice = {"loss": "total loss", "rec": "reconstruction", "hier": "hierarchy", "topo": "topology",
            "must_link": "must-link", "kl": "KL"}
    for ax, term in zip(axes, terms, strict=False):
        y = df[term].to_numpy(dtype=float)
        ax.plot(x, y, color="#0072b2", marker="o", markersize=3, linewidth=1.5, label="train")
        if f"val_{term}" in df:
            ax.plot(x, df[f"val_{term}"].to_numpy(dtype=float), color="#d55e00", linestyle="--",
                    marker="o", markersize=3, linewidth=1.3, label="validation")
            ax.legend(fontsize=7, frameon=False)
        finite = y[np.isfinite(y)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(nice.get(term, term), fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.grid(alpha=0.25)
        ax.tick_params(labelsize=8)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    panel = len(terms)
    for cols, prefix, what in ((perp, "perplexity_", "code perplexity per level"),
                               (dead, "dead_", "unused codes per level")):
        if not cols:
            continue
        ax = axes[panel]
        panel += 1
        for i, col in enumerate(cols):
            ax.plot(x, df[col].to_numpy(dtype=float), marker="o", markersize=3, linewidth=1.4,
                    color=cmap(i / max(1, len(cols) - 1) * 0.85), label=col.replace(prefix, "level "))
        ax.set_title(what, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
        ax.grid(alpha=0.25)
        ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


# ------------------------------------------------------------------------------ recording excerpt
def plot_recording_excerpt(
    recording=None,
    *,
    flow=None,
    pressure=None,
    sampling_rate: float | None = None,
    annotations: pd.DataFrame | None = None,
    start_s: float = 0.0,
    duration_s: float = 60.0,
    breaths: pd.DataFrame | None = None,
    colors: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Flow and pressure over a time window, annotated events shaded in their class colour.

    Parameters
    ----------
    recording : Recording-like, optional
        Anything with ``flow``, ``pressure``, ``sampling_rate`` and optionally ``annotations``
        (``start_s, end_s, label``) and ``subject``. Or pass the arrays with the keywords below.
    flow, pressure : arrays, optional
        Signals in L/min and cmH2O (when ``recording`` is not given).
    sampling_rate : float
        Hz (required with ``flow``/``pressure``).
    annotations : DataFrame, optional
        ``start_s, end_s, label``; overrides the recording's.
    start_s, duration_s : float
        The window.
    breaths : DataFrame, optional
        Breath table with ``start_s``; breath starts are marked with ticks.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (flow, pressure) sharing the time axis.

    Examples
    --------
    >>> t = np.arange(0, 30, 0.02)
    >>> ann = pd.DataFrame({"start_s": [5.0], "end_s": [12.0], "label": ["apnea"]})
    >>> fig = plot_recording_excerpt(flow=30 * np.sin(t), pressure=5 + np.cos(t), sampling_rate=50,
    ...                              annotations=ann, duration_s=20)
    >>> len(fig.axes)
    2
    """
    subject = ""
    if recording is not None:
        try:
            flow, pressure, sampling_rate = recording.flow, recording.pressure, recording.sampling_rate
        except AttributeError:
            raise VentgenTypeError(
                "plot_recording_excerpt: recording needs flow, pressure and sampling_rate attributes"
            ) from None
        if annotations is None:
            annotations = getattr(recording, "annotations", None)
        subject = str(getattr(recording, "subject", "") or "")
    if flow is None or pressure is None or sampling_rate is None:
        raise VentgenValueError("plot_recording_excerpt: give a recording, or flow, pressure and sampling_rate")
    flow = np.asarray(flow, dtype=float).ravel()
    pressure = np.asarray(pressure, dtype=float).ravel()
    if flow.shape != pressure.shape:
        raise VentgenValueError(f"plot_recording_excerpt: flow {flow.shape} and pressure {pressure.shape} differ")
    rate = float(sampling_rate)
    if not np.isfinite(rate) or rate <= 0:
        raise VentgenValueError(f"sampling_rate must be positive, got {sampling_rate!r}")
    if duration_s <= 0:
        raise VentgenValueError(f"duration_s must be positive, got {duration_s}")
    total = flow.size / rate
    if not 0 <= start_s < total:
        raise VentgenValueError(f"start_s={start_s} is outside the recording (0 to {total:.1f} s)")
    i0 = int(round(start_s * rate))
    i1 = min(flow.size, int(round((start_s + duration_s) * rate)))
    t = np.arange(i0, i1) / rate
    fig = _new_figure(13.0, 4.6)
    ax_f, ax_p = fig.subplots(2, 1, sharex=True)
    ax_f.plot(t, flow[i0:i1], color="#1a1a1a", linewidth=0.8)
    ax_p.plot(t, pressure[i0:i1], color="#1a1a1a", linewidth=0.8)
    ax_f.axhline(0, color="#999999", linewidth=0.5)
    shown: list[str] = []
    if annotations is not None and len(annotations):
        ann = annotations
        for col in ("start_s", "end_s", "label"):
            if col not in ann.columns:
                raise VentgenValueError(f"annotations: missing column {col!r} (have {list(ann.columns)})")
        sel = ann[(ann["end_s"] > t[0]) & (ann["start_s"] < t[-1])] if t.size else ann.iloc[:0]
        labels = [str(v) for v in sel["label"]]
        cols = {**class_colors(labels), **(colors or {})}
        for s, e, lab in zip(sel["start_s"], sel["end_s"], labels, strict=True):
            for ax in (ax_f, ax_p):
                ax.axvspan(max(s, t[0]), min(e, t[-1]), color=cols[lab], alpha=0.22, linewidth=0)
            if lab not in shown:
                shown.append(lab)
        if shown:
            handles = [Patch(facecolor=cols[c], alpha=0.4, label=c or "unlabelled") for c in shown]
            fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), frameon=False,
                       fontsize=9)
    if breaths is not None and "start_s" in getattr(breaths, "columns", []):
        bs = breaths["start_s"].to_numpy(dtype=float)
        bs = bs[(bs >= t[0]) & (bs <= t[-1])] if t.size else bs[:0]
        ax_f.plot(bs, np.full(bs.size, np.nanmax(flow[i0:i1]) if t.size else 0), "v", color="#0072b2",
                  markersize=3, linestyle="none")
    ax_f.set_ylabel("flow [L/min]")
    ax_p.set_ylabel("pressure [cmH2O]")
    ax_p.set_xlabel("time [s]")
    for ax in (ax_f, ax_p):
        ax.grid(alpha=0.25)
        ax.margins(x=0)
    who = f"{subject}: " if subject else ""
    ax_f.set_title(title or (f"{who}{t[0]:.0f}–{t[-1]:.0f} s" if t.size else who), fontsize=10)
    return fig
