"""Breath onsets on asynchronous patients: a dip of inspiratory flow while the pressure is held (issue 15)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from _synthetic import match_f1

from ventgen import Recording, read_recording, segment_breaths
from ventgen.signals.detect import detect_breath_starts

RATE = 50.0
TOL = int(0.1 * RATE)


def _hump(n: int, peak: float) -> np.ndarray:
    return peak * np.sin(np.pi * (np.arange(n) + 0.5) / n)


def async_signal(n_breaths: int = 30, *, double_trigger: bool = False, seed: int = 0):
    """Flow (L/min), pressure (cmH2O) and true starts of breaths whose inspiration has two flow humps.

    In each inspiration the flow rises, falls to ``dip`` L/min (a strong patient effort that ends, then
    a second one) and rises again; with ``double_trigger=False`` the ventilator holds the pressure at
    its inspiratory level through the dip (one delivered breath); with ``double_trigger=True`` it cycles
    to expiration between the humps (the pressure falls to PEEP, a short expiratory flow): two breaths.
    """
    rng = np.random.default_rng(seed)
    peep = 5.0
    f, p, starts = [np.zeros(50)], [np.full(50, peep)], []
    pos = 50
    for _ in range(n_breaths):
        ps = rng.uniform(8.0, 15.0)
        h1, h2 = int(rng.uniform(0.4, 0.6) * RATE), int(rng.uniform(0.4, 0.7) * RATE)
        dip = int(rng.uniform(0.06, 0.16) * RATE)
        first, second = _hump(h1, rng.uniform(40, 60)), _hump(h2, rng.uniform(30, 55))
        starts.append(pos)
        if double_trigger:
            gap_f = -20.0 * np.sin(np.pi * (np.arange(dip + 10) + 0.5) / (dip + 10))
            f_i = np.concatenate([first, gap_f, second])
            p_i = np.concatenate([np.full(h1, peep + ps), np.full(dip + 10, peep), np.full(h2, peep + ps)])
            starts.append(pos + h1 + dip + 10)
        else:
            f_i = np.concatenate([first, np.full(dip, rng.uniform(0.0, 3.0)), second])
            p_i = np.full(f_i.size, peep + ps)
        te = int(rng.uniform(1.5, 3.0) * RATE)
        f_e = -rng.uniform(30, 50) * np.exp(-np.arange(te) / RATE / 0.35)
        f += [f_i, f_e]
        p += [p_i, np.full(te, peep)]
        pos += f_i.size + te
    noise = np.random.default_rng(seed + 1)
    flow = np.concatenate(f) + noise.normal(0, 0.3, pos)
    pressure = np.concatenate(p) + noise.normal(0, 0.05, pos)
    return flow, pressure, np.array(starts)


def test_no_new_breath_while_the_pressure_is_held():
    flow, pressure, starts = async_signal(30)
    found = detect_breath_starts(flow, RATE, pressure)
    p, r, _ = match_f1(starts, found, TOL)
    assert p >= 0.99 and r >= 0.99, (p, r, found.size, starts.size)


def test_double_triggers_stay_two_breaths():
    flow, pressure, starts = async_signal(30, double_trigger=True)
    df = segment_breaths(Recording(flow, pressure, RATE), method="flow")
    p, r, _ = match_f1(starts, df["start_idx"].to_numpy(), TOL)
    assert p >= 0.99 and r >= 0.99, (p, r)


def test_flow_alone_still_splits_the_humps():
    # without a pressure signal nothing says the ventilator held the inspiration: two onsets per breath
    flow, _, starts = async_signal(10)
    found = detect_breath_starts(flow, RATE)
    assert found.size == 2 * starts.size


@pytest.mark.parametrize("swing", [0.0, 1.0])
def test_no_pressure_swing_no_merge(swing):
    # CPAP without support: a pressure that barely moves says nothing about a held inspiration
    flow, pressure, starts = async_signal(10)
    flat = 5.0 + swing * (pressure - 5.0) / np.ptp(pressure)
    found = detect_breath_starts(flow, RATE, flat)
    assert found.size == 2 * starts.size


VENTMODE = Path(__file__).resolve().parents[3] / "shared" / "data" / "ventmode"
PAV_FILE = "7b626a7e232e4da9ab087fb6f38fa50d-rpi24-2143-04-10-08-54-36.682642.csv"


def test_real_pav_recording_loses_no_ventilator_breath():
    """On a real PAV recording with strong efforts, the held-pressure check only removes false starts."""
    path = VENTMODE / PAV_FILE
    if not path.is_file():
        pytest.skip("../shared/data/ventmode is absent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(path)
    marks = rec.markers["start_idx"].to_numpy()
    bare = Recording(rec.flow, rec.pressure, rec.sampling_rate)
    before = segment_breaths(bare, method="flow", held_pressure_fraction=np.inf)["start_idx"].to_numpy()
    after = segment_breaths(bare, method="flow")["start_idx"].to_numpy()
    p0, r0, _ = match_f1(marks, before, TOL)
    p1, r1, _ = match_f1(marks, after, TOL)
    assert before.size - after.size >= 10
    assert r1 == r0 and r1 >= 0.99 and p1 > p0, (p0, r0, p1, r1)
