"""Breath cycles as a fixed-size dataset: the :class:`CycleSet` and :func:`extract_cycles`.

Each breath becomes one cycle of ``length`` samples per channel (flow L/min, pressure cmH2O) at a
cycle sampling rate (25 Hz by default, so 200 samples hold 8 s), edge-padded after the breath end as
in the HTVAE paper. Breaths longer than ``length`` samples are dropped or time-compressed
(``long_policy``), with a warning that counts them. Cycles keep their original length, the rates,
the subject, the per-breath metadata and the fine and super-class labels (majority overlap with the
recording's annotations, ``""`` when unlabelled).

CycleSets are stored in HDF5 with the layout described by ``data_schemas/cycleset.schema.json``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import atomic_path, atomic_paths, progress
from .._core.limits import MAX_CYCLE_LENGTH, MAX_CYCLESET_VALUES, check_count, check_sampling_rate
from .._core.schemas import validate
from ..errors import (
    FileFormatError,
    SchemaError,
    VentgenError,
    VentgenTypeError,
    VentgenValueError,
    VentgenWarning,
)
from .io import _parse_json, read_recordings
from .recording import Recording

__all__ = ["CycleSet", "extract_cycles", "cycles_from_recordings", "segment_files", "LONG_POLICIES", "CHANNELS"]

LONG_POLICIES = ("drop", "compress")
#: Channel names of a cycle, with units.
CHANNELS = ("flow_lpm", "paw_cmh2o")
_FORMAT = "ventgen.cycleset"
_FORMAT_VERSION = 1
NORMALIZATION_METHODS = ("zscore", "minmax")


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

    Attributes
    ----------
    norm_ : dict or None
        Normalisation statistics once :meth:`fit_normalizer` ran: ``method``, ``center`` and
        ``scale`` (one value per channel); normalised = ``(X - center) / scale``.

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
        norm: dict | None = None,
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
        self.norm_ = None if norm is None else _check_norm(norm, c)

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

    @property
    def durations_s(self) -> np.ndarray:
        """Duration of every cycle before padding, in seconds."""
        return self.lengths / self.sampling_rate

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
            norm=self.norm_,
        )

    @staticmethod
    def concatenate(sets) -> CycleSet:
        """One CycleSet from several with the same length, rate and channels (normalisation of the first)."""
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
            norm=a.norm_,
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

    # ------------------------------------------------------------------ normalisation
    def fit_normalizer(self, method: str = "zscore", index=None) -> CycleSet:
        """Compute per-channel normalisation statistics on (a training subset of) the cycles.

        Only samples of the breaths themselves count, not the padding. The statistics are stored in
        :attr:`norm_` (and saved with the set); returns ``self``.

        Parameters
        ----------
        method : {"zscore", "minmax"}
            ``zscore``: center = mean, scale = std; ``minmax``: center = min, scale = max - min
            (normalised values in [0, 1] on the training data).
        index : array-like, optional
            Indices or mask of the training cycles (default: all).
        """
        if method not in NORMALIZATION_METHODS:
            raise VentgenValueError(f"fit_normalizer: method must be one of {NORMALIZATION_METHODS}, got {method!r}")
        src = self if index is None else self.subset(index)
        if len(src) == 0:
            raise VentgenValueError("fit_normalizer: no cycle to fit on")
        mask = src.valid_mask()
        vals = np.transpose(src.X, (1, 0, 2))[:, mask]  # (C, n_valid)
        if method == "zscore":
            center = vals.mean(axis=1, dtype=np.float64)
            scale = vals.std(axis=1, dtype=np.float64)
        else:
            center = vals.min(axis=1).astype(np.float64)
            scale = vals.max(axis=1).astype(np.float64) - center
        scale = np.where(scale > 0, scale, 1.0)
        self.norm_ = {"method": method, "center": center.tolist(), "scale": scale.tolist()}
        return self

    def _norm_arrays(self):
        if self.norm_ is None:
            raise VentgenValueError("CycleSet: no normalisation statistics; call fit_normalizer() first")
        c = np.asarray(self.norm_["center"], dtype=np.float32)[None, :, None]
        s = np.asarray(self.norm_["scale"], dtype=np.float32)[None, :, None]
        return c, s

    def normalize(self, X=None) -> np.ndarray:
        """``(X - center) / scale`` as float32 (default ``X``: this set's cycles)."""
        c, s = self._norm_arrays()
        X = self.X if X is None else np.asarray(X, dtype=np.float32)
        return ((X - c) / s).astype(np.float32)

    def denormalize(self, Z) -> np.ndarray:
        """Back to original units: ``Z * scale + center`` as float32."""
        c, s = self._norm_arrays()
        return (np.asarray(Z, dtype=np.float32) * s + c).astype(np.float32)

    # ------------------------------------------------------------------ HDF5
    def _manifest(self) -> dict:
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "n_cycles": len(self),
            "n_channels": self.n_channels,
            "length": self.length,
            "sampling_rate": self.sampling_rate,
            "channels": list(self.channels),
            "breath_columns": [str(c) for c in self.breaths.columns],
            "normalization": self.norm_,
        }

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the set to an HDF5 file (atomically; refuses to replace a file unless ``overwrite``).

        Layout (``data_schemas/cycleset.schema.json`` describes the ``manifest`` attribute): datasets
        ``X`` (float32, n x C x T), ``lengths``, ``labels``, ``superclasses``, ``subjects``,
        ``source_rate`` and group ``breaths`` with one dataset per metadata column.
        """
        path = Path(path)
        with atomic_path(path, overwrite=overwrite) as tmp:
            self._write_h5(tmp)
        return path

    def _write_h5(self, tmp) -> None:
        """Write the set to the (temporary) file ``tmp``; the caller renames it into place."""
        import h5py

        manifest = self._manifest()
        validate(manifest, "cycleset", source="CycleSet manifest")
        str_dt = h5py.string_dtype("utf-8")
        with h5py.File(tmp, "w") as h:
            h.attrs["manifest"] = json.dumps(manifest)
            h.create_dataset("X", data=self.X, compression="gzip", compression_opts=4, shuffle=True)
            h.create_dataset("lengths", data=self.lengths)
            h.create_dataset("source_rate", data=self.source_rate)
            for name in ("labels", "superclasses", "subjects"):
                h.create_dataset(name, data=np.asarray(getattr(self, name), dtype=object), dtype=str_dt)
            g = h.create_group("breaths")
            for col in self.breaths.columns:
                v = self.breaths[col].to_numpy()
                if v.dtype.kind in "biuf":
                    g.create_dataset(str(col), data=v)
                else:
                    g.create_dataset(str(col), data=np.asarray([str(x) for x in v], dtype=object), dtype=str_dt)

    @classmethod
    def load(cls, path) -> CycleSet:
        """Read a set written by :meth:`save`; errors name the file and the dataset that is wrong.

        Every dataset's declared shape and type is checked against the manifest before it is read
        (a tiny file that declares 10**10 cycles is refused, not allocated).
        """
        import h5py

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(2, "No such file", str(path))
        try:
            h = h5py.File(path, "r")
        except _H5_ERRORS as exc:
            msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise FileFormatError(path, f"not an HDF5 file ({msg})") from None
        try:
            with h:
                manifest = _read_manifest(path, h)
                args = _read_columns(path, h, manifest)
        except VentgenError:
            raise
        except _H5_ERRORS as exc:
            msg = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise FileFormatError(path, f"cannot read the CycleSet (truncated or corrupt?): {msg}") from None
        try:
            return cls(**args, sampling_rate=manifest["sampling_rate"], channels=manifest["channels"],
                       norm=manifest.get("normalization"))
        except VentgenError as exc:
            raise FileFormatError(path, str(exc).removeprefix("CycleSet: ")) from None


_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, MemoryError)


def _read_manifest(path: Path, h) -> dict:
    """The ``manifest`` attribute of a CycleSet file, checked against its schema and the limits."""
    if "manifest" not in h.attrs:
        raise FileFormatError(path, "no 'manifest' attribute: not a ventgen CycleSet file")
    raw = h.attrs["manifest"]
    if isinstance(raw, (bytes, np.bytes_)):
        raw = bytes(raw).decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise FileFormatError(path, f"expected a JSON string, got {type(raw).__name__}", field="manifest")
    manifest = _parse_json(raw, path, field="manifest")
    try:
        validate(manifest, "cycleset", source=str(path))
    except SchemaError as exc:
        raise FileFormatError(path, str(exc), field="manifest") from None
    try:
        check_sampling_rate(manifest["sampling_rate"], "sampling_rate")
        check_count(manifest["length"], "length", low=2, high=MAX_CYCLE_LENGTH)
    except VentgenValueError as exc:
        raise FileFormatError(path, str(exc), field="manifest") from None
    n, c, t = manifest["n_cycles"], manifest["n_channels"], manifest["length"]
    if n * c * t > MAX_CYCLESET_VALUES:
        raise FileFormatError(path, f"declares {n} x {c} x {t} values; a CycleSet holds at most "
                                    f"{MAX_CYCLESET_VALUES}", field="manifest")
    if len(manifest["channels"]) != c:
        raise FileFormatError(path, f"{len(manifest['channels'])} channel names for n_channels={c}", field="manifest")
    return manifest


def _read_dataset(path: Path, h, name: str, shape: tuple, kind: str, where: str = ""):
    """The values of dataset ``name`` (of group ``where``) after checking it is one (not a group), its
    shape and its type (``kind``: "str" for UTF-8 strings, "any" for numbers or strings, else the numpy
    kind letters accepted)."""
    import h5py

    if isinstance(h.get(name, getlink=True), h5py.ExternalLink):
        raise FileFormatError(path, "is a link to another file; ventgen reads only what is inside the file",
                              field=where + name)
    d = h.get(name)
    name = where + name
    if d is None:
        raise FileFormatError(path, "missing dataset", field=name)
    if not isinstance(d, h5py.Dataset):
        raise FileFormatError(path, f"is a group; expected a dataset of shape {shape}", field=name)
    if d.external:
        raise FileFormatError(path, "keeps its values in another file; ventgen reads only what is inside the file",
                              field=name)
    if d.shape != shape:
        raise FileFormatError(path, f"has shape {d.shape}; the manifest says {shape}", field=name)
    is_str = h5py.check_string_dtype(d.dtype) is not None
    if kind == "str" and not is_str:
        raise FileFormatError(path, f"holds {d.dtype} values; expected UTF-8 strings", field=name)
    if kind == "any" and not (is_str or d.dtype.kind in "biuf"):
        raise FileFormatError(path, f"holds {d.dtype} values; expected numbers or strings", field=name)
    if kind not in ("str", "any") and (is_str or d.dtype.kind not in kind):
        raise FileFormatError(path, f"holds {'strings' if is_str else d.dtype}; expected numbers", field=name)
    try:
        if is_str:
            return np.asarray(d.asstr(errors="replace")[()], dtype=object)
        return d[()]
    except MemoryError:
        raise FileFormatError(path, f"not enough memory to read {d.size} values", field=name) from None


def _read_columns(path: Path, h, manifest: dict) -> dict:
    """X, lengths, labels, subjects, breath metadata ... of a CycleSet file, as constructor arguments."""
    import h5py

    n, c, t = manifest["n_cycles"], manifest["n_channels"], manifest["length"]
    X = _read_dataset(path, h, "X", (n, c, t), "fiu")
    lengths = _read_dataset(path, h, "lengths", (n,), "iu")
    if n and (lengths.min() < 1 or lengths.max() > t):
        raise FileFormatError(path, f"cycle lengths must lie in [1, {t}], found {lengths.min()}..{lengths.max()}",
                              field="lengths")
    out = {"X": X, "lengths": lengths}
    for name in ("labels", "superclasses", "subjects"):
        out[name] = _read_dataset(path, h, name, (n,), "str")
    out["source_rate"] = _read_dataset(path, h, "source_rate", (n,), "fiu") if "source_rate" in h else None
    g = h.get("breaths")
    if g is None or not isinstance(g, h5py.Group):
        raise FileFormatError(path, "missing group; expected one dataset per breath column" if g is None
                              else "is a dataset; expected a group with one dataset per breath column", field="breaths")
    cols = {}
    for col in manifest["breath_columns"]:
        if col not in g:
            raise FileFormatError(path, "breath column listed in the manifest is missing", field=f"breaths/{col}")
        cols[col] = _read_dataset(path, g, col, (n,), "any", where="breaths/")
    out["breaths"] = pd.DataFrame(cols, columns=manifest["breath_columns"], index=range(n))
    return out


def _check_norm(norm: dict, c: int) -> dict:
    try:
        out = {"method": str(norm["method"]), "center": [float(v) for v in norm["center"]],
               "scale": [float(v) for v in norm["scale"]]}
    except (KeyError, TypeError, ValueError) as exc:
        raise VentgenValueError(f"CycleSet: invalid normalisation statistics ({exc})") from None
    if len(out["center"]) != c or len(out["scale"]) != c:
        raise VentgenValueError(f"CycleSet: normalisation statistics for {len(out['center'])} channels, X has {c}")
    return out


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
def _check_cycle_args(length, cycle_rate, long_policy, who: str) -> tuple[int, float]:
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
    if not isinstance(recording, Recording):
        raise VentgenTypeError(f"extract_cycles: expected a ventgen.Recording, got {type(recording).__name__}")
    if not isinstance(breaths, pd.DataFrame):
        raise VentgenTypeError(f"extract_cycles: breaths must be a DataFrame (from segment_breaths), got {type(breaths).__name__}")
    missing = [c for c in ("start_idx", "end_idx") if c not in breaths.columns]
    if missing:
        raise VentgenValueError(f"extract_cycles: breath table lacks column(s) {missing}")
    length, cycle_rate = _check_cycle_args(length, cycle_rate, long_policy, "extract_cycles")
    fs = recording.sampling_rate
    n = recording.n_samples
    name = recording.subject or "(no subject)"
    starts = breaths["start_idx"].to_numpy(np.int64)
    ends = breaths["end_idx"].to_numpy(np.int64)
    if starts.size and (starts.min() < 0 or ends.max() > n or (ends <= starts).any()):
        raise VentgenValueError(
            f"extract_cycles: breath bounds outside recording {name} ({n} samples) or empty; "
            "was the table computed on another recording?"
        )
    nsrc = ends - starts
    step = fs / cycle_rate  # source samples per cycle sample
    out_len = np.maximum(1, np.round(nsrc / step).astype(np.int64))
    keep = nsrc >= min_samples
    if (~keep).any():
        warnings.warn(
            f"extract_cycles: dropped {int((~keep).sum())} breath(s) of recording {name} shorter than "
            f"{min_samples} samples",
            VentgenWarning,
            stacklevel=2,
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
                stacklevel=2,
            )
        else:
            compressed = long_
            warnings.warn(
                f"extract_cycles: time-compressed {int(long_.sum())} of {starts.size} breaths of recording {name} "
                f"longer than {limit:g} s into {length} samples",
                VentgenWarning,
                stacklevel=2,
            )
    sel = np.flatnonzero(keep)
    if sel.size * 2 * length > MAX_CYCLESET_VALUES:
        raise VentgenValueError(
            f"extract_cycles: {sel.size} cycles x 2 channels x {length} samples exceed {MAX_CYCLESET_VALUES} values; "
            "use a shorter length or fewer recordings at a time"
        )
    s, e, ln = starts[sel], ends[sel], out_len[sel]
    comp = compressed[sel]
    ln = np.where(comp, length, np.minimum(ln, length))
    # source positions of every output sample; edge padding = repeat the last position
    k = np.minimum(np.arange(length)[None, :], (ln - 1)[:, None]).astype(np.float64)
    stp = np.where(comp, (e - s - 1) / np.maximum(length - 1, 1), step)[:, None]
    pos = s[:, None] + k * stp
    pos = np.minimum(pos, (e - 1)[:, None])
    i0 = np.floor(pos).astype(np.int64)
    w = (pos - i0).astype(np.float64)
    i1 = np.minimum(i0 + 1, (e - 1)[:, None])
    X = np.empty((sel.size, 2, length), dtype=np.float32)
    for c, sig in enumerate((recording.flow, recording.pressure)):
        X[:, c, :] = sig[i0] * (1.0 - w) + sig[i1] * w
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


def _superclass_from_tree(labels: np.ndarray) -> np.ndarray:
    """Super-class of ventilation labels from :data:`ventgen.VENTILATION_TREE`; "" for unknown labels."""
    from ..labels import VENTILATION_CLASSES, VENTILATION_TREE

    out = np.full(labels.size, "", dtype=object)
    known = np.isin(labels, np.asarray(VENTILATION_CLASSES))
    if known.any():
        out[known] = VENTILATION_TREE.map(labels[known].tolist(), 1)
    return out.astype(str)


def cycles_from_recordings(
    sources,
    method: str = "auto",
    length: int = 200,
    cycle_rate: float = 25.0,
    long_policy: str = "drop",
    *,
    progress_bar: bool | None = None,
    read_kwargs: dict | None = None,
    segment_kwargs: dict | None = None,
) -> tuple[CycleSet, pd.DataFrame]:
    """Segment many recordings (Recording objects or file paths) into one CycleSet.

    Returns the CycleSet and the full breath table of all recordings (with ``subject`` and
    ``recording`` columns, the index of the source). Shows a progress bar (see
    :func:`ventgen.set_progress`).

    Examples
    --------
    >>> import numpy as np
    >>> from ventgen import Recording
    >>> t = np.arange(0, 12, 0.02)
    >>> ph = t % 4
    >>> flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    >>> rec = Recording(flow=flow, pressure=5 + 10 * (ph < 1.2), sampling_rate=50, subject="a")
    >>> cs, table = cycles_from_recordings([rec, rec], method="flow", progress_bar=False)
    >>> len(cs), len(table)
    (6, 6)
    """
    sets, tables = _segment_sources(sources, method, length, cycle_rate, long_policy, progress_bar=progress_bar,
                                    read_kwargs=read_kwargs, segment_kwargs=segment_kwargs)
    if not sets:
        raise VentgenValueError("cycles_from_recordings: no recording given")
    return CycleSet.concatenate(sets), pd.concat(tables, ignore_index=True)


def _segment_sources(sources, method, length, cycle_rate, long_policy, *, progress_bar, read_kwargs,
                     segment_kwargs) -> tuple[list, list]:
    """One CycleSet and one breath table per recording of ``sources`` (Recordings or paths)."""
    from .segment import segment_breaths

    if isinstance(sources, (str, Path, Recording)):
        sources = [sources]
    items = []
    for src in sources:
        if isinstance(src, Recording):
            items.append(src)
        elif isinstance(src, (str, Path)):
            items.append(Path(src))
        else:
            raise VentgenTypeError(f"cycles_from_recordings: expected Recordings or paths, got {type(src).__name__}")
    length, cycle_rate = _check_cycle_args(length, cycle_rate, long_policy, "cycles_from_recordings")
    sets, tables = [], []
    k = 0
    for item in progress(items, enabled=progress_bar, desc="segment", unit="file"):
        recs = read_recordings(item, **(read_kwargs or {})) if isinstance(item, Path) else [item]
        for rec in recs:
            table = segment_breaths(rec, method=method, **(segment_kwargs or {}))
            cs = extract_cycles(rec, table, length=length, cycle_rate=cycle_rate, long_policy=long_policy)
            cs.breaths["recording"] = k
            t = table.copy()
            t.insert(0, "recording", k)
            t.insert(1, "subject", rec.subject)
            tables.append(t)
            sets.append(cs)
            k += 1
    return sets, tables


def segment_files(
    inputs,
    output,
    method: str = "auto",
    *,
    breaths_csv=None,
    length: int = 200,
    cycle_rate: float = 25.0,
    long_policy: str = "drop",
    overwrite: bool = False,
    read_kwargs: dict | None = None,
    segment_kwargs: dict | None = None,
    progress_bar: bool | None = None,
) -> dict:
    """Segment recording files into one CycleSet file (and optionally the breath table as CSV).

    The library side of ``ventgen segment``. ``inputs`` are recording files or folders (every format
    :func:`ventgen.read_recordings` reads); the CycleSet is written to ``output`` (HDF5) and the breath
    table of every recording, with ``recording`` and ``subject`` columns, to ``breaths_csv``.
    The two files are one atomic set: every target is checked before the work starts (an existing one
    is refused unless ``overwrite``), both are renamed into place only when both were written, and a
    failure or a kill leaves neither (a re-run removes what a killed run left). Arguments are checked
    before any file is read: ``length`` in [2, MAX_CYCLE_LENGTH], ``cycle_rate`` by the one rule of
    sampling rates; finding no breath cycle at all is an error, not an empty file.

    Returns
    -------
    dict
        ``n_recordings``, ``n_breaths``, ``n_cycles``, ``output`` and ``breaths_csv``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording
    >>> t = np.arange(0, 12, 0.02)
    >>> ph = t % 4
    >>> flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    >>> d = tempfile.mkdtemp()
    >>> write_recording(Recording(flow, 5 + 10 * (ph < 1.2), 50, subject="a"), os.path.join(d, "a.csv"))
    >>> segment_files([os.path.join(d, "a.csv")], os.path.join(d, "c.h5"), progress_bar=False)["n_cycles"]
    3
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    paths = [Path(p) for p in inputs]
    if not paths:
        raise VentgenValueError("segment_files: no input file given")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(2, "No such file or directory", str(p))
    length, cycle_rate = _check_cycle_args(length, cycle_rate, long_policy, "segment_files")
    output = Path(output)
    targets = [output] + ([Path(breaths_csv)] if breaths_csv is not None else [])
    shown = ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    # both files are written as one set: checked before the work, renamed together, none left by a kill
    with atomic_paths(targets, overwrite=overwrite) as tmps:
        sets, tables = _segment_sources(paths, method, length, cycle_rate, long_policy, progress_bar=progress_bar,
                                        read_kwargs=read_kwargs, segment_kwargs=segment_kwargs)
        if not sets:
            raise VentgenValueError(f"segment_files: no recording found in {shown}; nothing written")
        cs, table = CycleSet.concatenate(sets), pd.concat(tables, ignore_index=True)
        if len(cs) == 0:
            raise VentgenValueError(
                f"segment_files: no breath cycle found in the {len(sets)} recording(s) of {shown} "
                f"({len(table)} breath(s) found; see the warnings); nothing written"
            )
        cs._write_h5(tmps[0])
        if breaths_csv is not None:
            table.to_csv(tmps[1], index=False)
    return {
        "n_recordings": len(sets),
        "n_breaths": len(table),
        "n_cycles": len(cs),
        "output": str(output),
        "breaths_csv": None if breaths_csv is None else str(breaths_csv),
    }
