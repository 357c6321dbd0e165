"""Patient profiles: node weights and latent deviations drawn for the whole cohort, balanced or not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ventgen.errors import VentgenValueError
from ventgen.generate import GenerationOptions, generate_cohort
from ventgen.generate.plan import plan_cohort
from ventgen.generate.profiles import balance_weights, centred, draw_profiles


def test_balanced_weights_keep_each_patient_a_distribution_and_the_cohort_the_target():
    rng = np.random.default_rng(0)
    target = np.array([0.5, 0.3, 0.15, 0.05])
    W = rng.dirichlet(target * 4, size=5)
    n = np.array([100.0, 80.0, 120.0, 0.0, 100.0])  # patient 3 has no breaths of this entry
    B = balance_weights(W, n, target)
    assert np.allclose(B.sum(axis=1), 1.0) and (B >= 0).all()
    assert np.allclose(n @ B, n.sum() * target, atol=1e-6)  # the cohort's expected node counts
    assert np.array_equal(B[3], W[3])  # untouched: it takes no breaths of the entry
    # each patient keeps its own preferences: the balanced weights are the draw times a factor per patient
    # and a factor per node (iterative proportional fitting keeps every cross-ratio W_pk W_ql / W_pl W_qk)
    on = n > 0
    D = np.log(B[on] / W[on])
    assert np.allclose(D - D.mean(axis=0) - D.mean(axis=1, keepdims=True) + D.mean(), 0, atol=1e-6)
    assert np.array_equal(balance_weights(W, np.zeros(5), target), W)


def test_centred_deviations_have_weighted_mean_zero_and_unit_spread():
    u = np.random.default_rng(1).standard_normal((4, 3)) + 5.0
    n = np.array([10.0, 20.0, 30.0, 40.0])
    c = centred(u, n)
    assert np.allclose(n @ c, 0) and np.allclose(np.sqrt(n @ c**2 / n.sum()), 1.0)
    assert np.array_equal(centred(u[:1], n[:1]), np.zeros((1, 3)))  # one patient: the cohort's mean


def test_profiles_follow_the_concentration_and_the_seed():
    entries = [SimpleNamespace(weights=np.array([0.6, 0.4])), SimpleNamespace(weights=np.array([1.0]))]
    counts = np.array([[50, 5], [30, 5], [20, 5]])
    a = draw_profiles(entries, counts, 3, 1.0, np.random.default_rng(2), balanced=True)
    b = draw_profiles(entries, counts, 3, 1.0, np.random.default_rng(2), balanced=True)
    assert np.array_equal(a.u, b.u) and np.array_equal(a.weights[0], b.weights[0])
    nw = a.node_weights(2)
    assert a.weights[1] is None and nw[1] is None and np.array_equal(nw[0], a.weights[0][2])  # one node: no draw
    assert np.allclose(counts[:, 0] @ a.weights[0], 100 * np.array([0.6, 0.4]))
    ind = draw_profiles(entries, counts, 3, 1.0, np.random.default_rng(2), balanced=False)
    assert not np.allclose(counts[:, 0] @ ind.weights[0], 100 * np.array([0.6, 0.4]))
    none = draw_profiles(entries, counts, 3, None, np.random.default_rng(2), balanced=True)
    assert none.weights == [None, None]
    # one patient is drawn as one patient: balancing would make it the reference's average
    one = draw_profiles(entries, counts[:1], 3, 1.0, np.random.default_rng(2), balanced=True)
    alone = draw_profiles(entries, counts[:1], 3, 1.0, np.random.default_rng(2), balanced=False)
    assert np.array_equal(one.u, alone.u) and np.array_equal(one.weights[0], alone.weights[0])
    assert np.abs(one.u).max() > 0 and not np.allclose(one.weights[0][0], [0.6, 0.4])


def test_a_cohort_plan_balances_its_patients_and_patients_still_differ(model, ref):
    spec = {"patients": 6, "breaths": 120, "composition": {"normal breathing": 0.7, "apnea": 0.3},
            "node_concentration": 0.5}
    plan = plan_cohort(model, spec, ref, random_state=0)
    assert plan.options.patient_profiles == "balanced"
    for j, r in enumerate(plan.resolved):
        W = plan.profiles.weights[j]
        if W is not None:
            assert np.allclose(plan.counts[:, j] @ W, plan.counts[:, j].sum() * r.weights, atol=1e-6)
            assert np.abs(W - r.weights).max() > 0.1  # patients differ from the entry's weights
    w = plan.counts.sum(axis=1)
    assert np.allclose(w @ plan.profiles.u, 0, atol=1e-9)
    ind = plan_cohort(model, spec, ref, random_state=0, options=GenerationOptions(patient_profiles="independent"))
    assert not np.allclose(w @ ind.profiles.u, 0, atol=1e-3)
    with pytest.raises(VentgenValueError, match="patient_profiles must be one of"):
        generate_cohort(model, spec, ref, options=GenerationOptions(patient_profiles="pooled"))
