"""The ``ventgen`` command: argument parsing only; every subcommand calls the library.

Errors a user can cause (:class:`ventgen.errors.VentgenError`, missing files) print one line on stderr
and exit with status 2; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

from . import __version__
from ._core import hide_temporary_names
from .errors import VentgenError
from .evaluate.benchmark import run_benchmark, summary_markdown
from .generate import GenerationOptions
from .io import convert_file, describe_files
from .models.config import DEFAULT_PRESET, PRESETS, cli_fields
from .workflows import (
    evaluate_files,
    generate_files,
    report_from_run,
    run_demo,
    segment_files,
    train_file,
    write_simulated_cohort,
)

__all__ = ["main", "build_parser", "error_line"]

_COMMANDS = []  # (name, add_parser_function), filled by the @command decorator below


def command(name: str):
    """Register ``func(subparsers)`` as the builder of subcommand ``name``."""

    def deco(func):
        _COMMANDS.append((name, func))
        return func

    return deco


def _sub(subparsers, name: str, help: str, examples: str):
    return subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _seed(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}")
    return v


def _positive_int(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return v


def _key_value(value: str) -> tuple[str, float]:
    key, sep, v = value.partition("=")
    try:
        if not sep or not key.strip():
            raise ValueError
        return key.strip(), float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KEY=NUMBER, e.g. code_lr_scale=10, got {value!r}") from None


def _finite_float(value: str, ok, what: str) -> float:
    """``float(value)`` when finite and ``ok(v)``, else an argparse error saying ``expected <what>``."""
    try:
        v = float(value)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and ok(v)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return v


def _nonneg_float(value: str) -> float:
    return _finite_float(value, lambda v: v >= 0, "a finite number >= 0")


def _positive_float(value: str) -> float:
    return _finite_float(value, lambda v: v > 0, "a positive number")


# ----------------------------------------------------------------------------- signals: info, convert
_READ_FORMATS = ("csv", "hdf5", "pb840")


@command("info")
def _add_info(sub):
    p = _sub(
        sub,
        "info",
        "summarise recording files: format, duration, sampling rate, samples, channels, markers, "
        "annotations and NaN count (one row per recording)",
        "  ventgen info recording.csv\n"
        "  ventgen info ../shared/data/pb840/*.test\n"
        "  ventgen info recordings/            # every recording file of a folder\n"
        "  ventgen info cohort.h5 --csv > summary.csv\n",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="recording files (CSV, HDF5, PB-840 text) or folders")
    p.add_argument("--format", choices=_READ_FORMATS, help="input format (default: detected per file)")
    p.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    p.set_defaults(func=_run_info)


def _run_info(args):
    table = describe_files(args.files, format=args.format, errors="collect")
    good = table[table["error"] == ""].drop(columns=["error", "subject"], errors="ignore")
    if "recording" in good.columns and (good["recording"] == "").all():
        good = good.drop(columns=["recording"])
    if len(good):
        print(good.to_csv(index=False).rstrip() if args.csv else good.to_string(index=False))
    bad = table.loc[table["error"] != "", "error"].tolist()
    for msg in bad:
        print(f"ventgen: error: {msg}", file=sys.stderr)
    return 2 if bad else 0


@command("convert")
def _add_convert(sub):
    p = _sub(
        sub,
        "convert",
        "convert recordings between formats (CSV, HDF5; PB-840 text is read-only)",
        "  ventgen convert ../shared/data/pb840/jimmy-example-data.csv.test -o jimmy.h5\n"
        "  ventgen convert cohort.h5 -o cohort_csv/ --to csv\n"
        "  ventgen convert raw.csv -o raw.h5 --flow-unit L/s --pressure-unit hPa --sampling-rate 100\n",
    )
    p.add_argument("input", metavar="IN", help="input file or folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output .csv / .h5 file, or a folder (one file per recording)")
    p.add_argument("--to", choices=("csv", "hdf5"), help="output format (default: from the suffix of OUT)")
    p.add_argument("--format", choices=_READ_FORMATS, help="input format (default: detected)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    g = p.add_argument_group("CSV input (ventgen never guesses units or rates)")
    g.add_argument("--sampling-rate", type=_positive_float, help="Hz, when the CSV has no time column")
    for ch, units in (("flow", "L/min, L/s, mL/s"), ("pressure", "cmH2O, hPa, mbar"), ("volume", "mL, L"),
                      ("time", "s, ms")):
        g.add_argument(f"--{ch}-column", help=f"name of the {ch} column")
        g.add_argument(f"--{ch}-unit", help=f"unit of the {ch} column ({units})")
    g.add_argument("--delimiter", help="field separator (default ,)")
    g.add_argument("--nan-policy", choices=("raise", "interpolate", "keep"), help="missing values")
    p.set_defaults(func=_run_convert)


def _run_convert(args):
    keys = ("sampling_rate", "flow_column", "flow_unit", "pressure_column", "pressure_unit", "volume_column", "volume_unit",
            "time_column", "time_unit", "delimiter", "nan_policy")
    read_kw = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    written = convert_file(args.input, args.output, args.to, format=args.format, overwrite=args.overwrite,
                           **read_kw)
    for w in written:
        print(w)



# ----------------------------------------------------------------------------- simulate
@command("simulate")
def _add_simulate(sub):
    p = _sub(
        sub,
        "simulate",
        "simulate ventilated patients with labelled breathing events (one file per subject)",
        "  ventgen simulate -o sim/                                  # 3 subjects x 60 min, 50 Hz, HDF5\n"
        "  ventgen simulate -o sim/ --subjects 5 --minutes 10 --seed 1 --format csv\n"
        "  ventgen simulate -o sim/ --mode cpap --phenotype obstructive --rate 100\n"
        "  ventgen simulate -o sim/ --proportions 'normal breathing=0.5, apnea=0.25, snoring=0.25'\n",
    )
    p.add_argument("-o", "--output", required=True, help="output folder (created)")
    p.add_argument("--subjects", type=_positive_int, default=3, help="number of patients (default 3)")
    p.add_argument("--minutes", type=_positive_float, default=60.0, help="minutes per patient (default 60)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0); same seed, same bytes")
    p.add_argument("--rate", type=_positive_float, default=50.0, help="sampling rate in Hz (default 50)")
    p.add_argument("--format", choices=("hdf5", "csv"), default="hdf5", help="file format (default hdf5)")
    p.add_argument("--mode", choices=("psv", "pcv", "vcv", "cpap"), default="psv",
                   help="ventilation mode: pressure support (default), pressure or volume assist-control, CPAP")
    p.add_argument("--phenotype", choices=("healthy", "obstructive", "restrictive"), default=None,
                   help="patient type for all subjects (default: drawn per subject)")
    p.add_argument("--proportions", default=None, metavar="SPEC",
                   help="share of time per class or super-class, 'class=weight, ...' (default: all ten classes)")
    p.add_argument("--per-subject-settings", action="store_true",
                   help="draw and titrate ventilator settings per subject (default: one protocol for the cohort)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=_run_simulate)


def _run_simulate(args):
    paths = write_simulated_cohort(args.output, n_subjects=args.subjects, minutes=args.minutes,
                                   sampling_rate=args.rate, random_state=args.seed, format=args.format,
                                   overwrite=args.overwrite, progress=False if args.quiet else None,
                                   mode=args.mode, phenotypes=args.phenotype, proportions=args.proportions,
                                   shared_settings=not args.per_subject_settings)
    for path in paths:
        print(path)



# ----------------------------------------------------------------------------- segment
@command("segment")
def _add_segment(sub):
    p = _sub(
        sub,
        "segment",
        "find the breaths of recordings and write them as a CycleSet (HDF5): fixed-length flow and "
        "pressure cycles with labels, subjects and per-breath metadata",
        "  ventgen segment ../shared/data/pb840/*.test -o cycles.h5 --method flow\n"
        "  ventgen segment cohort.h5 -o cycles.h5 --breaths-csv breaths.csv\n"
        "  ventgen segment recs/ -o cycles.h5 --length 200 --cycle-rate 25 --long-policy compress\n",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="recording files or folders (CSV, HDF5, PB-840 text)")
    p.add_argument("-o", "--output", required=True, metavar="CYCLES.h5", help="CycleSet file to write")
    p.add_argument("--method", choices=("flow", "markers", "auto"), default="auto",
                   help="flow: from the signals only; markers: the device's breath marks; "
                        "auto (default): markers when a recording has them")
    p.add_argument("--breaths-csv", metavar="FILE", help="also write the breath table (one row per breath) as CSV")
    p.add_argument("--length", type=_positive_int, default=200, help="samples per cycle (default 200)")
    p.add_argument("--cycle-rate", type=_positive_float, default=25.0,
                   help="cycle sampling rate in Hz (default 25: 200 samples hold 8 s)")
    p.add_argument("--long-policy", choices=("drop", "compress"), default="drop",
                   help="breaths longer than length/cycle-rate seconds: drop (default) or time-compress")
    p.add_argument("--format", choices=_READ_FORMATS, help="input format (default: detected per file)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=_run_segment)


def _run_segment(args):
    read_kw = {"format": args.format} if args.format else {}
    out = segment_files(args.inputs, args.output, method=args.method, breaths_csv=args.breaths_csv,
                        length=args.length, cycle_rate=args.cycle_rate, long_policy=args.long_policy,
                        overwrite=args.overwrite, read_kwargs=read_kw,
                        progress_bar=False if args.quiet else None)
    print(f"{out['n_recordings']} recording(s), {out['n_breaths']} breaths, {out['n_cycles']} cycles -> {out['output']}"
          + (f"; breath table -> {out['breaths_csv']}" if out["breaths_csv"] else ""))



# ----------------------------------------------------------------------------- train
def _fraction(value: str) -> float:
    return _finite_float(value, lambda v: 0.0 <= v <= 1.0, "a fraction in [0, 1]")


_CONFIG_TYPES = {"int": _positive_int, "float": _positive_float, "nonneg": _nonneg_float, "maps": str, "weights": str}


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
    p = _sub(
        sub,
        "train",
        "train an HTVAE (stacked self-organizing maps in a VAE latent space) on a CycleSet and save it; "
        "one line per epoch with every loss term and the code usage (perplexity) of each level",
        "  ventgen train cycles.h5 -o model.pt\n"
        "  ventgen train cycles.h5 -o model.pt --preset recipe   # the best measured generation recipe\n"
        "  ventgen train cycles.h5 -o model.pt --maps 8x8,4x4,2x2 --epochs 20 --latent-dim 16 --seed 0\n"
        "  ventgen train cycles.h5 -o model.pt --must-link 1 --label-fraction 0.2   # 20% of labels as must-links\n"
        "  ventgen train cycles.h5 -o model.pt --resume    # continue after an interruption\n",
    )
    p.add_argument("cycles", metavar="CYCLES.h5", help="CycleSet file (from 'ventgen segment')")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.pt", help="model file to write")
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help=f"where the options not given take their values: 'paper' (exactly the paper) or 'recipe' "
                        f"(the best measured generation recipe); the defaults below are {DEFAULT_PRESET!r}'s "
                        f"(default {DEFAULT_PRESET})")
    _add_config_options(p)
    p.add_argument("--must-link", type=_positive_int, default=None, metavar="LEVEL",
                   help="use the cycles' labels as must-link constraints at this level (1 = deepest)")
    p.add_argument("--label-fraction", type=_fraction, default=1.0,
                   help="fraction of the labelled cycles whose labels are used for must-link (default 1)")
    p.add_argument("--seed", type=_seed, default=None, help="random seed (same seed, same model on CPU)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto (CUDA if present)")
    p.add_argument("--checkpoint-dir", default=None, help="per-epoch checkpoints (default MODEL.pt.checkpoints/)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    p.set_defaults(func=_run_train)


def _run_train(args):
    params = {name: getattr(args, name) for name, *_ in cli_fields()}
    out = train_file(args.cycles, args.output, preset=args.preset, must_link_level=args.must_link,
                     label_fraction=args.label_fraction, seed=args.seed, device=args.device, resume=args.resume,
                     overwrite=args.overwrite, checkpoint_dir=args.checkpoint_dir,
                     progress=False if args.quiet else None, **params)
    print(f"{out['n_cycles']} cycles ({out['n_linked']} with must-link labels) -> {out['output']}")


# ----------------------------------------------------------------------------- benchmark
def _maps_arg(value: str):
    """``--maps``: lattices such as 8x8,4x4,2x2, shrinking, within the limits (see :func:`parse_maps`)."""
    from .models.estimator import parse_maps

    try:
        return parse_maps(value)
    except VentgenError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@command("benchmark")
def _add_benchmark(subparsers):
    p = _sub(
        subparsers,
        "benchmark",
        "Train HTVAE and the baselines with the paper's protocol; write per-run CSVs and a summary table.",
        "  ventgen benchmark --dataset digits --epochs 1 --subset 300 -o results/digits\n"
        "  ventgen benchmark --dataset mnist --root ../shared/data/mnist --seeds 1 --epochs 20 -o results/mnist\n"
        "  ventgen benchmark --dataset mnist --root DIR --models som-vae,vae-hkmeans --threads 1 -o results/mnist\n"
        "  ventgen benchmark --dataset ventilation --seeds 3 -o results/ventilation   # simulated cohort\n",
    )
    p.add_argument("--dataset", required=True, choices=["mnist", "fashion-mnist", "cifar100", "digits", "ventilation"])
    p.add_argument("--root", default=None, help="folder with the dataset's files (never downloaded); "
                   "ventilation: a CycleSet file or a folder of recordings, absent = simulate")
    p.add_argument("-o", "--out", default="results", help="output folder (runs/*.csv, summary.csv, summary.md)")
    p.add_argument("--seeds", type=_positive_int, default=1, help="number of seeds (default 1)")
    p.add_argument("--first-seed", type=_seed, default=0, help="first seed (default 0)")
    p.add_argument("--epochs", type=_positive_int, default=20, help="training epochs (paper: 20)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="batch size (paper: 32)")
    p.add_argument("--lr", type=_positive_float, default=5e-4, help="Adam learning rate (paper: 5e-4)")
    p.add_argument("--latent-dim", type=_positive_int, default=16)
    p.add_argument("--maps", type=_maps_arg, default=[(8, 8), (4, 4), (2, 2)],
                   help="lattices level 1 first (default 8x8,4x4,2x2); baselines use the same branching")
    p.add_argument("--models", default=None,
                   help="comma-separated subset: htvae,som-vae,vae-hkmeans,vae-rgmm "
                        "(ventilation also htvae-mustlink,ts-hkmeans); default all")
    p.add_argument("--subset", type=_positive_int, default=None, help="random subset of N train and N test samples")
    p.add_argument("--sim-minutes", type=_positive_float, default=60.0,
                   help="ventilation without --root: minutes per simulated subject (default 60)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--htvae-param", action="append", default=[], metavar="KEY=VALUE", type=_key_value,
                   help="extra ventgen.HTVAE parameter for the HTVAE models, e.g. code_lr_scale=10 (repeatable)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch threads for this process")
    p.add_argument("--overwrite", action="store_true", help="retrain runs whose files exist (default: skip them)")
    p.add_argument("--from-checkpoints", action="store_true",
                   help="evaluate HTVAE runs from their last per-epoch checkpoint instead of training "
                        "(a run cut short; the table's epochs column says how many were done)")
    p.set_defaults(func=_run_benchmark)


def _run_benchmark(args):
    models = None if args.models is None else [m.strip() for m in args.models.split(",") if m.strip()]
    summary = run_benchmark(
        args.dataset, root=args.root, out_dir=args.out, seeds=args.seeds, first_seed=args.first_seed,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, latent_dim=args.latent_dim, maps=args.maps,
        models=models, subset=args.subset, sim_minutes=args.sim_minutes, device=args.device, threads=args.threads, overwrite=args.overwrite,
        from_checkpoints=args.from_checkpoints, htvae_params=dict(args.htvae_param),
        progress=False if args.quiet else None,
    )
    print(summary_markdown(summary), end="")
    print(f"written: {args.out}/summary.csv, {args.out}/summary.md, {args.out}/runs/")



# ----------------------------------------------------------------------------- generate, evaluate-cohort
@command("generate")
def _add_generate(sub):
    p = _sub(
        sub,
        "generate",
        "generate class-balanced virtual patients from a trained HTVAE (recordings + manifest.csv)",
        "  ventgen generate model.pt --spec cohort.json -o cohort/\n"
        "  ventgen generate model.pt --spec cohort.json --reference cycles_train.h5 -o cohort/\n"
        "  ventgen generate model.pt --spec cohort.json --reference cycles_train.h5 -o cohort/ --seed 7 --format csv\n"
        "\n"
        "cohort.json, e.g.:\n"
        '  {"patients": 4, "minutes": 10, "reference": "cycles_train.h5",\n'
        '   "composition": {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}}\n'
        "composition keys may be fine classes or super-classes; explicit nodes go in a list:\n"
        '  "composition": [{"class": "normal breathing", "fraction": 0.8}, {"level": 2, "node": 5, "fraction": 0.2}]\n',
    )
    p.add_argument("model", help="trained model file (HTVAE.save / ventgen train)")
    p.add_argument("--spec", required=True, help="cohort specification (JSON, data_schemas/cohort_spec.schema.json)")
    p.add_argument("--reference",
                   help="the training cycles (CycleSet HDF5): node labels, breath lengths and event lengths come "
                        "from it (default: the spec's \"reference\" path)")
    p.add_argument("-o", "--output", required=True, help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0); same seed, same bytes")
    p.add_argument("--format", choices=("hdf5", "csv"), default="hdf5", help="recording format (default hdf5)")
    p.add_argument("--length-method", choices=("node", "padding", "nearest"), default="node",
                   help="breath lengths from the node's real lengths (default), from the decoded padding, or "
                        "(with --latent data) from the reference breath nearest to each latent")
    p.add_argument("--latent", choices=("node", "data"), default="node",
                   help="latent Gaussians: the node's code and sigma (default, the paper) or the moments of the "
                        "encoded reference breaths of the class in the node")
    p.add_argument("--nodes", choices=("auto", "majority", "members"), default="auto",
                   help="nodes a class draws from: those it is the majority of, or all holding it "
                        "(default: majority with --latent node, members with --latent data)")
    p.add_argument("--noise", choices=("residual", "none"), default="residual",
                   help="add observation noise fitted to the model's residuals on the reference breaths "
                        "(default) or keep the decoder's smooth means")
    p.add_argument("--noise-highpass", type=_nonneg_float, default=4.0, metavar="HZ",
                   help="fit the noise to the residual above this frequency (default 4 Hz; 0: all of it)")
    p.add_argument("--boundary", choices=("residual", "none"), default="residual",
                   help="add the decoder's mean error at the two ends of each breath (the trigger effort) and "
                        "join breaths with the real mean step (default), or keep the decoded ends")
    p.add_argument("--decoder", choices=("exact", "linear"), default="exact",
                   help="decode every latent (default) or linearise the decoder per node (much faster)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a cohort folder that ventgen generate wrote (refused for a folder holding "
                        "anything else, or the inputs)")
    p.set_defaults(func=_run_generate)


def _run_generate(args):
    options = GenerationOptions(length_method=args.length_method, latent=args.latent, decoder=args.decoder,
                                nodes=args.nodes, noise=args.noise, noise_highpass_hz=args.noise_highpass,
                                boundary=args.boundary, progress=False if args.quiet else None)
    res = generate_files(args.model, args.spec, args.reference, args.output, random_state=args.seed,
                         format=args.format, overwrite=args.overwrite, options=options)
    secs = res.info.get("seconds")  # timings stay out of cohort.json (same seed, same bytes)
    print(f"{res!r} -> {args.output}" + (f" in {secs:.1f} s" if secs is not None else ""))


@command("evaluate-cohort")
def _add_evaluate_cohort(sub):
    p = _sub(
        sub,
        "evaluate-cohort",
        "fidelity of a generated cohort against real cycles: KS per class, TSTR vs TRTR, "
        "discriminative score, memorisation, segmentation F1",
        "  ventgen evaluate-cohort cohort/ --real cycles_train.h5 -o report/\n"
        "  ventgen evaluate-cohort cohort/ --real cycles_train.h5 -o report/ --method manifest --overwrite\n",
    )
    p.add_argument("cohort", help="folder written by 'ventgen generate' (recordings + manifest.csv)")
    p.add_argument("--real", required=True, help="real cycles (CycleSet HDF5), normally the training cycles")
    p.add_argument("-o", "--output", required=True, help="report folder (fidelity.json, ks.csv, figures)")
    p.add_argument("--method", choices=("segment", "manifest"), default="segment",
                   help="find synthetic breaths with segment_breaths (default) or use the manifest boundaries")
    p.add_argument("--seed", type=_seed, default=0, help="random seed of splits and classifiers (default 0)")
    p.add_argument("--model", help="the model that generated the cohort: adds the same numbers for its "
                                   "reconstructions of the real breaths (the ceiling generation can reach)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of a fidelity report ventgen wrote there (no other file is touched)")
    p.set_defaults(func=_run_evaluate_cohort)


def _run_evaluate_cohort(args):
    out = evaluate_files(args.cohort, args.real, args.output, random_state=args.seed, method=args.method,
                                   overwrite=args.overwrite, model=args.model, progress=False if args.quiet else None)
    print(json.dumps(out, indent=2, default=str))




# ----------------------------------------------------------------------------- report
@command("report")
def _add_report(sub):
    p = _sub(
        sub,
        "report",
        "write the HTML run report (figures, tables, metrics.json) from a run folder and/or files",
        "  ventgen report runs/demo                      # -> runs/demo/report/index.html\n"
        "  ventgen report runs/demo -o runs/demo/report --overwrite\n"
        "  ventgen report -o rep/ --model model.pt --cycles cycles_train.h5 --cohort cohort/ --fidelity fid/\n",
    )
    p.add_argument("run", nargs="?", help="run folder laid out like 'ventgen demo' writes it (optional)")
    p.add_argument("-o", "--output", help="report folder (default RUN/report)")
    p.add_argument("--model", help="trained HTVAE file")
    p.add_argument("--cycles", help="training cycles (CycleSet HDF5)")
    p.add_argument("--test-cycles", help="held-out cycles (CycleSet HDF5)")
    p.add_argument("--evaluation", help="per-level metrics CSV")
    p.add_argument("--cohort", help="folder written by 'ventgen generate'")
    p.add_argument("--fidelity", help="folder written by 'ventgen evaluate-cohort'")
    p.add_argument("--recording", help="a recording file, or a folder of them (the first is shown)")
    p.add_argument("--title", default="ventgen run report", help="page title")
    p.add_argument("--embed", action="store_true", help="also embed the figures in the page (one portable file)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(func=_run_report)


def _run_report(args):
    page = report_from_run(
        args.run, args.output, model=args.model, cycles=args.cycles, test_cycles=args.test_cycles,
        evaluation=args.evaluation, cohort=args.cohort, fidelity=args.fidelity, recording=args.recording,
        title=args.title, embed_images=args.embed, overwrite=args.overwrite,
    )
    print(page)


# ----------------------------------------------------------------------------- demo
@command("demo")
def _add_demo(sub):
    p = _sub(
        sub,
        "demo",
        "run the whole pipeline on simulated data: simulate, segment, train, evaluate, generate, report",
        "  ventgen demo -o runs/demo\n"
        "  ventgen demo -o runs/quick --minutes 10 --epochs 3 --overwrite\n",
    )
    p.add_argument("-o", "--output", required=True, help="run folder (created; must be empty unless --overwrite)")
    p.add_argument("--subjects", type=_positive_int, default=3, help="simulated subjects; the last is held out (default 3)")
    p.add_argument("--minutes", type=_positive_float, default=60.0, help="minutes per subject (default 60)")
    p.add_argument("--epochs", type=_positive_int, default=20, help="HTVAE training epochs (default 20, as in the paper)")
    p.add_argument("--label-fraction", type=_positive_float, default=0.1,
                   help="fraction of training breaths whose labels become must-link constraints (default 0.1)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder's files")
    p.set_defaults(func=_run_demo)


def _run_demo(args):
    run_demo(
        args.output, n_subjects=args.subjects, minutes=args.minutes, epochs=args.epochs,
        label_fraction=args.label_fraction, random_state=args.seed, overwrite=args.overwrite,
        progress=False if args.quiet else None,
    )


# ----------------------------------------------------------------------------- entry point
class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (usage is available through --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ventgen",
        description="Mechanical-ventilation recordings -> breath cycles -> HTVAE -> virtual patients.",
        epilog="Run 'ventgen COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"ventgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for _name, add in _COMMANDS:
        add(sub)
    return parser


def _one_line(text: str) -> str:
    """A message as one line, naming the file a user asked for, never ventgen's temporary name."""
    text = hide_temporary_names(str(text))
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def error_line(exc: BaseException) -> str:
    """The one line the command prints for ``exc`` (without the ``ventgen: error:`` prefix).

    Examples
    --------
    >>> error_line(FileNotFoundError(2, "No such file or directory", "/data/x.csv"))
    '/data/x.csv: No such file or directory'
    >>> error_line(MemoryError())
    'out of memory (MemoryError); the input is larger than this machine can hold'
    """
    if isinstance(exc, VentgenError):
        return _one_line(exc)
    if isinstance(exc, OSError) and exc.filename:
        where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "")
        return _one_line(f"{where}: {exc.strerror or exc}")
    if isinstance(exc, MemoryError):
        return "out of memory (MemoryError); the input is larger than this machine can hold"
    if isinstance(exc, RecursionError):
        return "input nested too deeply (RecursionError)"
    detail = _one_line(exc) or "no message"
    return f"unexpected {type(exc).__name__}: {detail} (rerun with --debug for the traceback, and please report it)"


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"ventgen: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None) -> int:
    """Run the ``ventgen`` command; every error ends in one line on stderr and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if args.quiet:
        from ._core import set_progress

        set_progress(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            rc = args.func(args)
        return 0 if rc is None else int(rc)
    except KeyboardInterrupt:
        print("ventgen: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the command's contract: one line, exit 2
        if args.debug:
            raise
        print(f"ventgen: error: {error_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
