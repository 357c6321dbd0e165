"""Fixtures for every test path: tests/ and the doctests of ventgen/ (``testpaths`` in pyproject.toml)."""

from __future__ import annotations

import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the suite in one process per core (pytest-xdist): each takes one thread, so that
    # two processes do not oversubscribe the cores with OpenMP spin-waits
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def small_default_generator():
    """The default preset trains a flow generator of thousands of steps after the HTVAE (minutes on CPU): in the
    tests it takes 20 steps of a width-8 network, so that every test that fits a default model stays fast.
    The generator's own tests set their sizes explicitly; the preset's real values are checked in
    tests/models/test_flowgen.py. It lives here, at the root, so that it holds for the doctests
    of ventgen/ too, whichever paths pytest is given."""
    import dataclasses

    from ventgen.models import config

    real = config.PRESETS["recipe"]
    config.PRESETS["recipe"] = dataclasses.replace(real, generator_steps=20, generator_width=8)
    yield real
    config.PRESETS["recipe"] = real
