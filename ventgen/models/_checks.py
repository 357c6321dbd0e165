"""Checks of hyper-parameters: maps, numeric parameters, conv widths, level weights (no torch here).

Each raises one :class:`~ventgen.errors.VentgenValueError` / :class:`~ventgen.errors.VentgenTypeError`
line naming the argument and, where there is one, the limit (see :mod:`ventgen._core.limits`).
"""

from __future__ import annotations

import itertools
import math
import operator

from .._core.limits import MAX_CODES_PER_MAP, MAX_CONV_CHANNELS, MAX_MAPS
from ..errors import VentgenTypeError, VentgenValueError

__all__ = ["parse_maps", "check_maps"]


def check_maps(maps) -> list[tuple[int, int]]:
    """Validate a list of lattice sizes ``[(h1, w1), ..., (hM, wM)]`` with ``h_i w_i > h_(i+1) w_(i+1)``.

    At most :data:`~ventgen._core.limits.MAX_MAPS` maps of at most :data:`~ventgen._core.limits.MAX_CODES_PER_MAP`
    codes each. Returns the sizes as a list of ``(int, int)`` tuples; raises :class:`VentgenValueError`
    naming the offending map and the limit otherwise.
    """
    if isinstance(maps, (str, bytes)) or not hasattr(maps, "__iter__"):
        raise VentgenTypeError(f"maps must be a list of (height, width) pairs, got {maps!r}")
    n = len(maps) if hasattr(maps, "__len__") else None
    maps = list(itertools.islice(maps, MAX_MAPS + 1))
    if len(maps) > MAX_MAPS:
        raise VentgenValueError(
            f"maps: at most {MAX_MAPS} stacked maps are allowed, got {n or f'more than {MAX_MAPS}'}"
        )
    out = []
    for i, m in enumerate(maps, start=1):
        try:
            h, w = (operator.index(v) for v in m)
        except (TypeError, ValueError):
            raise VentgenValueError(
                f"maps[{i - 1}] (S_{i}) must be a (height, width) pair of integers, got {m!r}"
            ) from None
        if h < 1 or w < 1 or h * w < 2:
            raise VentgenValueError(
                f"maps[{i - 1}] (S_{i}) = {(h, w)}: a map needs positive sizes and at least 2 codes"
            )
        if h * w > MAX_CODES_PER_MAP:
            raise VentgenValueError(
                f"maps[{i - 1}] (S_{i}) = {h}x{w} has {h * w} codes; a map may have at most "
                f"{MAX_CODES_PER_MAP} codes (e.g. 256x256)"
            )
        out.append((h, w))
    if not out:
        raise VentgenValueError("maps must contain at least one (height, width) lattice")
    for i in range(1, len(out)):
        k_prev, k = out[i - 1][0] * out[i - 1][1], out[i][0] * out[i][1]
        if k >= k_prev:
            raise VentgenValueError(
                f"maps must shrink from S_1 (deepest) to S_M: S_{i + 1} = {out[i]} has {k} codes, "
                f"not fewer than S_{i} = {out[i - 1]} with {k_prev}; e.g. maps=[(8, 8), (4, 4), (2, 2)]"
            )
    return out


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
