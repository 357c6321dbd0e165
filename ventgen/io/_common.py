"""What the readers and writers of every format share: paths, format names, metadata documents,
small JSON documents within the limits, annotation checks, and the Recording built with errors that
name the file."""

from __future__ import annotations

import json
import math
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import json_default
from .._core.limits import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_RECORDING_SAMPLES,
    check_sampling_rate,
)
from .._core.schemas import validate
from ..errors import (
    FileFormatError,
    VentgenError,
    VentgenTypeError,
    VentgenValueError,
    VentgenWarning,
)
from ..labels import (
    VENTILATION_CLASSES,
    VENTILATION_MODE_GROUPS,
    VENTILATION_SUPERCLASSES,
    VENTMODE_COLUMNS,
)
from ..signals.recording import NAN_POLICIES, Recording

#: Formats ventgen reads.
FORMATS = ("csv", "hdf5", "pb840", "wfdb", "edf")
#: Formats ventgen writes (PB-840 text is read-only).
WRITE_FORMATS = ("csv", "hdf5", "wfdb", "edf")
_SUFFIXES = {".h5": "hdf5", ".hdf5": "hdf5", ".he5": "hdf5", ".csv": "csv", ".tsv": "csv", ".txt": "csv",
             ".hea": "wfdb", ".dat": "wfdb", ".edf": "edf"}
#: Formats told by their suffix alone (binary, or a header file beside a binary one).
_SUFFIX_FORMATS = ("wfdb", "edf")
#: The written file's suffix for each writable format.
WRITE_SUFFIXES = {"csv": ".csv", "hdf5": ".h5", "wfdb": ".hea", "edf": ".edf"}
_SIDE_SUFFIXES = (".annotations.csv", ".markers.csv", ".meta.json")


def _path(path) -> Path:
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise VentgenTypeError(f"path must be a str or path-like, got {type(path).__name__}")
    return Path(path)


def _check_format(format, allowed, what="format") -> str | None:
    if format is None:
        return None
    f = str(format).lower().replace("-", "").replace("_", "")
    f = {"h5": "hdf5", "pb840text": "pb840", "pb": "pb840", "edf+": "edf", "physionet": "wfdb"}.get(f, f)
    if f not in allowed:
        raise VentgenValueError(f"unknown {what} {format!r}; expected one of {', '.join(allowed)}")
    return f


def _side_path(path: Path, suffix: str) -> Path:
    name = path.name
    stem = name[: -len(path.suffix)] if path.suffix else name
    return path.with_name(stem + suffix)


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


def read_side_table(path, what: str, expected: str, **read_kw) -> pd.DataFrame:
    """A small CSV table that goes with a recording (annotations, breath marks, breath labels).

    UTF-8 with or without a byte-order mark; at most ``MAX_RECORDING_SAMPLES`` rows; every pandas
    failure becomes one :class:`FileFormatError` line naming the file. ``what`` names the table in the
    messages, ``expected`` says what its header should hold.
    """
    try:
        df = pd.read_csv(path, skipinitialspace=True, encoding="utf-8-sig", **read_kw)
    except pd.errors.EmptyDataError:
        raise FileFormatError(path, f"empty {what}: expected {expected}") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"not UTF-8 text (undecodable byte at offset {exc.start})") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        raise FileFormatError(path, f"malformed CSV: {(str(exc).strip().splitlines() or [''])[-1][:200]}") from None
    if len(df) > MAX_RECORDING_SAMPLES:
        raise FileFormatError(path, f"{len(df)} rows in the {what}; at most {MAX_RECORDING_SAMPLES} are read")
    return df


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


_KNOWN_LABELS = (frozenset(VENTILATION_CLASSES) | frozenset(VENTILATION_SUPERCLASSES) | frozenset(VENTMODE_COLUMNS)
                 | frozenset(VENTILATION_MODE_GROUPS))


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


def check_sampling_rate_option(sampling_rate) -> None:
    """A ``sampling_rate`` option: a number of Hz within the one rule of
    :func:`ventgen._core.limits.check_sampling_rate`."""
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, float, np.number)):
        raise VentgenTypeError(f"sampling_rate must be a number of Hz, got {type(sampling_rate).__name__}")
    check_sampling_rate(sampling_rate, "sampling_rate")
