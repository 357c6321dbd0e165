"""viz.plot_breath_examples: real | generated columns, one row per class and channel, shared row axes."""

from __future__ import annotations

import numpy as np
import pytest

from ventgen import VentgenValueError, viz

T, RATE = 50, 25.0


def _cycles(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2, T)) * scale, rng.integers(10, T + 1, n)


def test_two_columns_one_row_per_class_and_channel():
    X, L = _cycles(30, 0)
    G, LG = _cycles(12, 1, scale=3.0)
    y = np.array(["snoring", "normal breathing", "apnea"] * 10)
    g = np.array(["apnea", "normal breathing", "coughing"] * 4)  # coughing has no real breath: not drawn
    fig = viz.plot_breath_examples(X, G, real_labels=y, generated_labels=g, real_lengths=L, generated_lengths=LG,
                                   sampling_rate=RATE, channels=["flow_lpm", "paw_cmh2o"], n_per_class=3)
    axes = np.array(fig.axes).reshape(-1, 2)
    assert axes.shape == (2 * 2, 2)  # (normal breathing, apnea) x (flow, pressure) rows, real | generated
    assert [ax.get_title() for ax in axes[0]] == ["real", "generated"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == [
        "normal breathing\nflow [L/min]", "normal breathing\npressure [cmH2O]", "apnea\nflow [L/min]",
        "apnea\npressure [cmH2O]"]  # ventilation order
    for left, right in axes:
        assert left.get_ylim() == right.get_ylim()  # the generated breaths' 3x amplitude shows as such
        assert len(left.lines) == 3 and len(right.lines) == 3
    # each breath drawn up to its own length, on a time axis in seconds
    x, v = axes[0, 0].lines[0].get_xdata(), axes[0, 0].lines[0].get_ydata()
    assert x[-1] == pytest.approx((T - 1) / RATE) and axes[-1, 0].get_xlabel() == "time [s]"
    drawn = np.isfinite(v).sum()
    assert 10 <= drawn <= T and np.isnan(v[drawn:]).all()
    assert any(drawn == (L[y == "normal breathing"])), "a drawn breath keeps its own length"


def test_unlabelled_is_one_group_of_all_breaths():
    X, L = _cycles(20, 2)
    fig = viz.plot_breath_examples(X, X[:5] + 1, sampling_rate=RATE, n_per_class=4)
    assert len(fig.axes) == 2 * 2
    assert fig.axes[0].get_ylabel().startswith("all breaths")
    assert len(fig.axes[0].lines) == 4 and len(fig.axes[1].lines) == 4
    # labels without a class on both sides: the same single group
    fig2 = viz.plot_breath_examples(X, X[:5], real_labels=["a"] * 20, generated_labels=["b"] * 5)
    assert len(fig2.axes) == 4 and fig2.axes[0].get_ylabel().startswith("all breaths")


def test_bad_input_is_refused():
    X, L = _cycles(10, 3)
    with pytest.raises(VentgenValueError, match="differ"):
        viz.plot_breath_examples(X, X[:, :1])
    with pytest.raises(VentgenValueError, match="real_lengths"):
        viz.plot_breath_examples(X, X, real_lengths=L[:3])
    with pytest.raises(VentgenValueError, match="n_per_class"):
        viz.plot_breath_examples(X, X, n_per_class=0)
