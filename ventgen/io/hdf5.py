"""HDF5 recordings: ventgen's own layout, one or many recordings per file.

The layout is documented by ``data_schemas/hdf5_recording.schema.json`` and checked against it (and
against the limits) before anything is read: a link to another file, a dataset that keeps its values
elsewhere, or a declared size over ``MAX_RECORDING_SAMPLES`` is refused with the name of the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .._core import atomic_path
from .._core.limits import MAX_RECORDING_SAMPLES, check_sampling_rate
from .._core.schemas import validate
from ..errors import FileFormatError, SchemaError, VentgenError, VentgenTypeError, VentgenValueError
from ..signals.recording import MARKER_COLUMNS, Recording
from ._common import (
    _check_nan_policy,
    _meta_doc,
    _parse_json,
    _parse_time,
    _validate_annotations,
    _warn_unknown_labels,
)

__all__ = ["read_hdf5", "read_hdf5_all", "write_hdf5"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HDF5_ROOT = "recordings"


def write_hdf5(recs: list[Recording], path: Path, *, overwrite: bool) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        _write_hdf5_file(recs, tmp)


def _write_hdf5_file(recs: list[Recording], tmp) -> None:
    """Write recordings to the (temporary) HDF5 file ``tmp``; the caller renames it into place."""
    docs = [_meta_doc(r, "hdf5") for r in recs]
    for r in recs:
        if len(r.annotations):
            _validate_annotations(r.annotations, f"annotations of recording {r.subject!r}")
    str_dt = h5py.string_dtype("utf-8")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "ventgen-recordings"
        f.attrs["format_version"] = 1
        f.attrs["n_recordings"] = len(recs)
        root = f.create_group(_HDF5_ROOT)
        for i, (r, doc) in enumerate(zip(recs, docs, strict=True)):
            g = root.create_group(f"rec{i:05d}")
            g.attrs["sampling_rate"] = float(r.sampling_rate)
            g.attrs["subject"] = r.subject
            g.attrs["start_time"] = doc["start_time"] or ""
            g.attrs["metadata_json"] = json.dumps(doc["metadata"])
            g.attrs["nan_policy"] = "keep" if r.n_nan else "raise"
            for name, arr, unit in (("flow_lpm", r.flow, "L/min"), ("paw_cmh2o", r.pressure, "cmH2O"),
                                    ("volume_ml", r.volume, "mL")):
                if arr is None:
                    continue
                d = g.create_dataset(name, data=arr, compression="gzip", compression_opts=4,
                                     shuffle=True, chunks=True if arr.size > 1 else None)
                d.attrs["unit"] = unit
            if r.markers is not None:
                mg = g.create_group("markers")
                for c in r.markers.columns:
                    col = r.markers[c]
                    if not pd.api.types.is_numeric_dtype(col):
                        raise VentgenTypeError(f"marker column {c!r} must be numeric to be written to HDF5")
                    mg.create_dataset(str(c), data=col.to_numpy())
            ag = g.create_group("annotations")
            for c in r.annotations.columns:
                col = r.annotations[c]
                if c in ("start_s", "end_s") or pd.api.types.is_float_dtype(col):
                    ag.create_dataset(str(c), data=col.to_numpy(dtype=np.float64))
                else:
                    vals = ["" if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)))
                            else str(v) for v in col.tolist()]
                    ag.create_dataset(str(c), data=np.array(vals, dtype=object), dtype=str_dt)


_ATTR_MAX_VALUES = 4096  # attributes are small metadata: larger ones are not read
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, MemoryError)


def _h5_value(v):
    """An HDF5 attribute value as plain Python (str for bytes, lists for arrays)."""
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_h5_value(x) for x in v.tolist()] if v.dtype.kind in "OSU" else v.tolist()
    if isinstance(v, np.generic):
        return _h5_value(v.item())
    return v


def _h5_attrs(obj) -> dict:
    """Attributes of an HDF5 object as plain values; a huge or unreadable one becomes a note string
    (which then fails the layout check with its name) instead of exhausting memory."""
    out = {}
    try:
        keys = list(obj.attrs.keys())
    except _H5_ERRORS:
        return {"unreadable attributes": "<unreadable>"}
    for k in keys:
        try:
            shape = obj.attrs.get_id(k).shape
            size = math.prod(shape) if shape else 1
            if size > _ATTR_MAX_VALUES:
                out[k] = f"<attribute of {size} values>"
                continue
            out[k] = _h5_value(obj.attrs[k])
        except _H5_ERRORS as exc:
            out[k] = f"<unreadable attribute: {type(exc).__name__}>"
    return out


def _h5_items(group):
    """(name, object) pairs of a group. A link to another file is refused (ventgen reads only what is
    inside the file it is given); a broken link is reported as a FileFormatError by the caller."""
    for k in list(group.keys()):
        link = group.get(k, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise FileFormatError(group.file.filename, "is a link to another file; ventgen reads only what is "
                                  "inside the file it is given", field=f"{group.name.lstrip('/')}/{k}")
        yield k, group[k]


def _describe_h5(f) -> dict:
    """A JSON view of an HDF5 file's layout, checked against ``hdf5_recording.schema.json``."""

    def dset(d):
        shape = [] if d.shape is None else list(d.shape)
        attrs = _h5_attrs(d)
        return {"shape": shape, "dtype": d.dtype.kind, **({"attrs": attrs} if attrs else {})}

    doc = {"attrs": _h5_attrs(f), "recordings": {}}
    root = f.get(_HDF5_ROOT)
    if isinstance(root, h5py.Group):
        for name, g in _h5_items(root):
            if not isinstance(g, h5py.Group):
                doc["recordings"][name] = {"attrs": {}, "datasets": {}, "not_a_group": True}
                continue
            rd = {"attrs": _h5_attrs(g), "datasets": {}}
            for k, d in _h5_items(g):
                if isinstance(d, h5py.Dataset):
                    rd["datasets"][k] = dset(d)
                elif isinstance(d, h5py.Group):
                    rd[k] = {c: dset(x) for c, x in _h5_items(d) if isinstance(x, h5py.Dataset)}
            doc["recordings"][name] = rd
    elif root is not None:
        doc["recordings"] = None
    return doc


