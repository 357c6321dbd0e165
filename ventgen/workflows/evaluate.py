"""Evaluate a cohort folder and write a run report: ``ventgen evaluate-cohort`` and ``ventgen report``."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..errors import VentgenValueError
from ..evaluate.fidelity import evaluate_cohort
from ..io.cohort import read_cohort
from ..io.cycleset import read_cycleset
from ..io.fidelity import read_fidelity_folder
from ..io.recordings import read_recording
from ..report import write_run_report
from ._lazy import htvae_class
from .layout import REPORT_INPUTS, RUN_LAYOUT

__all__ = ["evaluate_files", "report_from_run"]






def evaluate_files(cohort, real, out_dir, *, random_state=0, method: str = "segment", model=None,
                   overwrite: bool = False, progress: bool | None = None, log=None) -> dict:
    """``ventgen evaluate-cohort``: the fidelity of a cohort folder against real cycles, written to a folder.

    Parameters
    ----------
    cohort : path
        Folder written by ``ventgen generate``.
    real : path
        Real cycles (CycleSet HDF5), normally the training cycles.
    out_dir : path
        Fidelity folder (``fidelity.json``, ``ks.csv``, ``composition.csv``, ``synthetic_breaths.csv``,
        ``ks_<column>.png``).
    random_state, method, overwrite
        As in :func:`ventgen.evaluate_cohort`.
    model : path, optional
        The model that generated the cohort: adds the reconstruction ceiling.
    log : callable, optional
        Receives the one info line of an evaluation without labels (default: standard error).

    Returns
    -------
    dict
        The summary numbers (and ``reconstruction_ceiling`` with a model), JSON-ready.
    """
    rep = evaluate_cohort(cohort, real, out_dir=out_dir, random_state=random_state, method=method,
                          overwrite=overwrite, model=model, progress_bar=progress)
    log = log or _to_stderr
    out = rep.summary()
    if "note" in rep.info:  # the one info line of an evaluation without labels
        log(f"evaluate-cohort: {rep.info['note']}")
    if rep.ceiling is not None:
        out["reconstruction_ceiling"] = rep.ceiling
    return out


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _run_inputs(run_dir, paths: dict) -> dict:
    """The report's input paths: explicit ones, else the run folder's entries that exist."""
    if run_dir is not None:
        run = Path(run_dir)
        if not run.is_dir():
            raise VentgenValueError(f"{run}: no such run folder")
        for key in REPORT_INPUTS:
            if paths[key] is None and RUN_LAYOUT.path(run, key).exists():
                paths[key] = RUN_LAYOUT.path(run, key)
    if not any(v is not None for v in paths.values()):
        names = sorted(getattr(RUN_LAYOUT, k) for k in REPORT_INPUTS)
        raise VentgenValueError(f"report_from_run: nothing to report: none of {names} in {run_dir}, and no file given")
    for key, p in paths.items():
        if p is not None and not Path(p).exists():
            raise VentgenValueError(f"report_from_run: {key} file {p} does not exist")
    return paths


def _load_run_inputs(paths: dict) -> dict:
    """The report's inputs read from their files (the first recording of a folder)."""
    loaded: dict = {}
    for key in ("cycles", "test_cycles"):
        if paths[key] is not None:
            loaded[key] = read_cycleset(paths[key])
    if paths["model"] is not None:
        loaded["model"] = htvae_class().load(paths["model"], device="cpu")
    if paths["evaluation"] is not None:
        loaded["evaluation"] = pd.read_csv(paths["evaluation"])
    if paths["cohort"] is not None:
        loaded["cohort"] = read_cohort(paths["cohort"])
    if paths["fidelity"] is not None:
        loaded["fidelity"] = read_fidelity_folder(Path(paths["fidelity"]))
    if paths["recordings"] is not None:
        rp = Path(paths["recordings"])
        files = sorted(f for f in rp.iterdir() if f.suffix.lower() in (".h5", ".hdf5", ".csv")) if rp.is_dir() else [rp]
        if files:
            loaded["recording"] = read_recording(files[0])
    return loaded


def report_from_run(run_dir=None, out_dir=None, *, model=None, cycles=None, test_cycles=None, evaluation=None,
                    cohort=None, fidelity=None, recording=None, overwrite: bool = False, **kwargs) -> Path:
    """``ventgen report``: the run report from files, a run folder (:class:`RunLayout`) and/or explicit paths.

    Every input is optional; explicit paths win over the files found in ``run_dir`` (``model.pt``,
    ``cycles_train.h5``, ``cycles_test.h5``, ``evaluation.csv``, ``cohort/``, ``fidelity/``,
    ``recordings/``).

    Parameters
    ----------
    run_dir : path, optional
        A run folder.
    out_dir : path, optional
        Report folder; default ``run_dir/report``.
    model, cycles, test_cycles, evaluation, cohort, fidelity, recording : path, optional
        A saved HTVAE, CycleSet HDF5 files, a per-level metrics CSV, a cohort folder
        (``ventgen generate``), a fidelity folder (``ventgen evaluate-cohort``), a recording file or a
        folder of them (the first is shown).
    overwrite : bool
    **kwargs
        Passed to :func:`ventgen.write_run_report` (``title``, ``notes``, ``metrics``...).

    Returns
    -------
    Path
        The page.

    Examples
    --------
    >>> report_from_run("runs/demo", "runs/demo/report2")  # doctest: +SKIP
    """
    paths = {"model": model, "cycles": cycles, "test_cycles": test_cycles, "evaluation": evaluation,
             "cohort": cohort, "fidelity": fidelity, "recordings": recording}
    if run_dir is not None and not Path(run_dir).is_dir():
        raise VentgenValueError(f"{Path(run_dir)}: no such run folder")
    if out_dir is None:
        if run_dir is None:
            raise VentgenValueError("report_from_run: give a run folder or an output folder")
        out_dir = RUN_LAYOUT.path(run_dir, "report")
    loaded = _load_run_inputs(_run_inputs(run_dir, paths))
    return write_run_report(out_dir, overwrite=overwrite, **loaded, **kwargs)
