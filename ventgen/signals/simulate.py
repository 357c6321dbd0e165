"""Physiological simulator of ventilated patients: the built-in, labelled default data of ventgen.

Model
-----
*Lung.* A single-compartment (one resistance, one compliance) respiratory system driven by the
airway pressure and the patient's muscle pressure::

    Paw(t) - PEEP = R(t) * Q(t) + V(t) / C(t) - Pmus(t)

with ``V`` the volume above the relaxed volume at PEEP (L), ``Q = dV/dt`` (L/s), ``R`` in
cmH2O/(L/s), ``C`` in L/cmH2O. ``R`` and ``C`` vary in time (posture, glottis, upper airway, see
:mod:`ventgen.signals.events`). Within each ventilator phase the airway pressure is either imposed
(inspiration: the pressure target) or set by the expiratory valve (``Paw = target - Rv * Q``), so
the equation stays linear and first order. It is integrated exactly for piecewise-constant inputs
(zero-order hold): ``V[k+1] = a_k V[k] + (1 - a_k) C_k D_k`` with ``a_k = exp(-dt / (R_k C_k))``,
solved in closed form with cumulative sums (no per-sample Python loop); the flow is the volume
difference per sample, so the simulated volume is exactly the integral of the simulated flow.

*Ventilator.* Pressure support (``mode="psv"``): a breath is triggered when the patient's flow
exceeds the flow trigger (1-4 L/min; PB-840 default 3 L/min) after a trigger delay of 60-150 ms
(bench values of ICU ventilators [Thille2009]); the pressure rises to ``PEEP + support`` with an
exponential rise time and a small controller overshoot (0-8 % of the support); inspiration cycles
off when flow falls below a fraction (15-40 %, default 25 %) of its peak, or after ``ti_max_s``. A
backup rate delivers time-cycled mandatory breaths when no trigger arrives in time (S/T mode of home
ventilators; apnea ventilation). ``mode="pcv"``
(pressure assist-control) uses the same triggers but time-cycles every breath at ``ti_set_s``.
``mode="vcv"`` (volume assist-control, as in the PB-840 reference recordings) imposes the inspiratory
flow (square or descending ramp at a set peak flow until the set tidal volume, then an optional
pause); the airway pressure follows from the equation of motion, with scooped pressure when the
patient pulls harder than the set flow, and a high-pressure limit that ends the breath.
``mode="cpap"`` holds a constant pressure through a demand valve of small resistance; breaths are the
patient's own (zero crossings of the patient flow).

*Patients.* Resistance, compliance, breathing rate, effort, inspiratory fraction, leak and noise are
drawn per patient from phenotype ranges (healthy, obstructive, restrictive; see :data:`PHENOTYPES`)
after [Arnal2018] and [Lumb2017]; effort follows [Albanese2016] (see :mod:`ventgen.signals.events`).
Settings are titrated per patient: support for 6-8 mL/kg [Brochard1989], backup rate below the
spontaneous rate.

*Measurement.* The recorded flow is the patient flow plus the residual of the ventilator's leak
compensation (orifice model ``Q_leak = K sqrt(Paw)``; the ventilator estimates K with a 10 s lag
and a small bias), cardiogenic oscillations (0.3-2 L/min at the heart rate [Imanaka2000]), event
artefacts and white sensor noise, rounded to 0.01 like PB-840 files.
The volume channel is what a ventilator displays: the integral of the recorded flow since the start
of the current breath.

References
----------
[Arnal2018]    Arnal JM, Garnero A, Saoli M, Chatburn RL. Parameters for simulation of adult subjects
               during mechanical ventilation. Respir Care 2018;63:158-168.
[Lumb2017]     Lumb AB. Nunn's Applied Respiratory Physiology, 8th ed. Elsevier 2017.
[Albanese2016] Albanese A, Cheng L, Ursino M, Chbat NW. Am J Physiol Heart Circ Physiol
               2016;310:H899-H921.
[Brochard1989] Brochard L, Harf A, Lorino H, Lemaire F. Inspiratory pressure support prevents
               diaphragmatic fatigue during weaning from mechanical ventilation. Am Rev Respir Dis
               1989;139:513-521.
[Thille2009]   Thille AW, Lyazidi A, Richard JC, Galia F, Brochard L. A bench study of intensive-care-unit
               ventilators: new versus old and turbine-based versus compressed gas-based ventilators.
               Intensive Care Med 2009;35:1368-1376.
[Tobin1983]    Tobin MJ, et al. Breathing patterns. 1. Normal subjects. Chest 1983;84:202-205.
[Imanaka2000]  Imanaka H, Nishimura M, Takeuchi M, et al. Autotriggering caused by cardiogenic
               oscillation during flow-triggered mechanical ventilation. Crit Care Med 2000;28:402-407.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy import signal as sps

from .._core import check_random_state, progress
from .._core.limits import (
    MAX_COHORT_MINUTES,
    MAX_PATIENTS,
    MAX_RECORDING_SAMPLES,
    MAX_SIMULATION_MINUTES,
    check_number,
    check_sampling_rate,
)
from ..errors import VentgenTypeError, VentgenValueError
from ..labels import VENTILATION_CLASSES, VENTILATION_TREE
from .events import Drives, EffortGenerator, plan_events, resolve_proportions
from .recording import Recording

__all__ = [
    "simulate_recording",
    "simulate_cohort",
    "PatientParams",
    "VentilatorSettings",
    "write_simulated_cohort",
    "draw_patient",
    "draw_settings",
    "PHENOTYPES",
    "MODES",
]

MODES = ("psv", "pcv", "vcv", "cpap")
_CLASS_CODE = {c: i for i, c in enumerate(VENTILATION_CLASSES)}
INTERFACES = ("mask", "invasive")

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


@dataclass
class VentilatorSettings:
    """Settings of the simulated ventilator (pressures in cmH2O, flows in L/min, times in s)."""

    peep: float = 5.0
    support: float = 10.0           # pressure support (psv) or pressure control (pcv) above PEEP
    trigger_lpm: float = 3.0
    cycle_fraction: float = 0.25
    rise_time_s: float = 0.15
    fall_time_s: float = 0.05
    backup_rate_bpm: float = 10.0   # 0 disables backup breaths
    trigger_delay_s: float = 0.1
    ti_max_s: float = 2.5
    ti_set_s: float = 1.0           # pcv and backup breaths
    valve_resistance: float = 2.5   # expiratory valve + circuit, cmH2O/(L/s)
    overshoot: float = 0.03         # pressure overshoot at the end of the rise, fraction of support
    tidal_volume_ml: float = 450.0  # vcv: set tidal volume
    peak_flow_lpm: float = 50.0     # vcv: set peak inspiratory flow
    decelerating: float = 0.0       # vcv: 0 = square flow, 1 = descending ramp to 10 % of peak
    pause_s: float = 0.0            # vcv: end-inspiratory pause
    pressure_limit: float = 45.0    # vcv: high-pressure limit, ends inspiration


def _check_overrides(cls, overrides, what: str) -> dict:
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


def draw_settings(rng, mode: str = "psv", patient: PatientParams | None = None, **overrides) -> VentilatorSettings:
    """Draw ventilator settings in clinical ranges (PEEP 4-10, support 5-15 cmH2O, integers).

    With a ``patient``, the settings are titrated as a clinician would: the support is chosen for a
    tidal volume of 6-8 mL/kg of a predicted body weight of 55-80 kg (roughly
    ``Vt = 0.75 C (PS + 0.7 Pmus)`` under flow cycling), give or take 2 cmH2O, within 5-15 cmH2O;
    the backup rate (8-12 breaths/min) is kept at most 70 % of the spontaneous rate, so that backup
    breaths appear in apnea rather than in normal breathing.

    Examples
    --------
    >>> s = draw_settings(0)
    >>> 4 <= s.peep <= 10 and 5 <= s.support <= 15
    True
    """
    rng = check_random_state(rng)
    s = VentilatorSettings(
        peep=float(rng.integers(4, 11)),
        support=float(rng.integers(5, 16)) if mode != "cpap" else 0.0,
        trigger_lpm=float(rng.choice([1.0, 2.0, 3.0, 4.0])),
        cycle_fraction=float(rng.choice([0.15, 0.2, 0.25, 0.25, 0.3, 0.4])),
        rise_time_s=float(rng.uniform(0.05, 0.3)),
        fall_time_s=float(rng.uniform(0.03, 0.08)),
        backup_rate_bpm=float(rng.integers(8, 13)) if mode != "cpap" else 0.0,
        trigger_delay_s=float(rng.uniform(0.06, 0.15)),
        ti_max_s=float(rng.uniform(2.0, 3.0)),
        ti_set_s=float(rng.uniform(0.8, 1.3)),
        valve_resistance=float(rng.uniform(1.5, 4.0)),
        overshoot=float(rng.uniform(0.0, 0.08)),
    )
    if mode == "vcv":
        s.tidal_volume_ml = float(rng.uniform(6.0, 8.0) * rng.uniform(55.0, 80.0))
        s.peak_flow_lpm = float(rng.integers(40, 71))
        s.decelerating = float(rng.choice([0.0, 1.0]))
        s.pause_s = float(rng.choice([0.0, 0.0, 0.1, 0.2, 0.3]))
        s.pressure_limit = float(rng.integers(40, 51))
    if patient is not None and mode != "cpap":
        target_l = rng.uniform(6.0, 8.0) * rng.uniform(55.0, 80.0) / 1000.0
        c_l = patient.compliance_ml_cmh2o / 1000.0
        ps = target_l / (0.75 * c_l) - 0.7 * patient.effort_cmh2o + rng.uniform(-2.0, 2.0)
        s.support = float(np.clip(np.round(ps), 5.0, 15.0))
        if mode == "vcv":
            s.tidal_volume_ml = float(np.round(target_l * 1000.0, -1))
        s.backup_rate_bpm = float(max(4.0, min(s.backup_rate_bpm, np.floor(0.7 * patient.rr_bpm))))
    for k, v in overrides.items():
        setattr(s, k, float(v))
    return s


# ---------------------------------------------------------------------------------------------------
# the lung: exact integration of the linear first-order equation, vectorised
def _solve_volume(v0: float, drive: np.ndarray, r: np.ndarray, c: np.ndarray, dt: float) -> np.ndarray:
    """Volumes V[1..m] of ``dV/dt = (D - V/C) / R`` for piecewise-constant D, R, C (zero-order hold).

    ``V[k+1] = a_k V[k] + b_k`` with ``a_k = exp(-dt/(R_k C_k))``, ``b_k = (1 - a_k) C_k D_k``, in
    closed form ``V[k+1] = A_k (V0 + sum_{j<=k} b_j / A_j)`` with ``A_k = prod_{j<=k} a_j``, in
    chunks short enough that ``A`` stays within floating-point range.
    """
    m = drive.size
    out = np.empty(m)
    if m == 0:
        return out
    la = -dt / (r * c)
    b = -np.expm1(la) * c * drive
    step = max(1, int(500.0 / max(float(-la.min()), 1e-12)))
    v = float(v0)
    for i in range(0, m, step):
        cl = np.cumsum(la[i:i + step])
        acc = np.cumsum(b[i:i + step] * np.exp(-cl))
        seg = np.exp(cl) * (v + acc)
        out[i:i + step] = seg
        v = float(seg[-1])
    return out


class _Ventilator:
    """Breath-by-breath state machine; every phase is one vectorised solve over a window."""

    def __init__(self, drives: Drives, patient: PatientParams, settings: VentilatorSettings, mode: str, rate: float):
        self.rate = rate
        self.dt = 1.0 / rate
        self.n = n = drives.pmus.size
        self.s = settings
        self.mode = mode
        r0 = patient.resistance_cmh2o_l_s
        self.r_in = r0 * drives.r_mult + drives.r_add
        self.r_ex = r0 * patient.exp_resistance_factor * drives.r_mult + drives.r_add
        self.c = patient.compliance_ml_cmh2o / 1000.0 * drives.c_mult
        self.pmus = drives.pmus
        self.q = np.zeros(n)      # patient flow, L/s
        self.paw = np.zeros(n)    # airway pressure, cmH2O
        self.vol = np.zeros(n + 1)  # lung volume above relaxed volume at PEEP, L
        self.trigger_k = int(round(settings.trigger_delay_s * rate))
        self.refractory = int(round(0.25 * rate))
        self.min_exp = int(round(0.3 * rate))
        self.ti_min = 0.25
        self.chunk = int(10 * rate)

    def _phase(self, i0: int, i1: int, v0: float, target: np.ndarray, r_eff: np.ndarray, rv: float):
        drive = target - self.s.peep + self.pmus[i0:i1]
        v = _solve_volume(v0, drive, r_eff, self.c[i0:i1], self.dt)
        vv = np.concatenate(([v0], v))
        q = np.diff(vv) * self.rate
        paw = target - rv * q
        return vv, q, paw

    def _write(self, i0, i1, vv, q, paw):
        m = i1 - i0
        self.q[i0:i1] = q[:m]
        self.paw[i0:i1] = paw[:m]
        self.vol[i0:i1 + 1] = vv[:m + 1]

    def expiration(self, c: int, v0: float, paw_c: float, deadline: int):
        """Expiration from sample ``c`` until a trigger, the backup deadline or the end.

        Returns (start of next breath, mandatory?, volume there, trigger sample or -1).
        """
        s = self.s
        n = self.n
        pos = c
        armed = False
        trig = s.trigger_lpm / 60.0
        delay = self.trigger_k
        while True:
            end = min(n, deadline, pos + self.chunk)
            if end <= pos:
                return pos, True, self.vol[pos], -1
            k = np.arange(pos, end)
            target = s.peep + (paw_c - s.peep) * np.exp(-(k - c) * self.dt / max(s.fall_time_s, 1e-3))
            r_eff = self.r_ex[pos:end] + s.valve_resistance
            vv, q, paw = self._phase(pos, end, v0, target, r_eff, s.valve_resistance)
            m = end - pos
            search = m if end in (n, deadline) else max(m - delay, 1)
            valid = k[:search] >= c + self.refractory
            qs = q[:search]
            if self.mode != "cpap":
                below = valid & (qs <= trig)
                if armed:
                    first_arm = 0
                else:
                    ib = np.flatnonzero(below)
                    first_arm = int(ib[0]) if ib.size else search
                    armed = ib.size > 0
                above = np.flatnonzero(valid[first_arm:] & (qs[first_arm:] > trig))
                if above.size:
                    j = first_arm + int(above[0])
                    st = pos + j + delay
                    mandatory = False
                    if st >= deadline:
                        st, mandatory = deadline, True
                    st = min(st, end)
                    self._write(pos, st, vv, q, paw)
                    return st, mandatory, vv[st - pos], pos + j
            if end in (n, deadline):
                self._write(pos, end, vv, q, paw)
                return end, end == deadline and end < n, vv[end - pos], -1
            nxt = pos + search
            self._write(pos, nxt, vv, q, paw)
            v0 = vv[nxt - pos]
            pos = nxt

    def inspiration(self, st: int, v0: float, mandatory: bool):
        """Pressurised inspiration from ``st``; returns (first expiratory sample, volume, last Paw)."""
        s = self.s
        end = min(self.n, st + int(round(max(s.ti_max_s, s.ti_set_s) * self.rate)))
        k = np.arange(st, end)
        t = (k - st) * self.dt
        p0 = self.paw[st - 1] if st > 0 else s.peep
        tau_r = max(s.rise_time_s / 3.0, 1e-3)
        target = s.peep + s.support + (p0 - s.peep - s.support) * np.exp(-t / tau_r)
        if s.overshoot > 0:  # pressure controller overshoot, peaking at t = tau_r
            target = target + s.overshoot * s.support * (t / tau_r) * np.exp(1.0 - t / tau_r)
        vv, q, paw = self._phase(st, end, v0, target, self.r_in[st:end], 0.0)
        if self.mode == "pcv" or mandatory:
            e = min(st + max(int(round(s.ti_set_s * self.rate)), 1), end)
        else:
            runmax = np.maximum.accumulate(q)
            cond = (q < s.cycle_fraction * runmax) & (t >= self.ti_min) & (t >= 0)
            j = np.flatnonzero(cond)
            e = st + int(j[0]) + 1 if j.size else end
            e = min(e, end)
        self._write(st, e, vv, q, paw)
        return e, vv[e - st], paw[e - st - 1]

    def inspiration_vc(self, st: int, v0: float):
        """Volume-controlled inspiration: flow imposed, pressure from the equation of motion."""
        s = self.s
        q_pk = s.peak_flow_lpm / 60.0
        q_end = q_pk * (1.0 - 0.9 * s.decelerating)
        vt = s.tidal_volume_ml / 1000.0
        ti = 2.0 * vt / (q_pk + q_end)  # trapezoid of area vt
        n_flow = max(int(round(ti * self.rate)), 1)
        n_tot = n_flow + int(round(s.pause_s * self.rate))
        end = min(self.n, st + n_tot)
        m = end - st
        frac = np.arange(m) / n_flow
        q = np.where(frac < 1.0, q_pk + (q_end - q_pk) * frac, 0.0)
        q[0] *= 0.5  # the valve opens within the first sample
        vv = v0 + np.concatenate(([0.0], np.cumsum(q))) * self.dt
        c = self.c[st:end]
        paw = s.peep + self.r_in[st:end] * q + vv[:-1] / c - self.pmus[st:end]
        over = np.flatnonzero(paw > s.pressure_limit)
        e = st + int(over[0]) + 1 if over.size else end
        e = max(e, st + 1)
        np.minimum(paw, s.pressure_limit, out=paw)
        self._write(st, e, vv, q, paw)
        return e, vv[e - st], paw[e - st - 1]

    def run(self):
        """Whole recording; returns an array of breaths (start, insp_end, mandatory, trigger sample)."""
        s = self.s
        n = self.n
        backup = int(round(60.0 / s.backup_rate_bpm * self.rate)) if s.backup_rate_bpm > 0 else None
        c, v, paw_c = 0, 0.0, s.peep
        deadline = backup if backup is not None else n
        breaths = []
        while c < n:
            st, mand, v, trig = self.expiration(c, v, paw_c, max(deadline, c + self.min_exp))
            if st >= n:
                break
            if self.mode == "vcv":
                e, v, paw_c = self.inspiration_vc(st, v)
            else:
                e, v, paw_c = self.inspiration(st, v, mand)
            if e >= n:
                break
            breaths.append((st, e, mand, trig))
            deadline = st + backup if backup is not None else n
            c = e
        return breaths

    def run_cpap(self, onsets: np.ndarray):
        """Constant pressure through a demand valve; breaths from the patient flow's zero crossings."""
        s = self.s
        rv = s.valve_resistance
        r_eff = 0.5 * (self.r_in + self.r_ex) + rv
        target = np.full(self.n, s.peep)
        vv, q, paw = self._phase(0, self.n, 0.0, target, r_eff, rv)
        self._write(0, self.n, vv, q, paw)
        breaths = []
        last_end = 0
        pos = q > 0.02
        bounds = np.append(onsets, self.n)
        for i in range(len(onsets)):
            a = max(int(onsets[i]), last_end)
            b = int(bounds[i + 1])
            if b <= a:
                continue
            j = np.flatnonzero(pos[a:b])
            if not j.size:
                continue
            st = a + int(j[0])
            k = np.flatnonzero(q[st + 1:] <= 0)
            e = st + 1 + int(k[0]) if k.size else self.n
            if e >= self.n:
                break
            if (vv[e] - vv[st]) < 0.03:  # less than 30 mL: not a breath
                continue
            breaths.append((st, e, False, st))
            last_end = e
        return breaths


