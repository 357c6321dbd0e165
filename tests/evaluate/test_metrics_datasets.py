"""Metrics room: image adapters read small IDX / pickle files the tests write."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from ventgen.errors import FileFormatError, VentgenValueError
from ventgen.evaluate.datasets import load_dataset, load_digits, paper_split
from ventgen.io.datasets import (
    FASHION_MNIST_TREE,
    load_cifar100,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)


def _idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _write_mnist(folder, n_train=12, n_test=5, gz=True, rng=None):
    rng = rng or np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, n, stem in (("train", n_train, "train"), ("test", n_test, "t10k")):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for name, arr in (
            (f"{stem}-images-idx3-ubyte", imgs),
            (f"{stem}-labels-idx1-ubyte", labels),
        ):
            raw = _idx_bytes(arr)
            if gz:
                with gzip.open(folder / (name + ".gz"), "wb") as fh:
                    fh.write(raw)
            else:
                (folder / name).write_bytes(raw)
        data[split] = (imgs, labels)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_roundtrip(tmp_path, gz):
    data = _write_mnist(tmp_path, gz=gz)
    ds = load_mnist(tmp_path, "train")
    imgs, labels = data["train"]
    assert ds.X.shape == (12, 1, 28, 28) and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X[:, 0] * 255, imgs, atol=1e-3)
    assert ds.y.tolist() == labels.tolist()
    assert ds.labels.tolist() == [str(v) for v in labels]
    assert ds.tree.n_levels == 1 and len(load_mnist(tmp_path, "test")) == 5


def test_torchvision_layout(tmp_path):
    _write_mnist(tmp_path / "FashionMNIST" / "raw", gz=False)
    ds = load_fashion_mnist(tmp_path, "test")
    assert len(ds) == 5 and ds.tree is FASHION_MNIST_TREE
    _write_mnist(tmp_path / "MNIST" / "raw")
    assert len(load_dataset("mnist", tmp_path, "train")) == 12


def test_fashion_tree_shape():
    t = FASHION_MNIST_TREE
    assert t.n_levels == 3
    assert len(t.level_labels(1)) == 6 and sorted(t.level_labels(2)) == ["accessories", "clothes"]
    assert t.distance("Sneaker", "Ankle boot") == 2 and t.distance("Bag", "Sandal") == 4
    assert t.distance("Trouser", "Bag") == 6


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(VentgenValueError, match="t10k-images-idx3-ubyte") as exc:
        load_mnist(tmp_path, "test")
    assert "never downloads" in str(exc.value)
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path / "nope")
    with pytest.raises(VentgenValueError, match="cifar-100-python"):
        load_cifar100(tmp_path)
    with pytest.raises(VentgenValueError, match="split"):
        load_mnist(tmp_path, "validation")
    with pytest.raises(VentgenValueError, match="unknown dataset"):
        load_dataset("svhn", tmp_path)


def test_bad_idx_files(tmp_path):
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(FileFormatError, match="magic"):
        read_idx(p)
    p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(FileFormatError, match="5 bytes of data"):
        read_idx(p)
    p.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 1]))
    with pytest.raises(FileFormatError, match="type code"):
        read_idx(p)


def test_mismatched_label_count(tmp_path):
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(FileFormatError, match="12 labels"):
        load_mnist(tmp_path)


def _write_cifar(folder, n=20):
    rng = np.random.default_rng(0)
    d = folder / "cifar-100-python"
    d.mkdir(parents=True)
    fine_names = [f"f{i}".encode() for i in range(100)]
    coarse_names = [f"c{i}".encode() for i in range(20)]
    coarse_of = np.arange(100) // 5
    for split in ("train", "test"):
        fine = rng.integers(0, 100, n)
        obj = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": coarse_of[fine].tolist(),
        }
        with open(d / split, "wb") as fh:
            pickle.dump(obj, fh)
    with open(d / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": fine_names, b"coarse_label_names": coarse_names}, fh)
    return d


def test_cifar100_fine_and_coarse(tmp_path):
    _write_cifar(tmp_path)
    ds = load_cifar100(tmp_path, "train")
    assert ds.X.shape == (20, 3, 32, 32) and ds.X.max() <= 1.0
    assert ds.tree.n_levels == 2
    for lab, c in zip(ds.labels, ds.coarse, strict=False):
        assert ds.tree.ancestor(lab, 1) == f"c{c}"
        assert int(lab[1:]) // 5 == c


def test_cifar100_bad_pickle(tmp_path):
    d = _write_cifar(tmp_path)
    (d / "test").write_bytes(b"not a pickle")
    with pytest.raises(FileFormatError, match="pickle"):
        load_cifar100(tmp_path, "test")


def test_digits_and_paper_split():
    tr, te = load_digits("train"), load_digits("test")
    assert len(tr) + len(te) == 1797 and tr.X.shape[1:] == (1, 8, 8) and float(tr.X.max()) <= 1.0
    a, b = paper_split(1000, n_val=600, random_state=1)
    assert len(a) == 400 and len(b) == 600 and not set(a) & set(b)
    a2, _ = paper_split(1000, n_val=600, random_state=1)
    assert np.array_equal(a, a2)
    with pytest.raises(VentgenValueError):
        paper_split(10, n_val=10)


def test_real_mnist_headers(mnist_dir):
    ds = load_mnist(mnist_dir, "test")
    assert ds.X.shape == (10000, 1, 28, 28) and set(np.unique(ds.y)) == set(range(10))
