"""Shared fixtures. Tests that read ../shared/data skip when it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("VENTGEN_PROGRESS", "0")
# test helpers (_synthetic, _cohort_double) are imported by name from the test folders below tests/
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PB840_DIR = SHARED_DATA / "pb840"
MNIST_DIR = SHARED_DATA / "mnist"


@pytest.fixture
def pb840_dir():
    if not PB840_DIR.is_dir():
        pytest.skip("../shared/data/pb840 is absent")
    return PB840_DIR


@pytest.fixture
def mnist_dir():
    if not MNIST_DIR.is_dir():
        pytest.skip("../shared/data/mnist is absent")
    return MNIST_DIR


@pytest.fixture(scope="module")
def one_thread():
    """One torch/BLAS thread for the tiny models of a test module: on the shared 2-core CI machine,
    OpenMP spin-waits make tiny steps 5-50x slower with two threads."""
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)

