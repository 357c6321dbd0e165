"""Finding the generated breaths again: breath-start matching and the synthetic cycles of a cohort."""

from __future__ import annotations

import warnings

import numpy as np

from ..._core import progress
from ...signals.cycles import CycleSet, extract_cycles
from ...signals.features import breath_metadata
from ...signals.segment import segment_breaths

__all__ = ["match_breaths", "synthetic_cycles"]


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
