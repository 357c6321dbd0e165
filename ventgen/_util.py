"""Small shared helpers: random state, atomic writes, progress bars.

Used by every room so that these conventions live in one place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import VentgenTypeError

__all__ = [
    "check_random_state",
    "atomic_path",
    "progress",
    "set_progress",
    "progress_enabled",
    "json_default",
    "json_default_lenient",
]

_PROGRESS = {"enabled": os.environ.get("VENTGEN_PROGRESS", "1") not in ("0", "false", "no")}


def set_progress(enabled: bool) -> None:
    """Switch ventgen's progress bars on or off globally (also: env ``VENTGEN_PROGRESS=0``)."""
    _PROGRESS["enabled"] = bool(enabled)


def progress_enabled(progress: bool | None = None) -> bool:
    """Resolve a per-call ``progress`` argument (``None`` = the global setting)."""
    return _PROGRESS["enabled"] if progress is None else bool(progress)


def progress(iterable=None, *, enabled: bool | None = None, **kwargs):
    """A tqdm progress bar that honours :func:`set_progress` and the per-call switch."""
    from tqdm.auto import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, disable=not progress_enabled(enabled), **kwargs)


def check_random_state(random_state) -> np.random.Generator:
    """Turn ``random_state`` (None, int, SeedSequence or Generator) into a :class:`numpy.random.Generator`.

    Examples
    --------
    >>> bool(check_random_state(0).integers(10) == check_random_state(0).integers(10))
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer, np.random.SeedSequence)):
        if isinstance(random_state, (int, np.integer)) and random_state < 0:
            raise VentgenTypeError(f"random_state must be a non-negative integer, got {random_state}")
        return np.random.default_rng(random_state)
    raise VentgenTypeError(
        f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}"
    )


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = False, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted or failed write leaves no partial file. Refuses to replace an existing file unless
    ``overwrite`` is true (raises :class:`FileExistsError`).

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with atomic_path(os.path.join(d, "x.txt")) as tmp:
    ...     _ = open(tmp, "w").write("hello")
    >>> open(os.path.join(d, "x.txt")).read()
    'hello'
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(17, "exists; pass overwrite=True (or --overwrite) to replace it", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def json_default(o):
    """``json.dumps(default=...)`` for numpy scalars and arrays, datetimes and paths; else TypeError.

    Examples
    --------
    >>> import json
    >>> json.dumps({"n": np.int64(3), "x": np.arange(2)}, default=json_default)
    '{"n": 3, "x": [0, 1]}'
    """
    from datetime import datetime

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
