"""How faithful a generated cohort is: :func:`evaluate_cohort` runs every measure of this package.

See :mod:`ventgen.evaluate.fidelity` for the measures.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..._core import check_random_state
from ...errors import VentgenTypeError, VentgenValueError, VentgenWarning
from ...generate.reference import NO_LABEL
from ...generate.result import CohortResult
from ...io.cohort import read_cohort
from ...io.cycleset import read_cycleset
from ...io.fidelity import (
    BREATHS_FIGURE,
    check_fidelity_folder,
    fidelity_targets,
    write_fidelity_folder,
)
from ...signals.cycles import CHANNELS
from ...viz.breaths import plot_breath_examples
from ...viz.fidelity import ks_figures
from .ceiling import reconstruction_ceiling
from .classifiers import (
    CNN_EPOCHS,
    CNN_NAME,
    cycle_features,
    discriminative_score,
    flow_pressure,
    tstr_trtr,
)
from .memorisation import memorisation_check
from .metadata import METADATA_KS_COLUMNS, cycle_metadata, ks_floor, ks_table
from .report import FidelityReport
from .segmentation import synthetic_cycles

__all__ = ["evaluate_cohort", "NEEDS_LABELS"]


def evaluate_cohort(cohort, real_cycles, out_dir=None, *, random_state=0, method: str = "manifest",
                    tolerance_s: float = 0.3, columns=METADATA_KS_COLUMNS, overwrite: bool = False,
                    model=None, cnn_epochs: int = CNN_EPOCHS, progress_bar: bool | None = None) -> FidelityReport:
    """Fidelity of a generated cohort against the real (training) cycles.

    Parameters
    ----------
    cohort : CohortResult or path
        A result of :func:`ventgen.generate_cohort`, or a folder written by :func:`ventgen.write_cohort`.
    real_cycles : CycleSet or path
        The real breaths (normally the model's training cycles), with labels and metadata.
    out_dir : path, optional
        Where to write ``fidelity.json``, ``ks.csv``, ``composition.csv``, ``synthetic_breaths.csv``,
        ``ks_<column>.png`` and ``breaths_real_vs_generated.png`` (a few real and generated breaths
        of every class, side by side).
    random_state : int
        Seeds the splits and the classifiers.
    method : {"manifest", "segment"}
        Where the synthetic breaths compared with the real ones are cut. ``"manifest"`` (default): at
        the manifest's boundaries, the virtual ventilator's breath marks, as real recordings with device
        marks (PB-840 files, the simulator) are cut. ``"segment"``: where
        :func:`ventgen.segment_breaths` (``method="flow"``) finds them, for real cycles that the flow
        detector cut. Either way the detector's F1 against the manifest is reported
        (``report.segmentation``): breaths cut by two different rules differ at their edges, and a
        classifier sees the rule (real ventmode breaths, the default cohort: random forest 0.307 at the
        manifest's boundaries, 0.342 at the detector's; CNN 0.137 against 0.297).
    tolerance_s : float
        Largest start offset of a detected breath that still matches a generated one.
    columns : sequence of str
        Metadata compared with KS.
    overwrite : bool
        Replace existing report files in ``out_dir``.
    model : HTVAE or path, optional
        The model that generated the cohort: adds the :func:`reconstruction_ceiling` (the same numbers
        for its reconstructions of the real breaths) under ``report.ceiling``.
    cnn_epochs : int
        Training epochs of every fold of :func:`cnn_discriminative_score` (the discriminative score of
        a 1-D CNN on the raw cycles, next to the random forest's); 0 leaves the CNN out.

    Notes
    -----
    The discriminative score comes from two classifiers, a random forest on decimated cycles
    (``report.discriminative``) and a 1-D CNN on the raw flow and pressure cycles
    (``report.discriminative_cnn``). Each holds its ``floor``: the same classifier between two random
    halves of the real breaths, what a perfect generator would score with this many breaths; with
    ``model``, ``report.ceiling`` holds both classifiers' scores of the model's reconstructions.
    :meth:`FidelityReport.discriminative_table` puts the three side by side.

    Returns
    -------
    FidelityReport

    Examples
    --------
    >>> report = evaluate_cohort("cohort/", "cycles_train.h5", out_dir="fidelity/")  # doctest: +SKIP
    >>> report.summary()["ks_median"]  # doctest: +SKIP
    """
    if method not in ("segment", "manifest"):
        raise VentgenValueError(f"evaluate_cohort: method must be 'segment' or 'manifest', got {method!r}")
    rng = check_random_state(random_state)
    out = None if out_dir is None else Path(os.path.abspath(out_dir))
    inputs = [p for p in (cohort, real_cycles, model) if isinstance(p, (str, os.PathLike))]
    if out is not None:  # before any (slow) reading or computing
        check_fidelity_folder(out, fidelity_targets(out, columns), overwrite=overwrite, inputs=inputs)
    cohort, real_cycles = _read_inputs(cohort, real_cycles)
    T = real_cycles.X.shape[2]
    syn, segd = synthetic_cycles(cohort, T, float(real_cycles.sampling_rate), method, tolerance_s, progress_bar)
    if len(syn) == 0:
        raise VentgenValueError("evaluate_cohort: no breath was found in the synthetic recordings")
    if int(cnn_epochs) < 0:
        raise VentgenValueError(f"evaluate_cohort: cnn_epochs must be >= 0 (0 leaves the CNN out), got {cnn_epochs}")
    report = _measure(cohort, real_cycles, syn, segd, method, columns, rng, int(cnn_epochs))
    if model is not None:
        report.ceiling = _ceiling(model, cohort, real_cycles, report, columns, rng, int(cnn_epochs))
    if out is not None:
        figures = _figures(report, real_cycles, syn, columns, rng)
        report.figures = [out / name for name in figures]
        write_fidelity_folder(out, report._tables(), figures, overwrite=overwrite, inputs=inputs)
    return report


def _figures(report: FidelityReport, real_cycles, syn, columns, rng) -> dict:
    """``{file name: Figure}``: the metadata histograms per column, and a few breaths per class."""
    rl, sl = report.real_breaths["label"].to_numpy(), report.synthetic_breaths["label"].to_numpy()
    unlabelled = report.info.get("labelled") is False
    if unlabelled:  # one class, "all", as in the KS table
        rl, sl = np.full(rl.size, "all"), np.full(sl.size, "all")
    figures = {f"ks_{col}.png": fig for col, fig in
               ks_figures(report.real_breaths, report.synthetic_breaths, rl, sl, report.ks, columns).items()}
    figures[BREATHS_FIGURE] = plot_breath_examples(
        flow_pressure(real_cycles, "real cycles"), flow_pressure(syn, "synthetic cycles"),
        real_labels=None if unlabelled else rl, generated_labels=None if unlabelled else sl,
        real_lengths=real_cycles.lengths, generated_lengths=syn.lengths, sampling_rate=float(real_cycles.sampling_rate),
        channels=list(CHANNELS), random_state=rng)
    return figures


def _read_inputs(cohort, real_cycles):
    """The cohort and the real cycles, read from their files when given as paths, and checked."""
    if isinstance(cohort, (str, os.PathLike)):
        cohort = read_cohort(cohort)
    if not isinstance(cohort, CohortResult):
        raise VentgenTypeError(f"evaluate_cohort: cohort must be a CohortResult or a folder, got {type(cohort).__name__}")
    if isinstance(real_cycles, (str, os.PathLike)):
        real_cycles = read_cycleset(real_cycles)
    if not hasattr(real_cycles, "X") or not hasattr(real_cycles, "labels"):
        raise VentgenTypeError(f"evaluate_cohort: real_cycles must be a CycleSet or its path, got {type(real_cycles).__name__}")
    return cohort, real_cycles


#: What an evaluation without labels leaves out (the real cycles, or the cohort, carry no shared class).
NEEDS_LABELS = ["tstr_trtr", "ks by class", "class-matched discriminative score"]


def _labels(cycles, n: int) -> np.ndarray:
    lab = getattr(cycles, "labels", None)
    return np.full(n, "", dtype=str) if lab is None else np.asarray(lab).astype(str)


def _measure(cohort, real_cycles, syn, segd: dict, method: str, columns, rng, cnn_epochs: int) -> FidelityReport:
    """Every fidelity number of the synthetic cycles ``syn`` against the real ones."""
    rl = _labels(real_cycles, len(real_cycles.X))
    sl = _labels(syn, len(syn.X))
    if not (set(rl) & set(sl)) - set(NO_LABEL):
        return _measure_unlabelled(cohort, real_cycles, syn, segd, method, columns, rng, rl, sl, cnn_epochs)
    real_meta, syn_meta = cycle_metadata(real_cycles), cycle_metadata(syn)
    ks = ks_table(real_meta, syn_meta, rl, sl, columns=columns)
    if ks["ks"].isna().all():
        warnings.warn("evaluate_cohort: no class has enough real and synthetic breaths for a KS statistic",
                      VentgenWarning, stacklevel=3)
    Xr, Xs = flow_pressure(real_cycles, "real cycles"), flow_pressure(syn, "synthetic cycles")
    fr, fs = cycle_features(Xr), cycle_features(Xs)
    try:
        clf = tstr_trtr(fr, rl, fs, sl, random_state=rng)
    except VentgenValueError as exc:
        clf = {"error": str(exc)}
    keep_r, keep_s = np.flatnonzero(rl != ""), np.flatnonzero(sl != "")
    disc, cnn = _discriminative((Xr[keep_r], real_cycles.lengths[keep_r], rl[keep_r]),
                                (Xs[keep_s], syn.lengths[keep_s], sl[keep_s]), rng, cnn_epochs,
                                _subjects(real_cycles)[keep_r])
    mem = memorisation_check(fr, fs, random_state=rng)
    return FidelityReport(
        composition=cohort.composition(), segmentation=segd, ks=ks, classifier=clf, discriminative=disc,
        memorisation=mem, discriminative_cnn=cnn, ks_floor=_ks_floor(real_meta, rl, sl, columns, rng),
        info={"n_real": int(len(rl)), "n_synthetic_breaths_found": int(len(sl)), "method": method,
              "cycle_rate": float(real_cycles.sampling_rate), "columns": list(columns)},
        real_breaths=real_meta.assign(label=rl), synthetic_breaths=syn_meta.assign(label=sl))


def _measure_unlabelled(cohort, real_cycles, syn, segd: dict, method: str, columns, rng, rl, sl,
                        cnn_epochs: int) -> FidelityReport:
    """What needs no labels: KS over all breaths, the discriminative score, memorisation, segmentation."""
    real_meta, syn_meta = cycle_metadata(real_cycles), cycle_metadata(syn)
    ks = ks_table(real_meta, syn_meta, columns=columns)
    Xr, Xs = flow_pressure(real_cycles, "real cycles"), flow_pressure(syn, "synthetic cycles")
    fr, fs = cycle_features(Xr), cycle_features(Xs)
    note = ("the real cycles and the cohort share no labelled class: reported what needs no labels "
            "(discriminative score, KS over all breaths, memorisation, segmentation F1); needs labels: "
            + ", ".join(NEEDS_LABELS))
    disc, cnn = _discriminative((Xr, real_cycles.lengths, None), (Xs, syn.lengths, None), rng, cnn_epochs,
                                _subjects(real_cycles))
    mem = memorisation_check(fr, fs, random_state=rng)
    return FidelityReport(
        composition=cohort.composition(), segmentation=segd, ks=ks,
        classifier={"skipped": "needs labels"}, discriminative=disc, memorisation=mem, discriminative_cnn=cnn,
        ks_floor=_ks_floor(real_meta, None, np.full(len(sl), "all"), columns, rng),
        info={"n_real": int(len(rl)), "n_synthetic_breaths_found": int(len(sl)), "method": method,
              "cycle_rate": float(real_cycles.sampling_rate), "columns": list(columns),
              "labelled": False, "needs_labels": list(NEEDS_LABELS), "note": note},
        real_breaths=real_meta.assign(label=rl), synthetic_breaths=syn_meta.assign(label=sl))


def _ks_floor(real_meta, rl, sl, columns, rng) -> float:
    """:func:`ks_floor` at the synthetic side's size per class (``rl`` None: one class)."""
    names, counts = np.unique(np.asarray(sl).astype(str), return_counts=True)
    return ks_floor(real_meta, rl, dict(zip(names.tolist(), counts.tolist(), strict=True)), columns,
                    random_state=int(rng.integers(2**31)))


def _subjects(cycles) -> np.ndarray:
    """The subject of every real cycle (``""`` where a CycleSet-like input holds none)."""
    subj = getattr(cycles, "subjects", None)
    return np.full(len(cycles.X), "", dtype=str) if subj is None else np.asarray(subj).astype(str)


def subject_halves(subjects, rng) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices of the breaths of a random half of the subjects and of the other half (None with fewer
    than two subjects): what separates one group of real subjects from another.

    >>> subjects = np.array(["s1", "s1", "s2", "s3"])
    >>> a, b = subject_halves(subjects, np.random.default_rng(0))
    >>> sorted(np.r_[a, b].tolist()), set(subjects[a]) & set(subjects[b])
    ([0, 1, 2, 3], set())
    """
    names = np.unique(subjects)
    if names.size < 2:
        return None
    first = rng.permutation(names)[: names.size // 2]
    inside = np.isin(subjects, first)
    return np.flatnonzero(inside), np.flatnonzero(~inside)


def _discriminative(real: tuple, syn: tuple, rng, cnn_epochs: int, subjects=None) -> tuple[dict, dict]:
    """The random forest's and the CNN's discriminative scores of ``syn`` against ``real`` (each an
    ``(X, lengths, labels or None)`` triple), each with its ``floor``: the same classifier between two
    random halves of the real breaths, and (``subjects`` of the real breaths, two or more of them) its
    ``between_subjects``: the real breaths of half the subjects against the other half's (what new
    real subjects score against these). Floors compare as many breaths of each class as the score
    (its ``per_class``): a classifier's score grows with the breaths it learns from."""
    (Xr, Lr, yr), (Xs, Ls, ys) = real, syn
    Lr, Ls = np.asarray(Lr), np.asarray(Ls)
    fr, fs = cycle_features(Xr), cycle_features(Xs)
    forest = discriminative_score(fr, fs, yr, ys, random_state=rng)  # first: the same number as before the floor
    per = forest["per_class"]
    half = rng.random(len(Xr)) < 0.5
    a, b = np.flatnonzero(half), np.flatnonzero(~half)
    ya, yb = (None, None) if yr is None else (yr[a], yr[b])
    forest["floor"] = _floor(lambda: discriminative_score(fr[a], fr[b], ya, yb, random_state=rng, per_class=per))
    groups = None if subjects is None else subject_halves(np.asarray(subjects).astype(str), rng)
    sides = None if groups is None else (*groups, *((None, None) if yr is None else (yr[groups[0]], yr[groups[1]])))
    no_subjects = {"error": "needs the real breaths of at least two subjects"}
    forest["between_subjects"] = no_subjects if sides is None else _floor(
        lambda: discriminative_score(fr[sides[0]], fr[sides[1]], sides[2], sides[3], random_state=rng, per_class=per))
    if cnn_epochs == 0:
        return forest, {"classifier": CNN_NAME, "skipped": "cnn_epochs=0"}
    from .cnn import cnn_discriminative_score  # torch: loaded when the CNN score is computed

    cnn = cnn_discriminative_score(Xr, Xs, yr, ys, real_lengths=Lr, synth_lengths=Ls, random_state=rng,
                                   epochs=cnn_epochs)

    def cnn_between(i, j, yi, yj):
        return lambda: cnn_discriminative_score(Xr[i], Xr[j], yi, yj, real_lengths=Lr[i], synth_lengths=Lr[j],
                                                random_state=rng, epochs=cnn_epochs, per_class=cnn["per_class"])

    cnn["floor"] = _floor(cnn_between(a, b, ya, yb))
    cnn["between_subjects"] = no_subjects if sides is None else _floor(cnn_between(*sides))
    return forest, cnn


def _floor(score) -> dict:
    """``accuracy``, ``score``, ``n_per_side`` and ``per_class`` of ``score()``, or the one-line reason it
    could not run."""
    try:
        d = score()
    except VentgenValueError as exc:
        return {"error": str(exc)}
    return {k: d[k] for k in ("accuracy", "score", "n_per_side", "per_class")}


def _ceiling(model, cohort, real_cycles, report: FidelityReport, columns, rng, cnn_epochs: int) -> dict:
    """The reconstruction ceiling of ``model`` (or its file), with the cohort's observation model."""
    if isinstance(model, (str, os.PathLike)):
        from ...models.estimator import HTVAE  # torch: loaded only when a model file is given

        model = HTVAE.load(model)
    info = cohort.info or {}
    return reconstruction_ceiling(model, real_cycles, report.classifier.get("classes"), columns=columns,
                                  random_state=rng, noise=info.get("noise", "none"),
                                  boundary=info.get("boundary", "none"),
                                  noise_highpass_hz=info.get("noise_highpass_hz", 4.0), cnn_epochs=cnn_epochs,
                                  decoder=info.get("decoder", "auto"),
                                  per_class=report.discriminative.get("per_class"),
                                  cnn_per_class=(report.discriminative_cnn or {}).get("per_class"))
