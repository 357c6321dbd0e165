"""Synthetic pressure-support-like flow and pressure with known breath boundaries, for the seg tests.

Each breath: a fast flow rise to a peak that decays until the ventilator cycles off at a fraction of
the peak, then an exponential expiration towards a resting flow (which may sit above or below zero).
Options add noise, double triggers (a second inspiration after a very short expiration), coughs
(sharp expiratory bursts inside expiration) and apneas (long pauses without breaths).
"""

from __future__ import annotations

import numpy as np


def psv_signal(
    n_breaths: int = 40,
    rate: float = 50.0,
    *,
    noise_lpm: float = 0.5,
    rest_offset_lpm: float = 0.0,
    double_trigger_every: int = 0,
    cough_every: int = 0,
    apnea_every: int = 0,
    apnea_s: float = 15.0,
    random_state: int = 0,
):
    """Return ``flow, pressure, starts, insp_ends`` (sample indices of the true breath starts and
    first expiratory samples)."""
    rng = np.random.default_rng(random_state)
    pieces_f, pieces_p = [], []
    starts, insp_ends = [], []
    pos = 0
    lead = int(1.0 * rate)  # one second of rest before the first breath
    pieces_f.append(np.full(lead, rest_offset_lpm))
    pieces_p.append(np.full(lead, 5.0))
    pos = lead
    for b in range(n_breaths):
        peak = rng.uniform(35, 65)
        ti_max = rng.uniform(0.8, 1.4)
        te = rng.uniform(1.5, 3.5)
        double = double_trigger_every and b % double_trigger_every == double_trigger_every - 1
        if double:
            te = rng.uniform(0.25, 0.4)  # the next breath comes almost at once
        if apnea_every and b % apnea_every == apnea_every - 1:
            te += apnea_s
        t_i = np.arange(int(ti_max * rate)) / rate
        rise = 1.0 - np.exp(-t_i / 0.04)
        f_i = peak * rise * np.exp(-t_i / 0.9)
        # cycle off when the flow falls below 30 % of its peak (after the peak)
        kpk = int(np.argmax(f_i))
        below = np.flatnonzero(f_i[kpk:] < 0.3 * f_i.max())
        ni = kpk + (below[0] if below.size else f_i.size - kpk)
        ni = max(ni, 3)
        f_i = f_i[:ni]
        f_i[0] = rest_offset_lpm  # the trigger sample sits at rest
        ps = rng.uniform(8, 15)
        p_i = 5.0 + ps * (1.0 - np.exp(-np.arange(ni) / rate / 0.05))
        ne = int(te * rate)
        t_e = np.arange(ne) / rate
        pef = rng.uniform(35, 60)
        tau = rng.uniform(0.25, 0.5)
        f_e = rest_offset_lpm - (pef + rest_offset_lpm) * (1.0 - np.exp(-t_e / 0.03)) * np.exp(-t_e / tau)
        if double:
            f_e = np.minimum(f_e, rest_offset_lpm - 8.0)  # expiration cut short by the next trigger
            f_e[-1] = rest_offset_lpm
        p_e = 5.0 + ps * np.exp(-t_e / 0.08)
        if cough_every and b % cough_every == cough_every - 1 and ne > int(1.2 * rate):
            c0 = int(0.8 * rate)
            L = int(0.25 * rate)
            burst = -rng.uniform(80, 140) * np.sin(np.pi * np.arange(L) / L)
            f_e[c0 : c0 + L] += burst
            p_e[c0 : c0 + L] += rng.uniform(5, 15) * np.sin(np.pi * np.arange(L) / L)
        starts.append(pos)
        insp_ends.append(pos + ni)
        pieces_f += [f_i, f_e]
        pieces_p += [p_i, p_e]
        pos += ni + ne
    flow = np.concatenate(pieces_f)
    pressure = np.concatenate(pieces_p)
    flow = flow + rng.normal(0.0, noise_lpm, flow.size)
    pressure = pressure + rng.normal(0.0, 0.1, pressure.size)
    return flow, pressure, np.asarray(starts, np.int64), np.asarray(insp_ends, np.int64)


def match_f1(true_idx, found_idx, tol: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of one-to-one matches within ``tol`` samples (greedy by distance)."""
    true_idx = np.asarray(true_idx)
    found_idx = np.asarray(found_idx)
    if true_idx.size == 0 or found_idx.size == 0:
        return 0.0, 0.0, 0.0
    d = np.abs(true_idx[:, None] - found_idx[None, :])
    pairs = np.argwhere(d <= tol)
    order = np.argsort(d[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_t, used_f = set(), set()
    for i, j in pairs[order]:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    tp = len(used_t)
    p = tp / found_idx.size
    r = tp / true_idx.size
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
