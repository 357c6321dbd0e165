"""Image benchmark files: MNIST and FashionMNIST (IDX files), CIFAR-100 (python pickles).

Every reader reads local files only (never downloads) and returns an :class:`ImageDataset` with
float32 images ``(n, C, H, W)`` scaled to [0, 1], integer labels, class names and the true class
hierarchy used by Dtree:

- MNIST: 10 classes -> root (flat);
- FashionMNIST: 10 classes -> 6 groups (light tops, heavy tops, bottoms, bags, dresses, boots)
  -> 2 (clothes, accessories) -> root, as in section V-B of the paper;
- CIFAR-100: 100 classes -> 20 super-classes -> root (from the files' coarse labels).

The benchmark's registry (:func:`ventgen.evaluate.datasets.load_dataset`), scikit-learn's bundled
digits and the paper's split live in :mod:`ventgen.evaluate.datasets`.
"""

from __future__ import annotations

import _compat_pickle
import gzip
import io
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, VentgenValueError
from ..labels import LabelTree, flat_tree

__all__ = [
    "ImageDataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar100",
    "read_idx",
    "check_split",
    "MNIST_CLASSES",
    "MNIST_TREE",
    "FASHION_MNIST_TREE",
    "FASHION_MNIST_CLASSES",
]


@dataclass
class ImageDataset:
    """Images with labels and their true hierarchy.

    Attributes
    ----------
    X : (n, C, H, W) float32 in [0, 1]
    y : (n,) int64 fine class index into ``classes``
    classes : list of str
        Fine class names.
    tree : LabelTree
        True hierarchy over ``classes``.
    name, split : str
    coarse : (n,) int64 or None
        Coarse label index when the files carry one (CIFAR-100).
    """

    X: np.ndarray
    y: np.ndarray
    classes: list
    tree: LabelTree
    name: str = ""
    split: str = ""
    coarse: np.ndarray | None = None
    coarse_classes: list = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """Fine class names per sample (str array), as the metrics and trees use them."""
        return np.asarray(self.classes, dtype=object)[self.y].astype(str)

    def subset(self, idx) -> ImageDataset:
        """A new dataset with the rows ``idx``."""
        idx = np.asarray(idx)
        return ImageDataset(
            self.X[idx],
            self.y[idx],
            self.classes,
            self.tree,
            self.name,
            self.split,
            None if self.coarse is None else self.coarse[idx],
            self.coarse_classes,
        )

    def __repr__(self) -> str:
        return f"ImageDataset({self.name!r}, split={self.split!r}, X={self.X.shape}, {len(self.classes)} classes)"


# ----------------------------------------------------------------------------- hierarchies
MNIST_CLASSES = [str(i) for i in range(10)]
MNIST_TREE = flat_tree(MNIST_CLASSES, name="mnist")

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
#: FashionMNIST's 4-level tree (with the root) of section V-B.
FASHION_MNIST_TREE = LabelTree(
    {
        "T-shirt/top": ["light tops", "clothes"],
        "Shirt": ["light tops", "clothes"],
        "Pullover": ["heavy tops", "clothes"],
        "Coat": ["heavy tops", "clothes"],
        "Trouser": ["bottoms", "clothes"],
        "Dress": ["dresses", "clothes"],
        "Bag": ["bags", "accessories"],
        "Sandal": ["boots", "accessories"],
        "Sneaker": ["boots", "accessories"],
        "Ankle boot": ["boots", "accessories"],
    },
    name="fashion-mnist",
)


# ----------------------------------------------------------------------------- IDX files
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or not.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "x-idx1-ubyte")
    >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FileFormatError(
            path, f"cannot read ({exc}); expected an IDX file, gzip allowed"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise FileFormatError(
            path, "not an IDX file: the first two bytes must be zero (magic number)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise FileFormatError(path, f"unknown IDX data type code 0x{code:02X}")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise FileFormatError(path, f"truncated header: {ndim} dimensions announced")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    need = math.prod(shape) * dtype.itemsize
    if len(raw) - head != need:
        raise FileFormatError(
            path,
            f"header announces shape {shape} ({need} bytes of data), file holds {len(raw) - head}",
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))
    )


_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(root: Path, stem: str, subdir: str) -> Path | None:
    alt = stem.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
    for folder in (root, root / "raw", root / subdir / "raw", root / subdir):
        for name in (stem, stem + ".gz", alt, alt + ".gz"):
            p = folder / name
            if p.is_file():
                return p
    return None


