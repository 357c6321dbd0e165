"""The ventilator's trigger and delivery as the flow and pressure show them (helpers of :mod:`.detect`).

A flow-triggered ventilator (the PB-840 among them) starts a breath when the patient's inspiratory
flow reaches its flow sensitivity (a few L/min; 3 L/min by default on the PB-840) and then opens its
inspiratory valve: the airway pressure rises above PEEP while gas flows in. Two rules follow:

* :func:`flow_trigger_onsets`: where a recording shows its pressure response lagging the flow onset
  (the ventilator marks its breaths at the flow trigger, and the delivery follows), a breath whose
  pressure rise comes unusually late (a strong effort outruns the delivery, the pressure dips again
  after a first small rise) still starts where the flow crossed the trigger level.
* :func:`add_deliveries`: a small breath, too small for the flow thresholds of ordinary breaths, is
  a breath when the pressure rises while its inspiratory flow lasts (the ventilator delivered it; an
  unsupported effort pulls the pressure down instead).

The placement of each onset at the ventilator's trigger in the pressure (``_pressure_trigger``,
``_pressure_onsets``: the last pressure minimum before the steep rise of the delivery, corrected by
the recording's learnt lag) lives here too.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from .pulses import merge_excursions

__all__ = ["trigger_crossings", "flow_trigger_onsets", "add_deliveries"]


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


def trigger_crossings(f, cross, prev_end, level, window):
    """For each crossing, the first sample of the last rise of the flow above ``level`` before it.

    Parameters
    ----------
    f : ndarray
        Flow (L/min).
    cross, prev_end : ndarray of int
        The upward crossings of the high threshold, and the end of the excursion before each.
    level : float
        The trigger level (L/min).
    window : int
        Largest distance (samples) between that sample and the crossing.

    Returns
    -------
    ndarray of int64
        The sample, or -1 where the flow never was at or under ``level`` since ``prev_end`` within
        ``window`` samples before the crossing.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([-5.0, -1, 2, 5, 9, 20, 30, 20, 2, -3, 1, 5, 25])
    >>> trigger_crossings(f, np.array([5, 12]), np.array([0, 8]), 4.0, 10).tolist()
    [3, 11]
    """
    below = np.flatnonzero(f <= level)
    j = np.searchsorted(below, cross) - 1
    z = below[np.maximum(j, 0)] + 1 if below.size else np.zeros(cross.size, np.int64)
    ok = (j >= 0) & (z >= prev_end) & (cross - z <= window)
    return np.where(ok, z, -1).astype(np.int64)


def flow_trigger_onsets(f, onset, trig, movable, *, base, level, lag, min_lag, tol, rise_factor=1.5):
    """The onsets moved back to the flow trigger where the pressure response came unusually late.

    Parameters
    ----------
    f : ndarray
        Flow (L/min).
    onset : ndarray of int
        The onsets found from the flow knee and the pressure trigger.
    trig : ndarray of int
        :func:`trigger_crossings` for each onset (-1: none).
    movable : ndarray of bool
        Which onsets may move (not the short pressure pulses, which start at their own rise).
    base, level : float
        Resting flow and trigger level (L/min).
    lag : int
        The recording's learnt lag (samples) of the pressure response after the flow onset.
    min_lag : float
        The rule applies only when ``lag >= min_lag``: the recording shows its flow onsets leading the
        pressure response (breaths marked at the flow trigger). With no lag, the breath is taken to
        start with the delivery, as the pressure shows it, and nothing moves.
    tol : int
        An onset moves when it lies more than ``tol`` samples after the trigger crossing ...
    rise_factor : float
        ... and the flow at the onset is already ``rise_factor`` times the trigger level above
        ``base`` (the flow kept rising from the trigger: inspiration was under way; a flow that
        idles near the trigger level while the pressure falls is an effort the ventilator has not
        answered yet).

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([-5.0, 0, 5, 10, 14, 18, 22, 30, 40])
    >>> flow_trigger_onsets(f, np.array([7]), np.array([2]), np.array([True]), base=0.0, level=4.0,
    ...                     lag=2, min_lag=2, tol=2).tolist()
    [2]
    """
    onset = np.asarray(onset, dtype=np.int64)
    if lag < min_lag - 1e-9 or onset.size == 0:
        return onset
    flow_at = f[np.clip(onset, 0, f.size - 1)] - base
    move = movable & (trig >= 0) & (onset - trig > tol) & (flow_at >= rise_factor * (level - base))
    return np.where(move, trig, onset)


def _swings(p, r0, r1, ordinary, pre):
    """Rise of the pressure over each ordinary excursion: the peak from ``pre`` samples before the
    crossing to the end of the excursion, above the lowest pressure of those ``pre`` samples."""
    a = np.maximum(r0[ordinary] - pre, 0)
    b = r0[ordinary]
    idx = np.empty(2 * a.size, np.int64)
    idx[0::2] = a
    idx[1::2] = np.minimum(np.maximum(r1[ordinary], a + 1), p.size - 1)
    peak = np.maximum.reduceat(p, idx)[0::2]
    idx[1::2] = np.minimum(np.maximum(b, a + 1), p.size - 1)
    low = np.minimum.reduceat(p, idx)[0::2]
    return peak - low


def add_deliveries(f, p, rate, r0, r1, lows, pulse, info, *, base, level, min_insp_s, min_rise, fraction,
                   neighbours=15, before_s=0.1, window_s=0.4):
    """The excursions with the small delivered breaths added (in order), and the pulse mask extended.

    A small delivery is a run of flow above ``level`` lasting at least ``min_insp_s`` that holds no
    ordinary excursion and lies outside every one, while which the airway pressure rises, from its
    lowest point (searched from ``before_s`` before the run) to its highest (within ``window_s`` and
    before the run ends), by at least ``max(min_rise, fraction * swing)``; ``swing`` is the usual
    delivered swing where the run lies: the median, over the ``neighbours`` ordinary excursions
    around it, of their rise above their pre-trigger pressure (the support changes over a
    recording; a small delivery is small against the breaths of its time; ``neighbours`` 0, or more
    than there are, takes the median over the whole recording). The flow must come back under the
    middle of ``base`` and ``level`` before the next breath (hysteresis).

    Examples
    --------
    >>> import numpy as np
    >>> ph = np.arange(1500) % 250                                      # a breath every 5 s (50 Hz)
    >>> f = np.where(ph < 50, 40 * np.sin(np.pi * ph / 50), -8.0)
    >>> p = np.where(ph < 50, 15.0, 5.0)
    >>> small = (ph >= 150) & (ph < 175)                                 # a small breath in each pause
    >>> f[small] = 8.0
    >>> p[small] = 5.0 + 0.1 * (ph[small] - 150)                        # ... that the ventilator delivers
    >>> r0 = np.arange(0, 1500, 250) + 2
    >>> r1 = r0 + 46
    >>> out = add_deliveries(f, p, 50.0, r0, r1, np.full(6, 4.0), np.zeros(6, bool), {},
    ...                      base=0.0, level=4.0, min_insp_s=0.1, min_rise=1.0, fraction=0.1)
    >>> out[0][:4].tolist()
    [2, 150, 252, 400]
    """
    a0, a1 = _runs_above(f, level)
    keep = (a1 - a0) >= max(1, int(round(min_insp_s * rate)))
    a0, a1 = a0[keep], a1[keep]
    ordinary = ~pulse
    if a0.size == 0 or ordinary.sum() < 3:
        return r0, r1, lows, pulse
    # new runs only: no excursion starts within the run, the one before it ended before it
    k = np.searchsorted(r0, a0)
    nxt = np.where(k < r0.size, r0[np.minimum(k, r0.size - 1)], f.size + 1)
    prv = np.where(k > 0, r1[np.maximum(k - 1, 0)], -1)
    new = (nxt >= a1) & (prv <= a0)
    a0, a1 = a0[new], a1[new]
    if a0.size == 0:
        return r0, r1, lows, pulse
    b = max(1, int(round(before_s * rate)))
    offs = np.arange(-b, max(2, int(round(window_s * rate))))
    cols = a0[:, None] + offs[None, :]
    inside = cols < a1[:, None]
    pw = np.where(inside, np.take(p, cols, mode="clip"), -np.inf)
    jmax = np.argmax(pw, axis=1)
    upto = inside & (np.arange(offs.size)[None, :] <= jmax[:, None])
    rise = pw.max(axis=1) - np.where(upto, pw, np.inf).min(axis=1)
    # the usual swing where the run lies: the rolling median over the neighbouring ordinary breaths
    swings = _swings(p, r0, r1, ordinary, max(1, int(round(0.5 * rate))))
    if 0 < neighbours < swings.size:
        swings = median_filter(swings, size=int(neighbours), mode="nearest")
    else:
        swings = np.full(swings.size, np.median(swings))
    swing = swings[np.clip(np.searchsorted(r0[ordinary], a0), 0, swings.size - 1)]
    ok = (rise >= np.maximum(min_rise, fraction * swing)) & (jmax > b)
    info.update(deliveries=int(ok.sum()), delivery_swing=float(np.median(swings)))
    return merge_excursions(r0, r1, lows, pulse, a0[ok], a1[ok], low=base + 0.5 * (level - base), is_pulse=False)


def _pressure_trigger(p, cross, prev_end, rate, *, pressure_window_s, min_pressure_slope_cmh2o_s,
                      pressure_tol_cmh2o, min_pressure_rise_cmh2o):
    """The ventilator's trigger in the pressure: (onset, usable, pre-trigger minimum, rise) per crossing.

    Its last steep rise near the flow crossing (searched from ``pressure_window_s`` before it to 0.2 s
    after it, never before the previous inspiration); the onset is the last sample, within 0.4 s
    before that rise, still at the pre-trigger pressure level (within the noise tolerance).
    """
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
    return cross - pwin + last_min, use_p, p_min, rise


def _pressure_onsets(p, cross, prev_end, onset, rate, info, **options):
    """The flow onsets moved to the ventilator's trigger where the pressure shows one.

    The pressure responds a fixed lag after the flow (sensor and logging delays), learnt from the
    breaths where both agree; the flow knee is kept unless it precedes the lag-corrected pressure
    onset (a patient effort that lowers pressure and raises flow before the trigger).
    """
    p_on, use_p, p_min, rise = _pressure_trigger(p, cross, prev_end, rate, **options)
    diff = p_on - onset
    agree = use_p & (diff >= 0) & (diff <= 4)
    lag = int(np.median(diff[agree])) if agree.sum() >= 3 else 0
    p_on = p_on - lag
    lead = max(2, int(round(0.08 * rate)))  # pressure clearly first: flow lags the delivery
    # ... and only when the pressure is still up when the flow crosses (a sustained delivery)
    p_cross = p[np.clip(cross, 0, p.size - 1)]
    p_first = (p_on < onset - lead) & (p_cross >= p_min + 0.5 * rise)
    info.update(cross=cross, flow_onset=onset.copy(), pressure_onset=p_on, use_pressure=use_p,
                pressure_first=p_first, pressure_lag=lag)
    return np.where(use_p, np.where(p_first, p_on, np.maximum(onset, p_on)), onset)
