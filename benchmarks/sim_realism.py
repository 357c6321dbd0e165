"""Realism of the simulator: per-breath metadata of simulated breaths vs real PB-840 breaths.

For simulated breaths the metadata is computed here from the TRUE breath markers of the simulator
(start, first expiratory sample, end), with ventMAP's definitions as far as they are documented in
../shared/data/README.md: RR = 60 / breath duration, iTime = inspiration duration, TVi = integral of
the inspiratory flow, PIP = highest inspiratory pressure, PEEP = mean pressure of the last 5 samples
of the breath, maxF / minF = extreme flows. The inspiration end is given two ways: the ventilator's
cycling sample (``insp_end_idx``) and ventMAP's flow zero crossing (first sample with flow <= 0
after the start), which is the definition the reference tables use.

The real side is the reference breath tables of the PB-840 recordings
(``../shared/data/pb840/reference/*.breaths.csv``: ventMAP 1.5.3 metadata of 717 ICU breaths).

Printed: 5 % / 50 % / 95 % quantiles of each quantity for simulated normal breathing (default cohort:
3 subjects x 60 min, seeds as given), for all simulated breaths, and for the real breaths; then
whether the medians of each side fall inside the other's 5-95 % range. When
``ventgen.segment_breaths`` is available, the script also checks the segmenter's flow-only breath
starts against the true starts (precision / recall within +-0.1 s).

Run:  python benchmarks/sim_realism.py [--subjects 3] [--minutes 60] [--seed 0] [--pb840 DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ventgen import VENTILATION_CLASSES, simulate_cohort

QUANTS = (0.05, 0.5, 0.95)
COLS = {"rr_bpm": "inst_RR", "itime_s": "iTime", "tvi_ml": "tvi", "pip_cmh2o": "PIP",
        "peep_cmh2o": "PEEP", "max_flow_lpm": "maxF", "min_flow_lpm": "minF", "ie_ratio": "I:E ratio"}


def breath_table(rec) -> pd.DataFrame:
    """Per-breath metadata from the simulator's true markers (vectorised over breaths)."""
    m = rec.markers
    rate = rec.sampling_rate
    st = m["start_idx"].to_numpy()
    en = m["end_idx"].to_numpy()
    ie_cyc = m["insp_end_idx"].to_numpy()
    f, p = rec.flow, rec.pressure
    # ventMAP-style inspiration end: first sample with flow <= 0 after the start (at least 2 samples in)
    nonpos = np.flatnonzero(f <= 0)
    k = np.searchsorted(nonpos, st + 2)
    x0 = np.where(k < nonpos.size, nonpos[np.minimum(k, nonpos.size - 1)], en)
    x0 = np.minimum(x0, en - 1)
    cs = np.concatenate(([0.0], np.cumsum(f))) / rate / 60.0 * 1000.0
    red_max_f = np.maximum.reduceat(f, st)
    red_min_f = np.minimum.reduceat(f, st)
    # reduceat over [st, next st) = [st, en) since breaths are contiguous; last one runs to the end
    pip = np.array([p[a:b].max() for a, b in zip(st, np.maximum(x0, st + 1), strict=True)])
    peep = np.array([p[b - 5:b].mean() for b in en])
    dur = (en - st) / rate
    itime = (x0 - st) / rate
    df = pd.DataFrame({
        "subject": rec.subject,
        "label": np.asarray(VENTILATION_CLASSES, dtype=object)[m["label_code"].to_numpy()],
        "mandatory": m["mandatory"].to_numpy(),
        "rr_bpm": 60.0 / dur,
        "itime_s": itime,
        "itime_cycling_s": (ie_cyc - st) / rate,
        "tvi_ml": cs[x0] - cs[st],
        "tve_ml": cs[x0] - cs[en],
        "pip_cmh2o": pip,
        "peep_cmh2o": peep,
        "max_flow_lpm": red_max_f,
        "min_flow_lpm": red_min_f,
        "ie_ratio": itime / np.maximum(dur - itime, 1e-9),
    })
    return df.iloc[:-1]  # the last breath is cut by the end of the recording


def real_table(pb840: Path) -> pd.DataFrame:
    frames = []
    for f in sorted((pb840 / "reference").glob("*.breaths.csv")):
        d = pd.read_csv(f)
        d = d.rename(columns={v: k for k, v in COLS.items()})
        d["subject"] = f.name.split(".")[0]
        frames.append(d[["subject", *COLS]])
    return pd.concat(frames, ignore_index=True)


