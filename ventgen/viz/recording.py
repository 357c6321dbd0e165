"""A recording excerpt: flow and pressure over a time window, annotated events shaded."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..errors import VentgenTypeError, VentgenValueError
from ._style import class_colors, new_figure

__all__ = ["plot_recording_excerpt"]


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
    flow, pressure, sampling_rate, annotations, subject = _signals(recording, flow, pressure, sampling_rate,
                                                                   annotations)
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
    fig = new_figure(13.0, 4.6)
    ax_f, ax_p = fig.subplots(2, 1, sharex=True)
    ax_f.plot(t, flow[i0:i1], color="#1a1a1a", linewidth=0.8)
    ax_p.plot(t, pressure[i0:i1], color="#1a1a1a", linewidth=0.8)
    ax_f.axhline(0, color="#999999", linewidth=0.5)
    if annotations is not None and len(annotations):
        _shade_events(fig, (ax_f, ax_p), annotations, t, colors)
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


def _signals(recording, flow, pressure, sampling_rate, annotations):
    """(flow, pressure, rate, annotations, subject) from a recording or the arrays, checked."""
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
    return flow, pressure, sampling_rate, annotations, subject


def _shade_events(fig, axes, ann: pd.DataFrame, t: np.ndarray, colors) -> None:
    """Shade the annotated events inside the window ``t`` in their class colour; legend of those shown."""
    for col in ("start_s", "end_s", "label"):
        if col not in ann.columns:
            raise VentgenValueError(f"annotations: missing column {col!r} (have {list(ann.columns)})")
    sel = ann[(ann["end_s"] > t[0]) & (ann["start_s"] < t[-1])] if t.size else ann.iloc[:0]
    labels = [str(v) for v in sel["label"]]
    cols = {**class_colors(labels), **(colors or {})}
    shown: list[str] = []
    for s, e, lab in zip(sel["start_s"], sel["end_s"], labels, strict=True):
        for ax in axes:
            ax.axvspan(max(s, t[0]), min(e, t[-1]), color=cols[lab], alpha=0.22, linewidth=0)
        if lab not in shown:
            shown.append(lab)
    if shown:
        handles = [Patch(facecolor=cols[c], alpha=0.4, label=c or "unlabelled") for c in shown]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), frameon=False,
                   fontsize=9)
