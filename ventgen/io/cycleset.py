"""CycleSet files: breath cycles in HDF5, written atomically and checked field by field on read.

Layout (``data_schemas/cycleset.schema.json`` describes the ``manifest`` attribute): datasets ``X``
(float32, n x C x T), ``lengths``, ``labels``, ``superclasses``, ``subjects``, ``source_rate`` and group
``breaths`` with one dataset per metadata column.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from ventgen import CycleSet
>>> cs = CycleSet(np.zeros((2, 2, 10), np.float32), lengths=[5, 10], sampling_rate=25, labels=["apnea", ""])
>>> path = write_cycleset(cs, os.path.join(tempfile.mkdtemp(), "c.h5"))
>>> read_cycleset(path).labels.tolist()
['apnea', '']
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .._core import atomic_path
from .._core.limits import MAX_CYCLE_LENGTH, MAX_CYCLESET_VALUES, check_count, check_sampling_rate
from .._core.schemas import validate
from ..errors import FileFormatError, SchemaError, VentgenError, VentgenTypeError, VentgenValueError
from ..signals.cycles import CycleSet
from ._common import _parse_json
from .hdf5 import _H5_ERRORS

__all__ = ["write_cycleset", "read_cycleset", "write_cycleset_file", "write_breath_table"]

_FORMAT = "ventgen.cycleset"
_FORMAT_VERSION = 1


def write_cycleset(cycles: CycleSet, path, *, overwrite: bool = False) -> Path:
    """Write a CycleSet to an HDF5 file (atomically; refuses to replace a file unless ``overwrite``).

    Returns the path written. Layout: see the module docstring.
    """
    if not isinstance(cycles, CycleSet):
        raise VentgenTypeError(f"write_cycleset: expected a CycleSet, got {type(cycles).__name__}")
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        write_cycleset_file(cycles, tmp)
    return path


def _manifest(cycles: CycleSet) -> dict:
    return {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "n_cycles": len(cycles),
        "n_channels": cycles.n_channels,
        "length": cycles.length,
        "sampling_rate": cycles.sampling_rate,
        "channels": list(cycles.channels),
        "breath_columns": [str(c) for c in cycles.breaths.columns],
        "normalization": None,
    }


def write_cycleset_file(cycles: CycleSet, tmp) -> None:
    """Write the set to the (temporary) file ``tmp``; the caller renames it into place."""
    manifest = _manifest(cycles)
    validate(manifest, "cycleset", source="CycleSet manifest")
    str_dt = h5py.string_dtype("utf-8")
    with h5py.File(tmp, "w", rdcc_nbytes=0) as h:  # no chunk cache: the same bytes whenever X is closed
        h.attrs["manifest"] = json.dumps(manifest)
        h.create_dataset("X", data=cycles.X, compression="gzip", compression_opts=4, shuffle=True)
        h.create_dataset("lengths", data=cycles.lengths)
        h.create_dataset("source_rate", data=cycles.source_rate)
        for name in ("labels", "superclasses", "subjects"):
            h.create_dataset(name, data=np.asarray(getattr(cycles, name), dtype=object), dtype=str_dt)
        g = h.create_group("breaths")
        for col in cycles.breaths.columns:
            v = cycles.breaths[col].to_numpy()
            if v.dtype.kind in "biuf":
                g.create_dataset(str(col), data=v)
            else:
                g.create_dataset(str(col), data=np.asarray([str(x) for x in v], dtype=object), dtype=str_dt)


def write_breath_table(table: pd.DataFrame, tmp) -> None:
    """Write a breath table (one row per breath) as CSV to the (temporary) file ``tmp``."""
    table.to_csv(tmp, index=False)


def read_cycleset(path) -> CycleSet:
    """Read a CycleSet written by :func:`write_cycleset`; errors name the file and the dataset that is wrong.

    Every dataset's declared shape and type is checked against the manifest before it is read
    (a tiny file that declares 10**10 cycles is refused, not allocated).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        h = h5py.File(path, "r")
    except _H5_ERRORS as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise FileFormatError(path, f"not an HDF5 file ({msg})") from None
    try:
        with h:
            manifest = _read_manifest(path, h)
            args = _read_columns(path, h, manifest)
    except VentgenError:
        raise
    except _H5_ERRORS as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise FileFormatError(path, f"cannot read the CycleSet (truncated or corrupt?): {msg}") from None
    try:
        return CycleSet(**args, sampling_rate=manifest["sampling_rate"], channels=manifest["channels"])
    except VentgenError as exc:
        raise FileFormatError(path, str(exc).removeprefix("CycleSet: ")) from None


