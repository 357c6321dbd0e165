"""The ventilator's trigger and delivery in the detector (issue 15 item 5): flow-trigger timing, small
delivered breaths, and the held-delivery check with the pressure a delivery rose from."""

from __future__ import annotations

import numpy as np
from _synthetic import match_f1

from ventgen.signals.detect import detect_breath_starts
from ventgen.signals.pulses import held_pressure
from ventgen.signals.triggers import flow_trigger_onsets, trigger_crossings

RATE = 50.0
TOL = int(0.1 * RATE)


def _ramp(n: int, a: float, b: float) -> np.ndarray:
    return np.linspace(a, b, n, endpoint=False)


def late_response_signal(n_breaths: int = 24, *, late_every: int = 3, seed: int = 0):
    """Flow (L/min), pressure (cmH2O) and the ventilator's marks of a flow-triggered ventilator.

    Each breath is marked where the flow reaches 4 L/min; the pressure answers 3 samples later (the
    recording's lag). In every ``late_every``-th breath the patient's effort outruns the delivery:
    the flow rises slowly at first, the pressure makes a small rise, dips again and only then rises
    fully (0.25 s after the mark), while the flow already passes 20 L/min.
    """
    rng = np.random.default_rng(seed)
    peep, f, p, marks = 5.0, [np.full(60, -2.0)], [np.full(60, 5.0)], []
    pos = 60
    for k in range(n_breaths):
        ps = rng.uniform(8.0, 12.0)
        late = late_every and k % late_every == late_every - 1
        if late:
            rise = np.concatenate([_ramp(3, -1.0, 4.0), _ramp(12, 4.0, 24.0), _ramp(5, 24.0, 60.0)])
            pr = np.concatenate([np.full(3, peep), _ramp(4, peep, peep + 1.5), _ramp(6, peep + 1.5, peep - 0.5),
                                 np.full(2, peep - 0.5), _ramp(5, peep - 0.5, peep + ps)])
        else:
            rise = np.concatenate([_ramp(2, -1.0, 4.0), _ramp(8, 4.0, 60.0)])
            pr = np.concatenate([np.full(3, peep), _ramp(7, peep, peep + ps)])
        marks.append(pos + (3 if late else 2) - 1)  # the last sample before the flow passes 4 L/min
        n_in = int(0.8 * RATE)
        insp = 60.0 * np.exp(-np.arange(n_in) / 25.0)
        n_ex = int(rng.uniform(2.2, 2.8) * RATE)
        exp_f = -40.0 * np.exp(-np.arange(n_ex) / 12.0) - 1.0
        f += [rise, insp, exp_f]
        p += [pr, np.full(n_in, peep + ps), peep + ps * np.exp(-np.arange(n_ex) / 3.0)]
        pos += rise.size + n_in + n_ex
    flow = np.concatenate(f) + rng.normal(0, 0.2, pos)
    return flow, np.concatenate(p), np.array(marks)


def test_trigger_crossings_finds_the_last_rise_through_the_level():
    f = np.array([-5.0, 5, 2, 3, 6, 9, 20, 30, 10, 1, 0, 8, 30])
    # crossing at 6: the flow was last at or under 4 at sample 3; at 12: at sample 10
    assert trigger_crossings(f, np.array([6, 12]), np.array([0, 8]), 4.0, 10).tolist() == [4, 11]
    # never under the level since the previous excursion, or farther than the window: none
    assert trigger_crossings(f, np.array([6, 12]), np.array([5, 12]), 4.0, 10).tolist() == [-1, -1]
    assert trigger_crossings(f, np.array([12]), np.array([0]), 4.0, 0).tolist() == [-1]


def test_flow_trigger_onsets_moves_only_late_onsets_with_rising_flow_and_a_lag():
    f = np.array([-5.0, 0, 5, 5, 5, 5, 5, 30, 40])
    kw = dict(base=0.0, level=4.0, min_lag=2, tol=2)
    onset, trig, movable = np.array([7]), np.array([2]), np.array([True])
    assert flow_trigger_onsets(f, onset, trig, movable, lag=2, **kw).tolist() == [2]
    # no lag learnt: the breath starts with the delivery, nothing moves
    assert flow_trigger_onsets(f, onset, trig, movable, lag=1, **kw).tolist() == [7]
    # flow idling near the trigger level at the onset: an effort not yet answered, no move
    assert flow_trigger_onsets(f, np.array([6]), trig, movable, lag=2, **kw).tolist() == [6]
    # a pulse keeps its own onset; an onset within the tolerance stays
    assert flow_trigger_onsets(f, onset, trig, np.array([False]), lag=2, **kw).tolist() == [7]
    assert flow_trigger_onsets(f, np.array([4]), trig, movable, lag=2, **kw).tolist() == [4]


