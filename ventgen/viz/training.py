"""Training curves: loss terms, code perplexity and unused codes per epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..errors import VentgenTypeError, VentgenValueError
from ..evaluate.nodes import natural_key
from ._style import panel_grid

__all__ = ["plot_training_curves"]


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
    perp = sorted((c for c in df.columns if c.startswith("perplexity_")), key=lambda c: natural_key(c.split("_", 1)[1]))
    dead = sorted((c for c in df.columns if c.startswith("dead_")), key=lambda c: natural_key(c.split("_", 1)[1]))
    n = len(terms) + (1 if perp else 0) + (1 if dead else 0)
    if n == 0:
        raise VentgenValueError(
            f"plot_training_curves: no loss term or perplexity in history (keys: {list(df.columns)})"
        )
    fig, axes = panel_grid(n, panel_w=3.6, panel_h=2.5, extra_h=0.6)
    for ax, term in zip(axes, terms, strict=False):
        _loss_panel(ax, x, df, term)

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


_NICE = {"loss": "total loss", "rec": "reconstruction", "hier": "hierarchy", "topo": "topology",
         "must_link": "must-link", "kl": "KL"}


def _loss_panel(ax, x, df, term: str) -> None:
    """One loss term per epoch (its validation value dashed), log scale when it spans a factor 20."""
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
    ax.set_title(_NICE.get(term, term), fontsize=10)
    ax.set_xlabel("epoch", fontsize=8)
    ax.grid(alpha=0.25)
    ax.tick_params(labelsize=8)