# ---------------------------------------------------------------------------------------------------
def _measure(vent: _Ventilator, drives: Drives, patient: PatientParams, settings: VentilatorSettings,
             rate: float, rng: np.random.Generator):
    """Recorded flow (L/min) and pressure (cmH2O): leak residual, cardiogenic, artefacts, noise."""
    n = vent.n
    dt = 1.0 / rate
    paw = vent.paw
    # leak: orifice model, compensated by a lagging, slightly biased estimate of its coefficient
    k_leak = np.maximum(patient.leak_k + drives.leak_add, 0.0)
    alpha = np.exp(-dt / 10.0)
    k_est, _ = sps.lfilter([1 - alpha], [1, -alpha], k_leak, zi=[alpha * k_leak[0]])
    k_est = k_est * (1.0 + patient.leak_estimate_error)
    leak_res = (k_leak - k_est) * np.sqrt(np.maximum(paw, 0.0))
    # cardiogenic oscillations at a slowly varying heart rate
    hr = patient.heart_rate_bpm / 60.0 * (1 + 0.03 * np.sin(2 * np.pi * np.arange(n) * dt / rng.uniform(20, 60)))
    ph = 2 * np.pi * np.cumsum(hr) * dt + rng.uniform(0, 2 * np.pi)
    cardio = np.sin(ph) + 0.3 * np.sin(2 * ph + 1.0)
    # snoring vibration, sampled (and thus aliased) at the recording's rate
    snore_ph = 2 * np.pi * np.cumsum(drives.snore_freq) * dt
    vib = drives.snore_env * np.sin(snore_ph) * (vent.q > 0)
    flow = (vent.q * 60.0 + leak_res + patient.cardiac_amp_lpm * cardio + drives.art_q
            + rng.uniform(2.0, 8.0) * vib + rng.normal(0.0, patient.flow_noise_lpm, n))
    pressure = (paw + 0.05 * patient.cardiac_amp_lpm * cardio + drives.art_p
                + rng.uniform(0.15, 0.6) * vib + rng.normal(0.0, patient.pressure_noise_cmh2o, n))
    return np.round(flow, 2), np.round(pressure, 2)


