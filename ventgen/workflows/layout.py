"""The folder names of a run (what the demo writes and the report reads), defined once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunLayout", "RUN_LAYOUT"]





@dataclass(frozen=True)
class RunLayout:
    """The names of the files and folders of a run folder: ``ventgen demo`` writes them, ``ventgen report``
    reads them back. Defined once, here.

    Examples
    --------
    >>> RUN_LAYOUT.cycles, RUN_LAYOUT.path("runs/demo", "model").as_posix()
    ('cycles_train.h5', 'runs/demo/model.pt')
    """

    recordings: str = "recordings"  # simulated recordings (ventgen HDF5)
    breaths: str = "breaths.csv"  # the breath table of every recording
    cycles: str = "cycles_train.h5"  # CycleSet of the training subjects
    test_cycles: str = "cycles_test.h5"  # CycleSet of the held-out subject
    model: str = "model.pt"  # the trained HTVAE
    checkpoints: str = "checkpoints"  # one checkpoint per epoch
    evaluation: str = "evaluation.csv"  # per-level metrics on the held-out subject
    cohort_spec: str = "cohort.json"  # the cohort specification that was generated
    cohort: str = "cohort"  # virtual patients + manifest.csv
    fidelity: str = "fidelity"  # real-vs-synthetic fidelity tables and figures
    report: str = "report"  # the run report (index.html, figures/, metrics.json)

    def path(self, run_dir, name: str) -> Path:
        """The path of the entry ``name`` (a field of this layout) inside ``run_dir``."""
        return Path(run_dir) / getattr(self, name)


#: The run folder layout of ventgen.
RUN_LAYOUT = RunLayout()
#: Entries of a run folder :func:`report_from_run` reads.
#: The inputs a run report reads from a run folder (attributes of :class:`RunLayout`).
REPORT_INPUTS = ("model", "cycles", "test_cycles", "evaluation", "cohort", "fidelity", "recordings")
