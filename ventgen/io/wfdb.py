"""WFDB records (PhysioNet): ``<name>.hea`` header, ``<name>.dat`` signals, ``<name>.atr`` annotations.

Written through the ``wfdb`` package, format 16 (16-bit integers) with a gain and a baseline per
channel chosen by ``wfdb`` to span the channel's range: the resolution of a channel is
``(max - min) / 65535`` of its physical range (e.g. 0.003 L/min for flow in [-100, 100] L/min); NaN
is the format's missing-value code. Channels ``flow`` (L/min), ``paw`` (cmH2O) and ``volume`` (mL).
The subject and start time go in a header comment ``ventgen {json}``. Annotations go in ``.atr``:
an interval ``[start_s, end_s)`` labelled ``x`` is a ``+`` annotation with note ``(x`` at its start
and one with note ``)`` at its end (the rhythm convention of PhysioNet); device breath marks are
comment annotations (``"``) with note ``BS:<breath number>``.

Reading takes any WFDB record whose signal names say flow and pressure (``flow``, ``paw``,
``pressure``...) in units ventgen knows (L/min, L/s, mL/s; cmH2O, hPa, mbar).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

with warnings.catch_warnings():  # wfdb's own deprecation notices (pandas) are not the user's concern
    warnings.simplefilter("ignore")
    import wfdb

from .._core.limits import MAX_RECORDING_SAMPLES
from ..errors import FileFormatError, VentgenError, VentgenValueError
from ..labels import VENTILATION_MODES_TREE, VENTILATION_TREE
from ..signals.recording import Recording
from ._common import _check_nan_policy, _make_recording, _parse_time
from .units import COLUMN_BASES, normalise_unit, split_column, to_base_units

__all__ = ["read_wfdb", "write_wfdb", "wfdb_targets", "find_channels", "label_superclass"]

_NAMES = {"flow": "flow", "pressure": "paw", "volume": "volume"}
_UNITS = {"flow": "L/min", "pressure": "cmH2O", "volume": "mL"}


@contextlib.contextmanager
def _quiet():
    """Silence the warnings wfdb itself raises (pandas deprecations inside the package)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"wfdb(\.|$)")
        yield


def find_channels(names, units, path) -> dict:
    """``{kind: (index, canonical unit)}`` of the flow, pressure and volume signals among ``names``.

    Shared by the WFDB and EDF readers: a signal is found by its name (as CSV columns are) and its
    unit must be one ventgen knows; flow and pressure are required.
    """
    found = {}
    for i, (name, unit) in enumerate(zip(names, units, strict=True)):
        base, _ = split_column(name)
        kind = next((k for k, bases in COLUMN_BASES.items() if base in bases and k != "time"), None)
        if kind is None or kind in found:
            continue
        try:
            found[kind] = (i, normalise_unit(kind, unit, where=f"signal {name!r}"))
        except VentgenValueError as exc:
            raise FileFormatError(path, str(exc), field=str(name)) from None
    missing = [k for k in ("flow", "pressure") if k not in found]
    if missing:
        raise FileFormatError(path, f"no {' and no '.join(missing)} signal among {list(names)}; name them "
                              "flow and paw (or pressure)")
    return found


def label_superclass(labels) -> list[str]:
    """Super-class of labels read back from a format that stores only the label (built-in trees)."""
    known = {c: t.ancestor(c, 1) for t in (VENTILATION_TREE, VENTILATION_MODES_TREE) for c in t.classes}
    return [known.get(str(x), "") for x in labels]