def _check_args(minutes, sampling_rate, mode, interface):
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


def _check_subjects(n_subjects, minutes) -> int:
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
    vent = _Ventilator(drives, pat, vs, mode, rate)
    if mode == "cpap":
        breaths = vent.run_cpap(efforts["onset_idx"].to_numpy())
    else:
        breaths = vent.run()
    flow, pressure = _measure(vent, drives, pat, vs, rate, rng)

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
        :func:`ventgen.signals.events.resolve_proportions`; default
        :data:`ventgen.signals.events.DEFAULT_PROPORTIONS` (all ten classes).
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
    n = _check_args(minutes, sampling_rate, mode, interface)
    props = resolve_proportions(proportions)
    patient = _check_overrides(PatientParams, patient, "patient")
    settings = _check_overrides(VentilatorSettings, settings, "settings")
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
    _check_args(minutes, sampling_rate, mode, interface)
    n_subjects = _check_subjects(n_subjects, minutes)
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
    settings = _check_overrides(VentilatorSettings, settings, "settings")
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
                                 subject=_subject_id(i))
        if isinstance(random_state, (int, np.integer)):
            rec.metadata["random_state"] = int(random_state)
            rec.metadata["subject_index"] = i
        recs.append(rec)
    return recs


def _subject_id(i: int) -> str:
    return f"sim-{i + 1:02d}"


