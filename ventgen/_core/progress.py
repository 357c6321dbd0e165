"""Progress bars (tqdm) that can be switched off globally or per call."""

from __future__ import annotations

import os

__all__ = ["progress", "set_progress", "progress_enabled"]

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
