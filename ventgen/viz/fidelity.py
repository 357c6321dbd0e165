"""Figures of a fidelity report: real vs synthetic breath metadata, one panel per class."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["ks_figures"]


def ks_figures(real_meta, syn_meta, rl, sl, ks: pd.DataFrame, columns) -> dict:
    """``{column: Figure}``: real vs synthetic histograms of one metadata column, one panel per class.

    ``real_meta`` and ``syn_meta`` are breath-metadata tables, ``rl`` and ``sl`` their labels, ``ks`` the
    table of :func:`ventgen.evaluate.fidelity.ks_table` (its classes are the panels, its statistics the
    titles).
    """
    classes = sorted(ks["label"].unique()) if len(ks) else []
    figures = {}
    if not classes:
        return figures
    for col in columns:
        fig = Figure(figsize=(3.2 * len(classes), 2.8), layout="constrained")
        axes = fig.subplots(1, len(classes), squeeze=False)[0]
        for ax, c in zip(axes, classes, strict=True):
            a = real_meta[col].to_numpy(dtype=float)[rl == c]
            b = syn_meta[col].to_numpy(dtype=float)[sl == c]
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            both = np.concatenate([a, b])
            if both.size:
                lo, hi = np.quantile(both, [0.005, 0.995])
                bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
                ax.hist(a, bins=bins, density=True, alpha=0.5, label=f"real (n={a.size})")
                ax.hist(b, bins=bins, density=True, alpha=0.5, label=f"synthetic (n={b.size})")
            row = ks[(ks["label"] == c) & (ks["column"] == col)]
            kv = float(row["ks"].iloc[0]) if len(row) else float("nan")
            ax.set_title(f"{c}\nKS = {kv:.3f}", fontsize=9)
            ax.set_xlabel(col)
            ax.legend(fontsize=7)
        figures[col] = fig
    return figures
