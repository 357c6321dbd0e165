"""Speed of HTVAE training: ms per step vs a plain autoencoder, and epoch times.

Prints, in one run and on one device:

* milliseconds per training step of the HTVAE (encoder, SOM chain, sigma, M+1 latents decoded in one
  call, all losses, Adam) and of the SAME encoder/decoder trained as a plain autoencoder that decodes
  (M+1) x batch latents; their ratio (target <= 1.15: the SOM machinery costs at most 15%);
* the time of one training epoch of ``ventgen.HTVAE`` (the default preset, without its flow generator) on
  1000 breath cycles (2 x 200);
* the time of one training epoch on MNIST-sized input (60000 x 1 x 28 x 28, batch 32 = 1875 steps);
  real MNIST from ../shared/data/mnist when present, else random images (same cost).

Usage::

    python benchmarks/bench_train_step.py [--device auto|cpu|cuda] [--steps 200] [--threads N]
        [--rounds 8] [--skip-mnist] [--skip-epochs] [--mnist-n 60000]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ventgen.models.estimator import HTVAE, resolve_device  # noqa: E402
from ventgen.models.htvae import HTVAEModule  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
MAPS = [(8, 8), (4, 4), (2, 2)]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_block(step, n_steps, device):
    """(wall ms/step, process-CPU ms/step) of ``n_steps`` steps."""
    sync(device)
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_steps):
        step()
    sync(device)
    return (time.perf_counter() - w0) / n_steps * 1000, (time.process_time() - c0) / n_steps * 1000


def step_ratio(input_shape, device, n_steps, batch=32, latent=16, rounds=8):
    torch.manual_seed(0)
    x = torch.rand(batch, *input_shape, device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(0)

    ht = HTVAEModule(input_shape, MAPS, latent_dim=latent, seed=0).to(device).train()
    opt_h = torch.optim.Adam(ht.parameters(), 5e-4)

    def ht_step():
        out = ht(x, generator=gen)
        opt_h.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt_h.step()

    ae = HTVAEModule(input_shape, MAPS, latent_dim=latent, seed=0).to(device).train()
    enc, dec = ae.encoder, ae.decoder
    opt_a = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 5e-4)
    reps = len(MAPS) + 1

    def ae_step():
        mu, logvar = enc(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, device=device, generator=gen)
        xr = dec(z.repeat(reps, 1)).view(reps, *x.shape)
        loss = ((xr - x.unsqueeze(0)) ** 2).flatten(2).sum(2).mean(1).sum()
        opt_a.zero_grad(set_to_none=True)
        loss.backward()
        opt_a.step()

    # interleave short blocks (alternating order) so that background-load drift hits both alike;
    # report the median over rounds of the per-round ratio, on wall time and on process CPU time
    for _ in range(10):
        ae_step()
        ht_step()
    ratios_w, ratios_c, hw, aw = [], [], [], []
    for r in range(rounds):
        order = [("a", ae_step), ("h", ht_step)] if r % 2 == 0 else [("h", ht_step), ("a", ae_step)]
        res = {k: time_block(f, n_steps, device) for k, f in order}
        ratios_w.append(res["h"][0] / res["a"][0])
        ratios_c.append(res["h"][1] / res["a"][1])
        hw.append(res["h"][0])
        aw.append(res["a"][0])
    return (
        statistics.median(hw),
        statistics.median(aw),
        statistics.median(ratios_w),
        statistics.median(ratios_c),
    )


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)


def cycles_1000(seed=0):
    """1000 synthetic breath-like cycles (flow L/min, pressure cmH2O), 2 x 200."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 200)[None, :]
    ti = rng.uniform(0.25, 0.45, (1000, 1))
    amp = rng.uniform(20, 60, (1000, 1))
    flow = np.where(t < ti, amp * np.sin(np.pi * t / ti), -amp * 0.8 * np.exp(-(t - ti) / 0.12))
    paw = 5 + np.where(t < ti, rng.uniform(10, 25, (1000, 1)), 0) + rng.normal(0, 0.3, (1000, 200))
    return np.stack([flow, paw], 1).astype(np.float32)


def epoch_time(X, device, label):
    # the HTVAE alone: the default also trains a flow generator of 6,000 steps after it (on cycles),
    # which bench_generator_train.py times
    model = HTVAE(maps=MAPS, latent_dim=16, epochs=1, device=device, random_state=0, progress=False,
                  generator="none")
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    h = model.history_[-1]
    n_steps = (len(X) + 31) // 32
    print(
        f"{label}: epoch {h['time_s']:.1f} s ({n_steps} steps, {h['time_s'] / n_steps * 1000:.1f} ms/step; "
        f"fit() wall {wall:.1f} s, process CPU {cpu:.1f} s) loss={h['loss']:.2f} rec={h['rec']:.2f} "
        f"perplexity_1={h['perplexity_1']:.1f}"
    )
    return h["time_s"]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=50, help="steps per timing block")
    ap.add_argument("--rounds", type=int, default=8, help="interleaved HTVAE/AE block pairs")
    ap.add_argument("--skip-epochs", action="store_true", help="only the per-step ratio")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument("--mnist-n", type=int, default=60000)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu x{torch.get_num_threads()} threads"
    )
    print(f"device: {device} ({name}), torch {torch.__version__}, maps {MAPS}, latent 16, batch 32")

    for shape, label in [((2, 200), "cycles 2x200"), ((1, 28, 28), "images 1x28x28")]:
        h, a, rw, rc = step_ratio(shape, device, args.steps, rounds=args.rounds)
        print(
            f"{label}: HTVAE {h:.2f} ms/step, plain AE decoding (M+1)x batch {a:.2f} ms/step (medians); "
            f"ratio HTVAE/AE, median over {args.rounds} interleaved rounds: wall {rw:.3f}, "
            f"process CPU {rc:.3f}",
            flush=True,
        )

    if args.skip_epochs:
        return
    epoch_time(cycles_1000(), device, "1000 cycles (2x200)")
    if not args.skip_mnist:
        f = MNIST / "train-images-idx3-ubyte.gz"
        if f.exists():
            X, src = read_idx_images(f)[: args.mnist_n], "MNIST"
        else:
            X, src = (
                (np.random.default_rng(0).random((args.mnist_n, 1, 28, 28)) > 0.8).astype(
                    np.float32
                ),
                "random",
            )
        epoch_time(X, device, f"{src} {X.shape[0]} x 1x28x28")


if __name__ == "__main__":
    main()
