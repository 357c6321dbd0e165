"""Read, write, describe and convert recording files: the dispatcher over the formats.

Every reader returns :class:`~ventgen.signals.recording.Recording` objects in ventgen's fixed units
(flow L/min, pressure cmH2O, volume mL, time s); every writer is atomic and refuses to overwrite unless
told to. One module per format holds the reading and writing:

``csv`` (:mod:`ventgen.io.csv`)
    One row per sample with a header; columns found by name, units in the names or given explicitly.
``hdf5`` (:mod:`ventgen.io.hdf5`)
    ventgen's own layout (one or many recordings per file), checked against its schema on read.
``pb840`` (:mod:`ventgen.io.pb840`)
    Text exported from a Puritan Bennett 840 ventilator (read-only).
``wfdb`` (:mod:`ventgen.io.wfdb`), ``edf`` (:mod:`ventgen.io.edf`)
    The PhysioNet standards: WFDB records (``.hea``/``.dat``/``.atr``) and EDF+ (``.edf``), annotations
    included; 16-bit signals (the resolution is stated in each module).

The options of each format are the keyword-only parameters of its reader (:func:`~ventgen.io.csv.read_csv`,
:func:`~ventgen.io.hdf5.read_hdf5`, :func:`~ventgen.io.pb840.read_pb840`); :func:`read_recording`
refuses an option its format does not take with a :class:`~ventgen.errors.VentgenTypeError`.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from .._core import atomic_paths, progress
from ..errors import FileFormatError, VentgenTypeError, VentgenValueError
from ..signals.recording import Recording
from ._common import (
    _SIDE_SUFFIXES,
    _SUFFIX_FORMATS,
    _SUFFIXES,
    FORMATS,
    WRITE_FORMATS,
    WRITE_SUFFIXES,
    _check_format,
    _path,
    _side_path,
    check_sampling_rate_option,
)
from .csv import _csv_targets, _write_csv_files, read_csv
from .edf import read_edf, write_edf
from .hdf5 import _HDF5_MAGIC, _write_hdf5_file, read_hdf5, read_hdf5_all, write_hdf5
from .pb840 import (
    _PB3_PREFIX_RE,
    _PB_DATA_RE,
    _PB_MARK_RE,
    _PB_TS_RE,
    PB840_SAMPLING_RATE,
    read_pb840,
)
from .wfdb import read_wfdb, wfdb_targets, write_wfdb

__all__ = [
    "FORMATS",
    "WRITE_FORMATS",
    "PB840_SAMPLING_RATE",
    "detect_format",
    "read_recording",
    "read_recordings",
    "write_recording",
    "write_recordings",
    "write_recording_files",
    "convert_file",
]

#: The reader of each format.
_READERS = {"csv": read_csv, "hdf5": read_hdf5, "pb840": read_pb840, "wfdb": read_wfdb, "edf": read_edf}


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
    if by_suffix in ("hdf5", *_SUFFIX_FORMATS):
        return by_suffix
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
    return _READERS[fmt](path, **kw)


def _keyword_options(reader) -> tuple[str, ...]:
    """The keyword-only parameters of a reader: the options of its format."""
    return tuple(p.name for p in inspect.signature(reader).parameters.values() if p.kind is p.KEYWORD_ONLY)


#: The options each reader accepts (see :func:`read_recording`): its keyword-only parameters.
_READER_OPTIONS = {fmt: _keyword_options(reader) for fmt, reader in _READERS.items()}


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
        check_sampling_rate_option(kw["sampling_rate"])


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
        and not (f.suffix.lower() in (".dat", ".atr") and f.with_suffix(".hea").is_file())  # WFDB record parts
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
        return read_hdf5_all(path, **kw)
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
    if fmt == "hdf5":
        write_hdf5([rec], path, overwrite=overwrite)
    else:
        write_recording_files([rec], [path], fmt, overwrite=overwrite)


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
        write_hdf5(recs, path, overwrite=overwrite)
        return [path]
    if path.suffix.lower() == ".csv" and not path.is_dir():
        raise VentgenValueError(
            f"{path}: a CSV file holds one recording; give a folder (or an .h5 file) for {len(recs)} recordings"
        )
    fmt = fmt or "hdf5"
    ext = WRITE_SUFFIXES[fmt]
    path.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    seen: set[str] = set()
    for i, r in enumerate(recs):
        keep = r"[^A-Za-z0-9_-]+" if fmt == "wfdb" else r"[^A-Za-z0-9_.-]+"  # WFDB names have no dots
        base = re.sub(keep, "_", r.subject).strip("._") or f"rec{i:04d}"
        if base in seen:
            base = f"{base}_{i:04d}"
        seen.add(base)
        names.append(base)
    targets = [path / (n + ext) for n in names]
    return write_recording_files(recs, targets, fmt, overwrite=overwrite)  # all files or none


def _write_format(path: Path, format) -> str:
    fmt = _check_format(format, FORMATS, "output format")
    if fmt == "pb840":
        raise VentgenValueError("PB-840 text is read-only in ventgen; write csv or hdf5")
    if fmt is None:
        fmt = _SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise VentgenValueError(
                f"{path}: cannot tell the output format from the suffix {path.suffix!r}; "
                "use .csv, .h5, .hdf5, .hea or .edf, or pass format='csv'|'hdf5'|'wfdb'|'edf'"
            )
    return fmt


def write_recording_files(recs: list, paths: list, fmt: str, *, overwrite: bool) -> list[Path]:
    """Write recordings to the given paths, one file each (CSV with its side files, or HDF5) as ONE atomic set.

    Every target is checked before anything is written; all files go to temporary names and are
    renamed only when all were written, so a failure or a kill leaves none of them (and the
    temporaries a kill leaves are removed by the next run). Returns the data files.
    """
    plans = [_csv_targets(r, Path(p)) if fmt == "csv" else wfdb_targets(p, r) if fmt == "wfdb" else {"data": Path(p)}
             for r, p in zip(recs, paths, strict=True)]
    with atomic_paths([t for plan in plans for t in plan.values()], overwrite=overwrite) as tmps:
        it = iter(tmps)
        for r, plan in zip(recs, plans, strict=True):
            mine = {k: next(it) for k in plan}
            if fmt == "csv":
                _write_csv_files(r, mine)
            elif fmt == "wfdb":
                write_wfdb(r, plan["data"], files=mine)
            elif fmt == "edf":
                write_edf(r, mine["data"])
            else:
                _write_hdf5_file([r], mine["data"])
    if fmt == "wfdb" and overwrite:  # an annotation file of an earlier write would be read back
        for plan in plans:
            stale = plan["data"].with_suffix(".atr")
            if "atr" not in plan and stale.exists():
                stale.unlink()
    if fmt == "csv" and overwrite:
        # side files of an earlier write would be read back with the new data: remove them
        for plan in plans:
            for key, suffix in (("ann", ".annotations.csv"), ("markers", ".markers.csv")):
                stale = _side_path(plan["data"], suffix)
                if key not in plan and stale.exists():
                    stale.unlink()
    return [plan["data"] for plan in plans]


def convert_file(src, dst, to=None, *, format=None, overwrite: bool = False, **read_kw) -> list[Path]:
    """Convert a recording file to CSV, HDF5, WFDB or EDF+ (what ``ventgen convert`` does).

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
    by_suffix = _SUFFIXES.get(dst.suffix.lower()) if dst.suffix.lower() in (".csv", ".h5", ".hdf5", ".hea", ".edf") else None
    if to is None:
        to = by_suffix
        if to is None:
            raise VentgenValueError(
                f"{dst}: cannot tell the output format; use a .csv/.h5/.hea/.edf suffix or pass --to csv|hdf5|wfdb|edf"
            )
    if not src.exists():
        raise FileNotFoundError(2, "No such file or directory", str(src))
    recs = read_recordings(src, format=format, **read_kw)
    if not recs:
        raise VentgenValueError(f"{src}: no recording file found; nothing converted")
    if to == "hdf5" and by_suffix == "hdf5":
        write_hdf5(recs, dst, overwrite=overwrite)
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
