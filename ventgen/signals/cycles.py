"""Breath cycles as a fixed-size dataset: the :class:`CycleSet` and :func:`extract_cycles`.

Each breath becomes one cycle of ``length`` samples per channel (flow L/min, pressure cmH2O) at a
cycle sampling rate (25 Hz by default, so 200 samples hold 8 s), edge-padded after the breath end as
in the HTVAE paper. Breaths longer than ``length`` samples are dropped or time-compressed
(``long_policy``), with a warning that counts them. Cycles keep their original length, the rates,
the subject, the per-breath metadata and the fine and super-class labels (majority overlap with the
recording's annotations, ``""`` when unlabelled).

CycleSets are read and written by :mod:`ventgen.io.cycleset` (:func:`ventgen.read_cycleset`,
:func:`ventgen.write_cycleset`); this module never opens a file.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._core.limits import MAX_CYCLE_LENGTH, MAX_CYCLESET_VALUES, check_count, check_sampling_rate
from ..errors import VentgenTypeError, VentgenValueError, VentgenWarning
from ..labels import VENTILATION_CLASSES, VENTILATION_TREE
from .recording import Recording
from .segment import segment_breaths

__all__ = ["CycleSet", "extract_cycles", "recording_cycles", "check_cycle_args", "edge_pad", "LONG_POLICIES",
           "CHANNELS"]

LONG_POLICIES = ("drop", "compress")
#: Channel names of a cycle, with units.
CHANNELS = ("flow_lpm", "paw_cmh2o")


def _str_array(values, n: int, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, "", dtype=str).astype(object).astype(str)
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise VentgenValueError(f"CycleSet: {name} must have shape ({n},), got {arr.shape}")
    return np.array(["" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in arr.tolist()], dtype=str) if n else np.empty(0, dtype=str)


class CycleSet:
    """Breath cycles of equal length, with their labels, subjects and metadata.

    Parameters
    ----------
    X : array-like of shape (n_cycles, n_channels, length)
        Cycles in original units (flow L/min, pressure cmH2O), edge-padded after ``lengths``.
    lengths : array-like of int, shape (n_cycles,)
        Samples of each cycle before padding (at ``sampling_rate``).
    sampling_rate : float
        Cycle sampling rate in Hz.
    channels : sequence of str
        Channel names with units; default :data:`CHANNELS`.
    labels, superclasses, subjects : array-like of str, optional
        Fine label, super-class label (``""`` = unlabelled) and subject of every cycle.
    breaths : DataFrame, optional
        One row of breath metadata per cycle (see :func:`ventgen.segment_breaths`).
    source_rate : array-like of float, optional
        Sampling rate of the recording each cycle comes from.

    Examples
    --------
    >>> import numpy as np
    >>> cs = CycleSet(np.zeros((3, 2, 200), np.float32), lengths=[100, 120, 200], sampling_rate=25)
    >>> len(cs), cs.X.shape, cs.to_tslearn().shape
    (3, (3, 2, 200), (3, 200, 2))
    """

    def __init__(
        self,
        X,
        lengths,
        sampling_rate: float,
        channels=CHANNELS,
        labels=None,
        superclasses=None,
        subjects=None,
        breaths: pd.DataFrame | None = None,
        source_rate=None,
    ):
        try:
            X = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise VentgenTypeError(f"CycleSet: X must be numeric, got {type(X).__name__}") from exc
        if X.ndim != 3:
            raise VentgenValueError(f"CycleSet: X must have shape (n_cycles, n_channels, length), got {X.shape}")
        n, c, t = X.shape
        channels = [str(ch) for ch in channels]
        if len(channels) != c:
            raise VentgenValueError(f"CycleSet: {len(channels)} channel names for {c} channels in X")
        sampling_rate = check_sampling_rate(sampling_rate, "CycleSet: sampling_rate")
        try:
            lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise VentgenTypeError(f"CycleSet: lengths must be integers, got {type(lengths).__name__}") from exc
        if lengths.shape != (n,):
            raise VentgenValueError(f"CycleSet: lengths must have shape ({n},), got {lengths.shape}")
        if n and (lengths.min() < 1 or lengths.max() > t):
            raise VentgenValueError(f"CycleSet: lengths must lie in [1, {t}]")
        if t > MAX_CYCLE_LENGTH:
            raise VentgenValueError(f"CycleSet: cycles of {t} samples; at most {MAX_CYCLE_LENGTH} (MAX_CYCLE_LENGTH)")
        self.X = X
        self.lengths = lengths
        self.sampling_rate = float(sampling_rate)
        self.channels = channels
        self.labels = _str_array(labels, n, "labels")
        self.superclasses = _str_array(superclasses, n, "superclasses")
        self.subjects = _str_array(subjects, n, "subjects")
        if breaths is None:
            breaths = pd.DataFrame(index=range(n))
        if not isinstance(breaths, pd.DataFrame) or len(breaths) != n:
            raise VentgenValueError(f"CycleSet: breaths must be a DataFrame with {n} rows")
        self.breaths = breaths.reset_index(drop=True)
        if source_rate is None:
            source_rate = np.full(n, np.nan)
        self.source_rate = np.asarray(source_rate, dtype=np.float64).reshape(n)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def length(self) -> int:
        """Samples per cycle (after padding)."""
        return int(self.X.shape[2])

    @property
    def n_channels(self) -> int:
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        n_lab = int((self.labels != "").sum())
        return (
            f"CycleSet(n={len(self)}, channels={self.channels}, length={self.length}, "
            f"sampling_rate={self.sampling_rate:g} Hz, labelled={n_lab}, subjects={len(np.unique(self.subjects))})"
        )

    def subset(self, idx) -> CycleSet:
        """The cycles selected by ``idx`` (integer indices or a boolean mask), as a new CycleSet."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise VentgenValueError(f"CycleSet.subset: boolean mask of shape {idx.shape}, expected ({len(self)},)")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise VentgenValueError(f"CycleSet.subset: index out of range for {len(self)} cycles")
        return CycleSet(
            self.X[idx],
            self.lengths[idx],
            self.sampling_rate,
            self.channels,
            self.labels[idx],
            self.superclasses[idx],
            self.subjects[idx],
            self.breaths.iloc[idx].reset_index(drop=True),
            self.source_rate[idx],
        )

    @staticmethod
    def concatenate(sets) -> CycleSet:
        """One CycleSet from several with the same length, rate and channels."""
        sets = list(sets)
        if not sets:
            raise VentgenValueError("CycleSet.concatenate: no CycleSet given")
        for s in sets:
            if not isinstance(s, CycleSet):
                raise VentgenTypeError(f"CycleSet.concatenate: expected CycleSets, got {type(s).__name__}")
        a = sets[0]
        for i, s in enumerate(sets[1:], 1):
            if s.length != a.length or s.channels != a.channels or s.sampling_rate != a.sampling_rate:
                raise VentgenValueError(
                    f"CycleSet.concatenate: set {i} has length {s.length}, channels {s.channels}, rate "
                    f"{s.sampling_rate:g} Hz; set 0 has {a.length}, {a.channels}, {a.sampling_rate:g} Hz"
                )
        return CycleSet(
            np.concatenate([s.X for s in sets]) if sets else a.X,
            np.concatenate([s.lengths for s in sets]),
            a.sampling_rate,
            a.channels,
            np.concatenate([s.labels for s in sets]),
            np.concatenate([s.superclasses for s in sets]),
            np.concatenate([s.subjects for s in sets]),
            pd.concat([s.breaths for s in sets], ignore_index=True),
            np.concatenate([s.source_rate for s in sets]),
        )

    def to_tslearn(self, pad: str = "edge") -> np.ndarray:
        """Cycles in tslearn's layout ``(n, length, n_channels)``.

        ``pad="edge"`` keeps the edge padding; ``pad="nan"`` puts NaN after each cycle's length, the
        tslearn convention for variable-length series.
        """
        if pad not in ("edge", "nan"):
            raise VentgenValueError(f"CycleSet.to_tslearn: pad must be 'edge' or 'nan', got {pad!r}")
        out = np.ascontiguousarray(np.transpose(self.X, (0, 2, 1))).astype(np.float64)
        if pad == "nan":
            mask = np.arange(self.length)[None, :] >= self.lengths[:, None]
            out[mask] = np.nan
        return out

    def valid_mask(self) -> np.ndarray:
        """Boolean ``(n, length)``: True on samples of the breath itself, False on padding."""
        return np.arange(self.length)[None, :] < self.lengths[:, None]

