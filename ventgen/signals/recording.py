"""The :class:`Recording`: airway flow and pressure at an explicit sampling rate, with annotations.

Units are fixed inside ventgen: flow in L/min (positive = inspiration), pressure in cmH2O, volume in
mL, time in seconds. Readers convert other units when told to; a Recording never holds anything else.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from .._core.limits import MAX_RECORDING_SAMPLES, check_sampling_rate
from ..errors import DataRecoveryWarning, VentgenTypeError, VentgenValueError

__all__ = ["Recording", "ANNOTATION_COLUMNS", "MARKER_COLUMNS", "NAN_POLICIES"]

#: Columns of an annotation table: one interval per row, ``[start_s, end_s)``.
ANNOTATION_COLUMNS = ("start_s", "end_s", "label")
#: Columns of a device-marker table: one device breath per row. ``end_idx`` is exclusive and -1 when
#: the device gave no end mark; ``device_breath`` is the device's own breath number (-1 if unknown).
MARKER_COLUMNS = ("start_idx", "end_idx", "device_breath")
#: Policies for non-finite samples: ``"raise"`` refuses them; ``"interpolate"`` fills gaps no longer
#: than ``max_gap_s`` linearly (with a warning that counts them) and refuses longer ones; ``"keep"``
#: keeps them as NaN.
NAN_POLICIES = ("raise", "interpolate", "keep")


def _as_signal(name: str, values, n: int | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise VentgenTypeError(f"Recording: {name} must be numeric, got {type(values).__name__}") from exc
    if arr.ndim != 1:
        raise VentgenValueError(f"Recording: {name} must be 1-D (n_samples,), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise VentgenValueError(
            f"Recording: {name} has {arr.shape[0]} samples but flow has {n}; channels must have equal lengths"
        )
    return arr


def _nan_runs(bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of runs of True in ``bad`` (vectorised)."""
    padded = np.concatenate(([False], bad, [False])).astype(np.int8)
    d = np.diff(padded)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return starts, ends - starts


def _fill_gaps(name: str, arr: np.ndarray, rate: float, max_gap_s: float) -> tuple[np.ndarray, int]:
    bad = ~np.isfinite(arr)
    if not bad.any():
        return arr, 0
    starts, lengths = _nan_runs(bad)
    longest = int(lengths.max())
    if longest / rate > max_gap_s or bad.all():
        i = int(starts[np.argmax(lengths)])
        raise VentgenValueError(
            f"Recording: {name} has a gap of {longest} non-finite samples ({longest / rate:.2f} s) "
            f"starting at sample {i}; nan_policy='interpolate' fills gaps up to max_gap_s={max_gap_s} s"
        )
    idx = np.arange(arr.size)
    good = ~bad
    out = arr.copy()
    out[bad] = np.interp(idx[bad], idx[good], arr[good])
    return out, int(bad.sum())


_EMPTY_ANNOTATIONS = pd.DataFrame(
    {"start_s": np.empty(0), "end_s": np.empty(0), "label": np.empty(0, dtype=object)}
)


def _empty_annotations() -> pd.DataFrame:
    return _EMPTY_ANNOTATIONS.copy()  # a copy of a template is cheaper than building a DataFrame


def _check_annotations(ann, duration_s: float) -> pd.DataFrame:
    if ann is None:
        return _empty_annotations()
    if not isinstance(ann, pd.DataFrame):
        try:
            ann = pd.DataFrame(ann)
        except Exception as exc:  # noqa: BLE001 - re-raised as a clear error
            raise VentgenTypeError("Recording: annotations must be a DataFrame with start_s, end_s, label") from exc
    missing = [c for c in ANNOTATION_COLUMNS if c not in ann.columns]
    if missing:
        raise VentgenValueError(
            f"Recording: annotations lack column(s) {missing}; expected {list(ANNOTATION_COLUMNS)}"
        )
    if len(ann) == 0 and list(ann.columns) == list(ANNOTATION_COLUMNS):
        return _empty_annotations()
    ann = ann.reset_index(drop=True).copy()
    problems = []
    try:
        ann["start_s"] = ann["start_s"].astype(float)
        ann["end_s"] = ann["end_s"].astype(float)
    except (TypeError, ValueError):
        raise VentgenValueError("Recording: annotation start_s/end_s must be numbers (seconds)") from None
    ann["label"] = ann["label"].astype(str)
    s = ann["start_s"].to_numpy()
    e = ann["end_s"].to_numpy()
    if len(ann):
        if not (np.isfinite(s).all() and np.isfinite(e).all()):
            problems.append("non-finite start_s/end_s")
        bad = np.flatnonzero(e <= s)
        if bad.size:
            problems.append(f"end_s <= start_s in row(s) {bad[:5].tolist()}")
        if (np.diff(s) < 0).any():
            problems.append("rows not sorted by start_s")
        overl = np.flatnonzero(s[1:] < e[:-1] - 1e-9)
        if overl.size:
            problems.append(f"row {int(overl[0]) + 1} overlaps the row before it")
        tol = 1e-6
        if s.min() < -tol or e.max() > duration_s + tol:
            problems.append(f"intervals outside the signal [0, {duration_s:g}] s")
    if problems:
        raise VentgenValueError("Recording: invalid annotations: " + "; ".join(problems))
    return ann


