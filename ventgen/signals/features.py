"""Per-breath metadata from flow and pressure, vectorised over all breaths at once.

Every quantity is computed for all breaths of a recording in a few numpy passes (cumulative sums,
``ufunc.reduceat`` and ``searchsorted``), never with a Python loop over samples or breaths.

Units follow ventgen's conventions and appear in the column names: flow in L/min, pressure in cmH2O,
volume in mL, time in s, rate in breaths per minute.

The inspiration end is found by the rule of ventMAP (Adams et al., 2017): the later of

* the first *confirmed* change of flow sign from ``>= 0`` to ``< 0`` (the negative flow is confirmed
  when it reaches ``-confirm_flow_lpm`` within a few samples, or stays negative for five samples), and
* the end of the positive-flow segment with the largest area (the main inspiratory lobe),

which is robust to short dips in flow during inspiration and to "nubbin" double-trigger breaths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import VentgenTypeError, VentgenValueError

__all__ = ["breath_metadata", "inspiration_end", "METADATA_COLUMNS"]

#: Columns of the breath table, in order (``flags`` is a ``|``-separated string, "" when clean).
METADATA_COLUMNS = (
    "breath_id",
    "start_idx",
    "insp_end_idx",
    "end_idx",
    "start_s",
    "insp_end_s",
    "end_s",
    "n_samples",
    "itime_s",
    "etime_s",
    "ie_ratio",
    "rr_bpm",
    "tvi_ml",
    "tve_ml",
    "max_flow_lpm",
    "min_flow_lpm",
    "pip_cmh2o",
    "max_p_cmh2o",
    "peep_cmh2o",
    "mean_insp_p_cmh2o",
    "flags",
)

_ML_PER_L_MIN_S = 1000.0 / 60.0  # (L/min) * s -> mL


# ----------------------------------------------------------------------------- helpers
def _prefix(x: np.ndarray) -> np.ndarray:
    """Cumulative sum with a leading 0: ``sum(x[a:b]) == c[b] - c[a]``."""
    c = np.empty(x.size + 1, dtype=np.float64)
    c[0] = 0.0
    np.cumsum(x, out=c[1:])
    return c


class _Simpson:
    """Composite Simpson integrals of many ``x[a:b]`` slices of one signal at once.

    Matches :func:`scipy.integrate.simpson` with the historical ``even="avg"`` rule for an even
    number of points (mean of Simpson-then-trapezoid and trapezoid-then-Simpson), which is what
    ventMAP's reference tables use; one point integrates to 0, two points to the trapezoid.
    """

    def __init__(self, x: np.ndarray):
        self.x = x
        # prefix sums of the even- and odd-indexed samples (half-length each: one pass in all)
        self.c_even = _prefix(x[0::2])
        self.c_odd = _prefix(x[1::2])

    def _psum(self, parity, lo, hi):
        """Sum of x[k] for k in [lo, hi) with k % 2 == parity (arrays)."""
        lo = np.minimum(lo, hi)
        se = self.c_even[(hi + 1) // 2] - self.c_even[(lo + 1) // 2]
        so = self.c_odd[hi // 2] - self.c_odd[lo // 2]
        return np.where(parity == 0, se, so)

    def _odd(self, a, b):
        """Simpson over [a, b) with b - a odd and >= 3 (elementwise; other entries are garbage)."""
        x = self.x
        last = np.clip(b - 1, 0, x.size - 1)
        par = a % 2
        inner_odd = self._psum(1 - par, a + 1, np.maximum(b - 1, a + 1))
        inner_even = self._psum(par, a + 1, np.maximum(b - 1, a + 1))
        return (x[np.clip(a, 0, x.size - 1)] + x[last] + 4.0 * inner_odd + 2.0 * inner_even) / 3.0

    def __call__(self, a, b, dx: float) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        n = b - a
        x = self.x
        hi = x.size - 1
        out = np.zeros(a.shape, dtype=np.float64)
        two = n == 2
        out[two] = 0.5 * (x[a[two]] + x[np.minimum(a[two] + 1, hi)])
        odd = (n >= 3) & (n % 2 == 1)
        out[odd] = self._odd(a[odd], b[odd])
        ev = (n >= 4) & (n % 2 == 0)
        if ev.any():
            ae, be = a[ev], b[ev]
            first = self._odd(ae, be - 1) + 0.5 * (x[be - 2] + x[be - 1])
            last = 0.5 * (x[ae] + x[ae + 1]) + self._odd(ae + 1, be)
            out[ev] = 0.5 * (first + last)
        return out * dx


def _segment_reduce(ufunc, x: np.ndarray, a: np.ndarray, b: np.ndarray, empty=np.nan) -> np.ndarray:
    """``ufunc.reduce(x[a_i:b_i])`` for sorted, non-overlapping segments; ``empty`` where a_i >= b_i."""
    out = np.full(a.shape, empty, dtype=np.float64)
    ok = b > a
    if not ok.any():
        return out
    aa, bb = a[ok], b[ok]
    xp = np.append(x, x[-1])  # so that an index equal to len(x) is valid
    idx = np.empty(2 * aa.size, dtype=np.int64)
    idx[0::2] = aa
    idx[1::2] = bb
    red = ufunc.reduceat(xp, idx)[0::2]
    out[ok] = red
    return out


def _sign_change_candidates(flow: np.ndarray, confirm: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``j`` where flow goes from >= 0 (at j-1) to < 0 (at j) with a confirmation, and the
    number of samples after ``j - 1`` the confirmation needs (2, 4 or 5)."""
    f = flow
    n = f.size
    if n < 3:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    neg = f < 0
    i = np.flatnonzero(neg[1:] > neg[:-1])  # >= 0 at i, < 0 at i + 1
    if i.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    tail0 = max(n - 6, 0)
    fp = np.concatenate([f[tail0:], np.full(6, np.nan)])  # the tail, padded: lookups past the end are NaN
    near_end = i + 5 >= n

    def at(k):
        j = i + k
        out = f[np.minimum(j, n - 1)]
        if near_end.any():
            tail = j[near_end] - tail0
            out[near_end] = fp[np.clip(tail, 0, fp.size - 1)]
        return out

    with np.errstate(invalid="ignore"):
        f1, f2, f3, f4, f5 = (at(k) for k in range(1, 6))
        c_a = (f1 <= -confirm) & (f2 < 0)
        c_c = (f1 < 0) & (f2 <= -confirm)
        c_b = (f1 < 0) & (f4 <= -confirm)
        c_d = (f1 < 0) & (f2 < 0) & (f3 < 0) & (f4 < 0) & (f5 < 0)
    req = np.where(c_a | c_c, 2, np.where(c_b, 4, np.where(c_d, 5, 99)))
    keep = req < 99
    return i[keep] + 1, req[keep]