# ----------------------------------------------------------------------------- labels
def _majority_labels(starts_s, ends_s, ann: pd.DataFrame | None, column: str, min_overlap: float) -> np.ndarray:
    """Label of the annotation class covering most of each ``[start, end)`` (>= min_overlap of it)."""
    nb = starts_s.size
    out = np.full(nb, "", dtype=object)
    if ann is None or len(ann) == 0 or column not in ann.columns or nb == 0:
        return out.astype(str)
    a0 = ann["start_s"].to_numpy(np.float64)
    a1 = ann["end_s"].to_numpy(np.float64)
    labs = ann[column].astype(str).to_numpy()
    codes, uniq = pd.factorize(labs)
    # annotations overlapping breath i: indices [k0, k1)
    k0 = np.searchsorted(a1, starts_s, side="right")
    k1 = np.searchsorted(a0, ends_s, side="left")
    cnt = np.maximum(k1 - k0, 0)
    if cnt.sum() == 0:
        return out.astype(str)
    bi = np.repeat(np.arange(nb), cnt)
    offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    ai = np.repeat(k0, cnt) + offs
    ov = np.minimum(ends_s[bi], a1[ai]) - np.maximum(starts_s[bi], a0[ai])
    ov = np.maximum(ov, 0.0)
    acc = np.zeros((nb, len(uniq)))
    np.add.at(acc, (bi, codes[ai]), ov)
    best = np.argmax(acc, axis=1)
    share = acc[np.arange(nb), best] / np.maximum(ends_s - starts_s, 1e-12)
    ok = (acc[np.arange(nb), best] > 0) & (share >= min_overlap) & (uniq[best] != "")
    out[ok] = np.asarray(uniq)[best[ok]]
    return out.astype(str)


