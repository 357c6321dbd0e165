"""Breathing events of the ventilation simulator: what each class does to effort and mechanics.

The ten classes of the paper's ventilation dataset (see :data:`ventgen.labels.VENTILATION_TREE`)
are modelled as changes to three physiological inputs of the single-compartment lung of
:mod:`ventgen.signals.simulate` and to two measurement terms:

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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal as sps

from ..errors import VentgenTypeError, VentgenValueError
from ..labels import VENTILATION_CLASSES, VENTILATION_SUPERCLASSES, VENTILATION_TREE

__all__ = [
    "DEFAULT_PROPORTIONS",
    "EVENT_DURATION_S",
    "POSITION_MECHANICS",
    "resolve_proportions",
    "plan_events",
    "albanese_pmus",
]

NORMAL = "normal breathing"

#: Default share of recording time per class (normal breathing 30 %, the rest spread over the events).
DEFAULT_PROPORTIONS = {
    "normal breathing": 0.30,
    "speaking": 0.10,
    "coughing": 0.06,
    "snoring": 0.10,
    "apnea": 0.08,
    "swallowing": 0.06,
    "lying down": 0.075,
    "turning left": 0.075,
    "turning right": 0.075,
    "knees to chest": 0.075,
}

#: Typical duration (s) of one event of each class, (low, high); one interval is drawn per event.
EVENT_DURATION_S = {
    "speaking": (15.0, 45.0),   # a few breath groups of 2-6 s [Winkworth1995]
    "coughing": (4.0, 12.0),    # a bout of 1-4 coughs [McCool2006]
    "snoring": (30.0, 90.0),
    "apnea": (15.0, 30.0),      # >= 10 s without effort [AASM2012]
    "swallowing": (4.0, 9.0),   # one or two swallows
    "lying down": (15.0, 40.0),
    "turning left": (15.0, 40.0),
    "turning right": (15.0, 40.0),
    "knees to chest": (15.0, 40.0),
}

#: Shortest event of each class (s); shorter allocations are lengthened (or the event dropped).
EVENT_MIN_S = {
    "speaking": 6.0, "coughing": 3.0, "snoring": 10.0, "apnea": 14.0, "swallowing": 3.0,
    "lying down": 8.0, "turning left": 8.0, "turning right": 8.0, "knees to chest": 8.0,
}

#: Posture changes: ranges of the multipliers applied to compliance ("c") and resistance ("r") and
#: to effort amplitude ("effort") and rate ("rr") while the event lasts. Supine lowers compliance and
#: raises resistance [Behrakis1983, Lumb2017]; lateral decubitus lies between sitting and supine, the
#: left side a little stiffer (heart on the dependent lung) [Lumb2017]; knees to chest compresses the
#: abdomen and stiffens the chest wall [Lumb2017]. Deliberately small and overlapping: positions differ
#: from normal breathing only through shifted mechanics and short movement artefacts.
POSITION_MECHANICS = {
    "lying down": {"c": (0.78, 0.92), "r": (1.10, 1.30), "effort": (1.00, 1.10), "rr": (0.95, 1.05)},
    "turning left": {"c": (0.84, 0.96), "r": (1.00, 1.15), "effort": (0.95, 1.10), "rr": (0.95, 1.08)},
    "turning right": {"c": (0.87, 1.00), "r": (1.00, 1.12), "effort": (0.95, 1.10), "rr": (0.95, 1.08)},
    "knees to chest": {"c": (0.65, 0.85), "r": (1.05, 1.25), "effort": (1.05, 1.25), "rr": (1.00, 1.15)},
}


# ---------------------------------------------------------------------------------------------------
# proportions and the event plan
def resolve_proportions(proportions=None) -> dict[str, float]:
    """Normalise a class-proportion spec to shares of recording time over the ten fine classes.

    Parameters
    ----------
    proportions : mapping of str to float, or str, optional
        Weights per fine class; a super-class name (``"respiratory event"``, ``"movement"``) spreads
        its weight evenly over its classes. Missing classes get 0. ``None`` = :data:`DEFAULT_PROPORTIONS`.
        A string ``"normal breathing=0.5, apnea=0.25, snoring=0.25"`` (the command line's form) is
        parsed into such a mapping.

    Returns
    -------
    dict
        Fine class -> share, summing to 1, in :data:`ventgen.labels.VENTILATION_CLASSES` order.

    Examples
    --------
    >>> p = resolve_proportions({"normal breathing": 1, "movement": 1})
    >>> p["normal breathing"], p["lying down"]
    (0.5, 0.125)
    >>> resolve_proportions("normal breathing=3, apnea=1")["apnea"]
    0.25
    """
    if proportions is None:
        proportions = DEFAULT_PROPORTIONS
    if isinstance(proportions, str):
        proportions = _parse_proportions(proportions)
    if not isinstance(proportions, Mapping):
        raise VentgenTypeError(
            f"proportions must be a mapping of class name -> weight, got {type(proportions).__name__}"
        )
    out = dict.fromkeys(VENTILATION_CLASSES, 0.0)
    problems = []
    for name, w in proportions.items():
        try:
            w = float(w)
        except (TypeError, ValueError):
            problems.append(f"{name!r}: weight {w!r} is not a number")
            continue
        if not np.isfinite(w) or w < 0:
            problems.append(f"{name!r}: weight must be finite and >= 0, got {w}")
            continue
        if name in out:
            out[name] += w
        elif name in VENTILATION_SUPERCLASSES:
            members = VENTILATION_TREE.members(name)
            for m in members:
                out[m] += w / len(members)
        else:
            problems.append(
                f"unknown class {name!r}; known classes: {list(VENTILATION_CLASSES)}, "
                f"super-classes: {list(VENTILATION_SUPERCLASSES)}"
            )
    if problems:
        raise VentgenValueError("proportions: " + "; ".join(problems))
    total = sum(out.values())
    if total <= 0:
        raise VentgenValueError("proportions: at least one class needs a positive weight")
    return {k: v / total for k, v in out.items()}


def _parse_proportions(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, weight = part.rpartition("=")
        if not sep or not name.strip():
            raise VentgenValueError(
                f"proportions: item {i + 1} ({part!r}) is not 'class=weight'; "
                "expected e.g. 'normal breathing=0.5, apnea=0.25, snoring=0.25'"
            )
        out[name.strip()] = weight.strip()
    return out


def plan_events(duration_s: float, proportions: Mapping[str, float], rng: np.random.Generator) -> pd.DataFrame:
    """Lay out event windows over a recording so that each class gets its share of time.

    Each class with a positive share gets ``max(1, round(share * duration / typical))`` events whose
    durations (drawn around :data:`EVENT_DURATION_S`, at least :data:`EVENT_MIN_S`) sum to its share;
    the events are shuffled and separated by normal breathing: each gap at least
    ``min(6 s, normal time / (events + 1))``, the rest drawn from a flat Dirichlet distribution. If the events do not fit, all are shortened in proportion.

    Returns
    -------
    DataFrame
        Contiguous windows covering ``[0, duration_s)``: columns ``start_s``, ``end_s``, ``label``.
    """
    events = []
    for label, share in proportions.items():
        if label == NORMAL or share <= 0:
            continue
        alloc = share * duration_s
        lo, hi = EVENT_DURATION_S[label]
        k = max(1, int(round(alloc / (0.5 * (lo + hi)))))
        d = rng.uniform(0.8, 1.2, size=k)
        d = d / d.sum() * alloc
        d = np.maximum(d, min(EVENT_MIN_S[label], 0.9 * duration_s))
        events.extend((label, float(x)) for x in d)
    order = rng.permutation(len(events))
    events = [events[i] for i in order]
    total = sum(d for _, d in events)
    p_normal = proportions.get(NORMAL, 0.0)
    # keep at least the requested normal share, and always a little normal breathing at the start
    room = duration_s * (1.0 - p_normal) if p_normal > 0 else duration_s
    if total > room and total > 0:
        scale = room / total
        events = [(lab, d * scale) for lab, d in events]
        total = room
    gap_total = max(duration_s - total, 0.0)
    if p_normal > 0 or not events:
        if events:
            # at least ~one breath of normal breathing between events (up to 6 s), so that events
            # of the same class stay apart; the rest of the normal time is spread at random
            min_gap = min(6.0, gap_total / (len(events) + 1))
            free = gap_total - min_gap * (len(events) + 1)
            gaps = min_gap + free * rng.dirichlet(np.ones(len(events) + 1))
        else:
            gaps = np.array([gap_total])
    else:  # no normal breathing requested: stretch the events over the whole recording
        events = [(lab, d * duration_s / total) for lab, d in events]
        gaps = np.zeros(len(events) + 1)
    rows = []
    t = 0.0
    for i, (label, d) in enumerate(events):
        if gaps[i] > 0:
            rows.append((t, t + gaps[i], NORMAL))
            t += gaps[i]
        rows.append((t, t + d, label))
        t += d
    if gaps[-1] > 0 or not rows:
        rows.append((t, t + gaps[-1], NORMAL))
    df = pd.DataFrame(rows, columns=["start_s", "end_s", "label"])
    df.loc[df.index[-1], "end_s"] = duration_s
    df = df[df["end_s"] > df["start_s"]].reset_index(drop=True)
    return df


# ---------------------------------------------------------------------------------------------------
# effort waveforms
def albanese_pmus(pmax: float, ti: float, ttot: float, dt: float) -> np.ndarray:
    """Parabolic-exponential muscle pressure of one breath [Albanese2016], positive = inspiratory.

    A parabola rising to ``pmax`` at ``ti``, then an exponential relaxation with time constant
    ``(T - ti) / 5`` reaching 0 at ``T = ttot``::

        Pmus(t) = -Pmax t^2 / (Ti Te) + Pmax T t / (Ti Te)                 0 <= t <= Ti
        Pmus(t) = Pmax (exp(-(t - Ti)/tau) - exp(-Te/tau)) / (1 - exp(-Te/tau))   Ti < t <= T

    Parameters
    ----------
    pmax : float
        Peak muscle pressure (cmH2O).
    ti, ttot : float
        Neural inspiratory time and breath period (s), ``0 < ti < ttot``.
    dt : float
        Sampling interval (s).

    Returns
    -------
    ndarray of shape (ceil(ttot / dt),)

    Examples
    --------
    >>> p = albanese_pmus(5.0, 1.0, 4.0, 0.02)
    >>> round(float(p.max()), 2), p.shape
    (5.0, (200,))
    """
    m = max(int(np.ceil(ttot / dt)), 1)
    t = np.arange(m) * dt
    te = ttot - ti
    tau = te / 5.0
    out = np.empty(m)
    ins = t <= ti
    out[ins] = pmax * t[ins] * (ttot - t[ins]) / (ti * te)
    tt = t[~ins] - ti
    e_end = np.exp(-te / tau)
    out[~ins] = pmax * (np.exp(-tt / tau) - e_end) / (1.0 - e_end)
    return np.maximum(out, 0.0)


def _parabola_rise(pmax: float, ti: float, dt: float) -> np.ndarray:
    """The inspiratory (parabolic) limb of [Albanese2016] alone, peaking at ``ti``."""
    m = max(int(np.ceil(ti / dt)), 1)
    t = np.arange(m) * dt
    ttot = 2.5 * ti
    te = ttot - ti
    return pmax * t * (ttot - t) / (ti * te)


def _hann_env(m: int, edge: int) -> np.ndarray:
    """Flat-top window of length ``m`` with raised-cosine edges of ``edge`` samples."""
    env = np.ones(m)
    edge = int(min(edge, m // 2))
    if edge > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
        env[:edge] = ramp
        env[m - edge:] = ramp[::-1]
    return env


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
            env = _hann_env(k1 - k0, int(1.0 * self.rate))
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
            self.d.leak_add[k0:k1] += self.rng.uniform(0.0, 2.0) * _hann_env(k1 - k0, int(self.rate))

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
        rise = _parabola_rise(pin, ti, dt)
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
        self._add(d.pmus, k0, _parabola_rise(pin, ti, dt))
        n_rel = int(0.4 * self.rate)
        self._add(d.pmus, k0 + int(np.ceil(ti / dt)), pin * np.exp(-np.arange(n_rel) * dt / 0.08))
        start = k0 + int(round((ti + rng.uniform(0.1, 0.3)) * self.rate))
        m = int(phrase * self.rate)
        psub = rng.uniform(2.0, 6.0)
        self._add(d.pmus, start, -psub * _hann_env(m, int(0.18 * self.rate)))
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
