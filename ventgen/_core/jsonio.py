"""JSON in and out: safe reading of documents a user gives, and ``default=`` helpers for writing.

Python's :mod:`json` accepts ``NaN`` and ``Infinity``, silently keeps the last of two equal keys, and
recurses once per nesting level; :func:`read_json_document` refuses each of these, caps the size, and
turns every problem into one :class:`~ventgen.errors.FileFormatError` line naming the file.

Examples
--------
>>> import os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "spec.json")
>>> _ = open(p, "w", encoding="utf-8-sig").write('{"patients": 2}')
>>> read_json_document(p, "cohort spec")
{'patients': 2}
>>> _ = open(p, "w").write('{"patients": 2, "patients": 3}')
>>> read_json_document(p, "cohort spec")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ventgen.errors.FileFormatError: ...: key 'patients' is given twice in one object; give each key once
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from .limits import MAX_JSON_BYTES, MAX_JSON_DEPTH

__all__ = ["read_json_document", "json_default", "json_default_lenient"]



class _Refused(Exception):
    """Raised inside the JSON decoder's hooks; turned into a FileFormatError naming the file."""


def _no_constant(name: str):
    raise _Refused(f"{name} is not a number JSON allows; give a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:24]} is out of the range of a 64-bit float")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        raise _Refused(f"an integer with {len(text.lstrip('-'))} digits is out of range")
    return int(text)


def _unique_keys(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"key {key[:60]!r} is given twice in one object; give each key once")
        out[key] = value
    return out


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_MAX_INT_DIGITS = 100
def _text_depth(raw: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON text (outside strings), without parsing it."""
    b = np.frombuffer(_JSON_STRING.sub(b"", raw), dtype=np.uint8)
    step = np.isin(b, (0x5B, 0x7B)).astype(np.int64) - np.isin(b, (0x5D, 0x7D))
    return int(np.cumsum(step).max(initial=0))


def read_json_document(path, what: str, *, nonfinite: bool = False):
    """Read a JSON document a user gives, refusing what would be unsafe or ambiguous to use.

    At most ``MAX_JSON_BYTES`` bytes and ``MAX_JSON_DEPTH`` levels of nesting; UTF-8 with or without
    a byte-order mark; no key given twice in one object; no integer of more than 100 digits; no
    ``NaN``/``Infinity`` (Python's :mod:`json` accepts them) or number out of the range of a float.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the document is ("cohort spec"), for the messages.
    nonfinite : bool
        Give ``NaN``, ``Infinity`` and out-of-range numbers as non-finite floats instead of refusing
        them, for a caller that checks every number against its field's range (and so can name the
        field in its message).

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    FileFormatError
        One line naming the file (and the line, for a syntax error).
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(MAX_JSON_BYTES + 1)
    if max(size, len(raw)) > MAX_JSON_BYTES:
        raise FileFormatError(path, f"{max(size, len(raw))} bytes; a {what} holds at most {MAX_JSON_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, f"not UTF-8 text (byte {exc.start}); expected a JSON {what}") from None
    depth = _text_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise FileFormatError(path, f"JSON nested {depth} levels deep; a {what} is nested at most {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_constant=float if nonfinite else _no_constant,
                          parse_float=float if nonfinite else _finite_float, parse_int=_bounded_int,
                          object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise FileFormatError(path, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except _Refused as exc:
        raise FileFormatError(path, str(exc)) from None
    except (ValueError, RecursionError) as exc:  # pragma: no cover - guarded by the checks above
        raise FileFormatError(path, f"not valid JSON: {str(exc).splitlines()[0][:120]}") from None


def json_default(o):
    """``json.dumps(default=...)`` for numpy scalars and arrays, datetimes and paths; else TypeError.

    Examples
    --------
    >>> import json
    >>> json.dumps({"n": np.int64(3), "x": np.arange(2)}, default=json_default)
    '{"n": 3, "x": [0, 1]}'
    """
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, datetime):  # pandas.Timestamp is a datetime
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def json_default_lenient(o):
    """Like :func:`json_default`, but writes anything else as its ``str`` (for informative documents)."""
    try:
        return json_default(o)
    except TypeError:
        return str(o)
