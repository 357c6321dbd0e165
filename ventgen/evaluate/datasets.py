"""The image benchmarks by name, scikit-learn's bundled digits and the paper's train/validation split.

:func:`load_dataset` reads MNIST, FashionMNIST and CIFAR-100 from local files
(:mod:`ventgen.io.datasets`; never downloads) and loads scikit-learn's 8x8 digits (1797 images,
10 classes -> root). :func:`paper_split` gives the paper's protocol: the predefined training set split
at random into training and a 600-sample validation set, the predefined test set kept for evaluation.

Examples
--------
>>> from ventgen.evaluate.datasets import load_digits, paper_split
>>> train = load_digits("train")
>>> train.X.shape[1:], train.X.dtype.name, train.tree.n_levels
((1, 8, 8), 'float32', 1)
>>> tr, va = paper_split(len(train), n_val=100, random_state=0)
>>> len(tr) + len(va) == len(train)
True
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits as _sk_digits

from .._core import check_random_state
from ..errors import VentgenValueError
from ..io.datasets import (
    MNIST_CLASSES,
    ImageDataset,
    check_split,
    load_cifar100,
    load_fashion_mnist,
    load_mnist,
)
from ..labels import flat_tree

__all__ = ["DATASETS", "load_dataset", "load_digits", "paper_split"]


# ----------------------------------------------------------------------------- digits
def load_digits(split: str = "train", test_size: int = 360) -> ImageDataset:
    """scikit-learn's bundled 8x8 digits (no files needed), split into a fixed train/test partition.

    The last ``test_size`` images (a fixed, documented choice) are the test set.
    """
    split = check_split(split)
    d = _sk_digits()
    X = (d.images.astype(np.float32) / 16.0)[:, None]
    y = d.target.astype(np.int64)
    sl = slice(None, -test_size) if split == "train" else slice(-test_size, None)
    return ImageDataset(
        X[sl], y[sl], MNIST_CLASSES, flat_tree(MNIST_CLASSES, name="digits"), "digits", split
    )


# ----------------------------------------------------------------------------- registry
DATASETS = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar100": load_cifar100,
    "digits": None,
}


def load_dataset(name: str, root=None, split: str = "train") -> ImageDataset:
    """Load an image benchmark by name (``mnist``, ``fashion-mnist``, ``cifar100``, ``digits``).

    ``root`` is the local folder with the files (ignored for ``digits``); it defaults to the
    environment variable ``VENTGEN_DATA`` joined with the dataset name.
    """
    if name not in DATASETS:
        raise VentgenValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    if name == "digits":
        return load_digits(split)
    if root is None:
        base = os.environ.get("VENTGEN_DATA")
        if not base:
            raise VentgenValueError(
                f"dataset {name!r} needs a root folder with its files (or VENTGEN_DATA set)"
            )
        root = Path(base) / name
    return DATASETS[name](root, split)


def paper_split(n: int, n_val: int = 600, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Random split of a training set into training and validation indices (section V: 600 validation).

    Examples
    --------
    >>> tr, va = paper_split(60000, random_state=0)
    >>> len(tr), len(va)
    (59400, 600)
    """
    if not 0 <= n_val < n:
        raise VentgenValueError(f"n_val must be in [0, {n}), got {n_val}")
    perm = check_random_state(random_state).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