def _read_manifest(path: Path, h) -> dict:
    """The ``manifest`` attribute of a CycleSet file, checked against its schema and the limits."""
    if "manifest" not in h.attrs:
        raise FileFormatError(path, "no 'manifest' attribute: not a ventgen CycleSet file")
    raw = h.attrs["manifest"]
    if isinstance(raw, (bytes, np.bytes_)):
        raw = bytes(raw).decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise FileFormatError(path, f"expected a JSON string, got {type(raw).__name__}", field="manifest")
    manifest = _parse_json(raw, path, field="manifest")
    try:
        validate(manifest, "cycleset", source=str(path))
    except SchemaError as exc:
        raise FileFormatError(path, str(exc), field="manifest") from None
    try:
        check_sampling_rate(manifest["sampling_rate"], "sampling_rate")
        check_count(manifest["length"], "length", low=2, high=MAX_CYCLE_LENGTH)
    except VentgenValueError as exc:
        raise FileFormatError(path, str(exc), field="manifest") from None
    n, c, t = manifest["n_cycles"], manifest["n_channels"], manifest["length"]
    if n * c * t > MAX_CYCLESET_VALUES:
        raise FileFormatError(path, f"declares {n} x {c} x {t} values; a CycleSet holds at most "
                                    f"{MAX_CYCLESET_VALUES}", field="manifest")
    if len(manifest["channels"]) != c:
        raise FileFormatError(path, f"{len(manifest['channels'])} channel names for n_channels={c}", field="manifest")
    return manifest


def _read_dataset(path: Path, h, name: str, shape: tuple, kind: str, where: str = ""):
    """The values of dataset ``name`` (of group ``where``) after checking it is one (not a group), its
    shape and its type (``kind``: "str" for UTF-8 strings, "any" for numbers or strings, else the numpy
    kind letters accepted)."""
    if isinstance(h.get(name, getlink=True), h5py.ExternalLink):
        raise FileFormatError(path, "is a link to another file; ventgen reads only what is inside the file",
                              field=where + name)
    d = h.get(name)
    name = where + name
    if d is None:
        raise FileFormatError(path, "missing dataset", field=name)
    if not isinstance(d, h5py.Dataset):
        raise FileFormatError(path, f"is a group; expected a dataset of shape {shape}", field=name)
    if d.external:
        raise FileFormatError(path, "keeps its values in another file; ventgen reads only what is inside the file",
                              field=name)
    if d.shape != shape:
        raise FileFormatError(path, f"has shape {d.shape}; the manifest says {shape}", field=name)
    is_str = h5py.check_string_dtype(d.dtype) is not None
    if kind == "str" and not is_str:
        raise FileFormatError(path, f"holds {d.dtype} values; expected UTF-8 strings", field=name)
    if kind == "any" and not (is_str or d.dtype.kind in "biuf"):
        raise FileFormatError(path, f"holds {d.dtype} values; expected numbers or strings", field=name)
    if kind not in ("str", "any") and (is_str or d.dtype.kind not in kind):
        raise FileFormatError(path, f"holds {'strings' if is_str else d.dtype}; expected numbers", field=name)
    try:
        if is_str:
            return np.asarray(d.asstr(errors="replace")[()], dtype=object)
        return d[()]
    except MemoryError:
        raise FileFormatError(path, f"not enough memory to read {d.size} values", field=name) from None


def _read_columns(path: Path, h, manifest: dict) -> dict:
    """X, lengths, labels, subjects, breath metadata ... of a CycleSet file, as constructor arguments."""
    n, c, t = manifest["n_cycles"], manifest["n_channels"], manifest["length"]
    X = _read_dataset(path, h, "X", (n, c, t), "fiu")
    lengths = _read_dataset(path, h, "lengths", (n,), "iu")
    if n and (lengths.min() < 1 or lengths.max() > t):
        raise FileFormatError(path, f"cycle lengths must lie in [1, {t}], found {lengths.min()}..{lengths.max()}",
                              field="lengths")
    out = {"X": X, "lengths": lengths}
    for name in ("labels", "superclasses", "subjects"):
        out[name] = _read_dataset(path, h, name, (n,), "str")
    out["source_rate"] = _read_dataset(path, h, "source_rate", (n,), "fiu") if "source_rate" in h else None
    g = h.get("breaths")
    if g is None or not isinstance(g, h5py.Group):
        raise FileFormatError(path, "missing group; expected one dataset per breath column" if g is None
                              else "is a dataset; expected a group with one dataset per breath column", field="breaths")
    cols = {}
    for col in manifest["breath_columns"]:
        if col not in g:
            raise FileFormatError(path, "breath column listed in the manifest is missing", field=f"breaths/{col}")
        cols[col] = _read_dataset(path, g, col, (n,), "any", where="breaths/")
    out["breaths"] = pd.DataFrame(cols, columns=manifest["breath_columns"], index=range(n))
    return out
