"""Subcommands on cohorts and runs: generate, evaluate-cohort, report, demo."""

from __future__ import annotations

import argparse
import json

from ..generate import GenerationOptions
from ..generate.latents import KDE_BANDWIDTH
from ..models.config import DEFAULT_PRESET, PRESETS
from ..workflows import (
    evaluate_files,
    generate_files,
    report_from_run,
    run_demo,
)
from ._args import add_subcommand, command, nonneg_float, positive_float, positive_int, seed


# ----------------------------------------------------------------------------- generate, evaluate-cohort
@command("generate")
def _add_generate(sub):
    p = add_subcommand(sub,
        "generate",
        "generate class-balanced virtual patients from a trained HTVAE (recordings + manifest.csv)",
        "  ventgen generate model.pt --spec cohort.json -o cohort/\n"
        "  ventgen generate model.pt --spec cohort.json -o cohort/ --seed 7 --format csv\n"
        "  ventgen generate model.pt --spec cohort.json --reference other_labelled_cycles.h5 -o cohort/\n"
        "  ventgen generate model.pt --spec cohort.json -o cohort/ --workers 8   # on a local Dask cluster\n"
        "  ventgen generate model.pt --spec cohort.json -o cohort/ --scheduler tcp://10.0.0.5:8786\n"
        "\n"
        "cohort.json, e.g.:\n"
        '  {"patients": 4, "minutes": 10,\n'
        '   "composition": {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}}\n'
        "composition keys may be fine classes or super-classes; explicit nodes go in a list:\n"
        '  "composition": [{"class": "normal breathing", "fraction": 0.8}, {"level": 2, "node": 5, "fraction": 0.2}]\n'
        'without "composition" (or with "composition": "natural") breaths come in the proportions of the\n'
        "training breaths: their classes, each from the nodes that hold it (\"unlabelled\": those without a\n"
        "label); unlabelled data: over the top-level nodes (patients like these)\n",
    )
    p.add_argument("model", help="trained model file (HTVAE.save / ventgen train)")
    p.add_argument("--spec", required=True, help="cohort specification (JSON, data_schemas/cohort_spec.schema.json)")
    p.add_argument("--reference",
                   help="cycles (CycleSet HDF5) to take node labels, breath lengths and event lengths from, e.g. "
                        "other labelled data (default: the spec's \"reference\" path, else the data the model "
                        "file stores from its training cycles)")
    p.add_argument("-o", "--output", required=True, help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0); same seed, same bytes")
    p.add_argument("--format", choices=("hdf5", "csv", "wfdb", "edf"), default="hdf5",
                   help="recording format (default hdf5; wfdb and edf open in PhysioNet tools)")
    p.add_argument("--length-method", choices=("node", "padding", "nearest"), default="node",
                   help="breath lengths from the node's real lengths (default), from the decoded padding, or "
                        "(with --latent data) from the reference breath nearest to each latent")
    p.add_argument("--latent", choices=("auto", "node", "data", "kde"), default="auto",
                   help="latents: the node's code and sigma (node, the paper), the moments of the encoded reference "
                        "breaths of the class in the node (data), or those encodings themselves with jitter and "
                        "their lengths (kde); auto, the default: kde with the flow generator, node with the decoder")
    p.add_argument("--kde-bandwidth", type=nonneg_float, default=KDE_BANDWIDTH, metavar="H",
                   help="jitter of --latent kde, in units of the spread of the class in the node (default %(default)s)")
    p.add_argument("--sequence", choices=("auto", "chain", "independent"), default="auto",
                   help="with --latent kde: draw each breath from the reference breath that follows its "
                        "predecessor's where it may, so consecutive breaths join as real ones do (chain), or "
                        "every breath on its own (independent; auto, the default)")
    p.add_argument("--chain-breaths", type=float, default=8.0, metavar="N",
                   help="with --sequence chain: mean number of breaths a chain follows the reference before it "
                        "starts again from a fresh draw (default 8; inf: never)")
    p.add_argument("--nodes", choices=("auto", "majority", "members"), default="auto",
                   help="nodes a class draws from: those it is the majority of, or all holding it "
                        "(default: majority with --latent node, members with --latent data)")
    p.add_argument("--noise", choices=("auto", "residual", "none"), default="auto",
                   help="add observation noise fitted to the model's residuals on the reference breaths, or "
                        "none (auto, the default: none with the flow generator, residual with the decoder)")
    p.add_argument("--noise-highpass", type=nonneg_float, default=4.0, metavar="HZ",
                   help="fit the noise to the residual above this frequency (default 4 Hz; 0: all of it)")
    p.add_argument("--boundary", choices=("auto", "residual", "step", "none", "raw"), default="auto",
                   help="residual: add the decoder's mean error at the two ends of each breath (the trigger "
                        "effort) and join breaths with the real mean step; step: only join them with the real "
                        "mean step; none: make consecutive breaths meet; raw: join the breaths exactly as "
                        "generated (auto, the default: raw with the flow generator, residual with the decoder)")
    p.add_argument("--decoder", choices=("auto", "flow", "exact", "linear"), default="auto",
                   help="flow: sample every breath from the model's flow generator (the high-fidelity path); "
                        "exact: the decoder's mean breath; linear: the decoder linearised per node (much "
                        "faster); auto (default): flow when the model has a generator, else exact")
    p.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                   help="give the flow generator's breaths as sampled, without the model's marginal map and "
                        "rounding (by default the first samples of each breath are mapped onto the real marginals "
                        "of its class, and the recordings are rounded to the training cycles' resolution)")
    p.add_argument("--patient-profiles", choices=("balanced", "independent"), default="balanced",
                   help="draw the patients' node weights and latent deviations for the whole cohort so that it "
                        "keeps the reference's node mix while each patient differs (balanced, the default), or "
                        "each patient on its own (independent)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a cohort folder that ventgen generate wrote (refused for a folder holding "
                        "anything else, or the inputs)")
    g = p.add_argument_group("many patients (each from its own random stream: the same files whatever the workers)")
    g.add_argument("--workers", type=workers_count, metavar="N",
                   help="generate on a local Dask cluster of N processes (0: in this process, the default); "
                        "needs pip install 'ventgen[distributed]'")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="generate on a running Dask cluster (its workers must see the output folder)")
    p.set_defaults(func=_run_generate)