def test_late_pressure_response_starts_at_the_flow_trigger():
    """Without the flow-trigger rule the late breaths start at the second pressure dip (> 0.1 s late)."""
    flow, pressure, marks = late_response_signal()
    starts, info = detect_breath_starts(flow, RATE, pressure, return_info=True)
    assert info["pressure_lag"] >= 2
    p, r, _ = match_f1(marks, starts, TOL)
    assert p == 1.0 and r == 1.0, (p, r)
    late = marks[2::3]
    near = starts[np.searchsorted(starts, late - TOL)]
    assert np.all(np.abs(near - late) <= 2)
    without = detect_breath_starts(flow, RATE, pressure, trigger_lag_s=np.inf)
    p0, r0, _ = match_f1(marks, without, TOL)
    assert r0 <= 1 - 1 / 3 + 0.05, (p0, r0)  # the late third of the breaths is missed


def test_flow_trigger_rule_leaves_delivery_marked_recordings_alone():
    """With no pressure lag (breaths start with the delivery, as in the simulator), no onset moves."""
    flow, pressure, marks = late_response_signal(late_every=0)
    delayed = np.concatenate([np.full(3, pressure[0]), pressure[:-3]])  # lag 3 -> lag 0
    shifted = np.concatenate([flow[:3], flow[:-3]])  # flow and pressure now rise together
    a = detect_breath_starts(shifted, RATE, delayed)
    b = detect_breath_starts(shifted, RATE, delayed, trigger_lag_s=np.inf)
    assert np.array_equal(a, b)


def small_delivery_signal(n_breaths: int = 20, *, supported: bool = True, seed: int = 1, support=None):
    """CPAP-like breathing with a low pressure support: ordinary breaths (flow peak 40 L/min, pressure
    +3 cmH2O), and between each two a small breath (flow 7 L/min for 0.4 s). With ``supported`` the
    ventilator delivers the small breath (the pressure rises 1.5 cmH2O while the gas flows in);
    without, it is an effort the ventilator did not answer (the pressure dips 1.5 cmH2O).
    ``support`` (cmH2O, one per breath) replaces the +3 cmH2O of the ordinary breaths.
    Returns flow, pressure, the starts of the ordinary breaths and those of the small ones."""
    rng = np.random.default_rng(seed)
    peep = 5.0
    f, p, big, small = [np.full(50, -1.0)], [np.full(50, peep)], [], []
    pos = 50
    support = np.full(n_breaths, 3.0) if support is None else np.asarray(support, dtype=float)
    for k in range(n_breaths):
        n_in, n_ex1, n_sm, n_ex2 = 50, int(rng.uniform(1.0, 1.3) * RATE), 20, int(rng.uniform(1.0, 1.3) * RATE)
        big.append(pos)
        f_in = 40.0 * np.sin(np.pi * (np.arange(n_in) + 0.5) / n_in)
        f_ex = -25.0 * np.exp(-np.arange(n_ex1) / 10.0) - 1.0
        small.append(pos + n_in + n_ex1)
        f_sm = 7.0 * np.sin(np.pi * (np.arange(n_sm) + 0.5) / n_sm)
        f_ex2 = -6.0 * np.exp(-np.arange(n_ex2) / 8.0) - 1.0
        dp = 1.5 if supported else -1.5
        p_sm = peep + dp * np.sin(np.pi * (np.arange(n_sm) + 0.5) / n_sm)
        f += [f_in, f_ex, f_sm, f_ex2]
        p += [np.full(n_in, peep + support[k]), np.full(n_ex1, peep), p_sm, np.full(n_ex2, peep)]
        pos += n_in + n_ex1 + n_sm + n_ex2
    flow = np.concatenate(f) + rng.normal(0, 0.2, pos)
    pressure = np.concatenate(p) + rng.normal(0, 0.03, pos)
    return flow, pressure, np.array(big), np.array(small)


def test_small_delivered_breaths_are_breaths():
    flow, pressure, big, small = small_delivery_signal()
    truth = np.sort(np.concatenate([big, small]))
    starts = detect_breath_starts(flow, RATE, pressure)
    p, r, _ = match_f1(truth, starts, TOL)
    assert p == 1.0 and r == 1.0, (p, r)
    # without the rule the small deliveries are missed
    without = detect_breath_starts(flow, RATE, pressure, deliveries=False)
    _, r0, _ = match_f1(truth, without, TOL)
    assert r0 <= 0.55, r0


