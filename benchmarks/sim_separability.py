"""How separable are the simulated classes? (Realism guard: real classes are NOT perfectly separable.)

The paper's ventilation data (3 subjects x 1 h, 10 classes) gave 39.5 % unsupervised accuracy
(HTVAE without constraints) and 65 % with must-link constraints. A simulator on which any clustering
reaches, say, 90 % would be too easy. This script simulates the default cohort, cuts the true
breaths into cycles (``ventgen.segment_breaths(method="markers")`` + ``ventgen.extract_cycles``,
200 points at 25 Hz, flow and pressure), and reports

* unsupervised accuracy and NMI of k-means (k = 10) on the standardised cycles, per level;
* leave-one-subject-out accuracy of a supervised classifier (logistic regression on 30 principal
  components of the cycles, and a random
  forest on per-breath metadata) trained on two subjects and tested on the third;
* the same numbers for the super-classes.

Run:  python benchmarks/sim_separability.py [--subjects 3] [--minutes 60] [--seed 0] [--per-subject-settings]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ventgen
from ventgen import VENTILATION_TREE, extract_cycles, segment_breaths, simulate_cohort
from ventgen.evaluate.metrics import unsupervised_accuracy

META = ["itime_s", "etime_s", "ie_ratio", "rr_bpm", "tvi_ml", "tve_ml", "max_flow_lpm", "min_flow_lpm",
        "pip_cmh2o", "peep_cmh2o", "mean_insp_p_cmh2o"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-subject-settings", action="store_true",
                    help="settings drawn and titrated per patient instead of one shared protocol")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    recs = simulate_cohort(args.subjects, args.minutes, 50, args.seed, progress=False,
                           shared_settings=not args.per_subject_settings)
    sets, metas = [], []
    for r in recs:
        b = segment_breaths(r, method="markers", drop_incomplete=True)
        cs = extract_cycles(r, b, length=200, cycle_rate=25.0)
        keep = cs.labels != ""
        sets.append(cs.subset(np.flatnonzero(keep)))
        metas.append(cs.breaths.loc[keep, [c for c in META if c in cs.breaths.columns]].to_numpy(float))
    cs = ventgen.CycleSet.concatenate(sets)
    meta = np.nan_to_num(np.concatenate(metas))
    y = np.asarray(cs.labels)
    ys = VENTILATION_TREE.map(y, 1).astype(str)
    subj = np.asarray(cs.subjects)
    X = cs.X.reshape(len(cs), -1).astype(np.float64)
    print(f"{len(cs)} labelled cycles from {args.subjects} subjects x {args.minutes:g} min (seed {args.seed}); "
          f"simulated and cut in {time.perf_counter() - t0:.1f} s")
    counts = {c: int((y == c).sum()) for c in VENTILATION_TREE.classes}
    print("cycles per class:", counts)
    Xs = StandardScaler().fit_transform(X)
    for k, truth, name in ((10, y, "classes"), (3, ys, "super-classes")):
        pred = KMeans(k, n_init=4, random_state=0).fit_predict(Xs)
        print(f"k-means k={k} on cycles, {name}: unsupervised accuracy {unsupervised_accuracy(truth, pred):.3f}, "
              f"NMI {normalized_mutual_info_score(truth, pred):.3f}")
    for truth, name in ((y, "classes"), (ys, "super-classes")):
        acc_lr, acc_rf = [], []
        for s in np.unique(subj):
            tr, te = subj != s, subj == s
            lr = make_pipeline(StandardScaler(), PCA(30, random_state=0), LogisticRegression(max_iter=1000))
            lr.fit(X[tr], truth[tr])
            acc_lr.append(float(np.mean(lr.predict(X[te]) == truth[te])))
            rf = RandomForestClassifier(100, random_state=0, n_jobs=1).fit(meta[tr], truth[tr])
            acc_rf.append(float(np.mean(rf.predict(meta[te]) == truth[te])))
        major = max(np.mean(truth == c) for c in np.unique(truth))
        print(f"leave-one-subject-out, {name}: logistic regression on cycles {np.mean(acc_lr):.3f} "
              f"{np.round(acc_lr, 3).tolist()}, random forest on breath metadata {np.mean(acc_rf):.3f} "
              f"{np.round(acc_rf, 3).tolist()} (majority class {major:.3f})")


if __name__ == "__main__":
    main()
