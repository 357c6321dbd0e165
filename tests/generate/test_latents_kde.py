"""latent='kde': a smoothed bootstrap of the reference encodings, each breath with its real breath's length."""

from __future__ import annotations

import numpy as np
import pytest

from ventgen.errors import VentgenValueError
from ventgen.generate import GenerationOptions
from ventgen.generate.latents import Components, draw_kde
from ventgen.generate.options import check_options


def _components(rng, n_ref=400, d=3):
    mu = rng.normal(size=(n_ref, d)) * [1.0, 2.0, 0.5] + [5.0, -1.0, 0.0]
    members = [np.arange(0, n_ref // 2), np.arange(n_ref // 2, n_ref), np.arange(0)]
    centers = np.stack([mu[m].mean(0) if m.size else np.zeros(d) for m in members])
    scales = np.stack([mu[m].std(0, ddof=1) if m.size else np.ones(d) for m in members])
    lengths = rng.integers(50, 200, size=n_ref)
    return mu, lengths, members, centers, scales


def test_kde_keeps_the_moments_and_takes_the_lengths_of_real_breaths():
    rng = np.random.default_rng(0)
    mu, lengths, members, centers, scales = _components(rng)
    of = np.repeat([0, 1, 2], [20000, 20000, 10])
    comps = Components(of, np.array([0, 1, 2]), members, centers, scales, n_data=2)
    Z, L, c = draw_kde(comps, np.zeros(of.size, int), np.zeros((1, 3)), 0.0, mu, lengths, 0.3, rng)
    assert c is of  # no chain: every breath keeps its component
    for k in (0, 1):
        z = Z[of == k]
        assert np.allclose(z.mean(0), centers[k], atol=0.05 * scales[k].max())
        assert np.allclose(z.std(0), scales[k], rtol=0.05)  # the jitter's variance is shrunk back
        assert set(L[of == k]) <= set(lengths[members[k]])
    assert (L[of == 2] == 0).all()  # no reference breath: the caller draws its length


def test_zero_bandwidth_draws_the_reference_encodings_themselves():
    rng = np.random.default_rng(1)
    mu, lengths, members, centers, scales = _components(rng, n_ref=20)
    of = np.zeros(50, int)
    comps = Components(of, np.array([0]), members[:1], centers[:1], scales[:1], n_data=1)
    Z, L, _ = draw_kde(comps, np.zeros(50, int), np.zeros((1, 3)), 0.3, mu, lengths, 0.0, rng)
    ref = mu[members[0]].astype(np.float32)
    hit = np.abs(Z[:, None, :] - ref[None]).max(axis=2).argmin(axis=1)
    assert np.allclose(Z, ref[hit], atol=1e-5) and np.array_equal(L, lengths[members[0]][hit])


@pytest.mark.parametrize("bw", [-0.1, float("nan"), "0.3", True])
def test_bad_bandwidth_is_one_clear_error(bw):
    with pytest.raises(VentgenValueError, match="kde_bandwidth must be a number in"):
        check_options(GenerationOptions(kde_bandwidth=bw))
