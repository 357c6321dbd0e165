"""Finding the generated breaths again: breath-start matching and the synthetic cycles of a cohort."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..._core import progress
from ...errors import VentgenValueError
from ...signals.cycles import CycleSet, _majority_labels, extract_cycles
from ...signals.features import breath_metadata
from ...signals.segment import segment_breaths

__all__ = ["match_breaths", "synthetic_cycles", "detection_by_label", "composition_f1"]


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
    fi, ti = _pairs(t, f, tolerance_s)
    tp, offsets = fi.size, f[fi] - t[ti]
    prec = tp / n_f if n_f else float("nan")
    rec = tp / n_t if n_t else float("nan")
    f1 = 2 * tp / (n_t + n_f) if (n_t + n_f) else float("nan")
    return {"n_true": int(n_t), "n_found": int(n_f), "tp": int(tp), "precision": float(prec),
            "recall": float(rec), "f1": float(f1), "tolerance_s": float(tolerance_s),
            "median_offset_s": float(np.median(offsets)) if offsets.size else float("nan")}


def synthetic_cycles(result, length: int, cycle_rate: float, method: str, tolerance_s: float, progress_bar):
    """The synthetic breath cycles of a cohort and the flow segmenter's detection numbers.

    Every recording is segmented with :func:`~ventgen.signals.segment.segment_breaths` (``method="flow"``)
    and the breaths found are matched with the manifest's (``f1``, ``precision``, ``recall``, per patient
    and per label). The cycles compared with the real breaths are cut at the manifest's boundaries (the
    virtual ventilator's breath marks; ``method="manifest"``) or where the segmenter found the breaths
    (``method="segment"``).
    """
    man = result.manifest
    sets, seg = [], []
    for rec in progress(result.recordings, enabled=progress_bar, desc="segmenting synthetic recordings"):
        mp = man[man["patient"] == rec.subject]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = segment_breaths(rec, method="flow")
        d = match_breaths(mp["start_s"].to_numpy(), found["start_s"].to_numpy(), tolerance_s)
        d["by_label"] = {str(lab): match_breaths(g["start_s"].to_numpy(), found["start_s"].to_numpy(), tolerance_s)["tp"]
                         for lab, g in mp.groupby("label")}
        d["n_by_label"] = mp["label"].astype(str).value_counts().to_dict()
        seg.append(d)
        if method == "segment":
            br = found
        else:
            st = np.round(mp["start_s"].to_numpy() * rec.sampling_rate).astype(np.int64)
            en = np.minimum(np.round(mp["end_s"].to_numpy() * rec.sampling_rate).astype(np.int64), rec.n_samples)
            br = breath_metadata(rec.flow, rec.pressure, rec.sampling_rate, st, en)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sets.append(extract_cycles(rec, br, length=length, cycle_rate=cycle_rate))
    cyc = CycleSet.concatenate(sets)
    tot = {k: sum(d[k] for d in seg) for k in ("n_true", "n_found", "tp")}
    segd = {**tot, "precision": tot["tp"] / max(tot["n_found"], 1), "recall": tot["tp"] / max(tot["n_true"], 1),
            "f1": 2 * tot["tp"] / max(tot["n_true"] + tot["n_found"], 1), "tolerance_s": tolerance_s,
            "per_patient_f1": [d["f1"] for d in seg], "cycles_cut_at": method}
    labs = sorted({k for d in seg for k in d["n_by_label"]})
    segd["recall_by_label"] = {k: sum(d["by_label"].get(k, 0) for d in seg)
                               / max(sum(d["n_by_label"].get(k, 0) for d in seg), 1) for k in labs}
    return cyc, segd


# ----------------------------------------------------------------------------- real reference
def detection_by_label(recordings, tolerance_s: float = 0.3, min_label_overlap: float = 0.5,
                       progress_bar: bool | None = None) -> pd.DataFrame:
    """How the flow segmenter finds the device-marked breaths of real recordings, per breath label.

    Every recording is cut at its device marks (``segment_breaths(method="markers")``, the truth) and
    by the flow detector (``method="flow"``); the starts are matched with :func:`match_breaths`. A
    found breath counts for the label of the marked breath it starts in (within ``tolerance_s`` before
    its start: a slightly early detection belongs to the breath it detects). The label of a marked breath
    is the annotation covering at least ``min_label_overlap`` of it, as in
    :func:`~ventgen.signals.cycles.extract_cycles`.

    Returns
    -------
    pandas.DataFrame
        One row per label: ``label``, ``n_true`` (marked breaths), ``tp`` (found within the
        tolerance), ``n_found`` (found breaths that start in them), ``recall`` and ``found_per_true``.

    Examples
    --------
    >>> import ventgen
    >>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    >>> t = detection_by_label(recs, progress_bar=False)
    >>> bool((t["tp"] <= t["n_true"]).all())
    True
    """
    rows = []
    for rec in progress(recordings, enabled=progress_bar, desc="segmenting real recordings"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            marks = segment_breaths(rec, method="markers")
            found = segment_breaths(rec, method="flow")
        rate = float(rec.sampling_rate)
        t0 = marks["start_idx"].to_numpy(np.float64) / rate
        t1 = marks["end_idx"].to_numpy(np.float64) / rate
        f = found["start_idx"].to_numpy(np.float64) / rate
        labels = _majority_labels(t0, t1, rec.annotations, "label", min_label_overlap)
        if not t0.size:
            continue
        matched = _matched_true(t0, f, tolerance_s)
        owner = np.clip(np.searchsorted(t0, f + tolerance_s, side="right") - 1, 0, t0.size - 1)
        rows.append(pd.DataFrame({"label": labels, "n_true": 1, "tp": matched.astype(int),
                                  "n_found": np.bincount(owner, minlength=t0.size)}))
    if not rows:
        raise VentgenValueError("detection_by_label: no recording holds device breath marks")
    t = pd.concat(rows).groupby("label", sort=True)[["n_true", "tp", "n_found"]].sum().reset_index()
    t["recall"] = t["tp"] / t["n_true"]
    t["found_per_true"] = t["n_found"] / t["n_true"]
    return t


def _matched_true(t: np.ndarray, f: np.ndarray, tolerance_s: float) -> np.ndarray:
    """Whether each true start ``t`` (sorted) is matched by a found start (:func:`_pairs`)."""
    out = np.zeros(t.size, dtype=bool)
    out[_pairs(t, np.sort(f), tolerance_s)[1]] = True
    return out


def _pairs(t: np.ndarray, f: np.ndarray, tolerance_s: float) -> tuple:
    """(found indices, true indices) of the one-to-one matching of sorted starts ``f`` to sorted ``t``
    within ``tolerance_s``, greedy by distance (closest pairs first)."""
    if not (t.size and f.size):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    j = np.searchsorted(t, f)  # candidate pairs: each found start with its two neighbouring true starts
    cand_f = np.r_[np.arange(f.size), np.arange(f.size)]
    cand_t = np.r_[np.clip(j - 1, 0, t.size - 1), np.clip(j, 0, t.size - 1)]
    d = np.abs(f[cand_f] - t[cand_t])
    ok = d <= tolerance_s
    used_f, used_t, fi, ti = np.zeros(f.size, bool), np.zeros(t.size, bool), [], []
    for k in np.flatnonzero(ok)[np.argsort(d[ok], kind="stable")]:  # <= 2 candidate pairs per found start
        a, b = cand_f[k], cand_t[k]
        if not used_f[a] and not used_t[b]:
            used_f[a] = used_t[b] = True
            fi.append(a)
            ti.append(b)
    return np.asarray(fi, np.int64), np.asarray(ti, np.int64)


def composition_f1(table: pd.DataFrame, composition: dict) -> float:
    """The segmenter's F1 that real breaths would give in a cohort of ``composition`` ({label: fraction}).

    From :func:`detection_by_label`'s per-label ``recall`` and ``found_per_true``:
    ``2 sum_l w_l recall_l / (1 + sum_l w_l found_per_true_l)``, the fractions ``w`` normalised to 1.
    It is the reference for the re-segmentation F1 of a generated cohort: a class the detector misses
    in real recordings (apnea breaths after a long pause) lowers it as much in a cohort rich in that class.

    >>> t = pd.DataFrame({"label": ["a", "b"], "recall": [1.0, 0.8], "found_per_true": [1.0, 0.9]})
    >>> round(composition_f1(t, {"a": 0.5, "b": 0.5}), 4)
    0.9231
    """
    frac = {str(k): float(v) for k, v in dict(composition).items() if float(v) > 0}
    by = table.set_index(table["label"].astype(str))
    missing = sorted(set(frac) - set(by.index))
    if missing or not frac:
        raise VentgenValueError(f"composition_f1: no real breaths labelled {missing or 'with a positive fraction'}; "
                                f"labels at hand: {sorted(by.index)}")
    w = np.array(list(frac.values())) / sum(frac.values())
    rec = by.loc[list(frac), "recall"].to_numpy(float)
    fpt = by.loc[list(frac), "found_per_true"].to_numpy(float)
    return float(2 * (w * rec).sum() / (1 + (w * fpt).sum()))
