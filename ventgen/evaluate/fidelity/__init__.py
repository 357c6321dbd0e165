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
  separable);
* **memorisation**: the distance of every synthetic breath to its nearest real training breath,
  compared with the distance of every real breath to its nearest other real breath.

The building blocks (:func:`match_breaths`, :func:`ks_table`, :func:`tstr_trtr`,
:func:`discriminative_score`, :func:`memorisation_check`) work on plain arrays.
"""

from __future__ import annotations

from .api import evaluate_cohort
from .ceiling import breath_rmse, reconstruction_ceiling
from .classifiers import cycle_features, discriminative_score, tstr_trtr
from .memorisation import memorisation_check
from .metadata import METADATA_KS_COLUMNS, cycle_metadata, ks_table
from .report import FidelityReport
from .segmentation import match_breaths, synthetic_cycles

__all__ = [
    "FidelityReport",
    "evaluate_cohort",
    "match_breaths",
    "ks_table",
    "tstr_trtr",
    "discriminative_score",
    "memorisation_check",
    "reconstruction_ceiling",
    "breath_rmse",
    "cycle_features",
    "cycle_metadata",
    "synthetic_cycles",
    "METADATA_KS_COLUMNS",
]
