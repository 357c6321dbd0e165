"""The cohort room's end-to-end check: simulate -> segment -> cycles -> HTVAE -> generate -> evaluate.

Prints the numbers issue 7 asks for (composition achieved vs requested, segmentation F1 on the
generated recordings, KS per class, TSTR vs TRTR, discriminative score, memorisation) and writes
everything under ``benchmarks/out/cohort_pipeline/`` (git-ignored).

    python benchmarks/cohort_pipeline.py                      # 3 subjects x 30 min, 5 epochs
    python benchmarks/cohort_pipeline.py --minutes 60 --epochs 10 --patients 4 --patient-minutes 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import ventgen
from ventgen.evaluate.fidelity import breath_rmse

PAPER_SPEC = {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=30.0, help="simulated minutes per subject")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--label-fraction", type=float, default=0.1, help="share of labels given as must-link")
    ap.add_argument("--patients", type=int, default=4)
    ap.add_argument("--patient-minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/cohort_pipeline")
    ap.add_argument("--reuse", action="store_true", help="reuse cycles.h5 and model.pt from --out")
    ap.add_argument("--latents", default="node,data", help="GenerationOptions(latent=...) values to compare")
    ap.add_argument("--noise", default="residual", help="GenerationOptions(noise=...) values to compare, e.g. residual,none")
    ap.add_argument("--length-method", default="node", choices=("node", "padding", "nearest"),
                    help="GenerationOptions(length_method=...)")
    ap.add_argument("--noise-highpass", type=float, default=4.0, help="GenerationOptions(noise_highpass_hz=...)")
    ap.add_argument("--boundary", default="residual", help="GenerationOptions(boundary=...) values to compare, e.g. residual,none")
    ap.add_argument("--compare-vae", action="store_true",
                    help="also train a plain VAE (same networks, Gaussian likelihood) and compare reconstruction errors")
    ap.add_argument("--hierarchy-weight", type=float, default=1.0)
    ap.add_argument("--topology-weight", type=float, default=1.0)
    ap.add_argument("--reconstruction-weights", default=None, help="e.g. 1,0.1,0.1,0.1 (level 0 first)")
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--channels", default=None, help="encoder/decoder conv widths, e.g. 64,128 (default 32,64)")
    ap.add_argument("--reconstruction-loss", default="squared", choices=("squared", "absolute"))
    ap.add_argument("--mask-padding", action="store_true", help="HTVAE(mask_padding=True)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    ventgen.set_progress(False)
    warnings.simplefilter("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = {}
    rng = np.random.default_rng(args.seed)

    cyc_path, model_path = out / "cycles.h5", out / "model.pt"
    if args.reuse and cyc_path.is_file() and model_path.is_file():
        cycles = ventgen.read_cycleset(cyc_path)
        model = ventgen.HTVAE.load(model_path)
    else:
        t0 = time.perf_counter()
        recs = ventgen.simulate_cohort(n_subjects=args.subjects, minutes=args.minutes, random_state=args.seed)
        t["simulate_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sets = [ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs]
        cycles = ventgen.CycleSet.concatenate(sets)
        t["segment_s"] = time.perf_counter() - t0
        print(f"cycles: {len(cycles)}; classes: {pd.Series(cycles.labels).value_counts().to_dict()}")
        if cyc_path.exists():
            cyc_path.unlink()
        ventgen.write_cycleset(cycles, cyc_path)
        ml = np.asarray(cycles.labels).astype(object).copy()
        hide = rng.random(len(ml)) >= args.label_fraction
        ml[hide] = ""
        t0 = time.perf_counter()
        model = ventgen.HTVAE(epochs=args.epochs, random_state=args.seed, device="cpu", latent_dim=args.latent_dim,
                              channels=None if args.channels is None else tuple(int(c) for c in args.channels.split(",")),
                              hierarchy_weight=args.hierarchy_weight, topology_weight=args.topology_weight,
                              reconstruction_weights=args.reconstruction_weights, mask_padding=args.mask_padding,
                              reconstruction_loss=args.reconstruction_loss)
        model.fit(cycles, must_link=ml.astype(str) if args.label_fraction > 0 else None)
        t["train_s"] = time.perf_counter() - t0
        if model_path.exists():
            model_path.unlink()
        model.save(model_path)

    print("reconstruction RMSE inside the breaths (padding excluded), HTVAE level 0:",
          json.dumps(breath_rmse(cycles, model.reconstruct(cycles.X))))
    if args.compare_vae:
        from ventgen.models.baselines import VAE
        from ventgen.models.networks import default_channels

        t0 = time.perf_counter()
        vae = VAE(latent_dim=model.latent_dim, likelihood="gaussian", beta=1e-3, epochs=args.epochs,
                  channels=model.channels or default_channels(model.input_shape_),
                  random_state=args.seed, device="cpu", progress=False).fit(np.asarray(cycles.X))
        print(f"plain VAE ({time.perf_counter() - t0:.0f} s), same networks and epochs:",
              json.dumps(breath_rmse(cycles, vae.reconstruct(np.asarray(cycles.X)))))

    table = ventgen.label_nodes(model, cycles)
    print("\nnode labels (level 1), purity weighted by breaths: "
          f"{np.nansum(table[table.level == 1].purity * table[table.level == 1].n_labelled) / table[table.level == 1].n_labelled.sum():.3f}")
    for lv in sorted(table.level.unique()):
        sub = table[(table.level == lv) & (table.n_labelled > 0)]
        print(f"  level {lv}: {len(sub)} non-empty nodes; labels represented: {sorted(sub.label.unique())}")

    spec = {"patients": args.patients, "minutes": args.patient_minutes, "composition": PAPER_SPEC}
    for latent in args.latents.split(","):
        for noise in args.noise.split(","):
            for boundary in args.boundary.split(","):
                print(f"\n================ latent={latent} noise={noise} boundary={boundary}")
                try:
                    _generate_and_evaluate(model, cycles, spec, latent, noise, args.noise_highpass, out, args.seed,
                                           dict(t), args.length_method, boundary)
                except ventgen.VentgenValueError as exc:
                    print(f"latent={latent} noise={noise} boundary={boundary}: {exc}")


def _generate_and_evaluate(model, cycles, spec, latent, noise, highpass, out, seed, t, length_method="node",
                           boundary="residual"):
    t0 = time.perf_counter()
    res = ventgen.generate_cohort(model, spec, cycles, random_state=seed, options=ventgen.GenerationOptions(
        latent=latent, noise=noise, noise_highpass_hz=highpass, length_method=length_method, boundary=boundary))
    name = latent + ("" if noise == "residual" else f"_{noise}") + ("" if boundary == "residual" else "_boundary-none")
    t["generate_s"] = time.perf_counter() - t0
    cdir = out / f"cohort_{name}"
    if cdir.exists():
        shutil.rmtree(cdir)
    ventgen.write_cohort(res, cdir)
    print(f"\n{res!r}; generated in {t['generate_s']:.2f} s ({res.n_breaths / t['generate_s']:.0f} breaths/s)")
    print(res.composition().to_string(index=False))

    t0 = time.perf_counter()
    fdir = out / f"fidelity_{name}"
    if fdir.exists():
        shutil.rmtree(fdir)
    rep = ventgen.evaluate_cohort(cdir, cycles, out_dir=fdir, random_state=seed, model=model)
    t["evaluate_s"] = time.perf_counter() - t0
    print("\nsegmentation of the generated recordings:", json.dumps(
        {k: v for k, v in rep.segmentation.items() if k != "per_patient_f1"}, default=float))
    print("\nKS per class (real vs synthetic):")
    print(rep.ks.pivot(index="label", columns="column", values="ks").round(3).to_string())
    print("\nmedians real -> synthetic:")
    print(rep.ks.assign(r=lambda d: d.real_median.round(2).astype(str) + " -> " + d.synthetic_median.round(2).astype(str))
          .pivot(index="label", columns="column", values="r").to_string())
    print("\nclassifier:", json.dumps(rep.classifier, default=float))
    print("discriminative:", json.dumps(rep.discriminative, default=float))
    mem = {k: v for k, v in rep.memorisation.items() if k != "distances"}
    print("memorisation:", json.dumps(mem, default=float))
    s = rep.summary()
    s["reconstruction_ceiling"] = rep.ceiling
    print("\nSUMMARY", json.dumps(s, indent=1, default=float))
    print("timings", json.dumps(t))
    (out / f"summary_{name}.json").write_text(json.dumps({"summary": s, "timings": t, "memorisation": mem,
                                                   "classifier": rep.classifier,
                                                   "segmentation": rep.segmentation}, indent=1, default=float))


if __name__ == "__main__":
    main()