def _progress_iter(it, enabled):
    return progress(it, enabled=enabled, desc="simulating subjects", unit="subject")


def write_simulated_cohort(output_dir, n_subjects: int = 3, minutes: float = 60.0, sampling_rate: float = 50.0,
                           random_state=0, format: str = "hdf5", overwrite: bool = False,
                           progress: bool | None = None, **kwargs) -> list:
    """Simulate a cohort and write one file per subject (``<subject>.h5`` or ``<subject>.csv``).

    Parameters
    ----------
    output_dir : str or path-like
        Folder (created). Existing files are never replaced unless ``overwrite``.
    n_subjects, minutes, sampling_rate, random_state, progress, **kwargs
        As in :func:`simulate_cohort`.
    format : {"hdf5", "csv"}
        File format, written by :func:`ventgen.write_recording`.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of Path
        The files written, one per subject: written as one set, all or none (a failure or a kill
        leaves none of them; every target is checked before the simulation starts).

    Examples
    --------
    >>> import tempfile
    >>> paths = write_simulated_cohort(tempfile.mkdtemp(), n_subjects=1, minutes=0.5, progress=False)
    >>> [p.name for p in paths]
    ['sim-01.h5']
    """
    from pathlib import Path

    from .io import _write_recording_set

    fmts = {"hdf5": ".h5", "csv": ".csv"}
    if format not in fmts:
        raise VentgenValueError(f"format must be one of {list(fmts)}, got {format!r}")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise VentgenValueError(f"{out}: exists and is not a folder")
    _check_args(minutes, sampling_rate, kwargs.get("mode", "psv"), kwargs.get("interface", "mask"))
    n_subjects = _check_subjects(n_subjects, minutes)
    targets = [out / f"{_subject_id(i)}{fmts[format]}" for i in range(n_subjects)]
    if not overwrite:  # every file the set may hold, before the work starts
        side = (".meta.json", ".annotations.csv", ".markers.csv") if format == "csv" else ()
        for t in targets:
            for c in [t, *(t.with_name(t.stem + sfx) for sfx in side)]:
                if c.exists():
                    raise FileExistsError(17, "exists; pass overwrite=True (or --overwrite) to replace it", str(c))
    recs = simulate_cohort(n_subjects, minutes, sampling_rate, random_state, progress=progress, **kwargs)
    # one atomic set: a failure or a kill leaves none of the files (and a re-run starts normally)
    return _write_recording_set(recs, targets, format, overwrite=overwrite)