def _open_h5(path: Path):
    try:
        return h5py.File(path, "r")
    except _H5_ERRORS as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise FileFormatError(path, f"not a readable HDF5 file (truncated or corrupt?): {msg}") from None


_H5_SIGNALS = ("flow_lpm", "paw_cmh2o", "volume_ml")
_H5_STRING_COLUMNS = ("label", "superclass")


def _h5_column(path, d, field: str, *, strings: bool = False):
    """Check one 1-D dataset of a recording group before anything is read: a dataset (not a group),
    rank 1, at most :data:`MAX_RECORDING_SAMPLES` values, numbers (or strings where ``strings``).
    Returns its length."""
    if not isinstance(d, h5py.Dataset):
        raise FileFormatError(path, "is a group; expected a 1-D dataset", field=field)
    if d.shape is None or len(d.shape) != 1:
        raise FileFormatError(path, f"has shape {d.shape}; expected a 1-D dataset", field=field)
    if d.external:
        raise FileFormatError(path, "keeps its values in another file; ventgen reads only what is inside the "
                              "file it is given", field=field)
    n = int(d.shape[0])
    if n > MAX_RECORDING_SAMPLES:
        raise FileFormatError(path, f"declares {n} values; a recording holds at most {MAX_RECORDING_SAMPLES}",
                              field=field)
    is_str = h5py.check_string_dtype(d.dtype) is not None
    if strings and not is_str:
        raise FileFormatError(path, f"holds {d.dtype} values; expected UTF-8 strings", field=field)
    if not strings and (is_str or d.dtype.kind not in "fiu"):
        what = "strings" if is_str else f"{d.dtype} values"
        raise FileFormatError(path, f"holds {what}; expected numbers", field=field)
    return n


