"""Stitching decoded breaths into one continuous flow and pressure signal.

At each join the last sample of a breath and the first of the next are moved towards each other until
they differ by the mean step that consecutive reference breaths have there (0 with ``boundary="none"``
or a reference without breath positions: they meet; ``boundary="raw"`` skips this module); the correction fades out with a raised cosine over
0.3 s on each side of the join, so there is no jump, no kink, and the tidal volumes barely change (a ramp
spread over a whole breath would add ``offset x duration / 2`` of volume: hundreds of mL for an
8-second apnea breath with a 5 L/min offset).

Examples
--------
>>> import numpy as np
>>> X = np.zeros((2, 1, 10), dtype=np.float32)
>>> X[1] += 1.0                                    # the second breath starts 1 above the first's end
>>> _ = stitch_batch(X, np.array([10, 10]), np.array([True, False]), np.array([False, True]), None, taper=3)
>>> float(X[0, 0, 9]), float(X[1, 0, 0]), float(X[0, 0, 0]), float(X[1, 0, 9])
(0.5, 0.5, 0.0, 1.0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["stitch_batch", "join_masks", "TAPER_S"]

#: Seconds over which a join correction fades out, on each side of the join.
TAPER_S = 0.3


def join_masks(patient: np.ndarray) -> tuple:
    """(first, last): whether each breath is the first / the last of its patient."""
    first = np.ones(patient.size, dtype=bool)
    first[1:] = patient[1:] != patient[:-1]
    last = np.ones(patient.size, dtype=bool)
    last[:-1] = patient[1:] != patient[:-1]
    return first, last


def stitch_batch(Xd: np.ndarray, L: np.ndarray, first: np.ndarray, last: np.ndarray, prev_e, taper: int,
                 step=None, step_before=None):
    """In place: remove the jumps at the joins of a batch of consecutive breaths.

    ``Xd`` (b [+ 1], channels, T) holds the batch's breaths and, when there is one, the next breath
    (only its first sample is read). At the join after breath i both neighbours move, by equal and
    opposite amounts, until breath i+1's first sample exceeds breath i's last by ``step[i]`` (b, C)
    (default 0: they meet at their mean); ``step_before`` (C,) is the step of the join before the
    batch, with ``prev_e`` the raw last sample of the breath there. The correction fades out with a raised cosine over
    ``taper`` samples on each side of the join (at most half the breath), so the waveform has no jump
    and the breath's volumes change by ``offset x taper / 2`` at most. Returns the raw last samples of
    the batch's last breath.
    """
    b = L.size
    s = Xd[:, :, 0].astype(np.float64)  # (b [+1], C)
    e = Xd[np.arange(b), :, L - 1].astype(np.float64)  # (b, C)
    nxt = s[1:b + 1] if s.shape[0] > b else np.vstack([s[1:b], e[-1:]])
    st = np.zeros_like(e) if step is None else np.asarray(step, dtype=np.float64)
    join_after = np.where(last[:, None], e, 0.5 * (e + nxt - st))  # breath i's new last sample
    before = np.empty_like(e)  # breath i's new first sample
    before[1:] = join_after[:-1] + st[:-1]
    sb = 0.0 if step_before is None else np.asarray(step_before, dtype=np.float64)
    before[0] = s[0] if prev_e is None else 0.5 * (prev_e + s[0] + sb)
    d0 = np.where(first[:, None], 0.0, before - s[:b]).astype(np.float32)
    d1 = np.where(last[:, None], 0.0, join_after - e).astype(np.float32)
    n = min(int(taper), Xd.shape[2])
    k = np.arange(n, dtype=np.float32)[None, :]
    W = np.maximum(np.minimum(taper, (L - 1) // 2), 1).astype(np.float32)[:, None]
    w = (0.5 * (1.0 + np.cos(np.pi * np.minimum(k / W, 1.0)))).astype(np.float32)  # (b, n), 0 from W on
    Xd[:b, :, :n] += d0[:, :, None] * w[:, None, :]  # after the join before the breath
    idx = np.maximum(L[:, None] - 1 - np.arange(n)[None, :], 0)  # (b, n): the breath's last n samples
    rows = np.arange(b)[:, None]
    for c in range(Xd.shape[1]):  # windows never overlap (W <= (L - 1) // 2); clipped duplicates have w = 0
        Xd[rows, c, idx] += d1[:, c, None] * w
    return e[-1]
