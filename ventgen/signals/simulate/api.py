"""simulate_recording and simulate_cohort: a patient, a ventilator and an event plan, put together."""

from __future__ import annotations

import numbers
from dataclasses import asdict

import numpy as np
import pandas as pd

from ..._core import check_random_state, progress
from ..._core.limits import (
    MAX_COHORT_MINUTES,
    MAX_PATIENTS,
    MAX_RECORDING_SAMPLES,
    MAX_SIMULATION_MINUTES,
    check_number,
    check_sampling_rate,
)
from ...errors import VentgenValueError
from ...labels import VENTILATION_CLASSES, VENTILATION_TREE
from ..recording import Recording
from .effort import Drives, EffortGenerator
from .events import plan_events, resolve_proportions
from .patient import PatientParams, check_overrides, draw_patient
from .ventilator import MODES, Ventilator, VentilatorSettings, draw_settings, measure_signals

__all__ = ["simulate_recording", "simulate_cohort", "check_simulation_args", "check_subjects", "subject_id",
           "INTERFACES"]

_CLASS_CODE = {c: i for i, c in enumerate(VENTILATION_CLASSES)}
INTERFACES = ("mask", "invasive")


def check_simulation_args(minutes, sampling_rate, mode, interface):
    try:
        minutes = check_number(minutes, "minutes", low=0, low_open=True, high=MAX_SIMULATION_MINUTES)
    except VentgenValueError:
        raise VentgenValueError(
            f"minutes must be a positive finite number, at most {MAX_SIMULATION_MINUTES:g} "
            f"(MAX_SIMULATION_MINUTES: one week per patient), got {minutes!r}"
        ) from None
    sampling_rate = check_sampling_rate(sampling_rate, "sampling_rate")
    if mode not in MODES:
        raise VentgenValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if interface not in INTERFACES:
        raise VentgenValueError(f"interface must be one of {list(INTERFACES)}, got {interface!r}")
    n = int(round(minutes * 60 * sampling_rate))
    if n < 10 * sampling_rate:
        raise VentgenValueError(f"minutes={minutes!r} is too short: the simulator needs at least 10 s of signal")
    if n > MAX_RECORDING_SAMPLES:
        raise VentgenValueError(
            f"minutes={minutes!r} at {sampling_rate:g} Hz gives {n} samples; a recording holds at most "
            f"{MAX_RECORDING_SAMPLES} (MAX_RECORDING_SAMPLES): use fewer minutes or a lower rate"
        )
    return n


def check_subjects(n_subjects, minutes) -> int:
    """Number of simulated patients (at most MAX_PATIENTS, and MAX_COHORT_MINUTES in all: they are
    held in memory together)."""
    if (isinstance(n_subjects, bool) or not isinstance(n_subjects, numbers.Integral)
            or not 1 <= n_subjects <= MAX_PATIENTS):
        raise VentgenValueError(
            f"n_subjects must be a positive integer, at most {MAX_PATIENTS} (MAX_PATIENTS), got {n_subjects!r}"
        )
    n_subjects = int(n_subjects)
    if isinstance(minutes, numbers.Real) and n_subjects * float(minutes) > MAX_COHORT_MINUTES:
        raise VentgenValueError(
            f"{n_subjects} subjects x {float(minutes):g} minutes exceed {MAX_COHORT_MINUTES:g} patient-minutes "
            "(MAX_COHORT_MINUTES) in one simulated cohort; simulate it in parts"
        )
    return n_subjects


