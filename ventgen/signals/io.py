"""Readers and writers of recording files: CSV, HDF5 and PB-840 text (read-only).

This module is the only place in ventgen that opens signal files. Every reader returns
:class:`~ventgen.signals.recording.Recording` objects in ventgen's fixed units (flow L/min, pressure
cmH2O, volume mL, time s); every writer is atomic and refuses to overwrite unless told to.

Formats
-------
``csv``
    One row per sample with a header. Columns are found by name; names carry their unit
    (``flow_lpm``, ``flow_lps``, ``flow_mlps``, ``paw_cmh2o``, ``paw_hpa``, ``paw_mbar``, ``volume_ml``,
    ``time_s``, ``time_ms``, or ``"Flow (L/s)"``-style). A column without a unit needs an explicit
    ``*_unit=`` argument: ventgen refuses to guess. The rate comes from a time column, from
    ``sampling_rate=``, or from the side file ``<stem>.meta.json`` that ventgen writes. Annotations
    live in ``<stem>.annotations.csv`` and device markers in ``<stem>.markers.csv``.
``hdf5``
    ventgen's own layout (one or many recordings per file), documented by
    ``data_schemas/hdf5_recording.schema.json`` and checked against it on read.
``pb840``
    Text exported from a Puritan Bennett 840 ventilator: ``flow, pressure`` lines at 50 Hz, ``BS, S:<n>,``
    / ``BE`` breath marks kept as device markers, optional timestamp lines, a 3-column variant with a
    timestamp on every line. Junk lines, null bytes and undecodable bytes are skipped with a warning that
    counts them. The whole file is parsed as one byte buffer with vectorised numpy and pandas' C parser.
"""

from __future__ import annotations

import io as _io
import json
import math
import re
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import atomic_path, atomic_paths, json_default
from .._core.limits import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_RECORDING_SAMPLES,
    SAMPLING_RATE_HZ,
    check_sampling_rate,
)
from .._core.schemas import validate
from ..errors import (
    DataRecoveryWarning,
    FileFormatError,
    SchemaError,
    VentgenError,
    VentgenTypeError,
    VentgenValueError,
    VentgenWarning,
)
from ..labels import VENTILATION_CLASSES, VENTILATION_SUPERCLASSES
from .recording import MARKER_COLUMNS, NAN_POLICIES, Recording

__all__ = [
    "FORMATS",
    "WRITE_FORMATS",
    "PB840_SAMPLING_RATE",
    "FLOW_UNITS",
    "PRESSURE_UNITS",
    "VOLUME_UNITS",
    "detect_format",
    "read_recording",
    "read_recordings",
    "write_recording",
    "write_recordings",
    "describe_file",
    "describe_files",
    "convert_file",
]

#: Formats ventgen reads.
FORMATS = ("csv", "hdf5", "pb840")
#: Formats ventgen writes (PB-840 text is read-only).
WRITE_FORMATS = ("csv", "hdf5")
#: The PB-840 streams its waveforms at a fixed 50 Hz (one sample every 0.02 s).
PB840_SAMPLING_RATE = 50.0

#: Factors that convert each accepted unit into ventgen's unit (L/min, cmH2O, mL).
FLOW_UNITS = {"L/min": 1.0, "L/s": 60.0, "mL/s": 0.06}
PRESSURE_UNITS = {"cmH2O": 1.0, "hPa": 1.0197162129779282, "mbar": 1.0197162129779282}
VOLUME_UNITS = {"mL": 1.0, "L": 1000.0}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3}

# spellings accepted for each unit (lower case, as found in a column name suffix or a *_unit argument)
_UNIT_ALIASES = {
    "flow": {"l/min": "L/min", "lpm": "L/min", "lmin": "L/min", "l/s": "L/s", "lps": "L/s", "ls": "L/s",
             "ml/s": "mL/s", "mlps": "mL/s", "mls": "mL/s"},
    "pressure": {"cmh2o": "cmH2O", "hpa": "hPa", "mbar": "mbar"},
    "volume": {"ml": "mL", "l": "L"},
    "time": {"s": "s", "sec": "s", "ms": "ms"},
}
_UNIT_TABLES = {"flow": FLOW_UNITS, "pressure": PRESSURE_UNITS, "volume": VOLUME_UNITS, "time": _TIME_UNITS}
# base names of each channel's column
_BASES = {
    "flow": ("flow",),
    "pressure": ("paw", "pressure", "p_aw", "airway_pressure"),
    "volume": ("volume", "vol"),
    "time": ("time", "t"),
}
_CANONICAL = {"flow": "flow_lpm", "pressure": "paw_cmh2o", "volume": "volume_ml", "time": "time_s"}
_SUFFIXES = {".h5": "hdf5", ".hdf5": "hdf5", ".he5": "hdf5", ".csv": "csv", ".tsv": "csv", ".txt": "csv"}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_SIDE_SUFFIXES = (".annotations.csv", ".markers.csv", ".meta.json")


# ============================================================================ helpers
def _path(path) -> Path:
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise VentgenTypeError(f"path must be a str or path-like, got {type(path).__name__}")
    return Path(path)


def _check_format(format, allowed, what="format") -> str | None:
    if format is None:
        return None
    f = str(format).lower().replace("-", "").replace("_", "")
    f = {"h5": "hdf5", "pb840text": "pb840", "pb": "pb840"}.get(f, f)
    if f not in allowed:
        raise VentgenValueError(f"unknown {what} {format!r}; expected one of {', '.join(allowed)}")
    return f


def _normalise_unit(kind: str, unit, *, where: str) -> str:
    key = str(unit).strip().lower().replace(" ", "")
    canon = _UNIT_ALIASES[kind].get(key)
    if canon is None:
        raise VentgenValueError(
            f"{where}: unknown {kind} unit {unit!r}; expected one of {', '.join(_UNIT_TABLES[kind])}"
        )
    return canon


def _side_path(path: Path, suffix: str) -> Path:
    name = path.name
    stem = name[: -len(path.suffix)] if path.suffix else name
    return path.with_name(stem + suffix)


def detect_format(path) -> str:
    """Tell the format of a recording file from its first bytes (and, failing that, its suffix).

    Returns one of :data:`FORMATS`. HDF5 is recognised by its signature; PB-840 text by breath marks,
    timestamp lines or header-less ``flow, pressure`` lines; CSV by a header line of column names.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> _ = open(p, "w").write("BS, S:1,\\n1.0, 5.0\\nBE\\n")
    >>> detect_format(p)
    'pb840'
    """
    path = _path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory; use read_recordings() for folders", str(path))
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if not head:
        raise FileFormatError(path, "empty file (0 bytes)")
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix == "hdf5":
        return "hdf5"
    chunk = head[:2048].replace(b"\x00", b"").replace(b"\r", b"\n").split(b"\n", 40)
    lines = [ln.strip() for ln in (chunk[:-1] if len(chunk) > 1 else chunk)]
    lines = [ln for ln in lines if ln][:20]
    for ln in lines:
        if _PB_MARK_RE.match(ln) or _PB_TS_RE.fullmatch(ln) or _PB3_PREFIX_RE.match(ln):
            return "pb840"
    if lines and _PB_DATA_RE.fullmatch(lines[0]):
        return "pb840"
    if lines and re.match(rb"\s*[\"']?[A-Za-z_]", lines[0]):
        return "csv"
    if by_suffix:
        return by_suffix
    raise FileFormatError(path, f"cannot tell the format; pass format= (CLI: --format) one of {', '.join(FORMATS)}")