def _h5_table(path, g, name: str, where: str) -> None:
    """Check a ``markers`` or ``annotations`` group: a group of equal-length 1-D columns."""
    if name not in g:
        return
    t = g[name]
    if not isinstance(t, h5py.Group):
        raise FileFormatError(path, "is a dataset; expected a group with one 1-D dataset per column",
                              field=f"{where}/{name}")
    lengths = {}
    for c, d in _h5_items(t):
        strings = name == "annotations" and c in _H5_STRING_COLUMNS
        lengths[c] = _h5_column(path, d, f"{where}/{name}/{c}", strings=strings)
    if len(set(lengths.values())) > 1:
        raise FileFormatError(path, f"columns of different lengths {lengths}; every column needs one value per row",
                              field=f"{where}/{name}")


def _h5_check_recording(path, name: str, g) -> None:
    """Check a recording group's datasets, tables and sampling rate before anything is read."""
    where = f"{_HDF5_ROOT}/{name}"
    for _k, obj in _h5_items(g):  # refuses links to other files before any is followed
        if isinstance(obj, h5py.Group):
            list(_h5_items(obj))
    n = {}
    for sig in _H5_SIGNALS:
        if sig in g:
            n[sig] = _h5_column(path, g[sig], f"{where}/{sig}")
    for sig in _H5_SIGNALS[:2]:
        if sig not in n:
            raise FileFormatError(path, "missing dataset; a recording needs flow_lpm and paw_cmh2o",
                                  field=f"{where}/{sig}")
    for sig, k in n.items():
        if k != n["flow_lpm"]:
            raise FileFormatError(path, f"has {k} samples but flow_lpm has {n['flow_lpm']}; lengths must match",
                                  field=f"{where}/{sig}")
    _h5_table(path, g, "markers", where)
    _h5_table(path, g, "annotations", where)
    rate = _h5_attrs(g).get("sampling_rate")
    if rate is None:
        raise FileFormatError(path, "missing attribute; every recording needs its sampling rate in Hz",
                              field=f"{where}@sampling_rate")
    try:
        check_sampling_rate(rate, "sampling_rate")
    except VentgenValueError as exc:
        raise FileFormatError(path, str(exc), field=f"{where}@sampling_rate") from None


def _cycleset_note(path, f) -> None:
    """A CycleSet file is HDF5 too: say what it is rather than listing layout differences."""
    if "manifest" in f.attrs and _HDF5_ROOT not in f:
        raise FileFormatError(
            path, "is a ventgen CycleSet (breath cycles), not a recording file; read it with "
            "ventgen.read_cycleset (it is the input of 'ventgen train')",
        )


def _hdf5_names(path, f) -> list[str]:
    try:
        _cycleset_note(path, f)
        if isinstance(f.get(_HDF5_ROOT, getlink=True), h5py.ExternalLink):
            raise FileFormatError(path, "is a link to another file; ventgen reads only what is inside the file "
                                  "it is given", field=_HDF5_ROOT)
        root = f.get(_HDF5_ROOT)
        if isinstance(root, h5py.Group):
            for name, g in _h5_items(root):
                if isinstance(g, h5py.Group):
                    _h5_check_recording(path, name, g)
        validate(_describe_h5(f), "hdf5_recording", source=f"{path} (HDF5 layout)")
        return sorted(f[_HDF5_ROOT].keys())
    except SchemaError as exc:
        raise FileFormatError(path, str(exc).replace(f"{path} (HDF5 layout) ", "HDF5 layout ")) from None
    except VentgenError:
        raise
    except _H5_ERRORS as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise FileFormatError(path, f"cannot read the HDF5 layout (truncated or corrupt?): {msg}") from None


def _h5_read(path, group, name: str, field: str):
    """The values of a checked dataset (strings decoded, undecodable bytes replaced)."""
    d = group[name]
    try:
        if h5py.check_string_dtype(d.dtype) is not None:
            return np.asarray(d.asstr(errors="replace")[()], dtype=object)
        return d[()]
    except VentgenError:
        raise
    except MemoryError:
        raise FileFormatError(path, f"not enough memory to read {d.size} values", field=field) from None
    except _H5_ERRORS as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise FileFormatError(path, f"cannot read dataset (truncated or corrupt?): {msg}", field=field) from None


