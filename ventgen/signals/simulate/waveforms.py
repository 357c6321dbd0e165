"""Muscle-pressure waveforms of one breath, and the envelope of an event's drive.

The parabolic-exponential profile of [Albanese2016] (references in :mod:`ventgen.signals.simulate.effort`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["albanese_pmus", "parabola_rise", "hann_envelope"]


def albanese_pmus(pmax: float, ti: float, ttot: float, dt: float) -> np.ndarray:
    """Parabolic-exponential muscle pressure of one breath [Albanese2016], positive = inspiratory.

    A parabola rising to ``pmax`` at ``ti``, then an exponential relaxation with time constant
    ``(T - ti) / 5`` reaching 0 at ``T = ttot``::

        Pmus(t) = -Pmax t^2 / (Ti Te) + Pmax T t / (Ti Te)                 0 <= t <= Ti
        Pmus(t) = Pmax (exp(-(t - Ti)/tau) - exp(-Te/tau)) / (1 - exp(-Te/tau))   Ti < t <= T

    Parameters
    ----------
    pmax : float
        Peak muscle pressure (cmH2O).
    ti, ttot : float
        Neural inspiratory time and breath period (s), ``0 < ti < ttot``.
    dt : float
        Sampling interval (s).

    Returns
    -------
    ndarray of shape (ceil(ttot / dt),)

    Examples
    --------
    >>> p = albanese_pmus(5.0, 1.0, 4.0, 0.02)
    >>> round(float(p.max()), 2), p.shape
    (5.0, (200,))
    """
    m = max(int(np.ceil(ttot / dt)), 1)
    t = np.arange(m) * dt
    te = ttot - ti
    tau = te / 5.0
    out = np.empty(m)
    ins = t <= ti
    out[ins] = pmax * t[ins] * (ttot - t[ins]) / (ti * te)
    tt = t[~ins] - ti
    e_end = np.exp(-te / tau)
    out[~ins] = pmax * (np.exp(-tt / tau) - e_end) / (1.0 - e_end)
    return np.maximum(out, 0.0)


def parabola_rise(pmax: float, ti: float, dt: float) -> np.ndarray:
    """The inspiratory (parabolic) limb of [Albanese2016] alone, peaking at ``ti``."""
    m = max(int(np.ceil(ti / dt)), 1)
    t = np.arange(m) * dt
    ttot = 2.5 * ti
    te = ttot - ti
    return pmax * t * (ttot - t) / (ti * te)


def hann_envelope(m: int, edge: int) -> np.ndarray:
    """Flat-top window of length ``m`` with raised-cosine edges of ``edge`` samples."""
    env = np.ones(m)
    edge = int(min(edge, m // 2))
    if edge > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
        env[:edge] = ramp
        env[m - edge:] = ramp[::-1]
    return env
