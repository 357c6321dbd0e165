"""ventgen's own plumbing, shared by every room: random state, atomic writes, progress bars, JSON
helpers, schema validation and the limits on user input. Errors live in :mod:`ventgen.errors` (public).
"""

from .atomic import (
    atomic_dir,
    atomic_path,
    atomic_paths,
    clean_stale_temporaries,
    current_umask,
    hide_temporary_names,
)
from .jsonio import json_default, json_default_lenient, read_json_document
from .progress import progress, progress_enabled, set_progress
from .random import check_random_state

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_paths",
    "check_random_state",
    "clean_stale_temporaries",
    "current_umask",
    "hide_temporary_names",
    "json_default",
    "json_default_lenient",
    "progress",
    "progress_enabled",
    "read_json_document",
    "set_progress",
]
