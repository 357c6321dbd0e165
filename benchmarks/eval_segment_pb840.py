"""Breath segmentation on the real PB-840 recordings, against the ventilator's own breath marks.

For every recording in ../shared/data/pb840 (or --data DIR) this runs ``segment_breaths(method="flow")``
(the file's BS marks are ignored) and prints one row per file:

* precision / recall / F1 of detected breath starts within +-0.1 s of the ventilator's BS marks
  (one-to-one matching; detections are counted between the first and the last mark +- 0.1 s, since a
  file can begin or end in the middle of a breath the ventilator marked outside it);
* for the breaths matched to a row of the ventMAP reference table (reference/<file>.breaths.csv):
  the share with the inspiration end within +-2 samples of ``ie_idx``, and the shares of inspired /
  expired volume, PIP and PEEP within 2 % (or 0.5 unit) of ventMAP's values;
* the same metadata computed from the ventilator marks (``method="markers"``), which checks the
  metadata code alone;
* segmentation + metadata time.

Run:  python benchmarks/eval_segment_pb840.py [--data ../shared/data/pb840] [--tol-s 0.1]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import ventgen

ROOT = Path(__file__).resolve().parents[1]
META = [("tvi_ml", "tvi"), ("tve_ml", "tve"), ("pip_cmh2o", "PIP"), ("peep_cmh2o", "PEEP")]


def match(true_idx: np.ndarray, found_idx: np.ndarray, tol: int) -> np.ndarray:
    """For each true index, the index into ``found_idx`` of its one-to-one match within ``tol`` (-1 if none).

    Greedy by distance over all candidate pairs (vectorised candidate generation)."""
    out = np.full(true_idx.size, -1, dtype=np.int64)
    if true_idx.size == 0 or found_idx.size == 0:
        return out
    lo = np.searchsorted(found_idx, true_idx - tol, side="left")
    hi = np.searchsorted(found_idx, true_idx + tol, side="right")
    cnt = hi - lo
    ti = np.repeat(np.arange(true_idx.size), cnt)
    fj = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    d = np.abs(found_idx[fj] - true_idx[ti])
    used_f = np.zeros(found_idx.size, dtype=bool)
    for k in np.argsort(d, kind="stable"):  # pairs only (a few per breath)
        if out[ti[k]] < 0 and not used_f[fj[k]]:
            out[ti[k]] = fj[k]
            used_f[fj[k]] = True
    return out


def score_starts(rec, found_all: np.ndarray, tol_s: float):
    """Breath starts against the ventilator's marks within +-``tol_s``, over the span the marks cover.

    Returns ``(tol, marks, found_all, found, m, tp)``: the tolerance in samples, the marks, all starts,
    the starts inside the marked span, the match of every mark (index into ``found`` or -1), and the
    true positives.
    """
    tol = int(round(tol_s * rec.sampling_rate))
    marks = rec.markers["start_idx"].to_numpy()
    span = (found_all >= marks[0] - tol) & (found_all <= marks[-1] + tol)
    found = found_all[span]
    m = match(marks, found, tol)
    return tol, marks, found_all, found, m, int((m >= 0).sum())


def agree(a, b) -> np.ndarray:
    return np.abs(a - b) <= np.maximum(0.02 * np.abs(b), 0.5)


def evaluate(path: Path, tol_s: float) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = ventgen.read_recording(path)
        t0 = time.perf_counter()
        df = ventgen.segment_breaths(rec, method="flow")
        elapsed = time.perf_counter() - t0
        by_marks = ventgen.segment_breaths(rec, method="markers")
    tol, marks, found_all, found, m, tp = score_starts(rec, df["start_idx"].to_numpy(), tol_s)
    row = {
        "file": path.name[:34],
        "minutes": rec.duration_s / 60,
        "marks": marks.size,
        "found": found.size,
        "tp": tp,
        "precision": tp / max(found.size, 1),
        "recall": tp / max(marks.size, 1),
        "seconds": elapsed,
        "Msamples_s": rec.n_samples / elapsed / 1e6,
    }
    row["f1"] = 2 * tp / max(marks.size + found.size, 1)
    ref_path = path.parent / "reference" / f"{path.name}.breaths.csv"
    if ref_path.exists():
        ref = pd.read_csv(ref_path)
        mr = match(ref["bs_idx"].to_numpy(), found_all, tol)
        ok = mr >= 0
        d = df.iloc[mr[ok]]
        r = ref[ok]
        row["matched_ref"] = int(ok.sum())
        row["ie_pm2"] = float(np.mean(np.abs(d["insp_end_idx"].to_numpy() - r["ie_idx"].to_numpy()) <= 2))
        for mine, theirs in META:
            row[theirs] = float(np.mean(agree(d[mine].to_numpy(), r[theirs].to_numpy())))
        # metadata from the ventilator marks: the metadata code alone
        bm = by_marks.set_index("start_idx").reindex(ref["bs_idx"].to_numpy())
        have = bm["insp_end_idx"].notna().to_numpy()
        row["marks_ie_exact"] = float(np.mean(bm["insp_end_idx"].to_numpy()[have] == ref["ie_idx"].to_numpy()[have]))
        row["marks_meta_all"] = float(np.mean(np.all([agree(bm[a].to_numpy()[have], ref[b].to_numpy()[have]) for a, b in META], axis=0)))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "pb840")
    ap.add_argument("--tol-s", type=float, default=0.1)
    args = ap.parse_args(argv)
    files = sorted(p for p in args.data.iterdir() if p.is_file() and "test" in p.name)
    if not files:
        raise SystemExit(f"no PB-840 files in {args.data}")
    rows = [evaluate(p, args.tol_s) for p in files]
    t = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print(t.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    tp, nm, nf = t["tp"].sum(), t["marks"].sum(), t["found"].sum()
    print(f"\npooled over {len(t)} files, {nm} ventilator breaths: precision {tp / nf:.4f}  recall {tp / nm:.4f}  "
          f"F1 {2 * tp / (nm + nf):.4f}  (tolerance +-{args.tol_s} s)")
    refd = t.dropna(subset=["ie_pm2"])
    w = refd["matched_ref"]
    msg = ", ".join(f"{c} {np.average(refd[c], weights=w):.4f}" for c in ["ie_pm2", "tvi", "tve", "PIP", "PEEP"])
    print(f"matched reference breaths {int(w.sum())}: {msg}")
    print(f"min per file: precision {t['precision'].min():.4f}, recall {t['recall'].min():.4f}; "
          f"min over reference files: " + ", ".join(f"{c} {refd[c].min():.4f}" for c in ["ie_pm2", "tvi", "tve", "PIP", "PEEP"]))


if __name__ == "__main__":
    main()
