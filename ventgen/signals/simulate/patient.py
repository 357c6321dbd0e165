"""Simulated patients: phenotypes (mechanics and breathing pattern) and the draw of one patient.

Resistance, compliance, breathing rate, effort, inspiratory fraction, leak and noise are drawn per
patient from phenotype ranges (healthy, obstructive, restrictive; see :data:`PHENOTYPES`) after
[Arnal2018] and [Lumb2017] (references in :mod:`ventgen.signals.simulate`).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from ..._core import check_random_state
from ...errors import VentgenTypeError, VentgenValueError

__all__ = ["PHENOTYPES", "PHENOTYPE_WEIGHTS", "PatientParams", "draw_patient", "check_overrides"]

#: Ranges (uniform, low-high) of the patient mechanics and breathing pattern per phenotype.
#: Compliance in mL/cmH2O, resistance in cmH2O/(L/s) including upper airway / tube, rate in
#: breaths/min, effort = peak muscle pressure in cmH2O. Healthy: C 50-90, R 5-10; obstructive
#: (COPD): normal-to-high C, R 10-20, expiratory resistance 1.2-1.6x the inspiratory one (dynamic
#: hyperinflation and intrinsic PEEP follow), short Ti/Ttot;
#: restrictive: C 25-45, R 6-12, fast shallow breathing (Arnal 2018; Lumb 2017; Tobin 1983).
PHENOTYPES = {
    "healthy": {"compliance_ml_cmh2o": (50, 90), "resistance_cmh2o_l_s": (5, 10),
                "exp_resistance_factor": (1.0, 1.2), "rr_bpm": (11, 20), "effort_cmh2o": (2.5, 7.0),
                "ti_fraction": (0.36, 0.45)},
    "obstructive": {"compliance_ml_cmh2o": (50, 90), "resistance_cmh2o_l_s": (10, 20),
                    "exp_resistance_factor": (1.2, 1.6), "rr_bpm": (12, 22), "effort_cmh2o": (4.0, 10.0),
                    "ti_fraction": (0.28, 0.38)},
    "restrictive": {"compliance_ml_cmh2o": (25, 45), "resistance_cmh2o_l_s": (6, 12),
                    "exp_resistance_factor": (1.0, 1.2), "rr_bpm": (18, 30), "effort_cmh2o": (3.0, 8.0),
                    "ti_fraction": (0.36, 0.45)},
}
#: Phenotype mixture used when none is given.
PHENOTYPE_WEIGHTS = {"healthy": 0.5, "obstructive": 0.3, "restrictive": 0.2}


@dataclass
class PatientParams:
    """Mechanics, breathing pattern and measurement characteristics of one simulated patient."""

    phenotype: str = "healthy"
    compliance_ml_cmh2o: float = 65.0
    resistance_cmh2o_l_s: float = 8.0
    exp_resistance_factor: float = 1.1
    rr_bpm: float = 15.0
    effort_cmh2o: float = 4.0
    ti_fraction: float = 0.4
    cv_period: float = 0.12
    cv_effort: float = 0.15
    sigh_rate_per_h: float = 10.0
    leak_k: float = 1.0               # L/min per sqrt(cmH2O), unintentional mask leak
    leak_estimate_error: float = 0.0  # relative bias of the ventilator's leak estimate
    flow_noise_lpm: float = 0.4
    pressure_noise_cmh2o: float = 0.08
    cardiac_amp_lpm: float = 1.0
    heart_rate_bpm: float = 70.0


def check_overrides(cls, overrides, what: str) -> dict:
    """Overrides of the fields of dataclass ``cls`` (patient or ventilator settings), checked: known
    fields, finite non-negative numbers (a phenotype name for ``phenotype``)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise VentgenTypeError(f"{what} must be a mapping of field -> value, got {type(overrides).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise VentgenValueError(f"{what}: unknown field(s) {unknown}; known: {sorted(names)}")
    out = dict(overrides)
    for k, v in out.items():
        if k == "phenotype":
            if v not in PHENOTYPES:
                raise VentgenValueError(f"{what}: phenotype must be one of {list(PHENOTYPES)}, got {v!r}")
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise VentgenValueError(f"{what}: {k} must be a finite number, got {v!r}")
        if v < 0:
            raise VentgenValueError(f"{what}: {k} must be >= 0, got {v!r}")
    return out


def draw_patient(rng, phenotype: str | None = None, interface: str = "mask", **overrides) -> PatientParams:
    """Draw one patient from the ranges of :data:`PHENOTYPES` (``phenotype=None`` draws it too).

    Examples
    --------
    >>> p = draw_patient(0, "restrictive")
    >>> 25 <= p.compliance_ml_cmh2o <= 45
    True
    """
    rng = check_random_state(rng)
    names = list(PHENOTYPE_WEIGHTS)
    probs = np.array([PHENOTYPE_WEIGHTS[k] for k in names])
    drawn = names[int(rng.choice(len(names), p=probs / probs.sum()))]
    phenotype = drawn if phenotype is None else phenotype
    if phenotype not in PHENOTYPES:
        raise VentgenValueError(f"phenotype must be one of {list(PHENOTYPES)} or None, got {phenotype!r}")
    spec = PHENOTYPES[phenotype]
    vals = {k: float(rng.uniform(*v)) for k, v in spec.items()}
    mask = interface == "mask"
    p = PatientParams(
        phenotype=phenotype,
        cv_period=float(rng.uniform(0.08, 0.2)),
        cv_effort=float(rng.uniform(0.1, 0.25)),
        sigh_rate_per_h=float(rng.uniform(5, 15)),
        leak_k=float(rng.uniform(0.0, 3.0)) if mask else 0.0,
        leak_estimate_error=float(rng.normal(0.0, 0.1)) if mask else 0.0,
        flow_noise_lpm=float(rng.uniform(0.2, 0.8)),
        pressure_noise_cmh2o=float(rng.uniform(0.03, 0.15)),
        cardiac_amp_lpm=float(rng.uniform(0.3, 2.0)),
        heart_rate_bpm=float(rng.uniform(55, 95)),
        **vals,
    )
    for k, v in overrides.items():
        setattr(p, k, v if k == "phenotype" else float(v))
    return p
