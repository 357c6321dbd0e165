"""The fidelity report: every number :func:`~ventgen.evaluate.fidelity.evaluate_cohort` measured."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..._core import json_default_lenient
from ...io.fidelity import write_fidelity_folder

__all__ = ["FidelityReport", "discriminative_table"]

_CLASSIFIERS = (("random forest, cycle features", "discriminative", "discriminative_score"),
                ("1-D CNN, raw cycles", "discriminative_cnn", "cnn_discriminative_score"))


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) else float("nan")


def discriminative_table(doc) -> pd.DataFrame:
    """The discriminative scores of a fidelity report side by side, one row per classifier.

    Columns: ``classifier``, ``synthetic`` (real vs generated breaths), ``floor`` (two random halves of
    the real breaths: what a perfect generator scores with this many breaths), ``ceiling`` (real vs
    the model's reconstructions; NaN without a model), ``between subjects`` (the real breaths of half the
    subjects against the other half's: what new real subjects score; NaN with one subject), ``accuracy``
    and ``breaths per side`` of the synthetic score. Classifiers the report does not hold are left out.

    Parameters
    ----------
    doc : mapping
        :meth:`FidelityReport.to_dict`, or the ``fidelity.json`` of a fidelity folder (the groups
        ``discriminative``, ``discriminative_cnn`` and ``reconstruction_ceiling``).

    Examples
    --------
    >>> doc = {"discriminative": {"score": 0.3, "accuracy": 0.8, "n_per_side": 500, "floor": {"score": 0.02}},
    ...        "reconstruction_ceiling": {"discriminative_score": 0.25}}
    >>> discriminative_table(doc)[["classifier", "synthetic", "floor", "ceiling"]].values.tolist()
    [['random forest, cycle features', 0.3, 0.02, 0.25]]
    """
    ceiling = doc.get("reconstruction_ceiling") or {}
    rows = []
    for name, key, ceiling_key in _CLASSIFIERS:
        d = doc.get(key)
        if not isinstance(d, Mapping) or "score" not in d:
            continue
        floor = d.get("floor") if isinstance(d.get("floor"), Mapping) else {}
        between = d.get("between_subjects") if isinstance(d.get("between_subjects"), Mapping) else {}
        rows.append({"classifier": name, "synthetic": _num(d["score"]), "floor": _num(floor.get("score")),
                     "ceiling": _num(ceiling.get(ceiling_key)), "between subjects": _num(between.get("score")),
                     "accuracy": _num(d.get("accuracy")),
                     "breaths per side": int(d["n_per_side"]) if "n_per_side" in d else None})
    return pd.DataFrame(rows, columns=["classifier", "synthetic", "floor", "ceiling", "between subjects", "accuracy",
                                       "breaths per side"])


@dataclass
class FidelityReport:
    """Everything :func:`evaluate_cohort` measured; ``summary()`` holds the headline numbers."""

    composition: pd.DataFrame
    segmentation: dict
    ks: pd.DataFrame
    classifier: dict
    discriminative: dict
    memorisation: dict
    figures: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    real_breaths: pd.DataFrame | None = None
    synthetic_breaths: pd.DataFrame | None = None
    ceiling: dict | None = None
    discriminative_cnn: dict | None = None
    ks_floor: float = float("nan")  # the median KS of real breaths against real ones, at the synthetic size

    @property
    def ks_median(self) -> float:
        v = self.ks["ks"].to_numpy(dtype=float) if len(self.ks) else np.zeros(0)
        v = v[np.isfinite(v)]
        return float(np.median(v)) if v.size else float("nan")

    def summary(self) -> dict:
        """Headline numbers (JSON-serialisable)."""
        comp = self.composition
        return {
            "composition_max_abs_difference": float(np.abs(comp["difference"]).max()) if len(comp) else float("nan"),
            "segmentation_f1": self.segmentation.get("f1", float("nan")),
            "ks_median": self.ks_median,
            "ks_median_floor": self.ks_floor if np.isfinite(self.ks_floor) else None,  # None: no class to split
            "ks_median_per_column": self.ks.groupby("column")["ks"].median().to_dict() if len(self.ks) else {},
            "trtr_accuracy": self.classifier.get("trtr_accuracy"),
            "tstr_accuracy": self.classifier.get("tstr_accuracy"),
            "tstr_over_trtr": self.classifier.get("ratio"),
            "discriminative_score": self.discriminative.get("score"),
            "discriminative_score_floor": (self.discriminative.get("floor") or {}).get("score"),
            "cnn_discriminative_score": (self.discriminative_cnn or {}).get("score"),
            "cnn_discriminative_score_floor": ((self.discriminative_cnn or {}).get("floor") or {}).get("score"),
            "discriminative_score_between_subjects": (self.discriminative.get("between_subjects") or {}).get("score"),
            "cnn_discriminative_score_between_subjects":
                ((self.discriminative_cnn or {}).get("between_subjects") or {}).get("score"),
            "memorisation_fraction_below_real_p05": self.memorisation.get("fraction_below_real_p05"),
            "memorisation_fraction_below_real_median": self.memorisation.get("fraction_below_real_median"),
            "memorisation_n_exact_copies": self.memorisation.get("n_exact_copies"),
            "memorisation_passes": self.memorisation.get("passes"),
            **({"needs_labels": self.info["needs_labels"]} if "needs_labels" in self.info else {}),
        }

    def to_dict(self) -> dict:
        """Every result; tables stay DataFrames (``composition``, ``ks``, ``real_breaths``,
        ``synthetic_breaths``: metadata of every breath with its ``label``)."""
        mem = {k: v for k, v in self.memorisation.items() if k != "distances"}
        d = {"summary": self.summary(), "segmentation": self.segmentation, "classifier": self.classifier,
             "discriminative": self.discriminative, "memorisation": mem,
             **({} if self.discriminative_cnn is None else {"discriminative_cnn": self.discriminative_cnn}),
             "composition": self.composition, "ks": self.ks, "figures": [str(f) for f in self.figures],
             "info": self.info}
        if self.ceiling is not None:
            d["reconstruction_ceiling"] = self.ceiling
        if self.real_breaths is not None:
            d["real_breaths"] = self.real_breaths
        if self.synthetic_breaths is not None:
            d["synthetic_breaths"] = self.synthetic_breaths
        return d

    def discriminative_table(self) -> pd.DataFrame:
        """Both classifiers' discriminative scores with their floor and ceiling (see
        :func:`discriminative_table`)."""
        return discriminative_table(self.to_dict())

    def write(self, out_dir, *, overwrite: bool = False) -> Path:
        """Write ``fidelity.json``, ``ks.csv``, ``composition.csv`` and ``synthetic_breaths.csv`` as one
        set (figures are written by :func:`evaluate_cohort`).

        Existing files are replaced only with ``overwrite``, and only in a folder that holds a fidelity
        report ventgen wrote (a readable ``fidelity.json``); no other file is ever touched.
        """
        out = Path(out_dir)
        write_fidelity_folder(out, self._tables(), {}, overwrite=overwrite)
        return out

    def _tables(self) -> list:
        """``(file name, writer(path))`` of every table of the report."""
        doc = {k: v for k, v in self.to_dict().items() if k not in ("real_breaths", "synthetic_breaths")}
        doc["ks"] = self.ks.to_dict(orient="records")
        doc["composition"] = self.composition.to_dict(orient="records")
        text = json.dumps(doc, indent=2, default=json_default_lenient)
        tables = [("fidelity.json", lambda p: Path(p).write_text(text, encoding="utf-8")),
                  ("ks.csv", lambda p: self.ks.to_csv(p, index=False)),
                  ("composition.csv", lambda p: self.composition.to_csv(p, index=False))]
        if self.synthetic_breaths is not None:
            tables.append(("synthetic_breaths.csv", lambda p: self.synthetic_breaths.to_csv(p, index=False)))
        return tables

    def __repr__(self) -> str:
        s = self.summary()
        return ("FidelityReport(composition max |diff| {composition_max_abs_difference:.4f}, segmentation F1 "
                "{segmentation_f1:.3f}, median KS {ks_median:.3f} (floor {ks_median_floor:.3f}), TSTR/TRTR {tstr_over_trtr:.3f}, "
                "discriminative {discriminative_score:.3f} (floor {discriminative_score_floor:.3f}), CNN "
                "{cnn_discriminative_score:.3f} (floor {cnn_discriminative_score_floor:.3f}))").format(**{k: (np.nan if v is None else v) for k, v in s.items()})
