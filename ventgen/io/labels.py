"""Breath-level label tables: one row per breath, keyed by the ventilator's breath number or by time.

A table labels breaths either with one ``label`` column or with one-hot columns (the ventmode
``.modes.csv`` layout: ``vc, pc, prvc, ps, simv, pav, vs, cpap_sbt, aprv, other``). It is keyed by
the ventilator breath number (column ``breath_number``, ``vent BN`` or ``device_breath``: the
``S:<n>`` of PB-840 ``BS`` lines, kept as the ``device_breath`` marker column) or by the breath
start in seconds from the start of the recording (column ``start_s``). An optional label hierarchy
(JSON) gives the super-class of every label.

:func:`read_breath_labels` reads and checks a table; :func:`apply_breath_labels` turns it into the
annotations of a recording (one interval per labelled breath), so that the labels land on breaths and
cycles exactly as annotations do (:func:`ventgen.extract_cycles`: majority overlap).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FileFormatError, VentgenTypeError, VentgenValueError, VentgenWarning
from ..labels import VENTILATION_MODES_TREE, VENTILATION_TREE, VENTMODE_COLUMNS, LabelTree
from ..signals.recording import Recording
from ._common import _parse_json, _path, read_side_table

__all__ = ["BreathLabels", "read_breath_labels", "read_label_hierarchy", "apply_breath_labels", "BREATH_KEYS"]

#: Accepted ``key`` values of :func:`read_breath_labels`.
BREATH_KEYS = ("auto", "breath_number", "start_s")
#: Column names of each key, first match wins.
_KEY_COLUMNS = {"breath_number": ("breath_number", "vent BN", "device_breath"), "start_s": ("start_s",)}
_LABEL_COLUMNS = ("label", "mode")


@dataclasses.dataclass(frozen=True)
class BreathLabels:
    """A checked breath-label table (from :func:`read_breath_labels`).

    Attributes
    ----------
    table : DataFrame
        One row per labelled breath: the key (``breath_number`` int or ``start_s`` float), ``label``
        and ``superclass`` (``""`` when the hierarchy has one level or does not know the label).
    key : {"breath_number", "start_s"}
        What the rows are keyed by.
    source : str
        The file (or ``"<table>"``), for messages.
    column : str
        The key column of the file, for messages.
    tree : LabelTree or None
        The label hierarchy (given, or the built-in one that covers every label).
    counts : dict
        ``n_rows``, ``n_unlabelled`` (rows without a label), ``n_multi`` (rows with two labels set at
        once, left unlabelled), ``n_duplicates`` (rows whose key repeats; the first is kept when
        they agree), ``n_conflicts`` (repeated keys with different labels, left unlabelled).
    """

    table: pd.DataFrame
    key: str
    source: str
    column: str
    tree: LabelTree | None
    counts: dict


def read_label_hierarchy(path) -> LabelTree:
    """Read a label hierarchy from JSON.

    Two layouts: the form of :meth:`LabelTree.to_dict` (``{"name": ..., "paths": {class: [parent,
    ...]}}``), or groups of classes (``{"mandatory": ["vc", "pc"], "spontaneous": ["ps"]}``).

    Examples
    --------
    >>> import json, os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "h.json")
    >>> _ = open(p, "w").write(json.dumps({"mandatory": ["vc"], "spontaneous": ["ps", "pav"]}))
    >>> read_label_hierarchy(p).ancestor("pav", 1)
    'spontaneous'
    """
    path = _path(path)
    doc = _parse_json(path.read_bytes(), path)
    try:
        if "paths" in doc:
            if not isinstance(doc["paths"], Mapping):
                raise VentgenTypeError("'paths' must map each class to its ancestors")
            return LabelTree(doc["paths"], name=str(doc.get("name", path.stem)))
        paths = {}
        for group, members in doc.items():
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise VentgenTypeError(f"group {group!r} must be a list of class names")
            for m in members:
                if m in paths:
                    raise VentgenValueError(f"class {m!r} is in two groups ({paths[m][0]!r}, {group!r})")
                paths[m] = [group]
        return LabelTree(paths, name=path.stem)
    except (VentgenValueError, VentgenTypeError) as exc:
        raise FileFormatError(path, f"not a label hierarchy: {exc}") from None


def _tree(hierarchy) -> LabelTree | None:
    if hierarchy is None or isinstance(hierarchy, LabelTree):
        return hierarchy
    if isinstance(hierarchy, Mapping):
        return LabelTree.from_dict(hierarchy) if "paths" in hierarchy else LabelTree(
            {m: [g] for g, ms in hierarchy.items() for m in ms})
    return read_label_hierarchy(hierarchy)


def read_breath_labels(path, *, key: str = "auto", hierarchy=None) -> BreathLabels:
    """Read a breath-label table (CSV): one row per breath, a key column and the label(s).

    Parameters
    ----------
    path : str, path-like or DataFrame
        The table. Key column: ``breath_number`` / ``vent BN`` / ``device_breath`` (the ventilator's
        breath number) or ``start_s`` (breath start, seconds from the start of the recording). Labels:
        a ``label`` (or ``mode``) column, empty = unlabelled; or 0/1 columns named after the classes
        (the ventmode columns, or the classes of ``hierarchy``).
    key : {"auto", "breath_number", "start_s"}
        Which key to use; ``"auto"`` takes the breath number when the table has one, else ``start_s``.
    hierarchy : LabelTree, mapping, or path of a JSON file, optional
        The label hierarchy (see :func:`read_label_hierarchy`); it must cover every label. Default:
        :data:`ventgen.VENTILATION_MODES_TREE` or :data:`ventgen.VENTILATION_TREE` when one of them
        covers every label, else none (super-classes stay ``""``).

    Returns
    -------
    BreathLabels

    Raises
    ------
    FileFormatError
        An unusable table (empty, no key column, no label column, non-numeric keys, labels outside
        the given hierarchy); the message names the file and the column.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"vent BN": [7, 8, 9], "ps": [1, 1, 0], "pav": [0, 0, 1]})
    >>> bl = read_breath_labels(t)
    >>> bl.key, bl.table["label"].tolist(), bl.table["superclass"].tolist()
    ('breath_number', ['ps', 'ps', 'pav'], ['spontaneous', 'spontaneous', 'spontaneous'])
    """
    if key not in BREATH_KEYS:
        raise VentgenValueError(f"read_breath_labels: key must be one of {BREATH_KEYS}, got {key!r}")
    tree = _tree(hierarchy)
    src = "<table>" if isinstance(path, pd.DataFrame) else str(_path(path))
    df = path.copy() if isinstance(path, pd.DataFrame) else _read_table(_path(path))
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise FileFormatError(src, "empty label table: no breath rows")
    kind, kcol = _key_column(df, key, src)
    keys = _key_values(df[kcol], kind, kcol, src)
    labels, n_multi = _labels(df, tree, src)
    counts = {"n_rows": len(df), "n_multi": n_multi}
    table = pd.DataFrame({kind: keys, "label": labels})
    table, counts["n_duplicates"], counts["n_conflicts"] = _dedupe(table, kind)
    counts["n_unlabelled"] = int((table["label"] == "").sum())
    table = table[table["label"] != ""].reset_index(drop=True)
    if tree is not None:
        unknown = sorted(set(table["label"]) - set(tree.classes))
        if unknown:
            raise FileFormatError(src, f"label(s) {unknown[:8]} not in the hierarchy {tree.name!r} "
                                  f"(its classes: {tree.classes})", field=_label_field(df))
    else:
        tree = next((t for t in (VENTILATION_MODES_TREE, VENTILATION_TREE)
                     if len(table) and set(table["label"]) <= set(t.classes)), None)
    sup = tree.map(table["label"].tolist(), 1) if tree is not None and tree.n_levels > 1 else ""
    table["superclass"] = np.asarray(sup, dtype=object) if len(table) else pd.Series([], dtype=object)
    if len(table) == 0:
        raise FileFormatError(src, "no labelled breath in the table", field=_label_field(df))
    return BreathLabels(table.sort_values(kind, kind="stable").reset_index(drop=True), kind, src, kcol, tree, counts)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return read_side_table(path, "label table", "a header line and one row per breath", keep_default_na=False,
                           na_values=["", "N/A", "NA", "nan"], low_memory=False)


def _key_column(df: pd.DataFrame, key: str, src) -> tuple[str, str]:
    kinds = ("breath_number", "start_s") if key == "auto" else (key,)
    for kind in kinds:
        for c in _KEY_COLUMNS[kind]:
            if c in df.columns:
                return kind, c
    wanted = [c for k in kinds for c in _KEY_COLUMNS[k]]
    raise FileFormatError(src, f"no key column: expected one of {wanted}; the table has {list(df.columns)[:12]}",
                          line=1)


def _key_values(col: pd.Series, kind: str, name: str, src) -> np.ndarray:
    v = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(v) | ((v != np.round(v)) if kind == "breath_number" else (v < 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "a breath number (integer)" if kind == "breath_number" else "a start time >= 0 s"
        raise FileFormatError(src, f"{col.iloc[i]!r} is not {what}", line=i + 2, field=name)
    return v.astype(np.int64) if kind == "breath_number" else v


def _label_field(df: pd.DataFrame) -> str:
    return next((c for c in _LABEL_COLUMNS if c in df.columns), "one-hot label columns")


def _labels(df: pd.DataFrame, tree: LabelTree | None, src) -> tuple[np.ndarray, int]:
    """The label of every row ("" = none) and the number of rows with two one-hot labels set."""
    col = next((c for c in _LABEL_COLUMNS if c in df.columns), None)
    if col is not None:
        lab = df[col].astype(object).where(df[col].notna(), "").astype(str).str.strip().to_numpy(object)
        return lab, 0
    names = list(tree.classes) if tree is not None else []
    onehot = [c for c in dict.fromkeys([*VENTMODE_COLUMNS, *names]) if c in df.columns]
    if not onehot:
        raise FileFormatError(src, f"no label column: expected 'label' or 0/1 columns named after the classes "
                              f"({', '.join(dict.fromkeys([*VENTMODE_COLUMNS, *names]))})", line=1)
    m = df[onehot].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(np.float64)
    bad = ~np.isin(m, (0.0, 1.0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise FileFormatError(src, f"{df[onehot[c]].iloc[r]!r} is not 0 or 1", line=int(r) + 2, field=onehot[c])
    n_set = m.sum(axis=1)
    lab = np.where(n_set == 1, np.asarray(onehot, dtype=object)[np.argmax(m, axis=1)], "")
    return lab.astype(object), int((n_set > 1).sum())


def _dedupe(table: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, int, int]:
    """Rows with a repeated key: the first kept when all agree, all dropped when labels differ."""
    dup = table.duplicated(kind, keep=False)
    if not dup.any():
        return table, 0, 0
    n_lab = table[dup].groupby(kind)["label"].nunique()
    conflict = table[kind].isin(n_lab.index[n_lab > 1])
    out = table[~conflict].drop_duplicates(kind, keep="first")
    return out.reset_index(drop=True), int(dup.sum() - table.loc[dup, kind].nunique()), int(
        table.loc[conflict, kind].nunique())


def apply_breath_labels(recording: Recording, labels: BreathLabels, *, warn: bool = True) -> tuple[Recording, dict]:
    """Label the breaths of a recording from a breath-label table (as its annotations).

    Every labelled breath becomes one annotation interval: with breath numbers, from the device
    breath's first sample to the next device breath's start (or its end mark, for the last one);
    with ``start_s``, from the row's start to the next row's start (the last row: the median gap,
    at most to the end). The recording's previous annotations are replaced. Mismatches (breath
    numbers absent from the recording, rows outside it, duplicates, two labels at once) are counted
    in ONE :class:`~ventgen.errors.VentgenWarning`.

    Returns
    -------
    (Recording, dict)
        A copy of the recording with the annotations, and the counts (those of the table plus
        ``n_matched`` rows and ``n_absent`` rows that fall on no breath of the recording).

    Raises
    ------
    VentgenValueError
        No row matches the recording (a table for another recording), or breath numbers are asked
        of a recording without device breath numbers.

    Examples
    --------
    >>> from ventgen import simulate_recording
    >>> rec = simulate_recording(minutes=0.5, random_state=0)
    >>> bn = rec.markers["device_breath"].to_numpy()
    >>> bl = read_breath_labels(pd.DataFrame({"breath_number": bn[:4], "label": "ps"}))
    >>> lab, counts = apply_breath_labels(rec, bl)
    >>> len(lab.annotations), counts["n_matched"]
    (4, 4)
    """
    if not isinstance(recording, Recording):
        raise VentgenTypeError(f"apply_breath_labels: expected a Recording, got {type(recording).__name__}")
    name = recording.subject or "(no subject)"
    t = labels.table
    if labels.key == "breath_number":
        s, e, ok = _intervals_by_number(recording, t["breath_number"].to_numpy(np.int64), labels, name)
    else:
        s, e, ok = _intervals_by_time(recording, t["start_s"].to_numpy(np.float64))
    counts = dict(labels.counts, n_matched=int(ok.sum()), n_absent=int((~ok).sum()))
    if not ok.any():
        raise VentgenValueError(
            f"{labels.source}: no row of the label table matches recording {name} (column {labels.column!r}: "
            f"{_range(t[labels.key])} vs the recording's {_recording_range(recording, labels.key)}); "
            "is it the table of another recording?"
        )
    ann = pd.DataFrame({"start_s": s[ok], "end_s": e[ok], "label": t["label"].to_numpy(object)[ok],
                        "superclass": t["superclass"].to_numpy(object)[ok]})
    _warn_mismatches(counts, labels, name, warn)
    return dataclasses.replace(recording, annotations=ann), counts


def _intervals_by_number(rec: Recording, bn: np.ndarray, labels: BreathLabels, name):
    mk = rec.markers
    if mk is None or len(mk) == 0 or "device_breath" not in mk.columns or (mk["device_breath"] < 0).all():
        raise VentgenValueError(
            f"{labels.source}: recording {name} has no ventilator breath numbers (device markers); "
            f"key the table by start_s instead of {labels.column!r}"
        )
    fs, n = rec.sampling_rate, rec.n_samples
    st = mk["start_idx"].to_numpy(np.int64)
    end = np.append(st[1:], n)  # a breath lasts until the next one starts (expiration included)
    dev = mk["device_breath"].to_numpy(np.int64)
    order = np.argsort(dev, kind="stable")
    pos = np.clip(np.searchsorted(dev[order], bn), 0, max(dev.size - 1, 0))
    ok = dev[order][pos] == bn
    i = order[pos]
    return st[i] / fs, end[i] / fs, ok


def _intervals_by_time(rec: Recording, start: np.ndarray):
    dur = rec.duration_s
    ok = start < dur
    nxt = np.append(start[1:], np.inf)
    gap = float(np.median(np.diff(start[ok]))) if ok.sum() > 1 else dur
    end = np.minimum(np.minimum(nxt, start + gap), dur)
    return start, end, ok & (end > start)


def _range(v: pd.Series) -> str:
    return f"{v.min():g}..{v.max():g}" if len(v) else "none"


def _recording_range(rec: Recording, key: str) -> str:
    if key == "start_s":
        return f"0..{rec.duration_s:g} s"
    return _range(rec.markers["device_breath"]) if rec.markers is not None else "none"


def _warn_mismatches(counts: dict, labels: BreathLabels, name: str, warn: bool) -> None:
    parts = [(counts["n_absent"], f"{labels.key.replace('_', ' ')}(s) absent from the recording"),
             (counts["n_duplicates"], "duplicated row(s)"),
             (counts["n_conflicts"], "key(s) repeated with different labels (left unlabelled)"),
             (counts["n_multi"], "row(s) with two labels set at once (left unlabelled)")]
    parts = [f"{k} {what}" for k, what in parts if k]
    if warn and parts:
        warnings.warn(
            f"{labels.source}: label table for recording {name}: {counts['n_matched']} of {counts['n_rows']} "
            f"row(s) labelled breaths; " + ", ".join(parts)
            + (f"; {counts['n_unlabelled']} row(s) without a label" if counts["n_unlabelled"] else ""),
            VentgenWarning,
            stacklevel=3,
        )
