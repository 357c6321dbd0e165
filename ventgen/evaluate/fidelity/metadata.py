"""Breath metadata of cycles and the real-vs-synthetic Kolmogorov-Smirnov table (the one ``ks_table``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from ...errors import VentgenValueError
from ...signals.features import breath_metadata

__all__ = ["METADATA_KS_COLUMNS", "ks_table", "ks_floor", "cycle_metadata"]

#: Breath metadata compared real vs synthetic.
METADATA_KS_COLUMNS = ("rr_bpm", "itime_s", "tvi_ml", "tve_ml", "pip_cmh2o", "peep_cmh2o")


def ks_table(real: pd.DataFrame, synthetic: pd.DataFrame, real_labels=None, synthetic_labels=None,
             columns=METADATA_KS_COLUMNS, min_count: int = 5) -> pd.DataFrame:
    """Two-sample KS statistic per class and metadata column (real vs synthetic).

    Classes are those present on both sides (``""`` = unlabelled is skipped); a class with fewer than
    ``min_count`` finite values on a side gets NaN. Without labels (both ``None``) every breath is in
    one class, ``"all"``. Values that are not numbers count as missing.

    Returns
    -------
    DataFrame
        ``label``, ``column``, ``n_real``, ``n_synthetic``, ``ks``, ``pvalue``, ``real_median``,
        ``synthetic_median``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 500)})
    >>> b = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 500)})
    >>> float(ks_table(a, b, ["n"] * 500, ["n"] * 500, columns=["rr_bpm"])["ks"].iloc[0]) < 0.1
    True
    >>> ks_table(a, a, columns=["rr_bpm"])[["label", "ks"]].values.tolist()
    [['all', 0.0]]
    """
    rl, sl, classes = _ks_classes(real, synthetic, real_labels, synthetic_labels)
    rows = []
    for c in classes:
        for col in columns:
            if col not in real.columns or col not in synthetic.columns:
                raise VentgenValueError(f"ks_table: column {col!r} missing; real has {list(real.columns)}")
            a = _numbers(real[col])[rl == c]
            b = _numbers(synthetic[col])[sl == c]
            rows.append({"label": c, "column": col, **_ks_row(a[np.isfinite(a)], b[np.isfinite(b)], min_count)})
    return pd.DataFrame(rows, columns=["label", "column", "n_real", "n_synthetic", "ks", "pvalue",
                                       "real_median", "synthetic_median"])


def ks_floor(real: pd.DataFrame, real_labels, n_synthetic: dict, columns=METADATA_KS_COLUMNS, *,
             random_state=0, min_count: int = 5) -> float:
    """The median KS statistic that sampling alone gives at the synthetic side's size: per class, as
    many real breaths as the synthetic side has (at most half the class) drawn at random against the
    other real breaths of the class, per column, as :func:`ks_table` does.

    A KS statistic between two finite samples is not 0 even when they come from one distribution (about
    ``0.83 / sqrt(n m / (n + m))`` at the median): next to the real-vs-synthetic median it says how much
    of it is sampling.

    Parameters
    ----------
    real : DataFrame
        Metadata of the real breaths (:func:`cycle_metadata`).
    real_labels : array-like of str, or None
        Their classes (None: one class, ``"all"``).
    n_synthetic : dict
        ``{class: number of synthetic breaths}`` (``{"all": n}`` without labels); classes missing from
        it, or from the real side, are skipped.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 2000)})
    >>> 0.03 < ks_floor(real, None, {"all": 200}, columns=["rr_bpm"]) < 0.15
    True
    """
    rng = np.random.default_rng(random_state)
    rl = np.full(len(real), "all") if real_labels is None else np.asarray(real_labels).astype(str)
    values = {col: _numbers(real[col]) for col in columns}
    vals = []
    for c in sorted(set(rl) & set(n_synthetic) - {""}):
        idx = np.flatnonzero(rl == c)
        n = min(int(n_synthetic[c]), idx.size // 2)
        if n < min_count:
            continue
        draw = np.zeros(idx.size, dtype=bool)
        draw[rng.choice(idx.size, size=n, replace=False)] = True
        for col in columns:
            v = values[col][idx]
            row = _ks_row(v[~draw & np.isfinite(v)], v[draw & np.isfinite(v)], min_count)
            if np.isfinite(row["ks"]):
                vals.append(row["ks"])
    return float(np.median(vals)) if vals else float("nan")


def _ks_classes(real, synthetic, real_labels, synthetic_labels):
    """(real labels, synthetic labels, the classes compared) of :func:`ks_table`."""
    if real_labels is None and synthetic_labels is None:
        return np.full(len(real), "all"), np.full(len(synthetic), "all"), ["all"]
    if real_labels is None or synthetic_labels is None:
        raise VentgenValueError("ks_table: give the labels of both tables, or of neither (one class)")
    rl = np.asarray(real_labels).astype(str)
    sl = np.asarray(synthetic_labels).astype(str)
    if len(rl) != len(real) or len(sl) != len(synthetic):
        raise VentgenValueError("ks_table: one label per row of each metadata table is needed")
    return rl, sl, sorted((set(rl) & set(sl)) - {""})


def _numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def _ks_row(a: np.ndarray, b: np.ndarray, min_count: int) -> dict:
    """Counts, KS statistic, p-value and medians of two samples of finite values."""
    if a.size >= min_count and b.size >= min_count and a.size and b.size:
        r = ks_2samp(a, b)
        ks, p = float(r.statistic), float(r.pvalue)
    else:
        ks = p = float("nan")
    return {"n_real": int(a.size), "n_synthetic": int(b.size), "ks": ks, "pvalue": p,
            "real_median": float(np.median(a)) if a.size else float("nan"),
            "synthetic_median": float(np.median(b)) if b.size else float("nan")}


def cycle_metadata(cycles) -> pd.DataFrame:
    """Breath metadata of every cycle, computed from the cycle itself (cut at its length)."""
    X = np.asarray(cycles.X, dtype=np.float64)
    L = np.clip(np.asarray(cycles.lengths, dtype=np.int64), 2, X.shape[2])
    ch = list(getattr(cycles, "channels", None) or ["flow_lpm", "paw_cmh2o"])
    fi = ch.index("flow_lpm") if "flow_lpm" in ch else 0
    pi = ch.index("paw_cmh2o") if "paw_cmh2o" in ch else 1
    mask = np.arange(X.shape[2])[None, :] < L[:, None]
    flow, paw = X[:, fi, :][mask], X[:, pi, :][mask]
    ends = np.cumsum(L)
    starts = ends - L
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return breath_metadata(flow, paw, float(cycles.sampling_rate), starts, ends).reset_index(drop=True)