def inspiration_end(
    flow: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    sampling_rate: float,
    confirm_flow_lpm: float = 5.0,
) -> np.ndarray:
    """Robust inspiration end (first expiratory sample) of every breath ``[starts[i], ends[i])``.

    The later of the first confirmed positive-to-negative flow sign change and the end of the
    positive-flow segment of largest area; ``ends[i] - 1`` when neither exists (for instance a
    breath cut short by a double trigger).

    Parameters
    ----------
    flow : ndarray of shape (n_samples,)
        Flow in L/min (finite).
    starts, ends : ndarray of int
        Breath boundaries (``ends`` exclusive), sorted and non-overlapping.
    sampling_rate : float
        Samples per second.
    confirm_flow_lpm : float
        Expiratory flow that confirms a sign change.

    Returns
    -------
    ndarray of int64
        Absolute sample index of each breath's inspiration end.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 8, 0.02)
    >>> flow = 30 * np.sin(2 * np.pi * t / 4)
    >>> inspiration_end(flow, np.array([0, 200]), np.array([200, 400]), sampling_rate=50).tolist()
    [101, 301]
    """
    flow = np.asarray(flow, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if starts.size == 0:
        return np.empty(0, np.int64)
    cand, req = _sign_change_candidates(flow, confirm_flow_lpm)
    return _inspiration_end(flow, starts, ends, 1.0 / float(sampling_rate), cand, req, _Simpson(flow))


def _inspiration_end(flow, starts, ends, dt, cand, req, simpson) -> np.ndarray:
    # (1) first confirmed sign change at relative index >= 1 whose confirmation lies inside the breath
    x01 = ends - 1
    if cand.size:
        k = np.searchsorted(cand, starts + 1, side="left")
        for _ in range(2):  # the first candidate, or the next one when the first needs samples past the end
            kk = np.minimum(k, cand.size - 1)
            j = cand[kk]
            inside = (k < cand.size) & (j < ends) & (j - 1 + req[kk] <= ends - 1)
            unresolved = x01 == ends - 1
            take = inside & unresolved
            x01 = np.where(take, j, x01)
            k = k + 1
    # (2) end of the positive segment of largest area, cut at breath starts; the segment must end
    # inside the breath (a sign change at i -> i + 1 with i + 1 <= end - 1)
    pos = flow > 0
    d = np.flatnonzero(pos[1:] != pos[:-1]) + 1  # run boundaries
    up = pos[d]
    ra, rb = d[up], d[~up]
    if pos[0]:
        ra = np.concatenate(([0], ra))
    if pos[-1]:
        rb = np.concatenate((rb, [flow.size]))
    # the breath holding each run's last sample; a run that began before that breath is cut at its start
    j = np.searchsorted(starts, rb - 1, side="right") - 1
    ok = j >= 0
    jj = np.maximum(j, 0)
    ra = np.maximum(ra, starts[jj])
    # (a one-sample run integrates to 0 and can never be the largest positive area)
    ok &= (rb - ra >= 2) & (rb <= ends[jj] - 1)
    x02 = ends - 1
    if ok.any():
        sa, sb, so = ra[ok], rb[ok], jj[ok]
        area = simpson(sa, sb, dt)
        # largest area per breath (runs are sorted, so breaths come in groups), earliest on ties
        g = np.flatnonzero(np.concatenate(([True], so[1:] != so[:-1])))
        gmax = np.maximum.reduceat(area, g)
        is_max = area == np.repeat(gmax, np.diff(np.append(g, so.size)))
        im = np.flatnonzero(is_max)
        first = im[np.concatenate(([True], so[im][1:] != so[im][:-1]))]
        good = area[first] > 0
        x02[so[first][good]] = sb[first][good]
    return np.maximum(x01, x02)


def _flags_column(parts: dict[str, np.ndarray], n: int) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    for name, mask in parts.items():
        if mask is None or not np.any(mask):
            continue
        sel = np.asarray(mask, dtype=bool)
        cur = out[sel]
        out[sel] = np.where(cur == "", name, cur + "|" + name)
    return out


def breath_metadata(
    flow,
    pressure,
    sampling_rate: float,
    starts,
    ends,
    insp_ends=None,
    *,
    peep_samples: int = 5,
    confirm_flow_lpm: float = 5.0,
    flags: dict | None = None,
) -> pd.DataFrame:
    """Boundaries and metadata of every breath, one row per breath (columns :data:`METADATA_COLUMNS`).

    Parameters
    ----------
    flow, pressure : array-like of shape (n_samples,)
        Flow in L/min and pressure in cmH2O (finite).
    sampling_rate : float
        Samples per second.
    starts, ends : array-like of int
        First sample and exclusive end of each breath, sorted, non-overlapping.
    insp_ends : array-like of int, optional
        First expiratory sample of each breath; found with :func:`inspiration_end` when omitted.
    peep_samples : int
        PEEP is the mean pressure of the last ``peep_samples`` samples of the breath.
    confirm_flow_lpm : float
        See :func:`inspiration_end`.
    flags : dict of str -> bool array, optional
        Extra quality flags to merge into the ``flags`` column.

    Returns
    -------
    DataFrame
        ``itime_s``/``etime_s`` (inspiratory and expiratory time), ``ie_ratio``, ``rr_bpm``
        (60 / breath duration), ``tvi_ml``/``tve_ml`` (inspired and expired volume, both positive,
        Simpson's rule), ``max_flow_lpm``/``min_flow_lpm``, ``pip_cmh2o`` (max inspiratory pressure),
        ``max_p_cmh2o``, ``peep_cmh2o``, ``mean_insp_p_cmh2o`` and ``flags``
        (``no_expiration`` when no confirmed expiratory flow was found).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 8, 0.02)
    >>> flow = 30 * np.sin(2 * np.pi * t / 4)
    >>> paw = 5 + 10 * (flow > 0)
    >>> df = breath_metadata(flow, paw, 50, [0, 200], [200, 400])
    >>> df[["itime_s", "etime_s", "rr_bpm", "peep_cmh2o"]].round(2).values.tolist()
    [[2.02, 1.98, 15.0, 5.0], [2.02, 1.98, 15.0, 5.0]]
    """
    flow, pressure, starts, ends = _check_breaths(flow, pressure, starts, ends)
    nb = starts.size
    dt = 1.0 / float(sampling_rate)
    simpson = _Simpson(flow) if nb else None
    cand, req = _sign_change_candidates(flow, confirm_flow_lpm)
    if insp_ends is None:
        ie = _inspiration_end(flow, starts, ends, dt, cand, req, simpson) if nb else np.empty(0, np.int64)
    else:
        ie = np.asarray(insp_ends, dtype=np.int64).ravel()
        if ie.shape != starts.shape:
            raise VentgenValueError(f"breath_metadata: {starts.size} starts but {ie.size} insp_ends")
        ie = np.clip(ie, starts, ends)

    nsamp = ends - starts
    frame = nsamp * dt
    itime = np.round((ie - starts) * dt, 10)
    etime = frame - itime
    with np.errstate(divide="ignore", invalid="ignore"):
        ie_ratio = np.where(etime > 0, itime / etime, np.nan)
        rr = 60.0 / frame
    if nb:
        tvi = simpson(starts, ie, dt) * _ML_PER_L_MIN_S
        tve = np.abs(simpson(ie, ends, dt) * _ML_PER_L_MIN_S)
        pip, maxp, maxf, minf, mean_insp = _extremes(flow, pressure, starts, ie, ends)
        peep = _peep(pressure, starts, ie, ends, peep_samples)
        no_exp = _no_expiration(cand, starts, ends)
    else:
        tvi = tve = mean_insp = peep = pip = maxp = maxf = minf = np.empty(0)
        no_exp = np.empty(0, bool)
    fl = {"no_expiration": no_exp}
    if flags:
        fl.update(flags)
    return pd.DataFrame(
        {
            "breath_id": np.arange(nb, dtype=np.int64),
            "start_idx": starts,
            "insp_end_idx": ie,
            "end_idx": ends,
            "start_s": starts * dt,
            "insp_end_s": ie * dt,
            "end_s": ends * dt,
            "n_samples": nsamp,
            "itime_s": itime,
            "etime_s": etime,
            "ie_ratio": ie_ratio,
            "rr_bpm": rr,
            "tvi_ml": tvi,
            "tve_ml": tve,
            "max_flow_lpm": maxf,
            "min_flow_lpm": minf,
            "pip_cmh2o": pip,
            "max_p_cmh2o": maxp,
            "peep_cmh2o": peep,
            "mean_insp_p_cmh2o": mean_insp,
            "flags": _flags_column(fl, nb),
        },
        columns=list(METADATA_COLUMNS),
    )


def _check_breaths(flow, pressure, starts, ends):
    """Signals as float64 1-D arrays of equal length and breath bounds as sorted, non-overlapping,
    non-empty int64 intervals within them."""
    try:
        flow = np.asarray(flow, dtype=np.float64)
        pressure = np.asarray(pressure, dtype=np.float64)
        starts = np.asarray(starts, dtype=np.int64).ravel()
        ends = np.asarray(ends, dtype=np.int64).ravel()
    except (TypeError, ValueError) as exc:
        raise VentgenTypeError(f"breath_metadata: signals and boundaries must be numeric ({exc})") from None
    if flow.ndim != 1 or flow.shape != pressure.shape:
        raise VentgenValueError(
            f"breath_metadata: flow and pressure must be 1-D of equal length, got {flow.shape} and {pressure.shape}"
        )
    if starts.shape != ends.shape:
        raise VentgenValueError(f"breath_metadata: {starts.size} starts but {ends.size} ends")
    n = flow.size
    if starts.size:
        bad = (starts < 0) | (ends > n) | (ends <= starts)
        if bad.any():
            i = int(np.argmax(bad))
            raise VentgenValueError(
                f"breath_metadata: breath {i} has bounds [{starts[i]}, {ends[i]}) outside [0, {n}] or empty"
            )
        if (starts[1:] < ends[:-1]).any():
            raise VentgenValueError("breath_metadata: breaths must be sorted and non-overlapping")
    return flow, pressure, starts, ends


def _extremes(flow, pressure, starts, ie, ends):
    """(pip, max pressure, max flow, min flow, mean inspiratory pressure) of every breath."""
    n = flow.size
    nb = starts.size
    ni = ie - starts
    ne = ends - ie
    contiguous = bool((ends[:-1] == starts[1:]).all()) and ends[-1] == n and ie[-1] < n
    if not contiguous:
        cp = _prefix(pressure)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_insp = np.where(ni > 0, (cp[ie] - cp[starts]) / np.maximum(ni, 1), np.nan)
        pip = _segment_reduce(np.maximum, pressure, starts, ie)
        maxp = _segment_reduce(np.maximum, pressure, starts, ends)
        maxf = _segment_reduce(np.maximum, flow, starts, ends)
        minf = _segment_reduce(np.minimum, flow, starts, ends)
        return pip, maxp, maxf, minf, mean_insp
    # one reduceat per signal and operation over [s0, ie0, s1, ie1, ...]: inspiration and
    # expiration parts of every breath (empty parts are masked below)
    idx = np.empty(2 * nb, dtype=np.int64)
    idx[0::2] = starts
    idx[1::2] = ie
    pmax = np.maximum.reduceat(pressure, idx)
    psum = np.add.reduceat(pressure, idx)
    fmax = np.maximum.reduceat(flow, idx)
    fmin = np.minimum.reduceat(flow, idx)
    hi, he = ni > 0, ne > 0
    pip = np.where(hi, pmax[0::2], np.nan)
    maxp = np.fmax(pip, np.where(he, pmax[1::2], np.nan))
    maxf = np.fmax(np.where(hi, fmax[0::2], np.nan), np.where(he, fmax[1::2], np.nan))
    minf = np.fmin(np.where(hi, fmin[0::2], np.nan), np.where(he, fmin[1::2], np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_insp = np.where(hi, psum[0::2] / np.maximum(ni, 1), np.nan)
    return pip, maxp, maxf, minf, mean_insp


def _peep(pressure, starts, ie, ends, peep_samples):
    """PEEP: mean of the last ``peep_samples`` samples of the expiration (of the breath when the
    expiration is empty)."""
    n = pressure.size
    pk = np.maximum(ends - peep_samples, ie)
    pk = np.where(pk >= ends, np.maximum(ends - peep_samples, starts), pk)
    k = np.arange(max(int(peep_samples), 1))[None, :]
    take = pk[:, None] + k
    inside = take < ends[:, None]
    return np.where(inside, pressure[np.minimum(take, n - 1)], 0.0).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)


def _no_expiration(cand, starts, ends):
    """Breaths without a confirmed expiratory flow (no sign-change candidate inside them)."""
    if cand.size:
        kk = np.searchsorted(cand, starts + 1)
        return ~((kk < cand.size) & (cand[np.minimum(kk, cand.size - 1)] < ends))
    return np.ones(starts.size, bool)
