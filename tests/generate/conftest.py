"""The test double's reference cycles and model, shared by the generation tests (module-scoped: each
test module builds its own, so no test sees another module's state)."""

from __future__ import annotations

import pytest
from _cohort_double import DoubleModel, make_reference


@pytest.fixture(scope="module")
def ref():
    return make_reference()


@pytest.fixture(scope="module")
def model(ref):
    return DoubleModel(ref)
