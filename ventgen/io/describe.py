"""Describe recording files: one row per recording (what ``ventgen info`` prints)."""

from __future__ import annotations

import pandas as pd

from ..errors import VentgenError, VentgenValueError
from ._common import FORMATS, _check_format, _path
from .hdf5 import read_hdf5_all
from .recordings import _recording_files, detect_format, read_recording

__all__ = ["describe_file", "describe_files"]


def describe_file(path, format=None) -> pd.DataFrame:
    """Summarise a recording file: one row per recording it holds.

    Columns: ``file``, ``format``, ``recording`` (name inside the file), ``subject``, ``duration_s``,
    ``sampling_rate``, ``n_samples``, ``channels``, ``n_markers``, ``n_annotations``, ``n_nan``.
    Signals are read with ``nan_policy="keep"`` so that gaps are counted, not refused.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording, describe_file
    >>> p = os.path.join(tempfile.mkdtemp(), "r.h5")
    >>> write_recording(Recording(flow=np.zeros(100), pressure=np.ones(100), sampling_rate=50), p)
    >>> describe_file(p)[["format", "n_samples", "duration_s"]].to_dict("records")
    [{'format': 'hdf5', 'n_samples': 100, 'duration_s': 2.0}]
    """
    path = _path(path)
    fmt = _check_format(format, FORMATS) or detect_format(path)
    if fmt == "hdf5":
        named = read_hdf5_all(path, nan_policy="keep", with_names=True)
    else:
        named = [("", read_recording(path, format=fmt, nan_policy="keep"))]
    rows = []
    for name, r in named:
        rows.append({
            "file": str(path),
            "format": fmt,
            "recording": name,
            "subject": r.subject,
            "duration_s": float(r.duration_s),
            "sampling_rate": float(r.sampling_rate),
            "n_samples": int(r.n_samples),
            "channels": ",".join(r.channels),
            "n_markers": int(r.n_markers),
            "n_annotations": int(len(r.annotations)),
            "n_nan": int(r.n_nan),
        })
    return pd.DataFrame(rows)


def describe_files(paths, format=None, *, errors: str = "raise") -> pd.DataFrame:
    """:func:`describe_file` for many files, one table (what ``ventgen info`` prints).

    Parameters
    ----------
    paths : iterable of path-like
        Files, or folders (each of their recording files is described).
    format : str, optional
        Force one format for every file.
    errors : {"raise", "collect"}
        ``"collect"`` keeps going when a file cannot be read and puts the one-line message in an
        ``error`` column of that file's row (other columns empty).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording, describe_files
    >>> d = tempfile.mkdtemp()
    >>> write_recording(Recording(flow=np.zeros(100), pressure=np.ones(100), sampling_rate=50), os.path.join(d, "a.h5"))
    >>> t = describe_files([os.path.join(d, "a.h5"), os.path.join(d, "nope.csv")], errors="collect")
    >>> [e.endswith("nope.csv: No such file or directory") for e in t["error"]]
    [False, True]
    """
    if errors not in ("raise", "collect"):
        raise VentgenValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
    expanded = []
    for p in paths:
        p = _path(p)
        expanded.extend(_recording_files(p) if p.is_dir() else [p])
    frames = []
    for p in expanded:
        try:
            df = describe_file(p, format=format)
            df["error"] = ""
        except Exception as exc:  # noqa: BLE001 - collected as one line per file (or re-raised)
            if errors == "raise":
                raise
            df = pd.DataFrame([{"file": str(p), "error": _one_line_error(p, exc)}])
        frames.append(df)
    if not frames:
        raise VentgenValueError("describe_files: no files given")
    out = pd.concat(frames, ignore_index=True)
    for c in ("n_samples", "n_markers", "n_annotations", "n_nan"):
        if c in out.columns:
            out[c] = out[c].astype("Int64")
    return out


def _one_line_error(path, exc: BaseException) -> str:
    """The one-line message of an error met while reading ``path`` (for :func:`describe_files`)."""
    if isinstance(exc, VentgenError):
        return str(exc).splitlines()[0] if str(exc) else f"{path}: {type(exc).__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{getattr(exc, 'filename', None) or path}: {exc.strerror}"
    if isinstance(exc, MemoryError):
        return f"{path}: not enough memory to read this file"
    text = (str(exc).splitlines() or [""])[0][:200]
    return f"{path}: cannot read this file ({type(exc).__name__}: {text})"
