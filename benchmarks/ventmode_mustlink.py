"""Must-link on real labels (issue 15, item 7): HTVAE accuracy and NMI on the ventilation modes of held-out
patients, without must-link and with must-link from 10 % and 30 % of the training labels, several seeds.

Needs the labelled cycles of the training patients (``benchmarks/ventmode_path.sh`` writes them) and of
the held-out patients (segmented here with their ``.modes.csv`` tables):

    bash benchmarks/ventmode_path.sh                           # -> benchmarks/out/ventmode_path/cycles.h5
    .venv/bin/python benchmarks/ventmode_mustlink.py --seeds 3 --epochs 10
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import ventgen
from ventgen.evaluate.metrics import level_report
from ventgen.labels import LearnedTree
from ventgen.workflows import partial_labels, segment_files

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ventmode"
HELD_OUT = ("a4cb6936", "df48eb76")  # patient prefixes kept out of training (rpi56, rpi23)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="benchmarks/out/ventmode_path/cycles.h5")
    ap.add_argument("--out", default="benchmarks/out/ventmode_mustlink")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--fractions", default="0,0.1,0.3")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ventgen.set_progress(False)
    warnings.simplefilter("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test_path = out / "cycles_held_out.h5"
    if not test_path.is_file():
        files = sorted(p for p in DATA.glob("*.csv") if p.name.startswith(HELD_OUT) and not p.name.endswith(".modes.csv"))
        segment_files([str(p) for p in files], str(test_path), breath_labels=".modes.csv", progress_bar=False)
    train, test = ventgen.read_cycleset(args.train), ventgen.read_cycleset(test_path)
    keep = np.asarray(test.labels).astype(str) != ""
    print(f"train {len(train)} cycles ({(np.asarray(train.labels).astype(str) != '').sum()} labelled); "
          f"held-out {int(keep.sum())} labelled cycles: "
          f"{pd.Series(np.asarray(test.labels)[keep]).value_counts().to_dict()}")
    rows = []
    for frac in (float(f) for f in args.fractions.split(",")):
        for seed in range(args.seeds):
            ml = partial_labels(train.labels, frac, random_state=seed) if frac > 0 else None
            t0 = time.perf_counter()
            model = ventgen.HTVAE(epochs=args.epochs, random_state=seed, device="cpu", progress=False)
            model.fit(train, must_link=ml, must_link_level=1)
            rep = level_report(model.assign(test.X[keep]), np.asarray(test.labels)[keep],
                               learned_tree=LearnedTree.from_model(model))
            r1 = rep[rep.level == 1].iloc[0]
            rows.append({"must_link_fraction": frac, "seed": seed, "accuracy": r1.accuracy, "nmi": r1.nmi,
                         "purity": r1.purity, "train_s": time.perf_counter() - t0})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    summary = df.groupby("must_link_fraction")[["accuracy", "nmi", "purity"]].agg(["mean", "std"]).round(3)
    print(summary.to_string())
    df.to_csv(out / "runs.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