class _Columns(dict):
    """A dict of equal-length arrays seen through the DataFrame attributes _check_markers uses."""

    @property
    def columns(self):
        return list(self.keys())

    def __len__(self):
        return len(next(iter(self.values()))) if dict.__len__(self) else 0


def _check_markers(markers, n: int) -> pd.DataFrame | None:
    if markers is None:
        return None
    if isinstance(markers, dict):  # columns given as arrays: no intermediate DataFrame
        lengths = {len(np.atleast_1d(v)) for v in markers.values()}
        if len(lengths) > 1:
            raise VentgenValueError("Recording: marker columns must have equal lengths")
        markers = _Columns({k: np.atleast_1d(np.asarray(v)) for k, v in markers.items()})
    elif not isinstance(markers, pd.DataFrame):
        markers = pd.DataFrame(markers)
    if "start_idx" not in markers.columns:
        raise VentgenValueError(f"Recording: markers need a start_idx column; expected {list(MARKER_COLUMNS)}")
    # numpy arrays first, one DataFrame at the end (pandas column-by-column edits cost milliseconds)
    data = {}
    for c in MARKER_COLUMNS:
        if c in markers.columns:
            try:
                data[c] = np.asarray(markers[c]).astype(np.int64)
            except (TypeError, ValueError):
                raise VentgenValueError(f"Recording: marker column {c!r} must hold integers (sample indices)") from None
        else:
            data[c] = np.full(len(markers), -1, dtype=np.int64)
    for c in markers.columns:
        if c not in data:
            data[c] = np.asarray(markers[c])
    st = data["start_idx"]
    en = data["end_idx"]
    if len(st):
        if st.min() < 0 or st.max() >= n:
            raise VentgenValueError(f"Recording: marker start_idx outside [0, {n})")
        if (np.diff(st) <= 0).any():
            raise VentgenValueError("Recording: marker start_idx must be strictly increasing")
        has_end = en >= 0
        if (en[has_end] > n).any() or (en[has_end] <= st[has_end]).any():
            raise VentgenValueError("Recording: marker end_idx must lie in (start_idx, n_samples]")
    if len(data) == len(MARKER_COLUMNS):  # the usual case: one int64 block is much cheaper to build
        return pd.DataFrame(np.column_stack([data[c] for c in MARKER_COLUMNS]), columns=list(MARKER_COLUMNS))
    return pd.DataFrame(data)


