"""Subcommands that train models: train, benchmark."""

from __future__ import annotations

import argparse

from ..evaluate.benchmark import run_benchmark, summary_markdown
from ..models.config import DEFAULT_PRESET, PRESETS, cli_fields
from ..workflows import (
    train_file,
)
from ._args import (
    add_subcommand,
    command,
    fraction,
    key_value,
    maps_arg,
    nonneg_float,
    positive_float,
    positive_int,
    seed,
)

# ----------------------------------------------------------------------------- train


_CONFIG_TYPES = {"int": positive_int, "float": positive_float, "nonneg": nonneg_float, "maps": str, "weights": str}


def _config_default(v) -> str:
    """A hyper-parameter's default as the command line writes it (8x8,4x4,2x2; 1,0.1; 5e-4; off)."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (tuple, list)):
        return ",".join("x".join(str(i) for i in x) if isinstance(x, (tuple, list)) else f"{x:g}" for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _add_config_options(p) -> None:
    """One option per hyper-parameter of ventgen.models.config that ``train`` exposes (None = the preset's)."""
    for name, kind, text, default in cli_fields():
        flag = "--" + name.replace("_", "-")
        text = f"{text} (default {_config_default(default)})"
        if kind == "flag":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif kind in _CONFIG_TYPES:
            metavar = "W0,W1,..." if kind == "weights" else None
            p.add_argument(flag, type=_CONFIG_TYPES[kind], default=None, metavar=metavar, help=text)
        else:
            p.add_argument(flag, choices=kind.split(","), default=None, help=text)


@command("train")
def _add_train(sub):
    p = add_subcommand(sub,
        "train",
        "train an HTVAE (stacked self-organizing maps in a VAE latent space) on a CycleSet and save it; "
        "one line per epoch with every loss term and the code usage (perplexity) of each level",
        "  ventgen train cycles.h5 -o model.pt\n"
        "  ventgen train cycles.h5 -o model.pt --preset recipe   # the best measured generation recipe\n"
        "  ventgen train cycles.h5 -o model.pt --maps 8x8,4x4,2x2 --epochs 20 --latent-dim 16 --seed 0\n"
        "  ventgen train cycles.h5 -o model.pt --must-link 1 --label-fraction 0.2   # 20% of labels as must-links\n"
        "  ventgen train cycles.h5 -o model.pt --resume    # continue after an interruption\n"
        "  ventgen train cycles/ -o model.pt --stream      # a shard folder larger than memory, read in chunks\n"
        "  torchrun --nproc_per_node=4 -m ventgen.cli train cycles/ -o model.pt --stream   # 4 processes (DDP)\n",
    )
    p.add_argument("cycles", metavar="CYCLES.h5", help="CycleSet file (from 'ventgen segment')")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.pt", help="model file to write")
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help=f"where the options not given take their values: 'paper' (exactly the paper) or 'recipe' "
                        f"(the best measured generation recipe); the defaults below are {DEFAULT_PRESET!r}'s "
                        f"(default {DEFAULT_PRESET})")
    _add_config_options(p)
    p.add_argument("--must-link", type=positive_int, default=None, metavar="LEVEL",
                   help="use the cycles' labels as must-link constraints at this level (1 = deepest)")
    p.add_argument("--label-fraction", type=fraction, default=1.0,
                   help="fraction of the labelled cycles whose labels are used for must-link (default 1)")
    p.add_argument("--seed", type=seed, default=None, help="random seed (same seed, same model on CPU)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto (CUDA if present)")
    p.add_argument("--checkpoint-dir", default=None, help="per-epoch checkpoints (default MODEL.pt.checkpoints/)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    p.add_argument("--stream", action="store_true",
                   help="read the shard folder CYCLES/ chunk by chunk (per-epoch shard order, shuffle buffer) "
                        "instead of loading it: for sets larger than memory (not with --must-link)")
    p.add_argument("--buffer-cycles", type=positive_int, default=8192, metavar="N",
                   help="with --stream: cycles in the shuffle buffer (default 8192)")
    p.add_argument("--ddp", action=argparse.BooleanOptionalAction, default=None,
                   help="train with DistributedDataParallel in the process group torchrun sets up (gloo on CPU, "
                        "nccl on GPU); default: on when launched by torchrun")
    p.set_defaults(func=_run_train)


