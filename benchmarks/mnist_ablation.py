"""Quick clustering ablation of the HTVAE on MNIST or sklearn digits: where does its level-1 purity come from?

Trains one HTVAE (or a plain VAE) on a random subset of the training set for a few epochs and evaluates
on the first test images:

* the HTVAE's own clustering: purity / NMI / unsupervised accuracy of its node assignments per level;
* the quality of its latent space, separately from the maps: purity of k-means (K_1 clusters) and of a
  K_1-component full-covariance Gaussian mixture fitted to the test encodings ``mu_0``.

If k-means or the mixture on the encodings beats the maps, the maps are the bottleneck; if they do not,
the encoder is. One line of JSON per run is printed and appended to ``--out``. Any ``ventgen.HTVAE``
parameter can be set with ``--param key=value`` (values parsed as JSON when they parse, e.g.
``--param channels=[16,32]``); ``--preset`` chooses where the others come from (default "paper").

    python benchmarks/mnist_ablation.py --root ../shared/data/mnist                       # defaults
    python benchmarks/mnist_ablation.py --root ../shared/data/mnist --code-lr-scale 10 --topology-weight 0.01
    python benchmarks/mnist_ablation.py --n 10000 --n-test 5000 --epochs 5 --param covariance=diagonal
    python benchmarks/mnist_ablation.py --dataset digits --epochs 30 --maps 4x4,2x2 --param warmup_fraction=0.2
    python benchmarks/mnist_ablation.py --root ../shared/data/mnist --model vae
    python benchmarks/mnist_ablation.py --root ../shared/data/mnist --n 59400 --n-test 10000 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _params(args) -> dict:
    """The HTVAE parameters: the explicit options that were given, then every --param."""
    p = {}
    for name in ("topology_weight", "hierarchy_weight", "code_lr_scale", "kl_weight", "rho", "sigma_init",
                 "reconstruction_weights"):
        if getattr(args, name) is not None:
            p[name] = getattr(args, name)
    for kv in args.param:
        k, _, v = kv.partition("=")
        p[k.strip()] = _value(v.strip())
    if "channels" in p:
        p["channels"] = tuple(p["channels"])
    return p


def _data(args):
    from ventgen.evaluate.datasets import load_dataset

    name = args.dataset
    train = load_dataset(name, args.root if name != "digits" else None, "train")
    test = load_dataset(name, args.root if name != "digits" else None, "test")
    idx = np.random.default_rng(0).permutation(len(train))[: args.n]
    return train.X[idx], test.X[: args.n_test], np.asarray(test.y)[: args.n_test]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=("mnist", "digits"), default="mnist")
    ap.add_argument("--root", default="../shared/data/mnist")
    ap.add_argument("--model", choices=("htvae", "vae"), default="htvae")
    ap.add_argument("--preset", default="paper", help="HTVAE preset the parameters not given come from")
    ap.add_argument("--n", type=int, default=15000, help="training images (random subset)")
    ap.add_argument("--n-test", type=int, default=5000, help="first N test images")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--maps", default="8x8,4x4,2x2")
    ap.add_argument("--channels", default=None, help="conv widths, e.g. 16,32 (default: the networks' default)")
    ap.add_argument("--topology-weight", type=float, default=None)
    ap.add_argument("--hierarchy-weight", type=float, default=None)
    ap.add_argument("--code-lr-scale", type=float, default=None)
    ap.add_argument("--kl-weight", type=float, default=None)
    ap.add_argument("--rho", type=float, default=None, help="HTVAE(rho=...): sigma = neighbour distance / rho")
    ap.add_argument("--sigma-init", type=float, default=None, help="HTVAE(sigma_init=...): spread of the initial codes")
    ap.add_argument("--reconstruction-weights", default=None, help="level 0 first, e.g. 1,0.1,0.1,0.1")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="any HTVAE parameter")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="", help="free text stored with the result")
    ap.add_argument("--out", default="benchmarks/out/mnist_ablation.jsonl")
    args = ap.parse_args(argv)

    import torch
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    import ventgen
    from ventgen.evaluate.metrics import nmi, purity, unsupervised_accuracy
    from ventgen.models._checks import parse_maps
    from ventgen.models.baselines import VAE

    torch.set_num_threads(args.threads)
    ventgen.set_progress(False)
    X, Xt, yt = _data(args)
    maps = parse_maps(args.maps)
    channels = None if args.channels is None else tuple(int(c) for c in args.channels.split(","))
    params = _params(args)
    res = {k: v for k, v in vars(args).items() if k not in ("root", "out", "threads", "param")}
    res["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    t0 = time.perf_counter()
    if args.model == "htvae":
        model = ventgen.HTVAE(maps=maps, latent_dim=args.latent_dim, channels=channels, epochs=args.epochs,
                              random_state=args.seed, device="cpu", progress=False, preset=args.preset,
                              **params).fit(X)
        assign = model.assign(Xt)
        for lvl in range(assign.shape[1]):
            res[f"purity_{lvl + 1}"] = round(purity(yt, assign[:, lvl]), 4)
            res[f"nmi_{lvl + 1}"] = round(nmi(yt, assign[:, lvl]), 4)
            res[f"acc_{lvl + 1}"] = round(unsupervised_accuracy(yt, assign[:, lvl]), 4)
        res["used_1"] = int(np.unique(assign[:, 0]).size)
        res["perplexity_1"] = round(float(model.history_[-1]["perplexity_1"]), 1)
    else:
        model = VAE(latent_dim=args.latent_dim, channels=channels, epochs=args.epochs, random_state=args.seed,
                    device="cpu", progress=False).fit(X)
    res["train_s"] = round(time.perf_counter() - t0, 1)
    Z = model.transform(Xt)
    k1 = maps[0][0] * maps[0][1]
    res["kmeans_purity"] = round(purity(yt, KMeans(k1, n_init=3, random_state=0).fit_predict(Z)), 4)
    res["gmm_purity"] = round(purity(yt, GaussianMixture(k1, random_state=0).fit(Z).predict(Z)), 4)
    print(json.dumps(res))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