def workers_count(value: str) -> int:
    """``--workers``: a number of workers >= 0 (as ``ventgen segment``'s)."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of workers >= 0, got {value!r}")
    return int(value)


def _run_generate(args):
    options = GenerationOptions(length_method=args.length_method, latent=args.latent, decoder=args.decoder,
                                kde_bandwidth=args.kde_bandwidth, sequence=args.sequence,
                                chain_breaths=args.chain_breaths,
                                nodes=args.nodes, noise=args.noise, noise_highpass_hz=args.noise_highpass,
                                boundary=args.boundary, calibrate=args.calibrate,
                                patient_profiles=args.patient_profiles,
                                progress=False if args.quiet else None)
    res = generate_files(args.model, args.spec, args.reference, args.output, random_state=args.seed,
                         format=args.format, overwrite=args.overwrite, options=options, workers=args.workers,
                         scheduler=args.scheduler)
    secs = res.info.get("seconds")  # timings stay out of cohort.json (same seed, same bytes)
    print(f"{res!r} -> {args.output}" + (f" in {secs:.1f} s" if secs is not None else ""))


@command("evaluate-cohort")
def _add_evaluate_cohort(sub):
    p = add_subcommand(sub,
        "evaluate-cohort",
        "fidelity of a generated cohort against real cycles: KS per class, TSTR vs TRTR, "
        "discriminative score, memorisation, segmentation F1",
        "  ventgen evaluate-cohort cohort/ --real cycles_train.h5 -o report/\n"
        "  ventgen evaluate-cohort cohort/ --real cycles_train.h5 -o report/ --method segment --overwrite\n",
    )
    p.add_argument("cohort", help="folder written by 'ventgen generate' (recordings + manifest.csv)")
    p.add_argument("--real", required=True, help="real cycles (CycleSet HDF5), normally the training cycles")
    p.add_argument("-o", "--output", required=True, help="report folder (fidelity.json, ks.csv, figures)")
    p.add_argument("--method", choices=("manifest", "segment"), default="manifest",
                   help="cut the synthetic breaths at the manifest's boundaries, the virtual ventilator's breath "
                        "marks (default; real recordings with device marks are cut at them), or where the flow "
                        "segmenter finds them (real cycles cut by --method flow); the segmenter's F1 is reported "
                        "either way")
    p.add_argument("--seed", type=seed, default=0, help="random seed of splits and classifiers (default 0)")
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
    p = add_subcommand(sub,
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
    p = add_subcommand(sub,
        "demo",
        "run the whole pipeline on simulated data: simulate, segment, train, evaluate, generate, report",
        "  ventgen demo -o runs/demo\n"
        "  ventgen demo -o runs/quick --minutes 10 --epochs 3 --overwrite\n",
    )
    p.add_argument("-o", "--output", required=True, help="run folder (created; must be empty unless --overwrite)")
    p.add_argument("--subjects", type=positive_int, default=3, help="simulated subjects; the last is held out (default 3)")
    p.add_argument("--minutes", type=positive_float, default=60.0, help="minutes per subject (default 60)")
    p.add_argument("--epochs", type=positive_int, default=20, help="HTVAE training epochs (default 20, as in the paper)")
    p.add_argument("--label-fraction", type=positive_float, default=0.1,
                   help="fraction of training breaths whose labels become must-link constraints (default 0.1)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help=f"HTVAE hyper-parameter preset (default {DEFAULT_PRESET}); --epochs overrides its epochs")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder's files")
    p.set_defaults(func=_run_demo)


def _run_demo(args):
    run_demo(
        args.output, n_subjects=args.subjects, minutes=args.minutes, epochs=args.epochs,
        label_fraction=args.label_fraction, random_state=args.seed, overwrite=args.overwrite,
        progress=False if args.quiet else None, preset=args.preset,
    )
