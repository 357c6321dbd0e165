"""Units of the signals ventgen reads: the tables of accepted units and their conversion to ventgen's.

ventgen's units are fixed: flow L/min, pressure cmH2O, volume mL, time s. A reader converts other
units (L/s, mL/s, hPa, mbar, L, ms) only when told which one a column holds (in its name, such as
``flow_lps`` or ``"Flow (L/s)"``, or by an explicit ``*_unit=`` option); ventgen never guesses.

Examples
--------
>>> normalise_unit("flow", "l/s", where="x.csv")
'L/s'
>>> to_base_units(np.array([1.0]), "flow", "L/s").tolist()
[60.0]
>>> split_column("Flow (L/s)")
('flow', 'l/s')
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import VentgenValueError

__all__ = [
    "FLOW_UNITS",
    "PRESSURE_UNITS",
    "VOLUME_UNITS",
    "TIME_UNITS",
    "UNIT_ALIASES",
    "UNIT_TABLES",
    "COLUMN_BASES",
    "CANONICAL_COLUMNS",
    "normalise_unit",
    "split_column",
    "to_base_units",
]

#: Factors that convert each accepted unit into ventgen's unit (L/min, cmH2O, mL, s).
FLOW_UNITS = {"L/min": 1.0, "L/s": 60.0, "mL/s": 0.06}
PRESSURE_UNITS = {"cmH2O": 1.0, "hPa": 1.0197162129779282, "mbar": 1.0197162129779282}
VOLUME_UNITS = {"mL": 1.0, "L": 1000.0}
TIME_UNITS = {"s": 1.0, "ms": 1e-3}
# spellings accepted for each unit (lower case, as found in a column name suffix or a *_unit argument)
UNIT_ALIASES = {
    "flow": {"l/min": "L/min", "lpm": "L/min", "lmin": "L/min", "l/s": "L/s", "lps": "L/s", "ls": "L/s",
             "ml/s": "mL/s", "mlps": "mL/s", "mls": "mL/s"},
    "pressure": {"cmh2o": "cmH2O", "hpa": "hPa", "mbar": "mbar"},
    "volume": {"ml": "mL", "l": "L"},
    "time": {"s": "s", "sec": "s", "ms": "ms"},
}
UNIT_TABLES = {"flow": FLOW_UNITS, "pressure": PRESSURE_UNITS, "volume": VOLUME_UNITS, "time": TIME_UNITS}
# base names of each channel's column
COLUMN_BASES = {
    "flow": ("flow",),
    "pressure": ("paw", "pressure", "p_aw", "airway_pressure"),
    "volume": ("volume", "vol"),
    "time": ("time", "t"),
}
CANONICAL_COLUMNS = {"flow": "flow_lpm", "pressure": "paw_cmh2o", "volume": "volume_ml", "time": "time_s"}


def normalise_unit(kind: str, unit, *, where: str) -> str:
    """The canonical spelling of ``unit`` for channel ``kind``; an unknown unit names ``where``."""
    key = str(unit).strip().lower().replace(" ", "")
    canon = UNIT_ALIASES[kind].get(key)
    if canon is None:
        raise VentgenValueError(
            f"{where}: unknown {kind} unit {unit!r}; expected one of {', '.join(UNIT_TABLES[kind])}"
        )
    return canon


_UNIT_IN_NAME = re.compile(r"^\s*(.*?)\s*[\[(]\s*([^\])]+?)\s*[\])]\s*$")


def split_column(name: str) -> tuple[str, str | None]:
    """``"flow_lps"`` -> ("flow", "lps"); ``"Flow (L/s)"`` -> ("flow", "l/s"); ``"flow"`` -> ("flow", None)."""
    s = str(name).strip()
    m = _UNIT_IN_NAME.match(s)
    if m:
        return m.group(1).strip().lower().replace(" ", "_"), m.group(2).strip().lower().replace(" ", "")
    low = s.lower().replace(" ", "_")
    for kind, bases in COLUMN_BASES.items():
        for b in bases:
            if low == b:
                return b, None
            if low.startswith(b + "_"):
                suffix = low[len(b) + 1:]
                if suffix in UNIT_ALIASES[kind]:
                    return b, suffix
    return low, None


def to_base_units(values: np.ndarray, kind: str, unit: str) -> np.ndarray:
    """``values`` of channel ``kind`` in (canonical) ``unit``, converted to ventgen's unit of that channel.

    The values are returned as they are when the unit already is ventgen's (no copy, no rounding).
    """
    factor = UNIT_TABLES[kind][unit]
    return values * factor if factor != 1.0 else values
