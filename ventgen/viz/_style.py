"""The look shared by every figure: fixed class colours, figure and panel helpers, channel names.

Class colours are fixed: :func:`class_colors` derives them from
:data:`ventgen.labels.VENTILATION_TREE` (one colour family per super-class), so "apnea" has the same
colour in every figure of every report. Other labels (digits, image classes) get a stable qualitative
palette in sorted order; unlabelled breaths (``""``) are grey.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..errors import VentgenValueError
from ..evaluate.nodes import UNLABELLED, natural_key
from ..labels import VENTILATION_TREE

__all__ = ["class_colors", "METADATA_COLUMNS", "UNLABELLED", "UNLABELLED_COLOR", "EMPTY_COLOR"]

#: Breath-metadata columns compared real vs synthetic, with display names and units.
METADATA_COLUMNS = {
    "rr_bpm": "Respiratory rate [breaths/min]",
    "itime_s": "Inspiratory time [s]",
    "tvi_ml": "Inspired tidal volume [mL]",
    "pip_cmh2o": "Peak inspiratory pressure [cmH2O]",
    "peep_cmh2o": "PEEP [cmH2O]",
}

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
    others = sorted({c for c in names if c not in _VENT_COLORS and c != UNLABELLED}, key=natural_key)
    for c in names:
        if c == UNLABELLED:
            out[c] = UNLABELLED_COLOR
        elif c in _VENT_COLORS:
            out[c] = _VENT_COLORS[c]
    for i, c in enumerate(others):
        out[c] = _FALLBACK[i % len(_FALLBACK)]
    return out



def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def panel_grid(n: int, *, panel_w: float, panel_h: float, extra_h: float, max_cols: int = 3):
    """A figure with ``n`` panels in rows of at most ``max_cols``; unused cells removed.

    Returns the figure and the flat array of axes (its first ``n`` entries are the panels).
    """
    ncol = min(n, max_cols)
    nrow = int(np.ceil(n / ncol))
    fig = new_figure(panel_w * ncol + 0.4, panel_h * nrow + extra_h)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    return fig, axes


def class_legend(fig: Figure, classes: Sequence[str], colors: Mapping[str, str], *, loc="outside lower center", ncol=None):
    handles = [Patch(facecolor=colors[c], edgecolor="none", label=c or "unlabelled") for c in classes]
    if handles:
        longest = max(len(h.get_label()) for h in handles)
        fit = max(1, int(fig.get_figwidth() / (0.45 + 0.075 * longest)))  # columns that fit the width
        fig.legend(handles=handles, loc=loc, ncol=ncol or min(len(handles), 6, fit), frameon=False, fontsize=9)



def check_batch(X, what: str) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise VentgenValueError(f"{what}: expected an array (n, channels, time), got shape {np.shape(X)}")
    return arr


def channel_names(C: int, channels) -> list[str]:
    if channels is not None:
        names = [str(c) for c in channels]
        if len(names) != C:
            raise VentgenValueError(f"channels: expected {C} names, got {len(names)}: {names}")
        return names
    default = ["flow [L/min]", "pressure [cmH2O]", "volume [mL]"]
    return default[:C] if C <= 3 else [f"channel {i}" for i in range(C)]


def pretty_channel(name: str) -> str:
    return {"flow_lpm": "flow [L/min]", "flow": "flow [L/min]", "paw_cmh2o": "pressure [cmH2O]",
            "pressure": "pressure [cmH2O]", "volume_ml": "volume [mL]", "volume": "volume [mL]"}.get(name, name)


def time_axis(T: int, sampling_rate):
    if sampling_rate is None:
        return np.arange(T), "sample"
    return np.arange(T) / float(sampling_rate), "time [s]"
