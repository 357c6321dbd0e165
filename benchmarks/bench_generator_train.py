"""Training time of the default model's flow generator on 5,000 breath cycles (issue 16's aim: <= 10 min
on this 2-core CPU).

Simulates hours of the default cohort's subjects (60 min each, enough of them), segments them, keeps ``--cycles`` breaths (a
seeded draw), then fits ``ventgen.HTVAE`` with the default preset (or ``--preset``) on them, the HTVAE
part shortened to ``--epochs`` (its time does not enter the figure). Prints, from the fitted model's own
per-epoch history, the seconds of the HTVAE epochs and of the generator's epochs (its ``generator_steps``
batches), the seconds per 1,000 generator steps, the whole ``fit`` (calibration of the marginal map and
the stored generation included) and the generator's settings, then one JSON line with the figures.
The generator's time depends on its steps, width and batch, not on the number of cycles.

    python benchmarks/bench_generator_train.py                      # 2 threads, the default recipe
    python benchmarks/bench_generator_train.py --steps 600          # a short check (10 % of the steps)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ventgen  # noqa: E402

AIM_S = 600.0


def training_cycles(n: int, seed: int) -> ventgen.CycleSet:
    """``n`` cycles drawn (without replacement, seeded) from simulated hours of the default subjects
    (about 1,200 breaths an hour; one subject more for every 900 breaths asked, at least 3)."""
    subjects = max(3, -(-n // 900))
    recs = ventgen.simulate_cohort(n_subjects=subjects, minutes=60, random_state=seed, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ventgen.VentgenWarning)
        cyc = ventgen.CycleSet.concatenate([ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs])
    if len(cyc) < n:
        raise SystemExit(f"only {len(cyc)} simulated cycles, asked for {n}")
    keep = np.sort(np.random.default_rng(seed).choice(len(cyc), n, replace=False))
    return cyc.subset(keep)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=5000, help="training breaths (default 5,000)")
    ap.add_argument("--preset", default="recipe")
    ap.add_argument("--steps", type=int, default=None, help="generator steps (default: the preset's)")
    ap.add_argument("--epochs", type=int, default=2, help="HTVAE epochs (not part of the figure)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cyc = training_cycles(a.cycles, a.seed)
    kw = {} if a.steps is None else {"generator_steps": a.steps}
    model = ventgen.HTVAE(preset=a.preset, epochs=a.epochs, random_state=a.seed, device=a.device,
                          progress=True, **kw)
    t0 = time.perf_counter()
    model.fit(cyc)
    fit_s = time.perf_counter() - t0
    cfg = model.config_
    htvae_s = float(sum(h["time_s"] for h in model.history_))
    gen_s = float(sum(h["time_s"] for h in model.generator_.history))
    batches = int(model.generator_training_state_["step_count"])  # whole epochs: at least the steps asked
    row = {
        "cycles": len(cyc), "preset": a.preset, "threads": a.threads, "device": str(model.device_),
        "generator_steps": cfg.generator_steps, "generator_width": cfg.generator_width,
        "generator_batch_size": cfg.generator_batch_size, "generator_lr": cfg.generator_lr,
        "htvae_epochs_s": round(htvae_s, 1), "generator_s": round(gen_s, 1),
        "generator_batches_run": batches, "generator_s_per_1000_steps": round(1000 * gen_s / max(batches, 1), 1),
        "fit_s": round(fit_s, 1), "aim_s": AIM_S, "machine": platform.processor() or platform.machine(),
    }
    print(f"{len(cyc)} cycles, {a.threads} threads, {row['device']}: generator {cfg.generator_steps} steps "
          f"({batches} batches run, whole epochs; width {cfg.generator_width}, batch {cfg.generator_batch_size}, lr {cfg.generator_lr:g})")
    print(f"  HTVAE epochs ({a.epochs})      {htvae_s:8.1f} s (not part of the figure)")
    print(f"  generator                {gen_s:8.1f} s   ({row['generator_s_per_1000_steps']} s per 1,000 steps; "
          f"aim <= {AIM_S:.0f} s)")
    if a.steps is not None:  # a shortened run: the preset's own steps at the rate measured here
        full = ventgen.models.config.PRESETS[a.preset].generator_steps
        row["projected_generator_s_at_preset_steps"] = round(full * gen_s / max(batches, 1), 1)
        print(f"  projected, {full} steps   {row['projected_generator_s_at_preset_steps']:8.1f} s   "
              f"(the preset's steps at this rate; not measured)")
    print(f"  whole fit                {fit_s:8.1f} s   (calibration and stored generation included)")
    print(json.dumps(row))
    return row


if __name__ == "__main__":
    main()
