"""Human labels of the run report's numbers: the key-number tiles never show raw keys.

A metric is known by its flattened key (``held_out.level_1.dtree_lca``); :data:`METRIC_LABELS` maps key
patterns to labels (``"Tree distance Dtree (common ancestor), level 1, held-out"``). Keys with no entry
are shown humanised (``_`` -> space, ``.`` -> ``: ``); keys labelled ``None`` are bookkeeping and left
out of the tiles (they stay in the "All metrics" table and in ``metrics.json``).

Examples
--------
>>> metric_label("held_out.level_1.dtree_lca")
'Tree distance Dtree (common ancestor), level 1, held-out'
>>> metric_label("fidelity.ks_median_per_column.rr_bpm")
'Median KS, respiratory rate'
>>> metric_label("some_new.number")
'some new: number'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["METRIC_LABELS", "metric_label", "tile_values"]

_QUANTITIES = {"rr_bpm": "respiratory rate", "itime_s": "inspiratory time", "tvi_ml": "inspired tidal volume",
               "tve_ml": "expired tidal volume", "pip_cmh2o": "peak inspiratory pressure", "peep_cmh2o": "PEEP"}

_LEVEL = r"(?:held_out\.)?level_(\d+)\."
#: (regular expression over the whole key, label; ``{0}``... are the groups; None = not a tile)
METRIC_LABELS: list[tuple[str, str | None]] = [
    (_LEVEL + r"level", None),
    (_LEVEL + r"K", "Codes, level {0}"),
    (_LEVEL + r"used", "Codes used, level {0}, held-out"),
    (_LEVEL + r"purity", "Purity, level {0}, held-out"),
    (_LEVEL + r"nmi", "NMI, level {0}, held-out"),
    (_LEVEL + r"accuracy", "Unsupervised accuracy, level {0}, held-out"),
    (_LEVEL + r"dtree", "Tree distance Dtree (path), level {0}, held-out"),
    (_LEVEL + r"dtree_lca", "Tree distance Dtree (common ancestor), level {0}, held-out"),
    (r"(?:fidelity\.)?(?:summary\.)?composition_max_abs_(?:difference|error)", "Composition: largest share error"),
    (r"(?:fidelity\.)?(?:summary\.)?segmentation_f1", "Breath detection F1 on the virtual patients"),
    (r"(?:fidelity\.)?(?:summary\.)?ks_median", "Median KS, real vs synthetic (per class and quantity)"),
    (r"(?:fidelity\.)?(?:summary\.)?ks_median_floor", "Median KS floor, real vs real at the synthetic size"),
    (r"(?:fidelity\.)?(?:summary\.)?ks_median_per_column\.(\w+)", "Median KS, {q0}"),
    (r"(?:fidelity\.)?(?:summary\.)?trtr_accuracy", "Accuracy trained on real (TRTR)"),
    (r"(?:fidelity\.)?(?:summary\.)?tstr_accuracy", "Accuracy trained on synthetic (TSTR)"),
    (r"(?:fidelity\.)?(?:summary\.)?tstr_over_trtr", "TSTR / TRTR"),
    (r"(?:fidelity\.)?(?:summary\.)?discriminative_score", "Discriminative score, random forest (0 = indistinguishable)"),
    (r"(?:fidelity\.)?(?:summary\.)?discriminative_score_floor", "Discriminative score floor, random forest (real vs real)"),
    (r"(?:fidelity\.)?(?:summary\.)?cnn_discriminative_score", "Discriminative score, 1-D CNN (0 = indistinguishable)"),
    (r"(?:fidelity\.)?(?:summary\.)?cnn_discriminative_score_floor", "Discriminative score floor, 1-D CNN (real vs real)"),
    (r"(?:fidelity\.)?(?:summary\.)?discriminative_score_between_subjects",
     "Discriminative score between real subjects, random forest (half the subjects vs the other half)"),
    (r"(?:fidelity\.)?(?:summary\.)?cnn_discriminative_score_between_subjects",
     "Discriminative score between real subjects, 1-D CNN (half the subjects vs the other half)"),
    (r"(?:fidelity\.)?(?:summary\.)?memorisation_fraction_below_real_p05",
     "Synthetic breaths closer to a real one than the real 5th percentile"),
    (r"(?:fidelity\.)?(?:summary\.)?memorisation_fraction_below_real_median",
     "Synthetic breaths closer to a real one than the real median"),
    (r"(?:fidelity\.)?(?:summary\.)?memorisation_n_exact_copies", "Exact copies of training breaths"),
    (r"timings_s\.(\w+)", "Time: {0} [s]"),
    (r"median_ks", "Median KS, real vs synthetic (all classes together)"),
    (r"nodes_used_level_1", "Codes used, level 1"),
    (r"mean_node_purity_level_1", "Mean node purity, level 1"),
]
_COMPILED = [(re.compile(p), label) for p, label in METRIC_LABELS]
_MISSING = object()


def _lookup(key: str):
    for pattern, label in _COMPILED:
        m = pattern.fullmatch(key)
        if m:
            if label is None:
                return None
            groups = m.groups()
            return label.format(*groups, **{f"q{i}": _QUANTITIES.get(g, g) for i, g in enumerate(groups)})
    return _MISSING


def metric_label(key: str) -> str:
    """The label of a flattened metric key (humanised when the table has none)."""
    label = _lookup(str(key))
    if isinstance(label, str):
        return label
    return str(key).replace("_", " ").replace(".", ": ")


def tile_values(values: Mapping, limit: int = 12) -> dict:
    """``{label: value}`` of the first ``limit`` numbers of a flat ``{key: value}`` mapping, bookkeeping
    keys (labelled ``None``) left out."""
    out: dict = {}
    for key, v in values.items():
        if len(out) >= limit:
            break
        if _lookup(str(key)) is not None:
            out[metric_label(key)] = v
    return out
