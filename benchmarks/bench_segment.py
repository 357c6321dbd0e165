"""Speed of breath segmentation, per-breath metadata and cycle extraction, in samples per second.

Everything runs on in-memory arrays, on one core (set the BLAS/OpenMP thread variables to 1; numpy's
element-wise work is single-threaded anyway). Each figure is the best of ``--repeat`` runs, which is the
fairest estimate on a shared machine. Inputs:

* ``pb840``: the real PB-840 recordings of ../shared/data/pb840 (when present), tiled to ``--hours``;
* ``sim``: ``ventgen.simulate_cohort`` (PSV, events), one subject of ``--hours`` hours.

For comparison (measured on this machine type, ../shared/data/README.md): ventMAP parses PB-840 text
at about 0.6 M samples/s and computes its breath metadata at about 0.32 M samples/s; Ventiliser segments
at about 0.1 M samples/s.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_segment.py [--hours 8] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("VENTGEN_PROGRESS", "0")

import ventgen  # noqa: E402
from ventgen import (  # noqa: E402
    Recording,
    breath_metadata,
    detect_breath_starts,
    extract_cycles,
    segment_breaths,
)

ROOT = Path(__file__).resolve().parents[1]


def best(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def pb840_recording(hours: float) -> Recording | None:
    d = ROOT.parent / "shared" / "data" / "pb840"
    names = ["0149_2016-02-17-08-38-13_1.csv_test", "bad_unicode_error.csv.test", "raw_utils_3_columns.csv.test"]
    if not d.is_dir():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = [ventgen.read_recording(d / n) for n in names]
    f = np.concatenate([r.flow for r in recs])
    p = np.concatenate([r.pressure for r in recs])
    k = max(1, int(np.ceil(hours * 3600 * 50 / f.size)))
    return Recording(np.tile(f, k), np.tile(p, k), 50.0, subject="pb840-tiled")


def sim_recording(hours: float) -> Recording:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = ventgen.simulate_cohort(n_subjects=1, minutes=hours * 60, sampling_rate=50, random_state=0, progress=False)[0]
    return Recording(rec.flow, rec.pressure, rec.sampling_rate, subject=rec.subject, annotations=rec.annotations)


def bench(name: str, rec: Recording, repeat: int) -> None:
    n = rec.n_samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_seg, table = best(lambda: segment_breaths(rec, method="flow"), repeat)
        t_det, starts = best(lambda: detect_breath_starts(rec.flow, rec.sampling_rate, rec.pressure), repeat)
        s, e = table["start_idx"].to_numpy(), table["end_idx"].to_numpy()
        t_meta, _ = best(lambda: breath_metadata(rec.flow, rec.pressure, rec.sampling_rate, s, e), repeat)
        hour = rec.slice(0, 3600.0)
        t_h = table[table["end_idx"] <= hour.n_samples]
        t_cyc, cs = best(lambda: extract_cycles(hour, t_h, long_policy="compress"), repeat)
    print(f"{name}: {n / rec.sampling_rate / 3600:.2f} h, {n / 1e6:.2f} M samples, {len(table)} breaths")
    print(f"  segment_breaths(method='flow') [detection + metadata]: {t_seg * 1e3:8.1f} ms  {n / t_seg / 1e6:6.1f} M samples/s")
    print(f"  detect_breath_starts only                           : {t_det * 1e3:8.1f} ms  {n / t_det / 1e6:6.1f} M samples/s")
    print(f"  breath_metadata only (given boundaries)             : {t_meta * 1e3:8.1f} ms  {n / t_meta / 1e6:6.1f} M samples/s")
    print(f"  extract_cycles, first hour ({len(cs)} cycles)       : {t_cyc * 1e3:8.1f} ms")


def reference_op(repeat: int) -> None:
    """Machine speed right now: one float64 cumulative sum over 10 M samples."""
    x = np.random.default_rng(0).normal(size=10_000_000)
    t, _ = best(lambda: np.cumsum(x), repeat)
    print(f"machine check: np.cumsum over 10 M float64 in {t * 1e3:.1f} ms ({10 / t:.0f} M/s)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    reference_op(args.repeat)
    rec = pb840_recording(args.hours)
    if rec is not None:
        bench("pb840 (tiled)", rec, args.repeat)
    bench("simulated (PSV, events)", sim_recording(args.hours), args.repeat)


if __name__ == "__main__":
    main()
