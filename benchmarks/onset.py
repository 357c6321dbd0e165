"""Where a forest tells a model's breaths from real ones: the first second against the rest (issue 16).

The model's breaths for ``--n`` real breaths' own encodings and lengths (the generator's ceiling,
``model.generate_cycles``, labelled like the real breaths), one random half of the real breaths against
the other half's generated breaths; the report's forest (``discriminative_score``: class-matched,
5-fold, |accuracy - 0.5|) on the report's features (every 4th sample of both channels), on the first
``--onset`` samples alone, on the rest alone, and on the two values at sample 0 (flow and pressure at
the trigger). Each with the
generator's breaths as sampled and with its marginal map (``calibrate=False`` / ``True``), and beside
them the share of breaths whose first flow lies inside the real breaths' densest band (the shortest
interval holding ``--band`` of the real first flows: the trigger's threshold).

    python benchmarks/onset.py MODEL.pt --cycles benchmarks/out/ventmode_flow/cycles.h5
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import ventgen
from ventgen.evaluate.fidelity.classifiers import cycle_features, discriminative_score


def densest_band(x: np.ndarray, share: float) -> tuple[float, float]:
    """The shortest interval that holds ``share`` of the values ``x``."""
    s = np.sort(x)
    k = max(1, int(np.ceil(share * len(s))))
    i = int(np.argmin(s[k - 1:] - s[:len(s) - k + 1]))
    return float(s[i]), float(s[i + k - 1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--cycles", required=True, help="the model's training cycles (a CycleSet file)")
    ap.add_argument("--n", type=int, default=4000, help="real breaths drawn (labelled ones where there are labels)")
    ap.add_argument("--onset", type=int, default=32, help="samples counted as the onset (32 = 1.3 s at 25 Hz)")
    ap.add_argument("--band", type=float, default=0.8, help="share of the real first flows the band holds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cyc = ventgen.read_cycleset(args.cycles)
    model = ventgen.HTVAE.load(args.model, device="cpu")
    X = np.asarray(cyc.X, np.float32)
    L = np.clip(np.asarray(cyc.lengths), 1, X.shape[2])
    lab = np.full(len(X), "") if cyc.labels is None else np.asarray(cyc.labels).astype(str)
    rng = np.random.default_rng(args.seed)
    pool = np.flatnonzero(lab != "") if (lab != "").any() else np.arange(len(X))
    keep = np.sort(rng.choice(pool, min(args.n, pool.size), replace=False))
    half = rng.random(keep.size) < 0.5
    other = keep[~half]  # the half whose encodings and lengths the generator gets
    Z = model.transform(X[other])
    real, real_y, gen_y = X[keep][half], lab[keep][half], lab[other]

    def score(a: np.ndarray, b: np.ndarray) -> float:
        return round(discriminative_score(a, b, real_y, gen_y, random_state=args.seed)["score"], 3)

    lo, hi = densest_band(real[:, 0, 0], args.band)
    out = {"n": int(keep.size), "band": [round(lo, 3), round(hi, 3)],
           "real_in_band": round(float(np.mean((real[:, 0, 0] >= lo) & (real[:, 0, 0] <= hi))), 3)}
    for calibrate in (False, True):
        # generate_cycles edge-pads each breath after its length, as a CycleSet's cycles are
        G = np.asarray(model.generate_cycles(Z, L[other], random_state=args.seed, labels=lab[other],
                                             calibrate=calibrate), np.float32)
        name = "mapped" if calibrate else "as_sampled"
        out[name] = {
            "all": score(cycle_features(real), cycle_features(G)),
            "onset": score(cycle_features(real[:, :, :args.onset]), cycle_features(G[:, :, :args.onset])),
            "rest": score(cycle_features(real[:, :, args.onset:]), cycle_features(G[:, :, args.onset:])),
            "sample_0": score(real[:, :, 0], G[:, :, 0]),
            "in_band": round(float(np.mean((G[:, 0, 0] >= lo) & (G[:, 0, 0] <= hi))), 3),
        }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
