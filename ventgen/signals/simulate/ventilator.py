"""The simulated ventilator and lung: settings, the breath-by-breath state machine, the recorded signals.

See :mod:`ventgen.signals.simulate` for the model (single-compartment lung integrated exactly, pressure
support / pressure or volume assist-control / CPAP, leak compensation, cardiogenic oscillations, noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from ..._core import check_random_state
from .effort import Drives
from .patient import PatientParams

__all__ = ["MODES", "VentilatorSettings", "draw_settings", "Ventilator", "measure_signals"]

MODES = ("psv", "pcv", "vcv", "cpap")


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


class Ventilator:
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
# ---------------------------------------------------------------------------------------------------
def measure_signals(vent: Ventilator, drives: Drives, patient: PatientParams, settings: VentilatorSettings,
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
