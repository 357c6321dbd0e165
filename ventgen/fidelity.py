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

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._core import (
    atomic_paths,
    check_random_state,
    json_default_lenient,
    progress,
    read_json_document,
)
from .errors import VentgenTypeError, VentgenValueError, VentgenWarning

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
    "METADATA_KS_COLUMNS",
]

#: Breath metadata compared real vs synthetic.
METADATA_KS_COLUMNS = ("rr_bpm", "itime_s", "tvi_ml", "tve_ml", "pip_cmh2o", "peep_cmh2o")


# ============================================================================ building blocks
def match_breaths(true_starts_s, found_starts_s, tolerance_s: float = 0.3) -> dict:
    """One-to-one matching of detected breath starts to true ones within ``tolerance_s``.

    Greedy by distance: the closest pairs are matched first, each start at most once.

    Returns
    -------
    dict
        ``n_true``, ``n_found``, ``tp``, ``precision``, ``recall``, ``f1``, ``median_offset_s``.

    Examples
    --------
    >>> d = match_breaths([0, 4, 8, 12], [0.1, 4.0, 9.5, 12.2, 14])
    >>> d["tp"], round(d["f1"], 3)
    (3, 0.667)
    """
    t = np.sort(np.asarray(true_starts_s, dtype=float).ravel())
    f = np.sort(np.asarray(found_starts_s, dtype=float).ravel())
    n_t, n_f = t.size, f.size
    tp = 0
    offsets = np.zeros(0)
    if n_t and n_f:
        # candidate pairs: each found start with its two neighbouring true starts
        j = np.searchsorted(t, f)
        cand_f = np.concatenate([np.arange(n_f), np.arange(n_f)])
        cand_t = np.concatenate([np.clip(j - 1, 0, n_t - 1), np.clip(j, 0, n_t - 1)])
        d = np.abs(f[cand_f] - t[cand_t])
        ok = d <= tolerance_s
        cand_f, cand_t, d = cand_f[ok], cand_t[ok], d[ok]
        order = np.argsort(d, kind="stable")
        used_t = np.zeros(n_t, dtype=bool)
        used_f = np.zeros(n_f, dtype=bool)
        offs = []
        for k in order:  # candidate pairs only (<= 2 per detected breath)
            a, b = cand_f[k], cand_t[k]
            if not used_f[a] and not used_t[b]:
                used_f[a] = used_t[b] = True
                offs.append(f[a] - t[b])
        tp = len(offs)
        offsets = np.asarray(offs)
    prec = tp / n_f if n_f else float("nan")
    rec = tp / n_t if n_t else float("nan")
    f1 = 2 * tp / (n_t + n_f) if (n_t + n_f) else float("nan")
    return {"n_true": int(n_t), "n_found": int(n_f), "tp": int(tp), "precision": float(prec),
            "recall": float(rec), "f1": float(f1), "tolerance_s": float(tolerance_s),
            "median_offset_s": float(np.median(offsets)) if offsets.size else float("nan")}


def ks_table(real: pd.DataFrame, synthetic: pd.DataFrame, real_labels, synthetic_labels,
             columns=METADATA_KS_COLUMNS, min_count: int = 5) -> pd.DataFrame:
    """Two-sample KS statistic per class and metadata column (real vs synthetic).

    Classes are those present on both sides (``""`` = unlabelled is skipped); a class with fewer than
    ``min_count`` finite values on a side gets NaN.

    Returns
    -------
    DataFrame
        ``label``, ``column``, ``n_real``, ``n_synthetic``, ``ks``, ``pvalue``, ``real_median``,
        ``synthetic_median``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 500)})
    >>> b = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 500)})
    >>> float(ks_table(a, b, ["n"] * 500, ["n"] * 500, columns=["rr_bpm"])["ks"].iloc[0]) < 0.1
    True
    """
    from scipy.stats import ks_2samp

    rl = np.asarray(real_labels).astype(str)
    sl = np.asarray(synthetic_labels).astype(str)
    if len(rl) != len(real) or len(sl) != len(synthetic):
        raise VentgenValueError("ks_table: one label per row of each metadata table is needed")
    classes = sorted((set(rl) & set(sl)) - {""})
    rows = []
    for c in classes:
        for col in columns:
            if col not in real.columns or col not in synthetic.columns:
                raise VentgenValueError(f"ks_table: column {col!r} missing; real has {list(real.columns)}")
            a = real[col].to_numpy(dtype=float)[rl == c]
            b = synthetic[col].to_numpy(dtype=float)[sl == c]
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if a.size >= min_count and b.size >= min_count:
                r = ks_2samp(a, b)
                ks, p = float(r.statistic), float(r.pvalue)
            else:
                ks = p = float("nan")
            rows.append({"label": c, "column": col, "n_real": int(a.size), "n_synthetic": int(b.size),
                         "ks": ks, "pvalue": p,
                         "real_median": float(np.median(a)) if a.size else float("nan"),
                         "synthetic_median": float(np.median(b)) if b.size else float("nan")})
    return pd.DataFrame(rows, columns=["label", "column", "n_real", "n_synthetic", "ks", "pvalue",
                                       "real_median", "synthetic_median"])