# ----------------------------------------------------------------------------- extraction
def check_cycle_args(length, cycle_rate, long_policy, who: str) -> tuple[int, float]:
    """Check the cycle length (2..MAX_CYCLE_LENGTH samples), rate (the one rule) and long policy."""
    length = check_count(length, f"{who}: length (samples per cycle, MAX_CYCLE_LENGTH)", low=2, high=MAX_CYCLE_LENGTH)
    cycle_rate = check_sampling_rate(cycle_rate, f"{who}: cycle_rate")
    if long_policy not in LONG_POLICIES:
        raise VentgenValueError(f"{who}: long_policy must be one of {LONG_POLICIES}, got {long_policy!r}")
    return length, cycle_rate


def extract_cycles(
    recording: Recording,
    breaths: pd.DataFrame,
    length: int = 200,
    cycle_rate: float = 25.0,
    long_policy: str = "drop",
    *,
    min_label_overlap: float = 0.5,
    min_samples: int = 2,
) -> CycleSet:
    """Cut a recording into breath cycles of ``length`` samples at ``cycle_rate`` Hz.

    Every breath ``[start_idx, end_idx)`` of ``breaths`` is resampled (linear interpolation) to
    ``cycle_rate`` and edge-padded after its end up to ``length`` samples. Fully vectorised: one
    gather over an ``(n_breaths, length)`` index grid per channel.

    Parameters
    ----------
    recording : Recording
        The recording the breath table was computed on.
    breaths : DataFrame
        Breath table from :func:`ventgen.segment_breaths` (needs ``start_idx`` and ``end_idx``).
    length : int
        Samples per cycle.
    cycle_rate : float
        Cycle sampling rate in Hz; ``length / cycle_rate`` seconds fit in a cycle (8 s by default).
    long_policy : {"drop", "compress"}
        Breaths longer than ``length / cycle_rate`` s are dropped, or resampled to exactly ``length``
        samples (time-compressed; column ``compressed`` of the metadata is True). Both warn with a count.
    min_label_overlap : float
        A cycle takes the annotation class covering the largest share of the breath when that share
        is at least this; otherwise it is unlabelled (``""``).
    min_samples : int
        Breaths with fewer source samples are dropped (with a warning).

    Returns
    -------
    CycleSet

    Examples
    --------
    >>> import numpy as np
    >>> from ventgen import Recording, segment_breaths
    >>> t = np.arange(0, 12, 0.02)
    >>> ph = t % 4
    >>> flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    >>> rec = Recording(flow=flow, pressure=5 + 10 * (ph < 1.2), sampling_rate=50)
    >>> cs = extract_cycles(rec, segment_breaths(rec, method="flow"))
    >>> cs.X.shape, cs.lengths.tolist()
    ((3, 2, 200), [100, 100, 100])
    """
    _check_inputs(recording, breaths)
    length, cycle_rate = check_cycle_args(length, cycle_rate, long_policy, "extract_cycles")
    starts, ends = _breath_bounds(recording, breaths)
    fs = recording.sampling_rate
    name = recording.subject or "(no subject)"
    step = fs / cycle_rate  # source samples per cycle sample
    out_len = np.maximum(1, np.round((ends - starts) / step).astype(np.int64))
    keep, compressed = _select_breaths(starts, ends, out_len, length, cycle_rate, long_policy, min_samples, name)
    sel = np.flatnonzero(keep)
    if sel.size * 2 * length > MAX_CYCLESET_VALUES:
        raise VentgenValueError(
            f"extract_cycles: {sel.size} cycles x 2 channels x {length} samples exceed {MAX_CYCLESET_VALUES} values; "
            "use a shorter length or fewer recordings at a time"
        )
    s, e, ln = starts[sel], ends[sel], out_len[sel]
    comp = compressed[sel]
    ln = np.where(comp, length, np.minimum(ln, length))
    X = _resample(recording, s, e, ln, comp, length, step)
    meta = breaths.iloc[sel].reset_index(drop=True).copy()
    meta["subject"] = recording.subject
    meta["compressed"] = comp
    st_s = s / fs
    en_s = e / fs
    labels = _majority_labels(st_s, en_s, recording.annotations, "label", min_label_overlap)
    supers = _majority_labels(st_s, en_s, recording.annotations, "superclass", min_label_overlap)
    if recording.annotations is not None and "superclass" not in recording.annotations.columns:
        supers = _superclass_from_tree(labels)
    return CycleSet(
        X,
        ln,
        cycle_rate,
        CHANNELS,
        labels,
        supers,
        np.full(sel.size, recording.subject, dtype=object),
        meta,
        np.full(sel.size, fs),
    )