def quantile_table(sim_n: pd.DataFrame, sim_all: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for c in COLS:
        r = {"quantity": c}
        for name, d in (("sim normal", sim_n), ("sim all", sim_all), ("real PB-840", real)):
            q = d[c].quantile(QUANTS).to_numpy()
            r[name] = f"{q[0]:8.2f} {q[1]:8.2f} {q[2]:8.2f}"
        qs, qr = sim_n[c].quantile(QUANTS).to_numpy(), real[c].quantile(QUANTS).to_numpy()
        r["sim median in real 5-95"] = bool(qr[0] <= qs[1] <= qr[2])
        r["real median in sim 5-95"] = bool(qs[0] <= qr[1] <= qs[2])
        r["5-95 ranges overlap"] = bool(max(qs[0], qr[0]) <= min(qs[2], qr[2]))
        rows.append(r)
    return pd.DataFrame(rows).set_index("quantity")


def segmenter_check(recs) -> str:
    try:
        from ventgen import segment_breaths
    except ImportError:
        return "ventgen.segment_breaths not available: segmenter check skipped"
    tp = n_true = n_found = 0
    tol = None
    t0 = time.perf_counter()
    for rec in recs:
        tol = int(round(0.1 * rec.sampling_rate))
        found = segment_breaths(rec, method="flow")["start_idx"].to_numpy()
        true = rec.markers["start_idx"].to_numpy()
        j = np.searchsorted(found, true)
        lo = np.abs(true - found[np.clip(j - 1, 0, found.size - 1)])
        hi = np.abs(found[np.clip(j, 0, found.size - 1)] - true)
        tp += int(np.sum(np.minimum(lo, hi) <= tol))
        n_true += true.size
        n_found += found.size
    dt = time.perf_counter() - t0
    return (f"segment_breaths(method='flow') vs true starts (+-0.1 s): precision {tp / max(n_found, 1):.3f}, "
            f"recall {tp / max(n_true, 1):.3f} ({n_found} found, {n_true} true; {dt:.1f} s)")


def main(argv=None):
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", default="psv")
    ap.add_argument("--interface", default="mask")
    ap.add_argument("--pb840", default=str(here.parent.parent / "shared" / "data" / "pb840"))
    ap.add_argument("--csv", default=str(here / "out" / "sim_realism.csv"), help="where the quantile table goes")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    # the PB-840 files are different ICU patients: settings drawn and titrated per patient
    recs = simulate_cohort(args.subjects, args.minutes, 50, args.seed, mode=args.mode, progress=False,
                           interface=args.interface, shared_settings=False)
    t_sim = time.perf_counter() - t0
    sim = pd.concat([breath_table(r) for r in recs], ignore_index=True)
    sim_n = sim[(sim["label"] == "normal breathing") & (sim["mandatory"] == 0)]
    real = real_table(Path(args.pb840))
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(f"simulated: {args.subjects} subjects x {args.minutes:g} min (seed {args.seed}, mode {args.mode}) "
          f"in {t_sim:.2f} s; {len(sim)} breaths, {len(sim_n)} normal spontaneous")
    print(f"real: {len(real)} breaths in {real['subject'].nunique()} PB-840 files ({args.pb840})")
    print("\nper-subject settings:")
    for r in recs:
        p, s = r.metadata["patient"], r.metadata["settings"]
        print(f"  {r.subject}: {p['phenotype']:<11} C {p['compliance_ml_cmh2o']:.0f} mL/cmH2O, "
              f"R {p['resistance_cmh2o_l_s']:.1f} cmH2O/L/s, RR {p['rr_bpm']:.1f}, effort {p['effort_cmh2o']:.1f}; "
              f"PEEP {s['peep']:.0f}, PS {s['support']:.0f}, cycle {s['cycle_fraction']:.2f}, backup {s['backup_rate_bpm']:.0f}")
    tab = quantile_table(sim_n, sim, real)
    print("\nquantiles 5% / 50% / 95%:")
    print(tab.to_string())
    print("\nper class (simulated, medians):")
    print(sim.groupby("label")[["rr_bpm", "itime_s", "tvi_ml", "pip_cmh2o", "peep_cmh2o", "max_flow_lpm",
                                 "min_flow_lpm"]].median().round(2).to_string())
    print("\nper real file (medians):")
    print(real.groupby("subject")[list(COLS)].median().round(2).to_string())
    print("\n" + segmenter_check(recs))
    out = Path(args.csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    tab.to_csv(out)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