def cycle_features(X, step: int = 4) -> np.ndarray:
    """Flattened, decimated cycles ``(n, C * ceil(T / step))`` float64: the classifiers' input.

    Examples
    --------
    >>> cycle_features(np.zeros((3, 2, 200)), step=4).shape
    (3, 100)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise VentgenValueError(f"cycle_features: expected (n, channels, time), got shape {X.shape}")
    return X[:, :, ::step].reshape(X.shape[0], -1)


def _forest(random_state, n_estimators=200, max_depth=None):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, n_jobs=1,
                                  random_state=int(check_random_state(random_state).integers(2**31 - 1)))


def tstr_trtr(real_X, real_y, synth_X, synth_y, *, test_size: float = 0.3, random_state=0,
              max_train: int = 20000) -> dict:
    """Train-on-synthetic/test-on-real vs train-on-real/test-on-real accuracy.

    The real breaths of the classes present in both sets are split (stratified) into a training and a
    test part; a random forest trained on the real training part (TRTR) and one trained on the
    synthetic breaths (TSTR) are both scored on the same real test part.

    Returns
    -------
    dict
        ``classes``, ``n_real_train``, ``n_synthetic_train``, ``n_test``, ``trtr_accuracy``,
        ``tstr_accuracy``, ``ratio`` (TSTR / TRTR), and the balanced accuracies.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (100, 5)), rng.normal(3, 1, (100, 5))]
    >>> y = np.r_[["a"] * 100, ["b"] * 100]
    >>> d = tstr_trtr(X, y, X + 0.1, y)
    >>> d["tstr_accuracy"] > 0.9 and d["trtr_accuracy"] > 0.9
    True
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import train_test_split

    rng = check_random_state(random_state)
    rX, ry = np.asarray(real_X, dtype=float), np.asarray(real_y).astype(str)
    sX, sy = np.asarray(synth_X, dtype=float), np.asarray(synth_y).astype(str)
    classes = sorted((set(ry) & set(sy)) - {""})
    if len(classes) < 2:
        raise VentgenValueError(f"tstr_trtr: needs at least 2 classes present in both sets, got {classes}")
    rk, sk = np.isin(ry, classes), np.isin(sy, classes)
    rX, ry, sX, sy = rX[rk], ry[rk], sX[sk], sy[sk]
    _, counts = np.unique(ry, return_counts=True)
    strat = ry if counts.min() >= 2 else None
    Xtr, Xte, ytr, yte = train_test_split(rX, ry, test_size=test_size, stratify=strat,
                                          random_state=int(rng.integers(2**31 - 1)))
    if len(sy) > max_train:
        keep = rng.choice(len(sy), max_train, replace=False)
        sX, sy = sX[keep], sy[keep]
    if len(ytr) > max_train:
        keep = rng.choice(len(ytr), max_train, replace=False)
        Xtr, ytr = Xtr[keep], ytr[keep]
    seed = int(rng.integers(2**31 - 1))
    p_real = _forest(seed, n_estimators=100).fit(Xtr, ytr).predict(Xte)
    p_syn = _forest(seed, n_estimators=100).fit(sX, sy).predict(Xte)
    trtr, tstr = accuracy_score(yte, p_real), accuracy_score(yte, p_syn)
    return {"classes": [str(c) for c in classes], "n_real_train": int(len(ytr)), "n_synthetic_train": int(len(sy)),
            "n_test": int(len(yte)), "trtr_accuracy": float(trtr), "tstr_accuracy": float(tstr),
            "ratio": float(tstr / trtr) if trtr > 0 else float("nan"),
            "trtr_balanced_accuracy": float(balanced_accuracy_score(yte, p_real)),
            "tstr_balanced_accuracy": float(balanced_accuracy_score(yte, p_syn))}


