"""Breath segmentation: find every breath of a recording, from the flow signal or from device marks.

``segment_breaths(recording, method=...)`` returns the breath table (one row per breath, boundaries
and metadata, see :data:`ventgen.signals.features.METADATA_COLUMNS`):

* ``method="flow"`` finds inspiration onsets from the flow alone (never from markers). It is
  vectorised: thresholds adapt to the recording (the resting expiratory level is the mode of the flow
  histogram, the inspiratory scale a high percentile above it), candidate inspirations are upward
  crossings of a high threshold that stay above it long enough (spikes are ignored), a new breath needs
  the flow to have come down to a low threshold since the previous one (hysteresis, so noise around the
  threshold does not split breaths, while double triggers with a short expiratory dip are kept), and
  each onset is moved back to the last sample before the steep rise.
* ``method="markers"`` uses the device's breath marks exactly (``recording.markers``).
* ``method="auto"`` uses the markers when the recording has any, else the flow.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import DataRecoveryWarning, VentgenTypeError, VentgenValueError, VentgenWarning
from .detect import _detect, _detector_params, _fill_nonfinite, _subsample
from .features import METADATA_COLUMNS, breath_metadata
from .recording import Recording

__all__ = ["segment_breaths", "SEGMENT_METHODS"]

SEGMENT_METHODS = ("flow", "markers", "auto")

#: Largest plausible flow magnitude in L/min; beyond it the units are almost surely wrong.
_ABSURD_FLOW_LPM = 2000.0


def _empty_table() -> pd.DataFrame:
    df = breath_metadata(np.zeros(2), np.zeros(2), 1.0, [], [])
    return df[list(METADATA_COLUMNS)]


def segment_breaths(
    recording: Recording,
    method: str = "auto",
    *,
    drop_incomplete: bool = False,
    max_breath_s: float | None = None,
    confirm_flow_lpm: float = 5.0,
    peep_samples: int = 5,
    **detector_kwargs,
) -> pd.DataFrame:
    """Breath table of a recording: one row per breath, boundaries and per-breath metadata.

    Parameters
    ----------
    recording : Recording
        Flow (L/min) and pressure (cmH2O).
    method : {"flow", "markers", "auto"}
        ``"flow"`` detects breaths from the flow signal only; ``"markers"`` uses
        ``recording.markers`` exactly (``start_idx``; ``end_idx`` when given, else the next start;
        ``insp_end_idx`` when the markers carry it); ``"auto"`` uses markers when present.
    drop_incomplete : bool
        Drop the last breath (whose end is the end of the recording, flagged ``truncated``).
    max_breath_s : float, optional
        Breaths longer than this (for instance across an apnea) are flagged ``long``.
    confirm_flow_lpm : float
        Expiratory flow that confirms the end of inspiration, see
        :func:`ventgen.signals.features.inspiration_end`.
    peep_samples : int
        PEEP is the mean pressure of the last ``peep_samples`` samples of each breath.
    **detector_kwargs
        Passed to :func:`detect_breath_starts` (``method="flow"``).

    Returns
    -------
    DataFrame
        Columns :data:`ventgen.signals.features.METADATA_COLUMNS`. Sample indices refer to the
        recording; ``end_idx`` is exclusive. ``flags`` lists quality issues separated by ``|``:
        ``truncated`` (the breath runs to the end of the recording), ``artefact`` (it contains
        non-finite samples, filled by interpolation), ``no_expiration`` (no confirmed expiratory flow),
        ``long`` (longer than ``max_breath_s``).

    Raises
    ------
    VentgenValueError
        Unknown method, ``method="markers"`` without markers, or flow values so large the units are
        surely wrong (L/min expected).

    Warns
    -----
    VentgenWarning
        When no breath is found (a flat signal or an apnea-only recording): the table is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from ventgen import Recording
    >>> t = np.arange(0, 12, 0.02)
    >>> ph = t % 4
    >>> flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    >>> rec = Recording(flow=flow, pressure=5 + 10 * (ph < 1.2), sampling_rate=50)
    >>> df = segment_breaths(rec, method="flow")
    >>> df[["start_idx", "insp_end_idx", "end_idx"]].values.tolist()
    [[0, 60, 200], [200, 260, 400], [400, 460, 600]]
    """
    if not isinstance(recording, Recording):
        raise VentgenTypeError(f"segment_breaths: expected a ventgen.Recording, got {type(recording).__name__}")
    if method not in SEGMENT_METHODS:
        raise VentgenValueError(f"segment_breaths: method must be one of {SEGMENT_METHODS}, got {method!r}")
    if method == "auto":
        method = "markers" if recording.n_markers > 0 else "flow"
    rate = recording.sampling_rate
    name = recording.subject or "(no subject)"
    flow, pressure, bad = _finite_signals(recording, name)
    if method == "markers":
        starts, ends, insp_ends, truncated = _marker_bounds(recording, name)
    else:
        starts = _detect(flow, rate, pressure, **_detector_params(detector_kwargs))
        ends = np.append(starts[1:], recording.n_samples)
        insp_ends = None
        truncated = np.zeros(starts.size, dtype=bool)
        if starts.size:
            truncated[-1] = True
    if starts.size == 0:
        _warn_no_breath(recording, name, method, flow)
        return _empty_table()
    artefact = _artefacts(bad, starts, ends, name)
    long_ = None
    if max_breath_s is not None:
        long_ = (ends - starts) / rate > max_breath_s
    df = breath_metadata(
        flow,
        pressure,
        rate,
        starts,
        ends,
        insp_ends,
        peep_samples=peep_samples,
        confirm_flow_lpm=confirm_flow_lpm,
        flags={"truncated": truncated, "artefact": artefact, "long": long_},
    )
    if drop_incomplete and truncated.any():
        df = df[~truncated].reset_index(drop=True)
        df["breath_id"] = np.arange(len(df), dtype=np.int64)
    return df


def _finite_signals(recording: Recording, name: str):
    """Flow and pressure with non-finite samples interpolated, and the mask of those samples (None when
    all are finite); refuses a recording without a finite sample or with flow in the wrong unit."""
    flow, bad_f = _fill_nonfinite(recording.flow)
    pressure, bad_p = _fill_nonfinite(recording.pressure)
    bad = bad_f if bad_p is None else (bad_p if bad_f is None else bad_f | bad_p)
    if bad is not None and bad.all():
        raise VentgenValueError(f"segment_breaths: recording {name} has no finite sample")
    # flow so large that the units must be wrong (checked on a subsample: a robust percentile)
    p99 = float(np.percentile(np.abs(_subsample(flow)), 99))
    if p99 > _ABSURD_FLOW_LPM:
        raise VentgenValueError(
            f"segment_breaths: recording {name}: flow reaches {p99:.0f} L/min at its 99th percentile; "
            "flow must be in L/min (convert mL/s or mL/min when reading the file)"
        )
    return flow, pressure, bad


def _marker_bounds(recording: Recording, name: str):
    """(starts, ends, inspiration ends or None, truncated) of the breaths of the device markers."""
    mk = recording.markers
    if mk is None or len(mk) == 0:
        raise VentgenValueError(
            f"segment_breaths: method='markers' but recording {name} has no device markers; use method='flow'"
        )
    starts = mk["start_idx"].to_numpy(np.int64)
    nxt = np.append(starts[1:], recording.n_samples)
    ends = mk["end_idx"].to_numpy(np.int64)
    ends = np.where((ends > starts) & (ends <= nxt), ends, nxt)
    insp_ends = None
    if "insp_end_idx" in mk.columns:
        ie = mk["insp_end_idx"].to_numpy()
        ie = np.where(np.isfinite(ie.astype(float)), ie, -1).astype(np.int64)
        if (ie >= 0).all():
            insp_ends = np.clip(ie, starts, ends)
    truncated = np.zeros(starts.size, dtype=bool)
    if starts.size and mk["end_idx"].to_numpy()[-1] < 0:
        truncated[-1] = True
    return starts, ends, insp_ends, truncated


def _warn_no_breath(recording: Recording, name: str, method: str, flow: np.ndarray) -> None:
    """One warning (at the caller of :func:`segment_breaths`) that the breath table is empty, and why."""
    lo, hi = (float(v) for v in np.percentile(_subsample(flow), [1, 99]))
    hint = ""
    if method == "flow" and hi - lo < 5.0:
        hint = (f"; the flow only spans {lo:.2f}..{hi:.2f} L/min: a flat signal, an apnea, or flow in "
                "L/s or another unit read as L/min (convert it when reading the file)")
    warnings.warn(
        f"segment_breaths: no breath found in recording {name} ({recording.duration_s:.1f} s, "
        f"method={method!r}); the breath table is empty{hint}",
        VentgenWarning,
        stacklevel=3,
    )


def _artefacts(bad, starts, ends, name: str) -> np.ndarray:
    """Breaths that hold interpolated (non-finite) samples, with one warning that counts them."""
    if bad is None:
        return np.zeros(starts.size, dtype=bool)
    cb = np.concatenate(([0], np.cumsum(bad)))
    artefact = (cb[ends] - cb[starts]) > 0
    if artefact.any():
        warnings.warn(
            f"segment_breaths: {int(artefact.sum())} of {starts.size} breaths of recording {name} contain "
            "non-finite samples (filled by interpolation, flagged 'artefact')",
            DataRecoveryWarning,
            stacklevel=3,
        )
    return artefact
