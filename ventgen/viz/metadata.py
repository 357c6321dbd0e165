"""Breath metadata, real vs synthetic: histograms with the KS statistic of each quantity and class.

The statistics come in as a table (:func:`ventgen.evaluate.fidelity.ks_table`); these functions only draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..errors import VentgenTypeError, VentgenValueError
from ..evaluate.nodes import ordered_classes
from ._style import METADATA_COLUMNS, UNLABELLED, class_colors, new_figure, panel_grid

__all__ = ["plot_metadata_distributions", "plot_metadata_by_class"]

_REAL = {"color": "#4d4d4d"}


def _finite(df: pd.DataFrame, col: str) -> np.ndarray:
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    return v[np.isfinite(v)]


def _edges(values: np.ndarray, bins: int):
    """Shared bin edges between the 0.5 and 99.5 percentiles of ``values`` (finite)."""
    lo, hi = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi, np.linspace(lo, hi, bins + 1)


def _ks_text(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def plot_metadata_distributions(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    ks: pd.DataFrame,
    *,
    bins: int = 30,
    title: str | None = None,
) -> Figure:
    """Histograms of breath metadata, real vs synthetic, with the KS statistic in each title.

    Parameters
    ----------
    real, synthetic : DataFrame
        Breath tables (``segment_breaths`` output or ``CycleSet.breaths``).
    ks : DataFrame
        One row per quantity (``column``, ``ks``), e.g. ``ks_table(real, synthetic, columns=...)``
        (:func:`ventgen.evaluate.fidelity.ks_table` without labels): one panel per row.
    bins : int
        Shared bins per column, between the 0.5 and 99.5 percentiles of both samples together.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per row of ``ks``.

    Examples
    --------
    >>> from ventgen.evaluate.fidelity import ks_table
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 300), "tvi_ml": rng.normal(500, 50, 300)})
    >>> fig = plot_metadata_distributions(a, a * 1.05, ks_table(a, a * 1.05, columns=["rr_bpm", "tvi_ml"]))
    >>> len(fig.axes)
    2
    """
    if not isinstance(real, pd.DataFrame) or not isinstance(synthetic, pd.DataFrame):
        raise VentgenTypeError("plot_metadata_distributions: real and synthetic must be pandas DataFrames")
    if not isinstance(ks, pd.DataFrame) or ks.empty:
        raise VentgenValueError(
            "plot_metadata_distributions: no quantity to draw (the KS table is empty); "
            f"real has {list(real.columns)[:12]}, synthetic has {list(synthetic.columns)[:12]}"
        )
    fig, axes = panel_grid(len(ks), panel_w=3.9, panel_h=2.9, extra_h=0.7)
    for ax, row in zip(axes, ks.itertuples(index=False), strict=False):
        col = row.column
        a, b = _finite(real, col), _finite(synthetic, col)
        both = np.concatenate([a, b])
        if both.size:
            lo, hi, edges = _edges(both, bins)
            ax.hist(np.clip(a, lo, hi), bins=edges, density=True, alpha=0.45, label="real", **_REAL)
            ax.hist(np.clip(b, lo, hi), bins=edges, density=True, histtype="step", color="#d55e00",
                    linewidth=1.8, label="synthetic")
        ax.set_xlabel(METADATA_COLUMNS.get(col, col), fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=8.5)
        ax.set_title(f"{col}   KS = {_ks_text(row.ks)}", fontsize=10.5)
    handles = [Patch(facecolor="#4d4d4d", alpha=0.45, label="real"),
               Line2D([], [], color="#d55e00", linewidth=1.8, label="synthetic")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_metadata_by_class(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    ks: pd.DataFrame,
    *,
    by: str = "label",
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
    ks : DataFrame
        KS statistics per class and quantity (``label``, ``column``, ``ks``), e.g.
        :func:`ventgen.evaluate.fidelity.ks_table` with the class labels; its quantities are the
        figure's columns. A class missing from it has "KS n/a".
    by : str
        The class column.
    classes : sequence of str, optional
        Default: the classes of ``synthetic``, in ventilation order.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(classes) x len(quantities)`` axes.

    Examples
    --------
    >>> from ventgen.evaluate.fidelity import ks_table
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 300), "label": rng.choice(["apnea", "snoring"], 300)})
    >>> len(plot_metadata_by_class(a, a, ks_table(a, a, a["label"], a["label"], columns=["rr_bpm"])).axes)
    2
    """
    for name, df in (("real", real), ("synthetic", synthetic)):
        if not isinstance(df, pd.DataFrame):
            raise VentgenTypeError(f"plot_metadata_by_class: {name} must be a pandas DataFrame")
        if by not in df.columns:
            raise VentgenValueError(f"plot_metadata_by_class: {name} has no class column {by!r} (columns: {list(df.columns)[:12]})")
    cols = list(dict.fromkeys(ks["column"])) if isinstance(ks, pd.DataFrame) and len(ks) else []
    if not cols:
        raise VentgenValueError("plot_metadata_by_class: no quantity to draw (the KS table is empty)")
    ys = synthetic[by].astype(str).to_numpy()
    rows = list(classes) if classes is not None else [c for c in ordered_classes(ys) if c != UNLABELLED]
    if not rows:
        raise VentgenValueError("plot_metadata_by_class: no labelled synthetic breath")
    colors = {**class_colors(rows), **(colors or {})}
    fig = new_figure(2.5 * len(cols) + 0.8, 1.45 * len(rows) + 1.0)
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    stat = {(str(r.label), r.column): r.ks for r in ks.itertuples(index=False)}
    for j, col in enumerate(cols):
        _class_column(axes[:, j], real, synthetic, by, col, rows, colors, stat, bins, first=j == 0)
    handles = [Patch(facecolor="#4d4d4d", alpha=0.4, label="real"),
               Line2D([], [], color="#333333", linewidth=1.8, label="synthetic (class colour)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def _class_column(axes, real, synthetic, by, col, rows, colors, stat, bins, first: bool) -> None:
    """One quantity of :func:`plot_metadata_by_class`: a panel per class, on shared bins."""
    yr = real[by].astype(str).to_numpy()
    ys = synthetic[by].astype(str).to_numpy()
    a_all = pd.to_numeric(real[col], errors="coerce").to_numpy(dtype=float)
    b_all = pd.to_numeric(synthetic[col], errors="coerce").to_numpy(dtype=float)
    both = np.concatenate([a_all, b_all])
    lo, hi, edges = _edges(both[np.isfinite(both)], bins)
    for i, cls in enumerate(rows):
        ax = axes[i]
        a = a_all[(yr == cls) & np.isfinite(a_all)]
        b = b_all[(ys == cls) & np.isfinite(b_all)]
        if a.size:
            ax.hist(np.clip(a, lo, hi), bins=edges, density=True, alpha=0.4, **_REAL)
        if b.size:
            ax.hist(np.clip(b, lo, hi), bins=edges, density=True, histtype="step", color=colors[cls],
                    linewidth=1.8)
        ks = stat.get((cls, col), float("nan"))
        ax.set_title(f"KS = {ks:.2f}" if np.isfinite(ks) else "KS n/a", fontsize=8.5, pad=2)
        ax.set_yticks([])
        ax.tick_params(labelsize=7.5)
        ax.set_xlim(lo, hi)
        if i < len(rows) - 1:
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel(METADATA_COLUMNS.get(col, col), fontsize=8.5)
        if first:
            ax.set_ylabel(cls, fontsize=9, color=colors[cls], fontweight="bold")