def _class_matched(real_y, synth_y, rng, max_per_side: int):
    """Indices of equally many real and synthetic breaths per class (classes in both)."""
    ry, sy = np.asarray(real_y).astype(str), np.asarray(synth_y).astype(str)
    classes = sorted(set(ry) & set(sy))
    ir, is_ = [], []
    for c in classes:
        a, b = np.flatnonzero(ry == c), np.flatnonzero(sy == c)
        n = min(a.size, b.size)
        ir.append(rng.choice(a, n, replace=False))
        is_.append(rng.choice(b, n, replace=False))
    ir, is_ = np.concatenate(ir) if ir else np.zeros(0, int), np.concatenate(is_) if is_ else np.zeros(0, int)
    if ir.size > max_per_side:
        k = rng.choice(ir.size, max_per_side, replace=False)
        ir, is_ = ir[k], is_[k]
    return ir, is_


def discriminative_score(real_X, synth_X, real_y=None, synth_y=None, *, random_state=0, folds: int = 5,
                         max_per_side: int = 5000) -> dict:
    """``|accuracy - 0.5|`` of a fixed-size classifier telling real from synthetic breaths.

    The classifier is a random forest of 100 trees of depth at most 8 (fixed size, so scores are
    comparable between cohorts); accuracy is ``folds``-fold cross-validated on equally many real and
    synthetic breaths. With labels, the samples are matched class by class, so a different class mix
    alone cannot give the synthetic breaths away.

    Returns
    -------
    dict
        ``accuracy``, ``score``, ``n_per_side``, ``folds``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(0, 1, (300, 4)), rng.normal(0, 1, (300, 4))
    >>> discriminative_score(a, b)["score"] < 0.1
    True
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = check_random_state(random_state)
    rX, sX = np.asarray(real_X, dtype=float), np.asarray(synth_X, dtype=float)
    if real_y is None or synth_y is None:
        real_y, synth_y = np.zeros(len(rX), str), np.zeros(len(sX), str)
    ir, is_ = _class_matched(real_y, synth_y, rng, max_per_side)
    n = ir.size
    if n < folds * 2:
        raise VentgenValueError(f"discriminative_score: only {n} class-matched breaths per side; need >= {2 * folds}")
    X = np.concatenate([rX[ir], sX[is_]])
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    cv = StratifiedKFold(folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    acc = float(cross_val_score(_forest(rng, n_estimators=100, max_depth=8), X, y, cv=cv).mean())
    return {"accuracy": acc, "score": abs(acc - 0.5), "n_per_side": int(n), "folds": int(folds)}


def memorisation_check(real_X, synth_X, *, max_real: int = 20000, max_synthetic: int = 20000,
                       random_state=0) -> dict:
    """Nearest-real-neighbour distances of synthetic breaths vs real-to-real nearest distances.

    Features are standardised with the real statistics. For every synthetic breath: the distance to
    the nearest real (training) breath; for every real breath: the distance to the nearest *other* real
    breath. A generator that memorises puts synthetic breaths much closer to real ones than real
    breaths are to each other.

    The verdict ``passes`` is a distance-to-closest-record test: no exact copy, and no more synthetic
    breaths unusually or typically close to a training breath than real breaths are: at most 10 % below
    the real 5th percentile (5 % expected) and at most 60 % below the real median (50 % expected). It
    is not "no synthetic breath closer than the real median": fresh breaths from the real
    distribution itself put about half of their nearest distances below that median, so a per-breath
    rule would fail a perfect generator and reward one that avoids the dense regions of the data.

    Returns
    -------
    dict
        Quantiles (``p01``, ``p05``, ``median``) of both distance sets, ``min_synthetic``,
        ``fraction_below_real_p01`` / ``_p05`` / ``_median`` (share of synthetic breaths closer to a
        real breath than that quantile of the real-to-real distances; a generator that draws from the
        real distribution gives about 0.01 / 0.05 / 0.5), ``n_exact_copies``, ``passes`` and
        ``distances`` (the synthetic distances, an array).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(500, 6))
    >>> memorisation_check(real, real[:50] + 1e-9)["n_exact_copies"]
    50
    >>> memorisation_check(real, rng.normal(size=(200, 6)))["passes"]  # fresh draws of the same law
    True
    """
    from sklearn.neighbors import NearestNeighbors

    rng = check_random_state(random_state)
    rX, sX = np.asarray(real_X, dtype=float), np.asarray(synth_X, dtype=float)
    if len(rX) < 3 or len(sX) < 1:
        raise VentgenValueError(f"memorisation_check: needs >= 3 real and >= 1 synthetic breaths, got {len(rX)}, {len(sX)}")
    if len(rX) > max_real:
        rX = rX[rng.choice(len(rX), max_real, replace=False)]
    if len(sX) > max_synthetic:
        sX = sX[rng.choice(len(sX), max_synthetic, replace=False)]
    mu, sd = rX.mean(axis=0), rX.std(axis=0)
    sd[sd == 0] = 1.0
    rZ, sZ = (rX - mu) / sd, (sX - mu) / sd
    nn = NearestNeighbors(n_neighbors=2).fit(rZ)
    d_rr = nn.kneighbors(rZ, 2, return_distance=True)[0][:, 1]
    d_sr = nn.kneighbors(sZ, 1, return_distance=True)[0][:, 0]
    q = {k: float(np.quantile(d_rr, v)) for k, v in (("p01", 0.01), ("p05", 0.05), ("median", 0.5))}
    scale = float(np.median(d_rr)) or 1.0
    n_copies = int((d_sr < 1e-6 * scale).sum())
    passes = bool(n_copies == 0 and (d_sr < q["p05"]).mean() <= 0.10 and (d_sr < q["median"]).mean() <= 0.60)
    return {
        "real_to_real_p01": q["p01"], "real_to_real_p05": q["p05"], "real_to_real_median": q["median"],
        "synthetic_to_real_p01": float(np.quantile(d_sr, 0.01)),
        "synthetic_to_real_p05": float(np.quantile(d_sr, 0.05)),
        "synthetic_to_real_median": float(np.median(d_sr)),
        "min_synthetic": float(d_sr.min()),
        "fraction_below_real_p01": float((d_sr < q["p01"]).mean()),
        "fraction_below_real_p05": float((d_sr < q["p05"]).mean()),
        "fraction_below_real_median": float((d_sr < q["median"]).mean()),
        "n_exact_copies": n_copies,
        "passes": passes,
        "n_real": int(len(rZ)), "n_synthetic": int(len(sZ)),
        "distances": d_sr,
    }


# ============================================================================ the report
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
            "ks_median_per_column": self.ks.groupby("column")["ks"].median().to_dict() if len(self.ks) else {},
            "trtr_accuracy": self.classifier.get("trtr_accuracy"),
            "tstr_accuracy": self.classifier.get("tstr_accuracy"),
            "tstr_over_trtr": self.classifier.get("ratio"),
            "discriminative_score": self.discriminative.get("score"),
            "memorisation_fraction_below_real_p05": self.memorisation.get("fraction_below_real_p05"),
            "memorisation_fraction_below_real_median": self.memorisation.get("fraction_below_real_median"),
            "memorisation_n_exact_copies": self.memorisation.get("n_exact_copies"),
            "memorisation_passes": self.memorisation.get("passes"),
        }

    def to_dict(self) -> dict:
        """Every result; tables stay DataFrames (``composition``, ``ks``, ``real_breaths``,
        ``synthetic_breaths``: metadata of every breath with its ``label``)."""
        mem = {k: v for k, v in self.memorisation.items() if k != "distances"}
        d = {"summary": self.summary(), "segmentation": self.segmentation, "classifier": self.classifier,
             "discriminative": self.discriminative, "memorisation": mem,
             "composition": self.composition, "ks": self.ks, "figures": [str(f) for f in self.figures],
             "info": self.info}
        if self.ceiling is not None:
            d["reconstruction_ceiling"] = self.ceiling
        if self.real_breaths is not None:
            d["real_breaths"] = self.real_breaths
        if self.synthetic_breaths is not None:
            d["synthetic_breaths"] = self.synthetic_breaths
        return d

    def write(self, out_dir, *, overwrite: bool = False) -> Path:
        """Write ``fidelity.json``, ``ks.csv``, ``composition.csv`` and ``synthetic_breaths.csv`` as one
        set (figures are written by :func:`evaluate_cohort`).

        Existing files are replaced only with ``overwrite``, and only in a folder that holds a fidelity
        report ventgen wrote (a readable ``fidelity.json``); no other file is ever touched.
        """
        out = Path(out_dir)
        _write_report(self, {}, out, overwrite=overwrite)
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
                "{segmentation_f1:.3f}, median KS {ks_median:.3f}, TSTR/TRTR {tstr_over_trtr:.3f}, "
                "discriminative {discriminative_score:.3f})").format(**{k: (np.nan if v is None else v) for k, v in s.items()})


# ============================================================================ pipeline
def _cycle_metadata(cycles) -> pd.DataFrame:
    """Breath metadata of every cycle, computed from the cycle itself (cut at its length)."""
    from .signals.features import breath_metadata

    X = np.asarray(cycles.X, dtype=np.float64)
    L = np.clip(np.asarray(cycles.lengths, dtype=np.int64), 2, X.shape[2])
    ch = list(getattr(cycles, "channels", None) or ["flow_lpm", "paw_cmh2o"])
    fi = ch.index("flow_lpm") if "flow_lpm" in ch else 0
    pi = ch.index("paw_cmh2o") if "paw_cmh2o" in ch else 1
    mask = np.arange(X.shape[2])[None, :] < L[:, None]
    flow, paw = X[:, fi, :][mask], X[:, pi, :][mask]
    ends = np.cumsum(L)
    starts = ends - L
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return breath_metadata(flow, paw, float(cycles.sampling_rate), starts, ends).reset_index(drop=True)


def _synthetic_cycles(result, length: int, cycle_rate: float, method: str, tolerance_s: float, progress_bar):
    from . import CycleSet, extract_cycles, segment_breaths
    from .signals.features import breath_metadata

    man = result.manifest
    sets, seg = [], []
    for rec in progress(result.recordings, enabled=progress_bar, desc="segmenting synthetic recordings"):
        mp = man[man["patient"] == rec.subject]
        if method == "segment":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                br = segment_breaths(rec, method="flow")
            d = match_breaths(mp["start_s"].to_numpy(), br["start_s"].to_numpy(), tolerance_s)
            d["by_label"] = {str(lab): match_breaths(g["start_s"].to_numpy(), br["start_s"].to_numpy(), tolerance_s)["tp"]
                             for lab, g in mp.groupby("label")}
            d["n_by_label"] = mp["label"].astype(str).value_counts().to_dict()
            seg.append(d)
        else:
            st = np.round(mp["start_s"].to_numpy() * rec.sampling_rate).astype(np.int64)
            en = np.minimum(np.round(mp["end_s"].to_numpy() * rec.sampling_rate).astype(np.int64), rec.n_samples)
            br = breath_metadata(rec.flow, rec.pressure, rec.sampling_rate, st, en)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sets.append(extract_cycles(rec, br, length=length, cycle_rate=cycle_rate))
    cyc = CycleSet.concatenate(sets)
    if seg:
        tot = {k: sum(d[k] for d in seg) for k in ("n_true", "n_found", "tp")}
        segd = {**tot, "precision": tot["tp"] / max(tot["n_found"], 1), "recall": tot["tp"] / max(tot["n_true"], 1),
                "f1": 2 * tot["tp"] / max(tot["n_true"] + tot["n_found"], 1), "tolerance_s": tolerance_s,
                "per_patient_f1": [d["f1"] for d in seg]}
        labs = sorted({k for d in seg for k in d["n_by_label"]})
        segd["recall_by_label"] = {k: sum(d["by_label"].get(k, 0) for d in seg)
                                   / max(sum(d["n_by_label"].get(k, 0) for d in seg), 1) for k in labs}
    else:
        segd = {"f1": float("nan"), "note": "method='manifest': the manifest boundaries were used"}
    return cyc, segd


def _ks_figures(real_meta, syn_meta, rl, sl, ks: pd.DataFrame, columns) -> dict:
    """``{column: Figure}``: real vs synthetic histograms of one metadata column, one panel per class."""
    from matplotlib.figure import Figure

    classes = sorted(ks["label"].unique()) if len(ks) else []
    figures = {}
    if not classes:
        return figures
    for col in columns:
        fig = Figure(figsize=(3.2 * len(classes), 2.8), layout="constrained")
        axes = fig.subplots(1, len(classes), squeeze=False)[0]
        for ax, c in zip(axes, classes, strict=True):
            a = real_meta[col].to_numpy(dtype=float)[rl == c]
            b = syn_meta[col].to_numpy(dtype=float)[sl == c]
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            both = np.concatenate([a, b])
            if both.size:
                lo, hi = np.quantile(both, [0.005, 0.995])
                bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
                ax.hist(a, bins=bins, density=True, alpha=0.5, label=f"real (n={a.size})")
                ax.hist(b, bins=bins, density=True, alpha=0.5, label=f"synthetic (n={b.size})")
            row = ks[(ks["label"] == c) & (ks["column"] == col)]
            kv = float(row["ks"].iloc[0]) if len(row) else float("nan")
            ax.set_title(f"{c}\nKS = {kv:.3f}", fontsize=9)
            ax.set_xlabel(col)
            ax.legend(fontsize=7)
        figures[col] = fig
    return figures


# ============================================================================ the report folder
#: Files a fidelity report folder holds (besides one ``ks_<column>.png`` per compared column).
_REPORT_FILES = ("fidelity.json", "ks.csv", "composition.csv", "synthetic_breaths.csv")


def _is_fidelity_report(path: Path) -> bool:
    """Whether ``path`` is a readable fidelity.json that ventgen wrote (an object with its summary)."""

    try:
        doc = read_json_document(path, "fidelity report")
    except (VentgenValueError, OSError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("summary"), dict) and "ks" in doc


def _check_report_folder(out: Path, targets, *, overwrite: bool, inputs=()) -> None:
    """Refuse a report folder where writing ``targets`` could lose a file ventgen did not write.

    Existing targets are replaced only with ``overwrite`` and only when the folder holds a fidelity
    report ventgen wrote; no input (cohort folder, real cycles, model) is a target, and the report does
    not go into the cohort folder itself. Runs before the (slow) evaluation and again before writing.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(17, "exists and is not a folder; expected the report folder", str(out))
    real = out.resolve()
    hit = {t.resolve() for t in targets}
    for inp in inputs:
        if Path(inp).resolve() == real:
            raise VentgenValueError(f"{out}: this is the input folder itself; write the fidelity report to another "
                                    "folder")
        if Path(inp).resolve() in hit:
            raise VentgenValueError(f"{out}: the fidelity report would be written over the input {inp}; choose "
                                    "another output folder")
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if not existing:
        return
    names = ", ".join(t.name for t in existing[:3]) + (" ..." if len(existing) > 3 else "")
    if not overwrite:
        raise FileExistsError(17, f"a fidelity report is already there ({names}); pass overwrite=True (or "
                                  "--overwrite) to replace it", str(out))
    if not _is_fidelity_report(out / "fidelity.json") or any(t.is_dir() for t in existing):
        raise VentgenValueError(f"{out}: not replaced: it holds {names}, but not as part of a fidelity report "
                                "ventgen wrote (a readable fidelity.json); --overwrite only replaces such a report; "
                                "move them or choose another folder")


