"""Breath segmentation: find every breath of a recording, from the flow signal or from device marks.

``segment_breaths(recording, method=...)`` returns the breath table (one row per breath, boundaries
and metadata, see :data:`ventgen.signals.features.METADATA_COLUMNS`):

* ``method="flow"`` finds inspiration onsets from the flow alone (never from markers). It is
  vectorised: thresholds adapt to the recording (the resting expiratory level is the mode of the flow
  histogram, the inspiratory scale a high percentile above it), candidate inspirations are upward
  crossings of a high threshold that stay above it long enough (spikes are ignored), a new breath needs
  the flow to have come down to a low threshold since the previous one (hysteresis, so noise around the
  threshold does not split breaths, while double triggers with a short expiratory dip are kept), and
  each onset is moved back to the last sample before the steep rise.
* ``method="markers"`` uses the device's breath marks exactly (``recording.markers``).
* ``method="auto"`` uses the markers when the recording has any, else the flow.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import DataRecoveryWarning, VentgenTypeError, VentgenValueError, VentgenWarning
from .features import METADATA_COLUMNS, breath_metadata
from .recording import Recording

__all__ = ["segment_breaths", "detect_breath_starts", "SEGMENT_METHODS"]

SEGMENT_METHODS = ("flow", "markers", "auto")

#: Flow percentile (over the whole recording) taken as the scale of inspiratory flow above rest.
_PEAK_PERCENTILE = 99.0
#: Largest plausible flow magnitude in L/min; beyond it the units are almost surely wrong.
_ABSURD_FLOW_LPM = 2000.0


def _fill_nonfinite(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` with non-finite samples interpolated, and the mask of those samples (None when all finite)."""
    if np.isfinite(x.sum()):  # one pass, no mask, in the common all-finite case
        return x, None
    bad = ~np.isfinite(x)
    if bad.all():
        return np.zeros_like(x), bad
    idx = np.arange(x.size)
    out = x.copy()
    out[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return out, bad


def _rest_level(flow: np.ndarray, bin_lpm: float = 0.5) -> float:
    """Most frequent flow level (the expiratory rest), from a histogram of the central flows."""
    lo, hi = np.percentile(flow, [2.0, 98.0])
    if hi - lo < bin_lpm:
        return float(np.median(flow))
    nb = int(min(4000, max(8, np.ceil((hi - lo) / bin_lpm))))
    width = (hi - lo) / nb
    k = ((flow - lo) * (1.0 / width)).astype(np.int64)
    counts = np.bincount(k[(k >= 0) & (k < nb)], minlength=nb)
    j = int(np.argmax(counts))
    return float(lo + (j + 0.5) * width)


def _prefix(x: np.ndarray) -> np.ndarray:
    c = np.empty(x.size + 1, dtype=np.float64)
    c[0] = 0.0
    np.cumsum(x, out=c[1:])
    return c


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def detect_breath_starts(
    flow,
    sampling_rate: float,
    pressure=None,
    *,
    min_peak_lpm: float = 3.0,
    high_fraction: float = 0.2,
    low_fraction: float = 0.5,
    min_insp_s: float = 0.06,
    min_breath_s: float = 0.2,
    onset_window_s: float = 0.4,
    min_pressure_rise_cmh2o: float = 1.0,
    pressure_window_s: float = 0.8,
    min_pressure_slope_cmh2o_s: float = 15.0,
    pressure_tol_cmh2o: float = 0.15,
    small_breaths: bool = True,
    min_small_peak_lpm: float = 1.0,
    small_fraction: float = 0.03,
    min_small_insp_s: float = 0.3,
    min_small_volume_ml: float = 30.0,
    return_info: bool = False,
):
    """Sample indices of inspiration onsets found from the flow signal alone.

    Parameters
    ----------
    flow : array-like of shape (n_samples,)
        Flow in L/min, positive into the patient. Non-finite samples are interpolated over.
    sampling_rate : float
        Samples per second.
    pressure : array-like of shape (n_samples,), optional
        Airway pressure in cmH2O (finite). When given, onsets followed by a clear pressure rise are
        placed at the last pressure minimum before it (the ventilator's trigger).
    min_peak_lpm : float
        Smallest rise above the resting flow that can be an inspiration.
    high_fraction : float
        The high threshold is ``base + max(min_peak_lpm, high_fraction * scale)``, with ``base`` the
        resting flow (the mode of the flow histogram) when positive, else 0, and ``scale`` the 99th
        percentile of flow above ``base``.
    low_fraction : float
        The flow must fall below ``base + low_fraction * (high - base)`` between two inspirations.
    min_insp_s : float
        Minimum time above the high threshold (shorter excursions are spikes).
    min_breath_s : float
        Minimum distance between two onsets.
    onset_window_s : float
        How far back from the crossing the onset (the knee of the flow rise) is searched.
    min_pressure_rise_cmh2o : float
        Pressure rise that marks a ventilator-delivered breath.
    pressure_window_s : float
        How far back from the flow crossing the pressure rise of the trigger is searched (a trigger can
        precede the flow, for instance while the glottis is closed).
    min_pressure_slope_cmh2o_s : float
        A pressure rise steeper than this (cmH2O/s) can be a ventilator's delivery.
    pressure_tol_cmh2o : float
        Pressure noise level: the onset is the last sample within this of the pre-trigger minimum
        (or within 5 % of the pressure rise, when larger).
    small_breaths : bool
        Also look for shallow breaths (hypopnoea, weak efforts) between ordinary ones: excursions above
        ``max(rest, 0) + max(min_small_peak_lpm, small_fraction * scale)`` that contain no ordinary
        inspiration, last at least ``min_small_insp_s``, move at least ``min_small_volume_ml`` above
        ``max(rest, 0)`` and (when pressure is given) do not pull the airway pressure down, as an
        effort the ventilator did not answer does.
    min_small_peak_lpm, small_fraction, min_small_insp_s, min_small_volume_ml : float
        See ``small_breaths``.
    return_info : bool
        Also return a dict with the thresholds used.

    Returns
    -------
    starts : ndarray of int64
    info : dict, only when ``return_info``

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 12, 0.02)
    >>> flow = np.where((t % 4) < 1.2, 40 * np.sin(np.pi * (t % 4) / 1.2), -15 * np.exp(-((t % 4) - 1.2) / 0.5))
    >>> detect_breath_starts(flow, 50).tolist()
    [0, 200, 400]
    """
    f, _ = _fill_nonfinite(np.asarray(flow, dtype=np.float64))
    p = None
    if pressure is not None:
        p, _ = _fill_nonfinite(np.asarray(pressure, dtype=np.float64))
        if p.shape != f.shape:
            raise VentgenValueError(f"detect_breath_starts: pressure has shape {p.shape}, flow {f.shape}")
    return _detect(
        f, float(sampling_rate), p,
        min_peak_lpm=min_peak_lpm, high_fraction=high_fraction, low_fraction=low_fraction,
        min_insp_s=min_insp_s, min_breath_s=min_breath_s, onset_window_s=onset_window_s,
        min_pressure_rise_cmh2o=min_pressure_rise_cmh2o, pressure_window_s=pressure_window_s,
        min_pressure_slope_cmh2o_s=min_pressure_slope_cmh2o_s, pressure_tol_cmh2o=pressure_tol_cmh2o,
        small_breaths=small_breaths, min_small_peak_lpm=min_small_peak_lpm, small_fraction=small_fraction,
        min_small_insp_s=min_small_insp_s, min_small_volume_ml=min_small_volume_ml, return_info=return_info,
    )


def _runs_above(x: np.ndarray, thr: float, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Start and (exclusive) end indices of the runs where ``x > thr`` (three passes over ``x``)."""
    m = x > thr
    if m.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    d = np.flatnonzero(m[1:] != m[:-1]) + 1
    up = m[d]
    st, en = d[up], d[~up]
    if m[0]:
        st = np.concatenate(([0], st))
    if m[-1]:
        en = np.concatenate((en, [m.size]))
    return st + offset, en + offset


def _subsample(x: np.ndarray, max_n: int = 100_000) -> np.ndarray:
    """A strided view with at most about ``max_n`` samples, for robust level statistics."""
    step = max(1, x.size // max_n)
    return x[::step]


def _detect(
    f, rate, p, *, min_peak_lpm, high_fraction, low_fraction, min_insp_s, min_breath_s, onset_window_s,
    min_pressure_rise_cmh2o, pressure_window_s, min_pressure_slope_cmh2o_s, pressure_tol_cmh2o,
    small_breaths, min_small_peak_lpm, small_fraction, min_small_insp_s, min_small_volume_ml, return_info,
):
    """:func:`detect_breath_starts` on finite arrays (no copies, no validation)."""
    pressure = p
    n = f.size
    empty = np.empty(0, np.int64)
    info = {"rest_lpm": np.nan, "high_lpm": np.nan, "low_lpm": np.nan, "scale_lpm": 0.0}
    if n < 3:
        return (empty, info) if return_info else empty
    sub = _subsample(f)
    rest = _rest_level(sub)
    # thresholds count from the resting flow when it sits above zero (a leak or a sensor offset), and
    # from zero when the rest is expiratory: an inspiration moves gas into the patient
    base = max(rest, 0.0)
    scale = float(np.percentile(sub, _PEAK_PERCENTILE)) - base
    info.update(rest_lpm=rest, scale_lpm=scale)
    if scale < min_peak_lpm:
        return (empty, info) if return_info else empty
    high = base + max(min_peak_lpm, high_fraction * scale)
    low = base + low_fraction * (high - base)
    info.update(high_lpm=high, low_lpm=low)

    # excursions above the high threshold, long enough
    r0, r1 = _runs_above(f, high)
    min_len = max(1, int(round(min_insp_s * rate)))
    keep = (r1 - r0) >= min_len
    r0, r1 = r0[keep], r1[keep]
    lows = np.full(r0.size, low)
    if small_breaths:
        # Shallow breaths (hypopnoea) replace ordinary ones, so they lie in long gaps between
        # ordinary inspirations (longer than 1.5 median periods; everywhere when there are few). There,
        # excursions above a much lower threshold that last long enough and move enough volume are
        # breaths (cardiac oscillations are too small); only these gaps are scanned.
        high2 = base + max(min_small_peak_lpm, small_fraction * scale)
        low2 = base + low_fraction * (high2 - base)
        info.update(small_high_lpm=high2)
        if r0.size >= 4:
            period = float(np.median(np.diff(r0)))
            g0 = np.concatenate(([0], r1))
            g1 = np.concatenate((r0, [n]))
            long_gap = (g1 - g0) > 1.5 * period
            g0, g1 = g0[long_gap], g1[long_gap]
        else:
            g0, g1 = np.array([0]), np.array([n])
        if g0.size:
            cnt = g1 - g0
            gi = np.repeat(g0 - np.concatenate(([0], np.cumsum(cnt)[:-1])), cnt) + np.arange(cnt.sum())
            fg = f[gi]
            s0, s1 = _runs_above(fg, high2)
            if s0.size:
                # runs touching a gap edge continue an ordinary excursion: not shallow breaths
                edge0 = np.concatenate(([0], np.cumsum(cnt)))
                k = np.searchsorted(edge0, s0, side="right") - 1
                inner = (s0 > edge0[k]) & (s1 < edge0[k + 1]) | ((g0[k] == 0) & (s0 == edge0[k]) & (s1 < edge0[k + 1]))
                cf = _prefix(fg - base)
                vol_ml = (cf[s1] - cf[s0]) / rate / 60.0 * 1000.0
                ok = inner & ((s1 - s0) >= min_small_insp_s * rate) & (vol_ml >= min_small_volume_ml)
                if pressure is not None and ok.any():
                    # an unsupported effort (the ventilator did not trigger) pulls the airway pressure
                    # down; a delivered or passive breath does not
                    pg = pressure[gi]
                    pp = _prefix(pg)
                    p_mean = (pp[s1] - pp[s0]) / np.maximum(s1 - s0, 1)
                    ok &= p_mean >= pg[s0] - 0.1
                if ok.any():
                    a0 = gi[s0[ok]]
                    a1 = gi[s1[ok] - 1] + 1
                    r0 = np.concatenate([r0, a0])
                    r1 = np.concatenate([r1, a1])
                    lows = np.concatenate([lows, np.full(a0.size, low2)])
                    order = np.argsort(r0, kind="stable")
                    r0, r1, lows = r0[order], r1[order], lows[order]
    if r0.size == 0:
        return (empty, info) if return_info else empty
    # hysteresis: a new excursion starts a breath only if the flow fell below its low threshold since
    # the previous excursion ended (one reduceat pass gives the minimum of every gap)
    prev1 = np.concatenate(([0], r1[:-1]))
    idx = np.empty(2 * r0.size, dtype=np.int64)
    idx[0::2] = prev1
    idx[1::2] = r0
    gap_min = np.minimum.reduceat(f, idx)[0::2]
    dipped = (gap_min < lows) & (r0 > prev1)
    cross = r0[dipped]
    prev_end_all = prev1
    # onset: the knee of the rise before the crossing. Between the expiratory trough (the minimum
    # in the search window) and the crossing, it is the sample lying farthest below the chord that
    # joins them ("kneedle"); robust to a slow expiratory return just before the trigger.
    win = max(2, int(round(onset_window_s * rate)))
    prev_end = prev_end_all[dipped]
    lo = np.maximum(cross - win, prev_end)
    offs = np.arange(-win, 1)
    cand = cross[:, None] + offs[None, :]  # (n_onsets, win + 1)
    fj = np.take(f, cand, mode="clip")
    col = np.arange(win + 1)
    valid = offs[None, :] >= (lo - cross)[:, None]  # lo >= 0, so cand >= 0 too
    rows = np.arange(cross.size)
    trough = np.argmin(np.where(valid, fj, np.inf), axis=1)
    f_t = fj[rows, trough]
    f_c = fj[:, -1]
    span = win - trough
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (col[None, :] - trough[:, None]) / span[:, None]
    # distance below the chord, from the trough (the valid window is contiguous) up to the sample
    # before the crossing
    below = np.where(
        (col[None, :] >= trough[:, None]) & (col[None, :] < win),
        f_t[:, None] + frac * (f_c - f_t)[:, None] - fj,
        -np.inf,
    )
    best = np.argmax(below, axis=1)
    onset = np.where(span > 0, cross - win + best, cross)
    if p is not None:
        # A ventilator's trigger shows in the pressure: its last steep rise near the flow crossing
        # (searched from `pressure_window_s` before it to 0.2 s after it, never before the previous
        # inspiration). The onset is the last sample, within 0.4 s before that rise, still at the
        # pre-trigger pressure level (within the noise tolerance).
        pwin = max(2, int(round(pressure_window_s * rate)))
        ahead = max(1, int(round(0.2 * rate)))
        short = max(1, int(round(0.4 * rate)))
        offs_p = np.arange(-pwin, ahead + 1)
        width = offs_p.size
        pj_ext = np.take(p, cross[:, None] + np.arange(-pwin, ahead + 2)[None, :], mode="clip")
        pj = pj_ext[:, :-1]
        lo_p = np.maximum(cross - pwin, prev_end)
        validp = offs_p[None, :] >= (lo_p - cross)[:, None]
        # the last steep rise: a cough's pressure spike before the trigger is steep too, but comes first
        steep = validp & ((pj_ext[:, 1:] - pj) >= min_pressure_slope_cmh2o_s / rate)
        jr = width - 1 - np.argmax(steep[:, ::-1], axis=1)
        colp = np.arange(width)[None, :]
        before = validp & (colp <= jr[:, None]) & (colp >= (jr - short)[:, None])
        p_min = np.where(before, pj, np.inf).min(axis=1)
        j_abs = cross - pwin + jr
        fut = np.take(p, j_abs[:, None] + 1 + np.arange(ahead)[None, :], mode="clip").max(axis=1)
        fut = np.where(steep.any(axis=1), fut, -np.inf)
        rise = fut - p_min
        # tolerance: the pressure noise (3 sigma, from the median absolute sample-to-sample change of
        # a subsample), the given floor, or 5 % of the rise
        ps = _subsample(p)
        sigma = 1.048 * float(np.median(np.abs(np.diff(ps)))) if ps.size > 1 else 0.0
        tol = np.maximum(max(pressure_tol_cmh2o, 3.0 * sigma), 0.05 * np.where(np.isfinite(rise), rise, 0.0))
        near = before & (pj <= (p_min + tol)[:, None])
        last_min = width - 1 - np.argmax(near[:, ::-1], axis=1)
        use_p = np.isfinite(rise) & (rise >= min_pressure_rise_cmh2o) & near.any(axis=1)
        p_on = cross - pwin + last_min
        # The pressure responds a fixed lag after the flow (sensor and logging delays), learnt from the
        # breaths where both agree; the flow knee is kept unless it precedes the lag-corrected pressure
        # onset (a patient effort that lowers pressure and raises flow before the trigger).
        diff = p_on - onset
        agree = use_p & (diff >= 0) & (diff <= 4)
        lag = int(np.median(diff[agree])) if agree.sum() >= 3 else 0
        p_on = p_on - lag
        lead = max(2, int(round(0.08 * rate)))  # pressure clearly first: flow lags the delivery
        # ... and only when the pressure is still up when the flow crosses (a sustained delivery)
        p_cross = p[np.clip(cross, 0, n - 1)]
        p_first = (p_on < onset - lead) & (p_cross >= p_min + 0.5 * rise)
        if return_info:
            info.update(cross=cross, flow_onset=onset.copy(), pressure_onset=p_on, use_pressure=use_p,
                        pressure_first=p_first, pressure_lag=lag)
        onset = np.where(use_p, np.where(p_first, p_on, np.maximum(onset, p_on)), onset)
    onset = np.clip(onset, 0, n - 1)
    onset = np.maximum.accumulate(onset)
    # minimum breath duration: drop onsets too close to the kept previous one
    mind = max(1, int(round(min_breath_s * rate)))
    if onset.size > 1:
        gap_ok = np.ones(onset.size, dtype=bool)
        gap_ok[1:] = np.diff(onset) >= mind
        onset = onset[gap_ok]
    return (onset.astype(np.int64), info) if return_info else onset.astype(np.int64)


def _detector_params(kwargs: dict) -> dict:
    """Defaults of :func:`detect_breath_starts` updated with ``kwargs`` (unknown names refused)."""
    import inspect

    sig = inspect.signature(detect_breath_starts)
    params = {k: v.default for k, v in sig.parameters.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise VentgenTypeError(
            f"segment_breaths: unknown detector option(s) {unknown}; see detect_breath_starts for {sorted(params)}"
        )
    params.update(kwargs)
    return params


def _empty_table() -> pd.DataFrame:
    df = breath_metadata(np.zeros(2), np.zeros(2), 1.0, [], [])
    return df[list(METADATA_COLUMNS)]


def segment_breaths(
    recording: Recording,
    method: str = "auto",
    *,
    drop_incomplete: bool = False,
    max_breath_s: float | None = None,
    confirm_flow_lpm: float = 5.0,
    peep_samples: int = 5,
    **detector_kwargs,
) -> pd.DataFrame:
    """Breath table of a recording: one row per breath, boundaries and per-breath metadata.

    Parameters
    ----------
    recording : Recording
        Flow (L/min) and pressure (cmH2O).
    method : {"flow", "markers", "auto"}
        ``"flow"`` detects breaths from the flow signal only; ``"markers"`` uses
        ``recording.markers`` exactly (``start_idx``; ``end_idx`` when given, else the next start;
        ``insp_end_idx`` when the markers carry it); ``"auto"`` uses markers when present.
    drop_incomplete : bool
        Drop the last breath (whose end is the end of the recording, flagged ``truncated``).
    max_breath_s : float, optional
        Breaths longer than this (for instance across an apnea) are flagged ``long``.
    confirm_flow_lpm : float
        Expiratory flow that confirms the end of inspiration, see
        :func:`ventgen.signals.features.inspiration_end`.
    peep_samples : int
        PEEP is the mean pressure of the last ``peep_samples`` samples of each breath.
    **detector_kwargs
        Passed to :func:`detect_breath_starts` (``method="flow"``).

    Returns
    -------
    DataFrame
        Columns :data:`ventgen.signals.features.METADATA_COLUMNS`. Sample indices refer to the
        recording; ``end_idx`` is exclusive. ``flags`` lists quality issues separated by ``|``:
        ``truncated`` (the breath runs to the end of the recording), ``artefact`` (it contains
        non-finite samples, filled by interpolation), ``no_expiration`` (no confirmed expiratory flow),
        ``long`` (longer than ``max_breath_s``).

    Raises
    ------
    VentgenValueError
        Unknown method, ``method="markers"`` without markers, or flow values so large the units are
        surely wrong (L/min expected).

    Warns
    -----
    VentgenWarning
        When no breath is found (a flat signal or an apnea-only recording): the table is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from ventgen import Recording
    >>> t = np.arange(0, 12, 0.02)
    >>> ph = t % 4
    >>> flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    >>> rec = Recording(flow=flow, pressure=5 + 10 * (ph < 1.2), sampling_rate=50)
    >>> df = segment_breaths(rec, method="flow")
    >>> df[["start_idx", "insp_end_idx", "end_idx"]].values.tolist()
    [[0, 60, 200], [200, 260, 400], [400, 460, 600]]
    """
    if not isinstance(recording, Recording):
        raise VentgenTypeError(f"segment_breaths: expected a ventgen.Recording, got {type(recording).__name__}")
    if method not in SEGMENT_METHODS:
        raise VentgenValueError(f"segment_breaths: method must be one of {SEGMENT_METHODS}, got {method!r}")
    if method == "auto":
        method = "markers" if recording.n_markers > 0 else "flow"
    rate = recording.sampling_rate
    n = recording.n_samples
    name = recording.subject or "(no subject)"
    flow, bad_f = _fill_nonfinite(recording.flow)
    pressure, bad_p = _fill_nonfinite(recording.pressure)
    bad = bad_f if bad_p is None else (bad_p if bad_f is None else bad_f | bad_p)
    if bad is not None and bad.all():
        raise VentgenValueError(f"segment_breaths: recording {name} has no finite sample")
    # flow so large that the units must be wrong (checked on a subsample: a robust percentile)
    p99 = float(np.percentile(np.abs(_subsample(flow)), 99))
    if p99 > _ABSURD_FLOW_LPM:
        raise VentgenValueError(
            f"segment_breaths: recording {name}: flow reaches {p99:.0f} L/min at its 99th percentile; "
            "flow must be in L/min (convert mL/s or mL/min when reading the file)"
        )

    insp_ends = None
    if method == "markers":
        mk = recording.markers
        if mk is None or len(mk) == 0:
            raise VentgenValueError(
                f"segment_breaths: method='markers' but recording {name} has no device markers; use method='flow'"
            )
        starts = mk["start_idx"].to_numpy(np.int64)
        nxt = np.append(starts[1:], n)
        ends = mk["end_idx"].to_numpy(np.int64)
        ends = np.where((ends > starts) & (ends <= nxt), ends, nxt)
        if "insp_end_idx" in mk.columns:
            ie = mk["insp_end_idx"].to_numpy()
            ie = np.where(np.isfinite(ie.astype(float)), ie, -1).astype(np.int64)
            if (ie >= 0).all():
                insp_ends = np.clip(ie, starts, ends)
        truncated = np.zeros(starts.size, dtype=bool)
        if starts.size and mk["end_idx"].to_numpy()[-1] < 0:
            truncated[-1] = True
    else:
        starts = _detect(flow, rate, pressure, **_detector_params(detector_kwargs))
        ends = np.append(starts[1:], n)
        truncated = np.zeros(starts.size, dtype=bool)
        if starts.size:
            truncated[-1] = True
    if starts.size == 0:
        lo, hi = (float(v) for v in np.percentile(_subsample(flow), [1, 99]))
        hint = ""
        if method == "flow" and hi - lo < 5.0:
            hint = (f"; the flow only spans {lo:.2f}..{hi:.2f} L/min: a flat signal, an apnea, or flow in "
                    "L/s or another unit read as L/min (convert it when reading the file)")
        warnings.warn(
            f"segment_breaths: no breath found in recording {name} ({recording.duration_s:.1f} s, "
            f"method={method!r}); the breath table is empty{hint}",
            VentgenWarning,
            stacklevel=2,
        )
        return _empty_table()
    # quality flags
    if bad is None:
        artefact = np.zeros(starts.size, dtype=bool)
    else:
        cb = np.concatenate(([0], np.cumsum(bad)))
        artefact = (cb[ends] - cb[starts]) > 0
    if artefact.any():
        warnings.warn(
            f"segment_breaths: {int(artefact.sum())} of {starts.size} breaths of recording {name} contain "
            "non-finite samples (filled by interpolation, flagged 'artefact')",
            DataRecoveryWarning,
            stacklevel=2,
        )
    long_ = None
    if max_breath_s is not None:
        long_ = (ends - starts) / rate > max_breath_s
    df = breath_metadata(
        flow,
        pressure,
        rate,
        starts,
        ends,
        insp_ends,
        peep_samples=peep_samples,
        confirm_flow_lpm=confirm_flow_lpm,
        flags={"truncated": truncated, "artefact": artefact, "long": long_},
    )
    if drop_incomplete and truncated.any():
        df = df[~truncated].reset_index(drop=True)
        df["breath_id"] = np.arange(len(df), dtype=np.int64)
    return df
