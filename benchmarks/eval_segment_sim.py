"""Breath segmentation on simulated recordings, against the simulator's true breaths.

``ventgen.simulate_cohort`` returns the true breath boundaries as markers (start_idx, insp_end_idx); this
script strips them, runs ``segment_breaths(method="flow")`` and prints, per subject and pooled, the
precision / recall / F1 of breath starts within +-0.1 s and the share of matched breaths whose
inspiration end lies within +-2 samples of the truth; then the same for the synthetic PSV signals of
the test-suite (tests/_synthetic.py), scenario by scenario.

Run:  python benchmarks/eval_segment_sim.py [--subjects 3] [--minutes 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

import ventgen
from ventgen import Recording, segment_breaths

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _synthetic import psv_signal  # noqa: E402
from eval_segment_pb840 import match  # noqa: E402


def score(true_s, true_ie, found_s, found_ie, tol):
    m = match(true_s, found_s, tol)
    tp = int((m >= 0).sum())
    ok = m >= 0
    ie = np.abs(found_ie[m[ok]] - true_ie[ok]) <= 2 if true_ie is not None else np.array([np.nan])
    return tp, true_s.size, found_s.size, float(np.mean(ie))


def line(name, tp, nt, nf, ie):
    p, r = tp / max(nf, 1), tp / max(nt, 1)
    print(f"{name:<34s} true {nt:5d} found {nf:5d}  P {p:.4f}  R {r:.4f}  F1 {2 * tp / max(nt + nf, 1):.4f}  ie+-2 {ie:.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = ventgen.simulate_cohort(n_subjects=args.subjects, minutes=args.minutes, sampling_rate=50,
                                       random_state=args.seed, progress=False)
    tot = np.zeros(3)
    ies = []
    print(f"simulate_cohort: {args.subjects} subjects x {args.minutes:g} min, 50 Hz, seed {args.seed}")
    for rec in recs:
        tol = int(round(0.1 * rec.sampling_rate))
        df = segment_breaths(Recording(rec.flow, rec.pressure, rec.sampling_rate), method="flow")
        tp, nt, nf, ie = score(rec.markers["start_idx"].to_numpy(), rec.markers["insp_end_idx"].to_numpy(),
                               df["start_idx"].to_numpy(), df["insp_end_idx"].to_numpy(), tol)
        line(rec.subject, tp, nt, nf, ie)
        tot += (tp, nt, nf)
        ies.append((ie, tp))
    ie_pooled = sum(i * t for i, t in ies) / max(sum(t for _, t in ies), 1)
    line("pooled", *tot.astype(int), ie_pooled)
    print("\nsynthetic PSV signals (tests/_synthetic.py), 200 breaths each:")
    scen = [{}, {"noise_lpm": 1.5}, {"rest_offset_lpm": 4.0}, {"rest_offset_lpm": -4.0}, {"double_trigger_every": 5},
            {"cough_every": 3}, {"apnea_every": 5}]
    for k, kw in enumerate(scen):
        f, p, s, ie = psv_signal(200, 50.0, random_state=k, **kw)
        df = segment_breaths(Recording(f, p, 50.0), method="flow")
        line(",".join(f"{a}={b}" for a, b in kw.items()) or "clean", *score(s, ie, df["start_idx"].to_numpy(),
                                                                            df["insp_end_idx"].to_numpy(), 5))


if __name__ == "__main__":
    main()
