"""EDF+ files (European Data Format, continuous ``EDF+C``) through ``pyedflib``.

Signals ``flow`` (L/min), ``paw`` (cmH2O) and ``volume`` (mL) are 16-bit digital values with a
physical range per channel set to the channel's finite range: the resolution is ``(max - min) /
65535`` of that range (e.g. 0.003 L/min for flow in [-100, 100] L/min). The digital value -32768 is
kept for missing samples (NaN) in files ventgen writes. EDF stores whole data records: the true
sample count, and that the file is ventgen's, go in the recording field (``ventgen:n_samples=<n>``);
the subject is the patient code (spaces become ``_``); a recording without a start time gets the
EDF+ anonymous date 1985-01-01. Annotations are EDF+ annotations: one per interval (onset,
duration, label; labels are cut at 40 characters) and one per device breath mark (``BS:<n>``, no
duration). Super-classes are not stored: on reading they come from the built-in hierarchies.
"""

from __future__ import annotations

import re
import warnings
from datetime import datetime
from fractions import Fraction

import numpy as np
import pandas as pd
import pyedflib

from .._core.limits import MAX_RECORDING_SAMPLES
from ..errors import FileFormatError, VentgenError, VentgenValueError
from ..signals.recording import Recording
from ._common import _check_nan_policy, _make_recording
from .units import to_base_units
from .wfdb import find_channels, label_superclass

__all__ = ["read_edf", "write_edf"]

_NAMES = {"flow": ("flow", "L/min"), "pressure": ("paw", "cmH2O"), "volume": ("volume", "mL")}
_ANON_DATE = datetime(1985, 1, 1)
_NAN = -32768
_TAG = re.compile(r"ventgen:n_samples=(\d+)")


def read_edf(path, *, subject: str | None = None, nan_policy: str = "raise", max_gap_s: float = 1.0,
             annotations: bool = True) -> Recording:
    """Read an EDF or EDF+ file: the flow and pressure signals (and volume), annotations, breath marks.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording
    >>> rec = Recording(flow=np.sin(np.arange(120) / 5), pressure=np.full(120, 5.0), sampling_rate=50)
    >>> p = os.path.join(tempfile.mkdtemp(), "r.edf")
    >>> write_edf(rec, p)
    >>> back = read_edf(p)
    >>> back.n_samples, bool(np.abs(back.flow - rec.flow).max() < 1e-4)
    (120, True)
    """
    _check_nan_policy(nan_policy)
    try:
        f = pyedflib.EdfReader(str(path))
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyedflib raises OSError for every defect; one line
        raise FileFormatError(path, f"not a readable EDF file ({(str(exc).splitlines() or [''])[0][:160]})") from None
    try:
        return _read_open(f, path, subject, nan_policy, max_gap_s, annotations)
    finally:
        f.close()


def _read_open(f, path, subject, nan_policy, max_gap_s, annotations) -> Recording:
    names = f.getSignalLabels()
    found = find_channels(names, [f.getPhysicalDimension(i) for i in range(len(names))], path)
    rates = {k: float(f.getSampleFrequency(i)) for k, (i, _) in found.items()}
    if len(set(rates.values())) != 1:
        raise FileFormatError(path, f"signals at different rates {rates}; ventgen needs one rate")
    fs = rates["flow"]
    hdr = f.getHeader()
    tag = _TAG.search(hdr.get("recording_additional", "") or "")
    n = int(f.getNSamples()[found["flow"][0]])
    n = min(n, int(tag.group(1))) if tag else n
    if n * len(found) > MAX_RECORDING_SAMPLES:
        raise FileFormatError(path, f"{n} samples; at most {MAX_RECORDING_SAMPLES} are read")
    sig = {}
    for k, (i, unit) in found.items():
        x = f.readSignal(i, 0, n).astype(np.float64)
        if tag:  # ventgen's own files keep NaN as the lowest digital value
            x[f.readSignal(i, 0, n, digital=True) == _NAN] = np.nan
        sig[k] = to_base_units(x, k, unit)
    ann, markers = _annotations(f, fs, n) if annotations else (None, None)
    start = f.getStartdatetime()
    code = (hdr.get("patientcode") or "").strip()
    return _make_recording(
        path, flow=sig["flow"], pressure=sig["pressure"], volume=sig.get("volume"), sampling_rate=fs,
        subject=subject if subject is not None else (code or str(path).rsplit("/", 1)[-1].rsplit(".", 1)[0]),
        start_time=None if start == _ANON_DATE else start, annotations=ann, markers=markers,
        nan_policy=nan_policy, max_gap_s=max_gap_s, metadata={"source_format": "edf"},
    )


