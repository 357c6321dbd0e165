"""Speed of the simulator: seconds to simulate one hour of one patient at 50 Hz.

Target (issue 3): under 1 s per simulated hour (>= 3600x real time) on one core.

Run:  python benchmarks/sim_speed.py [--repeats 5] [--minutes 60] [--rate 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ventgen import simulate_recording


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=50.0)
    args = ap.parse_args(argv)
    simulate_recording(minutes=1, sampling_rate=args.rate, random_state=0)  # warm-up (imports)
    for mode in ("psv", "pcv", "vcv", "cpap"):
        times, cpu, breaths = [], [], []
        for seed in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            rec = simulate_recording(minutes=args.minutes, sampling_rate=args.rate, random_state=seed, mode=mode)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            breaths.append(len(rec.markers))
        t = np.array(times)
        per_hour = t * 60.0 / args.minutes
        print(f"{mode:>4}: {args.minutes:g} min at {args.rate:g} Hz: median {np.median(t):.3f} s "
              f"(min {t.min():.3f}, max {t.max():.3f}) over {args.repeats} seeds -> "
              f"{np.median(per_hour):.3f} s per simulated hour, {3600 / np.median(per_hour):.0f}x real time; "
              f"CPU time median {np.median(cpu):.3f} s; {int(np.median(breaths))} breaths, {rec.n_samples} samples")


if __name__ == "__main__":
    main()
