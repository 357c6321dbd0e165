"""Inputs of the HTVAE estimator: the device, checked arrays, the per-channel scaling, the padding mask.

Time series are scaled per channel to [0, 1] with the training min/max (stored in the model); images
must already be in [0, 1] (uint8 images are divided by 255). Pure functions: no state, no files.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import VentgenTypeError, VentgenValueError

__all__ = ["check_X", "fit_scaling", "scale", "unscale", "padding_mask", "resolve_device"]


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


def check_X(X, fitted_shape=None) -> np.ndarray:
    """``X`` as a finite numeric array (n, C, T) or (n, C, H, W) with n >= 1 (and the fitted sample shape)."""
    arr = _as_array(X)
    if arr.ndim not in (3, 4):
        raise VentgenValueError(
            f"X must have shape (n, channels, time) or (n, channels, height, width), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise VentgenValueError(f"X is empty (shape {arr.shape}): at least one sample is needed")
    if fitted_shape is not None and tuple(arr.shape[1:]) != tuple(fitted_shape):
        raise VentgenValueError(
            f"X has sample shape {tuple(arr.shape[1:])} but the model was fitted on {tuple(fitted_shape)}"
        )
    if arr.dtype.kind == "f" or arr.dtype.kind == "c":
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(1))
            raise VentgenValueError(
                f"X contains {int(bad.sum())} NaN/inf values in {len(rows)} samples "
                f"(first: sample {rows[0]}); fill or drop them before fitting"
            )
    return arr


def fit_scaling(arr: np.ndarray) -> dict:
    """``{"kind": "minmax", "min": (C,), "max": (C,)}`` for time series, ``{"kind": "identity"}`` for images."""
    if arr.ndim == 3:
        lo = arr.min(axis=(0, 2)).astype(np.float64)
        hi = arr.max(axis=(0, 2)).astype(np.float64)
        hi = np.where(hi > lo, hi, lo + 1.0)  # a constant channel maps to 0
        return {
            "kind": "minmax",
            "min": torch.tensor(lo, dtype=torch.float32),
            "max": torch.tensor(hi, dtype=torch.float32),
        }
    if arr.dtype != np.uint8:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise VentgenValueError(
                f"images must be scaled to [0, 1] (or be uint8 0..255); got values in [{lo:g}, {hi:g}]"
            )
    return {"kind": "identity"}


def scale(arr: np.ndarray, s: dict) -> torch.Tensor:
    """Inputs in original units -> float32 tensor in [0, 1] with the scaling ``s``."""
    if s["kind"] == "minmax":
        lo = s["min"].numpy()[None, :, None]
        span = (s["max"] - s["min"]).numpy()[None, :, None]
        out = (arr.astype(np.float32) - lo) / span
    elif arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    else:
        out = arr.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def unscale(x: torch.Tensor, s: dict) -> np.ndarray:
    """Decoder outputs in [0, 1] -> float32 array in original units."""
    x = x.detach().cpu()
    if s["kind"] == "minmax":
        x = x * (s["max"] - s["min"])[None, :, None] + s["min"][None, :, None]
    return x.numpy().astype(np.float32, copy=False)


def padding_mask(X, arr: np.ndarray) -> tuple[torch.Tensor | None, np.ndarray | None]:
    """``(mask, lengths)``: 1 on each cycle's first ``X.lengths`` samples, 0 on its edge padding;
    ``(None, None)`` for data without lengths (a plain array, images): they hold no padding to mask."""
    n = arr.shape[0]
    lengths = getattr(X, "lengths", None)
    if lengths is None or arr.ndim != 3:
        return None, None
    lengths = np.asarray(lengths).reshape(-1)
    if lengths.shape != (n,):
        raise VentgenValueError(f"X.lengths must have {n} values, got {lengths.shape}")
    mask = torch.from_numpy(np.arange(arr.shape[2])[None, None, :] < lengths[:, None, None])
    return mask, lengths
