"""How faithful a generated cohort is to the real breaths it was learnt from.

:func:`evaluate_cohort` runs the synthetic recordings through the same pipeline as the real ones
(``segment_breaths`` -> ``extract_cycles``) and reports:

* **segmentation**: does breath detection find the generated breaths? (precision, recall, F1 of the
  detected breath starts against the manifest's, within a tolerance);
* **composition**: requested vs achieved share of breaths per composition entry;
* **metadata**: per class, the two-sample Kolmogorov-Smirnov statistic between real and synthetic
  respiratory rate, inspiratory time, inspired/expired tidal volume, PIP and PEEP (all computed the
  same way, from the cycles at the cycle rate, with :func:`ventgen.signals.features.breath_metadata`),
  with one histogram figure per quantity;
* **TSTR vs TRTR**: accuracy on held-out real breaths of a breath classifier trained on synthetic
  breaths, next to the same classifier trained on real breaths;
* **discriminative score**: ``|accuracy - 0.5|`` of a fixed-size classifier separating real from
  synthetic breaths, cross-validated, on class-matched samples (0 = indistinguishable, 0.5 = trivially
  separable), with two classifiers: a random forest on decimated cycles
  (:func:`discriminative_score`) and a small 1-D CNN on the raw cycles
  (:func:`cnn_discriminative_score`); each next to its floor (the same score between two random
  halves of the real breaths) and, with the model, its ceiling (the model's own reconstructions),
  both at the score's own number of breaths of each class (a classifier's score grows with the
  breaths it learns from, so scores compare only at the same size);
* **memorisation**: the distance of every synthetic breath to its nearest real training breath,
  compared with the distance of every real breath to its nearest other real breath.

The building blocks (:func:`match_breaths`, :func:`ks_table`, :func:`tstr_trtr`,
:func:`discriminative_score`, :func:`cnn_discriminative_score`, :func:`memorisation_check`) work on
plain arrays. :func:`cnn_discriminative_score` needs torch, imported on its first use only.
"""

from __future__ import annotations

from .api import evaluate_cohort
from .ceiling import breath_rmse, reconstruction_ceiling
from .classifiers import (
    CNN_EPOCHS,
    CNN_NAME,
    FOREST_NAME,
    cycle_features,
    discriminative_score,
    tstr_trtr,
)
from .memorisation import memorisation_check
from .metadata import METADATA_KS_COLUMNS, cycle_metadata, ks_floor, ks_table
from .report import FidelityReport, discriminative_table
from .segmentation import composition_f1, detection_by_label, match_breaths, synthetic_cycles

__all__ = [
    "FidelityReport",
    "evaluate_cohort",
    "match_breaths",
    "ks_floor",
    "ks_table",
    "tstr_trtr",
    "discriminative_score",
    "cnn_discriminative_score",
    "discriminative_table",
    "FOREST_NAME",
    "CNN_NAME",
    "CNN_EPOCHS",
    "memorisation_check",
    "reconstruction_ceiling",
    "breath_rmse",
    "cycle_features",
    "cycle_metadata",
    "synthetic_cycles",
    "detection_by_label",
    "composition_f1",
    "METADATA_KS_COLUMNS",
]


def __getattr__(name: str):
    """``cnn_discriminative_score`` (and the rest of :mod:`.cnn`) on first use: torch stays unloaded until then."""
    if name in ("cnn_discriminative_score", "CycleCNN"):
        from . import cnn

        return getattr(cnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