def _run_train(args):
    params = {name: getattr(args, name) for name, *_ in cli_fields()}
    out = train_file(args.cycles, args.output, preset=args.preset, must_link_level=args.must_link,
                     label_fraction=args.label_fraction, seed=args.seed, device=args.device, resume=args.resume,
                     overwrite=args.overwrite, checkpoint_dir=args.checkpoint_dir,
                     progress=False if args.quiet else None, stream=args.stream, buffer_cycles=args.buffer_cycles,
                     ddp=args.ddp, **params)
    if out["rank"] == 0:
        procs = f" ({out['world_size']} processes)" if out["world_size"] > 1 else ""
        print(f"{out['n_cycles']} cycles ({out['n_linked']} with must-link labels) -> {out['output']}{procs}")


# ----------------------------------------------------------------------------- benchmark


@command("benchmark")
def _add_benchmark(subparsers):
    p = add_subcommand(subparsers,
        "benchmark",
        "Train HTVAE and the baselines with the paper's protocol; write per-run CSVs and a summary table.",
        "  ventgen benchmark --dataset digits --epochs 1 --subset 300 -o results/digits\n"
        "  ventgen benchmark --dataset mnist --root ../shared/data/mnist --seeds 1 --epochs 20 -o results/mnist\n"
        "  ventgen benchmark --dataset mnist --root DIR --models som-vae,vae-hkmeans --threads 1 -o results/mnist\n"
        "  ventgen benchmark --dataset digits --ks 16,64,256 --seeds 3 -o results/digits_k   # purity vs K\n"
        "  ventgen benchmark --dataset ventilation --seeds 3 -o results/ventilation   # simulated cohort\n",
    )
    p.add_argument("--dataset", required=True, choices=["mnist", "fashion-mnist", "cifar100", "digits", "ventilation"])
    p.add_argument("--root", default=None, help="folder with the dataset's files (never downloaded); "
                   "ventilation: a CycleSet file or a folder of recordings, absent = simulate")
    p.add_argument("-o", "--out", default="results", help="output folder (runs/*.csv, summary.csv, summary.md)")
    p.add_argument("--seeds", type=positive_int, default=1, help="number of seeds (default 1)")
    p.add_argument("--first-seed", type=seed, default=0, help="first seed (default 0)")
    p.add_argument("--epochs", type=positive_int, default=20, help="training epochs (paper: 20)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size (paper: 32)")
    p.add_argument("--lr", type=positive_float, default=5e-4, help="Adam learning rate (paper: 5e-4)")
    p.add_argument("--latent-dim", type=positive_int, default=16)
    p.add_argument("--maps", type=maps_arg, default=[(8, 8), (4, 4), (2, 2)],
                   help="lattices level 1 first (default 8x8,4x4,2x2); baselines use the same branching")
    p.add_argument("--ks", type=_ks_arg, default=None,
                   help="numbers of level-1 codes to run every model at, e.g. 16,64,256 (the maps scaled with the "
                        "same branching; purity rises with K); default: --maps only")
    p.add_argument("--models", default=None,
                   help="comma-separated subset: htvae,som-vae,vae-hkmeans,vae-rgmm "
                        "(ventilation also htvae-mustlink,ts-hkmeans); default all")
    p.add_argument("--subset", type=positive_int, default=None, help="random subset of N train and N test samples")
    p.add_argument("--sim-minutes", type=positive_float, default=60.0,
                   help="ventilation without --root: minutes per simulated subject (default 60)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--htvae-param", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                   help="extra ventgen.HTVAE parameter for the HTVAE models, e.g. code_lr_scale=10 or parents=nearest "
                        "(repeatable)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads for this process")
    p.add_argument("--overwrite", action="store_true", help="retrain runs whose files exist (default: skip them)")
    p.add_argument("--from-checkpoints", action="store_true",
                   help="evaluate HTVAE runs from their last per-epoch checkpoint instead of training "
                        "(a run cut short; the table's epochs column says how many were done)")
    p.set_defaults(func=_run_benchmark)


def _ks_arg(text: str) -> list[int]:
    """``16,64,256`` -> [16, 64, 256] (each a positive integer)."""
    return [positive_int(k.strip()) for k in str(text).split(",") if k.strip()]


def _run_benchmark(args):
    models = None if args.models is None else [m.strip() for m in args.models.split(",") if m.strip()]
    summary = run_benchmark(
        args.dataset, root=args.root, out_dir=args.out, seeds=args.seeds, first_seed=args.first_seed,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, latent_dim=args.latent_dim, maps=args.maps,
        models=models, subset=args.subset, sim_minutes=args.sim_minutes, device=args.device, ks=args.ks,
        threads=args.threads, overwrite=args.overwrite,
        from_checkpoints=args.from_checkpoints, htvae_params=dict(args.htvae_param),
        progress=False if args.quiet else None,
    )
    print(summary_markdown(summary), end="")
    print(f"written: {args.out}/summary.csv, {args.out}/summary.md, {args.out}/runs/")