def _h5_frame(path, g, name: str, where: str, order) -> pd.DataFrame | None:
    """A ``markers``/``annotations`` group (already checked) as a DataFrame, known columns first."""
    if name not in g:
        return None
    t = g[name]
    cols = {c: _h5_read(path, t, c, f"{where}/{name}/{c}") for c in t.keys()}
    first = [c for c in order if c in cols]
    return pd.DataFrame({c: cols[c] for c in first + [c for c in cols if c not in first]})


def _read_hdf5_group(path, name, g, *, subject=None, nan_policy=None, max_gap_s=1.0) -> Recording:
    where = f"{_HDF5_ROOT}/{name}"
    flow = _h5_read(path, g, "flow_lpm", f"{where}/flow_lpm")
    pres = _h5_read(path, g, "paw_cmh2o", f"{where}/paw_cmh2o")
    vol = _h5_read(path, g, "volume_ml", f"{where}/volume_ml") if "volume_ml" in g else None
    attrs = _h5_attrs(g)
    md = _parse_json(attrs.get("metadata_json") or "{}", path, field=f"{where}@metadata_json")
    markers = _h5_frame(path, g, "markers", where, MARKER_COLUMNS)
    ann = _h5_frame(path, g, "annotations", where, ("start_s", "end_s", "label", "superclass"))
    if ann is not None and len(ann):
        try:
            _validate_annotations(ann, f"{path}: {where}/annotations")
        except SchemaError as exc:
            raise FileFormatError(path, str(exc), field=f"{where}/annotations") from None
        _warn_unknown_labels(ann, f"{path}, {where}/annotations")
    if nan_policy is None:
        nan_policy = attrs.get("nan_policy", "raise")
    _check_nan_policy(nan_policy)
    try:
        return Recording(
            flow=flow, pressure=pres, sampling_rate=float(attrs["sampling_rate"]), volume=vol,
            subject=attrs.get("subject", "") if subject is None else subject,
            start_time=_parse_time(attrs.get("start_time"), path, f"{where}@start_time"),
            metadata=md, markers=markers, annotations=ann, nan_policy=nan_policy, max_gap_s=max_gap_s,
        )
    except VentgenError as exc:
        raise FileFormatError(path, str(exc).removeprefix("Recording: "), field=where) from None


def read_hdf5_all(path, *, subject=None, nan_policy=None, max_gap_s=1.0, with_names=False) -> list:
    """Every recording of a ventgen HDF5 file, in name order (as (name, Recording) with ``with_names``)."""
    path = Path(path)
    with _open_h5(path) as f:
        names = _hdf5_names(path, f)
        recs = [_read_hdf5_group(path, n, f[_HDF5_ROOT][n], subject=subject, nan_policy=nan_policy,
                                 max_gap_s=max_gap_s) for n in names]
    return list(zip(names, recs, strict=True)) if with_names else recs


def read_hdf5(path, *, index=None, name=None, subject=None, nan_policy=None, max_gap_s=1.0) -> Recording:
    path = Path(path)
    with _open_h5(path) as f:
        names = _hdf5_names(path, f)
        if name is not None:
            if name not in names:
                raise FileFormatError(path, f"no recording named {name!r}; the file holds {names}")
            pick = name
        elif index is not None:
            if not isinstance(index, (int, np.integer)) or not -len(names) <= index < len(names):
                raise VentgenValueError(f"{path}: index must be an int in [0, {len(names)}), got {index!r}")
            pick = names[index]
        else:
            if len(names) != 1:
                raise FileFormatError(
                    path,
                    f"holds {len(names)} recordings; pass index= or name=, or use read_recordings()",
                )
            pick = names[0]
        return _read_hdf5_group(path, pick, f[_HDF5_ROOT][pick], subject=subject, nan_policy=nan_policy,
                                max_gap_s=max_gap_s)
