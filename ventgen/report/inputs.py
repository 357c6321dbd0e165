"""The inputs of the standard run report, normalised once: cycles, cohort, and the state sections share."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import VentgenError, VentgenTypeError, VentgenValueError, VentgenWarning
from ..labels import model_maps
from .page import RunReport

__all__ = ["ReportInputs", "cycles_parts", "cohort_parts"]


def _get(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def cycles_parts(cycles, labels=None):
    """(X, labels, sampling_rate, channels, breaths, subjects) from a CycleSet-like or an array."""
    if cycles is None:
        return None
    X = _get(cycles, "X", cycles if isinstance(cycles, np.ndarray) else None)
    if X is None:
        raise VentgenTypeError(f"cycles: expected a CycleSet (with .X) or an array, got {type(cycles).__name__}")
    X = np.asarray(X)
    if X.ndim != 3:
        raise VentgenValueError(f"cycles: expected X of shape (n, channels, time), got {X.shape}")
    lab = labels if labels is not None else _get(cycles, "labels")
    if lab is not None:
        lab = np.asarray([str(v) for v in np.asarray(lab)], dtype=object)
        if lab.shape[0] != X.shape[0]:
            raise VentgenValueError(f"labels: {lab.shape[0]} labels for {X.shape[0]} cycles")
    return {
        "X": X,
        "labels": lab,
        "sampling_rate": _get(cycles, "sampling_rate"),
        "channels": _get(cycles, "channels"),
        "breaths": _get(cycles, "breaths"),
        "subjects": _get(cycles, "subjects"),
    }


def cohort_parts(cohort):
    """(recordings, manifest) from the many shapes a generated cohort may take."""
    if cohort is None:
        return [], None
    if isinstance(cohort, pd.DataFrame):
        return [], cohort
    if isinstance(cohort, tuple) and len(cohort) == 2:
        recs, man = cohort
        return list(recs or []), man
    if isinstance(cohort, Sequence) and not isinstance(cohort, str):
        return list(cohort), None
    recs = _get(cohort, "recordings") or _get(cohort, "patients") or []
    return list(recs), _get(cohort, "manifest")


@dataclass
class ReportInputs:
    """Everything the sections read (see :func:`ventgen.write_run_report` for the inputs)."""

    rep: RunReport
    rng: np.random.Generator
    strict: bool = False
    model: object = None
    cyc: dict | None = None
    test: dict | None = None
    history: list | None = None
    metrics: Mapping | None = None
    cohort: object = None
    fidelity: object = None
    level_report: pd.DataFrame | None = None
    recording: object = None
    synthetic: dict | None = None
    real_breaths: pd.DataFrame | None = None
    synthetic_breaths: pd.DataFrame | None = None
    tables: Mapping | None = None
    config: Mapping | None = None
    notes: str | Sequence[str] | None = None
    n_reconstructions: int = 3
    n_per_class: int = 6
    max_cycles: int = 20000
    # derived, and left by earlier sections for later ones
    maps: list | None = None
    recs: list = field(default_factory=list)
    manifest: pd.DataFrame | None = None
    assign: np.ndarray | None = None
    sub_idx: np.ndarray | None = None
    problems: list = field(default_factory=list)

    def __post_init__(self):
        m = self.model
        if m is not None and model_maps(m) is not None:
            self.maps = model_maps(m)
        self.recs, self.manifest = cohort_parts(self.cohort)

    def attempt(self, what: str, fn):
        """Run ``fn``; a ventgen error (a section whose inputs do not fit) becomes a warning note and a
        :class:`VentgenWarning` unless ``strict``; any other exception is a bug and propagates."""
        try:
            return fn()
        except VentgenError as exc:  # one unusable input must not lose the whole report
            if self.strict:
                raise
            msg = f"{what}: {type(exc).__name__}: {exc}"
            self.problems.append(msg)
            warnings.warn(f"run report: could not build {msg}", VentgenWarning, stacklevel=3)
            self.rep.note(f"Could not build {what}: {type(exc).__name__}: {exc}", kind="warning")
            return None
