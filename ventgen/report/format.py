"""Formatting for the run report: numbers as text, JSON-ready values, inline code, unique anchors."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from ..errors import VentgenTypeError

__all__ = ["to_jsonable", "flatten", "fmt", "is_num", "inline", "slug"]


def to_jsonable(obj):
    """Convert numpy/pandas values, paths and nested containers into plain JSON types.

    NaN and infinities become ``None`` (JSON has no NaN); DataFrames become lists of records;
    arrays become lists.

    Examples
    --------
    >>> to_jsonable({"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
    {'a': 0.5, 'b': [0, 1], 'c': None}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (datetime, pd.Timestamp)):
        return obj.isoformat()
    raise VentgenTypeError(f"metrics: cannot write a {type(obj).__name__} to JSON ({obj!r:.60})")


def flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return "—"
        if f == 0:
            return "0"
        if f.is_integer() and abs(f) < 1e6:
            return f"{int(f):,}"
        a = abs(f)
        if a >= 1000:
            return f"{f:,.0f}"
        if a >= 1e-3:
            return f"{f:.4g}"
        return f"{f:.2e}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return ", ".join(f"({fmt(x)})" if isinstance(x, (list, tuple, np.ndarray)) else fmt(x) for x in v)
    return str(v)


def is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> Markup:
    """Escape text; `backticks` become <code> (safe HTML for the template)."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(str(text))))


def slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "item"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug
