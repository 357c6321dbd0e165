"""The limits ventgen enforces on what a user controls, stated once.

Every reader, parser, estimator and command checks its inputs against these numbers at the public
boundary and names the limit in its message, so that an implausible value (a sampling rate of
1e-300 Hz, a file that declares 10**10 samples, a spec asking for 10**9 patients) is one clear error
instead of a meaningless result, an exhausted memory or a traceback from deep inside numpy.

Examples
--------
>>> check_sampling_rate(50, "sampling_rate")
50.0
>>> check_sampling_rate(1e9, "--sampling-rate")
Traceback (most recent call last):
...
ventgen.errors.VentgenValueError: --sampling-rate must be a number of Hz in [10, 1000], got 1000000000.0
"""

from __future__ import annotations

import math
import numbers

from ..errors import VentgenValueError

__all__ = [
    "SAMPLING_RATE_HZ",
    "MAX_RECORDING_SAMPLES",
    "MAX_SIMULATION_MINUTES",
    "MAX_CYCLE_LENGTH",
    "MAX_CYCLESET_VALUES",
    "MAX_CODES_PER_MAP",
    "MAX_MAPS",
    "MAX_EPOCHS",
    "MAX_BATCH_SIZE",
    "MAX_LATENT_DIM",
    "MAX_CONV_CHANNELS",
    "MAX_PATIENTS",
    "MAX_COHORT_MINUTES",
    "MAX_COHORT_BREATHS",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "check_sampling_rate",
    "check_count",
    "check_number",
]

#: Sampling rates of airway flow and pressure recordings (and of cycles), in Hz: one rule everywhere.
SAMPLING_RATE_HZ = (10.0, 1000.0)
#: Samples per channel of one recording: 6 days at 1000 Hz, 60 days at 100 Hz (4 GB per float64 channel).
MAX_RECORDING_SAMPLES = 2**29
#: Minutes of one simulated patient (one week).
MAX_SIMULATION_MINUTES = 7 * 24 * 60.0
#: Samples per fixed-length cycle.
MAX_CYCLE_LENGTH = 10_000
#: Values of one CycleSet's X (cycles x channels x length): 8 GiB of float32.
MAX_CYCLESET_VALUES = 2**31
#: Codes of one self-organizing map (e.g. 256 x 256) and number of stacked maps.
MAX_CODES_PER_MAP = 65_536
MAX_MAPS = 16
#: Training: epochs, batch size, latent dimension and convolution widths of one model.
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
MAX_LATENT_DIM = 1024
MAX_CONV_CHANNELS = 1024
#: A generated cohort: patients, total patient-minutes and total breaths (all held in memory).
MAX_PATIENTS = 100_000
MAX_COHORT_MINUTES = 100_000.0
MAX_COHORT_BREATHS = 5_000_000
#: JSON documents a user gives (cohort specs, metadata): size and nesting depth.
MAX_JSON_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 32


def check_number(value, name: str, *, low: float | None = None, high: float | None = None,
                 unit: str = "", low_open: bool = False) -> float:
    """``float(value)`` if it is a finite real number in ``[low, high]``, else a one-line error.

    Examples
    --------
    >>> check_number(2.5, "minutes", low=0, low_open=True, high=10)
    2.5
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if ok and math.isfinite(v):
        ok = (low is None or (v > low if low_open else v >= low)) and (high is None or v <= high)
    else:
        ok = False
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        rng = f"{'(' if low_open else '['}{lo}, {hi}]"
        what = f"a number{' of ' + unit if unit else ''} in {rng}"
        raise VentgenValueError(f"{name} must be {what}, got {value!r}")
    return v


def check_sampling_rate(value, name: str = "sampling_rate") -> float:
    """A sampling rate in Hz within :data:`SAMPLING_RATE_HZ`, else a one-line error."""
    lo, hi = SAMPLING_RATE_HZ
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if not (math.isfinite(v) and lo <= v <= hi):
        raise VentgenValueError(f"{name} must be a number of Hz in [{lo:g}, {hi:g}], got {value!r}")
    return v


def check_count(value, name: str, *, low: int = 1, high: int | None = None) -> int:
    """An integer (not bool) in ``[low, high]``, else a one-line error.

    Examples
    --------
    >>> check_count(10**9, "patients", high=MAX_PATIENTS)
    Traceback (most recent call last):
    ...
    ventgen.errors.VentgenValueError: patients must be an integer in [1, 100000], got 1000000000
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and value.is_integer():
        ok = True
    if ok:
        v = int(value)
        ok = v >= low and (high is None or v <= high)
    if not ok:
        hi = "inf" if high is None else str(high)
        raise VentgenValueError(f"{name} must be an integer in [{low}, {hi}], got {value!r}")
    return v
