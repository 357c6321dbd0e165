"""Subcommands on recording files: info, convert, simulate, segment."""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

from ..errors import VentgenValueError
from ..io import convert_file, describe_paths
from ..workflows import (
    segment_files,
    write_simulated_cohort,
)
from ..workflows.shards import segment_shards, shard_output_wanted
from ._args import add_subcommand, command, positive_float, positive_int, seed

# ----------------------------------------------------------------------------- signals: info, convert
_READ_FORMATS = ("csv", "hdf5", "pb840", "wfdb", "edf")


@command("info")
def _add_info(sub):
    p = add_subcommand(sub,
        "info",
        "describe files ventgen reads or writes: recordings (format, duration, rate, samples, channels, "
        "markers, annotations, NaN count; one row per recording), CycleSets (cycles, labels and their "
        "counts, subjects, rate, length), model files (preset, maps, epochs, training data) and cohort "
        "folders (patients, breaths, composition)",
        "  ventgen info recording.csv\n"
        "  ventgen info ../shared/data/pb840/*.test\n"
        "  ventgen info recordings/            # every recording file of a folder\n"
        "  ventgen info cohort.h5 --csv > summary.csv\n"
        "  ventgen info cycles.h5 model.pt cohort/   # a block of facts per CycleSet, model file, cohort folder\n",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="recordings (CSV, HDF5, PB-840 text, WFDB, EDF+), CycleSets, model files, cohort folders, folders")
    p.add_argument("--format", choices=_READ_FORMATS, help="input format (default: detected per file)")
    p.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    p.set_defaults(func=_run_info)


def _run_info(args):
    table, blocks, bad = describe_paths(args.files, format=args.format)
    if table is not None:
        good = table.drop(columns=["subject"], errors="ignore")
        if "recording" in good.columns and (good["recording"] == "").all():
            good = good.drop(columns=["recording"])
        print(good.to_csv(index=False).rstrip() if args.csv else good.to_string(index=False))
    for path, facts in blocks:
        if args.csv:
            print(pd.DataFrame([{"file": path, **facts}]).to_csv(index=False).rstrip())
            continue
        print(f"{path}: {facts['kind']}")
        for k, v in facts.items():
            if k != "kind":
                print(f"  {k}: {v}")
    for msg in bad:
        print(f"ventgen: error: {msg}", file=sys.stderr)
    return 2 if bad else 0


