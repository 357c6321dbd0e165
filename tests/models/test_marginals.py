"""The per-class, per-position quantile map that calibrates a generator's marginals to real breaths."""

from __future__ import annotations

import numpy as np
import pytest

from ventgen.errors import VentgenValueError
from ventgen.models.marginals import MarginalMap


def _data(rng, n=800, T=6):
    lab = np.where(np.arange(n) % 2 == 0, "a", "b")
    real = rng.normal(0.0, 1.0, (n, 2, T)).astype(np.float32)
    real[lab == "b"] += 10.0
    lengths = np.full(n, T)
    lengths[: n // 4] = 3  # a quarter of the breaths are shorter: positions 3.. have fewer breaths
    return real, lengths, lab


def test_a_shifted_and_scaled_generator_is_mapped_back_per_class():
    rng = np.random.default_rng(0)
    real, L, lab = _data(rng)
    shift = np.where(lab == "a", 2.0, -3.0)[:, None, None]
    gen = (real - np.where(lab == "b", 10.0, 0.0)[:, None, None]) * 2.0 + np.where(lab == "b", 10.0, 0.0)[:, None, None] + shift
    m = MarginalMap.fit(real, L, lab, gen.astype(np.float32), L, lab, n_quantiles=65, min_count=50)
    assert m.labels == ["", "a", "b"] and m.valid.all()
    # known answer: a breath the generator made from real values r is mapped back close to r
    x = real[:200].copy()
    y = (x - np.where(lab[:200] == "b", 10.0, 0.0)[:, None, None]) * 2.0 + np.where(lab[:200] == "b", 10.0, 0.0)[:, None, None]
    y = (y + shift[:200]).astype(np.float32)
    back = m.apply(y, np.full(200, 6), lab[:200])
    inner = np.abs(x) < 1.5  # away from the tails, where the quantiles are dense
    assert np.abs(back - x)[inner].max() < 0.2


def test_order_is_kept_and_padding_follows_the_length():
    rng = np.random.default_rng(1)
    real, L, lab = _data(rng)
    gen = rng.normal(5.0, 3.0, real.shape).astype(np.float32)
    m = MarginalMap.fit(real, L, lab, gen, L, lab, min_count=50)
    x = rng.normal(5.0, 3.0, (300, 2, 6)).astype(np.float32)
    lens = rng.integers(2, 7, 300)
    y = m.apply(x.copy(), lens, np.full(300, "a"))
    for t in range(2):  # every position keeps the order of its values (a monotone map: ties at the extremes)
        o = np.argsort(x[:, 0, t])
        assert np.all(np.diff(y[o, 0, t]) >= 0) and np.unique(y[:, 0, t]).size > 290
    for i in range(300):  # edge padding after each length
        assert np.all(y[i, :, lens[i]:] == y[i, :, lens[i] - 1:lens[i]])
    assert abs(float(np.median(y[:, 0, 0]))) < 0.3  # class a's real values are N(0, 1)


def test_unknown_labels_take_the_pooled_map_and_thin_positions_are_left_alone():
    rng = np.random.default_rng(2)
    real, L, lab = _data(rng, n=300)  # 150 breaths a class, 75 of them shorter: positions 3.. have 112
    gen = real + 1.0
    m = MarginalMap.fit(real, L, lab, gen, L, lab, min_count=120)
    assert m.valid[1:, :, :3].all() and not m.valid[1:, :, 3:].any() and m.valid[0].all()  # pooled: 225 at 3..
    x = gen[:10].copy()
    y = m.apply(x.copy(), np.full(10, 6), np.full(10, "a"))
    assert np.array_equal(y[:, :, 3:], x[:, :, 3:])  # too few class-a breaths there: unchanged
    z = m.apply(x.copy(), np.full(10, 6), np.full(10, "not a class"))
    assert np.array_equal(z, m.apply(x.copy(), np.full(10, 6), None))  # the pooled map, everywhere
    assert not np.array_equal(z[:, :, 3:], x[:, :, 3:])


def test_state_round_trip_and_checks():
    rng = np.random.default_rng(3)
    real, L, lab = _data(rng)
    m = MarginalMap.fit(real, L, lab, real + 0.5, L, lab)
    s = m.to_state()
    assert MarginalMap.check_state(s, 2, 6) is None
    m2 = MarginalMap.from_state(s)
    x = real[:20] + 0.5
    assert np.array_equal(m.apply(x.copy(), L[:20], lab[:20]), m2.apply(x.copy(), L[:20], lab[:20]))
    assert "shape" in MarginalMap.check_state(s, 2, 7)
    bad = dict(s, real=s["real"][..., ::-1].copy())
    assert "increase" in MarginalMap.check_state(bad, 2, 6)
    assert "labels" in MarginalMap.check_state(dict(s, labels=["a", "b"]), 2, 6)
    assert repr(m).startswith("MarginalMap(2 classes, 2 channels x 6 samples")


def test_empty_input_is_returned_as_is():
    rng = np.random.default_rng(4)
    real, L, lab = _data(rng)
    m = MarginalMap.fit(real, L, lab, real, L, lab)
    e = np.zeros((0, 2, 6), np.float32)
    assert m.apply(e, np.zeros(0, int)).shape == (0, 2, 6)
    with pytest.raises(VentgenValueError, match="2 cycles need 2 lengths and labels"):
        m.apply(np.zeros((2, 2, 6), np.float32), np.array([3]))


def test_the_ks_test_and_the_leading_run_choose_the_positions():
    rng = np.random.default_rng(5)
    n, T = 2000, 6
    real = rng.normal(0.0, 1.0, (n, 1, T)).astype(np.float32)
    gen = rng.normal(0.0, 1.0, (n, 1, T)).astype(np.float32)
    gen[:, 0, [0, 1, 4]] += 1.0  # the generator is off at positions 0, 1 and 4 only
    L, lab = np.full(n, T), np.full(n, "a")
    every = MarginalMap.fit(real, L, lab, gen, L, lab, alpha=1e-3)
    assert np.flatnonzero(every.valid[1, 0]).tolist() == [0, 1, 4]  # known answer: where they differ
    lead = MarginalMap.fit(real, L, lab, gen, L, lab, alpha=1e-3, leading=True)
    assert np.flatnonzero(lead.valid[1, 0]).tolist() == [0, 1]  # the run that starts the breath
    y = lead.apply(gen.copy(), L, lab)
    assert abs(float(y[:, 0, 0].mean())) < 0.1 and np.array_equal(y[:, 0, 4], gen[:, 0, 4])
