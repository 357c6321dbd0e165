"""The 1-D CNN's discriminative score: known answers, determinism, padding, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from ventgen.errors import VentgenValueError
from ventgen.evaluate.fidelity import cnn_discriminative_score
from ventgen.signals.cycles import edge_pad

T = 64


def _breaths(n: int, rng, shape: str = "sine") -> np.ndarray:
    """(n, 2, T) cycles: a sine (or a square wave) of random rate and amplitude per channel, plus noise."""
    t = np.linspace(0, 1, T)
    phase = np.sin(2 * np.pi * t[None, None, :] * rng.uniform(0.9, 1.1, (n, 1, 1)))
    wave = phase if shape == "sine" else np.sign(phase)
    return (wave * rng.uniform(5, 15, (n, 2, 1)) + rng.normal(0, 0.5, (n, 2, T))).astype(np.float32)


def test_same_distribution_scores_near_zero_and_different_shapes_near_half():
    rng = np.random.default_rng(0)
    same = cnn_discriminative_score(_breaths(100, rng), _breaths(100, rng), epochs=8, random_state=0)
    assert same["score"] < 0.1
    assert (same["n_per_side"], same["folds"], same["classifier"], same["epochs"]) == (100, 5, "cnn_1d", 8)
    assert same["score"] == pytest.approx(abs(same["accuracy"] - 0.5))
    square = cnn_discriminative_score(_breaths(100, rng), _breaths(100, rng, "square"), epochs=8, random_state=0)
    assert square["score"] > 0.4


def test_same_seed_same_score_and_the_global_generator_untouched():
    import torch

    rng = np.random.default_rng(1)
    a, b = _breaths(60, rng), _breaths(60, rng) * 1.1
    before = torch.get_rng_state()
    d1 = cnn_discriminative_score(a, b, epochs=3, random_state=7)
    d2 = cnn_discriminative_score(a, b, epochs=3, random_state=np.random.default_rng(7))
    assert d1 == d2
    assert torch.equal(before, torch.get_rng_state())


def test_class_matched_like_the_forest():
    """A different class mix alone does not give the synthetic breaths away."""
    rng = np.random.default_rng(2)
    ya = np.r_[["n"] * 90, ["x"] * 30]
    yb = np.r_[["n"] * 30, ["x"] * 90]
    a = np.where((ya == "x")[:, None, None], _breaths(120, rng, "square"), _breaths(120, rng))
    b = np.where((yb == "x")[:, None, None], _breaths(120, rng, "square"), _breaths(120, rng))
    d = cnn_discriminative_score(a, b, ya, yb, epochs=6, random_state=0)
    assert d["n_per_side"] == 60 and d["score"] < 0.12


def test_lengths_edge_pad_both_sides_the_same_way():
    """Cycles that differ only after their lengths are the same breaths once both sides are edge-padded."""
    rng = np.random.default_rng(3)
    L = rng.integers(20, T, 120)
    a = edge_pad(_breaths(60, rng), L[:60])
    b = _breaths(60, rng)
    b_junk = np.where(np.arange(T)[None, None, :] >= L[60:, None, None], 50.0, edge_pad(b, L[60:]))
    raw = cnn_discriminative_score(a, b_junk, epochs=5, random_state=0)
    padded = cnn_discriminative_score(a, b_junk, real_lengths=L[:60], synth_lengths=L[60:], epochs=5, random_state=0)
    assert raw["score"] > 0.4 and padded["score"] < 0.15


def test_too_few_breaths_and_bad_input_are_one_line_errors():
    rng = np.random.default_rng(4)
    with pytest.raises(VentgenValueError) as exc:
        cnn_discriminative_score(_breaths(4, rng), _breaths(30, rng))
    assert str(exc.value) == "cnn_discriminative_score: only 4 class-matched breaths per side; need >= 10"
    with pytest.raises(VentgenValueError, match=r"differ in channels or length"):
        cnn_discriminative_score(_breaths(20, rng), _breaths(20, rng)[:, :1])
    with pytest.raises(VentgenValueError, match=r"\(n, channels, time\)"):
        cnn_discriminative_score(np.zeros((20, T)), _breaths(20, rng))
    bad = _breaths(20, rng)
    bad[0, 0, 0] = np.nan
    with pytest.raises(VentgenValueError, match="1 non-finite"):
        cnn_discriminative_score(_breaths(20, rng), bad)
    with pytest.raises(VentgenValueError, match="epochs"):
        cnn_discriminative_score(_breaths(20, rng), _breaths(20, rng), epochs=0)
