"""Deliveries that move no gas: a backup breath into a closed airway raises and holds the pressure while
the flow stays at rest. Only the pressure shows them (issue 16: the simulator's apneas with a closed
glottis, which the flow detector missed)."""

from __future__ import annotations

import numpy as np
import pytest
from _synthetic import match_f1, psv_signal

import ventgen
from ventgen.evaluate.fidelity.segmentation import match_breaths
from ventgen.signals.detect import detect_breath_starts
from ventgen.signals.pulses import pressure_plateaus

RATE = 50.0
TOL = int(0.1 * RATE)


def _with_plateaus(seed=2, n=30, every=5, support=10.0, hold_s=1.0, rest_lpm=0.0):
    """A PSV signal whose every ``every``-th breath is followed by a 15 s apnea holding backup breaths
    (PEEP 5 -> 5 + ``support`` for ``hold_s``, flow at rest) every 5 s; returns flow, pressure, the true
    starts (breaths and backup breaths) and the backup breaths' onsets."""
    f, p, starts, _ = psv_signal(n, RATE, apnea_every=every, random_state=seed, rest_offset_lpm=rest_lpm)
    f, p = f.copy(), p.copy()
    rng = np.random.default_rng(seed)
    backup = []
    gaps = np.diff(starts)
    for a, g in zip(starts[:-1], gaps, strict=True):
        if g < 12 * RATE:
            continue
        for k in (5.0, 10.0):  # inside the pause, away from both breaths
            j = a + int(k * RATE)
            m = int(hold_s * RATE)
            p[j: j + m] = 5.0 + support + rng.normal(0, 0.1, m)
            p[j] = 5.0 + 0.5 * support  # a steep rise over two samples
            f[j - 5: j + m + 5] = rest_lpm + rng.normal(0, 0.3, m + 10)
            backup.append(j - 1)
    return f, p, np.sort(np.concatenate([starts, backup])), np.array(backup)


def test_backup_breaths_into_a_closed_airway_are_found_from_the_pressure():
    f, p, true, backup = _with_plateaus()
    assert backup.size >= 8
    found, info = detect_breath_starts(f, RATE, p, return_info=True)
    prec, rec, _ = match_f1(true, found, TOL)
    assert prec >= 0.99 and rec >= 0.99, (prec, rec)
    assert info["plateaus"] == backup.size
    # the flow alone, or the rule switched off, misses every one of them
    for off in (detect_breath_starts(f, RATE), detect_breath_starts(f, RATE, p, plateaus=False)):
        _, rec_off, _ = match_f1(true, off, TOL)
        assert rec_off <= 1 - backup.size / true.size + 1e-9


def test_plateaus_follow_a_resting_flow_offset():
    f, p, true, _ = _with_plateaus(seed=4, rest_lpm=-3.0)
    prec, rec, _ = match_f1(true, detect_breath_starts(f, RATE, p), TOL)
    assert prec >= 0.99 and rec >= 0.99, (prec, rec)


def _step(n=300, at=100, hold=50, rise=10.0, flow=None):
    p = np.full(n, 5.0)
    p[at: at + hold] = 5.0 + rise
    return (np.full(n, -0.5) if flow is None else flow), p


def _plateaus(f, p, r0=(), r1=(), **kw):
    opts = dict(peep=np.full(p.size, 5.0), swing=10.0, min_slope=7.5, fraction=0.5, min_rise=3.0, hold_s=0.3,
                flow_drop=6.0) | kw
    return pressure_plateaus(f, p, RATE, np.asarray(r0, np.int64), np.asarray(r1, np.int64), **opts)[0].tolist()


@pytest.mark.parametrize("case", ["pulse", "small", "cough", "slow", "in a breath", "from a plateau"])
def test_what_is_not_a_plateau(case):
    f, p = _step()
    assert _plateaus(f, p) == [99]
    if case == "pulse":  # falls back at once: a short pulse (pressure_pulses' business), not a held delivery
        f, p = _step(hold=8)
    elif case == "small":  # under half the usual swing
        f, p = _step(rise=4.0)
    elif case == "cough":  # the flow falls while the pressure rises: an exhalation against the circuit
        flow = np.full(300, -0.5)
        flow[100:150] = -30.0
        f, p = _step(flow=flow)
    elif case == "slow":  # a drift, not a ventilator's step
        p = np.full(300, 5.0)
        p[100:250] = np.minimum(5.0 + np.arange(150) * 0.1, 15.0)
    elif case == "in a breath":  # an ordinary breath starts within the hold: it is that breath
        assert _plateaus(f, p, r0=[110], r1=[160]) == []
        return
    elif case == "from a plateau":  # the pressure does not come from near PEEP
        p = p + 10.0
    assert _plateaus(f, p) == []


def test_simulated_apneas_with_a_closed_glottis_are_found():
    # the simulator closes the glottis in 35 % of its apneas: the backup breaths deliver no gas
    rec = ventgen.simulate_cohort(n_subjects=1, minutes=6, random_state=3, progress=False,
                                  proportions="normal breathing=0.3, apnea=0.7")[0]
    marks = ventgen.segment_breaths(rec, method="markers")["start_s"].to_numpy()
    on = match_breaths(marks, ventgen.segment_breaths(rec, method="flow")["start_s"].to_numpy(), 0.3)
    off = match_breaths(marks, ventgen.segment_breaths(rec, method="flow", plateaus=False)["start_s"].to_numpy(), 0.3)
    assert on["recall"] >= 0.98 and on["precision"] >= 0.98, on
    assert off["recall"] < 0.9, off
