"""The paper's Table I (issue 17): every model at K = 16, 64 and 256 level-1 codes, mean +- std over seeds.

Runs :func:`ventgen.run_benchmark` with the paper's protocol (predefined training set minus a random 600
validation images, Adam 5e-4, batch 32, 20 epochs, latent dimension 16, maps 8x8/4x4/2x2 scaled to each K
with the same branching) for the default HTVAE (``htvae``), the paper's own model (``htvae-paper``),
SOM-VAE, VAE-HKMeans and VAE-RGMM, on sklearn's digits (no download, about a minute per run) and, when
its files are there, MNIST. Every finished run is a file under ``<out>/<dataset>/runs/``: an interrupted
table resumes where it stopped (HTVAE runs from their last epoch). Prints each dataset's summary.

    python benchmarks/paper_table.py                                   # digits + MNIST, 3 seeds (hours)
    python benchmarks/paper_table.py --datasets digits --seeds 1       # the one-minute check
    python benchmarks/paper_table.py --datasets mnist --ks 64 --models htvae,htvae-paper
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="digits,mnist")
    ap.add_argument("--root", default="../shared/data/mnist", help="MNIST folder (IDX files)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--ks", default="16,64,256", help="numbers of level-1 codes")
    ap.add_argument("--models", default=None, help="comma-separated subset (default: every image model)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="benchmarks/out/paper_table")
    args = ap.parse_args(argv)

    from ventgen.evaluate.benchmark import run_benchmark, summary_markdown

    ks = [int(k) for k in args.ks.split(",")]
    models = None if args.models is None else [m.strip() for m in args.models.split(",")]
    for dataset in [d.strip() for d in args.datasets.split(",")]:
        root = None if dataset == "digits" else args.root
        if root is not None and not Path(root).exists():
            print(f"{dataset}: {root} not found, skipped")
            continue
        out = Path(args.out) / dataset
        summary = run_benchmark(dataset, root=root, out_dir=out, seeds=args.seeds, epochs=args.epochs, ks=ks,
                                models=models, threads=args.threads, device=args.device)
        print(f"## {dataset} ({args.seeds} seeds, {args.epochs} epochs)\n")
        print(summary_markdown(summary))
        print(f"written: {out}/summary.csv, {out}/summary.md, {out}/runs/\n")


if __name__ == "__main__":
    main()
