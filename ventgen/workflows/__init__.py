"""File-level steps that the ``ventgen`` command and the demo share.

Each step reads its inputs from files, calls the library (signals, models, generate, evaluate), and
writes its outputs atomically; the command line only parses arguments and calls these. Folder names of a
run (the demo's layout, read back by the report) are defined once, in :class:`RunLayout`.
"""

from .demo import DEMO_SPEC, DemoResult, run_demo
from .evaluate import evaluate_files, report_from_run
from .generate import generate_files
from .layout import RUN_LAYOUT, RunLayout
from .segment import cycles_from_recordings, segment_files, write_simulated_cohort
from .train import check_output_paths, partial_labels, train_file

__all__ = [
    "DEMO_SPEC",
    "DemoResult",
    "RUN_LAYOUT",
    "RunLayout",
    "check_output_paths",
    "cycles_from_recordings",
    "evaluate_files",
    "generate_files",
    "partial_labels",
    "report_from_run",
    "run_demo",
    "segment_files",
    "train_file",
    "write_simulated_cohort",
]
