"""The generated cohort: :class:`CohortResult`, and its assembly from the stitched signal (one
recording per patient, with its events as annotations, and the breath-by-breath manifest)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import __version__
from ..signals.recording import Recording
from ..signals.resolution import quantize
from .labelling import UNLABELLED, superclass_of
from .spec import CohortSpec

__all__ = ["CohortResult", "CohortSummary", "build_recording", "build_manifest", "composition_table", "seed_of"]


@dataclass
class CohortResult:
    """Virtual patients and the breath-by-breath manifest of how they were made.

    Attributes
    ----------
    recordings : list of Recording
        One continuous recording per patient, with annotations (``start_s``, ``end_s``, ``label``,
        ``superclass``) of every event (run of breaths of one class).
    manifest : DataFrame
        One row per breath: ``patient``, ``breath_index``, ``start_s``, ``end_s``, ``label``,
        ``superclass``, ``level``, ``node``, ``entry`` (the composition entry it fills), ``event``
        (run number within the patient).
    spec : CohortSpec
    node_labels : DataFrame
        :func:`ventgen.label_nodes` of the model on the reference.
    info : dict
        Seed, sampling rate, length method and the other options; timings (``seconds``,
        ``breaths_per_s``) too, which :func:`ventgen.write_cohort` keeps out of ``cohort.json`` (they
        differ between two runs with one seed).
    """

    recordings: list
    manifest: pd.DataFrame
    spec: CohortSpec
    node_labels: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict = field(default_factory=dict)

    @property
    def n_breaths(self) -> int:
        return len(self.manifest)

    def composition(self) -> pd.DataFrame:
        """Requested vs achieved share of breaths per composition entry (see
        :func:`ventgen.generate_cohort` for an example)."""
        return composition_table(self.spec, self.manifest["entry"].value_counts().to_dict())

    def __repr__(self) -> str:
        return (f"CohortResult({len(self.recordings)} patients, {self.n_breaths} breaths, "
                f"{sum(r.duration_s for r in self.recordings) / 60:.1f} min)")


def seed_of(random_state):
    """The seed recorded in the outputs: an integer seed, else None."""
    return random_state if isinstance(random_state, (int, np.integer)) else None


def superclasses(tree, labels: np.ndarray) -> np.ndarray:
    """The super-class of every label (``"unlabelled"`` stays itself)."""
    ulab, inv = np.unique(labels, return_inverse=True)
    return np.array([superclass_of(tree, v) if v != UNLABELLED else UNLABELLED for v in ulab])[inv.ravel()]


def _annotations(lab_p: np.ndarray, sup_p: np.ndarray, start_s: np.ndarray, end_s: np.ndarray,
                 dur: float) -> pd.DataFrame:
    """One row per event of one patient (merged when two runs of the same label touch); unlabelled
    breaths get none."""
    ch = np.ones(lab_p.size, dtype=bool)
    ch[1:] = lab_p[1:] != lab_p[:-1]
    a_idx = np.flatnonzero(ch)
    a_end = np.append(a_idx[1:], lab_p.size) - 1
    ann = pd.DataFrame({"start_s": start_s[a_idx], "end_s": np.minimum(end_s[a_end], dur),
                        "label": lab_p[a_idx], "superclass": sup_p[a_idx]})
    keep = (ann["end_s"] > ann["start_s"]) & (ann["label"] != UNLABELLED)  # no label, no annotation
    return ann[keep].reset_index(drop=True)


def _resampled(f_p: np.ndarray, p_p: np.ndarray, cyc_rate: float, out_rate: float) -> tuple:
    """Flow and pressure at ``out_rate`` (linear interpolation), unchanged at the cycles' rate."""
    if out_rate == cyc_rate:
        return f_p, p_p
    n_out = max(2, int(np.floor(f_p.size * out_rate / cyc_rate)))
    t_out = np.arange(n_out) / out_rate
    t_in = np.arange(f_p.size) / cyc_rate
    return np.interp(t_out, t_in, f_p), np.interp(t_out, t_in, p_p)


