"""Breath onsets that only the pressure shows well: short delivered pulses, a pulse that runs into a
large inspiration, and gentle (PAV-like) pressure rises after a trigger dip (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
from _synthetic import match_f1, psv_signal

from ventgen import Recording, segment_breaths
from ventgen.signals.detect import detect_breath_starts
from ventgen.signals.pulses import pressure_pulses

RATE = 50.0
TOL = int(0.1 * RATE)
PULSE_P = np.array([6.5, 8.5, 11.0, 13.5, 14.5, 14.8, 12.0, 8.0])  # cmH2O above 0, PEEP 5
PULSE_F = np.array([4.0, 3.0, 2.0, 1.5, 1.0, -8.0, -40.0, -45.0])  # L/min: little gas, then exhalation


def _with_pulses(n=40, seed=3, at_s=2.0):
    """A PSV signal with a short pressure pulse (little inspiratory flow) ``at_s`` into every 2nd expiration
    long enough to hold it; returns flow, pressure, the true starts (breaths and pulses) and the pulses."""
    f, p, starts, _ = psv_signal(n, RATE, random_state=seed)
    f, p = f.copy(), p.copy()
    pulses = []
    for a, b in zip(starts[:-1:2], starts[1::2], strict=False):
        j = a + int(at_s * RATE)  # after the inspiration (at most 1.4 s) and the expiratory peak
        if j + PULSE_P.size + int(0.6 * RATE) < b:
            p[j: j + PULSE_P.size] = PULSE_P
            f[j: j + PULSE_F.size] = PULSE_F
            pulses.append(j - 1)  # the last sample before the rise
    true = np.sort(np.concatenate([starts, pulses]))
    return f, p, true, np.array(pulses)


def test_short_pressure_pulse_with_little_flow_is_a_breath():
    f, p, true, pulses = _with_pulses()
    assert pulses.size >= 8
    found = detect_breath_starts(f, RATE, p)
    prec, rec, _ = match_f1(true, found, TOL)
    assert prec >= 0.99 and rec >= 0.99, (prec, rec)
    # without the pressure (or with pulses disabled) the pulses are invisible in the flow
    _, rec_flow, _ = match_f1(true, detect_breath_starts(f, RATE), TOL)
    _, rec_off, _ = match_f1(true, detect_breath_starts(f, RATE, p, pulses=False), TOL)
    assert rec_flow < 0.9 and rec_off < 0.9


def test_pulse_that_runs_into_an_inspiration_is_one_breath_from_the_pulse():
    # the ventilator triggers (a pressure pulse with some flow), the pressure sags under a strong effort,
    # then the delivery goes on: the flow never returns to expiration, one breath from the first rise
    f, p, starts, _ = psv_signal(20, RATE, random_state=5)
    f, p = f.copy(), p.copy()
    lead = 12
    for s in starts[2:-1:3]:
        f[s - lead: s + 1] = np.linspace(3.0, 14.0, lead + 1)
        p[s - lead: s] = np.concatenate([[5.0, 7.5, 10.0, 11.5, 11.0], np.linspace(9.0, 5.2, lead - 5)])
    true = starts.copy()
    true[2:-1:3] -= lead
    # without the pulse rule the onset stays at the later, main rise
    late = detect_breath_starts(f, RATE, p, pulses=False)
    assert match_f1(true, late, TOL)[1] < 0.9
    found = detect_breath_starts(f, RATE, p)
    prec, rec, _ = match_f1(true, found, TOL)
    assert prec >= 0.99 and rec >= 0.99, (prec, rec)


def test_cough_and_expiratory_pressure_bumps_are_not_pulses():
    # pressure up while the flow falls (forced exhalation, cough): no gas into the patient
    n = 200
    p = np.full(n, 5.0)
    f = np.full(n, -10.0)
    p[50:58] = PULSE_P
    f[50:58] = -10.0 - np.arange(8) * 8.0
    q, _ = pressure_pulses(f, p, RATE, base=0.0, level=2.0, peep=np.full(n, 5.0), swing=10.0, min_slope=7.5,
                           fraction=0.3, min_rise=2.0, min_flow_rise=3.0)
    assert q.size == 0
    # the same pressure with gas pushed in is one pulse, at the last sample before the rise
    f[50:58] = PULSE_F
    q, e = pressure_pulses(f, p, RATE, base=0.0, level=2.0, peep=np.full(n, 5.0), swing=10.0, min_slope=7.5,
                           fraction=0.3, min_rise=2.0, min_flow_rise=3.0)
    assert q.tolist() == [49] and e.tolist() == [55]


def test_held_pressure_is_not_a_pulse():
    # an ordinary delivery keeps its pressure up: not a short pulse
    n = 200
    p = np.full(n, 5.0)
    p[50:54] = [8.0, 11.0, 13.5, 14.5]
    p[54:120] = 15.0
    f = np.full(n, -5.0)
    f[50:120] = 30.0
    q, _ = pressure_pulses(f, p, RATE, base=0.0, level=2.0, peep=np.full(n, 5.0), swing=10.0, min_slope=7.5,
                           fraction=0.3, min_rise=2.0, min_flow_rise=3.0)
    assert q.size == 0


def _pav_like(n=40, seed=1):
    """Flow and pressure of PAV-like breaths: the flow creeps up from the end of expiration while the
    patient's effort pulls the pressure under PEEP; the ventilator answers at the pressure trough with a
    gentle rise (about 5 cmH2O/s, too slow for a 15 cmH2O/s rule). Returns flow, pressure, triggers."""
    rng = np.random.default_rng(seed)
    f, p, trig = [np.full(50, -2.0)], [np.full(50, 6.0)], []
    pos = 50
    for _ in range(n):
        lead = 8  # 0.16 s of effort before the trigger
        ti, te = int(rng.uniform(0.9, 1.3) * RATE), int(rng.uniform(1.5, 2.5) * RATE)
        fe = np.linspace(-3.0, 1.5, lead)
        pe = 6.0 - np.linspace(0.0, 0.9, lead)
        t = np.arange(ti) / RATE
        fi = 1.5 + rng.uniform(18, 28) * np.sin(np.pi * (t + 0.02) / (ti / RATE + 0.02)) ** 0.7
        pi = 5.1 + 5.0 * t
        tx = np.arange(te) / RATE
        fx = -rng.uniform(20, 30) * np.exp(-tx / 0.5) - 2.0
        px = 6.0 + (pi[-1] - 6.0) * np.exp(-tx / 0.08)
        trig.append(pos + lead - 1)
        f += [fe, fi, fx]
        p += [pe, pi, px]
        pos += lead + ti + te
    f, p = np.concatenate(f), np.concatenate(p)
    f = f + rng.normal(0, 0.3, f.size)
    p = p + rng.normal(0, 0.03, p.size)
    return f, p, np.array(trig)


def _early(trig, found):
    """How many triggers have their nearest onset more than 0.08 s before them."""
    j = np.clip(np.searchsorted(found, trig), 1, found.size - 1)
    near = np.where(np.abs(found[j - 1] - trig) < np.abs(found[j] - trig), found[j - 1], found[j])
    return int(((trig - near) > 0.08 * RATE).sum())


def test_gentle_pav_like_rise_places_the_onset_at_the_trigger():
    f, p, trig = _pav_like()
    found = detect_breath_starts(f, RATE, p)
    prec, rec, _ = match_f1(trig, found, TOL)
    assert prec >= 0.95 and rec >= 0.95, (prec, rec)
    # a 15 cmH2O/s slope rule misses the gentle delivery and keeps the earlier flow knee
    old = detect_breath_starts(f, RATE, p, min_pressure_slope_cmh2o_s=15.0)
    assert _early(trig, found) <= 2 < 10 <= _early(trig, old)


@pytest.mark.parametrize("kw", [{}, {"cough_every": 3}, {"double_trigger_every": 4}, {"noise_lpm": 1.5}])
def test_pulses_leave_ordinary_psv_unchanged(kw):
    rec_f, rec_p, starts, _ = psv_signal(60, RATE, random_state=7, **kw)
    df = segment_breaths(Recording(rec_f, rec_p, RATE), method="flow")
    on = df["start_idx"].to_numpy()
    off = detect_breath_starts(rec_f, RATE, rec_p, pulses=False)
    assert np.array_equal(on, off)
    assert match_f1(starts, on, TOL)[2] >= 0.99
