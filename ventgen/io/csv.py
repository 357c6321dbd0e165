"""CSV recordings: one row per sample with a header, and the side files ventgen writes beside them.

Columns are found by name; names carry their unit (``flow_lpm``, ``flow_lps``, ``flow_mlps``,
``paw_cmh2o``, ``paw_hpa``, ``paw_mbar``, ``volume_ml``, ``time_s``, ``time_ms``, or
``"Flow (L/s)"``-style). A column without a unit needs an explicit ``*_unit=`` option: ventgen refuses
to guess. The rate comes from a time column, from ``sampling_rate=``, or from the side file
``<stem>.meta.json`` that ventgen writes. Annotations live in ``<stem>.annotations.csv`` and device
markers in ``<stem>.markers.csv``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._core.limits import MAX_RECORDING_SAMPLES, SAMPLING_RATE_HZ, check_sampling_rate
from .._core.schemas import validate
from ..errors import FileFormatError, SchemaError, VentgenError, VentgenValueError
from ..signals.recording import MARKER_COLUMNS, Recording
from ._common import (
    _check_nan_policy,
    _meta_doc,
    _parse_json,
    _parse_time,
    _side_path,
    _validate_annotations,
    _warn_unknown_labels,
    check_sampling_rate_option,
    read_side_table,
)
from .units import (
    CANONICAL_COLUMNS,
    COLUMN_BASES,
    UNIT_ALIASES,
    UNIT_TABLES,
    normalise_unit,
    split_column,
    to_base_units,
)

__all__ = ["read_csv"]

def _find_column(columns, kind: str, explicit, unit, path) -> tuple[str | None, str | None]:
    """The column holding channel ``kind`` and its canonical unit (or None when absent)."""
    if explicit is not None:
        if explicit not in columns:
            raise FileFormatError(
                path, f"no column {explicit!r} for {kind}; columns are {list(columns)}", line=1
            )
        col = explicit
        _, name_unit = split_column(col)
    else:
        col = None
        name_unit = None
        for c in columns:
            base, u = split_column(c)
            if base in COLUMN_BASES[kind]:
                col, name_unit = c, u
                break
        if col is None:
            return None, None
    if unit is not None:
        canon = normalise_unit(kind, unit, where=f"{path}: {kind}_unit")
        if name_unit is not None and name_unit in UNIT_ALIASES[kind]:
            if UNIT_ALIASES[kind][name_unit] != canon:
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
            f"{'/'.join(COLUMN_BASES[kind][0] + '_' + a for a in list(UNIT_ALIASES[kind])[:3])}... or pass "
            f"{kind}_unit= one of {', '.join(UNIT_TABLES[kind])} (ventgen does not guess units)",
            line=1, field=col,
        )
    canon = UNIT_ALIASES[kind].get(name_unit)
    if canon is None:
        raise FileFormatError(
            path,
            f"unknown {kind} unit {name_unit!r} in the column name; expected one of "
            f"{', '.join(UNIT_TABLES[kind])}",
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


def read_csv(
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
    """Read one CSV recording (and its side files); see :func:`ventgen.read_recording` for the options.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "w").write("time_ms,flow_lps,paw_hpa\\n0,1,10\\n20,0.5,10\\n40,0,10\\n")
    >>> rec = read_csv(p)
    >>> rec.sampling_rate, rec.flow.tolist()
    (50.0, [60.0, 30.0, 0.0])
    """
    _check_nan_policy(nan_policy)
    _check_delimiter(delimiter)
    path = Path(path)
    meta_path = _side_path(path, ".meta.json")
    meta = _read_meta(meta_path) if meta_path.is_file() else None
    df = _read_csv_table(path, delimiter)
    _check_rows(path, df)
    found, units = _find_columns(path, list(df.columns), {
        "flow": (flow_column, flow_unit),
        "pressure": (pressure_column, pressure_unit),
        "volume": (volume_column, volume_unit),
        "time": (time_column, time_unit),
    })
    data = _signals(path, df, found, units, nan_policy)
    rate = _sampling_rate(path, df, found, units, sampling_rate, meta, meta_path)
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


def _read_meta(meta_path: Path) -> dict:
    """The side file ``<stem>.meta.json``, checked against its schema and the one rule of sampling rates."""
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
    return meta


def _check_rows(path, df: pd.DataFrame) -> None:
    if df.shape[0] == 0:
        raise FileFormatError(path, "no data rows after the header", line=2)
    if df.shape[0] > MAX_RECORDING_SAMPLES:
        raise FileFormatError(path, f"{df.shape[0]} data rows; a recording holds at most {MAX_RECORDING_SAMPLES} samples")


def _find_columns(path, cols: list, wanted: dict) -> tuple[dict, dict]:
    """The column and canonical unit of every channel (``wanted``: kind -> (explicit column, unit));
    flow and pressure are required."""
    found = {}
    units = {}
    for kind, (explicit, unit) in wanted.items():
        c, u = _find_column(cols, kind, explicit, unit, path)
        found[kind], units[kind] = c, u
    for kind in ("flow", "pressure"):
        if found[kind] is None:
            raise FileFormatError(
                path,
                f"no {kind} column; expected a column named like {CANONICAL_COLUMNS[kind]!r} "
                f"(or pass {kind}_column=); columns are {cols}",
                line=1,
            )
    return found, units


_FIRST_LINE = 2  # the first data line (the header is line 1)


def _signals(path, df: pd.DataFrame, found: dict, units: dict, nan_policy) -> dict:
    """Flow, pressure and (when present) volume in ventgen's units; non-finite values refused under
    ``nan_policy="raise"`` with the line and column of the first."""
    data = {}
    for kind in ("flow", "pressure", "volume"):
        c = found[kind]
        if c is None:
            continue
        arr = to_base_units(_numeric_column(df, c, path, _FIRST_LINE), kind, units[kind])
        if nan_policy == "raise":
            bad = ~np.isfinite(arr)
            if bad.any():
                i = int(np.argmax(bad))
                raise FileFormatError(
                    path,
                    f"missing or non-finite value ({int(bad.sum())} in this column); pass "
                    "nan_policy='interpolate' to fill short gaps or 'keep'",
                    line=_FIRST_LINE + i, field=c,
                )
        data[kind] = arr
    return data


def _sampling_rate(path, df, found: dict, units: dict, sampling_rate, meta, meta_path) -> float:
    """The rate from the time column, checked against a given ``sampling_rate`` or the meta file's."""
    rate = None
    if found["time"] is not None:
        t = to_base_units(_numeric_column(df, found["time"], path, _FIRST_LINE), "time", units["time"])
        rate = _rate_from_time(t, path, found["time"], _FIRST_LINE)
    meta_rate = None if meta is None else meta.get("sampling_rate")
    if sampling_rate is not None:
        check_sampling_rate_option(sampling_rate)
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
    return rate


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
    ann = read_side_table(src, "annotation file", "a header start_s,end_s,label", keep_default_na=False,
                          na_values=[""], dtype={"label": str, "superclass": str})
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
    mk = read_side_table(src, "marker file", "a header start_idx,end_idx,device_breath")
    if "start_idx" not in mk.columns:
        raise FileFormatError(src, f"missing column 'start_idx'; expected {list(MARKER_COLUMNS)}", line=1)
    for c in mk.columns:
        _numeric_column(mk, c, src, 2)
    return mk


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