def _report_targets(out: Path, columns) -> list:
    return [out / n for n in _REPORT_FILES] + [out / f"ks_{c}.png" for c in columns]


def _write_report(report, figures: dict, out: Path, *, overwrite: bool, inputs=()) -> None:
    """Write the report's tables and ``figures`` (``{column: Figure}``) into ``out`` as one set: all
    files are checked first, and all appear only when every one is written."""
    tables = report._tables()
    targets = [out / name for name, _ in tables] + [out / f"ks_{col}.png" for col in figures]
    _check_report_folder(out, targets, overwrite=overwrite, inputs=inputs)
    with atomic_paths(targets, overwrite=overwrite) as tmps:
        for (_, write), tmp in zip(tables, tmps, strict=False):
            write(tmp)
        for fig, tmp in zip(figures.values(), tmps[len(tables):], strict=True):
            fig.savefig(tmp, dpi=90, format="png")


def breath_rmse(cycles, R) -> dict:
    """RMSE per channel between ``cycles.X`` and ``R`` (same shape) over the samples of the breaths,
    leaving out the padding after each cycle's length (no generated breath keeps it).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> c = SimpleNamespace(X=np.zeros((2, 1, 4)), lengths=np.array([2, 4]), channels=["flow_lpm"])
    >>> R = np.array([[[1.0, 1.0, 9.0, 9.0]], [[1.0, 1.0, 1.0, 1.0]]])  # wrong only in row 0's padding
    >>> breath_rmse(c, R)
    {'flow_lpm': 1.0}
    """
    X, R = np.asarray(cycles.X, dtype=np.float64), np.asarray(R, dtype=np.float64)
    inside = np.arange(X.shape[2])[None, :] < np.asarray(cycles.lengths)[:, None]
    return {str(c): float(np.sqrt(np.mean((R[:, i] - X[:, i])[inside] ** 2)))
            for i, c in enumerate(getattr(cycles, "channels", range(X.shape[1])))}


