"""The recording resolution of a signal: the step its values come in, and rounding to it.

A ventilator writes its flow and pressure at a fixed resolution: the PB-840's files (and the
simulator's recordings, which follow them) carry two decimals, so every value is a whole multiple of
0.01 L/min or 0.01 cmH2O. A generator that draws continuous values makes breaths no device records, and
a classifier with enough breaths tells them apart by that alone (a random forest on the largest flow and
pressure of each breath, simulated training breaths against the flow generator's breaths for the same
encodings: 74 % accuracy on continuous values, 50.5 % once rounded to 0.01; ``benchmarks/README.md``).
:func:`recording_resolution` finds the step from real values; :func:`quantize` rounds to it.
"""

from __future__ import annotations

import numpy as np

from ..errors import VentgenValueError

__all__ = ["RESOLUTION_CANDIDATES", "recording_resolution", "cycle_resolution", "quantize"]

#: The steps :func:`recording_resolution` tries, coarsest first: 1, 2 and 5 times the powers of ten from
#: 10 down to 1e-4 (finer steps than this are below float32's precision for airway signals).
#: A step found among the candidates is tried times 2 .. this, for steps converted from another unit.
_MAX_MULTIPLE = 12
RESOLUTION_CANDIDATES = tuple(float(f"{m}e{k}") for k in range(1, -5, -1) for m in (5, 2, 1) if m * 10.0**k <= 10)


def recording_resolution(values, *, share: float = 0.99, tolerance: float = 0.01, min_levels: int = 20) -> float:
    """The coarsest step of :data:`RESOLUTION_CANDIDATES` of which the finite ``values`` are whole
    multiples, times the largest whole number up to 12 that still fits (a unit conversion: values written
    in steps of 0.01 L/s come in steps of 0.6 L/min), or 0.0 when they have none (continuous values, a
    step that is no decimal one's multiple, or too few distinct levels to tell).

    Parameters
    ----------
    values : array-like
        Samples of one signal (any shape), in its own unit.
    share : float
        The part of the values that must lie on the grid (within ``tolerance`` of a step): a resampled
        sample here and there may fall between.
    tolerance : float
        How far from a multiple a value may be, as a part of the step (float32 storage of a two-decimal
        value is off by up to about 5e-4 of 0.01 at 150 L/min).
    min_levels : int
        A step is only taken where the values take at least this many distinct multiples of it (a constant
        or nearly constant signal says nothing about its resolution).

    Returns
    -------
    float
        The step, in the unit of ``values``; 0.0 for none.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.round(np.random.default_rng(0).normal(20.0, 5.0, 1000), 2)
    >>> recording_resolution(x)
    0.01
    >>> recording_resolution(x + 1e-3 * np.random.default_rng(1).random(1000))
    0.0
    >>> recording_resolution(np.arange(0, 100, 0.5))
    0.5
    >>> lps = np.round(np.random.default_rng(2).normal(0.3, 0.2, 1000), 2)  # L/s, two decimals
    >>> recording_resolution(60 * lps)  # read in L/min
    0.6
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0
    if not (0 < share <= 1 and 0 < tolerance < 0.5):
        raise VentgenValueError(f"recording_resolution: share must be in (0, 1] and tolerance in (0, 0.5), "
                                f"got {share}, {tolerance}")
    def fits(q: float) -> bool:
        k = v / q
        on = np.abs(k - np.round(k)) <= tolerance
        return bool(on.mean() >= share and np.unique(np.round(k[on])).size >= min_levels)

    for q in RESOLUTION_CANDIDATES:
        if fits(q):  # a step converted from another unit may be a whole multiple of it (0.01 L/s = 0.6 L/min)
            m = max((m for m in range(2, _MAX_MULTIPLE + 1) if fits(q * m)), default=1)
            return float(np.round(q * m, 12))
    return 0.0


def cycle_resolution(X, lengths=None, **kwargs) -> np.ndarray:
    """(C,) float64: :func:`recording_resolution` of each channel of cycles ``X`` (n, C, T), over the
    samples inside each cycle's length (``lengths`` (n,); None: every sample); ``kwargs`` go to it.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(10.0, 3.0, (50, 2, 40))
    >>> X[:, 0] = np.round(X[:, 0], 2)
    >>> cycle_resolution(X, np.full(50, 30)).tolist()
    [0.01, 0.0]
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise VentgenValueError(f"cycle_resolution: expected cycles (n, channels, time), got shape {X.shape}")
    n, C, T = X.shape
    L = np.full(n, T) if lengths is None else np.asarray(lengths)
    inside = np.arange(T)[None, :] < L[:, None]
    return np.array([recording_resolution(X[:, c][inside], **kwargs) for c in range(C)], dtype=np.float64)


def quantize(x, resolution, axis: int = 1) -> np.ndarray:
    """``x`` rounded to the nearest multiple of ``resolution`` (a scalar, or one step per index of
    ``axis``); a step of 0 leaves those values as they are. Returns a new array of ``x``'s float dtype.

    Examples
    --------
    >>> import numpy as np
    >>> quantize(np.array([[[1.234, 2.345]], [[0.5, -1.005]]]), [0.01])
    array([[[ 1.23,  2.35]],
    <BLANKLINE>
           [[ 0.5 , -1.  ]]])
    >>> quantize(np.array([[1.234, 5.678]]), [0.1, 0.0])
    array([[1.2  , 5.678]])
    """
    x = np.asarray(x)
    out = x.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64, copy=True)
    q = np.asarray(resolution, dtype=np.float64)
    if q.ndim == 0:
        q = q.reshape(1)
    if q.ndim != 1 or (q.size != 1 and (x.ndim <= axis or q.size != x.shape[axis])) or not (
            np.isfinite(q).all() and (q >= 0).all()):
        raise VentgenValueError(f"quantize: resolution must be finite steps >= 0, one per index of axis {axis} "
                                f"of an array of shape {x.shape}, got {q.tolist()}")
    shape = [1] * max(x.ndim, 1)
    if q.size > 1:
        shape[axis] = q.size
    qb = q.reshape(shape)
    safe = np.where(qb > 0, qb, 1.0)
    out[...] = np.where(qb > 0, np.round(out / safe) * safe, out)
    return out
