"""Argument checks of the HTVAE estimator: maps, device, input arrays and numeric parameters.

Each raises one :class:`~ventgen.errors.VentgenValueError` / :class:`~ventgen.errors.VentgenTypeError`
line naming the argument and, where there is one, the limit (see :mod:`ventgen._core.limits`).
"""

from __future__ import annotations

import math
import operator

import numpy as np
import torch

from .._core.limits import MAX_CONV_CHANNELS, MAX_MAPS
from ..errors import VentgenTypeError, VentgenValueError
from .som import check_maps

__all__ = ["parse_maps", "resolve_device"]


def parse_maps(text: str) -> list[tuple[int, int]]:
    """Parse ``"8x8,4x4,2x2"`` into ``[(8, 8), (4, 4), (2, 2)]`` (validated by :func:`check_maps`).

    Examples
    --------
    >>> parse_maps("8x8, 4x4,2x1")
    [(8, 8), (4, 4), (2, 1)]
    """
    parts = str(text).split(",")
    if len(parts) > MAX_MAPS:
        raise VentgenValueError(f"maps: at most {MAX_MAPS} stacked maps are allowed, got {len(parts)}")
    out = []
    for part in parts:
        h, sep, w = part.strip().lower().partition("x")
        try:
            out.append((int(h), int(w)))
        except ValueError:
            raise VentgenValueError(
                f"maps must look like 8x8,4x4,2x2 (height x width per level), got {text!r}"
            ) from None
        if not sep:
            raise VentgenValueError(
                f"maps must look like 8x8,4x4,2x2 (height x width per level), got {text!r}"
            )
    return check_maps(out)


def resolve_device(device) -> torch.device:
    """``"auto"`` -> cuda when available else cpu; ``"cpu"``/``"cuda"``/``"cuda:1"``/torch.device kept."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise VentgenValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VentgenValueError(
            f"device {device!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'"
        )
    return dev


def _as_array(X, what: str = "X") -> np.ndarray:
    """CycleSet / array / tensor -> numpy array (no copy when possible), with clear errors."""
    if hasattr(X, "X") and not isinstance(X, np.ndarray):
        X = X.X
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise VentgenTypeError(
            f"{what} must be a CycleSet or a numeric array, got {type(X).__name__}: {exc}"
        ) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise VentgenTypeError(
            f"{what} must be a CycleSet or a numeric array, got dtype {arr.dtype}"
        )
    return arr


def _pos_int(v, name: str, allow_zero: bool = False, high: int | None = None) -> int:
    if isinstance(v, bool):
        raise VentgenTypeError(f"{name} must be an integer, got {v!r}")
    try:
        i = operator.index(v)
    except TypeError:
        raise VentgenTypeError(f"{name} must be an integer, got {v!r}") from None
    if i < 0 or (i == 0 and not allow_zero):
        raise VentgenValueError(
            f"{name} must be {'>= 0' if allow_zero else 'a positive integer'}, got {i}"
        )
    if high is not None and i > high:
        raise VentgenValueError(f"{name} must be at most {high}, got {i}")
    return int(i)


def _channels(channels):
    """None, or the two conv widths as a tuple of ints in [1, MAX_CONV_CHANNELS]."""
    if channels is None:
        return None
    bad = isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or len(channels) != 2
    if not bad:
        try:
            out = tuple(operator.index(c) for c in channels)
        except TypeError:
            bad = True
    if bad or not all(1 <= c <= MAX_CONV_CHANNELS for c in out):
        raise VentgenValueError(
            f"channels must be two integers in [1, {MAX_CONV_CHANNELS}] (the conv widths), got {channels!r}"
        )
    return out


def _level_weights(weights, n_maps: int):
    """None, or a tuple of ``n_maps + 1`` finite weights >= 0 (level 0 first), not all zero."""
    if weights is None:
        return None
    if isinstance(weights, str):
        weights = [w for w in weights.split(",") if w.strip()]
    try:
        w = tuple(float(v) for v in weights)
    except (TypeError, ValueError):
        raise VentgenValueError(
            f"reconstruction_weights must be {n_maps + 1} numbers (level 0 first), got {weights!r}"
        ) from None
    if len(w) != n_maps + 1:
        raise VentgenValueError(
            f"reconstruction_weights needs {n_maps + 1} values (level 0 and the {n_maps} maps), got {len(w)}"
        )
    if not all(math.isfinite(v) and v >= 0 for v in w) or w[0] <= 0:
        raise VentgenValueError(
            f"reconstruction_weights must be finite and >= 0, with level 0 > 0, got {list(w)}"
        )
    return w


def _pos_float(v, name: str, allow_zero: bool = False) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise VentgenTypeError(f"{name} must be a number, got {v!r}") from None
    if not math.isfinite(f) or f < 0 or (f == 0 and not allow_zero):
        raise VentgenValueError(
            f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {v!r}"
        )
    return f
