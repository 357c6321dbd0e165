"""The main job end to end: simulate -> segment -> cycles -> HTVAE -> evaluate -> generate -> report.

:func:`run_demo` is what ``ventgen demo`` (and ``make demo``) runs. Every stage writes its result into
the run folder in a documented format, so a user can pick up from any stage with the other commands::

    runs/demo/
        recordings/subject-*.h5     simulated recordings (ventgen HDF5; ``ventgen info`` reads them)
        breaths.csv                 the breath table of every recording (segment_breaths)
        cycles_train.h5             CycleSet of the training subjects (``ventgen train`` reads it)
        cycles_test.h5              CycleSet of the held-out subject
        model.pt                    the trained HTVAE (``ventgen generate`` reads it)
        checkpoints/                one checkpoint per epoch (``ventgen train --resume``)
        evaluation.csv              purity / NMI / accuracy / Dtree per level on the held-out subject
        cohort.json                 the cohort specification that was generated
        cohort/                     virtual patients + manifest.csv (``ventgen segment`` reads them)
        fidelity/                   real-vs-synthetic fidelity tables and figures
        report/index.html           the run report (figures as PNG, metrics.json)
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._core import atomic_path, check_random_state, progress_enabled
from .errors import VentgenValueError, VentgenWarning

__all__ = ["DemoResult", "run_demo", "DEMO_SPEC"]

#: The paper's example cohort: half normal breathing, half apnea and snoring.
DEMO_SPEC = {
    "patients": 4,
    "minutes": 5,
    "composition": {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25},
}


@dataclass
class DemoResult:
    """What :func:`run_demo` produced: the run folder, per-stage timings and the headline metrics."""

    out_dir: Path
    timings_s: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    report: Path | None = None


def _log(msg: str, verbose: bool) -> None:
    if verbose:
        print(f"[ventgen demo] {msg}", flush=True)


def run_demo(
    out_dir="runs/demo",
    *,
    n_subjects: int = 3,
    minutes: float = 60.0,
    sampling_rate: float = 50.0,
    maps=((8, 8), (4, 4), (2, 2)),
    latent_dim: int = 16,
    epochs: int = 20,
    label_fraction: float = 0.1,
    latent: str = "data",
    spec: dict | None = None,
    random_state=0,
    overwrite: bool = False,
    progress: bool | None = None,
    verbose: bool = True,
) -> DemoResult:
    """Run the whole ventgen pipeline on simulated data and write a run report.

    Parameters
    ----------
    out_dir : path
        The run folder; refused if it exists and is not empty, unless ``overwrite``.
    n_subjects, minutes, sampling_rate : int, float, float
        The simulated cohort (the last subject is held out for evaluation). Rate in Hz.
    maps, latent_dim, epochs : HTVAE settings; 20 epochs as in the paper by default (the report
        says when fewer were trained).
    label_fraction : float
        Fraction of training breaths whose label is given to the model as must-link constraints
        (at level 1); the rest are unlabelled.
    latent : {"data", "node"}
        How the cohort's latents are drawn (see :func:`ventgen.generate_cohort`): ``"node"`` is the
        paper's N(code, sigma^2) and needs a node whose majority is each requested class.
    spec : dict, optional
        The cohort to generate (default :data:`DEMO_SPEC`).
    random_state : int
        Seeds every stage.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> from ventgen.demo import run_demo
    >>> res = run_demo("runs/tiny", n_subjects=2, minutes=3, epochs=1, verbose=False)  # doctest: +SKIP
    """
    # imported here so that `import ventgen` stays light
    from . import (
        HTVAE,
        cycles_from_recordings,
        evaluate_cohort,
        generate_cohort,
        simulate_cohort,
        write_cohort,
        write_recording,
    )
    from .labels import VENTILATION_TREE, LearnedTree
    from .metrics import level_report
    from .report import write_run_report

    if n_subjects < 2:
        raise VentgenValueError(f"the demo needs at least 2 subjects (one is held out), got {n_subjects}")
    if not 0 < label_fraction <= 1:
        raise VentgenValueError(f"label_fraction must be in (0, 1], got {label_fraction}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(17, "run folder exists and is not empty; pass --overwrite to replace it", str(out))
    out.mkdir(parents=True, exist_ok=True)
    spec = dict(DEMO_SPEC if spec is None else spec)
    rng = check_random_state(random_state)
    seeds = rng.integers(0, 2**31 - 1, size=8)
    show = progress_enabled(progress)
    res = DemoResult(out_dir=out)
    t_all = time.perf_counter()

    # 1. simulate
    t0 = time.perf_counter()
    _log(f"1/7 simulating {n_subjects} subjects x {minutes:g} min at {sampling_rate:g} Hz", verbose)
    recs = simulate_cohort(
        n_subjects=n_subjects, minutes=minutes, sampling_rate=sampling_rate,
        random_state=int(seeds[0]), progress=show,
    )
    (out / "recordings").mkdir(exist_ok=True)
    for rec in recs:
        write_recording(rec, out / "recordings" / f"{rec.subject}.h5", overwrite=overwrite)
    res.timings_s["simulate"] = time.perf_counter() - t0

    # 2. segment + cycles
    t0 = time.perf_counter()
    _log("2/7 segmenting breaths from flow and pressure (method='flow') and building cycles", verbose)
    # one held-out subject: the last one
    train, breaths_train = cycles_from_recordings(recs[:-1], method="flow", progress_bar=show)
    test, breaths_test = cycles_from_recordings(recs[-1:], method="flow", progress_bar=show)
    breaths = pd.concat([breaths_train, breaths_test], ignore_index=True)
    with atomic_path(out / "breaths.csv", overwrite=True) as tmp:
        breaths.to_csv(tmp, index=False)
    train.save(out / "cycles_train.h5", overwrite=True)
    test.save(out / "cycles_test.h5", overwrite=True)
    res.timings_s["segment"] = time.perf_counter() - t0
    _log(f"   {len(breaths)} breaths; {len(train)} training cycles, {len(test)} held-out cycles", verbose)

    # 3. train with must-link on a labelled subset
    t0 = time.perf_counter()
    labels = np.asarray(train.labels).astype(object)
    known = rng.random(len(labels)) < label_fraction
    partial = np.where(known & (labels != ""), labels, "").astype(str)
    _log(
        f"3/7 training HTVAE maps={list(maps)} for {epochs} epochs "
        f"(must-link from {int((partial != '').sum())} labelled breaths, {label_fraction:.0%})",
        verbose,
    )
    model = HTVAE(maps=[tuple(m) for m in maps], latent_dim=latent_dim, epochs=epochs,
                  random_state=int(seeds[1]), device="cpu", progress=show)
    model.fit(train, must_link=partial, must_link_level=1, checkpoint_dir=out / "checkpoints")
    model.save(out / "model.pt", overwrite=True)
    res.timings_s["train"] = time.perf_counter() - t0

    # 4. evaluate on the held-out subject
    t0 = time.perf_counter()
    _log(f"4/7 evaluating on the held-out subject {test.subjects[0] if len(test) else ''}", verbose)
    assign_test = model.assign(test)
    eval_df = level_report(assign_test, test.labels, VENTILATION_TREE, LearnedTree.from_model(model))
    with atomic_path(out / "evaluation.csv", overwrite=True) as tmp:
        eval_df.to_csv(tmp, index=False)
    res.timings_s["evaluate"] = time.perf_counter() - t0

    # 5. generate the balanced cohort
    t0 = time.perf_counter()
    _log(f"5/7 generating {spec['patients']} virtual patients: {spec['composition']}", verbose)
    with atomic_path(out / "cohort.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(spec, indent=2))
    # latent="data": each class is drawn from the Gaussian of its own encoded training breaths inside
    # every node that holds it, so a rare class (apnea) that is nowhere a node's majority after a short
    # training can still be generated as itself; the report says which sampling was used
    cohort = generate_cohort(model, spec, train, random_state=int(seeds[2]), latent=latent,
                             progress_bar=show)
    write_cohort(cohort, out / "cohort", format="hdf5", overwrite=True)
    res.timings_s["generate"] = time.perf_counter() - t0

    # 6. fidelity
    t0 = time.perf_counter()
    _log("6/7 fidelity of the cohort against the real (simulated) training breaths", verbose)
    fid_kw = dict(out_dir=out / "fidelity", random_state=int(seeds[3]), overwrite=True, progress_bar=show)
    fidelity_note = "The synthetic breaths were found again by segment_breaths (method='segment')."
    try:
        fidelity = evaluate_cohort(cohort, train, method="segment", **fid_kw)
    except VentgenValueError as exc:
        # an undertrained model can decode breaths the segmenter does not recognise: say so, and fall
        # back to the manifest's breath boundaries so the rest of the fidelity report still exists
        warnings.warn(f"demo: fidelity by re-segmentation failed ({exc}); using the manifest's boundaries",
                      VentgenWarning, stacklevel=2)
        fidelity_note = (f"Re-segmenting the synthetic recordings failed ({exc}); the fidelity numbers use "
                         "the manifest's breath boundaries instead (method='manifest'). Train longer.")
        fidelity = evaluate_cohort(cohort, train, method="manifest", **fid_kw)
    res.timings_s["fidelity"] = time.perf_counter() - t0

    # 7. report
    t0 = time.perf_counter()
    _log("7/7 writing the run report", verbose)
    res.metrics = {
        "held_out": {f"level_{int(r['level'])}": r for r in eval_df.to_dict(orient="records")}
        if "level" in eval_df else eval_df.to_dict(orient="records"),
        "fidelity": fidelity.summary(),
        "timings_s": dict(res.timings_s),
    }
    res.report = write_run_report(
        out / "report",
        model=model,
        cycles=train,
        history=model.history_,
        metrics=res.metrics,
        cohort=cohort,
        fidelity=fidelity,
        level_report=eval_df,
        recording=recs[0],
        config={
            "subjects": n_subjects, "minutes_per_subject": minutes, "sampling_rate_hz": sampling_rate,
            "maps": "x".join(map(str, maps[0])) + "".join(f",{h}x{w}" for h, w in maps[1:]),
            "latent_dim": latent_dim, "epochs": epochs, "paper_epochs": 20,
            "label_fraction": label_fraction, "held_out_subject": recs[-1].subject,
            "cohort_spec": json.dumps(spec), "random_state": random_state,
        },
        notes=[
            (f"This demo trained {epochs} epochs, as the paper does." if epochs >= 20 else
             f"This demo trained {epochs} epochs; the paper trains 20 "
             "(`ventgen train runs/demo/cycles_train.h5 -o model.pt --epochs 20`)."),
            f"Must-link constraints come from the labels of {label_fraction:.0%} of the training "
            "breaths (level 1); the other labels were never shown to the model.",
            f"Subject {recs[-1].subject} was held out: the per-level metrics are computed on it.",
            "All data are simulated by ventgen's physiological simulator.",
            fidelity_note,
            f"Generation samples latents with latent={latent!r} "
            + ("(the Gaussian of each class's own encoded training breaths inside each node that holds it)."
               if latent == "data" else "(the paper's node Gaussians N(code, sigma^2))."),
        ],
        overwrite=True,
        random_state=int(seeds[4]),
    )
    res.timings_s["report"] = time.perf_counter() - t0
    res.timings_s["total"] = time.perf_counter() - t_all
    _log(f"done in {res.timings_s['total']:.0f} s; open {res.report}", verbose)
    return res
