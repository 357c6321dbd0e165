"""Progress bars (tqdm) that can be switched off globally or per call, and that do not flood logs.

On a terminal a bar redraws in place. When standard error is not a terminal (a log file, CI), each
redraw would be a new line, so the bar is redrawn at most once every :data:`LOG_INTERVAL_S` seconds.

Examples
--------
>>> total = 0
>>> for i in progress(range(3), enabled=False):
...     total += i
>>> total
3
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

__all__ = ["progress", "set_progress", "progress_enabled", "LOG_INTERVAL_S"]

#: Seconds between two redraws of a bar written to a log (standard error is not a terminal).
LOG_INTERVAL_S = 60.0

_PROGRESS = {"enabled": os.environ.get("VENTGEN_PROGRESS", "1") not in ("0", "false", "no")}


def set_progress(enabled: bool) -> None:
    """Switch ventgen's progress bars on or off globally (also: env ``VENTGEN_PROGRESS=0``)."""
    _PROGRESS["enabled"] = bool(enabled)


def progress_enabled(progress: bool | None = None) -> bool:
    """Resolve a per-call ``progress`` argument (``None`` = the global setting)."""
    return _PROGRESS["enabled"] if progress is None else bool(progress)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, *, enabled: bool | None = None, **kwargs):
    """A tqdm progress bar that honours :func:`set_progress` and the per-call switch."""
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    if not _is_terminal(kwargs.get("file") or sys.stderr):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs.setdefault("maxinterval", LOG_INTERVAL_S)
    return tqdm(iterable, disable=not progress_enabled(enabled), **kwargs)
