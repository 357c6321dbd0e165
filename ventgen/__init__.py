"""ventgen: mechanical-ventilation recordings -> breath cycles -> HTVAE -> virtual patients.

The public API is listed in ``__all__``; every function is usable alone and from the ``ventgen`` command.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._core import set_progress
from .errors import (
    DataRecoveryWarning,
    FileFormatError,
    SchemaError,
    VentgenError,
    VentgenTypeError,
    VentgenValueError,
    VentgenWarning,
)
from .labels import (
    VENTILATION_CLASSES,
    VENTILATION_MODES,
    VENTILATION_MODES_TREE,
    VENTILATION_SUPERCLASSES,
    VENTILATION_TREE,
    LabelTree,
)

# --- signals: recordings and file formats
# isort: split
from .io import (
    BreathLabels,
    apply_breath_labels,
    convert_file,
    describe_file,
    describe_files,
    describe_path,
    describe_paths,
    detect_format,
    read_breath_labels,
    read_cycleset,
    read_label_hierarchy,
    read_recording,
    read_recordings,
    write_cycleset,
    write_recording,
    write_recordings,
)
from .signals.recording import Recording

# --- simulator
from .signals.simulate import simulate_cohort, simulate_recording

# --- segmentation and cycles
# isort: split
from .signals.cycles import CycleSet, extract_cycles
from .signals.detect import detect_breath_starts
from .signals.features import breath_metadata, inspiration_end
from .signals.segment import segment_breaths

# --- file-level steps (simulate, segment)
# isort: split
from .workflows import cycles_from_recordings, segment_files, write_simulated_cohort

# --- models (imported lazily by __getattr__ at the end, so that `import ventgen` does not import torch)

# --- metrics and datasets
# isort: split
from .evaluate.benchmark import run_benchmark
from .evaluate.clustering import HierarchicalKMeans, HierarchicalTimeSeriesKMeans, RecursiveGMM
from .evaluate.datasets import load_dataset
from .evaluate.metrics import dtree, level_report, nmi, purity, unsupervised_accuracy
from .labels import LearnedTree

# --- cohorts
# isort: split
from .evaluate.fidelity import FidelityReport, evaluate_cohort
from .generate import (
    CohortResult,
    CohortSpec,
    GenerationOptions,
    generate_cohort,
    label_nodes,
    read_cohort_spec,
    resolve_composition,
)
from .io.cohort import read_cohort, write_cohort

# --- figures (ventgen.viz) and run reports
# isort: split
from .report import RunReport, write_run_report

__all__ = [
    "__version__",
    "set_progress",
    "VentgenError",
    "VentgenValueError",
    "VentgenTypeError",
    "FileFormatError",
    "SchemaError",
    "VentgenWarning",
    "DataRecoveryWarning",
    "LabelTree",
    "VENTILATION_TREE",
    "VENTILATION_CLASSES",
    "VENTILATION_SUPERCLASSES",
    "VENTILATION_MODES",
    "VENTILATION_MODES_TREE",
    # signals
    "Recording",
    "read_recording",
    "read_recordings",
    "write_recording",
    "write_recordings",
    "describe_file",
    "describe_files",
    "describe_path",
    "describe_paths",
    "convert_file",
    "detect_format",
    # simulator
    "simulate_cohort",
    "simulate_recording",
    "write_simulated_cohort",
    # segmentation and cycles
    "segment_breaths",
    "detect_breath_starts",
    "breath_metadata",
    "inspiration_end",
    "extract_cycles",
    "CycleSet",
    "read_cycleset",
    "write_cycleset",
    "BreathLabels",
    "read_breath_labels",
    "read_label_hierarchy",
    "apply_breath_labels",
    "cycles_from_recordings",
    "segment_files",
    # models
    "HTVAE",
    # metrics and datasets
    "purity",
    "nmi",
    "unsupervised_accuracy",
    "dtree",
    "level_report",
    "LearnedTree",
    "HierarchicalKMeans",
    "RecursiveGMM",
    "HierarchicalTimeSeriesKMeans",
    "load_dataset",
    "run_benchmark",
    # cohorts
    "CohortSpec",
    "CohortResult",
    "read_cohort_spec",
    "label_nodes",
    "resolve_composition",
    "generate_cohort",
    "GenerationOptions",
    "write_cohort",
    "read_cohort",
    "FidelityReport",
    "evaluate_cohort",
    # plots and run reports
    "RunReport",
    "write_run_report",
]


_LAZY = {"HTVAE": ".models.estimator"}


def __getattr__(name):  # PEP 562: lazy public names (torch-backed models)
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ventgen' has no attribute {name!r}")
