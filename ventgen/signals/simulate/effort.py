"""Breathing efforts of the ventilation simulator: what each class does to effort and mechanics.

The ten classes of the paper's ventilation dataset (see :data:`ventgen.labels.VENTILATION_TREE`)
are modelled as changes to three physiological inputs of the single-compartment lung of
:mod:`ventgen.signals.simulate.ventilator` and to two measurement terms:

* the patient's muscle pressure ``Pmus(t)`` (cmH2O, positive = inspiratory),
* the patient's airway resistance (cmH2O/(L/s)), multiplicative (posture) and additive (glottis,
  upper airway),
* the respiratory-system compliance (multiplicative, posture),
* leak around a non-invasive mask (orifice coefficient, L/min per sqrt(cmH2O)),
* additive measurement artefacts on flow and pressure (tube/mask movement, snoring vibration).

Every event's parameters and their sources are listed in the docstring of its generator below.
Parameters are drawn per event (or per breath) from ranges, so that a class is a *distribution* of
breaths that overlaps other classes and other patients, as in real recordings.

Sources (short keys used in the docstrings)
-------------------------------------------
[Albanese2016]  Albanese A, Cheng L, Ursino M, Chbat NW. An integrated mathematical model of the human
                cardiopulmonary system: model development. Am J Physiol Heart Circ Physiol
                2016;310:H899-H921. (parabolic-exponential Pmus profile)
[Tobin1983]     Tobin MJ, Chadha TS, Jenouri G, et al. Breathing patterns. 1. Normal subjects.
                Chest 1983;84:202-205. (breath-to-breath variability of Ti, Ttot, Vt)
[Bendixen1964]  Bendixen HH, Smith GM, Mead J. Pattern of ventilation in young adults.
                J Appl Physiol 1964;19:195-198. (about 10 sighs per hour)
[McCool2006]    McCool FD. Global physiology and pathophysiology of cough: ACCP evidence-based
                clinical practice guidelines. Chest 2006;129(1 Suppl):48S-53S. (three phases:
                inspiration, ~0.2 s glottic closure with high intrathoracic pressure, expulsion)
[Bach1996]      Bach JR, Saporito LR. Criteria for extubation and tracheostomy tube removal for
                patients with ventilatory failure. Chest 1996;110:1566-1571. (cough peak flows,
                >160 L/min effective, healthy adults 360-720 L/min)
[Hixon1973]     Hixon TJ, Goldman MD, Mead J. Kinematics of the chest wall during speech
                production. J Speech Hear Res 1973;16:78-115. (speech: quick inspiration, long
                expiration at near-constant subglottal pressure 5-10 cmH2O)
[Hoit1987]      Hoit JD, Hixon TJ. Age and speech breathing. J Speech Hear Res 1987;30:351-366.
                (speech inspirations larger and faster than tidal ones; breath groups 2-6 s)
[Winkworth1995] Winkworth AL, Davis PJ, Adams RD, Ellis E. Breathing patterns during spontaneous
                speech. J Speech Hear Res 1995;38:124-144. (expiratory phase of speech 2-6 s,
                ~4-6 syllables/s)
[Pevernagie2010] Pevernagie D, Aarts RM, De Meyer M. The acoustics of snoring. Sleep Med Rev
                2010;14:131-144. (flutter of the soft palate at 20-300 Hz fundamental, mainly
                inspiratory, with inspiratory flow limitation)
[Hosselet1998]  Hosselet JJ, Norman RG, Ayappa I, Rapoport DM. Detection of flow limitation with a
                nasal cannula/pressure transducer system. Am J Respir Crit Care Med
                1998;157:1461-1467. (flattened inspiratory flow contour in flow limitation)
[AASM2012]      Berry RB, et al. Rules for scoring respiratory events in sleep: update of the 2007
                AASM manual. J Clin Sleep Med 2012;8:597-619. (apnea = cessation >= 10 s; central
                apnea = no inspiratory effort)
[MartinHarris2005] Martin-Harris B, Brodsky MB, Michel Y, et al. Breathing and swallowing dynamics
                across the adult lifespan. Arch Otolaryngol Head Neck Surg 2005;131:762-770.
                (swallows mostly inside expiration, exhale-swallow-exhale; swallow apnea ~0.5-1.5 s)
[Hiss2001]      Hiss SG, Treole K, Stuart A. Effects of age, gender, bolus volume, and trial on
                swallowing apnea duration and swallow/respiratory phase relationships of normal
                adults. Dysphagia 2001;16:128-135. (swallow apnea duration 0.5-1.5 s)
[Behrakis1983]  Behrakis PK, Baydur A, Jaeger MJ, Milic-Emili J. Lung mechanics in sitting and
                horizontal body positions. Chest 1983;83:643-646. (supine: lower compliance,
                higher resistance than sitting)
[Lumb2017]      Lumb AB. Nunn's Applied Respiratory Physiology, 8th ed. Elsevier 2017, ch. 3-4
                (FRC falls ~0.5-1 L supine; lateral positions between sitting and supine; abdominal
                compression lowers chest-wall compliance)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal as sps

from .events import POSITION_MECHANICS
from .waveforms import albanese_pmus, hann_envelope, parabola_rise

__all__ = ["Drives", "EffortGenerator"]


@dataclass
class Drives:
    """Per-sample inputs of the lung and measurement model, filled by the event generators."""

    pmus: np.ndarray       # cmH2O, + inspiratory
    r_add: np.ndarray      # cmH2O/(L/s) added to the patient's airway resistance (glottis, upper airway)
    r_mult: np.ndarray     # multiplier of the patient's resistance (posture)
    c_mult: np.ndarray     # multiplier of compliance (posture)
    leak_add: np.ndarray   # L/min/sqrt(cmH2O) added to the mask leak coefficient
    snore_env: np.ndarray  # 0..1 envelope of the snoring vibration
    snore_freq: np.ndarray  # Hz, vibration frequency
    art_q: np.ndarray      # L/min additive flow artefact
    art_p: np.ndarray      # cmH2O additive pressure artefact

    @classmethod
    def zeros(cls, n: int) -> Drives:
        z = np.zeros
        return cls(z(n), z(n), np.ones(n), np.ones(n), z(n), z(n), z(n), z(n), z(n))


class EffortGenerator:
    """Writes one breath effort at a time into :class:`Drives`, following the event plan.

    Parameters
    ----------
    drives : Drives
        Arrays to fill (length n).
    windows : DataFrame
        The event plan of :func:`plan_events`.
    patient : object
        Has ``rr_bpm``, ``effort_cmh2o``, ``ti_fraction``, ``cv_period``, ``cv_effort``,
        ``sigh_rate_per_h``, ``resistance_cmh2o_l_s``.
    rate : float
        Sampling rate (Hz).
    rng : numpy Generator
    """

    def __init__(self, drives: Drives, windows: pd.DataFrame, patient, rate: float, rng: np.random.Generator):
        self.d = drives
        self.n = drives.pmus.size
        self.rate = float(rate)
        self.dt = 1.0 / self.rate
        self.p = patient
        self.rng = rng
        self.win_start = windows["start_s"].to_numpy()
        self.win_end = windows["end_s"].to_numpy()
        self.win_label = windows["label"].to_numpy()
        self.win_info: list[dict] = [{} for _ in range(len(windows))]
        self.drift_t = 0.0
        self.drift_p = 0.0
        self.recovery = 0
        # band-limited movement noise: 2nd-order Butterworth low-pass at 2 Hz
        self._mv_ba = sps.butter(2, min(2.0 / (0.5 * self.rate), 0.99))

    # -------------------------------------------------------------- helpers
    def _add(self, arr: np.ndarray, k0: int, values: np.ndarray) -> None:
        k0 = int(k0)
        if k0 >= self.n or values.size == 0:
            return
        if k0 < 0:
            values = values[-k0:]
            k0 = 0
        m = min(values.size, self.n - k0)
        arr[k0:k0 + m] += values[:m]

    def _set_max(self, arr: np.ndarray, k0: int, values: np.ndarray) -> None:
        k0 = int(k0)
        if k0 >= self.n or values.size == 0:
            return
        m = min(values.size, self.n - k0)
        np.maximum(arr[k0:k0 + m], values[:m], out=arr[k0:k0 + m])

    def _idx(self, t: float) -> int:
        return int(round(t * self.rate))

    def _band_noise(self, m: int) -> np.ndarray:
        b, a = self._mv_ba
        x = sps.lfilter(b, a, self.rng.standard_normal(m + int(self.rate)))[int(self.rate):]
        s = x.std()
        return x / s if s > 0 else x

    def base(self, win: int) -> tuple[float, float, float]:
        """A tidal breath: (period s, peak Pmus cmH2O, neural Ti s) with breath-to-breath variability.

        Slow drifts (AR(1), rho 0.95 per breath, sd 0.08) plus white variability with coefficient of
        variation ``cv_period`` (~0.1-0.2) on Ttot and ``cv_effort`` (~0.1-0.25) on effort, as measured
        in resting adults [Tobin1983].
        """
        rng, p = self.rng, self.p
        rho = 0.95
        self.drift_t = rho * self.drift_t + np.sqrt(1 - rho**2) * 0.08 * rng.standard_normal()
        self.drift_p = rho * self.drift_p + np.sqrt(1 - rho**2) * 0.08 * rng.standard_normal()
        info = self.win_info[win]
        ttot = 60.0 / p.rr_bpm * np.exp(self.drift_t + p.cv_period * rng.standard_normal()) / info.get("rr", 1.0)
        ttot = float(np.clip(ttot, 1.2, 15.0))
        pmax = p.effort_cmh2o * np.exp(self.drift_p + p.cv_effort * rng.standard_normal()) * info.get("effort", 1.0)
        pmax = float(np.clip(pmax, 0.5, 25.0))
        ti = float(np.clip(p.ti_fraction * ttot * np.exp(0.06 * rng.standard_normal()), 0.3, 0.6 * ttot))
        return ttot, pmax, ti

    # -------------------------------------------------------------- window effects
    def apply_windows(self) -> None:
        """Effects that belong to a whole event window (posture, leak) rather than to one breath."""
        for w, label in enumerate(self.win_label):
            fn = getattr(self, "_window_" + label.replace(" ", "_"), None)
            if fn is not None:
                fn(w)

    def _window_positioning(self, w: int) -> None:
        """Posture change: movement artefact then shifted mechanics, see :data:`POSITION_MECHANICS`.

        The first 2-6 s are the movement itself: a band-limited (< 2 Hz) disturbance of 1-4 cmH2O on
        the respiratory muscles (trunk muscles compress the chest and abdomen), 0.3-1.2 cmH2O on the
        measured pressure (tube and mask moving), and a mask-leak transient (the mask shifts). Compliance
        and resistance move smoothly to the new posture during the movement, stay there, and move back
        over the last 1.5-3 s (the subject returning to the reference position, a smaller artefact).
        """
        rng, d = self.rng, self.d
        label = self.win_label[w]
        spec = POSITION_MECHANICS[label]
        info = self.win_info[w]
        info["effort"] = rng.uniform(*spec["effort"])
        info["rr"] = rng.uniform(*spec["rr"])
        k0, k1 = self._idx(self.win_start[w]), min(self._idx(self.win_end[w]), self.n)
        m = k1 - k0
        if m <= 2:
            return
        mv = min(int(rng.uniform(2.0, 6.0) * self.rate), m // 2)
        back = min(int(rng.uniform(1.5, 3.0) * self.rate), max(m - mv, 1) // 2)
        info["movement_end_s"] = self.win_start[w] + mv / self.rate
        shape = np.ones(m)
        shape[:mv] = 0.5 - 0.5 * np.cos(np.pi * np.arange(mv) / mv)
        if back > 0:
            shape[m - back:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(back) / back)
        cm = rng.uniform(*spec["c"])
        rm = rng.uniform(*spec["r"])
        d.c_mult[k0:k1] *= 1.0 + (cm - 1.0) * shape
        d.r_mult[k0:k1] *= 1.0 + (rm - 1.0) * shape
        for start, length, amp in ((k0, mv, 1.0), (k1 - back, back, 0.5)):
            if length < 4:
                continue
            env = np.sin(np.pi * np.arange(length) / length) ** 2 * amp
            self._add(d.pmus, start, rng.uniform(1.0, 4.0) * env * self._band_noise(length))
            self._add(d.art_p, start, rng.uniform(0.3, 1.2) * env * self._band_noise(length))
            self._add(d.art_q, start, rng.uniform(1.0, 4.0) * env * self._band_noise(length))
            self._add(d.leak_add, start, rng.uniform(0.5, 5.0) * env)

    _window_lying_down = _window_positioning
    _window_turning_left = _window_positioning
    _window_turning_right = _window_positioning
    _window_knees_to_chest = _window_positioning

    def _window_speaking(self, w: int) -> None:
        """Speaking through a non-invasive mask opens the mouth: extra leak of 1.5-5 L/min/sqrt(cmH2O)."""
        k0, k1 = self._idx(self.win_start[w]), min(self._idx(self.win_end[w]), self.n)
        if k1 - k0 > 2:
            env = hann_envelope(k1 - k0, int(1.0 * self.rate))
            self.d.leak_add[k0:k1] += self.rng.uniform(1.5, 5.0) * env

    def _window_snoring(self, w: int) -> None:
        """Snoring (sleep): regular breathing, mouth leak 0-2 L/min/sqrt(cmH2O), one vibration pitch.

        The palatal flutter frequency of the event is drawn in 20-90 Hz [Pevernagie2010]; at the
        recording's sampling rate it appears aliased, as it would on a ventilator without an
        anti-aliasing filter at that rate.
        """
        k0, k1 = self._idx(self.win_start[w]), min(self._idx(self.win_end[w]), self.n)
        info = self.win_info[w]
        info["snore_hz"] = self.rng.uniform(20.0, 90.0)
        info["snore_amp"] = self.rng.uniform(0.4, 1.0)
        info["r_ua"] = self.rng.uniform(4.0, 20.0)
        if k1 - k0 > 2:
            self.d.leak_add[k0:k1] += self.rng.uniform(0.0, 2.0) * hann_envelope(k1 - k0, int(self.rate))

    # -------------------------------------------------------------- efforts
    def run(self, duration_s: float) -> pd.DataFrame:
        """Generate all efforts; returns one row per effort (onset_idx, label, pmax_cmh2o, period_s)."""
        self.apply_windows()
        rows = []
        t = float(self.rng.uniform(0.3, 1.5))
        while t < duration_s:
            w = int(np.searchsorted(self.win_start, t, side="right") - 1)
            label = self.win_label[w]
            k0 = self._idx(t)
            if k0 >= self.n:
                break
            fn = getattr(self, "_effort_" + label.replace(" ", "_"))
            period, pmax = fn(k0, w)
            rows.append((k0, label, pmax, period))
            t += max(period, 0.5)
        return pd.DataFrame(rows, columns=["onset_idx", "label", "pmax_cmh2o", "period_s"])

    def _effort_normal_breathing(self, k0: int, w: int) -> tuple[float, float]:
        """Tidal breath [Albanese2016] with variability [Tobin1983]; sighs at ``sigh_rate_per_h``.

        A sigh (about 10 per hour in resting adults [Bendixen1964]) has 1.8-2.6x the effort, a 30 %
        longer inspiration and is followed by a pause (period x1.5-2.2). The first two breaths after
        an apnea are 20-50 % deeper (recovery).
        """
        rng = self.rng
        ttot, pmax, ti = self.base(w)
        if self.recovery > 0:
            pmax *= rng.uniform(1.2, 1.5)
            self.recovery -= 1
        elif rng.random() < self.p.sigh_rate_per_h * ttot / 3600.0:
            pmax *= rng.uniform(1.8, 2.6)
            ti = min(ti * 1.3, 0.6 * ttot)
            ttot *= rng.uniform(1.5, 2.2)
        self._add(self.d.pmus, k0, albanese_pmus(pmax, ti, ttot, self.dt))
        return ttot, pmax

    def _effort_positioning(self, k0: int, w: int) -> tuple[float, float]:
        """Tidal breath under shifted mechanics; during the movement itself the effort is irregular
        (x0.5-1.5 amplitude, x0.7-1.4 period)."""
        rng = self.rng
        ttot, pmax, ti = self.base(w)
        if k0 / self.rate < self.win_info[w].get("movement_end_s", -1.0):
            pmax *= rng.uniform(0.5, 1.5)
            ttot *= rng.uniform(0.7, 1.4)
            ti = min(ti, 0.6 * ttot)
        self._add(self.d.pmus, k0, albanese_pmus(pmax, ti, ttot, self.dt))
        return ttot, pmax

    _effort_lying_down = _effort_positioning
    _effort_turning_left = _effort_positioning
    _effort_turning_right = _effort_positioning
    _effort_knees_to_chest = _effort_positioning

    def _effort_coughing(self, k0: int, w: int) -> tuple[float, float]:
        """One cough: deep inspiration, glottic closure with compression, explosive expulsion [McCool2006].

        * inspiration: parabolic effort of 2-3.5x the tidal peak over 0.5-0.9 s (a deep breath);
        * compression: the glottis closes for 0.15-0.3 s (resistance +800 cmH2O/(L/s)) while the
          expiratory muscles build 50-120 cmH2O;
        * expulsion: the glottis opens, expiratory pressure decays with tau 0.1-0.25 s; dynamic airway
          compression adds the resistance that limits the peak expiratory flow to a value drawn in
          150-450 L/min (fading with tau 0.4 s), below the 360-720 L/min of healthy adults at the
          mouth [Bach1996] because the mask, circuit and expiratory valve add resistance; obstructive
          patients, whose own resistance is higher, cough weaker.
        """
        rng, d, dt = self.rng, self.d, self.dt
        _, pmax0, _ = self.base(w)
        ti = rng.uniform(0.5, 0.9)
        pin = float(np.clip(pmax0 * rng.uniform(2.0, 3.5), 6.0, 30.0))
        rise = parabola_rise(pin, ti, dt)
        n_rise = rise.size
        # inspiratory muscles let go over 60 ms
        n_off = max(int(0.06 * self.rate), 1)
        off = pin * (1 - np.arange(n_off) / n_off)
        close = rng.uniform(0.15, 0.30)
        n_close = max(int(round(close * self.rate)), 1)
        pexp = rng.uniform(50.0, 120.0)
        tau_e = rng.uniform(0.10, 0.25)
        n_exp = int((close + 6 * tau_e) * self.rate)
        te = np.arange(n_exp) * dt
        expir = -pexp * (1 - np.exp(-te / 0.04))
        after = te >= close
        expir[after] = -pexp * (1 - np.exp(-close / 0.04)) * np.exp(-(te[after] - close) / tau_e)
        self._add(d.pmus, k0, rise)
        self._add(d.pmus, k0 + n_rise, off)
        self._add(d.pmus, k0 + n_rise, expir)
        self._add(d.r_add, k0 + n_rise, np.full(n_close, 800.0))
        # dynamic airway compression limits the expulsive flow: the added resistance is chosen so that
        # the expiratory drive would give a peak flow of 150-450 L/min through the whole path
        # (patient, compression, ~2.5 cmH2O/(L/s) of circuit and valve)
        cpf = rng.uniform(150.0, 450.0) / 60.0
        r_path = self.p.resistance_cmh2o_l_s * getattr(self.p, "exp_resistance_factor", 1.0) + 2.5
        r_comp = max(pexp / cpf - r_path, 0.0)
        n_comp = int(0.6 * self.rate)
        comp = r_comp * np.exp(-np.arange(n_comp) * dt / 0.4)
        self._add(d.r_add, k0 + n_rise + n_close, comp)
        ttot = ti + close + rng.uniform(0.9, 2.2)
        return ttot, pin

    def _effort_speaking(self, k0: int, w: int) -> tuple[float, float]:
        """One speech breath group [Hixon1973, Hoit1987, Winkworth1995].

        * a quick, deep inspiration: 0.4-0.7 s, 1.2-1.8x the tidal effort;
        * a prolonged expiration of 2-5.5 s at near-constant subglottal pressure: expiratory muscle
          pressure 2-6 cmH2O with 0.15-0.2 s ramps;
        * syllables: the glottal resistance alternates between voiced segments (40-80 cmH2O/(L/s),
          0.1-0.3 s) and unvoiced consonants or pauses (3-10 cmH2O/(L/s), 0.05-0.2 s), modulating
          the expiratory flow at ~3-6 Hz;
        * mouth leak during the whole event (see :meth:`_window_speaking`).
        """
        rng, d, dt = self.rng, self.d, self.dt
        _, pmax0, _ = self.base(w)
        ti = rng.uniform(0.4, 0.7)
        pin = pmax0 * rng.uniform(1.2, 1.8)
        phrase = rng.uniform(2.0, 5.5)
        ttot = ti + phrase + rng.uniform(0.2, 0.6)
        # inspiratory limb then fast relaxation
        self._add(d.pmus, k0, parabola_rise(pin, ti, dt))
        n_rel = int(0.4 * self.rate)
        self._add(d.pmus, k0 + int(np.ceil(ti / dt)), pin * np.exp(-np.arange(n_rel) * dt / 0.08))
        start = k0 + int(round((ti + rng.uniform(0.1, 0.3)) * self.rate))
        m = int(phrase * self.rate)
        psub = rng.uniform(2.0, 6.0)
        self._add(d.pmus, start, -psub * hann_envelope(m, int(0.18 * self.rate)))
        # syllable pattern of glottal resistance
        r = np.empty(m)
        i = 0
        voiced = True
        while i < m:
            if voiced:
                L = int(rng.uniform(0.10, 0.30) * self.rate) + 1
                val = rng.uniform(40.0, 80.0)
            else:
                L = int(rng.uniform(0.05, 0.20) * self.rate) + 1
                val = rng.uniform(3.0, 10.0)
            r[i:i + L] = val
            i += L
            voiced = not voiced if rng.random() < 0.85 else voiced
        self._add(d.r_add, start, r)
        return ttot, pin

    def _effort_snoring(self, k0: int, w: int) -> tuple[float, float]:
        """A sleep breath with inspiratory flow limitation and palatal flutter [Pevernagie2010, Hosselet1998].

        Regular breathing (period variability shrunk to a third), effort x0.9-1.15. The upper airway
        narrows as inspiration proceeds: resistance rises by ``r_ua`` (4-20 cmH2O/(L/s) per event,
        x0.7-1.3 per breath) following ``sin(pi t / (1.3 Ti))``, flattening the inspiratory flow. The
        vibration envelope covers the same span; its amplitude is applied to flow and pressure when
        the signals are measured.
        """
        rng, d, dt = self.rng, self.d, self.dt
        info = self.win_info[w]
        ttot, pmax, ti = self.base(w)
        mean_t = 60.0 / self.p.rr_bpm
        ttot = float(np.clip(mean_t + (ttot - mean_t) / 3.0, 1.5, 12.0))
        ti = min(ti, 0.55 * ttot)
        pmax *= rng.uniform(0.9, 1.15)
        self._add(d.pmus, k0, albanese_pmus(pmax, ti, ttot, dt))
        m = int(1.3 * ti * self.rate) + 1
        hump = np.sin(np.pi * np.arange(m) / m)
        self._add(d.r_add, k0, info.get("r_ua", 10.0) * rng.uniform(0.7, 1.3) * hump)
        self._set_max(d.snore_env, k0, info.get("snore_amp", 0.7) * rng.uniform(0.6, 1.0) * hump**0.5)
        f = info.get("snore_hz", 40.0) * (1 + 0.05 * rng.standard_normal())
        k0c = min(k0, self.n)
        d.snore_freq[k0c:min(k0 + m, self.n)] = f
        return ttot, pmax

    def _effort_apnea(self, k0: int, w: int) -> tuple[float, float]:
        """A last tidal breath followed by >= 10 s without any effort [AASM2012].

        The pause lasts until the end of the event window and at least 10.5-12 s after the last
        effort has relaxed. In 35 % of events the glottis is closed during the pause (voluntary
        breath-hold: resistance +400 cmH2O/(L/s)), so that the ventilator's backup breaths deliver
        almost no volume; otherwise the airway is open (central apnea) and backup breaths inflate
        the lung passively. The next two breaths are deeper (see normal breathing).
        """
        rng, d = self.rng, self.d
        ttot, pmax, ti = self.base(w)
        self._add(d.pmus, k0, albanese_pmus(pmax, ti, ttot, self.dt))
        t0 = k0 / self.rate
        nxt = max(self.win_end[w], t0 + ttot + rng.uniform(10.5, 12.0))
        if rng.random() < 0.35:
            a, b = self._idx(t0 + ttot), self._idx(nxt)
            self._add(d.r_add, a, np.full(max(b - a, 0), 400.0))
        self.recovery = 2
        return nxt - t0, pmax

    def _effort_swallowing(self, k0: int, w: int) -> tuple[float, float]:
        """A breath interrupted by a swallow [MartinHarris2005, Hiss2001].

        The airway closes (resistance +500 cmH2O/(L/s)) for 0.5-1.2 s (swallow apnea). In 80 % of
        swallows the closure falls inside expiration, 0.2-1.0 s after the end of the neural
        inspiration (exhale-swallow-exhale); in 20 % it interrupts inspiration at 30-70 % of Ti.
        Laryngeal elevation at the swallow onset gives a brief biphasic flow blip (2-6 L/min,
        ~0.15 s) and a small pressure transient (0.2-0.8 cmH2O). The breath is lengthened by 50-100 %
        of the closure.
        """
        rng, d = self.rng, self.d
        ttot, pmax, ti = self.base(w)
        self._add(d.pmus, k0, albanese_pmus(pmax, ti, ttot, self.dt))
        dur = rng.uniform(0.5, 1.2)
        if rng.random() < 0.8:
            t_sw = ti + rng.uniform(0.2, 1.0)
        else:
            t_sw = ti * rng.uniform(0.3, 0.7)
        a = k0 + int(round(t_sw * self.rate))
        n_cl = max(int(round(dur * self.rate)), 1)
        self._add(d.r_add, a, np.full(n_cl, 500.0))
        nb = max(int(0.15 * self.rate), 2)
        blip = np.sin(2 * np.pi * np.arange(nb) / nb)
        self._add(d.art_q, a, rng.uniform(2.0, 6.0) * blip * rng.choice([-1.0, 1.0]))
        self._add(d.art_p, a, rng.uniform(0.2, 0.8) * np.sin(np.pi * np.arange(nb) / nb))
        return ttot + dur * rng.uniform(0.5, 1.0), pmax
