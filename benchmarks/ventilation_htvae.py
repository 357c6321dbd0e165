"""HTVAE on the simulated default cohort: train on two subjects, test on the third (paper, section V-D).

Prints, for HTVAE without and with must-link constraints (from the training labels, optionally only a
fraction of them), on the held-out subject's labelled cycles:

* purity and NMI of the fine labels (10 classes) at every level, purity of the super-classes
  (normal breathing / respiratory event / movement) at every level;
* unsupervised accuracy (best one-to-one cluster/class matching) of the fine labels at every level.
  The paper reports 39.5% without and 65% with must-link.

Usage::

    python benchmarks/ventilation_htvae.py [--epochs 20] [--seed 0] [--must-link-level 1]
        [--label-fraction 1.0] [--threads 1] [--minutes 60]

The simulated cohort's cycles are cached in benchmarks/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ventgen  # noqa: E402
from ventgen.evaluate.metrics import nmi, purity, unsupervised_accuracy  # noqa: E402
from ventgen.workflows import partial_labels  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def load_cycles(minutes: float):
    path = OUT / f"sim_cohort_{minutes:g}min_cycles.h5"
    if path.exists():
        return ventgen.read_cycleset(path)
    t0 = time.perf_counter()
    recs = ventgen.simulate_cohort(minutes=minutes, random_state=0, progress=False)
    cycles, _ = ventgen.cycles_from_recordings(recs, progress_bar=False)
    ventgen.write_cycleset(cycles, path)
    print(f"simulated + segmented in {time.perf_counter() - t0:.1f} s -> {path}")
    return cycles


def report(name, model, X, fine, sup, wall):
    a = model.assign(X)
    print(f"\n{name}: trained in {wall:.1f} s; final epoch {model.history_[-1]}")
    print("level  K   purity_fine  nmi_fine  acc_fine  purity_super  acc_super")
    rows = []
    for lvl, (h, w) in enumerate(model.maps, start=1):
        p = a[:, lvl - 1]
        row = (
            lvl,
            h * w,
            purity(fine, p),
            nmi(fine, p),
            unsupervised_accuracy(fine, p),
            purity(sup, p),
            unsupervised_accuracy(sup, p),
        )
        rows.append(row)
        print(
            "{:5d} {:3d}   {:.3f}        {:.3f}     {:.3f}     {:.3f}         {:.3f}".format(*row)
        )
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--must-link-level", type=int, default=1)
    ap.add_argument("--label-fraction", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--only", choices=("free", "must-link"), default=None)
    ap.add_argument("--must-link-weight", type=float, default=1.0)
    ap.add_argument(
        "--relative", action="store_true", help="scale-free must-link (must_link_relative=True)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    OUT.mkdir(exist_ok=True)
    cycles = load_cycles(args.minutes)
    subjects = np.asarray(cycles.subjects).astype(str)
    uniq = sorted(set(subjects))
    test = subjects == uniq[-1]
    labels = np.asarray(cycles.labels).astype(str)
    sup = np.asarray(cycles.superclasses).astype(str)
    tr = np.flatnonzero(~test)
    te = np.flatnonzero(test & (labels != ""))
    X = cycles.X
    print(
        f"{len(cycles)} cycles; train subjects {uniq[:-1]}: {tr.size} cycles; test {uniq[-1]}: {te.size} labelled"
    )
    print("train class counts:", dict(zip(*np.unique(labels[tr], return_counts=True), strict=True)))
    kw = dict(
        maps=[(8, 8), (4, 4), (2, 2)],
        latent_dim=16,
        epochs=args.epochs,
        random_state=args.seed,
        device="cpu",
        progress=False,
    )
    if args.only in (None, "free"):
        t0 = time.perf_counter()
        free = ventgen.HTVAE(**kw).fit(X[tr])
        report("HTVAE (no constraints)", free, X[te], labels[te], sup[te], time.perf_counter() - t0)
    if args.only in (None, "must-link"):
        ml = partial_labels(labels[tr], args.label_fraction, random_state=args.seed)
        t0 = time.perf_counter()
        linked = ventgen.HTVAE(
            **kw, must_link_weight=args.must_link_weight, must_link_relative=args.relative
        ).fit(X[tr], must_link=ml, must_link_level=args.must_link_level)
        report(
            f"HTVAE + must-link (level {args.must_link_level}, weight {args.must_link_weight}, "
            f"relative={args.relative}, {int((ml != '').sum())} labelled train cycles)",
            linked,
            X[te],
            labels[te],
            sup[te],
            time.perf_counter() - t0,
        )


if __name__ == "__main__":
    main()