@command("convert")
def _add_convert(sub):
    p = add_subcommand(sub,
        "convert",
        "convert recordings between formats (CSV, HDF5, WFDB, EDF+; PB-840 text is read-only)",
        "  ventgen convert ../shared/data/pb840/jimmy-example-data.csv.test -o jimmy.h5\n"
        "  ventgen convert cohort.h5 -o cohort_csv/ --to csv\n"
        "  ventgen convert jimmy.h5 -o jimmy.hea           # WFDB record (.hea/.dat/.atr); .edf for EDF+\n"
        "  ventgen convert raw.csv -o raw.h5 --flow-unit L/s --pressure-unit hPa --sampling-rate 100\n",
    )
    p.add_argument("input", metavar="IN", help="input file or folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output .csv / .h5 / .hea / .edf file, or a folder (one file per recording)")
    p.add_argument("--to", choices=("csv", "hdf5", "wfdb", "edf"),
                   help="output format (default: from the suffix of OUT: .csv, .h5, .hea (WFDB), .edf (EDF+))")
    p.add_argument("--format", choices=_READ_FORMATS, help="input format (default: detected)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    g = p.add_argument_group("CSV input (ventgen never guesses units or rates)")
    g.add_argument("--sampling-rate", type=positive_float, help="Hz, when the CSV has no time column")
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
    p = add_subcommand(sub,
        "simulate",
        "simulate ventilated patients with labelled breathing events (one file per subject)",
        "  ventgen simulate -o sim/                                  # 3 subjects x 60 min, 50 Hz, HDF5\n"
        "  ventgen simulate -o sim/ --subjects 5 --minutes 10 --seed 1 --format csv\n"
        "  ventgen simulate -o sim/ --mode cpap --phenotype obstructive --rate 100\n"
        "  ventgen simulate -o sim/ --proportions 'normal breathing=0.5, apnea=0.25, snoring=0.25'\n",
    )
    p.add_argument("-o", "--output", required=True, help="output folder (created)")
    p.add_argument("--subjects", type=positive_int, default=3, help="number of patients (default 3)")
    p.add_argument("--minutes", type=positive_float, default=60.0, help="minutes per patient (default 60)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0); same seed, same bytes")
    p.add_argument("--rate", type=positive_float, default=50.0, help="sampling rate in Hz (default 50)")
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
    p = add_subcommand(sub,
        "segment",
        "find the breaths of recordings and write them as a CycleSet (HDF5): fixed-length flow and "
        "pressure cycles with labels, subjects and per-breath metadata",
        "  ventgen segment ../shared/data/pb840/*.test -o cycles.h5 --method flow\n"
        "  ventgen segment cohort.h5 -o cycles.h5 --breaths-csv breaths.csv\n"
        "  ventgen segment recs/ -o cycles.h5 --length 200 --cycle-rate 25 --long-policy compress\n"
        "  ventgen segment rec.csv -o cycles.h5 --breath-labels rec.modes.csv --label-hierarchy modes.json\n"
        "  ventgen segment ../shared/data/ventmode/ -o cycles.h5 --breath-labels .modes.csv\n"
        "  ventgen segment archive/ -o cycles/                # a shard folder: one CycleSet per file + index.json\n"
        "  ventgen segment archive/ -o cycles/ --workers 8    # the same files, on a local Dask cluster\n"
        "  ventgen segment archive/ -o cycles/ --scheduler tcp://10.0.0.5:8786   # on a running Dask cluster\n",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="recording files or folders (CSV, HDF5, PB-840 text)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="CycleSet file to write, or a shard folder (OUT ending with '/', an existing folder, "
                        "or with --shards/--workers/--scheduler): one CycleSet per recording file + index.json")
    p.add_argument("--method", choices=("flow", "markers", "auto"), default="auto",
                   help="flow: from the signals only; markers: the device's breath marks; "
                        "auto (default): markers when a recording has them")
    p.add_argument("--breaths-csv", metavar="FILE", help="also write the breath table (one row per breath) as CSV")
    p.add_argument("--length", type=positive_int, default=200, help="samples per cycle (default 200)")
    p.add_argument("--cycle-rate", type=positive_float, default=25.0,
                   help="cycle sampling rate in Hz (default 25: 200 samples hold 8 s)")
    p.add_argument("--long-policy", choices=("drop", "compress"), default="drop",
                   help="breaths longer than length/cycle-rate seconds: drop (default) or time-compress")
    p.add_argument("--format", choices=_READ_FORMATS, help="input format (default: detected per file)")
    p.add_argument("--breath-labels", nargs="+", metavar="TABLE",
                   help="breath-label tables (CSV, one row per breath keyed by the ventilator breath number "
                        "'breath_number'/'vent BN' or by 'start_s'; a 'label' column or one-hot mode columns): "
                        "one per input file, in order, or a side-file suffix such as .modes.csv")
    p.add_argument("--label-hierarchy", metavar="H.json",
                   help="label hierarchy of the tables: {\"group\": [\"class\", ...]} or a LabelTree JSON")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (a shard folder: only one ventgen wrote)")
    g = p.add_argument_group("many files (a shard folder; a failing file is skipped, named, and listed at the end)")
    g.add_argument("--shards", action="store_true", help="write a shard folder even when OUT has no trailing '/'")
    g.add_argument("--workers", type=_workers, metavar="N",
                   help="segment on a local Dask cluster of N processes (0: in this process, the default); "
                        "needs pip install 'ventgen[distributed]'")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="segment on a running Dask cluster (its workers must see the same files)")
    p.set_defaults(func=_run_segment)


def _workers(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of workers >= 0, got {value!r}")
    return int(value)


def _run_segment(args):
    read_kw = {"format": args.format} if args.format else {}
    labels = args.breath_labels
    if labels and len(labels) == 1 and labels[0].startswith(".") and not os.path.isfile(labels[0]):
        labels = labels[0]  # a side-file suffix
    if shard_output_wanted(args.output, shards=args.shards, workers=args.workers, scheduler=args.scheduler):
        return _run_segment_shards(args, read_kw, labels)
    out = segment_files(args.inputs, args.output, method=args.method, breaths_csv=args.breaths_csv,
                        length=args.length, cycle_rate=args.cycle_rate, long_policy=args.long_policy,
                        overwrite=args.overwrite, read_kwargs=read_kw,
                        progress_bar=False if args.quiet else None,
                        breath_labels=labels, label_hierarchy=args.label_hierarchy)
    print(f"{out['n_recordings']} recording(s), {out['n_breaths']} breaths, {out['n_cycles']} cycles"
          + (f" ({out['n_labelled']} labelled)" if labels else "") + f" -> {out['output']}"
          + (f"; breath table -> {out['breaths_csv']}" if out["breaths_csv"] else ""))


def _run_segment_shards(args, read_kw, labels):
    if args.breaths_csv:
        raise VentgenValueError("--breaths-csv is not written for a shard folder (yet); "
                                "write a single CycleSet file to get the breath table")
    out = segment_shards(args.inputs, args.output, method=args.method, length=args.length,
                         cycle_rate=args.cycle_rate, long_policy=args.long_policy, overwrite=args.overwrite,
                         read_kwargs=read_kw, progress_bar=False if args.quiet else None, breath_labels=labels,
                         label_hierarchy=args.label_hierarchy, workers=args.workers, scheduler=args.scheduler)
    failed = out["failed"]
    print(f"{out['n_shards']} of {out['n_files']} file(s) segmented: {out['n_recordings']} recording(s), "
          f"{out['n_breaths']} breaths, {out['n_cycles']} cycles"
          + (f" ({out['n_labelled']} labelled)" if labels else "") + f" -> {out['output']} ({out['index']})"
          + (f"; {len(failed)} failed: " + ", ".join(s for s, _ in failed) if failed else ""))
