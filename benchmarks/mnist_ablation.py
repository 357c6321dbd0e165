"""Quick MNIST ablation of the HTVAE: where does its level-1 purity come from, and where is it lost?

Trains one HTVAE (or a plain VAE) on a random subset of the MNIST training set for a few epochs and
evaluates on the first test images:

* the HTVAE's own clustering: purity / NMI of its 8x8 / 4x4 / 2x2 node assignments;
* the quality of its latent space, separately from the maps: purity of k-means (64 clusters) and of a
  64-component full-covariance Gaussian mixture fitted to the test encodings ``mu_0``.

If k-means or the mixture on the encodings beats the maps, the maps are the bottleneck; if they do not,
the encoder is. One line of JSON per run is printed and appended to ``--out``.

    python benchmarks/mnist_ablation.py --root ../shared/data/mnist                       # defaults
    python benchmarks/mnist_ablation.py --root ../shared/data/mnist --code-lr-scale 10 --topology-weight 0.01
    python benchmarks/mnist_ablation.py --root ../shared/data/mnist --model vae
    python benchmarks/mnist_ablation.py --root ../shared/data/mnist --n 59400 --n-test 10000 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/data/mnist")
    ap.add_argument("--model", choices=("htvae", "vae"), default="htvae")
    ap.add_argument("--n", type=int, default=15000, help="training images (random subset)")
    ap.add_argument("--n-test", type=int, default=5000, help="first N test images")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--channels", default="8,16")
    ap.add_argument("--topology-weight", type=float, default=1.0)
    ap.add_argument("--hierarchy-weight", type=float, default=1.0)
    ap.add_argument("--code-lr-scale", type=float, default=1.0)
    ap.add_argument("--kl-weight", type=float, default=0.0)
    ap.add_argument("--rho", type=float, default=2.0, help="HTVAE(rho=...): sigma = neighbour distance / rho")
    ap.add_argument("--sigma-init", type=float, default=1.0, help="HTVAE(sigma_init=...): spread of the initial codes")
    ap.add_argument("--reconstruction-weights", default=None, help="level 0 first, e.g. 1,0.1,0.1,0.1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/out/mnist_ablation.jsonl")
    args = ap.parse_args(argv)

    import torch
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    import ventgen
    from ventgen.evaluate.metrics import nmi, purity
    from ventgen.io.datasets import load_mnist
    from ventgen.models.baselines import VAE

    torch.set_num_threads(args.threads)
    ventgen.set_progress(False)
    train, test = load_mnist(args.root, "train"), load_mnist(args.root, "test")
    idx = np.random.default_rng(0).permutation(len(train))[: args.n]
    X, Xt, yt = train.X[idx], test.X[: args.n_test], test.y[: args.n_test]
    channels = tuple(int(c) for c in args.channels.split(","))
    res = {k: v for k, v in vars(args).items() if k not in ("root", "out", "threads")}
    t0 = time.perf_counter()
    if args.model == "htvae":
        model = ventgen.HTVAE(
            latent_dim=args.latent_dim, channels=channels, epochs=args.epochs, random_state=args.seed,
            rho=args.rho, sigma_init=args.sigma_init,
            device="cpu", progress=False, topology_weight=args.topology_weight,
            hierarchy_weight=args.hierarchy_weight, code_lr_scale=args.code_lr_scale, kl_weight=args.kl_weight,
            reconstruction_weights=args.reconstruction_weights,
        ).fit(X)
        assign = model.assign(Xt)
        for lvl in range(assign.shape[1]):
            res[f"purity_{lvl + 1}"] = round(purity(yt, assign[:, lvl]), 4)
            res[f"nmi_{lvl + 1}"] = round(nmi(yt, assign[:, lvl]), 4)
        res["perplexity_1"] = round(float(model.history_[-1]["perplexity_1"]), 1)
    else:
        model = VAE(latent_dim=args.latent_dim, channels=channels, epochs=args.epochs, random_state=args.seed,
                    device="cpu", progress=False).fit(X)
    res["train_s"] = round(time.perf_counter() - t0, 1)
    Z = model.transform(Xt)
    res["kmeans64_purity"] = round(purity(yt, KMeans(64, n_init=3, random_state=0).fit_predict(Z)), 4)
    res["gmm64_purity"] = round(purity(yt, GaussianMixture(64, random_state=0).fit(Z).predict(Z)), 4)
    print(json.dumps(res))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