def _check_inputs(recording, breaths) -> None:
    """A Recording and a breath table with ``start_idx`` and ``end_idx``."""
    if not isinstance(recording, Recording):
        raise VentgenTypeError(f"extract_cycles: expected a ventgen.Recording, got {type(recording).__name__}")
    if not isinstance(breaths, pd.DataFrame):
        raise VentgenTypeError(f"extract_cycles: breaths must be a DataFrame (from segment_breaths), got {type(breaths).__name__}")
    missing = [c for c in ("start_idx", "end_idx") if c not in breaths.columns]
    if missing:
        raise VentgenValueError(f"extract_cycles: breath table lacks column(s) {missing}")


def _breath_bounds(recording, breaths) -> tuple[np.ndarray, np.ndarray]:
    """``start_idx`` and ``end_idx`` of the breath table, checked against the recording."""
    n = recording.n_samples
    starts = breaths["start_idx"].to_numpy(np.int64)
    ends = breaths["end_idx"].to_numpy(np.int64)
    if starts.size and (starts.min() < 0 or ends.max() > n or (ends <= starts).any()):
        raise VentgenValueError(
            f"extract_cycles: breath bounds outside recording {recording.subject or '(no subject)'} ({n} samples) "
            "or empty; was the table computed on another recording?"
        )
    return starts, ends