def _load_idx_dataset(root, split: str, name: str, subdir: str, classes, tree) -> ImageDataset:
    split = check_split(split)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise VentgenValueError(
            f"{root}: is a file; --root must be the folder holding the {name} IDX files "
            f"{', '.join(_IDX_STEMS[split])} (.gz allowed)"
        )
    if not root.is_dir():
        raise FileNotFoundError(
            2,
            f"no such folder; expected the {name} IDX files "
            f"{', '.join(_IDX_STEMS[split])} (.gz allowed) there",
            str(root),
        )
    paths = [_find_idx(root, stem, subdir) for stem in _IDX_STEMS[split]]
    if None in paths:
        missing = [s for s, p in zip(_IDX_STEMS[split], paths, strict=False) if p is None]
        raise VentgenValueError(
            f"{root}: {name} {split} files not found: {missing} (looked for them, .gz or not, in {root}, "
            f"{root / 'raw'} and {root / subdir / 'raw'}); ventgen never downloads: copy the original IDX files there"
        )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3:
        raise FileFormatError(
            paths[0], f"expected images of shape (n, rows, cols), got {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise FileFormatError(
            paths[1], f"expected {images.shape[0]} labels (one per image), got shape {labels.shape}"
        )
    if images.dtype != np.uint8:
        raise FileFormatError(paths[0], f"expected unsigned byte pixels (type code 0x08), got {images.dtype}")
    if labels.dtype.kind not in "iu" or (labels.size and not 0 <= labels.min() <= labels.max() < len(classes)):
        raise FileFormatError(
            paths[1], f"labels must be integers in 0..{len(classes) - 1}, got {labels.dtype} values"
        )
    X = (images.astype(np.float32) / 255.0)[:, None]
    return ImageDataset(X, labels.astype(np.int64), list(classes), tree, name, split)


def check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise VentgenValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def load_mnist(root, split: str = "train") -> ImageDataset:
    """MNIST from a folder holding the IDX files (``train-images-idx3-ubyte[.gz]`` ...).

    Also accepts torchvision's layout (``root/MNIST/raw/...`` or ``root/raw/...``).
    """
    return _load_idx_dataset(root, split, "mnist", "MNIST", MNIST_CLASSES, MNIST_TREE)


def load_fashion_mnist(root, split: str = "train") -> ImageDataset:
    """FashionMNIST from its IDX files (same names as MNIST's), with the paper's 4-level tree."""
    return _load_idx_dataset(
        root, split, "fashion-mnist", "FashionMNIST", FASHION_MNIST_CLASSES, FASHION_MNIST_TREE
    )


# ----------------------------------------------------------------------------- CIFAR-100
def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it, and nothing else."""
    if not isinstance(text, str) or str(encoding).lower().replace("-", "") != "latin1":
        raise pickle.UnpicklingError("only latin-1 text may be encoded")
    return text.encode("latin-1")


class _ArrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: an argument of :func:`_array_reconstruct`, never callable."""


def _array_reconstruct(subtype, shape, dtype_code):
    """numpy's ``_reconstruct`` restricted to an empty ndarray that ``__setstate__`` then fills."""
    if subtype is not _ArrayClass or not isinstance(shape, tuple) or math.prod(shape) > 16:
        raise pickle.UnpicklingError("unexpected array reconstruction arguments")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _array_dtype(spec, align=False, copy=True):
    """``numpy.dtype`` of a plain number or text type (no objects, no structured types)."""
    dt = np.dtype(spec) if isinstance(spec, str) and len(spec) <= 8 else None
    if dt is None or dt.kind not in "biufcSU":
        raise pickle.UnpicklingError(f"unexpected array type {spec!r}")
    return dt


def _array_frombuffer(buf, dtype, shape, order):
    """numpy's ``_frombuffer`` (protocol-5 pickles) for a plain dtype."""
    if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple):
        raise pickle.UnpicklingError("unexpected array arguments")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order).copy()


#: The only globals a CIFAR-100 python file may name, mapped to safe stand-ins.
_CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _array_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _array_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _array_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _array_frombuffer,
    ("numpy", "ndarray"): _ArrayClass,
    ("numpy", "dtype"): _array_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _RefusedGlobal(Exception):
    """A global the pickle names, as Python 3 spells it (``posix.system`` shown as ``os.system``)."""

    def __init__(self, module: str, name: str):
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        super().__init__(f"{'os' if module in ('posix', 'nt') else module}.{name}")


class _DataUnpickler(pickle.Unpickler):
    """Unpickler that builds dicts, lists, tuples, bytes, str, numbers and numpy arrays only.

    Any other global a pickle names (``os.system``, ``builtins.exec``, ...) is refused before it is
    imported, so a crafted file cannot run code.
    """

    def find_class(self, module, name):
        try:
            return _CIFAR_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(module, name) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent references are not allowed")


