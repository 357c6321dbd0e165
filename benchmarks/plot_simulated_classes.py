"""One simulated example of every class: flow and pressure around an event.

Run:  python benchmarks/plot_simulated_classes.py [--seed 0] [--out benchmarks/out/simulated_classes.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ventgen import VENTILATION_CLASSES  # noqa: E402
from ventgen.signals.simulate import simulate_recording  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "simulated_classes.png"))
    args = ap.parse_args(argv)
    rec = simulate_recording(minutes=args.minutes, random_state=args.seed)
    rate = rec.sampling_rate
    ann = rec.annotations
    fig, axes = plt.subplots(len(VENTILATION_CLASSES), 1, figsize=(12, 2.1 * len(VENTILATION_CLASSES)))
    for ax, label in zip(axes, VENTILATION_CLASSES, strict=True):
        rows = ann[ann["label"] == label]
        if not len(rows):
            ax.set_title(f"{label}: absent")
            continue
        r = rows.iloc[len(rows) // 2]
        mid = 0.5 * (r.start_s + r.end_s)
        t0 = max(0.0, min(r.start_s - 4, mid - 12))
        t1 = min(rec.duration_s, max(r.end_s + 4, t0 + 24))
        t1 = min(t1, t0 + 40)
        i0, i1 = int(t0 * rate), int(t1 * rate)
        t = np.arange(i0, i1) / rate
        ax.plot(t, rec.flow[i0:i1], lw=0.8, color="tab:blue")
        # scale to the event itself (a neighbouring cough would otherwise flatten everything)
        e0, e1 = int(max(r.start_s, t0) * rate), int(min(r.end_s, t1) * rate)
        lo, hi = rec.flow[e0:e1].min(), rec.flow[e0:e1].max()
        pad = 0.1 * (hi - lo) + 1.0
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel("flow L/min", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(t, rec.pressure[i0:i1], lw=0.8, color="tab:red")
        plo, phi = rec.pressure[e0:e1].min(), rec.pressure[e0:e1].max()
        ax2.set_ylim(plo - 0.1 * (phi - plo) - 0.5, phi + 0.1 * (phi - plo) + 0.5)
        ax2.set_ylabel("Paw cmH2O", color="tab:red")
        ax.axvspan(max(r.start_s, t0), min(r.end_s, t1), color="0.9", zorder=0)
        mk = rec.markers
        st = mk["start_idx"].to_numpy()
        sel = (st >= i0) & (st < i1)
        for s in st[sel]:
            ax.axvline(s / rate, color="k", lw=0.4, ls=":")
        ax.set_title(f"{label} ({r.end_s - r.start_s:.0f} s, shaded); dotted = true breath starts", fontsize=9)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
