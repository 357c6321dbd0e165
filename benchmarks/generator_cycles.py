"""Cycle-level realism of the conditional generator against the HTVAE decoder (issue 16 development).

Simulates a cohort, segments it, trains an HTVAE (or reuses one), trains the flow-matching generator
conditioned on the HTVAE latent and length, then scores with the discriminative score (random forest
on cycle features, 5-fold, class-matched): real breaths of one half against (a) the other half (the
floor), (b) the decoder's reconstructions of the other half, edge-padded at the true length, (c) the
generator's samples for the other half's latents and lengths.

    python benchmarks/generator_cycles.py --minutes 20 --epochs 10 --steps 2000
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import ventgen
from ventgen.evaluate.fidelity import cycle_features, discriminative_score
from ventgen.models.generator import FlowNet, edge_pad, flow_matching_loss, length_mask, sample_flow


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sample-steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cycles", default=None, help="a CycleSet to use instead of simulating")
    ap.add_argument("--target", choices=("cycle", "residual"), default="cycle",
                    help="learn the cycle itself, or its residual from the decoder's mean (scaled per channel)")
    ap.add_argument("--pad-loss", action="store_true",
                    help="train on the whole edge-padded cycle (the padding repeats the last sample) instead of "
                         "inside the breath only")
    ap.add_argument("--out", default="benchmarks/out/generator_cycles")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ventgen.set_progress(False)
    warnings.simplefilter("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    if args.cycles:
        cycles = ventgen.read_cycleset(args.cycles)
    else:
        recs = ventgen.simulate_cohort(n_subjects=args.subjects, minutes=args.minutes, random_state=args.seed)
        cycles = ventgen.CycleSet.concatenate([ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs])
    X = np.asarray(cycles.X, np.float32)
    L = np.asarray(cycles.lengths)
    y = np.asarray(cycles.labels).astype(str) if cycles.labels is not None else np.zeros(len(X), str)
    n, C, T = X.shape
    print(f"cycles {X.shape}")
    mpath = out / f"htvae_{n}_{args.epochs}.pt"
    t0 = time.perf_counter()
    if mpath.is_file():
        model = ventgen.HTVAE.load(mpath)
    else:
        model = ventgen.HTVAE(epochs=args.epochs, random_state=args.seed, device="cpu", progress=False).fit(cycles)
        model.save(mpath)
    print(f"htvae {time.perf_counter() - t0:.0f} s")
    Z, _ = model.encode(X)
    M = model.decode(Z)  # mean cycles, original units

    inside = length_mask(torch.from_numpy(L), T).numpy()[:, 0]
    mu = np.array([X[:, c][inside > 0].mean() for c in range(C)], np.float32)
    sd = np.array([X[:, c][inside > 0].std() for c in range(C)], np.float32)

    def norm(a):
        return (a - mu[None, :, None]) / sd[None, :, None]

    zmu, zsd = Z.mean(0), Z.std(0) + 1e-6
    cond = np.c_[(Z - zmu) / zsd, L[:, None] / T].astype(np.float32)
    Xn, Mn = torch.from_numpy(norm(X)), torch.from_numpy(norm(M).astype(np.float32))
    rs = 1.0
    if args.target == "residual":  # x1 = (x - mean) / residual scale; the mean is added back after sampling
        rs = float((Xn - Mn).std())
        Xn = (Xn - Mn) / rs
    print(f"target {args.target} (scale {rs:.3f})")
    mask, cnd = length_mask(torch.from_numpy(L), T), torch.from_numpy(cond)

    net = FlowNet(C, cond.shape[1], width=args.width)
    print(f"generator parameters: {sum(p.numel() for p in net.parameters()):,}")
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    net.train()
    run = 0.0
    for step in range(args.steps):
        idx = torch.randint(0, n, (args.batch,), generator=g)
        lm = torch.ones_like(mask[idx]) if args.pad_loss else None
        loss = flow_matching_loss(net, Xn[idx], Mn[idx], mask[idx], cnd[idx], generator=g, loss_mask=lm)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        run = 0.98 * run + 0.02 * loss.item() if step else loss.item()
        if (step + 1) % max(1, args.steps // 10) == 0:
            print(f"  step {step + 1}: loss {run:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    net.eval()

    half = rng.permutation(n)
    a, b = half[: n // 2], half[n // 2:]
    t0 = time.perf_counter()
    G = torch.cat([sample_flow(net, Mn[b][i:i + 512], mask[b][i:i + 512], cnd[b][i:i + 512],
                               steps=args.sample_steps, generator=g) for i in range(0, len(b), 512)]).numpy()
    print(f"sampled {len(b)} in {time.perf_counter() - t0:.1f} s")
    if args.target == "residual":
        G = G * rs + Mn[b].numpy()
    G = edge_pad(G * sd[None, :, None] + mu[None, :, None], L[b])
    R = edge_pad(M[b], L[b])
    rows = {}
    for name, S in (("real half (floor)", X[b]), ("decoder mean", R), ("flow generator", G)):
        d = discriminative_score(cycle_features(X[a]), cycle_features(S), y[a], y[b], random_state=args.seed)
        rows[name] = d["score"]
        print(f"{name:20s} discriminative {d['score']:.3f} (accuracy {d['accuracy']:.3f}, n {d['n_per_side']})")
    rmse = np.sqrt(((G - X[b]) ** 2).mean(axis=(0, 2)))
    print("generator RMSE to its own breath per channel:", rmse.round(2), " decoder:",
          np.sqrt(((R - X[b]) ** 2).mean(axis=(0, 2))).round(2))
    _explain(X[a], G, T)
    np.save(out / "samples.npy", G[:50])
    np.save(out / "real.npy", X[b][:50])
    return rows


def _explain(real, synth, T, step=4, top=8):
    """What gives the generated breaths away: the forest's most important features, with both means."""
    from sklearn.ensemble import RandomForestClassifier

    n = min(len(real), len(synth))
    F = np.r_[cycle_features(real[:n]), cycle_features(synth[:n])]
    y = np.r_[np.zeros(n), np.ones(n)]
    rf = RandomForestClassifier(100, max_depth=8, random_state=0, n_jobs=1).fit(F, y)
    per = (T + step - 1) // step
    for j in np.argsort(rf.feature_importances_)[::-1][:top]:
        ch, t = divmod(int(j), per)
        print(f"  feature ch{ch} t={t * step:3d}: importance {rf.feature_importances_[j]:.3f}; real "
              f"{F[:n, j].mean():8.3f} +- {F[:n, j].std():.3f}, generated {F[n:, j].mean():8.3f} +- {F[n:, j].std():.3f}")


if __name__ == "__main__":
    main()