def build_recording(flow, pres, lens, lab, sup, *, name: str, patient: int, cyc_rate: float, out_rate: float,
                    cohort_name: str, seed, resolution=None) -> tuple:
    """One patient's stitched signal as a :class:`Recording`: its events as annotations, and every
    breath's boundaries as device breath marks (``markers``), as a ventilator's recording carries them
    (PB-840 files, the simulator's recordings): :func:`ventgen.segment_breaths` cuts the recording
    where its breaths were generated (``method="flow"`` detects them from the signals instead).
    ``resolution`` (flow, pressure): steps the signals are rounded to after any resampling, as the
    recording device writes them (0: left as they are; None: not rounded).

    Returns the recording and the per-breath ``start_s``, ``end_s`` (within the recording) and
    ``breath_index``.
    """
    ends = np.cumsum(lens)
    start_s = np.concatenate(([0], ends[:-1])) / cyc_rate
    end_s = start_s + lens / cyc_rate
    f_p, p_p = _resampled(flow[: ends[-1]], pres[: ends[-1]], cyc_rate, out_rate)
    if resolution is not None:  # the device's recording resolution, after any resampling
        f_p, p_p = quantize(f_p, resolution[0]), quantize(p_p, resolution[1])
    ann = _annotations(lab, sup, start_s, end_s, f_p.size / out_rate)
    meta = {"generator": "ventgen.generate_cohort", "ventgen_version": __version__,
            "cohort": cohort_name, "patient": int(patient), "n_breaths": int(lens.size), "seed": seed}
    rec = Recording(flow=f_p, pressure=p_p, sampling_rate=out_rate, subject=name, metadata=meta, annotations=ann,
                    markers=_marks(start_s, end_s, out_rate, f_p.size))
    return rec, start_s, end_s, np.arange(lens.size, dtype=np.int64)


def _marks(start_s: np.ndarray, end_s: np.ndarray, rate: float, n: int) -> dict:
    """Breath marks (sample indices at ``rate``) of the breaths that start inside ``n`` samples."""
    st = np.round(np.asarray(start_s) * rate).astype(np.int64)
    en = np.minimum(np.round(np.asarray(end_s) * rate).astype(np.int64), n)
    keep = (st < n) & (en > st) & np.r_[True, np.diff(st) > 0]
    return {"start_idx": st[keep], "end_idx": en[keep]}


def build_manifest(name: str, bidx, start_s, end_s, lab, sup, level, node, entry_keys, entry, run):
    """One row per breath of one patient (see :class:`CohortResult`)."""
    return pd.DataFrame({
        "patient": np.full(bidx.size, name, dtype=object),
        "breath_index": bidx,
        "start_s": start_s,
        "end_s": end_s,
        "label": lab,
        "superclass": sup,
        "level": level.astype(np.int64),
        "node": node.astype(np.int64),
        "entry": np.array(entry_keys, dtype=object)[entry],
        "event": run.astype(np.int64),
    })


def composition_table(spec: CohortSpec, breaths: dict) -> pd.DataFrame:
    """Requested vs achieved share of breaths per composition entry, from ``breaths`` (entry key ->
    breaths generated)."""
    n = max(sum(breaths.values()), 1)
    rows = [{"entry": e.key, "requested": e.fraction, "breaths": int(breaths.get(e.key, 0)),
             "achieved": int(breaths.get(e.key, 0)) / n} for e in spec.composition]
    df = pd.DataFrame(rows)
    df["difference"] = df["achieved"] - df["requested"]
    return df


@dataclass
class CohortSummary:
    """What :func:`ventgen.workflows.generate_files` wrote: a cohort folder, patient by patient (the
    cohort is never gathered in one process; read it back with :func:`ventgen.read_cohort`).

    Attributes
    ----------
    output : str
        The cohort folder.
    files : list of str
        The recording files, one per patient.
    n_breaths : int
    duration_s : float
        Seconds of signal, all patients together.
    info : dict
        As :attr:`CohortResult.info` (with the timings).
    """

    output: str
    files: list
    n_breaths: int
    duration_s: float
    info: dict = field(default_factory=dict)

    @property
    def n_patients(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"Cohort({self.n_patients} patients, {self.n_breaths} breaths, {self.duration_s / 60:.1f} min)"
