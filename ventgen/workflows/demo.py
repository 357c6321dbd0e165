"""The demo: simulate -> segment -> cycles -> HTVAE -> evaluate -> generate -> fidelity -> report."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import atomic_path, check_random_state, progress_enabled
from ..errors import VentgenValueError
from ..evaluate.fidelity import evaluate_cohort
from ..evaluate.metrics import level_report
from ..generate.api import GenerationOptions, generate_cohort
from ..io.cohort import write_cohort
from ..io.cycleset import write_cycleset
from ..io.recordings import write_recording
from ..labels import VENTILATION_TREE, LearnedTree
from ..report import write_run_report
from ..signals.simulate import simulate_cohort
from ._lazy import htvae_class
from .layout import RUN_LAYOUT
from .segment import cycles_from_recordings

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


@dataclass
class _Demo:
    """The settings and the state of one demo run, passed from step to step."""

    out: Path
    n_subjects: int
    minutes: float
    sampling_rate: float
    maps: tuple
    latent_dim: int
    epochs: int
    label_fraction: float
    latent: str
    spec: dict
    random_state: object
    overwrite: bool
    show: bool
    verbose: bool
    rng: np.random.Generator
    seeds: np.ndarray
    result: DemoResult
    state: dict = field(default_factory=dict)
    preset: str | None = None

    def log(self, msg: str) -> None:
        if self.verbose:
            print(f"[ventgen demo] {msg}", flush=True)

    def path(self, name: str) -> Path:
        return RUN_LAYOUT.path(self.out, name)


def _demo_simulate(d: _Demo) -> None:
    d.log(f"1/7 simulating {d.n_subjects} subjects x {d.minutes:g} min at {d.sampling_rate:g} Hz")
    recs = simulate_cohort(n_subjects=d.n_subjects, minutes=d.minutes, sampling_rate=d.sampling_rate,
                           random_state=int(d.seeds[0]), progress=d.show)
    d.path("recordings").mkdir(exist_ok=True)
    for rec in recs:
        write_recording(rec, d.path("recordings") / f"{rec.subject}.h5", overwrite=d.overwrite)
    d.state["recs"] = recs


def _demo_segment(d: _Demo) -> None:
    d.log("2/7 segmenting breaths from flow and pressure (method='flow') and building cycles")
    recs = d.state["recs"]
    # one held-out subject: the last one
    train, breaths_train = cycles_from_recordings(recs[:-1], method="flow", progress_bar=d.show)
    test, breaths_test = cycles_from_recordings(recs[-1:], method="flow", progress_bar=d.show)
    breaths = pd.concat([breaths_train, breaths_test], ignore_index=True)
    with atomic_path(d.path("breaths"), overwrite=True) as tmp:
        breaths.to_csv(tmp, index=False)
    write_cycleset(train, d.path("cycles"), overwrite=True)
    write_cycleset(test, d.path("test_cycles"), overwrite=True)
    d.state.update(train=train, test=test)
    d.log(f"   {len(breaths)} breaths; {len(train)} training cycles, {len(test)} held-out cycles")


def _demo_train(d: _Demo) -> None:
    """HTVAE with must-link constraints from the labels of a random share of the training breaths."""
    train = d.state["train"]
    labels = np.asarray(train.labels).astype(object)
    known = d.rng.random(len(labels)) < d.label_fraction
    partial = np.where(known & (labels != ""), labels, "").astype(str)
    d.log(f"3/7 training HTVAE maps={list(d.maps)} for {d.epochs} epochs "
          f"(must-link from {int((partial != '').sum())} labelled breaths, {d.label_fraction:.0%})")
    model = htvae_class()(**({} if d.preset is None else {"preset": d.preset}), maps=[tuple(m) for m in d.maps], latent_dim=d.latent_dim, epochs=d.epochs,
                  random_state=int(d.seeds[1]), device="cpu", progress=d.show)
    model.fit(train, must_link=partial, must_link_level=1, checkpoint_dir=d.path("checkpoints"))
    model.save(d.path("model"), overwrite=True)
    d.state["model"] = model


def _demo_evaluate(d: _Demo) -> None:
    test, model = d.state["test"], d.state["model"]
    d.log(f"4/7 evaluating on the held-out subject {test.subjects[0] if len(test) else ''}")
    eval_df = level_report(model.assign(test), test.labels, VENTILATION_TREE, LearnedTree.from_model(model))
    with atomic_path(d.path("evaluation"), overwrite=True) as tmp:
        eval_df.to_csv(tmp, index=False)
    d.state["evaluation"] = eval_df


def _demo_generate(d: _Demo) -> None:
    d.log(f"5/7 generating {d.spec['patients']} virtual patients: {d.spec['composition']}")
    with atomic_path(d.path("cohort_spec"), overwrite=True) as tmp:
        tmp.write_text(json.dumps(d.spec, indent=2))
    # latent "auto": with the flow generator, "kde" (real encodings of the class in each node that holds
    # it, with their lengths); with the decoder alone, "data" rather than the paper's "node": each class is
    # drawn from the Gaussian of its own encoded training breaths inside every node that holds it, so a
    # rare class (apnea) that is nowhere a node's majority after a short training can still be generated
    latent = d.latent
    if latent == "auto" and getattr(d.state["model"], "generator_", None) is None:
        latent = "data"
    cohort = generate_cohort(d.state["model"], d.spec, d.state["train"], random_state=int(d.seeds[2]),
                             options=GenerationOptions(latent=latent, progress=d.show))
    d.latent = cohort.info["latent"]  # as resolved: the report says which sampling was used
    write_cohort(cohort, d.path("cohort"), format="hdf5", overwrite=True)
    d.state["cohort"] = cohort


def _demo_fidelity(d: _Demo) -> None:
    d.log("6/7 fidelity of the cohort against the real (simulated) training breaths")
    fid_kw = dict(out_dir=d.path("fidelity"), random_state=int(d.seeds[3]), overwrite=True, progress_bar=d.show)
    d.state["fidelity_note"] = ("The synthetic breaths are cut at the manifest's boundaries (the virtual "
                                "ventilator's breath marks), as the simulated recordings are cut at theirs; "
                                "segment_breaths found them again with the F1 reported.")
    d.state["fidelity"] = evaluate_cohort(d.state["cohort"], d.state["train"], method="manifest", **fid_kw)


def _demo_notes(d: _Demo) -> list:
    held_out = d.state["recs"][-1].subject
    return [
        (f"This demo trained {d.epochs} epochs, as the paper does." if d.epochs >= 20 else
         f"This demo trained {d.epochs} epochs; the paper trains 20 "
         "(`ventgen train runs/demo/cycles_train.h5 -o model.pt --epochs 20`)."),
        f"Must-link constraints come from the labels of {d.label_fraction:.0%} of the training "
        "breaths (level 1); the other labels were never shown to the model.",
        f"Subject {held_out} was held out: the per-level metrics are computed on it.",
        "All data are simulated by ventgen's physiological simulator.",
        d.state["fidelity_note"],
        f"Generation samples latents with latent={d.latent!r} "
        + {"data": "(the Gaussian of each class's own encoded training breaths inside each node that holds it).",
           "kde": "(the encodings of the class's own training breaths inside each node that holds it, with jitter, "
                  "each with its breath's length), and the breaths themselves from the model's flow generator."}
        .get(d.latent, "(the paper's node Gaussians N(code, sigma^2))."),
    ]


def _demo_report(d: _Demo) -> None:
    d.log("7/7 writing the run report")
    res, eval_df, model = d.result, d.state["evaluation"], d.state["model"]
    res.metrics = {
        "held_out": {f"level_{int(r['level'])}": r for r in eval_df.to_dict(orient="records")}
        if "level" in eval_df else eval_df.to_dict(orient="records"),
        "fidelity": d.state["fidelity"].summary(),
        "timings_s": dict(res.timings_s),
    }
    config = {
        "subjects": d.n_subjects, "minutes_per_subject": d.minutes, "sampling_rate_hz": d.sampling_rate,
        "maps": "x".join(map(str, d.maps[0])) + "".join(f",{h}x{w}" for h, w in d.maps[1:]),
        "latent_dim": d.latent_dim, "epochs": d.epochs, "paper_epochs": 20,
        "label_fraction": d.label_fraction, "held_out_subject": d.state["recs"][-1].subject,
        "cohort_spec": json.dumps(d.spec), "random_state": d.random_state, "preset": d.state["model"].preset,
    }
    res.report = write_run_report(
        d.path("report"), model=model, cycles=d.state["train"], history=model.history_, metrics=res.metrics,
        cohort=d.state["cohort"], fidelity=d.state["fidelity"], level_report=eval_df,
        recording=d.state["recs"][0], config=config, notes=_demo_notes(d), overwrite=True,
        random_state=int(d.seeds[4]))


_DEMO_STEPS = (("simulate", _demo_simulate), ("segment", _demo_segment), ("train", _demo_train),
               ("evaluate", _demo_evaluate), ("generate", _demo_generate), ("fidelity", _demo_fidelity),
               ("report", _demo_report))


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
    latent: str = "auto",
    spec: dict | None = None,
    random_state=0,
    overwrite: bool = False,
    progress: bool | None = None,
    verbose: bool = True,
    preset: str | None = None,
) -> DemoResult:
    """``ventgen demo``: the whole pipeline on simulated data, one step per stage, and a run report.

    Every stage writes its result into the run folder (:class:`RunLayout`) in a documented format, so a
    user can pick up from any stage with the other commands.

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
    latent : {"auto", "kde", "data", "node"}
        How the cohort's latents are drawn (see :func:`ventgen.generate_cohort`): ``"node"`` is the
        paper's N(code, sigma^2) and needs a node whose majority is each requested class. ``"auto"``
        (default): ``"kde"`` with the model's flow generator, ``"data"`` without one.
    spec : dict, optional
        The cohort to generate (default :data:`DEMO_SPEC`).
    random_state : int
        Seeds every stage.
    preset : str, optional
        The HTVAE's hyper-parameter preset (:data:`ventgen.models.config.PRESETS`; default: the
        estimator's default); ``maps``, ``latent_dim`` and ``epochs`` above override it.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> res = run_demo("runs/tiny", n_subjects=2, minutes=3, epochs=1, verbose=False)  # doctest: +SKIP
    """
    if n_subjects < 2:
        raise VentgenValueError(f"the demo needs at least 2 subjects (one is held out), got {n_subjects}")
    if not 0 < label_fraction <= 1:
        raise VentgenValueError(f"label_fraction must be in (0, 1], got {label_fraction}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(17, "run folder exists and is not empty; pass --overwrite to replace it", str(out))
    out.mkdir(parents=True, exist_ok=True)
    rng = check_random_state(random_state)
    d = _Demo(out, n_subjects, minutes, sampling_rate, maps, latent_dim, epochs, label_fraction, latent,
              dict(DEMO_SPEC if spec is None else spec), random_state, overwrite, progress_enabled(progress), verbose, rng,
              rng.integers(0, 2**31 - 1, size=8), DemoResult(out_dir=out), preset=preset)
    t_all = time.perf_counter()
    for name, step in _DEMO_STEPS:
        t0 = time.perf_counter()
        step(d)
        d.result.timings_s[name] = time.perf_counter() - t0
    d.result.timings_s["total"] = time.perf_counter() - t_all
    d.log(f"done in {d.result.timings_s['total']:.0f} s; open {d.result.report}")
    return d.result