def reconstruction_ceiling(model, real_cycles, classes=None, *, columns=METADATA_KS_COLUMNS,
                           random_state=0, noise: str = "none", boundary: str = "none",
                           noise_highpass_hz: float = 4.0) -> dict:
    """The same fidelity numbers for the model's reconstructions of the real breaths themselves.

    A generator cannot be more faithful than the decoder it samples through: reconstructions of the
    real training breaths (``model.reconstruct``, cut at their real lengths and edge-padded like real
    cycles) bound what generation can reach. Comparing a cohort's numbers with this ceiling separates
    a weak model from a weak generation procedure. ``noise`` and ``boundary`` (as in
    :func:`ventgen.generate_cohort`) add the same observation model to the reconstructions that
    generation adds to decoded breaths.

    Returns
    -------
    dict
        ``ks_median`` (per class and column, over ``classes``), ``tstr_accuracy`` / ``trtr_accuracy`` /
        ``ratio`` (train on reconstructions, test on real), ``discriminative_score`` (real vs
        reconstructed; both on disjoint random halves of the breaths), ``rmse`` per channel of the plain reconstructions over the samples of the
        breaths (the padding after each cycle's length is left out: no generated breath keeps it),
        ``noise`` and ``boundary``.

    Examples
    --------
    >>> reconstruction_ceiling(model, cycles, ["normal breathing", "apnea"])  # doctest: +SKIP
    """
    from . import CycleSet
    from .observation import BoundaryBias, ObservationNoise

    rng = check_random_state(random_state)
    X = np.asarray(real_cycles.X)
    R = np.asarray(model.reconstruct(X), dtype=np.float32)
    labels = np.asarray(real_cycles.labels).astype(str)
    L = np.clip(np.asarray(real_cycles.lengths, dtype=np.int64), 2, X.shape[2])
    rate = float(real_cycles.sampling_rate)
    obs = R.copy()
    if boundary == "residual":
        BoundaryBias.fit(X, R, L, labels, width=max(1, int(round(0.4 * rate)))).apply(obs, labels, L)
    if noise == "residual":
        nz = ObservationNoise.fit(X, R, L, labels, highpass_hz=float(noise_highpass_hz), sampling_rate=rate)
        obs += nz.sample(labels, X.shape[2], np.random.default_rng(int(rng.integers(2**63 - 1))))
    raw = R
    R = np.take_along_axis(obs, np.minimum(np.arange(X.shape[2])[None, :], L[:, None] - 1)[:, None, :], axis=2)
    classes = sorted(set(labels) - {""}) if classes is None else [str(c) for c in classes]
    keep = np.flatnonzero(np.isin(labels, classes))
    rec = CycleSet(R[keep], lengths=np.asarray(real_cycles.lengths)[keep], sampling_rate=real_cycles.sampling_rate,
                   labels=labels[keep], channels=list(getattr(real_cycles, "channels", ["flow_lpm", "paw_cmh2o"])))
    real = real_cycles.subset(keep) if hasattr(real_cycles, "subset") else real_cycles
    ks = ks_table(_cycle_metadata(real), _cycle_metadata(rec), labels[keep], labels[keep], columns=columns)
    # real breaths of one half against the reconstructions of the other: a breath next to its own
    # reconstruction would let the classifiers pair them up (identical sets score |0.1 - 0.5|)
    half = rng.random(keep.size) < 0.5
    a, b = keep[half], keep[~half]
    fr, fq = cycle_features(X[a]), cycle_features(R[b])
    out = {"ks_median": float(np.nanmedian(ks["ks"])) if len(ks) else float("nan"),
           "rmse": breath_rmse(real_cycles, raw), "noise": noise, "boundary": boundary}
    try:
        t = tstr_trtr(fr, labels[a], fq, labels[b], random_state=rng)
        out.update({"tstr_accuracy": t["tstr_accuracy"], "trtr_accuracy": t["trtr_accuracy"], "ratio": t["ratio"]})
    except VentgenValueError:
        pass
    out["discriminative_score"] = discriminative_score(fr, fq, labels[a], labels[b], random_state=rng)["score"]
    return out