def _unpickle(path: Path) -> dict:
    """Read a CIFAR-100 python pickle without executing anything it names (see :class:`_DataUnpickler`)."""
    raw = path.read_bytes()
    try:
        d = _DataUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _RefusedGlobal as exc:
        raise FileFormatError(
            path,
            f"refusing to load this pickle: it would import {exc} (a CIFAR-100 python file holds only "
            "dicts, lists, bytes, numbers and numpy arrays)",
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failure of the data is a format error for the user
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise FileFormatError(
            path, f"not a CIFAR-100 python pickle ({type(exc).__name__}{': ' + reason if reason else ''})"
        ) from None
    if not isinstance(d, dict):
        raise FileFormatError(path, f"expected a pickled dict, got {type(d).__name__}")
    return {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def _cifar_paths(root: Path, split: str) -> dict:
    if root.exists() and not root.is_dir():
        raise VentgenValueError(
            f"{root}: is a file; --root must be the folder holding cifar-100-python/ (train, test, meta)"
        )
    folder = root / "cifar-100-python" if (root / "cifar-100-python").is_dir() else root
    paths = {k: folder / k for k in (split, "meta")}
    missing = [k for k, p in paths.items() if not p.is_file()]
    if missing:
        raise VentgenValueError(
            f"{root}: CIFAR-100 files not found: {missing} (expected cifar-100-python/train, test and meta, "
            "the python pickle version, in this folder or below it); ventgen never downloads"
        )
    return paths


def _int_labels(path: Path, d: dict, key: str, n: int) -> np.ndarray:
    """``d[key]`` as n labels >= 0 (a list of ints or an integer array), else a one-line error."""
    v = d[key]
    ok = isinstance(v, np.ndarray) and v.dtype.kind in "iu" and v.ndim == 1
    if isinstance(v, (list, tuple)):
        ok = all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**31 for x in v)
    if not ok:
        raise FileFormatError(path, "expected a list of integer labels", field=key)
    out = np.asarray(v, dtype=np.int64)
    if out.shape != (n,) or (n and out.min() < 0):
        raise FileFormatError(
            path, f"expected {n} labels >= 0 (one per image), got shape {out.shape}", field=key
        )
    return out


def _names(path: Path, meta: dict, key: str) -> list:
    v = meta[key]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, (bytes, str)) for x in v):
        raise FileFormatError(path, "expected a list of class names", field=key)
    return [x.decode("latin-1") if isinstance(x, bytes) else x for x in v]


def load_cifar100(root, split: str = "train") -> ImageDataset:
    """CIFAR-100 from the python version (``cifar-100-python/{train,test,meta}``) with fine and coarse labels.

    The tree (100 classes -> 20 super-classes -> root) comes from the files' coarse labels and the
    names from ``meta``. The files are pickles, read with a restricted unpickler that builds plain
    data and numpy arrays only and refuses anything else (a crafted file cannot run code).
    """
    split = check_split(split)
    paths = _cifar_paths(Path(root), split)
    d = _unpickle(paths[split])
    meta = _unpickle(paths["meta"])
    for key in ("data", "fine_labels", "coarse_labels"):
        if key not in d:
            raise FileFormatError(paths[split], f"missing key {key!r}", field=key)
    for key in ("fine_label_names", "coarse_label_names"):
        if key not in meta:
            raise FileFormatError(paths["meta"], f"missing key {key!r}", field=key)
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise FileFormatError(paths[split], f"data must be an (n, 3072) uint8 array, got {got}", field="data")
    fine = _int_labels(paths[split], d, "fine_labels", data.shape[0])
    coarse = _int_labels(paths[split], d, "coarse_labels", data.shape[0])
    fnames = _names(paths["meta"], meta, "fine_label_names")
    cnames = _names(paths["meta"], meta, "coarse_label_names")
    parent: dict[int, int] = {}
    for f, c in zip(fine.tolist(), coarse.tolist(), strict=False):
        if parent.setdefault(f, c) != c:
            raise FileFormatError(
                paths[split], f"fine class {f} appears under two coarse classes ({parent[f]}, {c})"
            )
    if max(parent, default=-1) >= len(fnames) or max(parent.values(), default=-1) >= len(cnames):
        raise FileFormatError(paths[split], "labels out of range of the names in meta")
    tree = LabelTree({fnames[f]: [cnames[c]] for f, c in sorted(parent.items())}, name="cifar100")
    classes = [fnames[i] for i in sorted(parent)]
    # index labels into `classes` (classes absent from the split are dropped from the tree)
    lut = np.full(len(fnames), -1, dtype=np.int64)
    lut[sorted(parent)] = np.arange(len(classes))
    X = data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return ImageDataset(X, lut[fine], classes, tree, "cifar100", split, coarse, cnames)
