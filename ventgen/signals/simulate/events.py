"""The event plan of the ventilation simulator: which class happens when, and for how long.

The ten classes of the paper's ventilation dataset (see :data:`ventgen.labels.VENTILATION_TREE`) share
a recording by proportions of time (:func:`resolve_proportions`); :func:`plan_events` lays events of
each class out over the recording. What each class does to the breathing is in
:mod:`ventgen.signals.simulate.effort`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...errors import VentgenTypeError, VentgenValueError
from ...labels import VENTILATION_CLASSES, VENTILATION_SUPERCLASSES, VENTILATION_TREE

__all__ = [
    "DEFAULT_PROPORTIONS",
    "EVENT_DURATION_S",
    "POSITION_MECHANICS",
    "resolve_proportions",
    "plan_events",
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
