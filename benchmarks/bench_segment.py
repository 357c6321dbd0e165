"""Speed of breath segmentation, per-breath metadata and cycle extraction, in samples per second.

Everything runs on in-memory arrays in one process (numpy's element-wise work is single-threaded).
Each figure is the best of ``--repeat`` runs, as wall-clock time and as CPU time of the process (the
latter is less disturbed when other jobs share the machine). Inputs:

* ``pb840``: the real PB-840 recordings of ../shared/data/pb840 (when present), tiled to ``--hours``;
* ``sim``: ``ventgen.simulate_cohort`` (PSV with events), one subject of ``--hours`` hours.

With ``--ventmap-path DIR`` (ventMAP 1.5.3 installed apart: ``pip install --no-deps --target DIR
ventmap==1.5.3 prettytable``; not a ventgen dependency), ventMAP's ``get_production_breath_meta`` is
timed on the breaths of the PB-840 files, interleaved with ventgen's ``breath_metadata`` on the same
breaths (same marks), so both see the same load. Reference figures for this machine type
(../shared/data/README.md): ventMAP metadata about 0.32 M samples/s, Ventiliser about 0.1 M samples/s.

Run:  python benchmarks/bench_segment.py [--hours 8] [--repeat 9] [--ventmap-path DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

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
PB840 = ROOT.parent / "shared" / "data" / "pb840"
PB840_NAMES = ["0149_2016-02-17-08-38-13_1.csv_test", "bad_unicode_error.csv.test", "raw_utils_3_columns.csv.test",
               "jimmy-example-data.csv.test"]


def best(fn, repeat):
    """(best wall s, best CPU s, last result) over ``repeat`` runs."""
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu), out


def row(label, n, w, c):
    print(f"  {label:<46s} wall {w * 1e3:8.1f} ms {n / w / 1e6:7.1f} M/s | CPU {c * 1e3:8.1f} ms {n / c / 1e6:7.1f} M/s")


def pb840_recordings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [ventgen.read_recording(PB840 / n) for n in PB840_NAMES]


def tiled(recs, hours: float) -> Recording:
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
        w, c, table = best(lambda: segment_breaths(rec, method="flow"), repeat)
        print(f"{name}: {n / rec.sampling_rate / 3600:.2f} h, {n / 1e6:.2f} M samples, {len(table)} breaths")
        row("segment_breaths(method='flow') (all of it)", n, w, c)
        w, c, _ = best(lambda: detect_breath_starts(rec.flow, rec.sampling_rate, rec.pressure), repeat)
        row("  detect_breath_starts", n, w, c)
        s, e = table["start_idx"].to_numpy(), table["end_idx"].to_numpy()
        w, c, _ = best(lambda: breath_metadata(rec.flow, rec.pressure, rec.sampling_rate, s, e), repeat)
        row("  breath_metadata (given boundaries)", n, w, c)
        hour = rec.slice(0, 3600.0)
        t_h = table[table["end_idx"] <= hour.n_samples]
        w, c, cs = best(lambda: extract_cycles(hour, t_h, long_policy="compress"), repeat)
        print(f"  extract_cycles, one hour ({len(cs)} cycles): wall {w * 1e3:.1f} ms, CPU {c * 1e3:.1f} ms")


def ventmap_side_by_side(recs, vm_path: str, repeat: int) -> None:
    sys.path.insert(0, vm_path)
    # ventMAP 1.5.3 imports names that newer scipy removed; alias them for this timing (the values it
    # computes are not used here)
    import scipy
    import scipy.integrate

    if not hasattr(scipy, "var"):
        scipy.var = np.var
    if not hasattr(scipy.integrate, "simps"):
        scipy.integrate.simps = scipy.integrate.simpson
    try:
        from ventmap.breath_meta import get_production_breath_meta
        from ventmap.raw_utils import PB840File
    except ImportError as exc:
        print(f"ventMAP not importable from {vm_path}: {exc}")
        return
    breaths = []
    for name in PB840_NAMES:
        with open(PB840 / name, encoding="ascii", errors="ignore") as fh:
            breaths += list(PB840File(fh).extract_raw(False))
    n_vm = sum(len(b["flow"]) for b in breaths)
    marks = []
    for r in recs:
        st = r.markers["start_idx"].to_numpy()
        en = np.append(st[1:], r.n_samples)
        marks.append((r, st, en))
    n_vg = sum(int((en - st).sum()) for _, st, en in marks)

    def run_vm():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [get_production_breath_meta(b) for b in breaths]

    def run_vg():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [breath_metadata(r.flow, r.pressure, r.sampling_rate, st, en) for r, st, en in marks]

    print(f"per-breath metadata on the PB-840 files ({len(breaths)} breaths), interleaved runs:")
    for k in range(2):
        wv, cv, _ = best(run_vm, max(1, repeat // 3))
        wg, cg, _ = best(run_vg, repeat)
        row(f"run {k + 1}: ventMAP get_production_breath_meta", n_vm, wv, cv)
        row(f"run {k + 1}: ventgen breath_metadata", n_vg, wg, cg)
        print(f"  ratio (samples/s): wall {n_vg / wg / (n_vm / wv):.0f}x, CPU {n_vg / cg / (n_vm / cv):.0f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--ventmap-path", help="folder where ventMAP 1.5.3 is installed (optional)")
    args = ap.parse_args(argv)
    x = np.random.default_rng(0).normal(size=10_000_000)
    w, c, _ = best(lambda: np.cumsum(x), args.repeat)
    print(f"machine check: np.cumsum over 10 M float64: wall {w * 1e3:.1f} ms, CPU {c * 1e3:.1f} ms; "
          f"load average {os.getloadavg()[0]:.1f}")
    if PB840.is_dir():
        recs = pb840_recordings()
        bench("pb840 (tiled)", tiled(recs, args.hours), args.repeat)
        if args.ventmap_path:
            ventmap_side_by_side(recs, args.ventmap_path, args.repeat)
    bench("simulated (PSV, events)", sim_recording(args.hours), args.repeat)


if __name__ == "__main__":
    main()
