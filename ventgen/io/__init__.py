"""All file access of ventgen: one module per format, and the dispatcher over them.

``recordings`` reads, writes and converts recording files (``csv``, ``hdf5``, ``pb840``; units in
``units``), ``describe`` summarises them, ``cycleset`` reads and writes breath-cycle sets, ``labels`` reads
breath-level label tables.
"""

from __future__ import annotations

from .cycleset import read_cycleset, write_cycleset
from .describe import describe_file, describe_files, describe_path, describe_paths, file_kind
from .labels import BreathLabels, apply_breath_labels, read_breath_labels, read_label_hierarchy
from .recordings import (
    FORMATS,
    PB840_SAMPLING_RATE,
    WRITE_FORMATS,
    convert_file,
    detect_format,
    read_recording,
    read_recordings,
    write_recording,
    write_recordings,
)
from .units import FLOW_UNITS, PRESSURE_UNITS, VOLUME_UNITS

__all__ = [
    "FORMATS",
    "WRITE_FORMATS",
    "PB840_SAMPLING_RATE",
    "FLOW_UNITS",
    "PRESSURE_UNITS",
    "VOLUME_UNITS",
    "detect_format",
    "read_recording",
    "read_recordings",
    "write_recording",
    "write_recordings",
    "describe_file",
    "describe_files",
    "describe_path",
    "describe_paths",
    "file_kind",
    "convert_file",
    "read_cycleset",
    "write_cycleset",
    "BreathLabels",
    "read_breath_labels",
    "read_label_hierarchy",
    "apply_breath_labels",
]
