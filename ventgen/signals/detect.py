"""Breath onsets from the flow signal alone (what ``segment_breaths(method="flow")`` uses).

Vectorised, one small function per step: thresholds adapt to the recording (the resting expiratory
level is the mode of the flow histogram, the inspiratory scale a high percentile above it), candidate
inspirations are upward crossings of a high threshold that stay above it long enough (spikes are
ignored), shallow breaths are looked for in long gaps between ordinary ones, a new breath needs the
flow to have come down to a low threshold since the previous one (hysteresis) and, with a pressure
signal, the previous delivery to have ended (a flow dip under a held inspiratory pressure, with no
expiratory flow, is one breath), each onset is moved back to the knee of the flow rise, and, with a
pressure signal, to the ventilator's trigger; with a pressure signal, short pressure pulses that push
a little gas in (a delivery the ventilator cut short) are breaths too (:mod:`.pulses`), and so are
small runs of inspiratory flow during which the pressure rises (a small delivered breath), and pressure
plateaus held from PEEP while the flow stays at rest (a delivery into a closed airway), and, where
the recording's pressure response lags its flow onsets, a breath whose pressure rise comes late
starts at the flow trigger (:mod:`.triggers`).
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import VentgenTypeError, VentgenValueError
from .pulses import add_plateaus, add_pulses, held_pressure
from .triggers import (
    _pressure_onsets,
    _runs_above,
    _subsample,
    add_deliveries,
    flow_trigger_onsets,
    trigger_crossings,
)

__all__ = ["detect_breath_starts"]

#: Flow percentile (over the whole recording) taken as the scale of inspiratory flow above rest.
_PEAK_PERCENTILE = 99.0


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
    min_pressure_slope_cmh2o_s: float = 7.5,
    pressure_tol_cmh2o: float = 0.15,
    small_breaths: bool = True,
    min_small_peak_lpm: float = 1.0,
    small_fraction: float = 0.03,
    min_small_insp_s: float = 0.3,
    min_small_volume_ml: float = 30.0,
    held_pressure_fraction: float = 0.5,
    min_held_swing_cmh2o: float = 3.0,
    pressure_base_s: float = 30.0,
    pulses: bool = True,
    pulse_fraction: float = 0.3,
    min_pulse_rise_cmh2o: float = 2.0,
    trigger_flow_lpm: float = 4.0,
    trigger_window_s: float = 1.0,
    trigger_lag_s: float = 0.04,
    deliveries: bool = True,
    delivery_fraction: float = 0.3,
    min_delivery_s: float = 0.1,
    delivery_neighbours: int = 15,
    plateaus: bool = True,
    plateau_fraction: float = 0.5,
    min_plateau_s: float = 0.3,
    min_plateau_rise_cmh2o: float = 3.0,
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
        A pressure rise steeper than this (cmH2O/s) can be a ventilator's delivery (7.5: proportional
        assist raises the pressure with the flow, at 5-10 cmH2O/s, after the trigger dip).
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
    held_pressure_fraction : float
        With a pressure signal, a flow rise is not a new breath while the previous inspiration is still
        delivered: when the airway pressure stayed above ``base + held_pressure_fraction * swing`` all
        the way from the end of the previous flow excursion to this one (the flow dipped and rose again
        under a held inspiratory pressure, a strong patient effort). ``base`` is the local PEEP (the
        most frequent pressure of the block of ``pressure_base_s`` seconds that holds the previous
        crossing) and ``swing`` the highest pressure of the previous excursion above it. The same holds
        with ``base`` the lowest pressure of the 0.5 s before the previous crossing (the pressure that
        delivery rose from; the block mode sits on the plateau when plateaus fill the block), when the
        flow did not turn expiratory (below the resting flow by ``min_peak_lpm``) in between: the
        patient did not exhale, so no new breath was triggered. A double trigger (the ventilator
        cycles to expiration, the pressure falls towards PEEP between the two) stays two breaths.
    min_held_swing_cmh2o : float
        Smallest pressure swing for that check (below it, as in CPAP, the pressure says nothing).
    pressure_base_s : float
        See ``held_pressure_fraction``.
    pulses : bool
        With a pressure signal, also count short pressure pulses as breaths (:mod:`.pulses`): a steep
        rise from near PEEP by at least ``max(min_pulse_rise_cmh2o, pulse_fraction * swing)`` (``swing``
        the median pressure peak of the ordinary inspirations above PEEP) that falls back within 0.3 s,
        while the flow rises by ``min_peak_lpm`` and reaches the shallow-breath threshold: a delivery
        the ventilator cut short. A pulse starts at its pressure rise; when the flow stays inspiratory
        from the pulse into a larger inspiration, the two are one breath from the pulse.
    pulse_fraction, min_pulse_rise_cmh2o : float
        See ``pulses``.
    trigger_flow_lpm : float
        Flow above the resting flow at which a flow-triggered ventilator starts a breath (its flow
        sensitivity, 3 L/min by default on the PB-840, plus a margin). With a pressure signal whose
        response lags the flow onsets by ``trigger_lag_s`` or more (the ventilator marks the breath
        at its flow trigger; the detector learns that lag from the breaths where flow and pressure
        agree), an onset lying more than 2 samples after the last rise of the flow through this
        level (within ``trigger_window_s`` before the crossing) moves back to it, when the flow at
        the onset is already 1.5 times this level (the pressure rise came late: a strong effort
        outran the delivery). Short pressure pulses keep their own onset. See :mod:`.triggers`.
    trigger_window_s, trigger_lag_s : float
        See ``trigger_flow_lpm``.
    deliveries : bool
        With a pressure signal, also count small delivered breaths: runs of flow above
        ``trigger_flow_lpm`` for at least ``min_delivery_s`` that hold no ordinary inspiration and lie
        outside every one, while which the airway pressure rises by at least
        ``max(min_pressure_rise_cmh2o, delivery_fraction * swing)`` (``swing`` the median rise above
        their pre-trigger pressure of the ``delivery_neighbours`` ordinary inspirations around the
        run, so that it follows changes of the support): the ventilator pushed gas in (an
        unsupported effort pulls the pressure down instead).
    delivery_fraction, min_delivery_s : float
        See ``deliveries``.
    delivery_neighbours : int
        See ``deliveries`` (0: the median over the whole recording).
    plateaus : bool
        With a pressure signal, also count deliveries that move (almost) no gas, outside every breath
        found: the pressure steps up from PEEP by at least ``max(min_plateau_rise_cmh2o,
        plateau_fraction * swing)`` and stays above the middle of that rise for ``min_plateau_s``
        while the flow does not fall by more than ``5 * min_peak_lpm`` below its level before the rise
        (a backup breath into a closed glottis;
        :func:`~ventgen.signals.pulses.pressure_plateaus`).
    plateau_fraction, min_plateau_s, min_plateau_rise_cmh2o : float
        See ``plateaus``.
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
        min_small_insp_s=min_small_insp_s, min_small_volume_ml=min_small_volume_ml,
        held_pressure_fraction=held_pressure_fraction, min_held_swing_cmh2o=min_held_swing_cmh2o,
        pressure_base_s=pressure_base_s, pulses=pulses, pulse_fraction=pulse_fraction,
        min_pulse_rise_cmh2o=min_pulse_rise_cmh2o, trigger_flow_lpm=trigger_flow_lpm,
        trigger_window_s=trigger_window_s, trigger_lag_s=trigger_lag_s, deliveries=deliveries,
        delivery_fraction=delivery_fraction, min_delivery_s=min_delivery_s,
        delivery_neighbours=delivery_neighbours, plateaus=plateaus, plateau_fraction=plateau_fraction,
        min_plateau_s=min_plateau_s, min_plateau_rise_cmh2o=min_plateau_rise_cmh2o, return_info=return_info,
    )


def _detect(f, rate, p, *, return_info, **options):
    """:func:`detect_breath_starts` on finite arrays (no copies, no validation)."""
    info = {"rest_lpm": np.nan, "high_lpm": np.nan, "low_lpm": np.nan, "scale_lpm": 0.0}
    onset = _find_onsets(f, rate, p, info, **options)
    return (onset, info) if return_info else onset


def _find_onsets(
    f, rate, p, info, *, min_peak_lpm, high_fraction, low_fraction, min_insp_s, min_breath_s, onset_window_s,
    min_pressure_rise_cmh2o, pressure_window_s, min_pressure_slope_cmh2o_s, pressure_tol_cmh2o,
    small_breaths, min_small_peak_lpm, small_fraction, min_small_insp_s, min_small_volume_ml,
    held_pressure_fraction, min_held_swing_cmh2o, pressure_base_s, pulses, pulse_fraction, min_pulse_rise_cmh2o,
    trigger_flow_lpm, trigger_window_s, trigger_lag_s, deliveries, delivery_fraction, min_delivery_s,
    delivery_neighbours, plateaus, plateau_fraction, min_plateau_s, min_plateau_rise_cmh2o,
) -> np.ndarray:
    """The steps of the detector, in order; ``info`` gets the thresholds (and the pressure details)."""
    empty = np.empty(0, np.int64)
    if f.size < 3:
        return empty
    levels = _thresholds(f, info, min_peak_lpm, high_fraction, low_fraction)
    if levels is None:
        return empty
    base, scale, high, low = levels
    r0, r1 = _excursions(f, high, min_insp_s, rate)
    lows = np.full(r0.size, low)
    high2 = base + max(min_small_peak_lpm, small_fraction * scale)
    if small_breaths:
        # Shallow breaths (hypopnoea) replace ordinary ones, so they lie in long gaps between
        # ordinary inspirations (longer than 1.5 median periods; everywhere when there are few). There,
        # excursions above a much lower threshold that last long enough and move enough volume are
        # breaths (cardiac oscillations are too small); only these gaps are scanned.
        low2 = base + low_fraction * (high2 - base)
        info.update(small_high_lpm=high2)
        r0, r1, lows = _add_shallow_breaths(f, rate, p, r0, r1, lows, base, high2, low2,
                                            min_small_insp_s, min_small_volume_ml)
    pulse = np.zeros(r0.size, dtype=bool)
    w = max(2, int(round(pressure_base_s * rate)))
    modes = _block_modes(p, w) if p is not None else None  # PEEP per block of pressure_base_s
    peep = np.repeat(modes, w)[: p.size] if p is not None else None
    if p is not None and pulses:
        r0, r1, lows, pulse = add_pulses(f, p, rate, r0, r1, lows, base, low, info, level=high2,
                                          min_slope=min_pressure_slope_cmh2o_s, fraction=pulse_fraction,
                                          min_rise=min_pulse_rise_cmh2o, min_flow_rise=min_peak_lpm, peep=peep)
    if p is not None and deliveries:
        r0, r1, lows, pulse = add_deliveries(f, p, rate, r0, r1, lows, pulse, info, base=base,
                                             level=base + trigger_flow_lpm, min_insp_s=min_delivery_s,
                                             min_rise=min_pressure_rise_cmh2o, fraction=delivery_fraction,
                                             neighbours=delivery_neighbours)
    if p is not None and plateaus:
        r0, r1, lows, pulse = add_plateaus(f, p, rate, r0, r1, lows, pulse, info, peep=peep,
                                           min_slope=min_pressure_slope_cmh2o_s, fraction=plateau_fraction,
                                           min_rise=min_plateau_rise_cmh2o, hold_s=min_plateau_s,
                                           flow_drop=5 * min_peak_lpm)
    if r0.size == 0:
        return empty
    keep = _crossings(f, r0, r1, lows)
    cross, prev_end, pulse = r0[keep], np.concatenate(([0], r1[:-1]))[keep], pulse[keep]
    if p is not None and cross.size > 1:
        held = held_pressure(p, cross, prev_end, info, fraction=held_pressure_fraction,
                             min_swing=min_held_swing_cmh2o, modes=modes, block=w, flow=f, base_flow=base,
                             expiration_lpm=min_peak_lpm, pre_trigger=max(1, int(round(0.5 * rate))))
        cross, prev_end, pulse = cross[~held], prev_end[~held], pulse[~held]
    onset = _flow_onsets(f, cross, prev_end, max(2, int(round(onset_window_s * rate))))
    if p is not None:
        onset = _pressure_onsets(p, cross, prev_end, onset, rate, info, pressure_window_s=pressure_window_s,
                                 min_pressure_slope_cmh2o_s=min_pressure_slope_cmh2o_s,
                                 pressure_tol_cmh2o=pressure_tol_cmh2o,
                                 min_pressure_rise_cmh2o=min_pressure_rise_cmh2o)
        # a pulse starts where its pressure rise does
        onset = np.where(pulse, cross, onset)
        # a late pressure response: the breath started at the flow trigger
        trig = trigger_crossings(f, cross, prev_end, base + trigger_flow_lpm,
                                 max(2, int(round(trigger_window_s * rate))))
        onset = flow_trigger_onsets(f, onset, trig, ~pulse, base=base, level=base + trigger_flow_lpm,
                                    lag=info["pressure_lag"], min_lag=trigger_lag_s * rate, tol=2)
    return _spaced(onset, f.size, max(1, int(round(min_breath_s * rate))))


def _thresholds(f, info, min_peak_lpm, high_fraction, low_fraction):
    """(base, scale, high, low) flow levels in L/min, or None when the flow never rises enough."""
    sub = _subsample(f)
    rest = _rest_level(sub)
    # thresholds count from the resting flow when it sits above zero (a leak or a sensor offset), and
    # from zero when the rest is expiratory: an inspiration moves gas into the patient
    base = max(rest, 0.0)
    scale = float(np.percentile(sub, _PEAK_PERCENTILE)) - base
    info.update(rest_lpm=rest, scale_lpm=scale)
    if scale < min_peak_lpm:
        return None
    high = base + max(min_peak_lpm, high_fraction * scale)
    low = base + low_fraction * (high - base)
    info.update(high_lpm=high, low_lpm=low)
    return base, scale, high, low


def _excursions(f, high, min_insp_s, rate):
    """Start and end of the excursions above the high threshold that last at least ``min_insp_s``."""
    r0, r1 = _runs_above(f, high)
    min_len = max(1, int(round(min_insp_s * rate)))
    keep = (r1 - r0) >= min_len
    return r0[keep], r1[keep]


def _long_gaps(r0, r1, n):
    """The gaps between ordinary inspirations longer than 1.5 median periods (all, when few)."""
    if r0.size < 4:
        return np.array([0]), np.array([n])
    period = float(np.median(np.diff(r0)))
    g0 = np.concatenate(([0], r1))
    g1 = np.concatenate((r0, [n]))
    long_gap = (g1 - g0) > 1.5 * period
    return g0[long_gap], g1[long_gap]


def _add_shallow_breaths(f, rate, pressure, r0, r1, lows, base, high2, low2, min_small_insp_s, min_small_volume_ml):
    """The ordinary excursions with the shallow breaths found in the long gaps added (in order)."""
    g0, g1 = _long_gaps(r0, r1, f.size)
    if not g0.size:
        return r0, r1, lows
    cnt = g1 - g0
    gi = np.repeat(g0 - np.concatenate(([0], np.cumsum(cnt)[:-1])), cnt) + np.arange(cnt.sum())
    fg = f[gi]
    s0, s1 = _runs_above(fg, high2)
    if not s0.size:
        return r0, r1, lows
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
    if not ok.any():
        return r0, r1, lows
    a0 = gi[s0[ok]]
    a1 = gi[s1[ok] - 1] + 1
    r0 = np.concatenate([r0, a0])
    r1 = np.concatenate([r1, a1])
    lows = np.concatenate([lows, np.full(a0.size, low2)])
    order = np.argsort(r0, kind="stable")
    return r0[order], r1[order], lows[order]


def _crossings(f, r0, r1, lows):
    """Which excursions start a breath (a mask; the end of the excursion before each is ``r1[k - 1]``).

    Hysteresis: a new excursion starts a breath only if the flow fell below its low threshold since
    the previous excursion ended (one reduceat pass gives the minimum of every gap).
    """
    prev1 = np.concatenate(([0], r1[:-1]))
    idx = np.empty(2 * r0.size, dtype=np.int64)
    idx[0::2] = prev1
    idx[1::2] = r0
    np.minimum(idx, f.size - 1, out=idx)  # an excursion (a pulse) can run to the end of the signal
    gap_min = np.minimum.reduceat(f, idx)[0::2]
    return (gap_min < lows) & (r0 > prev1)


def _block_modes(x: np.ndarray, block: int, bin_width: float = 0.25) -> np.ndarray:
    """The most frequent level of ``x`` in each block of ``block`` samples (the last one may be shorter).

    One 2-D histogram (block, level bin) from a single bincount; levels outside the 1st..99th
    percentiles of the whole signal are left out.
    """
    lo, hi = np.percentile(_subsample(x), [1.0, 99.0])
    nb = int(min(4000, max(1, np.ceil((hi - lo) / bin_width))))
    width = max((hi - lo) / nb, 1e-12)
    k = ((x - lo) * (1.0 / width)).astype(np.int64)
    blk = np.arange(x.size) // block
    ok = (k >= 0) & (k < nb)
    n_blocks = int(blk[-1]) + 1
    counts = np.bincount(blk[ok] * nb + k[ok], minlength=n_blocks * nb).reshape(n_blocks, nb)
    return lo + (np.argmax(counts, axis=1) + 0.5) * width


def _flow_onsets(f, cross, prev_end, win):
    """The knee of the rise before each crossing.

    Between the expiratory trough (the minimum in the search window of ``win`` samples) and the
    crossing, it is the sample lying farthest below the chord that joins them ("kneedle"); robust to a
    slow expiratory return just before the trigger.
    """
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
        frac = (col[None, :] - trough[:, None]) / np.maximum(span, 1)[:, None]
    # distance below the chord, from the trough (the valid window is contiguous) up to the sample
    # before the crossing
    below = np.where(
        (col[None, :] >= trough[:, None]) & (col[None, :] < win),
        f_t[:, None] + frac * (f_c - f_t)[:, None] - fj,
        -np.inf,
    )
    best = np.argmax(below, axis=1)
    return np.where(span > 0, cross - win + best, cross)


def _spaced(onset, n, mind):
    """Onsets within the recording, non-decreasing, at least ``mind`` samples after the kept previous one."""
    onset = np.clip(onset, 0, n - 1)
    onset = np.maximum.accumulate(onset)
    if onset.size > 1:
        gap_ok = np.ones(onset.size, dtype=bool)
        gap_ok[1:] = np.diff(onset) >= mind
        onset = onset[gap_ok]
    return onset.astype(np.int64)


def _detector_params(kwargs: dict) -> dict:
    """Defaults of :func:`detect_breath_starts` updated with ``kwargs`` (unknown names refused)."""
    sig = inspect.signature(detect_breath_starts)
    params = {k: v.default for k, v in sig.parameters.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise VentgenTypeError(
            f"segment_breaths: unknown detector option(s) {unknown}; see detect_breath_starts for {sorted(params)}"
        )
    params.update(kwargs)
    return params