def _simulate(n, rate, rng, proportions, mode, phenotype, patient, settings, interface):
    """Core simulation; returns a dict with the recording pieces and the hidden drives."""
    duration = n / rate
    pat = draw_patient(rng, phenotype, interface=interface, **patient)
    vs = draw_settings(rng, mode, patient=pat, **settings)
    windows = plan_events(duration, proportions, rng)
    drives = Drives.zeros(n)
    efforts = EffortGenerator(drives, windows, pat, rate, rng).run(duration)
    vent = Ventilator(drives, pat, vs, mode, rate)
    if mode == "cpap":
        breaths = vent.run_cpap(efforts["onset_idx"].to_numpy())
    else:
        breaths = vent.run()
    flow, pressure = measure_signals(vent, drives, pat, vs, rate, rng)

    # true breaths and their labels (label of the latest effort at the breath start)
    b = np.array([x[:2] for x in breaths], dtype=np.int64).reshape(-1, 2)
    mand = np.array([x[2] for x in breaths], dtype=bool)
    starts, iends = b[:, 0], b[:, 1]
    ends = np.append(starts[1:], n)
    on = efforts["onset_idx"].to_numpy()
    j = np.searchsorted(on, starts, side="right") - 1
    win_lab = windows["label"].to_numpy()
    win_idx = np.searchsorted(windows["start_s"].to_numpy(), starts / rate, side="right") - 1
    labels = np.where(j >= 0, efforts["label"].to_numpy()[np.maximum(j, 0)] if len(on) else "normal breathing",
                      win_lab[np.maximum(win_idx, 0)])
    effort = np.where((j >= 0) & ~mand, efforts["pmax_cmh2o"].to_numpy()[np.maximum(j, 0)] if len(on) else 0.0, 0.0)
    markers = pd.DataFrame({
        "start_idx": starts,
        "end_idx": ends,
        "device_breath": np.arange(1, len(starts) + 1, dtype=np.int64),
        "insp_end_idx": iends,
        "label_code": np.array([_CLASS_CODE[x] for x in labels], dtype=np.int64),
        "mandatory": mand.astype(np.int64),
        "effort_cmh2o": np.round(effort, 3),
    })
    # annotations: runs of equal breath labels; first from 0, last to the end
    if len(labels):
        change = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        a_start = starts[change] / rate
        a_start[0] = 0.0
        a_end = np.append(a_start[1:], duration)
        a_lab = labels[change]
    else:
        a_start, a_end, a_lab = np.array([0.0]), np.array([duration]), np.array(["normal breathing"])
    ann = pd.DataFrame({"start_s": a_start, "end_s": a_end, "label": a_lab.astype(object),
                        "superclass": VENTILATION_TREE.map(a_lab, 1)})
    # ventilator-style volume: integral of recorded flow since the current breath start (mL)
    cs = np.concatenate(([0.0], np.cumsum(flow))) * (1000.0 / 60.0 / rate)
    seg = np.zeros(n, dtype=np.int64)
    if len(starts):
        seg[starts] = starts
        seg = np.maximum.accumulate(seg)
    volume = cs[:n] - cs[seg]
    return {
        "flow": flow, "pressure": pressure, "volume": volume, "markers": markers, "annotations": ann,
        "patient": pat, "settings": vs, "windows": windows, "efforts": efforts, "drives": drives,
        "vent": vent,
    }


def simulate_recording(minutes: float = 60.0, sampling_rate: float = 50.0, random_state=0, proportions=None,
                       mode: str = "psv", *, phenotype: str | None = None, patient=None, settings=None,
                       interface: str = "mask", subject: str = "sim-01") -> Recording:
    """Simulate one ventilated patient with labelled breathing events.

    Parameters
    ----------
    minutes : float
        Length of the recording (at least 10 s).
    sampling_rate : float
        Samples per second, in [10, 1000] (50 Hz like the PB-840).
    random_state : None, int or numpy Generator
        Same seed, same bytes.
    proportions : mapping or str, optional
        Share of recording time per class (or super-class), see
        :func:`ventgen.signals.simulate.events.resolve_proportions`; default
        :data:`ventgen.signals.simulate.events.DEFAULT_PROPORTIONS` (all ten classes).
    mode : {"psv", "pcv", "vcv", "cpap"}
        Ventilation mode: pressure support with backup rate, pressure assist-control, volume
        assist-control, or CPAP.
    phenotype : {"healthy", "obstructive", "restrictive"}, optional
        Patient type; drawn when None.
    patient, settings : mapping, optional
        Overrides of :class:`PatientParams` / :class:`VentilatorSettings` fields (e.g.
        ``settings={"peep": 8}``).
    interface : {"mask", "invasive"}
        A non-invasive mask has leak; an invasive interface has none.
    subject : str
        Subject identifier.

    Returns
    -------
    Recording
        ``flow`` (L/min), ``pressure`` (cmH2O), ``volume`` (mL since the breath start), annotations
        (``start_s, end_s, label, superclass``; contiguous, covering the recording) and markers of the
        true breaths (``start_idx, end_idx`` (exclusive, = next start), ``insp_end_idx`` (first
        expiratory sample), ``device_breath`` (1, 2, ...), ``label_code`` (index into
        :data:`ventgen.labels.VENTILATION_CLASSES`; every breath lies inside one annotation of that
        label), ``mandatory`` (1 = backup/timed breath, 0 = patient-triggered), ``effort_cmh2o`` (peak
        muscle pressure of the triggering effort, 0 for untriggered breaths)); markers are numeric so
        that every file format stores them. ``metadata`` holds the patient and ventilator settings.

    Examples
    --------
    >>> rec = simulate_recording(minutes=1, random_state=0)
    >>> rec.sampling_rate, rec.n_samples
    (50.0, 3000)
    >>> set(rec.annotations["label"]) <= set(VENTILATION_TREE.classes)
    True
    """
    n = check_simulation_args(minutes, sampling_rate, mode, interface)
    props = resolve_proportions(proportions)
    patient = check_overrides(PatientParams, patient, "patient")
    settings = check_overrides(VentilatorSettings, settings, "settings")
    rng = check_random_state(random_state)
    out = _simulate(n, float(sampling_rate), rng, props, mode, phenotype, patient, settings, interface)
    meta = {
        "source": "ventgen.simulate",
        "mode": mode,
        "interface": interface,
        "patient": asdict(out["patient"]),
        "settings": asdict(out["settings"]),
        "proportions": props,
    }
    if isinstance(random_state, (int, np.integer)):
        meta["random_state"] = int(random_state)
    return Recording(flow=out["flow"], pressure=out["pressure"], sampling_rate=float(sampling_rate),
                     volume=out["volume"], subject=str(subject), metadata=meta,
                     markers=out["markers"], annotations=out["annotations"])