def test_small_deliveries_are_judged_against_the_breaths_of_their_time():
    """The support drops from 12 to 3 cmH2O half-way: the small deliveries (+1.5 cmH2O) of the second
    half are small against the recording (need 0.3 x median 7.5 = 2.25) but not against their
    neighbours (0.3 x 3 = 0.9)."""
    n = 40
    flow, pressure, big, small = small_delivery_signal(n, support=np.where(np.arange(n) < n // 2, 12.0, 3.0))
    second = small[n // 2:]
    starts = detect_breath_starts(flow, RATE, pressure)
    _, r, _ = match_f1(second, starts, TOL)
    assert r == 1.0, r
    p_all, _, _ = match_f1(np.sort(np.concatenate([big, small])), starts, TOL)
    assert p_all == 1.0, p_all
    whole = detect_breath_starts(flow, RATE, pressure, delivery_neighbours=0)
    _, r0, _ = match_f1(second, whole, TOL)
    assert r0 == 0.0, r0


def test_unanswered_efforts_are_not_deliveries():
    """The same small flow with the pressure pulled down (an effort the ventilator did not answer)."""
    flow, pressure, big, _ = small_delivery_signal(supported=False)
    starts = detect_breath_starts(flow, RATE, pressure)
    p, r, _ = match_f1(big, starts, TOL)
    assert p == 1.0 and r == 1.0, (p, r)


def plateau_signal(n_breaths: int = 20, *, exhale_between: bool = False, seed: int = 2):
    """Long-plateau breaths (inspiratory pressure held 2.4 s of every 3.6 s, so the most frequent
    pressure is the plateau, not PEEP) whose inspiratory flow falls to 1 L/min and rises again under
    the held pressure. With ``exhale_between`` the patient exhales (-20 L/min) in the dip and the
    ventilator triggers again: two breaths. Returns flow, pressure, true starts."""
    rng = np.random.default_rng(seed)
    peep, top = 5.0, 20.0
    f, p, starts = [np.full(40, -1.0)], [np.full(40, peep)], []
    pos = 40
    for _ in range(n_breaths):
        h1, dip, h2, n_ex = 40, 10, 70, int(rng.uniform(1.1, 1.3) * RATE)
        starts.append(pos)
        hump1 = 45.0 * np.sin(np.pi * (np.arange(h1) + 0.5) / h1)
        gap = np.full(dip, -20.0 if exhale_between else 1.0)
        hump2 = 40.0 * np.sin(np.pi * (np.arange(h2) + 0.5) / h2)
        if exhale_between:
            starts.append(pos + h1 + dip)
        f += [hump1, gap, hump2, -30.0 * np.exp(-np.arange(n_ex) / 10.0) - 1.0]
        p += [np.full(h1 + dip + h2, top), np.full(n_ex, peep)]
        pos += h1 + dip + h2 + n_ex
    flow = np.concatenate(f) + rng.normal(0, 0.2, pos)
    pressure = np.concatenate(p) + rng.normal(0, 0.03, pos)
    return flow, pressure, np.array(starts)


def test_flow_dip_under_held_plateau_is_one_breath_when_plateaus_dominate():
    flow, pressure, starts = plateau_signal()
    found, info = detect_breath_starts(flow, RATE, pressure, return_info=True)
    p, r, _ = match_f1(starts, found, TOL)
    assert p == 1.0 and r == 1.0, (p, r)
    assert info["held_pressure"] == starts.size
    # the PEEP of the block-mode estimate alone sits on the plateau: it would hold nothing back
    cross = np.sort(np.concatenate([starts + 2, starts + 52]))
    prev_end = np.concatenate(([0], cross[:-1] + 35))
    block = int(30 * RATE)
    modes = np.array([np.median(pressure[i:i + block]) for i in range(0, pressure.size, block)])
    kw = dict(fraction=0.5, min_swing=3.0, modes=modes, block=block)
    assert not held_pressure(pressure, cross, prev_end, {}, **kw).any()
    held = held_pressure(pressure, cross, prev_end, {}, flow=flow, base_flow=0.0, **kw)
    assert held[1::2].all() and not held[0::2].any()


def test_exhalation_between_two_triggers_keeps_both_breaths():
    """The pressure stays up, but the patient exhaled in between: a new trigger, two breaths."""
    flow, pressure, starts = plateau_signal(exhale_between=True)
    found = detect_breath_starts(flow, RATE, pressure)
    p, r, _ = match_f1(starts, found, TOL)
    assert p == 1.0 and r == 1.0, (p, r)