# ============================================================================ public API
def read_recording(path, format=None, **kw) -> Recording:
    """Read one recording from a CSV, HDF5 or PB-840 text file.

    Parameters
    ----------
    path : str or path-like
        The file.
    format : {"csv", "hdf5", "pb840"}, optional
        The file format; detected from the content when omitted (see :func:`detect_format`).
    **kw
        Options of the format's reader. Common: ``subject`` (default: from the file or its stem),
        ``nan_policy`` (see :class:`Recording`). CSV: ``sampling_rate``, ``time_column``, ``flow_column``,
        ``pressure_column``, ``volume_column``, ``time_unit``, ``flow_unit`` ("L/min", "L/s", "mL/s"),
        ``pressure_unit`` ("cmH2O", "hPa", "mbar"), ``volume_unit`` ("mL", "L"), ``delimiter``,
        ``annotations`` (path of an annotation CSV, default the side file ``<stem>.annotations.csv``
        when present; False to ignore). HDF5: ``index`` or ``name`` of the recording when the file holds
        several. PB-840: ``sampling_rate`` (default 50 Hz, the device's rate).

    Returns
    -------
    Recording

    Raises
    ------
    FileFormatError
        The file cannot be read as that format; the message names the file and the line or field.
        Declared sizes are checked before anything is read (at most ``MAX_RECORDING_SAMPLES`` samples)
        and every sampling rate, given or read, must be in ``SAMPLING_RATE_HZ`` (10-1000 Hz).
    VentgenTypeError
        An option the format does not take (e.g. ``flow_unit`` for an HDF5 file); the message lists
        the options it does take.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, read_recording, write_recording
    >>> t = np.arange(0, 4, 0.02)
    >>> rec = Recording(flow=30 * np.sin(np.pi * t), pressure=5 + t, sampling_rate=50, subject="p1")
    >>> p = os.path.join(tempfile.mkdtemp(), "p1.csv")
    >>> write_recording(rec, p)
    >>> read_recording(p).equals(rec)
    True
    """
    path = _path(path)
    fmt = _check_format(format, FORMATS) or detect_format(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    _check_options(path, fmt, kw)
    reader = {"csv": _read_csv, "hdf5": _read_hdf5_one, "pb840": _read_pb840}[fmt]
    return reader(path, **kw)


#: The options each reader accepts (see :func:`read_recording`).
_READER_OPTIONS = {
    "csv": ("sampling_rate", "time_column", "flow_column", "pressure_column", "volume_column", "time_unit",
            "flow_unit", "pressure_unit", "volume_unit", "delimiter", "annotations", "markers", "subject",
            "nan_policy", "max_gap_s"),
    "hdf5": ("index", "name", "subject", "nan_policy", "max_gap_s"),
    "pb840": ("sampling_rate", "subject", "nan_policy", "max_gap_s"),
}


def _check_options(path, fmt: str, kw: dict) -> None:
    """Refuse reader options that do not fit the format (one line naming them and the accepted ones),
    and check a given sampling rate against the one rule of :func:`ventgen._core.limits.check_sampling_rate`."""
    unknown = [k for k in kw if k not in _READER_OPTIONS[fmt]]
    if unknown:
        def cli(k):
            return f"{k} (--{k.replace('_', '-')})"

        raise VentgenTypeError(
            f"{path}: option(s) {', '.join(cli(k) for k in unknown)} do not apply to {fmt} files; "
            f"{fmt} accepts {', '.join(_READER_OPTIONS[fmt])}"
        )
    if kw.get("sampling_rate") is not None:
        if isinstance(kw["sampling_rate"], bool) or not isinstance(kw["sampling_rate"], (int, float, np.number)):
            raise VentgenTypeError(
                f"sampling_rate must be a number of Hz, got {type(kw['sampling_rate']).__name__}"
            )
        check_sampling_rate(kw["sampling_rate"], "sampling_rate")


#: Tables that a ventgen cohort folder (written by ``write_cohort``, marked by ``cohort.json``) holds
#: beside its recordings; they are not recordings.
_COHORT_TABLES = ("manifest.csv", "node_labels.csv")


def _recording_files(folder: Path) -> list[Path]:
    """The files of a folder that may be recordings (not hidden, not CSV side files, not JSON/docs,
    not the tables of a generated cohort folder)."""
    cohort = (folder / "cohort.json").is_file()
    return sorted(
        f for f in folder.iterdir()
        if f.is_file() and not f.name.startswith(".") and not f.name.endswith(_SIDE_SUFFIXES)
        and f.suffix.lower() not in (".json", ".md", ".pt")
        and not (cohort and f.name in _COHORT_TABLES)
    )


def read_recordings(path, format=None, **kw) -> list[Recording]:
    """Read every recording of a file or of a folder.

    An HDF5 file may hold many recordings; a CSV or PB-840 file holds one. A folder is read file by
    file (sorted by name; CSV side files are not recordings), with a progress bar.

    Parameters
    ----------
    path : str or path-like
        A file or a folder.
    format : str, optional
        Force one format for every file (otherwise detected per file).
    **kw
        Passed to each file's reader (see :func:`read_recording`).

    Returns
    -------
    list of Recording

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, read_recordings, write_recordings
    >>> recs = [Recording(flow=np.ones(100) * i, pressure=np.full(100, 5.0), sampling_rate=50,
    ...                   subject=f"s{i}") for i in range(3)]
    >>> p = os.path.join(tempfile.mkdtemp(), "cohort.h5")
    >>> _ = write_recordings(recs, p)
    >>> [r.subject for r in read_recordings(p)]
    ['s0', 's1', 's2']
    """
    from .._core import progress

    path = _path(path)
    if path.is_dir():
        files = _recording_files(path)
        out: list[Recording] = []
        for f in progress(files, desc="reading"):
            out.extend(read_recordings(f, format=format, **kw))
        return out
    fmt = _check_format(format, FORMATS) or detect_format(path)
    if fmt == "hdf5" and "index" not in kw and "name" not in kw:
        _check_options(path, fmt, kw)
        return _read_hdf5_all(path, **kw)
    return [read_recording(path, format=fmt, **kw)]


def write_recording(rec: Recording, path, format=None, overwrite: bool = False) -> None:
    """Write one recording as CSV (plus side files) or HDF5, atomically.

    Parameters
    ----------
    rec : Recording
    path : str or path-like
        Destination; the format follows the suffix (``.csv``; ``.h5``/``.hdf5``) unless given.
    format : {"csv", "hdf5"}, optional
    overwrite : bool
        Replace existing files; otherwise an existing destination raises :class:`FileExistsError`.

    Notes
    -----
    CSV writes ``<stem>.csv`` (``time_s, flow_lpm, paw_cmh2o[, volume_ml]``), ``<stem>.meta.json``
    (rate, subject, start time, units, metadata), and, when present, ``<stem>.annotations.csv`` and
    ``<stem>.markers.csv``. Values are written with full precision, so a round trip is exact.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording, read_recording
    >>> rec = Recording(flow=np.zeros(50), pressure=np.full(50, 5.0), sampling_rate=50)
    >>> p = os.path.join(tempfile.mkdtemp(), "r.h5")
    >>> write_recording(rec, p)
    >>> read_recording(p).n_samples
    50
    """
    if not isinstance(rec, Recording):
        raise VentgenTypeError(f"write_recording: expected a Recording, got {type(rec).__name__}")
    path = _path(path)
    fmt = _write_format(path, format)
    if fmt == "csv":
        _write_csv(rec, path, overwrite=overwrite)
    else:
        _write_hdf5([rec], path, overwrite=overwrite)


def write_recordings(recs, path, format=None, overwrite: bool = False) -> list[Path]:
    """Write many recordings: all in one HDF5 file, or one file each in a folder.

    Parameters
    ----------
    recs : iterable of Recording
    path : str or path-like
        An ``.h5``/``.hdf5`` file (all recordings in it), or a folder (one file per recording, named
        ``<subject>.<ext>`` or ``rec<i>.<ext>`` when subjects are missing or repeated).
    format : {"csv", "hdf5"}, optional
        Format of the files in a folder (default ``hdf5``); for a file path, the suffix decides.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recordings
    >>> recs = [Recording(flow=np.zeros(50), pressure=np.ones(50), sampling_rate=50, subject=s)
    ...         for s in ("a", "b")]
    >>> [p.name for p in write_recordings(recs, os.path.join(tempfile.mkdtemp(), "out"), format="csv")]
    ['a.csv', 'b.csv']
    """
    recs = list(recs)
    for i, r in enumerate(recs):
        if not isinstance(r, Recording):
            raise VentgenTypeError(f"write_recordings: item {i} is a {type(r).__name__}, not a Recording")
    if not recs:
        raise VentgenValueError("write_recordings: no recordings to write")
    path = _path(path)
    fmt = _check_format(format, WRITE_FORMATS, "output format")
    if _SUFFIXES.get(path.suffix.lower()) == "hdf5" and fmt in (None, "hdf5"):
        _write_hdf5(recs, path, overwrite=overwrite)
        return [path]
    if path.suffix.lower() == ".csv" and not path.is_dir():
        raise VentgenValueError(
            f"{path}: a CSV file holds one recording; give a folder (or an .h5 file) for {len(recs)} recordings"
        )
    fmt = fmt or "hdf5"
    ext = ".csv" if fmt == "csv" else ".h5"
    path.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    seen: set[str] = set()
    for i, r in enumerate(recs):
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", r.subject).strip("._") or f"rec{i:04d}"
        if base in seen:
            base = f"{base}_{i:04d}"
        seen.add(base)
        names.append(base)
    targets = [path / (n + ext) for n in names]
    return _write_recording_set(recs, targets, fmt, overwrite=overwrite)  # all files or none


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
        named = _read_hdf5_all(path, nan_policy="keep", with_names=True)
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


def convert_file(src, dst, to=None, *, format=None, overwrite: bool = False, **read_kw) -> list[Path]:
    """Convert a recording file to CSV or HDF5 (what ``ventgen convert`` does).

    Parameters
    ----------
    src : path-like
        Input file (CSV, HDF5 or PB-840 text) or folder.
    dst : path-like
        Output: an ``.h5``/``.hdf5`` file (every recording in it), a ``.csv`` file (one recording), or a
        folder (one file per recording).
    to : {"csv", "hdf5"}, optional
        Output format; by default from the suffix of ``dst``.
    format : str, optional
        Input format (detected when omitted).
    overwrite : bool
        Replace existing output files.
    **read_kw
        Reader options (``sampling_rate``, ``flow_unit``, ``flow_column`` ... see :func:`read_recording`).

    Returns
    -------
    list of Path
        Files written (CSV side files not listed).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording, convert_file
    >>> d = tempfile.mkdtemp()
    >>> write_recording(Recording(flow=np.zeros(100), pressure=np.ones(100), sampling_rate=50), os.path.join(d, "a.h5"))
    >>> [p.name for p in convert_file(os.path.join(d, "a.h5"), os.path.join(d, "a.csv"))]
    ['a.csv']
    """
    src, dst = _path(src), _path(dst)
    to = _check_format(to, FORMATS, "output format")
    if to == "pb840":
        raise VentgenValueError("PB-840 text is read-only in ventgen; convert to csv or hdf5")
    by_suffix = _SUFFIXES.get(dst.suffix.lower()) if dst.suffix.lower() in (".csv", ".h5", ".hdf5") else None
    if to is None:
        to = by_suffix
        if to is None:
            raise VentgenValueError(
                f"{dst}: cannot tell the output format; use a .csv/.h5 suffix or pass --to csv|hdf5"
            )
    if not src.exists():
        raise FileNotFoundError(2, "No such file or directory", str(src))
    recs = read_recordings(src, format=format, **read_kw)
    if not recs:
        raise VentgenValueError(f"{src}: no recording file found; nothing converted")
    if to == "hdf5" and by_suffix == "hdf5":
        _write_hdf5(recs, dst, overwrite=overwrite)
        return [dst]
    if by_suffix == to and len(recs) == 1:
        write_recording(recs[0], dst, format=to, overwrite=overwrite)
        return [dst]
    if by_suffix is not None:
        raise VentgenValueError(
            f"{dst}: {src} holds {len(recs)} recordings; write them to an .h5 file or to a folder"
            if len(recs) > 1 else f"{dst}: the suffix says {by_suffix} but --to says {to}"
        )
    return write_recordings(recs, dst, format=to, overwrite=overwrite)


def _write_format(path: Path, format) -> str:
    fmt = _check_format(format, FORMATS, "output format")
    if fmt == "pb840":
        raise VentgenValueError("PB-840 text is read-only in ventgen; write csv or hdf5")
    if fmt is None:
        fmt = _SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise VentgenValueError(
                f"{path}: cannot tell the output format from the suffix {path.suffix!r}; "
                "use .csv, .h5 or .hdf5, or pass format='csv'|'hdf5'"
            )
    return fmt


def _make_recording(path, **kw) -> Recording:
    """Build a Recording, turning its validation errors into errors that name the file."""
    try:
        return Recording(**kw)
    except FileFormatError:
        raise
    except VentgenError as exc:
        msg = str(exc)
        if msg.startswith("Recording: "):
            msg = msg[len("Recording: "):]
        raise FileFormatError(path, msg) from None


def _check_nan_policy(nan_policy):
    if nan_policy not in NAN_POLICIES:
        raise VentgenValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")


# ============================================================================ metadata documents
def _meta_doc(rec: Recording, fmt: str) -> dict:
    doc = {
        "format": f"ventgen-{fmt}",
        "format_version": 1,
        "sampling_rate": float(rec.sampling_rate),
        "subject": rec.subject,
        "start_time": None if rec.start_time is None else pd.Timestamp(rec.start_time).isoformat(),
        "n_samples": int(rec.n_samples),
        "channels": rec.channels,
        "units": {"flow_lpm": "L/min", "paw_cmh2o": "cmH2O", "time_s": "s"}
        | ({"volume_ml": "mL"} if rec.volume is not None else {}),
        "metadata": _jsonable(rec.metadata, "Recording.metadata"),
    }
    validate(doc, "recording_metadata", source=f"metadata of recording {rec.subject!r}")
    return doc


def _jsonable(obj, what: str):
    try:
        return json.loads(json.dumps(obj, default=json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise VentgenTypeError(f"{what} must be JSON-serialisable (finite numbers, str, list, dict): {exc}") from None


def _json_depth(doc) -> int:
    """Nesting depth of a parsed JSON document (iteratively: no recursion)."""
    depth, stack = 0, [(doc, 1)]
    while stack:
        obj, d = stack.pop()
        if isinstance(obj, (dict, list)):
            depth = max(depth, d)
            if depth > MAX_JSON_DEPTH:
                return depth
            stack.extend((v, d + 1) for v in (obj.values() if isinstance(obj, dict) else obj))
    return depth


def _parse_json(raw, path, field: str | None = None, want=dict):
    """A small JSON document of a recording file (side file or attribute), within the JSON limits."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_JSON_BYTES:
        raise FileFormatError(path, f"JSON document of {len(raw)} bytes; at most {MAX_JSON_BYTES} are read",
                              field=field)
    try:
        doc = json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        msg = (f"nested too deeply (at most {MAX_JSON_DEPTH} levels)" if isinstance(exc, RecursionError)
               else (str(exc).splitlines() or [""])[0][:200])
        raise FileFormatError(path, f"not valid JSON: {msg}", field=field) from None
    if _json_depth(doc) > MAX_JSON_DEPTH:
        raise FileFormatError(path, f"JSON nested more than {MAX_JSON_DEPTH} levels deep", field=field)
    if want is not None and not isinstance(doc, want):
        raise FileFormatError(path, f"expected a JSON object, got a {type(doc).__name__}", field=field)
    return doc


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _parse_time(value, path, field):
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise FileFormatError(path, f"start_time {value!r} is not an ISO 8601 date-time", field=field) from None


def _ann_records(ann: pd.DataFrame) -> list[dict]:
    cols = [c for c in ann.columns]
    out = []
    for row in ann[cols].itertuples(index=False, name=None):
        d = {}
        for c, v in zip(cols, row, strict=True):
            if isinstance(v, (np.floating, float)):
                v = float(v)
                if not math.isfinite(v):
                    v = None
            elif isinstance(v, np.integer):
                v = int(v)
            elif v is pd.NA or v is None:
                v = None
            else:
                v = str(v) if not isinstance(v, (int, float)) else v
            d[c] = v
        out.append(d)
    return out


def _validate_annotations(ann: pd.DataFrame, source) -> None:
    """Check an annotation table against ``data_schemas/annotations.schema.json``."""
    validate(_ann_records(ann), "annotations", source=str(source))


_KNOWN_LABELS = frozenset(VENTILATION_CLASSES) | frozenset(VENTILATION_SUPERCLASSES)


def _warn_unknown_labels(ann: pd.DataFrame | None, source) -> None:
    """Warn (one line) about annotation labels outside the ventilation hierarchy; they are kept."""
    if ann is None or len(ann) == 0 or "label" not in ann.columns:
        return
    labels = ann["label"].astype(str)
    unknown = labels[~labels.isin(_KNOWN_LABELS)]
    if len(unknown) == 0:
        return
    counts = unknown.value_counts(sort=True)
    shown = ", ".join(f"{k[:60]!r} (x{v})" for k, v in counts.head(5).items())
    more = f" and {len(counts) - 5} other label(s)" if len(counts) > 5 else ""
    warnings.warn(
        f"{source}: {len(unknown)} annotation(s) with labels not in the ventilation hierarchy: {shown}{more}; "
        "kept as they are",
        VentgenWarning,
        stacklevel=4,
    )


# ============================================================================ CSV
_UNIT_IN_NAME = re.compile(r"^\s*(.*?)\s*[\[(]\s*([^\])]+?)\s*[\])]\s*$")


def _split_column(name: str) -> tuple[str, str | None]:
    """``"flow_lps"`` -> ("flow", "lps"); ``"Flow (L/s)"`` -> ("flow", "l/s"); ``"flow"`` -> ("flow", None)."""
    s = str(name).strip()
    m = _UNIT_IN_NAME.match(s)
    if m:
        return m.group(1).strip().lower().replace(" ", "_"), m.group(2).strip().lower().replace(" ", "")
    low = s.lower().replace(" ", "_")
    for kind, bases in _BASES.items():
        for b in bases:
            if low == b:
                return b, None
            if low.startswith(b + "_"):
                suffix = low[len(b) + 1:]
                if suffix in _UNIT_ALIASES[kind]:
                    return b, suffix
    return low, None


def _find_column(columns, kind: str, explicit, unit, path) -> tuple[str | None, str | None]:
    """The column holding channel ``kind`` and its canonical unit (or None when absent)."""
    if explicit is not None:
        if explicit not in columns:
            raise FileFormatError(
                path, f"no column {explicit!r} for {kind}; columns are {list(columns)}", line=1
            )
        col = explicit
        _, name_unit = _split_column(col)
    else:
        col = None
        name_unit = None
        for c in columns:
            base, u = _split_column(c)
            if base in _BASES[kind]:
                col, name_unit = c, u
                break
        if col is None:
            return None, None
    if unit is not None:
        canon = _normalise_unit(kind, unit, where=f"{path}: {kind}_unit")
        if name_unit is not None and name_unit in _UNIT_ALIASES[kind]:
            if _UNIT_ALIASES[kind][name_unit] != canon:
                raise FileFormatError(
                    path,
                    f"{kind}_unit={unit!r} contradicts the unit in the column name {col!r}",
                    line=1, field=col,
                )
        return col, canon
    if name_unit is None:
        raise FileFormatError(
            path,
            f"the unit of the {kind} column is not declared; name it "
            f"{'/'.join(_BASES[kind][0] + '_' + a for a in list(_UNIT_ALIASES[kind])[:3])}... or pass "
            f"{kind}_unit= one of {', '.join(_UNIT_TABLES[kind])} (ventgen does not guess units)",
            line=1, field=col,
        )
    canon = _UNIT_ALIASES[kind].get(name_unit)
    if canon is None:
        raise FileFormatError(
            path,
            f"unknown {kind} unit {name_unit!r} in the column name; expected one of "
            f"{', '.join(_UNIT_TABLES[kind])}",
            line=1, field=col,
        )
    return col, canon


def _numeric_column(df: pd.DataFrame, col: str, path, first_line: int) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        num = pd.to_numeric(s, errors="coerce")
    except (OverflowError, ValueError, TypeError):  # e.g. an integer wider than a float: value by value
        num = pd.Series([_as_float(v) for v in s.tolist()], index=s.index, dtype=np.float64)
    bad = num.isna() & s.notna() & (s.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise FileFormatError(
            path, f"expected a number, found {str(s.iloc[i])[:40]!r}", line=first_line + i, field=col
        )
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_delimiter(delimiter) -> str:
    """A field separator: one character, not a line break or a quote."""
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\n\r\"\x00":
        raise VentgenValueError(
            f"delimiter (--delimiter) must be one character other than a line break, a quote or NUL "
            f"(e.g. ',', ';', '\\t'), got {delimiter!r}"
        )
    return delimiter


def _as_float(v) -> float:
    """``float(v)``, or NaN when ``v`` is not a number a float can hold."""
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _read_csv_table(path, delimiter) -> pd.DataFrame:
    try:
        return pd.read_csv(
            path, sep=delimiter, engine="c", skipinitialspace=True, encoding="utf-8-sig",
            encoding_errors="strict", low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise FileFormatError(path, "empty file: expected a header line of column names") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            path, f"not UTF-8 text (undecodable byte at offset {exc.start}); is it a binary file?"
        ) from None
    except pd.errors.ParserError as exc:
        msg = (str(exc).strip().splitlines() or ["unreadable"])[-1]
        m = re.search(r"line (\d+)", msg)
        raise FileFormatError(path, f"malformed CSV: {msg}", line=int(m.group(1)) if m else None) from None
    except (ValueError, OverflowError) as exc:
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise FileFormatError(path, f"malformed CSV: {msg}") from None
    except MemoryError:
        raise FileFormatError(path, "not enough memory to read this CSV file") from None


def _side_table(path: Path, given, suffix: str, reader):
    """A side table of a CSV recording (annotations, markers) and the file it came from.

    ``given`` None: the side file ``<stem><suffix>`` when it exists; False: none; a DataFrame: itself;
    a path: that file, which must exist. Returns ``(table or None, source path or None)``.
    """
    if given is False:
        return None, None
    if isinstance(given, pd.DataFrame):
        return given, None
    if given is None:
        src = _side_path(path, suffix)
        return (reader(src), src) if src.is_file() else (None, None)
    src = Path(given)
    if not src.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(src))
    return reader(src), src


def _read_csv(
    path,
    *,
    sampling_rate=None,
    time_column=None,
    flow_column=None,
    pressure_column=None,
    volume_column=None,
    time_unit=None,
    flow_unit=None,
    pressure_unit=None,
    volume_unit=None,
    delimiter=",",
    annotations=None,
    markers=None,
    subject=None,
    nan_policy="raise",
    max_gap_s=1.0,
) -> Recording:
    _check_nan_policy(nan_policy)
    _check_delimiter(delimiter)
    path = Path(path)
    meta_path = _side_path(path, ".meta.json")
    meta = None
    if meta_path.is_file():
        try:
            raw = meta_path.read_bytes()
        except OSError as exc:
            raise FileFormatError(meta_path, f"cannot read: {exc.strerror}") from None
        meta = _parse_json(raw, meta_path)
        try:
            validate(meta, "recording_metadata", source=str(meta_path))
        except SchemaError as exc:
            raise FileFormatError(meta_path, str(exc)) from None
        try:
            check_sampling_rate(meta["sampling_rate"], "sampling_rate")
        except VentgenValueError as exc:
            raise FileFormatError(meta_path, str(exc), field="sampling_rate") from None
    df = _read_csv_table(path, delimiter)
    if df.shape[0] == 0:
        raise FileFormatError(path, "no data rows after the header", line=2)
    if df.shape[0] > MAX_RECORDING_SAMPLES:
        raise FileFormatError(path, f"{df.shape[0]} data rows; a recording holds at most {MAX_RECORDING_SAMPLES} samples")
    cols = list(df.columns)
    found = {}
    units = {}
    for kind, explicit, unit in (
        ("flow", flow_column, flow_unit),
        ("pressure", pressure_column, pressure_unit),
        ("volume", volume_column, volume_unit),
        ("time", time_column, time_unit),
    ):
        c, u = _find_column(cols, kind, explicit, unit, path)
        found[kind], units[kind] = c, u
    for kind in ("flow", "pressure"):
        if found[kind] is None:
            raise FileFormatError(
                path,
                f"no {kind} column; expected a column named like {_CANONICAL[kind]!r} "
                f"(or pass {kind}_column=); columns are {cols}",
                line=1,
            )
    first_line = 2  # header is line 1
    data = {}
    for kind in ("flow", "pressure", "volume"):
        c = found[kind]
        if c is None:
            continue
        arr = _numeric_column(df, c, path, first_line)
        table = _UNIT_TABLES[kind]
        factor = table[units[kind]]
        if factor != 1.0:
            arr = arr * factor
        if nan_policy == "raise":
            bad = ~np.isfinite(arr)
            if bad.any():
                i = int(np.argmax(bad))
                raise FileFormatError(
                    path,
                    f"missing or non-finite value ({int(bad.sum())} in this column); pass "
                    "nan_policy='interpolate' to fill short gaps or 'keep'",
                    line=first_line + i, field=c,
                )
        data[kind] = arr
    rate = None
    if found["time"] is not None:
        t = _numeric_column(df, found["time"], path, first_line) * _TIME_UNITS[units["time"]]
        rate = _rate_from_time(t, path, found["time"], first_line)
    meta_rate = None if meta is None else meta.get("sampling_rate")
    if sampling_rate is not None:
        _check_options(path, "csv", {"sampling_rate": sampling_rate})
        if rate is not None and abs(rate - sampling_rate) > 1e-3 * sampling_rate:
            raise FileFormatError(
                path,
                f"sampling_rate={sampling_rate} Hz disagrees with the time column ({rate:.6g} Hz)",
                field=found["time"],
            )
        rate = float(sampling_rate)
    elif meta_rate is not None:
        if rate is not None and abs(rate - meta_rate) > 1e-3 * meta_rate:
            raise FileFormatError(
                path, f"the time column ({rate:.6g} Hz) disagrees with {meta_path.name} ({meta_rate} Hz)",
                field=found["time"],
            )
        rate = float(meta_rate)
    if rate is None:
        raise FileFormatError(
            path,
            "no time column and no sampling rate: add a 'time_s' column or pass sampling_rate= "
            "(ventgen never assumes a rate)",
            line=1,
        )
    # side files
    ann_df, ann_src = _side_table(path, annotations, ".annotations.csv", _read_annotation_csv)
    mk_df, mk_src = _side_table(path, markers, ".markers.csv", _read_marker_csv)
    md = dict((meta or {}).get("metadata") or {})
    if subject is None:
        subject = (meta or {}).get("subject") or path.stem
    start_time = _parse_time((meta or {}).get("start_time"), meta_path, "start_time")
    try:
        return Recording(
            flow=data["flow"], pressure=data["pressure"], sampling_rate=rate, volume=data.get("volume"),
            subject=subject, start_time=start_time, metadata=md, markers=mk_df, annotations=ann_df,
            nan_policy=nan_policy, max_gap_s=max_gap_s,
        )
    except VentgenError as exc:
        msg = str(exc).removeprefix("Recording: ")
        src = ann_src if "annotation" in msg and ann_src is not None else (
            mk_src if "marker" in msg and mk_src is not None else path)
        raise FileFormatError(src, msg) from None


def _rate_from_time(t: np.ndarray, path, col, first_line) -> float:
    if t.size < 2:
        raise FileFormatError(path, "a time column needs at least 2 rows to give a sampling rate", field=col)
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.argmax(bad))
        raise FileFormatError(path, "missing or non-finite time", line=first_line + i, field=col)
    dt = np.diff(t)
    nonpos = dt <= 0
    if nonpos.any():
        i = int(np.argmax(nonpos)) + 1
        raise FileFormatError(
            path, f"time is not strictly increasing ({t[i - 1]:g} then {t[i]:g})", line=first_line + i, field=col
        )
    step = float(np.median(dt))
    dev = np.abs(dt - step) > 0.01 * step
    if dev.any():
        i = int(np.argmax(dev)) + 1
        raise FileFormatError(
            path,
            f"irregular sampling: interval {dt[i - 1]:g} s where the median interval is {step:g} s; "
            "resample to a constant rate first",
            line=first_line + i, field=col,
        )
    with np.errstate(over="ignore", divide="ignore"):
        rate = float((t.size - 1) / (t[-1] - t[0]))
    lo, hi = SAMPLING_RATE_HZ
    if not lo <= rate <= hi:
        raise FileFormatError(
            path, f"the time column gives a sampling rate of {rate:.6g} Hz; sampling rates must be in "
            f"[{lo:g}, {hi:g}] Hz (is the time unit right? pass time_unit= or name the column time_s/time_ms)",
            field=col,
        )
    r = round(rate)
    if abs(rate - r) < 1e-6 * r:
        rate = float(r)
    return rate


def _read_annotation_csv(src: Path) -> pd.DataFrame:
    try:
        ann = pd.read_csv(src, skipinitialspace=True, keep_default_na=False, na_values=[""],
                          dtype={"label": str, "superclass": str}, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise FileFormatError(src, "empty annotation file: expected a header start_s,end_s,label") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(src, f"not UTF-8 text (undecodable byte at offset {exc.start})") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        raise FileFormatError(src, f"malformed CSV: {(str(exc).strip().splitlines() or [''])[-1][:200]}") from None
    if len(ann) > MAX_RECORDING_SAMPLES:
        raise FileFormatError(src, f"{len(ann)} annotations; at most {MAX_RECORDING_SAMPLES} are read")
    missing = [c for c in ("start_s", "end_s", "label") if c not in ann.columns]
    if missing:
        raise FileFormatError(src, f"missing column(s) {missing}; expected start_s,end_s,label[,superclass]",
                              line=1)
    for c in ("start_s", "end_s"):
        _numeric_column(ann, c, src, 2)
        ann[c] = pd.to_numeric(ann[c])
    if "superclass" in ann.columns:
        ann["superclass"] = ann["superclass"].fillna("")
    try:
        _validate_annotations(ann, src)
    except SchemaError as exc:
        raise FileFormatError(src, str(exc)) from None
    _warn_unknown_labels(ann, src)
    return ann


def _read_marker_csv(src: Path) -> pd.DataFrame:
    try:
        mk = pd.read_csv(src, skipinitialspace=True, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise FileFormatError(src, "empty marker file: expected a header start_idx,end_idx,device_breath") from None
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError, OverflowError) as exc:
        raise FileFormatError(src, f"unreadable marker CSV: {(str(exc).strip().splitlines() or [''])[-1][:200]}") from None
    if "start_idx" not in mk.columns:
        raise FileFormatError(src, f"missing column 'start_idx'; expected {list(MARKER_COLUMNS)}", line=1)
    for c in mk.columns:
        _numeric_column(mk, c, src, 2)
    return mk


def _write_csv(rec: Recording, path: Path, *, overwrite: bool) -> None:
    _write_recording_set([rec], [path], "csv", overwrite=overwrite)


def _csv_targets(rec: Recording, path: Path) -> dict:
    """The files of one CSV recording: data, meta and, when present, annotations and markers."""
    targets = {"data": path, "meta": _side_path(path, ".meta.json")}
    if len(rec.annotations):
        targets["ann"] = _side_path(path, ".annotations.csv")
    if rec.markers is not None:
        targets["markers"] = _side_path(path, ".markers.csv")
    return targets


def _write_csv_files(rec: Recording, tmps: dict) -> None:
    """Write one CSV recording's files to the (temporary) paths of :func:`_csv_targets`."""
    meta = _meta_doc(rec, "csv")
    if "ann" in tmps:
        _validate_annotations(rec.annotations, f"annotations of recording {rec.subject!r}")
        rec.annotations.to_csv(tmps["ann"], index=False)
    if "markers" in tmps:
        rec.markers.to_csv(tmps["markers"], index=False)
    Path(tmps["meta"]).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    rec.to_frame().to_csv(tmps["data"], index=False)


def _write_recording_set(recs: list, paths: list, fmt: str, *, overwrite: bool) -> list[Path]:
    """Write recordings one file each (CSV with its side files, or HDF5) as ONE atomic set.

    Every target is checked before anything is written; all files go to temporary names and are
    renamed only when all were written, so a failure or a kill leaves none of them (and the
    temporaries a kill leaves are removed by the next run). Returns the data files.
    """
    plans = [_csv_targets(r, Path(p)) if fmt == "csv" else {"data": Path(p)}
             for r, p in zip(recs, paths, strict=True)]
    with atomic_paths([t for plan in plans for t in plan.values()], overwrite=overwrite) as tmps:
        it = iter(tmps)
        for r, plan in zip(recs, plans, strict=True):
            mine = {k: next(it) for k in plan}
            if fmt == "csv":
                _write_csv_files(r, mine)
            else:
                _write_hdf5_file([r], mine["data"])
    if fmt == "csv" and overwrite:
        # side files of an earlier write would be read back with the new data: remove them
        for plan in plans:
            for key, suffix in (("ann", ".annotations.csv"), ("markers", ".markers.csv")):
                stale = _side_path(plan["data"], suffix)
                if key not in plan and stale.exists():
                    stale.unlink()
    return [plan["data"] for plan in plans]


# ============================================================================ HDF5
_HDF5_ROOT = "recordings"


def _h5():
    import h5py

    return h5py


def _write_hdf5(recs: list[Recording], path: Path, *, overwrite: bool) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        _write_hdf5_file(recs, tmp)


def _write_hdf5_file(recs: list[Recording], tmp) -> None:
    """Write recordings to the (temporary) HDF5 file ``tmp``; the caller renames it into place."""
    h5py = _h5()
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
    h5py = _h5()
    for k in list(group.keys()):
        link = group.get(k, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise FileFormatError(group.file.filename, "is a link to another file; ventgen reads only what is "
                                  "inside the file it is given", field=f"{group.name.lstrip('/')}/{k}")
        yield k, group[k]


def _describe_h5(f) -> dict:
    """A JSON view of an HDF5 file's layout, checked against ``hdf5_recording.schema.json``."""
    h5py = _h5()

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
    h5py = _h5()
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
    h5py = _h5()
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
    h5py = _h5()
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
        if isinstance(obj, _h5().Group):
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
            "ventgen.CycleSet.load (it is the input of 'ventgen train')",
        )


def _hdf5_names(path, f) -> list[str]:
    h5py = _h5()
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
    h5py = _h5()
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


def _read_hdf5_all(path, *, subject=None, nan_policy=None, max_gap_s=1.0, with_names=False) -> list:
    """Every recording of a ventgen HDF5 file, in name order (as (name, Recording) with ``with_names``)."""
    path = Path(path)
    with _open_h5(path) as f:
        names = _hdf5_names(path, f)
        recs = [_read_hdf5_group(path, n, f[_HDF5_ROOT][n], subject=subject, nan_policy=nan_policy,
                                 max_gap_s=max_gap_s) for n in names]
    return list(zip(names, recs, strict=True)) if with_names else recs


def _read_hdf5_one(path, *, index=None, name=None, subject=None, nan_policy=None, max_gap_s=1.0) -> Recording:
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


# ============================================================================ PB-840 text
_PB_MARK_RE = re.compile(rb"\s*B[SE]\b")
_PB_BS_RE = re.compile(rb"BS\s*,\s*S\s*:\s*(\d+)\s*,?")
_PB_BE_RE = re.compile(rb"BE\s*,?")
_PB_TS_RE = re.compile(rb"(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)(?:\.(\d{1,9}))?")
_PB3_PREFIX_RE = re.compile(rb"\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*,")
_PB_DATA_RE = re.compile(rb"\s*[-+]?\d+(?:\.\d*)?\s*,\s*[-+]?\d+(?:\.\d*)?\s*")
# characters of a data line: 2-column 'flow, pressure'; 3-column adds the time of day
_PB_ALLOWED = {2: b"0123456789.-+ ,\n", 3: b"0123456789.-+ ,\n:"}
# translation tables: 0 = allowed, 1 = anything else (the translated bytes are read as numpy bools:
# flatnonzero on a bool view is an order of magnitude faster than on uint8)
_PB_SPECIAL = {k: bytes(0 if i in v else 1 for i in range(256)) for k, v in _PB_ALLOWED.items()}
_HIGH_BYTES = bytes(range(128, 256))


def _pb_ts(s: bytes) -> datetime | None:
    m = _PB_TS_RE.fullmatch(s)
    if m is None:
        return None
    y, mo, d, h, mi, se, frac = m.groups()
    us = int((frac or b"0").ljust(6, b"0")[:6])
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(se), us)
    except ValueError:
        return None


def _read_pb840(path, *, sampling_rate=PB840_SAMPLING_RATE, subject=None, nan_policy="raise",
                max_gap_s=1.0) -> Recording:
    """Read PB-840 text. The whole file is one byte buffer: lines are found with numpy, the few
    non-data lines (breath marks, timestamps, junk) are cut out, and the data lines are parsed in one
    call of pandas' C parser. Sample indices of marks count the data lines before them."""
    path = Path(path)
    _check_nan_policy(nan_policy)
    size = path.stat().st_size
    if size > _PB_MAX_BYTES:
        raise FileFormatError(path, f"{size} bytes; a PB-840 recording of at most {MAX_RECORDING_SAMPLES} "
                                    f"samples takes at most {_PB_MAX_BYTES} bytes")
    raw = path.read_bytes()
    if not raw[:4096].strip(b" \t\r\n\x00") and not raw.strip(b" \t\r\n\x00"):
        raise FileFormatError(path, "empty file: expected PB-840 'flow, pressure' lines")
    notes: list[str] = []
    n_null = raw.count(b"\x00") if b"\x00" in raw else 0
    if n_null:
        raw = raw.replace(b"\x00", b"")
        notes.append(f"removed {n_null} null byte(s)")
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not raw.endswith(b"\n"):
        raw += b"\n"
    a = np.frombuffer(raw, np.uint8)
    ends = np.flatnonzero(a == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    n_lines = ends.size
    start_time = None
    ncol = 2
    for ln in raw[:4096].split(b"\n", 8)[:8]:
        m = _PB3_PREFIX_RE.match(ln)
        if m:
            ncol = 3
            try:
                start_time = datetime.fromisoformat(m.group(1).decode())
            except ValueError:
                start_time = None
            break
    # candidate data lines: the usual layout first, a line-by-line check when that fails
    cand = _pb_candidates_fast(raw, a, starts, ends, ncol)
    buf = _pb_join(raw, a, cand, starts, ends)
    parsed = None
    if _pb_commas_ok(buf, ncol - 1, first_line_only=ncol == 2):
        # 2 columns: pandas itself refuses a line with too many fields (ParserError -> None)
        parsed = _pb_parse(buf, int(np.count_nonzero(cand)), ncol, strict=True)
    if parsed is None:
        cand = _pb_candidates(raw, a, starts, ends, ncol)
        buf = _pb_join(raw, a, cand, starts, ends)
        parsed = _pb_parse(buf, int(np.count_nonzero(cand)), ncol)
    cand_idx = np.flatnonzero(cand)
    (flow, pres), junk_rows = parsed
    if junk_rows is not None:
        flow, pres = flow[~junk_rows], pres[~junk_rows]
        data_lines = cand_idx[~junk_rows]
        junk_lines = cand_idx[junk_rows].tolist()
    else:
        data_lines = cand_idx
        junk_lines = []
    # the other lines: breath marks, timestamps, blank lines, junk (few)
    other = np.flatnonzero(~cand)
    ev_line, ev_kind, ev_bn, rest = _pb_marks_fast(path, raw, a, starts, ends, other, ncol)
    n_high = 0
    for li in rest:
        s = raw[starts[li]:ends[li]].strip()
        if ncol == 3:
            m = _PB3_PREFIX_RE.match(s)
            if m:
                s = s[m.end():].strip()
        if s[:2] == b"BS":
            m = _PB_BS_RE.fullmatch(s)
            if m:
                ev_line.append(li)
                ev_kind.append(1)
                ev_bn.append(_pb_breath_number(path, m.group(1), li))
                continue
        elif not s:
            continue  # blank line
        elif _PB_BE_RE.fullmatch(s):
            ev_line.append(li)
            ev_kind.append(2)
            ev_bn.append(-1)
            continue
        elif len(s) >= 19 and s[4:5] == b"-":
            ts = _pb_ts(s)
            if ts is not None:
                if start_time is None and (data_lines.size == 0 or data_lines[0] > li):
                    start_time = ts
                continue
        junk_lines.append(li)
        n_high += len(s) - len(s.translate(None, _HIGH_BYTES))
    if rest:  # events were found in two passes: put them back in file order
        order = np.argsort(np.asarray(ev_line), kind="stable")
        ev_line = [ev_line[i] for i in order]
        ev_kind = [ev_kind[i] for i in order]
        ev_bn = [ev_bn[i] for i in order]
    n = int(flow.shape[0])
    _pb_check_values(path, flow, pres, data_lines)
    n_junk = len(junk_lines)
    if n == 0:
        raise FileFormatError(
            path, f"no 'flow, pressure' data lines found ({n_lines} lines, {n_junk} not understood); "
            "is this a PB-840 text file?", line=(min(junk_lines) + 1) if junk_lines else None,
        )
    if n_junk > max(n, 20):
        raise FileFormatError(
            path, f"{n_junk} of {n_lines} lines are not PB-840 data, marks or timestamps; "
            "is this a PB-840 text file?", line=min(junk_lines) + 1,
        )
    markers, n_empty, empty_line = _pb_markers(ev_line, ev_kind, ev_bn, data_lines, n)
    if n_junk:
        hi = f"; they hold {n_high} undecodable (non-ASCII) byte(s)" if n_high else ""
        notes.append(
            f"skipped {n_junk} junk line(s) that are not 'flow, pressure' data, breath marks or "
            f"timestamps (first at line {min(junk_lines) + 1}){hi}"
        )
    if n_empty:
        notes.append(f"dropped {n_empty} breath mark(s) with no samples (first at line {empty_line})")
    if notes:
        warnings.warn(f"{path}: " + "; ".join(notes), DataRecoveryWarning, stacklevel=3)
    md = {
        "device": "PB-840",
        "format": "pb840",
        "variant": f"{ncol}-column",
        "source_file": path.name,
        "junk_lines": n_junk,
        "undecodable_bytes": int(n_high),
        "null_bytes": int(n_null),
    }
    return _make_recording(
        path, flow=flow, pressure=pres, sampling_rate=sampling_rate,
        subject=path.name.split(".")[0] if subject is None else subject, start_time=start_time,
        metadata=md, markers=markers, nan_policy=nan_policy, max_gap_s=max_gap_s,
    )


_PB_BS_LINES_RE = re.compile(rb"(?:BS, S:\d+,\n)*")
#: Longest breath number read (the device counts breaths: 18 digits fit a 64-bit integer).
_PB_MAX_BREATH_DIGITS = 18
#: Largest PB-840 text file read: MAX_RECORDING_SAMPLES lines of a generous 64 bytes.
_PB_MAX_BYTES = 64 * MAX_RECORDING_SAMPLES


def _pb_breath_number(path, digits: bytes, line_index: int) -> int:
    """The breath number of a ``BS, S:<n>,`` line, or one error naming the file and line."""
    d = digits.lstrip(b"0") or b"0"
    if len(d) > _PB_MAX_BREATH_DIGITS:
        shown = d[:24].decode() + ("..." if len(d) > 24 else "")
        raise FileFormatError(
            path, f"breath number {shown} ({len(d)} digits) is not a plausible PB-840 breath count; "
            f"expected at most {_PB_MAX_BREATH_DIGITS} digits", line=line_index + 1,
        )
    return int(d)


def _pb_check_values(path, flow: np.ndarray, pres: np.ndarray, data_lines: np.ndarray) -> None:
    """Refuse a number too large for a float (parsed as infinity), naming its line."""
    for name, arr in (("flow", flow), ("pressure", pres)):
        bad = np.isinf(arr)
        if bad.any():
            i = int(np.argmax(bad))
            raise FileFormatError(
                path, f"{name} value too large to be a number (more than 1e308); expected 'flow, pressure' "
                "in L/min and cmH2O", line=int(data_lines[i]) + 1,
            )


def _pb_marks_fast(path, raw, a, starts, ends, other, ncol):
    """Breath marks among the non-data lines, in bulk for the usual spellings (``BS, S:<n>,`` and
    ``BE`` at the start of the line). Returns the events found and the lines left for one-by-one
    classification."""
    if ncol != 2 or other.size == 0:
        return [], [], [], other.tolist()
    st = starts[other]
    first = a[st]
    second = a[np.minimum(st + 1, a.size - 1)]
    is_be = (first == 66) & (second == 69) & (ends[other] - st == 2)
    is_bs = (first == 66) & (second == 83)
    bs_idx = np.flatnonzero(is_bs)
    bs_texts = [raw[s:e] for s, e in zip(st[bs_idx].tolist(), ends[other[bs_idx]].tolist(), strict=True)]
    joined = b"\n".join(bs_texts) + b"\n"
    if bs_texts and _PB_BS_LINES_RE.fullmatch(joined) is None:
        is_bs[:] = False  # unusual spelling somewhere: classify those lines one by one
        bs_idx = bs_idx[:0]
        numbers = []
    else:
        found = re.findall(rb"S:(\d+)", joined) if bs_texts else []
        if found and max(map(len, found)) > _PB_MAX_BREATH_DIGITS:
            numbers = [_pb_breath_number(path, x, int(other[bs_idx[i]])) for i, x in enumerate(found)]
        else:
            numbers = [int(x) for x in found]
    kind = np.zeros(other.size, np.int8)
    kind[is_be] = 2
    kind[bs_idx] = 1
    bn = np.full(other.size, -1, np.int64)
    bn[bs_idx] = numbers
    found = kind > 0
    rest = other[~found].tolist()
    return other[found].tolist(), kind[found].tolist(), bn[found].tolist(), rest


def _pb_candidates_fast(raw: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, ncol: int) -> np.ndarray:
    """Candidate data lines, assuming the usual layout.

    2-column files: breath marks start their line with ``B``, so every line that does not, that is not
    the leading timestamp and that holds only number characters is a candidate. When characters other
    than those of numbers exist outside the ``B`` lines (and always for 3-column files), the lines that
    hold them are found from a translated copy of the buffer. The caller then checks the commas.
    """
    table = _PB_SPECIAL[ncol]
    if ncol == 2:
        first = a[starts]
        is_b = first == 66  # 'B'
        cand = ~is_b
        if _pb_ts(raw[: ends[0]].strip()) is not None:
            cand[0] = False
        cand &= first != 44  # an empty first field (', 9.11')
        cand &= ends > starts  # blank lines
        long = np.flatnonzero(ends - starts >= 19)  # timestamp lines (YYYY-MM-DD-...) anywhere
        if long.size:
            cand[long[a[starts[long] + 4] == 45]] = False
        t = raw.translate(table)
        n_special = t.count(b"\x01")
        if n_special == 0:
            return cand
        other = np.flatnonzero(is_b)
        in_b = b"".join([t[s:e] for s, e in zip(starts[other].tolist(), ends[other].tolist(), strict=True)])
        if in_b.count(b"\x01") == n_special:
            return cand
        # odd characters outside the B lines too: find the lines that hold them (0/1 bytes seen as bools)
        special = np.flatnonzero(np.frombuffer(t, bool))
        cand[np.searchsorted(ends, special)] = False
        return cand
    cand = np.ones(ends.size, bool)
    special = np.flatnonzero(np.frombuffer(raw.translate(table), bool))
    if special.size:
        cand[np.searchsorted(ends, special)] = False
    return cand


def _pb_candidates(raw: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, ncol: int) -> np.ndarray:
    """Candidate data lines, line by line (vectorised): number characters only, ``ncol - 1`` commas."""
    n_lines = ends.size
    commas = np.flatnonzero(a == 44)
    per_line = np.bincount(np.searchsorted(ends, commas), minlength=n_lines)[:n_lines]
    cand = per_line == ncol - 1
    special = np.flatnonzero(np.frombuffer(raw.translate(_PB_SPECIAL[ncol]), bool))
    if special.size:
        cand[np.searchsorted(ends, special)] = False
    return cand


def _pb_join(raw: bytes, a: np.ndarray, cand: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The candidate lines as one buffer (slices between the other lines, or a byte mask when many)."""
    other = np.flatnonzero(~cand)
    if other.size == 0:
        return raw
    if other.size < 20000:
        o_st = starts[other].tolist()
        o_en = (ends[other] + 1).tolist()
        pieces = [raw[0:o_st[0]]]
        pieces += [raw[e:s] for e, s in zip(o_en[:-1], o_st[1:], strict=True)]
        pieces.append(raw[o_en[-1]:])
        return b"".join(pieces)
    keep = np.repeat(cand, (ends - starts + 1))
    return a[keep].tobytes()


def _pb_commas_ok(buf: bytes, k: int, first_line_only: bool = False) -> bool:
    """True when every line of ``buf`` holds exactly ``k`` commas (commas and newlines alternate).

    ``first_line_only`` checks the first line alone (pandas takes extra fields on the first line for
    an index; on later lines it refuses them itself)."""
    if not buf:
        return True
    if first_line_only:
        return buf[: buf.find(b"\n")].count(b",") == k
    b = np.frombuffer(buf, np.uint8)
    c = np.flatnonzero(b == 44)
    n = np.flatnonzero(b == 10)
    if c.size != k * n.size:
        return False
    last = c[k - 1::k]  # the last comma of each line
    first = c[0::k]
    return bool((last < n).all() and (n[:-1] < first[1:]).all())


def _pb_parse(buf: bytes, n_rows: int, ncol: int, strict: bool = False):
    """((flow, pressure), junk rows or None) for the ``n_rows`` lines of ``buf``.

    pandas' C parser on the whole buffer; empty or missing fields make a second pass that reads them
    as NaN (junk rows). Anything stranger returns None when ``strict``, else falls back to parsing
    line by line.
    """
    if n_rows == 0:
        return (np.empty(0), np.empty(0)), None
    names = ["f", "p"] if ncol == 2 else ["t", "f", "p"]
    for na_filter in (False, True):
        try:
            df = pd.read_csv(
                _io.BytesIO(buf), header=None, names=names, usecols=None if ncol == 2 else ["f", "p"], engine="c",
                skip_blank_lines=False, na_filter=na_filter, keep_default_na=False, na_values=[""],
                dtype={"f": np.float64, "p": np.float64}, index_col=False, low_memory=False,
            )
        except pd.errors.ParserError:
            break
        except ValueError:
            continue
        if df.shape[0] != n_rows:
            break
        values = (df["f"].to_numpy(dtype=np.float64), df["p"].to_numpy(dtype=np.float64))
        junk = (np.isnan(values[0]) | np.isnan(values[1])) if na_filter else None
        if junk is not None and not junk.any():
            junk = None
        return values, junk
    if strict:
        return None
    return _pb_parse_lines(buf.split(b"\n")[:n_rows], ncol)


def _pb_parse_lines(lines: list[bytes], ncol: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    out = np.full((len(lines), 2), np.nan)
    junk = np.zeros(len(lines), bool)
    for i, ln in enumerate(lines):
        parts = ln.split(b",")
        if len(parts) != ncol:
            junk[i] = True
            continue
        try:
            out[i] = float(parts[-2]), float(parts[-1])
        except ValueError:
            junk[i] = True
            continue
        if not (math.isfinite(out[i, 0]) and math.isfinite(out[i, 1])):
            junk[i] = True
    return (out[:, 0].copy(), out[:, 1].copy()), junk


def _pb_markers(ev_line: list, ev_kind: list, ev_bn: list, data_lines: np.ndarray, n: int):
    """Device markers from BS/BE lines (vectorised).

    A breath starts at the first data line after its BS and ends (exclusive) at the data line count
    before the BE that follows it; a BS followed by another BS (or by the end of the file) has no end
    mark (-1). A BE without an open breath (the file began inside a breath) is ignored. Breaths without
    samples are dropped.
    """
    empty = {"start_idx": np.empty(0, np.int64), "end_idx": np.empty(0, np.int64),
             "device_breath": np.empty(0, np.int64)}
    if not ev_line:
        return empty, 0, None
    line = np.asarray(ev_line, np.int64)
    kind = np.asarray(ev_kind, np.int8)
    bn = np.asarray(ev_bn, np.int64)
    pos = np.searchsorted(data_lines, line)
    bs = np.flatnonzero(kind == 1)
    if bs.size == 0:
        return empty, 0, None
    nxt = np.minimum(bs + 1, kind.size - 1)
    closed = (bs + 1 < kind.size) & (kind[nxt] == 2)
    start = pos[bs]
    end = np.where(closed, pos[nxt], -1)
    next_start = np.append(start[1:], n)
    bad = (start >= n) | (end == start) | (start >= next_start)
    n_empty = int(bad.sum())
    empty_line = int(line[bs[bad][0]]) + 1 if n_empty else None
    keep = ~bad
    return {"start_idx": start[keep], "end_idx": end[keep], "device_breath": bn[bs][keep]}, n_empty, empty_line
