"""The flow generator's ceiling under other samplers: steps and time grid (issue 16).

For a trained model file, the generator's breaths at the real breaths' own encodings and lengths are
scored against the real breaths (:func:`ventgen.evaluate.fidelity.ceiling.reconstruction_ceiling`: the
random forest's and the 1-D CNN's discriminative scores, median KS) for each sampler ``STEPS:POWER``
(midpoint steps on the time grid ``t_k = 1 - (1 - k/STEPS)^POWER``), and the sampling speed.

    python benchmarks/generator_sampler.py benchmarks/out/realism_sim/model_0.pt --sim-seed 0 --samplers 8:1,8:2,4:2
    python benchmarks/generator_sampler.py runs/ventmode/model.pt --cycles runs/ventmode/cycles.h5 --samplers 8:1,4:2
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np
import torch

import ventgen
from ventgen.evaluate.fidelity.ceiling import reconstruction_ceiling


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model file with a flow generator")
    ap.add_argument("--cycles", default=None, help="the real cycles (a CycleSet); default: the simulator")
    ap.add_argument("--sim-seed", type=int, default=0, help="without --cycles: 3 subjects x 60 min of this seed")
    ap.add_argument("--samplers", default="8:1,8:2,4:2", help="comma-separated STEPS:POWER")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ventgen.set_progress(False)
    warnings.simplefilter("ignore")
    if args.cycles:
        cycles = ventgen.read_cycleset(args.cycles)
    else:
        recs = ventgen.simulate_cohort(n_subjects=3, minutes=60, random_state=args.sim_seed, progress=False)
        cycles = ventgen.CycleSet.concatenate([ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs])
    model = ventgen.HTVAE.load(args.model, device="cpu")
    if model.generator_ is None:
        raise SystemExit(f"{args.model}: the model has no flow generator")
    labels = np.asarray(cycles.labels).astype(str)
    classes = sorted(set(labels) - {"", "unlabelled"}) or None
    n = min(2000, len(cycles.X))
    Z, L = model.transform(np.asarray(cycles.X)[:n]), np.asarray(cycles.lengths)[:n]
    print("steps power calls forest   cnn     ks  breaths/s")
    for item in args.samplers.split(","):
        steps, power = item.split(":")
        model.config_ = dataclasses.replace(model.config_, generator_sample_steps=int(steps),
                                            generator_time_power=float(power))
        t0 = time.perf_counter()
        model.generate_cycles(Z, L, random_state=0)
        speed = n / (time.perf_counter() - t0)
        r = reconstruction_ceiling(model, cycles, classes, random_state=0)
        print(f"{int(steps):5d} {float(power):5.2f} {2 * int(steps):5d} {r['discriminative_score']:6.3f} "
              f"{r['cnn_discriminative_score']:6.3f} {r['ks_median']:6.3f} {speed:9.0f}", flush=True)


if __name__ == "__main__":
    main()
