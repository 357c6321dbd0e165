"""Flow-method breath starts on every real recording, against the ventilator's own BS marks, per file.

For every PB-840 recording in ../shared/data/pb840 and ../shared/data/ventmode (or the folders given
with --data), this runs ``segment_breaths(method="flow")`` (the marks are ignored) and prints one row
per file: the number of ventilator marks, of breath starts found (between the first and the last mark
+- the tolerance, since a file can begin or end in the middle of a breath), of one-to-one matches
within +-0.1 s, precision and recall; then the pooled figures and the worst file.

``--misses N`` also prints, for the worst file (or the first file whose name holds ``--file``), the
first N misses (marks without a detection and detections without a mark) with the flow and pressure
around them, after a count of each kind by where the nearest detection (for a mark) or mark (for a
detection) lies: within 0.3 s before, within 0.3 s after, or none within 0.3 s.

Run:  python benchmarks/eval_segment_real.py [--data DIR ...] [--tol-s 0.1] [--misses 0] [--file TEXT]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import ventgen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from eval_segment_pb840 import score_starts  # noqa: E402

DATA = [ROOT.parent / "shared" / "data" / "pb840", ROOT.parent / "shared" / "data" / "ventmode"]


def recordings(folders):
    """The PB-840 text recordings of the folders (label tables and references left out)."""
    out = []
    for d in folders:
        if not d.is_dir():
            print(f"(skipped: {d} is absent)")
            continue
        out += sorted(p for p in d.iterdir() if p.is_file() and ("test" in p.name or
                      (p.suffix == ".csv" and not p.name.endswith(".modes.csv"))))
    return out


def short_name(name: str) -> str:
    """The file name with a 32-hex patient prefix cut to 6 characters."""
    return re.sub(r"^([0-9a-f]{6})[0-9a-f]{26}", r"\1", name)[:48]


def evaluate(path: Path, tol_s: float):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = ventgen.read_recording(path)
        t0 = time.perf_counter()
        df = ventgen.segment_breaths(rec, method="flow")
        elapsed = time.perf_counter() - t0
    _, marks, _, found, m, tp = score_starts(rec, df["start_idx"].to_numpy(), tol_s)
    row = {"file": short_name(path.name), "minutes": rec.duration_s / 60, "marks": marks.size, "found": found.size,
           "tp": tp, "precision": tp / max(found.size, 1), "recall": tp / max(marks.size, 1), "seconds": elapsed}
    used = np.zeros(found.size, bool)
    used[m[m >= 0]] = True
    return row, rec, marks[m < 0], found[~used], found


def _offsets(idx, ref, rate):
    """Counts of ``idx`` by where the nearest ``ref`` lies: (<= 0.3 s before, <= 0.3 s after, none)."""
    if idx.size == 0 or ref.size == 0:
        return 0, 0, int(idx.size)
    j = np.clip(np.searchsorted(ref, idx), 1, ref.size - 1) if ref.size > 1 else np.zeros(idx.size, int)
    cand = np.stack([ref[np.maximum(j - 1, 0)], ref[j]], axis=1) - idx[:, None]
    d = cand[np.arange(idx.size), np.argmin(np.abs(cand), axis=1)]
    w = 0.3 * rate
    return int(((d < 0) & (d >= -w)).sum()), int(((d > 0) & (d <= w)).sum()), int((np.abs(d) > w).sum())


def show_misses(rec, missed, extra, n, rate, found=None):
    """The signals around the first ``n`` misses of each kind, 1 s before to 1.5 s after, every 2nd sample."""
    marks = rec.markers["start_idx"].to_numpy()
    for kind, idx, ref, what in (("mark without detection", missed, found, "detection"),
                                 ("detection without mark", extra, marks, "mark")):
        print(f"\n{kind}: {idx.size}")
        if ref is not None:
            b, a, none = _offsets(idx, ref, rate)
            print(f"  nearest {what} within 0.3 s before: {b}, within 0.3 s after: {a}, none within 0.3 s: {none}")
        for i in idx[:n]:
            a, b = max(0, i - int(rate)), min(rec.n_samples, i + int(1.5 * rate))
            print(f"  at sample {i} ({i / rate:.2f} s); flow / pressure from -1 s, every 0.04 s:")
            print("   F " + " ".join(f"{v:5.0f}" for v in rec.flow[a:b:2]))
            print("   P " + " ".join(f"{v:5.1f}" for v in rec.pressure[a:b:2]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+", default=DATA)
    ap.add_argument("--tol-s", type=float, default=0.1)
    ap.add_argument("--misses", type=int, default=0)
    ap.add_argument("--file", default=None, help="with --misses: show this file (a part of its name)")
    args = ap.parse_args(argv)
    files = recordings(args.data)
    if not files:
        raise SystemExit(f"no recordings in {[str(d) for d in args.data]}")
    results = [evaluate(p, args.tol_s) for p in files]
    t = pd.DataFrame([r[0] for r in results])
    pd.set_option("display.width", 250)
    print(t.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    tp, nm, nf = t["tp"].sum(), t["marks"].sum(), t["found"].sum()
    print(f"\npooled over {len(t)} files, {nm} ventilator breaths, {t['minutes'].sum() / 60:.2f} h: "
          f"precision {tp / nf:.4f}  recall {tp / nm:.4f}  (tolerance +-{args.tol_s} s)")
    print(f"min per file: precision {t['precision'].min():.4f}, recall {t['recall'].min():.4f}; "
          f"files with P or R < 0.99: {int(((t['precision'] < 0.99) | (t['recall'] < 0.99)).sum())}")
    if args.misses:
        k = int(np.argmin(np.minimum(t["precision"], t["recall"])))
        if args.file:
            hits = [i for i, p in enumerate(files) if args.file in p.name]
            if not hits:
                raise SystemExit(f"--file {args.file!r}: no recording name holds it")
            k = hits[0]
        _, rec, missed, extra, found = results[k]
        print(f"\n{'file' if args.file else 'worst file'}: {files[k].name}")
        show_misses(rec, missed, extra, args.misses, rec.sampling_rate, found)


if __name__ == "__main__":
    main()
