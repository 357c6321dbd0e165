"""Generation speed on CPU: breaths per second, and the time for 100 patients of one hour each.

Uses a trained model and its training cycles when given (``--model``, ``--reference``); otherwise
simulates 2 subjects x 10 min, segments them and fits an HTVAE for one epoch (speed does not depend
on how well the model is trained). Reports, for each of ``--decoders`` (``flow``: the model's flow
generator, the default of a model trained with the default preset; ``exact``; ``linear``): the
decoder alone (breaths/s of ``model.decode``), the whole ``generate_cohort`` (breaths/s and wall
time for the cohort), the process's peak resident memory, the approximation error of the linear
decoder, and a same-seed/same-bytes check.

    python benchmarks/bench_generate.py
    python benchmarks/bench_generate.py --patients 100 --minutes 60 --threads 2
    python benchmarks/bench_generate.py --model runs/demo/model.pt --reference runs/demo/cycles_train.h5
    python benchmarks/bench_generate.py --workers 2 --patients 8 --minutes 10 --decoders exact

With ``--workers N``: the whole ``generate_files`` (patients made and written one at a time, see
``ventgen/workflows/generate.py``) in this process and on local Dask clusters of 1 and N single-threaded
worker processes (started and warmed before the clock starts), breaths/s of each, the CPU seconds spent
(this process and the workers: the parallel speed-up needs free cores, the CPU time shows the work), and a
check that every run wrote the same bytes (needs ``pip install 'ventgen[distributed]'``).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import ventgen

SPEC = {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}


def _model_and_reference(args):
    if args.model and args.reference:
        return ventgen.HTVAE.load(args.model), ventgen.read_cycleset(args.reference)
    recs = ventgen.simulate_cohort(n_subjects=2, minutes=10, random_state=0)
    cycles = ventgen.CycleSet.concatenate([ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs])
    # speed does not depend on how well the model is trained: one epoch, a briefly trained generator
    model = ventgen.HTVAE(epochs=1, random_state=0, device="cpu", generator_steps=50).fit(cycles)
    return model, cycles


def _folder_bytes(folder: Path) -> dict:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def _bench_workers(model, ref, spec, args) -> dict:
    """breaths/s of generate_files in this process and on 1 and N Dask workers; same bytes in all."""
    import distributed

    from ventgen.workflows import generate_files
    from ventgen.workflows.distributed import DaskRunner

    out, tmp = {}, Path(tempfile.mkdtemp(prefix="bench_generate_"))
    counts = ["serial", *sorted({1, args.workers})]
    for dec in args.decoders.split(","):
        opts = ventgen.GenerationOptions(decoder=dec, noise=args.noise, latent=args.latent, boundary=args.boundary,
                                         progress=False)
        res, folders = {}, {}
        for n in counts:
            folder = tmp / f"{dec}-{n}"
            if n == "serial":
                t0, c0 = time.perf_counter(), time.process_time()
                s = generate_files(model, spec, ref, folder, random_state=0, options=opts)
                secs, cpu = time.perf_counter() - t0, [time.process_time() - c0, 0.0]
            else:
                with DaskRunner(workers=n) as cluster, distributed.Client(cluster.address, set_as_default=False) as cl:
                    generate_files(model, {**spec, "patients": n}, ref, tmp / f"warm-{dec}-{n}",  # imports on the workers
                                   scheduler=cluster.address, options=opts)
                    w0, t0, c0 = sum(cl.run(time.process_time).values()), time.perf_counter(), time.process_time()
                    s = generate_files(model, spec, ref, folder, random_state=0, options=opts, scheduler=cluster.address)
                    secs = time.perf_counter() - t0
                    cpu = [time.process_time() - c0, sum(cl.run(time.process_time).values()) - w0]
            folders[n] = _folder_bytes(folder)
            res[str(n)] = {"seconds": secs, "breaths": s.n_breaths, "breaths_per_s": s.n_breaths / secs,
                           "cpu_s_this_process": cpu[0], "cpu_s_workers": cpu[1]}
            print(f"generate_files decoder={dec} {'in this process' if n == 'serial' else f'{n} Dask worker(s)'}: "
                  f"{s.n_patients} patients, {s.n_breaths} breaths in {secs:.2f} s = {s.n_breaths / secs:.0f} breaths/s "
                  f"(CPU: {cpu[0]:.2f} s in this process + {cpu[1]:.2f} s in the workers)")
        same = all(folders[n] == folders["serial"] for n in counts)
        res["same_bytes"] = same
        res[f"speedup_{args.workers}_vs_1"] = res["1"]["seconds"] / res[str(args.workers)]["seconds"]
        print(f"  {args.workers} workers vs 1: {res[f'speedup_{args.workers}_vs_1']:.2f}x; same bytes in every run: {same}")
        out[dec] = res
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model")
    ap.add_argument("--reference")
    ap.add_argument("--decoders", default="linear,exact", help="comma-separated: flow, exact, linear")
    ap.add_argument("--latent", default="node", choices=("auto", "node", "data", "kde"),
                    help="GenerationOptions(latent=...); auto: the default (kde with the flow generator)")
    ap.add_argument("--noise", default="auto", choices=("auto", "residual", "none"),
                    help="GenerationOptions(noise=...): observation noise or not (auto: none with the flow generator)")
    ap.add_argument("--boundary", default="auto", choices=("auto", "residual", "step", "none", "raw"),
                    help="GenerationOptions(boundary=...): correct the decoded ends of each breath or not (auto: "
                         "raw joins with the flow generator)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per decoder after the first (cold) one")
    ap.add_argument("--out", default="benchmarks/out/bench_generate.json")
    ap.add_argument("--workers", type=int, default=0,
                    help="N >= 1: only time generate_files in this process and on 1 and N Dask workers")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    ventgen.set_progress(False)
    warnings.simplefilter("ignore")
    model, ref = _model_and_reference(args)
    spec = {"patients": args.patients, "minutes": args.minutes, "composition": SPEC}
    if args.workers:
        results = {"threads": args.threads, "patients": args.patients, "minutes": args.minutes,
                   "workers": _bench_workers(model, ref, spec, args)}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))
        return
    d = np.asarray(model.codebook(1)).shape[1]
    results = {"threads": args.threads, "patients": args.patients, "minutes": args.minutes, "noise": args.noise, "latent": args.latent,
               "boundary": args.boundary}

    z = np.random.default_rng(0).standard_normal((32768, d)).astype(np.float32)
    model.decode(z[:256])
    t0 = time.perf_counter()
    model.decode(z)
    results["decode_only_breaths_per_s"] = len(z) / (time.perf_counter() - t0)
    print(f"model.decode alone: {results['decode_only_breaths_per_s']:.0f} breaths/s (batch {len(z)})")

    gen = {}
    for dec in args.decoders.split(","):
        times = []
        for _ in range(1 + max(0, args.repeat)):  # the first run pays one-time costs (imports, allocations)
            t0 = time.perf_counter()
            res = ventgen.generate_cohort(model, spec, ref, random_state=0, options=ventgen.GenerationOptions(
                decoder=dec, batch_size=16384, noise=args.noise, latent=args.latent, boundary=args.boundary))
            times.append(time.perf_counter() - t0)
        secs = min(times[1:]) if len(times) > 1 else times[0]
        gen[dec] = res
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
        hours = sum(r.duration_s for r in res.recordings) / 3600
        results[dec] = {"seconds": secs, "first_run_seconds": times[0], "breaths": res.n_breaths,
                        "breaths_per_s": res.n_breaths / secs, "hours_generated": hours, "peak_rss_mib": peak}
        print(f"generate_cohort decoder={dec} noise={args.noise} boundary={args.boundary}: {args.patients} patients x "
              f"{args.minutes:g} min ({res.n_breaths} breaths, {hours:.1f} h of signal) in {secs:.2f} s (best of "
              f"{len(times) - 1}; first run {times[0]:.2f} s) = {res.n_breaths / secs:.0f} breaths/s; peak memory of the "
              f"process so far {peak:.0f} MiB")
    if "exact" in gen and "linear" in gen:
        err = []
        for a, b in zip(gen["exact"].recordings[:5], gen["linear"].recordings[:5], strict=True):
            for x, y in ((a.flow, b.flow), (a.pressure, b.pressure)):
                err.append(np.sqrt(np.mean((x - y) ** 2)) / np.std(x))
        results["linear_relative_rmse"] = {"flow": float(np.mean(err[0::2])), "pressure": float(np.mean(err[1::2]))}
        print(f"linear vs exact decoder, RMSE / signal std: flow {results['linear_relative_rmse']['flow']:.4f}, "
              f"pressure {results['linear_relative_rmse']['pressure']:.4f}")
    small = {"patients": 2, "minutes": 5, "composition": SPEC}
    opts = ventgen.GenerationOptions(latent=args.latent, noise=args.noise, boundary=args.boundary)
    a = ventgen.generate_cohort(model, small, ref, random_state=7, options=opts)
    b = ventgen.generate_cohort(model, small, ref, random_state=7, options=opts)
    same = all(x.flow.tobytes() == y.flow.tobytes() and x.pressure.tobytes() == y.pressure.tobytes()
               for x, y in zip(a.recordings, b.recordings, strict=True))
    results["same_seed_same_bytes"] = bool(same)
    print(f"same seed, same bytes: {same}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":  # (the guard matters: Dask's worker processes import this module)
    main()
