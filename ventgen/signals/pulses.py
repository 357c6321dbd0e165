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

__all__ = ["pressure_pulses", "add_pulses", "held_pressure"]


def _window(x: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """``x[start + j]`` for ``j`` in ``0..width-1``, one row per start (indices clipped to the signal)."""
    return np.take(x, start[:, None] + np.arange(width)[None, :], mode="clip")


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
    if p.size < 3:
        return empty, empty
    steep = np.diff(p) >= min_slope / rate
    # every steep run starts a candidate rise; its onset is the last sample, before the highest pressure
    # of the next ``rise_s``, still at the lowest level since the run began (within the noise)
    q = np.flatnonzero(steep[1:] & ~steep[:-1]) + 1
    if steep[0]:
        q = np.concatenate(([0], q))
    if q.size == 0:
        return empty, empty
    nr = max(2, int(round(rise_s * rate)) + 1)
    nf = max(2, int(round(fall_s * rate)) + 1)
    need = max(min_rise, fraction * swing)
    # cheap screen (extrema over the next ``rise_s``, one reduceat each): enough pressure range and flow
    q = q[q + nr <= p.size]
    idx = np.empty(2 * q.size, dtype=np.int64)
    idx[0::2] = q
    idx[1::2] = q + nr
    idx[-1] = min(idx[-1], p.size - 1) if idx.size else 0
    rng = np.maximum.reduceat(p, idx)[0::2] - np.minimum.reduceat(p, idx)[0::2]
    q = q[(rng >= need) & (np.maximum.reduceat(f, idx)[0::2] >= level)]
    if q.size == 0:
        return empty, empty
    pw = _window(p, q, nr)
    jp = np.argmax(pw, axis=1)
    upto = np.arange(nr)[None, :] <= jp[:, None]
    p_min = np.where(upto, pw, np.inf).min(axis=1)
    rise = pw.max(axis=1) - p_min
    tol = np.maximum(tol_cmh2o, 0.05 * rise)
    near = upto & (pw <= (p_min + tol)[:, None])
    onset = np.minimum(q + nr - 1 - np.argmax(near[:, ::-1], axis=1), p.size - 1)
    # one candidate per onset: the one that sees the largest rise
    order = np.lexsort((-rise, onset))
    onset, rise, peak = onset[order], rise[order], (q + jp)[order]
    first = np.concatenate(([True], np.diff(onset) > 0))
    onset, rise, peak = onset[first], rise[first], peak[first]
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
    idx = np.empty(2 * r0.size, dtype=np.int64)
    idx[0::2] = r0
    idx[1::2] = np.minimum(np.maximum(r1, r0 + 1), p.size - 1)
    peak = np.maximum.reduceat(p, idx)[0::2]
    swing = float(np.median(peak - peep[r0]))
    q, e = pressure_pulses(f, p, rate, base=base, level=level, peep=peep, swing=swing, **options)
    info.update(pressure_swing=swing, pulses=int(q.size))
    if q.size == 0:
        return r0, r1, lows, pulse
    r0 = np.concatenate([r0, q])
    r1 = np.concatenate([r1, e])
    lows = np.concatenate([lows, np.full(q.size, low)])
    pulse = np.concatenate([pulse, np.ones(q.size, dtype=bool)])
    order = np.argsort(r0, kind="stable")
    return r0[order], r1[order], lows[order], pulse[order]


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
