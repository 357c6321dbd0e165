"""Reading speed of PB-840 text: ventgen's reader, and ventMAP's when it is installed.

Reads every PB-840 file of ``../shared/data/pb840`` (or ``--data``) ``--repeat`` times and keeps the
best total time (the machine is shared; the best run is the least disturbed one). Prints samples per
second pooled over all files, a per-file table, and, when the ``ventmap`` package is importable, the
same figures for ventMAP 1.5.3 (``PB840File(open(f, encoding="ascii", errors="ignore")).extract_raw``,
as its README shows) and the ratio of the two times on the same files.

The data README gives ventMAP about 0.6 M samples/s on this machine type; the target is 10x that.
Samples are counted the same way for both readers: data rows of the files, as ventgen reads them.

    python benchmarks/bench_read_pb840.py [--data DIR] [--repeat 7] [--ventmap-path DIR]

ventMAP is not a ventgen dependency: install it apart (``pip install --no-deps --target DIR ventmap
prettytable``) and pass ``--ventmap-path DIR``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ventgen import read_recording  # noqa: E402
from ventgen.errors import DataRecoveryWarning  # noqa: E402


def _best(fn, files, repeat):
    """Best total wall time and best total CPU time over ``repeat`` runs, and best wall time per file."""
    best_wall = best_cpu = float("inf")
    per_file = {}
    for _ in range(repeat):
        w_all = c_all = 0.0
        for f in files:
            w0, c0 = time.perf_counter(), time.process_time()
            fn(f)
            dw, dc = time.perf_counter() - w0, time.process_time() - c0
            w_all += dw
            c_all += dc
            per_file[f] = min(per_file.get(f, float("inf")), dw)
        best_wall = min(best_wall, w_all)
        best_cpu = min(best_cpu, c_all)
    return best_wall, best_cpu, per_file


def _ventmap_reader(path):
    try:
        from ventmap.raw_utils import PB840File
    except ImportError:
        return None

    def read(f):
        with open(f, encoding="ascii", errors="ignore") as fh:
            return sum(len(b["flow"]) for b in PB840File(fh).extract_raw(False))

    return read


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "pb840"))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ventmap-path", help="folder where the ventmap package is installed (optional)")
    args = ap.parse_args(argv)
    data = Path(args.data)
    files = sorted(f for f in data.iterdir() if f.is_file()) if data.is_dir() else []
    if not files:
        print(f"no PB-840 files in {data}; nothing to measure")
        return 0
    warnings.simplefilter("ignore", DataRecoveryWarning)
    counts = {f: read_recording(f, format="pb840").n_samples for f in files}
    total = sum(counts.values())
    mb = sum(f.stat().st_size for f in files) / 1e6
    if args.ventmap_path:
        sys.path.insert(0, args.ventmap_path)
    vm = _ventmap_reader(None)
    vg = lambda f: read_recording(f, format="pb840")  # noqa: E731
    # the two readers take turns (ventMAP once every few ventgen runs) so that both see the same load
    vm_rounds = max(1, min(5, args.repeat)) if vm is not None else 0
    t_vg = c_vg = t_vm = c_vm = float("inf")
    per_vg: dict = {}
    per_vm: dict = {}
    per_round = max(1, args.repeat // max(1, vm_rounds))
    for r in range(max(args.repeat // per_round, vm_rounds, 1)):
        w, c, pf = _best(vg, files, per_round)
        t_vg, c_vg = min(t_vg, w), min(c_vg, c)
        per_vg = {f: min(per_vg.get(f, float("inf")), pf[f]) for f in files}
        if r < vm_rounds:
            w, c, pf = _best(vm, files, 1)
            t_vm, c_vm = min(t_vm, w), min(c_vm, c)
            per_vm = {f: min(per_vm.get(f, float("inf")), pf[f]) for f in files}
    print(f"PB-840 files: {len(files)}, {total} samples, {mb:.2f} MB, best of {args.repeat} runs "
          "(wall clock; CPU time of this process in brackets, less disturbed by other load)")
    print(f"ventgen read_recording: {t_vg * 1e3:.1f} ms -> {total / t_vg / 1e6:.2f} M samples/s "
          f"[CPU {c_vg * 1e3:.1f} ms -> {total / c_vg / 1e6:.2f} M samples/s]")
    if vm is None:
        print("ventMAP: not installed (pass --ventmap-path); reference figure from the data README: "
              "about 0.6 M samples/s on this machine type")
        print(f"ratio to 0.6 M samples/s: {total / t_vg / 0.6e6:.1f}x [CPU {total / c_vg / 0.6e6:.1f}x]")
    else:
        print(f"ventMAP PB840File.extract_raw: {t_vm * 1e3:.1f} ms -> {total / t_vm / 1e6:.2f} M samples/s "
              f"[CPU {c_vm * 1e3:.1f} ms -> {total / c_vm / 1e6:.2f} M samples/s] (best of {vm_rounds}, "
              "interleaved with ventgen's runs)")
        print(f"ratio ventgen / ventMAP speed: {t_vm / t_vg:.1f}x [CPU {c_vm / c_vg:.1f}x]")
    print()
    print(f"{'file':55s} {'samples':>8s} {'ventgen ms':>11s} {'M/s':>6s}" + ("  ventMAP ms" if per_vm else ""))
    for f in files:
        line = f"{f.name:55s} {counts[f]:8d} {per_vg[f] * 1e3:11.2f} {counts[f] / per_vg[f] / 1e6:6.2f}"
        if per_vm:
            line += f"  {per_vm[f] * 1e3:10.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
