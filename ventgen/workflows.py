"""File-level steps that the ``ventgen`` command and the demo share.

Each step reads its inputs from files, calls the library (signals, models, generate, evaluate), and
writes its outputs atomically; the command line only parses arguments and calls these. Folder names of a
run (the demo's layout, read back by the report) are defined once, in :class:`RunLayout`.
"""

from __future__ import annotations

__all__: list[str] = []

# ----------------------------------------------------------------------------- run layout (evaluate/report helper)

# ----------------------------------------------------------------------------- simulate, segment (io/signals helper)

# ----------------------------------------------------------------------------- train (models helper)

# ----------------------------------------------------------------------------- generate (generate helper)

# ----------------------------------------------------------------------------- evaluate, demo (evaluate/report helper)