def evaluate_cohort(cohort, real_cycles, out_dir=None, *, random_state=0, method: str = "segment",
                    tolerance_s: float = 0.3, columns=METADATA_KS_COLUMNS, overwrite: bool = False,
                    model=None, progress_bar: bool | None = None) -> FidelityReport:
    """Fidelity of a generated cohort against the real (training) cycles.

    Parameters
    ----------
    cohort : CohortResult or path
        A result of :func:`ventgen.generate_cohort`, or a folder written by :func:`ventgen.write_cohort`.
    real_cycles : CycleSet or path
        The real breaths (normally the model's training cycles), with labels and metadata.
    out_dir : path, optional
        Where to write ``fidelity.json``, ``ks.csv``, ``composition.csv`` and ``ks_<column>.png``.
    random_state : int
        Seeds the splits and the classifiers.
    method : {"segment", "manifest"}
        ``"segment"`` finds the synthetic breaths with :func:`ventgen.segment_breaths` (and reports
        its F1 against the manifest); ``"manifest"`` uses the manifest's boundaries.
    tolerance_s : float
        Largest start offset of a detected breath that still matches a generated one.
    columns : sequence of str
        Metadata compared with KS.
    overwrite : bool
        Replace existing report files in ``out_dir``.
    model : HTVAE or path, optional
        The model that generated the cohort: adds the :func:`reconstruction_ceiling` (the same numbers
        for its reconstructions of the real breaths) under ``report.ceiling``.

    Returns
    -------
    FidelityReport

    Examples
    --------
    >>> report = evaluate_cohort("cohort/", "cycles_train.h5", out_dir="fidelity/")  # doctest: +SKIP
    >>> report.summary()["ks_median"]  # doctest: +SKIP
    """
    from .cohort import CohortResult, read_cohort

    if method not in ("segment", "manifest"):
        raise VentgenValueError(f"evaluate_cohort: method must be 'segment' or 'manifest', got {method!r}")
    rng = check_random_state(random_state)
    out = None if out_dir is None else Path(os.path.abspath(out_dir))
    inputs = [p for p in (cohort, real_cycles, model) if isinstance(p, (str, os.PathLike))]
    if out is not None:  # before any (slow) reading or computing
        _check_report_folder(out, _report_targets(out, columns), overwrite=overwrite, inputs=inputs)
    if isinstance(cohort, (str, os.PathLike)):
        cohort = read_cohort(cohort)
    if not isinstance(cohort, CohortResult):
        raise VentgenTypeError(f"evaluate_cohort: cohort must be a CohortResult or a folder, got {type(cohort).__name__}")
    if isinstance(real_cycles, (str, os.PathLike)):
        from . import CycleSet

        real_cycles = CycleSet.load(real_cycles)
    if not hasattr(real_cycles, "X") or not hasattr(real_cycles, "labels"):
        raise VentgenTypeError(f"evaluate_cohort: real_cycles must be a CycleSet or its path, got {type(real_cycles).__name__}")

    T = real_cycles.X.shape[2]
    syn, segd = _synthetic_cycles(cohort, T, float(real_cycles.sampling_rate), method, tolerance_s, progress_bar)
    if len(syn) == 0:
        raise VentgenValueError("evaluate_cohort: no breath was found in the synthetic recordings")
    rl = np.asarray(real_cycles.labels).astype(str)
    sl = np.asarray(syn.labels).astype(str)
    real_meta, syn_meta = _cycle_metadata(real_cycles), _cycle_metadata(syn)
    ks = ks_table(real_meta, syn_meta, rl, sl, columns=columns)
    if ks["ks"].isna().all():
        warnings.warn("evaluate_cohort: no class has enough real and synthetic breaths for a KS statistic",
                      VentgenWarning, stacklevel=2)
    fr, fs = cycle_features(real_cycles.X), cycle_features(syn.X)
    try:
        clf = tstr_trtr(fr, rl, fs, sl, random_state=rng)
    except VentgenValueError as exc:
        clf = {"error": str(exc)}
    keep_r, keep_s = rl != "", sl != ""
    disc = discriminative_score(fr[keep_r], fs[keep_s], rl[keep_r], sl[keep_s], random_state=rng)
    mem = memorisation_check(fr, fs, random_state=rng)
    report = FidelityReport(
        composition=cohort.composition(), segmentation=segd, ks=ks, classifier=clf, discriminative=disc,
        memorisation=mem,
        info={"n_real": int(len(rl)), "n_synthetic_breaths_found": int(len(sl)), "method": method,
              "cycle_rate": float(real_cycles.sampling_rate), "columns": list(columns)},
        real_breaths=real_meta.assign(label=rl), synthetic_breaths=syn_meta.assign(label=sl))
    if model is not None:
        if isinstance(model, (str, os.PathLike)):
            from . import HTVAE

            model = HTVAE.load(model)
        info = cohort.info or {}
        report.ceiling = reconstruction_ceiling(model, real_cycles, clf.get("classes"), columns=columns,
                                                random_state=rng, noise=info.get("noise", "none"),
                                                boundary=info.get("boundary", "none"),
                                                noise_highpass_hz=info.get("noise_highpass_hz", 4.0))
    if out is not None:
        figures = _ks_figures(real_meta, syn_meta, rl, sl, ks, columns)
        report.figures = [out / f"ks_{col}.png" for col in figures]
        _write_report(report, figures, out, overwrite=overwrite, inputs=inputs)
    return report
