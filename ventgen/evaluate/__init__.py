"""Evaluation: clustering metrics and trees, clustering baselines, cohort fidelity, the benchmark protocol.

- :mod:`~ventgen.evaluate.metrics`: purity, NMI, unsupervised accuracy, Dtree, per-level reports;
- :mod:`~ventgen.evaluate.nodes`: classes per node of a learned hierarchy;
- :mod:`~ventgen.evaluate.clustering`: hierarchical k-means, recursive GMM, time-series k-means;
- :mod:`~ventgen.evaluate.fidelity`: how faithful a generated cohort is to the real breaths;
- :mod:`~ventgen.evaluate.datasets` and :mod:`~ventgen.evaluate.benchmark`: the paper's benchmark (not
  imported here: it reads its data through :mod:`ventgen.workflows`).
"""

from __future__ import annotations

from .clustering import HierarchicalKMeans, HierarchicalTimeSeriesKMeans, RecursiveGMM
from .datasets import load_dataset
from .fidelity import FidelityReport, evaluate_cohort, ks_table
from .metrics import contingency, dtree, level_report, nmi, purity, unsupervised_accuracy
from .nodes import node_class_table

__all__ = [
    "purity",
    "nmi",
    "unsupervised_accuracy",
    "contingency",
    "dtree",
    "level_report",
    "node_class_table",
    "HierarchicalKMeans",
    "RecursiveGMM",
    "HierarchicalTimeSeriesKMeans",
    "FidelityReport",
    "evaluate_cohort",
    "ks_table",
    "load_dataset",
]
