"""The clustering baselines follow scikit-learn's estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec

from ventgen.errors import VentgenValueError
from ventgen.evaluate.clustering import (
    HierarchicalKMeans,
    HierarchicalTimeSeriesKMeans,
    RecursiveGMM,
)

ESTIMATORS = [
    HierarchicalKMeans(maps=[4, 2], random_state=0),
    RecursiveGMM(maps=[4, 2], covariance_type="diag", random_state=0),
    HierarchicalTimeSeriesKMeans(maps=[2, 1], metric="euclidean", random_state=0),
]
CHECKS = [
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_sklearn_estimator_checks(est, check):
    check(type(est).__name__, est)


def _data(est):
    rng = np.random.default_rng(0)
    if isinstance(est, HierarchicalTimeSeriesKMeans):
        return rng.normal(size=(12, 2, 10))
    return np.concatenate([rng.normal(m, 0.1, (20, 2)) for m in (0, 3, 6, 9)])


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_clone_is_unfitted_and_refits_to_the_same_nodes(est):
    X = _data(est)
    c = clone(est)
    with pytest.raises(NotFittedError):
        c.assign(X)
    with pytest.raises(VentgenValueError, match="not fitted"):
        c.predict(X)
    a = c.fit(X).assign(X)
    b = clone(c).fit(X).assign(X)
    assert a.shape == (len(X), 2)
    np.testing.assert_array_equal(a, b)
    c.set_params(random_state=1)
    assert c.get_params()["random_state"] == 1