def wfdb_targets(path, rec: Recording | None = None) -> dict:
    """The files of a WFDB record at ``path`` (``.hea``, ``.dat`` or no suffix): ``data`` (the
    header), ``dat`` and ``atr`` (only when ``rec`` has annotations or markers, if given)."""
    p = Path(path)
    base = p.with_suffix("") if p.suffix.lower() in (".hea", ".dat") else p
    if not base.name or not all(ch.isalnum() or ch in "_-" for ch in base.name):
        raise VentgenValueError(f"{path}: a WFDB record name holds only letters, digits, _ and - "
                                f"(got {base.name!r})")
    out = {"data": base.with_name(base.name + ".hea"), "dat": base.with_name(base.name + ".dat"),
           "atr": base.with_name(base.name + ".atr")}
    if rec is not None and not (len(rec.annotations) or rec.n_markers):
        del out["atr"]
    return out


def read_wfdb(path, *, subject: str | None = None, nan_policy: str = "raise", max_gap_s: float = 1.0,
              annotations: bool = True) -> Recording:
    """Read a WFDB record (``.hea`` with its signal file; ``.atr`` annotations when present).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording
    >>> rec = Recording(flow=np.sin(np.arange(100) / 5), pressure=np.full(100, 5.0), sampling_rate=50)
    >>> p = os.path.join(tempfile.mkdtemp(), "r.hea")
    >>> write_wfdb(rec, p)
    >>> bool(np.abs(read_wfdb(p).flow - rec.flow).max() < 1e-4)
    True
    """
    _check_nan_policy(nan_policy)
    p = Path(path)
    stem = p.with_suffix("") if p.suffix.lower() in (".hea", ".dat") else p
    t = {"data": stem.with_name(stem.name + ".hea"), "atr": stem.with_name(stem.name + ".atr")}
    base = str(stem)
    try:
        with _quiet():
            hdr = wfdb.rdheader(base)
        if (hdr.sig_len or 0) * max(hdr.n_sig or 1, 1) > MAX_RECORDING_SAMPLES:
            raise FileFormatError(t["data"], f"{hdr.sig_len} samples; at most {MAX_RECORDING_SAMPLES} are read")
        with _quiet():
            rec = wfdb.rdrecord(base)
    except (VentgenError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - wfdb raises many kinds; one line naming the file
        raise FileFormatError(t["data"], f"not a readable WFDB record ({type(exc).__name__}: "
                              f"{(str(exc).splitlines() or [''])[0][:160]})") from None
    found = find_channels(rec.sig_name, rec.units, t["data"])
    sig = {k: to_base_units(rec.p_signal[:, i].astype(np.float64), k, u) for k, (i, u) in found.items()}
    meta = _header_meta(rec.comments, t["data"])
    ann, markers = (_read_atr(base, t["atr"], rec.fs) if annotations and t["atr"].is_file() else (None, None))
    return _make_recording(
        t["data"], flow=sig["flow"], pressure=sig["pressure"], volume=sig.get("volume"),
        sampling_rate=float(rec.fs), subject=subject if subject is not None else meta.get("subject", t["data"].stem),
        start_time=_parse_time(meta.get("start_time"), t["data"], "start_time") or rec.base_datetime,
        annotations=ann, markers=markers, nan_policy=nan_policy, max_gap_s=max_gap_s,
        metadata={"source_format": "wfdb"},
    )


def _header_meta(comments, path) -> dict:
    for c in comments or []:
        if c.startswith("ventgen "):
            try:
                doc = json.loads(c[len("ventgen "):])
            except ValueError:
                raise FileFormatError(path, "the 'ventgen' header comment is not JSON") from None
            return doc if isinstance(doc, dict) else {}
    return {}


def _read_atr(base: str, path: Path, fs: float):
    try:
        with _quiet():
            a = wfdb.rdann(base, "atr")
    except Exception as exc:  # noqa: BLE001 - one line naming the file
        raise FileFormatError(path, f"not a readable WFDB annotation file ({type(exc).__name__})") from None
    samp = np.asarray(a.sample, np.int64)
    sym = np.asarray(a.symbol, dtype=object)
    aux = np.asarray([x or "" for x in (a.aux_note or [""] * samp.size)], dtype=object)
    bs = (sym == '"') & np.array([x.startswith("BS:") for x in aux], dtype=bool)
    markers = None
    if bs.any():
        markers = {"start_idx": samp[bs], "device_breath": np.array([int(x[3:]) for x in aux[bs]], np.int64)}
    opens = np.flatnonzero((sym == "+") & np.array([x.startswith("(") for x in aux], dtype=bool))
    closes = np.flatnonzero((sym == "+") & (aux == ")"))
    if opens.size == 0:
        return None, markers
    # each interval ends at the first ")" (or next "(") after its start
    nxt_close = np.searchsorted(closes, opens, side="right")
    end_i = np.where(nxt_close < closes.size, closes[np.minimum(nxt_close, closes.size - 1)], -1)
    nxt_open = np.append(opens[1:], -1)
    end_i = np.where((end_i < 0) | ((nxt_open >= 0) & (nxt_open < end_i)), nxt_open, end_i)
    ok = end_i >= 0
    labels = [x[1:] for x in aux[opens[ok]]]
    sup = label_superclass(labels)
    ann = pd.DataFrame({"start_s": samp[opens[ok]] / fs, "end_s": samp[end_i[ok]] / fs, "label": labels,
                        "superclass": sup})
    return ann, markers


def write_wfdb(rec: Recording, path, *, files: dict | None = None) -> None:
    """Write a recording as a WFDB record (not atomic by itself: ``write_recording`` makes it so).

    ``files`` maps ``data``/``dat``/``atr`` to where each file goes (default :func:`wfdb_targets`);
    the record name inside the header is that of ``path``.
    """
    t = wfdb_targets(path, rec)
    files = files or t
    name = t["data"].stem
    chans = [("flow", rec.flow), ("pressure", rec.pressure)] + ([("volume", rec.volume)] if rec.volume is not None else [])
    sig = np.column_stack([np.asarray(x, np.float64) for _, x in chans])
    meta = {"subject": rec.subject,
            "start_time": None if rec.start_time is None else pd.Timestamp(rec.start_time).isoformat()}
    with tempfile.TemporaryDirectory(dir=Path(files["data"]).parent, prefix=".wfdb-") as tmp, _quiet():
        wfdb.wrsamp(name, fs=float(rec.sampling_rate), units=[_UNITS[k] for k, _ in chans],
                    sig_name=[_NAMES[k] for k, _ in chans], p_signal=sig, fmt=["16"] * len(chans),
                    comments=["ventgen " + json.dumps(meta)], write_dir=tmp)
        os.replace(Path(tmp) / f"{name}.hea", files["data"])
        os.replace(Path(tmp) / f"{name}.dat", files["dat"])
        if "atr" in files:
            _write_atr(rec, name, tmp)
            os.replace(Path(tmp) / f"{name}.atr", files["atr"])


def _write_atr(rec: Recording, name: str, tmp: str) -> None:
    fs = rec.sampling_rate
    samp, sym, aux = [], [], []
    ann = rec.annotations
    if ann is not None and len(ann):
        s = np.round(ann["start_s"].to_numpy() * fs).astype(np.int64)
        e = np.round(ann["end_s"].to_numpy() * fs).astype(np.int64)
        samp += [*s, *e]
        sym += ["+"] * (2 * s.size)
        aux += [f"({lab}" for lab in ann["label"].astype(str)] + [")"] * e.size
    mk = rec.markers
    if mk is not None and len(mk):
        samp += list(mk["start_idx"].to_numpy(np.int64))
        sym += ['"'] * len(mk)
        aux += [f"BS:{int(b)}" for b in mk["device_breath"]]
    samp_a = np.asarray(samp, np.int64)
    # closes before opens at the same sample: one interval ends where the next begins
    rank = np.array([0 if a == ")" else 1 for a in aux])
    order = np.lexsort((rank, samp_a))
    with _quiet():
        wfdb.wrann(name, "atr", samp_a[order], symbol=[sym[i] for i in order], aux_note=[aux[i] for i in order],
                   fs=fs, write_dir=tmp)

