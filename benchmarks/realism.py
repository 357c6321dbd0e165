"""Realism of the default generator (issue 16's must-show), on the simulated default cohort or on real cycles.

Per seed: train the default model (HTVAE + flow generator; ``--preset paper`` for the paper's decoder)
on the training cycles, generate a cohort from the model file alone, and evaluate it against the same
real breaths with ``evaluate_cohort(..., model=model)``: the discriminative scores (random forest on
cycle features, 1-D CNN on the raw cycles) with their floor (two halves of the real breaths) and
ceiling (the model's reconstructions), median KS, TSTR/TRTR, composition, re-segmentation F1,
memorisation; and the times (HTVAE, generator, generation with breaths per second). Beside the
re-segmentation F1, ``segmentation_f1_real``: the flow segmenter's F1 on the real (simulated)
recordings, weighted to the cohort's labels (apnea breaths after a long pause are missed as often in
real recordings, so an apnea-rich cohort scores lower whatever the generator).

Simulated (default): 3 subjects x 60 min of the simulator, spec 4 patients x 10 min of 50 % normal
breathing / 25 % apnea / 25 % snoring. Real: ``--cycles FILE.h5`` (a CycleSet, e.g. ventmode's five
training patients) with ``--spec natural`` or a JSON composition.

    python benchmarks/realism.py --seeds 0,1,2,3,4 --epochs 20
    python benchmarks/realism.py --cycles runs/ventmode/train.h5 --spec '{"pav": 0.3333, "ps": 0.3333, "cpap_sbt": 0.3334}'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
import warnings
from pathlib import Path

import pandas as pd

import ventgen
from ventgen.evaluate.fidelity import composition_f1, detection_by_label
from ventgen.evaluate.fidelity.report import discriminative_table
from ventgen.models.generator_stage import calibrate_generator

DEFAULT_COMPOSITION = {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}


def training_cycles(args, seed: int):
    """(training cycles, the real recordings they were cut from, or None for ``--cycles``)."""
    if args.cycles:
        return ventgen.read_cycleset(args.cycles), None
    recs = ventgen.simulate_cohort(n_subjects=args.subjects, minutes=args.minutes, random_state=seed, progress=False)
    return ventgen.CycleSet.concatenate([ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs]), recs


def real_f1(recs, manifest) -> float:
    """The flow segmenter's F1 on the real recordings, weighted to the generated cohort's labels: the
    reference for the cohort's re-segmentation F1 (NaN without recordings)."""
    if recs is None:
        return float("nan")
    return composition_f1(detection_by_label(recs, progress_bar=False), manifest["label"].value_counts(normalize=True))


def train(args, cycles, seed: int, path: Path):
    if args.reuse and path.is_file():
        return ventgen.HTVAE.load(path, device="cpu"), {}
    kw = {"epochs": args.epochs, "random_state": seed, "device": "cpu", "preset": args.preset}
    if args.generator_steps is not None:
        kw["generator_steps"] = args.generator_steps
    t0 = time.perf_counter()
    model = ventgen.HTVAE(**kw).fit(cycles)
    total = time.perf_counter() - t0
    gen_s = sum(h["time_s"] for h in model.generator_.history) if model.generator_ is not None else 0.0
    model.save(path, overwrite=True)
    return model, {"train_s": total, "generator_train_s": gen_s, "htvae_train_s": total - gen_s}