def _annotations(f, fs: float, n: int):
    onset, dur, text = f.readAnnotations()
    text = np.asarray([str(t) for t in text], dtype=object)
    onset = np.asarray(onset, np.float64)
    dur = np.asarray(dur, np.float64)
    bs = np.array([t.startswith("BS:") and t[3:].lstrip("-").isdigit() for t in text], dtype=bool)
    markers = None
    if bs.any():
        idx = np.round(onset[bs] * fs).astype(np.int64)
        keep = idx < n
        markers = {"start_idx": idx[keep], "device_breath": np.array([int(t[3:]) for t in text[bs]], np.int64)[keep]}
    iv = ~bs & (dur > 0)
    if not iv.any():
        return None, markers
    labels = text[iv].tolist()
    ann = pd.DataFrame({"start_s": onset[iv], "end_s": np.minimum(onset[iv] + dur[iv], n / fs), "label": labels,
                        "superclass": label_superclass(labels)})
    return ann.sort_values("start_s", kind="stable").reset_index(drop=True), markers


def _record_duration(fs: float) -> tuple[float, int]:
    """(seconds per data record, samples per record): the shortest whole number of samples."""
    fr = Fraction(fs).limit_denominator(1000)
    if abs(float(fr) - fs) > 1e-9 * fs:
        raise VentgenValueError(f"EDF: sampling rate {fs:g} Hz is not a ratio of small integers")
    return float(fr.denominator), int(fr.numerator)


def write_edf(rec: Recording, path) -> None:
    """Write a recording as EDF+ (not atomic by itself: ``write_recording`` makes it so)."""
    chans = [("flow", rec.flow), ("pressure", rec.pressure)] + ([("volume", rec.volume)] if rec.volume is not None else [])
    dur, per_rec = _record_duration(rec.sampling_rate)
    headers, data = [], []
    for kind, x in chans:
        x = np.asarray(x, np.float64)
        fin = x[np.isfinite(x)]
        lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
        if hi - lo < 1e-6:
            lo, hi = lo - 1.0, hi + 1.0
        # 8-character header fields, rounded outwards; the lowest digital value is kept for NaN
        lo8, hi8 = _fit8(lo - (hi - lo) / 65000, -1), _fit8(hi, 1)
        step = (hi8 - lo8) / 65535
        dig = np.where(np.isfinite(x), np.clip(np.round((x - lo8) / step) - 32768, -32767, 32767), _NAN)
        name, unit = _NAMES[kind]
        headers.append({"label": name, "dimension": unit, "sample_frequency": per_rec / dur,
                        "physical_min": lo8, "physical_max": hi8, "digital_min": _NAN, "digital_max": 32767})
        data.append(dig.astype(np.int32))
    w = pyedflib.EdfWriter(str(path), len(chans), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        if dur != 1.0:  # whole samples per data record for rates that are not whole numbers
            with warnings.catch_warnings():  # pyedflib's note on it: the rate is exact here
                warnings.simplefilter("ignore")
                w.setDatarecordDuration(dur)
        w.setSignalHeaders(headers)
        w.setPatientCode(re.sub(r"\s+", "_", rec.subject)[:60] or "X")
        w.setRecordingAdditional(f"ventgen:n_samples={rec.n_samples}")
        w.setStartdatetime(rec.start_time or _ANON_DATE)
        w.writeSamples(data, digital=True)
        _write_annotations(w, rec)
    except VentgenError:
        raise
    except Exception as exc:  # noqa: BLE001 - one line naming the file
        raise FileFormatError(path, f"cannot write EDF: {(str(exc).splitlines() or [''])[0][:160]}") from None
    finally:
        w.close()


def _fit8(v: float, direction: int) -> float:
    """``v`` rounded outwards (``direction`` -1 down, +1 up) to a number of at most 8 characters."""
    for decimals in range(7, -1, -1):
        out = round(v, decimals)
        if (out - v) * direction < 0:  # rounded inwards: one unit of the last decimal outwards
            out = round(out + direction * 10.0**-decimals, decimals)
        if len(f"{out:.{decimals}f}".rstrip("0").rstrip(".")) <= 8:
            return out
    raise VentgenValueError(f"EDF: a physical value {v:g} does not fit the 8 characters of the header")


def _write_annotations(w, rec: Recording) -> None:
    ann = rec.annotations
    if ann is not None and len(ann):
        for s, e, lab in zip(ann["start_s"], ann["end_s"], ann["label"].astype(str), strict=True):
            w.writeAnnotation(float(s), float(e - s), lab[:40])
    mk = rec.markers
    if mk is not None and len(mk):
        t = mk["start_idx"].to_numpy(np.int64) / rec.sampling_rate
        for s, b in zip(t, mk["device_breath"].to_numpy(np.int64), strict=True):
            w.writeAnnotation(float(s), -1, f"BS:{int(b)}")