@dataclass(eq=False)
class Recording:
    """One continuous recording of airway flow and pressure.

    Parameters
    ----------
    flow : array-like of shape (n_samples,)
        Airway flow in L/min, positive into the patient.
    pressure : array-like of shape (n_samples,)
        Airway pressure in cmH2O.
    sampling_rate : float
        Samples per second (Hz), in [10, 1000] (:data:`ventgen._core.limits.SAMPLING_RATE_HZ`, the one rule
        for every rate). Required: ventgen never assumes a rate.
    volume : array-like of shape (n_samples,), optional
        Volume in mL, when the source has it.
    subject : str
        Subject (patient) identifier.
    start_time : datetime, optional
        Wall-clock time of the first sample.
    metadata : dict
        Free, JSON-serialisable metadata (device, settings, source file ...).
    markers : DataFrame, optional
        Device breath markers, columns :data:`MARKER_COLUMNS` (sample indices).
    annotations : DataFrame, optional
        Labelled intervals, columns :data:`ANNOTATION_COLUMNS` (seconds) and optionally
        ``superclass``; sorted, non-overlapping and inside the signal.
    nan_policy : {"raise", "interpolate", "keep"}
        What to do with non-finite samples, see :data:`NAN_POLICIES`.
    max_gap_s : float
        Longest gap ``nan_policy="interpolate"`` fills.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 10, 0.02)
    >>> rec = Recording(flow=30 * np.sin(2 * np.pi * t / 4), pressure=5 + 0 * t, sampling_rate=50)
    >>> rec.n_samples, rec.duration_s
    (500, 10.0)
    """

    flow: np.ndarray
    pressure: np.ndarray
    sampling_rate: float
    volume: np.ndarray | None = None
    subject: str = ""
    start_time: datetime | None = None
    metadata: dict = field(default_factory=dict)
    markers: pd.DataFrame | None = None
    annotations: pd.DataFrame | None = None
    nan_policy: str = "raise"
    max_gap_s: float = 1.0

    def __post_init__(self):
        if isinstance(self.sampling_rate, bool) or not isinstance(self.sampling_rate, (int, float, np.number)):
            raise VentgenTypeError(
                f"Recording: sampling_rate must be a number in Hz, got {type(self.sampling_rate).__name__}"
            )
        rate = check_sampling_rate(self.sampling_rate, "Recording: sampling_rate")
        self.sampling_rate = rate
        if self.nan_policy not in NAN_POLICIES:
            raise VentgenValueError(f"Recording: nan_policy must be one of {NAN_POLICIES}, got {self.nan_policy!r}")
        self.flow = _as_signal("flow", self.flow, None)
        n = self.flow.shape[0]
        if n == 0:
            raise VentgenValueError("Recording: the signal is empty (0 samples)")
        if n > MAX_RECORDING_SAMPLES:
            raise VentgenValueError(
                f"Recording: {n} samples; a recording holds at most {MAX_RECORDING_SAMPLES} per channel"
            )
        self.pressure = _as_signal("pressure", self.pressure, n)
        if self.volume is not None:
            self.volume = _as_signal("volume", self.volume, n)
        self.subject = str(self.subject)
        self.metadata = dict(self.metadata or {})
        chans = [("flow", self.flow), ("pressure", self.pressure)]
        if self.volume is not None:
            chans.append(("volume", self.volume))
        if self.nan_policy == "raise":
            for name, arr in chans:
                bad = ~np.isfinite(arr)
                if bad.any():
                    i = int(np.argmax(bad))
                    raise VentgenValueError(
                        f"Recording: {name} has {int(bad.sum())} non-finite sample(s), first at sample {i}; "
                        "pass nan_policy='interpolate' or 'keep' to accept gaps"
                    )
        elif self.nan_policy == "interpolate":
            filled = {}
            for name, arr in chans:
                new, count = _fill_gaps(name, arr, rate, self.max_gap_s)
                setattr(self, name, new)
                if count:
                    filled[name] = count
            if filled:
                desc = ", ".join(f"{k}: {v}" for k, v in filled.items())
                warnings.warn(
                    f"Recording {self.subject or '(no subject)'}: filled non-finite samples by linear "
                    f"interpolation ({desc} samples)",
                    DataRecoveryWarning,
                    stacklevel=3,
                )
        self.markers = _check_markers(self.markers, n)
        self.annotations = _check_annotations(self.annotations, n / rate)

    # ------------------------------------------------------------------ properties
    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return int(self.flow.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration in seconds (``n_samples / sampling_rate``)."""
        return self.n_samples / self.sampling_rate

    @property
    def time_s(self) -> np.ndarray:
        """Time of every sample in seconds from the first one."""
        return np.arange(self.n_samples) / self.sampling_rate

    @property
    def channels(self) -> list[str]:
        """Names of the channels present, with units."""
        names = ["flow_lpm", "paw_cmh2o"]
        if self.volume is not None:
            names.append("volume_ml")
        return names

    @property
    def n_nan(self) -> int:
        """Number of non-finite samples over all channels."""
        total = int((~np.isfinite(self.flow)).sum() + (~np.isfinite(self.pressure)).sum())
        if self.volume is not None:
            total += int((~np.isfinite(self.volume)).sum())
        return total

    @property
    def n_markers(self) -> int:
        """Number of device breath markers (0 when the source had none)."""
        return 0 if self.markers is None else len(self.markers)

    # ------------------------------------------------------------------ helpers
    def to_frame(self) -> pd.DataFrame:
        """The signals as a DataFrame with a ``time_s`` column and unit-suffixed channel columns."""
        data = {"time_s": self.time_s, "flow_lpm": self.flow, "paw_cmh2o": self.pressure}
        if self.volume is not None:
            data["volume_ml"] = self.volume
        return pd.DataFrame(data)

    def label_per_sample(self, column: str = "label", unlabelled: str = "") -> np.ndarray:
        """Label of every sample from the annotations (``unlabelled`` outside every interval).

        Vectorised with :func:`numpy.searchsorted`; annotations are sorted and non-overlapping.
        """
        out = np.full(self.n_samples, unlabelled, dtype=object)
        if self.annotations is None or len(self.annotations) == 0:
            return out
        ann = self.annotations
        t = self.time_s
        k = np.searchsorted(ann["start_s"].to_numpy(), t, side="right") - 1
        ok = k >= 0
        ok[ok] &= t[ok] < ann["end_s"].to_numpy()[k[ok]]
        out[ok] = ann[column].to_numpy()[k[ok]]
        return out

    def slice(self, start_s: float, end_s: float) -> Recording:
        """The part of the recording in ``[start_s, end_s)``, annotations and markers clipped to it."""
        i0 = max(0, int(round(start_s * self.sampling_rate)))
        i1 = min(self.n_samples, int(round(end_s * self.sampling_rate)))
        if i1 <= i0:
            raise VentgenValueError(f"Recording.slice: empty interval [{start_s}, {end_s}) s")
        off = i0 / self.sampling_rate
        ann = self.annotations
        if ann is not None and len(ann):
            ann = ann[(ann["end_s"] > off) & (ann["start_s"] < i1 / self.sampling_rate)].copy()
            ann["start_s"] = (ann["start_s"] - off).clip(lower=0.0)
            ann["end_s"] = (ann["end_s"] - off).clip(upper=(i1 - i0) / self.sampling_rate)
        mk = self.markers
        if mk is not None:
            mk = mk[(mk["start_idx"] >= i0) & (mk["start_idx"] < i1)].copy()
            mk["start_idx"] -= i0
            has_end = mk["end_idx"] >= 0
            mk.loc[has_end, "end_idx"] = (mk.loc[has_end, "end_idx"] - i0).clip(upper=i1 - i0)
        return Recording(
            flow=self.flow[i0:i1].copy(),
            pressure=self.pressure[i0:i1].copy(),
            sampling_rate=self.sampling_rate,
            volume=None if self.volume is None else self.volume[i0:i1].copy(),
            subject=self.subject,
            start_time=None if self.start_time is None else self.start_time + pd.Timedelta(seconds=off),
            metadata=dict(self.metadata),
            markers=mk,
            annotations=ann,
            nan_policy="keep",
        )

    def equals(self, other: Recording, *, atol: float = 0.0) -> bool:
        """True when signals (within ``atol``), rate, subject, markers and annotations agree."""
        if not isinstance(other, Recording):
            return False
        if self.n_samples != other.n_samples or self.sampling_rate != other.sampling_rate:
            return False
        if self.subject != other.subject:
            return False
        for a, b in ((self.flow, other.flow), (self.pressure, other.pressure)):
            if not np.allclose(a, b, atol=atol, rtol=0, equal_nan=True):
                return False
        if (self.volume is None) != (other.volume is None):
            return False
        if self.volume is not None and not np.allclose(self.volume, other.volume, atol=atol, rtol=0, equal_nan=True):
            return False
        if (self.markers is None) != (other.markers is None):
            return False
        if self.markers is not None and not self.markers[list(MARKER_COLUMNS)].equals(other.markers[list(MARKER_COLUMNS)]):
            return False
        a1 = self.annotations.reset_index(drop=True)
        a2 = other.annotations.reset_index(drop=True)
        if len(a1) != len(a2):
            return False
        if len(a1):
            if not np.allclose(a1["start_s"], a2["start_s"], atol=1e-9) or not np.allclose(a1["end_s"], a2["end_s"], atol=1e-9):
                return False
            if list(a1["label"]) != list(a2["label"]):
                return False
        return True

    def __repr__(self) -> str:
        return (
            f"Recording(subject={self.subject!r}, n_samples={self.n_samples}, sampling_rate={self.sampling_rate:g} Hz, "
            f"duration={self.duration_s:.1f} s, channels={self.channels}, markers={self.n_markers}, "
            f"annotations={len(self.annotations)})"
        )
