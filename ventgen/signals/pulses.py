"""What the airway pressure says about breaths (helpers of :mod:`.detect`): short pulses, held deliveries.

A ventilator can deliver a breath that it cuts short at once (the patient exhales against it, or a weak
effort triggers and the flow at once falls under the cycling threshold): the airway pressure jumps from
PEEP by a good part of the recording's usual delivered swing and falls back within a few tenths of a
second, while the flow into the patient rises only a few L/min, too little and too briefly for a flow
threshold. These pulses are breaths for the ventilator (it marks them) and are found here from the
pressure, with the flow rise as the check that gas was pushed into the patient (a cough or a forced
exhalation raises the pressure while the flow falls).

:func:`held_pressure` is the converse rule: a flow dip while the ventilator still holds its
inspiratory pressure does not start a new breath.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pressure_pulses", "add_pulses", "pressure_plateaus", "add_plateaus", "held_pressure", "median_swing",
           "merge_excursions"]


def _window(x: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """``x[start + j]`` for ``j`` in ``0..width-1``, one row per start (indices clipped to the signal)."""
    return np.take(x, start[:, None] + np.arange(width)[None, :], mode="clip")


def _steep_starts(p, min_slope, rate) -> np.ndarray:
    """The first sample of every run of pressure steps of at least ``min_slope`` (cmH2O/s)."""
    steep = np.diff(p) >= min_slope / rate
    q = np.flatnonzero(steep[1:] & ~steep[:-1]) + 1
    return np.concatenate(([0], q)) if steep.size and steep[0] else q


def _rises(p, f, q, *, nr, need, level, tol_cmh2o):
    """(onset, rise, peak) of the steep pressure rises that start at ``q`` (:func:`_steep_starts`): the highest
    pressure within ``nr`` samples, the rise to it from the lowest pressure before it, and the onset:
    the last sample before the peak still at that lowest level (within the noise:
    ``max(tol_cmh2o, 5 % of the rise)``); one rise per onset (the largest). Only the runs whose
    pressure range over the ``nr`` samples reaches ``need`` and whose flow reaches ``level`` (None:
    any flow) are measured (a cheap screen: one ``reduceat`` each)."""
    empty = np.empty(0, np.int64)
    q = q[q + nr <= p.size]
    if q.size == 0:
        return empty, np.empty(0), empty
    rng = _gap_extrema(p, q, q + nr, np.maximum) - _gap_extrema(p, q, q + nr, np.minimum)
    ok = rng >= need
    if level is not None:
        ok &= _gap_extrema(f, q, q + nr, np.maximum) >= level
    q = q[ok]
    if q.size == 0:
        return empty, np.empty(0), empty
    pw = _window(p, q, nr)
    jp = np.argmax(pw, axis=1)
    upto = np.arange(nr)[None, :] <= jp[:, None]
    p_min = np.where(upto, pw, np.inf).min(axis=1)
    rise = pw.max(axis=1) - p_min
    near = upto & (pw <= (p_min + np.maximum(tol_cmh2o, 0.05 * rise))[:, None])
    onset = np.minimum(q + nr - 1 - np.argmax(near[:, ::-1], axis=1), p.size - 1)
    order = np.lexsort((-rise, onset))
    onset, rise, peak = onset[order], rise[order], (q + jp)[order]
    first = np.concatenate(([True], np.diff(onset) > 0))
    return onset[first], rise[first], peak[first]


def pressure_pulses(f, p, rate, *, base, level, peep, swing, min_slope, fraction, min_rise, min_flow_rise,
                    rise_s=0.2, fall_s=0.3, tol_cmh2o=0.15):
    """Onsets and ends (sample indices) of short pressure pulses that push gas into the patient.

    Parameters
    ----------
    f, p : ndarray
        Flow (L/min) and airway pressure (cmH2O), finite.
    rate : float
        Samples per second.
    base : float
        Resting flow level (L/min) above which flow goes into the patient.
    level : float
        Flow (L/min) the pulse must reach (the shallow-breath threshold of the detector).
    peep : ndarray
        PEEP (cmH2O) at every sample.
    swing : float
        The recording's usual delivered pressure swing above PEEP (cmH2O).
    min_slope : float
        Smallest pressure slope (cmH2O/s) of a delivery; the onset is the first such sample of a rise.
    fraction, min_rise : float
        The pressure must rise by at least ``max(min_rise, fraction * swing)`` within ``rise_s``.
    min_flow_rise : float
        The flow must rise by at least this much (L/min) within ``rise_s``.
    rise_s, fall_s : float
        The rise is measured over ``rise_s`` from the start of a steep run; the pressure must fall back
        under half the rise within ``fall_s`` after the peak (a held inspiratory pressure is an ordinary
        breath).
    tol_cmh2o : float
        Pressure noise: the onset is the last sample within ``max(tol_cmh2o, 5 % of the rise)`` of the
        lowest pressure before the peak.

    Returns
    -------
    onset, end : ndarray of int64
        The last sample before the steep rise, and the end of the run of inspiratory flow that follows
        it (the first sample back at or under ``base``).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.full(100, 5.0); p[40:46] = [7, 9, 11, 11, 8, 5]
    >>> f = np.full(100, -10.0); f[40:45] = [4, 3, 2, 1, 1]
    >>> onset, end = pressure_pulses(f, p, 50.0, base=0.0, level=2.0, peep=np.full(100, 5.0), swing=10.0,
    ...                              min_slope=7.5, fraction=0.3, min_rise=2.0, min_flow_rise=3.0)
    >>> onset.tolist(), end.tolist()
    ([39], [45])
    """
    empty = np.empty(0, np.int64)
    nr = max(2, int(round(rise_s * rate)) + 1)
    nf = max(2, int(round(fall_s * rate)) + 1)
    need = max(min_rise, fraction * swing)
    if p.size < 3:
        return empty, empty
    # every steep run starts a candidate rise, screened for enough pressure range and flow
    q = _steep_starts(p, min_slope, rate)
    onset, rise, peak = _rises(p, f, q, nr=nr, need=need, level=level, tol_cmh2o=tol_cmh2o)
    if onset.size == 0:
        return empty, empty
    fw = _window(f, onset, nr)
    ok = (rise >= need) & (p[onset] <= peep[onset] + 0.5 * need)
    ok &= (fw.max(axis=1) >= level) & (fw.max(axis=1) - f[onset] >= min_flow_rise)
    # a pulse: the pressure falls back under half its rise soon after the peak
    ok &= _window(p, peak, nf).min(axis=1) <= p[onset] + 0.5 * rise
    q = onset[ok]
    if q.size == 0:
        return empty, empty
    # end: the flow back at or under the base after it went above it
    above = np.flatnonzero(f > base)
    below = np.flatnonzero(f <= base)
    a = above[np.minimum(np.searchsorted(above, q), above.size - 1)] if above.size else q
    k = np.searchsorted(below, a)
    end = np.where(k < below.size, below[np.minimum(k, below.size - 1)], f.size)
    return q.astype(np.int64), np.maximum(end, q + 1).astype(np.int64)


def add_pulses(f, p, rate, r0, r1, lows, base, low, info, *, level, peep, **options):
    """The excursions with the short pressure pulses (:func:`pressure_pulses`) added, and the mask
    of the pulses. ``peep`` is PEEP at every sample, the usual swing the median pressure peak of the
    ordinary excursions above it."""
    pulse = np.zeros(r0.size, dtype=bool)
    if r0.size < 3:
        return r0, r1, lows, pulse
    swing = median_swing(p, r0, r1, peep)
    q, e = pressure_pulses(f, p, rate, base=base, level=level, peep=peep, swing=swing, **options)
    info.update(pressure_swing=swing, pulses=int(q.size))
    return merge_excursions(r0, r1, lows, pulse, q, e, low=low, is_pulse=True)


def median_swing(p, r0, r1, peep) -> float:
    """The usual delivered pressure swing: the median, over the excursions ``[r0, r1)``, of their
    pressure peak above PEEP (``peep`` at every sample) at their start."""
    return float(np.median(_gap_extrema(p, r0, r1, np.maximum) - peep[r0]))


def merge_excursions(r0, r1, lows, pulse, q, e, *, low, is_pulse):
    """The excursions ``(r0, r1, lows, pulse)`` with new ones ``[q, e)`` added, in order of their starts
    (stable: an old excursion stays before a new one at the same sample); the new ones get the low
    threshold ``low`` and the pulse flag ``is_pulse``."""
    if q.size == 0:
        return r0, r1, lows, pulse
    order = np.argsort(np.concatenate([r0, q]), kind="stable")
    return (np.concatenate([r0, q])[order], np.concatenate([r1, e])[order],
            np.concatenate([lows, np.full(q.size, low)])[order],
            np.concatenate([pulse, np.full(q.size, bool(is_pulse))])[order])


def pressure_plateaus(f, p, rate, r0, r1, *, peep, swing, min_slope, fraction, min_rise, hold_s, flow_drop,
                      rise_s=0.3, pad_s=0.3, tol_cmh2o=0.15, max_s=5.0):
    """Onsets and ends (sample indices) of deliveries that the flow does not show: the ventilator raised
    the airway pressure to its delivered level and held it, but (almost) no gas went in.

    A mandatory or backup breath into a closed airway (a closed glottis during an apnea, an occluded
    tube) looks like this: the pressure steps up from PEEP by a good part of the usual delivered swing
    and stays there for an inspiratory time, while the flow stays at its resting level. The ventilator
    marks these breaths; no flow threshold can see them.

    Parameters
    ----------
    f, p : ndarray
        Flow (L/min) and airway pressure (cmH2O), finite.
    rate : float
        Samples per second.
    r0, r1 : ndarray of int
        The breaths found so far (start and end of each excursion): a plateau must start more than
        ``pad_s`` after the end of the one before it and end (its hold) before the next one starts (a
        delivery with flow is an ordinary breath).
    peep : ndarray
        PEEP (cmH2O) at every sample.
    swing : float
        The recording's usual delivered pressure swing above PEEP (cmH2O).
    min_slope : float
        Smallest pressure slope (cmH2O/s) of a delivery.
    fraction, min_rise : float
        The pressure must rise from near PEEP by at least ``max(min_rise, fraction * swing)`` within
        ``rise_s``, and then stay above the middle of its rise for ``hold_s``.
    hold_s : float
        Shortest hold (s).
    flow_drop : float
        The flow must not fall by more than this (L/min) below its level before the onset (the median
        of the last ``pad_s``) until the hold ends: a cough or a forced exhalation against the circuit
        raises the pressure while the flow falls.
    rise_s, pad_s, tol_cmh2o : float
        See above and :func:`pressure_pulses`.
    max_s : float
        Longest plateau (s): the end is where the pressure falls back under the middle of the rise, or
        ``max_s`` after the onset.

    Returns
    -------
    onset, end : ndarray of int64

    Examples
    --------
    >>> import numpy as np
    >>> p = np.full(300, 5.0); p[100:150] = 15.0                # held for 1 s (50 Hz), no flow
    >>> f = np.full(300, -0.5)
    >>> onset, end = pressure_plateaus(f, p, 50.0, np.array([], int), np.array([], int), peep=np.full(300, 5.0),
    ...                                swing=10.0, min_slope=7.5, fraction=0.5, min_rise=3.0, hold_s=0.3,
    ...                                flow_drop=6.0)
    >>> onset.tolist(), end.tolist()
    ([99], [150])
    """
    empty = np.empty(0, np.int64)
    nr = max(2, int(round(rise_s * rate)) + 1)
    nh = max(2, int(round(hold_s * rate)))
    need = max(min_rise, fraction * swing)
    if p.size < 3:
        return empty, empty
    # outside the breaths found so far: a plateau starts more than ``pad_s`` after the end of the
    # breath before it, and its hold ends before the next one starts (steep runs inside a breath are
    # dropped before they are measured)
    pad = max(1, int(round(pad_s * rate)))
    r0, r1 = np.asarray(r0, np.int64), np.asarray(r1, np.int64)

    def outside(a, b):
        k = np.searchsorted(r0, a, side="right")
        prev_end = r1[np.maximum(k - 1, 0)] if r0.size else np.zeros(a.size, np.int64)
        nxt = r0[np.minimum(k, max(r0.size - 1, 0))] if r0.size else np.full(a.size, p.size + pad)
        return ((k == 0) | (a > prev_end + pad)) & ((k >= r0.size) | (nxt > b))

    q = _steep_starts(p, min_slope, rate)
    q = q[q + nr <= p.size]
    # a cheap screen first: the pressure still well up at the end of the rise window (noise is not)
    q = q[(p[q + nr - 1] - p[q] >= 0.4 * need) & outside(q + nr, q + nh)]
    onset, rise, peak = _rises(p, f, q, nr=nr, need=need, level=None, tol_cmh2o=tol_cmh2o)
    if onset.size == 0:
        return empty, empty
    mid = p[onset] + 0.5 * rise
    ok = (rise >= need) & (p[onset] <= peep[onset] + 0.5 * need) & (peak + nh <= p.size)
    ok &= _window(p, peak, nh).min(axis=1) > mid  # held, not a pulse
    # the flow's level before the onset: the median of the last ``pad_s`` (a trigger's blip at the onset
    # itself is not the level)
    level = np.median(_window(f, np.maximum(onset - pad, 0), pad + 1), axis=1)
    ok &= _gap_extrema(f, onset, peak + nh, np.minimum) >= level - flow_drop
    ok &= outside(onset, peak + nh)
    onset, peak, mid = onset[ok], peak[ok], mid[ok]
    if onset.size == 0:
        return empty, empty
    nm = max(nh + 1, int(round(max_s * rate)))
    fell = _window(p, peak, nm) <= mid[:, None]
    end = np.where(fell.any(axis=1), peak + np.argmax(fell, axis=1), np.minimum(onset + nm, p.size))
    return onset.astype(np.int64), np.minimum(end, p.size).astype(np.int64)


def add_plateaus(f, p, rate, r0, r1, lows, pulse, info, *, peep, **options):
    """The excursions with the pressure plateaus (:func:`pressure_plateaus`) added, and the pulse mask
    extended (a plateau starts where its pressure rise does). The usual swing is the median pressure
    peak of the ordinary excursions above PEEP. A plateau always starts a breath (its low threshold is
    infinite: the flow of a closed airway need not fall between two of them)."""
    ordinary = ~pulse
    if ordinary.sum() < 3:
        return r0, r1, lows, pulse
    swing = median_swing(p, r0[ordinary], r1[ordinary], peep)
    q, e = pressure_plateaus(f, p, rate, r0, r1, peep=peep, swing=swing, **options)
    info.update(plateaus=int(q.size))
    return merge_excursions(r0, r1, lows, pulse, q, e, low=np.inf, is_pulse=True)


def _gap_extrema(x, a, b, fn):
    """``fn.reduceat`` of ``x`` over ``[a, b)`` for each pair (``b`` raised to ``a + 1`` when empty)."""
    idx = np.empty(2 * a.size, dtype=np.int64)
    idx[0::2] = a
    idx[1::2] = np.minimum(np.maximum(b, a + 1), x.size - 1)
    return fn.reduceat(x, idx)[0::2]


def held_pressure(p, cross, prev_end, info, *, fraction, min_swing, modes, block, flow=None, base_flow=0.0,
                  expiration_lpm=3.0, pre_trigger=25):
    """Mask of the crossings that do not start a breath: the pressure says the previous delivery goes on.

    A crossing whose gap since the previous excursion (``prev_end`` to the crossing) kept the pressure
    above ``base + fraction * swing`` continues the previous breath (the ventilator still held its
    inspiratory pressure while the flow dipped) and is dropped; ``swing`` is the highest pressure from
    the previous crossing to the end of its excursion, above ``base``. Two estimates of ``base`` are
    used, and either one can hold a crossing back:

    * the local PEEP, ``modes`` (the most frequent pressure of each block of ``block`` samples) of the
      block that holds the previous crossing (robust to the deep dips of strong efforts and to coughs);
    * with ``flow`` given, the lowest pressure of the ``pre_trigger`` samples before the previous
      crossing (the pressure the previous delivery rose from; the block mode can sit on the
      inspiratory plateau when plateaus fill most of the block). As a low pre-trigger pressure can
      also come from an effort or a cough, this estimate holds a crossing back only when the flow
      never turned expiratory in the gap (it stayed above ``base_flow - expiration_lpm``): the
      patient did not exhale, so no new breath can have been triggered.
    """
    prev_cross = np.concatenate(([0], cross[:-1]))
    peak = _gap_extrema(p, prev_cross, prev_end, np.maximum)
    gap_min = _gap_extrema(p, prev_end, cross, np.minimum)
    base = modes[prev_cross // block]
    swing = peak - base
    held = (swing >= min_swing) & (gap_min > base + fraction * swing)
    if flow is not None:
        base2 = _gap_extrema(p, np.maximum(prev_cross - pre_trigger, 0), prev_cross, np.minimum)
        no_exp = _gap_extrema(flow, prev_end, cross, np.minimum) > base_flow - expiration_lpm
        with np.errstate(invalid="ignore"):  # an empty gap (the first crossing) gives inf - inf: not held
            swing2 = peak - base2
            held |= (swing2 >= min_swing) & (gap_min > base2 + fraction * swing2) & no_exp
    held[0] = False
    info.update(held_pressure=int(held.sum()))
    return held