def simulate_cohort(n_subjects: int = 3, minutes: float = 60.0, sampling_rate: float = 50.0, random_state=0,
                    proportions=None, mode: str = "psv", progress: bool | None = None, *,
                    phenotypes=None, patient=None, settings=None, interface: str = "mask",
                    shared_settings: bool = True) -> list[Recording]:
    """Simulate a cohort of ventilated patients (default: the paper's 3 subjects x 1 hour, 10 classes).

    Subject ``i`` gets its own random stream (spawned from ``random_state``), so it is the same
    whatever ``n_subjects`` is (for an int or None ``random_state``).

    Parameters
    ----------
    n_subjects : int
        Number of patients.
    minutes, sampling_rate, proportions, mode, patient, settings, interface
        As in :func:`simulate_recording` (the same for every subject).
    random_state : None, int or numpy Generator
        Same seed, same bytes.
    progress : bool, optional
        Show a progress bar over subjects (None = the global setting).
    phenotypes : str or sequence of str, optional
        One phenotype for all, or one per subject; drawn when None.
    shared_settings : bool
        True (default): one ventilator protocol for the whole cohort, drawn once (PEEP, support,
        trigger, cycling, rise time ...; backup rate at most 8 breaths/min), as in the paper's
        dataset (three subjects on the same ventilator model). False: settings drawn and titrated
        per patient, like different ICU patients. ``settings`` overrides either way.

    Returns
    -------
    list of Recording
        Subjects ``sim-01``, ``sim-02``, ...

    Examples
    --------
    >>> recs = simulate_cohort(n_subjects=2, minutes=0.5, random_state=1, progress=False)
    >>> [r.subject for r in recs]
    ['sim-01', 'sim-02']
    """
    check_simulation_args(minutes, sampling_rate, mode, interface)
    n_subjects = check_subjects(n_subjects, minutes)
    resolve_proportions(proportions)
    if phenotypes is None or isinstance(phenotypes, str):
        phen = [phenotypes] * n_subjects
    else:
        phen = list(phenotypes)
        if len(phen) != n_subjects:
            raise VentgenValueError(f"phenotypes has {len(phen)} entries for n_subjects={n_subjects}")
    if isinstance(random_state, np.random.Generator):
        streams = random_state.spawn(n_subjects)
    else:
        check_random_state(random_state)
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(random_state).spawn(n_subjects)]
    settings = check_overrides(VentilatorSettings, settings, "settings")
    if shared_settings:
        if isinstance(random_state, np.random.Generator):
            srng = random_state.spawn(1)[0]
        else:  # a child of its own, apart from the subjects' streams
            srng = np.random.default_rng(np.random.SeedSequence(random_state, spawn_key=(1_000_003,)))
        shared = asdict(draw_settings(srng, mode))
        if mode != "cpap":
            shared["backup_rate_bpm"] = min(shared["backup_rate_bpm"], 8.0)
        settings = {**shared, **settings}
    recs = []
    for i in _progress_iter(range(n_subjects), progress):
        rec = simulate_recording(minutes, sampling_rate, streams[i], proportions, mode, phenotype=phen[i],
                                 patient=patient, settings=settings, interface=interface,
                                 subject=subject_id(i))
        if isinstance(random_state, (int, np.integer)):
            rec.metadata["random_state"] = int(random_state)
            rec.metadata["subject_index"] = i
        recs.append(rec)
    return recs


def subject_id(i: int) -> str:
    return f"sim-{i + 1:02d}"


def _progress_iter(it, enabled):
    return progress(it, enabled=enabled, desc="simulating subjects", unit="subject")
