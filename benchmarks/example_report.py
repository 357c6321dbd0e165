"""Build an example run report from synthetic inputs only (no training, no other room's code).

Writes benchmarks/out/example_report/ (index.html, figures/, metrics.json) and prints the time it
took. Used to check the page in a real browser::

    python benchmarks/example_report.py
    chromium --headless --no-sandbox --disable-gpu --screenshot=shot.png --window-size=1400,4000 \
        file://$PWD/benchmarks/out/example_report/index.html

The "model" here is a stand-in with the HTVAE interface (maps, tree_, assign, reconstruct, sample,
history_): level-1 nodes bin the first two principal components of the cycles on an 8x8 lattice and
every coarser level halves it, so the SOM figures show real class structure.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ventgen import VENTILATION_CLASSES
from ventgen.report import write_run_report

RATE = 25.0  # cycle sampling rate, Hz
T = 200


def synthetic_breaths(n: int, rng: np.random.Generator):
    """Flow/pressure cycles with class-dependent shapes, in L/min and cmH2O, plus metadata."""
    shares = np.array([0.45, 0.07, 0.05, 0.08, 0.08, 0.04, 0.06, 0.06, 0.06, 0.05])
    y = rng.choice(np.array(VENTILATION_CLASSES, dtype=object), size=n, p=shares / shares.sum())
    t = np.arange(T) / RATE
    X = np.zeros((n, 2, T), dtype=np.float32)
    rows = []
    for i, cls in enumerate(y):
        ti = rng.normal(1.1, 0.12)
        te = rng.normal(2.4, 0.3)
        amp = rng.normal(38, 4)
        peep = rng.normal(5, 0.4)
        pip = rng.normal(14, 1.2)
        if cls == "apnea":
            amp, te = amp * 0.25, te * 1.8
        elif cls == "snoring":
            amp *= 0.9
        elif cls == "coughing":
            amp, ti = amp * 1.7, ti * 0.6
        elif cls in ("speaking", "swallowing"):
            te *= 0.7
        elif cls in ("turning left", "turning right", "lying down", "knees to chest"):
            pip += 2.5
            amp *= 1.15
        ttot = ti + te
        insp = t < ti
        exp_ = (t >= ti) & (t < ttot)
        f = np.where(insp, amp * np.sin(np.pi * t / ti), 0.0)
        f = f + np.where(exp_, -amp * 1.2 * np.exp(-(t - ti) / 0.45) * (1 - np.exp(-(t - ti) / 0.08)), 0.0)
        if cls == "snoring":
            f = f + insp * 4 * np.sin(2 * np.pi * 9 * t)
        p = peep + np.where(insp, (pip - peep) * (1 - np.exp(-t / 0.15)), (pip - peep) * np.exp(-(t - ti) / 0.12))
        end = int(min(T, ttot * RATE))
        f[end:] = f[end - 1] if end else 0
        p[end:] = p[end - 1] if end else peep
        X[i, 0] = f + rng.normal(0, 0.6, T)
        X[i, 1] = p + rng.normal(0, 0.15, T)
        rows.append({"rr_bpm": 60 / ttot, "itime_s": ti, "tvi_ml": amp * ti / 60 * 1000 * 2 / np.pi,
                     "pip_cmh2o": pip, "peep_cmh2o": peep})
    return X, y, pd.DataFrame(rows)


class StandInModel:
    """The HTVAE interface over a fixed 2-D PCA binning (for report checks only)."""

    def __init__(self, X, maps=((8, 8), (4, 4), (2, 2)), random_state=0):
        self.maps = [tuple(m) for m in maps]
        flat = X.reshape(len(X), -1).astype(np.float64)
        self._mean = flat.mean(0)
        self._std = flat.std(0) + 1e-6
        u, s, vt = np.linalg.svd((flat - self._mean) / self._std, full_matrices=False)
        self._pc = vt[:2]
        proj = self._proj(X)
        self._lo, self._hi = np.percentile(proj, 1, axis=0), np.percentile(proj, 99, axis=0)
        self._shape = X.shape[1:]
        self.tree_ = []
        for (h, w), (h2, w2) in zip(self.maps[:-1], self.maps[1:], strict=True):
            k = np.arange(h * w)
            r, c = k // w, k % w
            self.tree_.append((r * h2 // h) * w2 + c * w2 // w)
        a = self.assign(X)
        self._means = []
        for lvl, (h, w) in enumerate(self.maps):
            m = np.zeros((h * w, *self._shape))
            for k in range(h * w):
                sel = a[:, lvl] == k
                m[k] = X[sel].mean(0) if sel.any() else X.mean(0)
            self._means.append(m)
        self.history_ = [
            {"epoch": e + 1, "loss": 9.0 * np.exp(-e / 5) + 1.2, "rec": 7.0 * np.exp(-e / 5) + 1.0,
             "hier": 1.5 * np.exp(-e / 4) + 0.15, "topo": 0.4 * np.exp(-e / 7) + 0.05, "must_link": 0.3 / (e + 1),
             "perplexity_1": 10 + 35 * (1 - np.exp(-e / 4)), "perplexity_2": 5 + 8 * (1 - np.exp(-e / 4)),
             "perplexity_3": 2.5 + 1.2 * (1 - np.exp(-e / 3)), "time_s": 4.0}
            for e in range(20)]

    def _proj(self, X):
        flat = (np.asarray(X).reshape(len(X), -1) - self._mean) / self._std
        return flat @ self._pc.T

    def assign(self, X):
        u = np.clip((self._proj(X) - self._lo) / (self._hi - self._lo), 0, 0.999)
        cols = []
        for h, w in self.maps:
            cols.append((u[:, 1] * h).astype(int) * w + (u[:, 0] * w).astype(int))
        return np.stack(cols, axis=1)

    def reconstruct(self, X, level=0):
        X = np.asarray(X)
        if level == 0:
            return X + np.random.default_rng(0).normal(0, 1.0, X.shape).astype(X.dtype)
        return self._means[level - 1][self.assign(X)[:, level - 1]].astype(np.float32)

    def sample(self, level, node, n, random_state=None):
        rng = np.random.default_rng(random_state)
        base = self._means[level - 1][node]
        scale = rng.normal(1.0, 0.08, (n, 1, 1))
        return (base[None] * scale + rng.normal(0, 0.5, (n, *self._shape))).astype(np.float32)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=str(Path(__file__).parent / "out" / "example_report"))
    ap.add_argument("-n", type=int, default=3000, help="number of synthetic breaths")
    ap.add_argument("--embed", action="store_true", help="embed the figures in the page")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    X, y, meta = synthetic_breaths(args.n, rng)
    model = StandInModel(X)
    # a recording: concatenate breaths of a few classes, annotate the events
    seq = np.concatenate([np.flatnonzero(y == "normal breathing")[:15], np.flatnonzero(y == "apnea")[:6],
                          np.flatnonzero(y == "normal breathing")[15:25], np.flatnonzero(y == "coughing")[:4],
                          np.flatnonzero(y == "normal breathing")[25:40]])
    flows, press, ann, t = [], [], [], 0.0
    for i in seq:
        L = int(round(60 / meta["rr_bpm"][i] * RATE))
        flows.append(X[i, 0, :L])
        press.append(X[i, 1, :L])
        if y[i] != "normal breathing":
            ann.append({"start_s": t, "end_s": t + L / RATE, "label": y[i]})
        t += L / RATE

    class Rec:
        flow = np.concatenate(flows)
        pressure = np.concatenate(press)
        sampling_rate = RATE
        subject = "example-subject"
        annotations = pd.DataFrame(ann).groupby((pd.DataFrame(ann)["label"] != pd.DataFrame(ann)["label"].shift()).cumsum()).agg(
            start_s=("start_s", "min"), end_s=("end_s", "max"), label=("label", "first")).reset_index(drop=True)
        duration_s = len(np.concatenate(flows)) / RATE

    class Cycles:
        pass

    cyc = Cycles()
    cyc.X, cyc.labels, cyc.sampling_rate, cyc.channels, cyc.breaths = X, y, RATE, ["flow_lpm", "paw_cmh2o"], meta
    cyc.subjects = np.array(["s1", "s2", "s3"])[rng.integers(0, 3, len(X))]
    Xs, ys, meta_s = synthetic_breaths(2000, np.random.default_rng(1))
    meta_s["tvi_ml"] *= 1.04
    manifest = pd.DataFrame({"patient": rng.integers(0, 4, 2000), "label": rng.choice(
        ["normal breathing", "apnea", "snoring"], 2000, p=[0.5, 0.25, 0.25])})
    levels = pd.DataFrame({"level": [1, 2, 3], "K": [64, 16, 4], "purity": [0.71, 0.58, 0.52],
                           "nmi": [0.44, 0.39, 0.31], "accuracy": [0.42, 0.47, 0.5]})
    page = write_run_report(
        args.out, model=model, cycles=cyc, recording=Rec(), level_report=levels,
        metrics={"test": {"purity": 0.712, "nmi": 0.441, "accuracy": 0.395, "dtree": 2.97}},
        cohort=(([Rec()]), manifest), real_breaths=meta, synthetic_breaths=meta_s,
        fidelity={"tstr_accuracy": 0.81, "trtr_accuracy": 0.88, "discriminative_score": 0.09,
                  "memorisation_ok": True},
        config={"maps": [(8, 8), (4, 4), (2, 2)], "latent_dim": 16, "epochs": 20, "seed": 0},
        notes="Example report built from synthetic breaths and a stand-in model (no training): it shows "
              "every section of a run report. Numbers here mean nothing.",
        overwrite=True, embed_images=args.embed, strict=True)
    print(f"wrote {page} in {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
