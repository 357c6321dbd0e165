"""Breath cycles: originals against their reconstructions, generated breaths beside real ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._core import check_random_state
from ..errors import VentgenValueError
from ..evaluate.nodes import as_labels, ordered_classes
from ._style import (
    UNLABELLED,
    channel_names,
    check_batch,
    class_colors,
    new_figure,
    pretty_channel,
    time_axis,
)

__all__ = ["plot_reconstructions", "plot_generated_vs_real", "plot_breath_examples", "ALL_BREATHS"]


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
    X = check_batch(original, "original")
    R = [check_batch(r, f"reconstructions[{i}]") for i, r in enumerate(reconstructions)]
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
    names = [pretty_channel(c) for c in channel_names(C, channels)]
    levels = list(level_names) if level_names is not None else (
        ["z0 (continuous)"] + [f"level {i}" for i in range(1, len(R))])
    if len(levels) != len(R):
        raise VentgenValueError(f"level_names: expected {len(R)} names, got {len(levels)}")
    t, xlabel = time_axis(T, sampling_rate)
    fig = new_figure(max(6.0, 3.4 * n), 2.3 * C + 1.0)
    axes = fig.subplots(C, n, squeeze=False, sharex=True, sharey="row")

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
    rng = check_random_state(random_state)
    Xr = check_batch(real, "real")
    Xg = check_batch(generated, "generated")
    if Xr.shape[1:] != Xg.shape[1:]:
        raise VentgenValueError(f"real {Xr.shape} and generated {Xg.shape} cycles differ in channels/length")
    yr = as_labels(real_labels, Xr.shape[0], "real_labels")
    yg = as_labels(generated_labels, Xg.shape[0], "generated_labels")
    rows = list(classes) if classes is not None else [c for c in ordered_classes(yg) if c != UNLABELLED]
    if not rows:
        raise VentgenValueError("plot_generated_vs_real: no class to draw (generated_labels are all unlabelled)")
    colors = {**class_colors(rows), **(colors or {})}
    C, T = Xr.shape[1], Xr.shape[2]
    names = [pretty_channel(c) for c in channel_names(C, channels)]
    t, xlabel = time_axis(T, sampling_rate)
    fig = new_figure(2.6 * 2 * C + 1.0, 1.55 * len(rows) + 1.2)
    axes = fig.subplots(len(rows), 2 * C, squeeze=False, sharex=True)
    _shared_ylim(axes, Xr, Xg)
    for r, cls in enumerate(rows):
        for c in range(C):
            for j, (Xs, ys, kind) in enumerate(((Xr, yr, "real"), (Xg, yg, "generated"))):
                ax = axes[r, 2 * c + j]
                _class_panel(ax, t, Xs[:, c], np.flatnonzero(ys == cls), kind, colors[cls], n_per_class, rng)
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


def _shared_ylim(axes, Xr: np.ndarray, Xg: np.ndarray) -> None:
    """One y range per channel across the whole figure (real and generated panels alike)."""
    for c in range(Xr.shape[1]):
        vals = [Xr[:, c], Xg[:, c]]
        lo = min(float(np.nanpercentile(v, 0.5)) for v in vals if v.size)
        hi = max(float(np.nanpercentile(v, 99.5)) for v in vals if v.size)
        pad = 0.06 * (hi - lo or 1.0)
        for r in range(axes.shape[0]):
            for j in (0, 1):
                axes[r, 2 * c + j].set_ylim(lo - pad, hi + pad)


def _class_panel(ax, t, X: np.ndarray, idx: np.ndarray, kind: str, color, n_per_class: int, rng) -> None:
    """Up to ``n_per_class`` breaths of one class and channel, thin, and their pointwise median, bold."""
    if idx.size == 0:
        ax.text(0.5, 0.5, f"no {kind} breath", ha="center", va="center", transform=ax.transAxes,
                color="#888888", fontsize=8)
        return
    pick = rng.choice(idx, size=min(n_per_class, idx.size), replace=False)
    ax.plot(t, X[pick].T, color=color, linewidth=0.8, alpha=0.55, linestyle="-" if kind == "real" else "--")
    ax.plot(t, np.median(X[idx], axis=0), color=color, linewidth=2.0)
    ax.text(0.98, 0.95, f"n={idx.size}", ha="right", va="top", transform=ax.transAxes, fontsize=7,
            color="#555555")


# ------------------------------------------------------------------------------ a few breaths per class
#: The row of breaths without a shared class.
ALL_BREATHS = "all breaths"


def plot_breath_examples(
    real,
    generated,
    *,
    real_labels=None,
    generated_labels=None,
    real_lengths=None,
    generated_lengths=None,
    sampling_rate: float | None = None,
    channels: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    n_per_class: int = 4,
    random_state=0,
    title: str | None = None,
) -> Figure:
    """A few real and a few generated breaths of every class, side by side, to judge them by eye.

    Two columns, real on the left and generated on the right; for every class one row per channel
    (flow, then pressure), both panels of a row on the same axes. Each panel draws ``n_per_class``
    randomly chosen breaths of its class, each up to its own length (the edge padding after it is
    not drawn), on a time axis in seconds.

    Parameters
    ----------
    real, generated : arrays, shape (n, C, T)
        Cycles in original units, the same channels in the same order.
    real_labels, generated_labels : arrays of str, optional
        Class of every cycle. Without both, or without a class on both sides, one group of rows
        shows all breaths ("all breaths").
    real_lengths, generated_lengths : arrays of int, optional
        Samples of each breath (default: the whole cycle).
    sampling_rate : float, optional
        Cycle sampling rate in Hz, for a time axis in seconds (samples without it).
    channels : sequence of str, optional
        Channel names (``flow_lpm``, ``paw_cmh2o``...), for the row labels.
    classes : sequence of str, optional
        Classes to draw (default: every class present on both sides, in ventilation order).
    n_per_class : int
        Breaths drawn per panel (fewer when a class has fewer).
    random_state : int or Generator
        Which breaths are drawn.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``2 x C x len(classes)`` axes, row by row (real, generated).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 2, 40))
    >>> y = np.array(["apnea", "snoring"] * 10)
    >>> fig = plot_breath_examples(X, X[:8] + 0.1, real_labels=y, generated_labels=y[:8], sampling_rate=25)
    >>> len(fig.axes)
    8
    >>> len(plot_breath_examples(X, X[:8]).axes)  # unlabelled: one group, "all breaths"
    4
    """
    rng = check_random_state(random_state)
    sides = [_side(real, real_labels, real_lengths, "real"), _side(generated, generated_labels, generated_lengths,
                                                                   "generated")]
    (Xr, yr, _), (Xg, yg, _) = sides
    if Xr.shape[1:] != Xg.shape[1:]:
        raise VentgenValueError(f"real {Xr.shape} and generated {Xg.shape} cycles differ in channels/length")
    if int(n_per_class) < 1:
        raise VentgenValueError(f"plot_breath_examples: n_per_class must be >= 1, got {n_per_class}")
    shared = [c for c in ordered_classes(np.r_[yr, yg]) if c in set(yr) & set(yg) and c not in _NO_CLASS]
    rows = [str(c) for c in classes] if classes is not None else shared
    if real_labels is None or generated_labels is None or not rows:
        rows, sides = [ALL_BREATHS], [(X, np.full(len(X), ALL_BREATHS, dtype=object), L) for X, _, L in sides]
    colors = class_colors(rows)
    C, T = Xr.shape[1], Xr.shape[2]
    names = [pretty_channel(c) for c in channel_names(C, channels)]
    t, xlabel = time_axis(T, sampling_rate)
    fig = new_figure(8.0, 1.35 * C * len(rows) + 0.9)
    axes = fig.subplots(C * len(rows), 2, squeeze=False, sharex=True)
    for r, cls in enumerate(rows):
        picks = [_pick(y, cls, n_per_class, rng) for _, y, _ in sides]
        for c in range(C):
            row = axes[r * C + c]
            curves = [_trimmed(X[p, c], L[p]) for (X, _, L), p in zip(sides, picks, strict=True)]
            lo, hi = _limits(curves)
            for j, (ax, kind) in enumerate(zip(row, ("real", "generated"), strict=True)):
                _examples_panel(ax, t, curves[j], picks[j].size, int((sides[j][1] == cls).sum()), kind,
                                colors.get(cls, "#4e79a7"))
                ax.set_ylim(lo, hi)
                if r == 0 and c == 0:
                    ax.set_title(kind, fontsize=10)
            row[1].tick_params(labelleft=False)
            row[0].set_ylabel(f"{cls}\n{names[c]}", fontsize=8, color=colors.get(cls, "#333333"))
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


_NO_CLASS = {UNLABELLED, "unlabelled"}


def _side(X, labels, lengths, what: str):
    """``(cycles, labels, lengths)`` of one side, checked."""
    X = check_batch(X, what)
    y = as_labels(labels, X.shape[0], f"{what}_labels")
    if lengths is None:
        return X, y, np.full(X.shape[0], X.shape[2], dtype=np.int64)
    L = np.asarray(lengths)
    if L.shape != (X.shape[0],):
        raise VentgenValueError(f"{what}_lengths: expected {X.shape[0]} lengths, got shape {L.shape}")
    return X, y, np.clip(L.astype(np.int64), 1, X.shape[2])


def _pick(y: np.ndarray, cls: str, k: int, rng) -> np.ndarray:
    idx = np.flatnonzero(y == cls)
    return rng.choice(idx, size=min(int(k), idx.size), replace=False) if idx.size else idx


def _trimmed(X: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Breaths ``(k, T)`` with NaN after each one's length (nothing is drawn there)."""
    return np.where(np.arange(X.shape[1])[None, :] < L[:, None], X, np.nan)


def _limits(curves) -> tuple[float, float]:
    """One y range for the panels of a row: every drawn sample of both sides, with a margin."""
    vals = np.concatenate([c.ravel() for c in curves])
    vals = vals[np.isfinite(vals)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    pad = 0.06 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def _examples_panel(ax, t, curves: np.ndarray, shown: int, total: int, kind: str, color) -> None:
    if shown == 0:
        ax.text(0.5, 0.5, f"no {kind} breath", ha="center", va="center", transform=ax.transAxes,
                color="#888888", fontsize=8)
    else:
        ax.plot(t, curves.T, color=color, linewidth=0.9, alpha=0.8)
    ax.text(0.98, 0.95, f"{shown} of {total}", ha="right", va="top", transform=ax.transAxes, fontsize=7,
            color="#555555")
    ax.grid(alpha=0.25)
    ax.tick_params(labelsize=7)