def one_seed(args, seed: int, out: Path) -> dict:
    cycles, recs = training_cycles(args, seed)
    model, t = train(args, cycles, seed, out / f"model_{seed}.pt")
    gen = model.generator_
    if args.calibrate and gen is not None and (gen.marginals is None or not gen.resolution.any()):
        t0 = time.perf_counter()  # a model file from before the map or the resolution: fit them, keep the file beside
        calibrate_generator(model, cycles, random_state=seed)
        t["calibrate_s"] = time.perf_counter() - t0
        path = out / f"model_{seed}.pt"
        if path.is_symlink():
            path.unlink()
        model.save(path, overwrite=True)
    spec = {"patients": args.patients, "minutes": args.patient_minutes}
    if args.spec != "natural":
        spec["composition"] = DEFAULT_COMPOSITION if args.spec == "default" else json.loads(args.spec)
    model = ventgen.HTVAE.load(out / f"model_{seed}.pt", device="cpu")  # the model file alone
    sampler = {k: v for k, v in (("generator_sample_steps", args.sample_steps),
                                 ("generator_time_power", args.time_power)) if v is not None}
    if sampler:  # another sampler for a stored generator (e.g. a model file trained with older defaults)
        model.config_ = dataclasses.replace(model.config_, **sampler)
    t0 = time.perf_counter()
    opts = {"decoder": args.decoder, "latent": args.latent, "sequence": args.sequence,
            "chain_breaths": args.chain_breaths}
    if args.kde_bandwidth is not None:
        opts["kde_bandwidth"] = args.kde_bandwidth
    res = ventgen.generate_cohort(model, spec, cycles if args.with_reference else None, random_state=seed,
                                  options=ventgen.GenerationOptions(**opts))
    t["generate_s"] = time.perf_counter() - t0
    t["breaths_per_s"] = res.n_breaths / t["generate_s"]
    cdir, fdir = out / f"cohort_{seed}", out / f"fidelity_{seed}"
    for d in (cdir, fdir):
        if d.exists():
            shutil.rmtree(d)
    ventgen.write_cohort(res, cdir)
    comp = res.composition()
    t0 = time.perf_counter()
    rep = ventgen.evaluate_cohort(cdir, cycles, out_dir=fdir, random_state=seed, model=model)
    t["evaluate_s"] = time.perf_counter() - t0
    s = rep.summary()
    table = discriminative_table(rep.to_dict())
    print(f"\n=== seed {seed}: {len(cycles)} training cycles, {res.n_breaths} generated breaths, "
          f"decoder {res.info['decoder']}, latent {res.info['latent']}")
    print(table.round(3).to_string(index=False))
    err = (comp["achieved"] - comp["requested"]).abs().max() if "achieved" in comp else float("nan")
    row = {"seed": seed, **{f"{r['classifier'].split(',')[0]} {k}": r[k] for r in table.to_dict("records")
                            for k in ("synthetic", "floor", "ceiling", "between subjects")},
           "ks_median": s.get("ks_median"), "ks_floor": s.get("ks_median_floor"), "tstr_over_trtr": s.get("tstr_over_trtr"),
           "composition_max_error": float(err), "segmentation_f1": s.get("segmentation_f1"),
           "segmentation_f1_real": real_f1(recs, res.manifest),
           "memorisation_below_p05": s.get("memorisation_fraction_below_real_p05"),
           "memorisation_passes": s.get("memorisation_passes"), **t}
    print(json.dumps(row, default=float))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--cycles", default=None, help="a CycleSet of real training cycles instead of the simulator")
    ap.add_argument("--spec", default="default", help="'default' (50/25/25 of the simulator's classes), "
                                                       "'natural', or a JSON composition")
    ap.add_argument("--patients", type=int, default=4)
    ap.add_argument("--patient-minutes", type=float, default=10.0)
    ap.add_argument("--preset", default="recipe")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--generator-steps", type=int, default=None)
    ap.add_argument("--sample-steps", type=int, default=None, help="the generator's sampler steps (default: the model's)")
    ap.add_argument("--time-power", type=float, default=None, help="the sampler's time grid power (default: the model's)")
    ap.add_argument("--decoder", default="auto")
    ap.add_argument("--latent", default="auto")
    ap.add_argument("--kde-bandwidth", type=float, default=None)
    ap.add_argument("--sequence", default="auto", help="auto, chain or independent (with latent kde)")
    ap.add_argument("--chain-breaths", type=float, default=8.0, help="mean chain length in breaths (inf: no restarts)")
    ap.add_argument("--with-reference", action="store_true",
                    help="pass the training cycles as reference (same cohort as the stored data; needed for "
                         "latent='kde' with a model file written before the encodings were stored)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="reuse model_<seed>.pt from --out")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit the generator's marginal map and recording resolution of a reused model file that "
                         "lacks them, and save it")
    ap.add_argument("--out", default="benchmarks/out/realism")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    ventgen.set_progress(False)
    warnings.simplefilter("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [one_seed(args, int(s), out) for s in args.seeds.split(",")]
    df = pd.DataFrame(rows)
    print("\n" + df.round(3).to_string(index=False))
    if len(df) > 1:
        print("\nmean over seeds:\n" + df.mean(numeric_only=True).round(3).to_string())
    df.to_csv(out / "realism.csv", index=False)


if __name__ == "__main__":
    main()