def _select_breaths(starts, ends, out_len, length, cycle_rate, long_policy, min_samples, name):
    """(kept, compressed) masks of the breaths: too short ones dropped, long ones dropped or compressed,
    each with one warning (at the caller of :func:`extract_cycles`) that counts them."""
    keep = (ends - starts) >= min_samples
    if (~keep).any():
        warnings.warn(
            f"extract_cycles: dropped {int((~keep).sum())} breath(s) of recording {name} shorter than "
            f"{min_samples} samples",
            VentgenWarning,
            stacklevel=3,
        )
    long_ = keep & (out_len > length)
    compressed = np.zeros(starts.size, dtype=bool)
    if long_.any():
        limit = length / cycle_rate
        if long_policy == "drop":
            keep &= ~long_
            warnings.warn(
                f"extract_cycles: dropped {int(long_.sum())} of {starts.size} breaths of recording {name} longer "
                f"than {limit:g} s ({length} samples at {cycle_rate:g} Hz); use long_policy='compress' to keep them",
                VentgenWarning,
                stacklevel=3,
            )
        else:
            compressed = long_
            warnings.warn(
                f"extract_cycles: time-compressed {int(long_.sum())} of {starts.size} breaths of recording {name} "
                f"longer than {limit:g} s into {length} samples",
                VentgenWarning,
                stacklevel=3,
            )
    return keep, compressed


def _resample(recording, s, e, ln, comp, length, step) -> np.ndarray:
    """Cycles ``(n, 2, length)`` float32: breaths ``[s, e)`` linearly resampled to ``ln`` samples (every
    ``step`` source samples, or stretched to ``length`` when compressed), edge-padded after."""
    # source positions of every output sample; edge padding = repeat the last position
    k = np.minimum(np.arange(length)[None, :], (ln - 1)[:, None]).astype(np.float64)
    stp = np.where(comp, (e - s - 1) / np.maximum(length - 1, 1), step)[:, None]
    pos = s[:, None] + k * stp
    pos = np.minimum(pos, (e - 1)[:, None])
    i0 = np.floor(pos).astype(np.int64)
    w = (pos - i0).astype(np.float64)
    i1 = np.minimum(i0 + 1, (e - 1)[:, None])
    X = np.empty((s.size, 2, length), dtype=np.float32)
    for c, sig in enumerate((recording.flow, recording.pressure)):
        X[:, c, :] = sig[i0] * (1.0 - w) + sig[i1] * w
    return X


def _superclass_from_tree(labels: np.ndarray) -> np.ndarray:
    """Super-class of ventilation labels from :data:`ventgen.VENTILATION_TREE`; "" for unknown labels."""
    out = np.full(labels.size, "", dtype=object)
    known = np.isin(labels, np.asarray(VENTILATION_CLASSES))
    if known.any():
        out[known] = VENTILATION_TREE.map(labels[known].tolist(), 1)
    return out.astype(str)


def recording_cycles(rec: Recording, k: int, method: str, length: int, cycle_rate: float, long_policy: str,
                     segment_kwargs: dict | None = None) -> tuple[CycleSet, pd.DataFrame]:
    """Segment one recording (the ``k``-th of a batch) into its CycleSet and its breath table.

    The breath table gets ``recording`` (``k``) and ``subject`` columns first; the cycles' breath
    metadata gets ``recording``. The step :func:`ventgen.cycles_from_recordings` and
    :func:`ventgen.segment_files` repeat for every recording.
    """
    table = segment_breaths(rec, method=method, **(segment_kwargs or {}))
    cs = extract_cycles(rec, table, length=length, cycle_rate=cycle_rate, long_policy=long_policy)
    cs.breaths["recording"] = k
    t = table.copy()
    t.insert(0, "recording", k)
    t.insert(1, "subject", rec.subject)
    return cs, t


def edge_pad(X, lengths) -> np.ndarray:
    """Cycles ``(n, C, T)`` edge-padded after their lengths (the CycleSet convention): every sample at or
    after ``lengths[i]`` repeats sample ``lengths[i] - 1`` (lengths are clipped to 1..T), vectorised.

    Examples
    --------
    >>> edge_pad(np.arange(8.0).reshape(2, 1, 4), [2, 4])[:, 0].tolist()
    [[0.0, 1.0, 1.0, 1.0], [4.0, 5.0, 6.0, 7.0]]
    """
    X = np.asarray(X)
    L = np.asarray(lengths)
    if X.ndim != 3 or L.shape != (X.shape[0],):
        raise VentgenValueError(f"edge_pad: expected cycles (n, C, T) and n lengths, got shapes {X.shape} and {L.shape}")
    L = np.clip(L.astype(np.int64), 1, X.shape[2])
    idx = np.minimum(np.arange(X.shape[2])[None, :], L[:, None] - 1)
    return np.take_along_axis(X, np.broadcast_to(idx[:, None, :], X.shape), axis=2)
