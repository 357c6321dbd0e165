"""The recording resolution of a signal: finding the step its values come in, and rounding to it."""

from __future__ import annotations

import numpy as np
import pytest

import ventgen
from ventgen.errors import VentgenValueError
from ventgen.signals.resolution import (
    RESOLUTION_CANDIDATES,
    cycle_resolution,
    quantize,
    recording_resolution,
)


@pytest.mark.parametrize("step", [0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 0.001])
def test_the_coarsest_step_of_values_on_a_grid_is_found(step):
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(10.0, 20.0, 5000) / step) * step
    assert recording_resolution(x.astype(np.float32)) == step  # float32 storage, as in a CycleSet


@pytest.mark.parametrize("factor, step", [(60.0, 0.6), (0.06, 0.0006), (3.0, 0.03)])
def test_a_step_converted_from_another_unit_is_found_as_a_whole_multiple(factor, step):
    # 0.01 L/s read in L/min is 0.6 (6 x 0.1); 0.0006 is 6 x the finest candidate; 0.03 is 3 x 0.01
    x = np.round(np.random.default_rng(4).normal(0.3, 0.4, 4000), 2)
    assert recording_resolution((x * factor).astype(np.float32)) == pytest.approx(step)
    # a factor that puts the step on no decimal grid leaves the values continuous (nothing is rounded)
    assert recording_resolution(x * 1.019716) == 0.0


def test_continuous_constant_and_empty_values_have_no_resolution():
    rng = np.random.default_rng(1)
    assert recording_resolution(rng.normal(0.0, 1.0, 2000)) == 0.0
    assert recording_resolution(np.full(500, 12.0)) == 0.0  # a constant says nothing about the step
    assert recording_resolution(np.arange(5.0)) == 0.0  # too few distinct levels
    assert recording_resolution(np.array([np.nan, np.inf])) == 0.0


def test_a_few_values_off_the_grid_are_allowed_up_to_the_share():
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(0.0, 10.0, 1000), 2)
    x[:5] += 0.003  # 0.5 % off the grid (e.g. resampled samples)
    assert recording_resolution(x) == 0.01
    x[:50] += 0.003 * np.pi  # 5.5 %: the values are not on a grid of 0.01; finer steps do not fit either
    assert recording_resolution(x) == 0.0
    assert recording_resolution(x, share=0.9) == 0.01
    with pytest.raises(VentgenValueError, match="share must be in"):
        recording_resolution(x, share=0)


def test_candidates_run_from_coarse_to_fine():
    assert RESOLUTION_CANDIDATES[0] == 10.0 and RESOLUTION_CANDIDATES[-1] == 1e-4
    assert np.all(np.diff(RESOLUTION_CANDIDATES) < 0)


def test_cycle_resolution_looks_inside_the_lengths_only():
    rng = np.random.default_rng(3)
    X = np.round(rng.normal(0.0, 5.0, (40, 2, 30)), 2)
    X[:, 1] = np.round(X[:, 1], 1)
    X[:, :, 20:] = rng.random((40, 2, 10))  # off-grid after every cycle's length
    assert cycle_resolution(X, np.full(40, 20)).tolist() == [0.01, 0.1]
    assert cycle_resolution(X).tolist() == [0.0, 0.0]
    with pytest.raises(VentgenValueError, match=r"expected cycles \(n, channels, time\), got shape \(3, 4\)"):
        cycle_resolution(np.zeros((3, 4)))


def test_simulated_recordings_come_in_steps_of_a_hundredth():
    rec = ventgen.simulate_cohort(n_subjects=1, minutes=1, random_state=0, progress=False)[0]
    assert recording_resolution(rec.flow) == 0.01 and recording_resolution(rec.pressure) == 0.01


def test_quantize_rounds_per_channel_and_leaves_zero_steps_alone():
    x = np.array([[[1.234, -2.346], [5.55, 7.77]]], dtype=np.float32)
    q = quantize(x, [0.01, 0.0])
    assert q.dtype == np.float32 and np.allclose(q[0, 0], [1.23, -2.35]) and np.array_equal(q[0, 1], x[0, 1])
    assert np.allclose(quantize(x, 0.5), [[[1.0, -2.5], [5.5, 8.0]]])
    assert np.array_equal(quantize(q, [0.01, 0.0]), q)  # idempotent
    assert quantize(np.arange(3), 2.0).dtype == np.float64
    with pytest.raises(VentgenValueError, match="one per index of axis 1"):
        quantize(x, [0.1, 0.1, 0.1])
    with pytest.raises(VentgenValueError, match="finite steps >= 0"):
        quantize(x, [-0.1, 0.1])
