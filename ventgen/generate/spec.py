"""The cohort specification: :class:`CohortSpec`, its :class:`CompositionEntry` lines, and its
validation (:func:`spec_from_dict` for a parsed JSON document, :func:`read_cohort_spec` for a file, a
dict or a :class:`CohortSpec`; the file itself is read by :mod:`ventgen.io.cohort_spec`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .._core.limits import (
    MAX_CODES_PER_MAP,
    MAX_COHORT_BREATHS,
    MAX_COHORT_MINUTES,
    MAX_JSON_DEPTH,
    MAX_MAPS,
    MAX_PATIENTS,
    check_count,
    check_number,
    check_sampling_rate,
)
from .._core.schemas import validate
from ..errors import FileFormatError, VentgenTypeError, VentgenValueError
from ..io.cohort_spec import read_spec_document

__all__ = ["NATURAL", "CompositionEntry", "CohortSpec", "read_cohort_spec", "spec_from_dict"]

_SUM_TOL = 1e-3
#: Largest Dirichlet concentration of a patient's node preference: above ~1e3 every patient already
#: uses the cohort-wide weights; larger values overflow the Dirichlet draw.
_MAX_NODE_CONCENTRATION = 1e6


@dataclass(frozen=True)
class CompositionEntry:
    """One line of a cohort composition: a class (fine or super) or an explicit node, and its share.

    Parameters
    ----------
    fraction : float
        Share of the cohort's breaths, in [0, 1].
    name : str, optional
        A fine class or a super-class of the reference labels.
    level : int, optional
        For a class: the lattice level whose nodes represent it (default: the spec's level). For an
        explicit node: its level (1 = S_1, the deepest map).
    node : int, optional
        Explicit node id (row-major index into the level's lattice).
    """

    fraction: float
    name: str | None = None
    level: int | None = None
    node: int | None = None

    @property
    def key(self) -> str:
        """A readable identifier (the class name, or ``"level L node k"``)."""
        return self.name if self.name is not None else f"level {self.level} node {self.node}"

    @property
    def is_node(self) -> bool:
        return self.node is not None


#: The spec's composition when it is omitted or ``"natural"``: the natural proportions of the
#: reference breaths, by class (over the nodes of the top level without labels; resolved by
#: :func:`ventgen.generate.composition.natural_composition`).
NATURAL = "natural"


@dataclass(frozen=True)
class CohortSpec:
    """A parsed and validated cohort specification (see :func:`ventgen.read_cohort_spec`).

    An empty ``composition`` is the natural one (the spec omits it or says ``"natural"``): the
    proportions of the reference breaths (their classes, or without labels the top level's nodes).
    """

    patients: int
    composition: tuple
    minutes: float | None = None
    breaths: int | None = None
    level: int = 1
    sampling_rate: float | None = None
    patient_variability: float = 0.5
    node_concentration: float | None = 1.0
    name: str = ""
    description: str = ""
    reference: str | None = None

    @property
    def natural(self) -> bool:
        """Whether the composition is the natural one (resolved when the model is known)."""
        return len(self.composition) == 0

    def to_dict(self) -> dict:
        """The JSON form (list composition, or ``"natural"``), accepted back by :func:`ventgen.read_cohort_spec`."""
        comp = []
        for e in self.composition:
            if e.is_node:
                comp.append({"level": e.level, "node": e.node, "fraction": e.fraction})
            else:
                item = {"class": e.name, "fraction": e.fraction}
                if e.level is not None:
                    item["level"] = e.level
                comp.append(item)
        d = {"patients": self.patients, "composition": comp or NATURAL, "level": self.level,
             "patient_variability": self.patient_variability,
             "node_concentration": self.node_concentration}
        if self.minutes is not None:
            d["minutes"] = self.minutes
        else:
            d["breaths"] = self.breaths
        if self.sampling_rate is not None:
            d["sampling_rate"] = self.sampling_rate
        if self.name:
            d["name"] = self.name
        if self.description:
            d["description"] = self.description
        if self.reference:
            d["reference"] = self.reference
        return d


def read_cohort_spec(spec) -> CohortSpec:
    """Parse and validate a cohort specification.

    Parameters
    ----------
    spec : CohortSpec, dict, str or path-like
        A spec object, a JSON-like dict, or the path of a JSON file (UTF-8, a byte-order mark is
        accepted) following ``data_schemas/cohort_spec.schema.json``.

    Returns
    -------
    CohortSpec

    Raises
    ------
    FileFormatError
        When the file is not a JSON document ventgen accepts: not UTF-8, invalid JSON, larger than
        ``MAX_JSON_BYTES``, nested deeper than ``MAX_JSON_DEPTH``, ``NaN``/``Infinity`` or an
        out-of-range number, a key given twice in one object; or when a field is out of its limits
        (a file's errors name the file and the field).
    SchemaError
        When the document does not follow the schema (every problem listed, on one line).
    VentgenValueError
        When fractions do not sum to one, an entry is repeated, both/neither of minutes and breaths
        are given, or a number is outside the limits of :mod:`ventgen._core.limits` (patients, total
        patient-minutes, total breaths, sampling rate, levels and nodes).

    Examples
    --------
    >>> spec = read_cohort_spec({"patients": 4, "minutes": 10,
    ...     "composition": {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}})
    >>> spec.patients, [e.key for e in spec.composition]
    (4, ['normal breathing', 'apnea', 'snoring'])
    >>> read_cohort_spec({"patients": 2, "minutes": 5}).natural   # composition omitted: the natural one
    True
    """
    if isinstance(spec, CohortSpec):  # built in Python: held to the same limits
        try:
            doc = spec.to_dict()
        except (AttributeError, TypeError):
            raise VentgenTypeError("CohortSpec.composition must be a tuple of CompositionEntry") from None
        spec_from_dict(doc)
        return spec
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        return spec_from_dict(read_spec_document(path), path=path, base=path.parent)
    if isinstance(spec, dict):
        check_depth(spec, None, "")
        return spec_from_dict(spec)
    raise VentgenTypeError(
        f"cohort spec must be a dict, a CohortSpec or a path to a JSON file, got {type(spec).__name__}"
    )


def check_depth(doc, path, prefix: str) -> None:
    """Refuse a dict/list document nested deeper than ``MAX_JSON_DEPTH`` (iteratively: no recursion)."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _spec_error(path, prefix or None, f"nested more than {MAX_JSON_DEPTH} levels deep")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, (list, tuple)) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))


def _spec_error(path, field: str | None, message: str) -> VentgenValueError:
    """One-line error naming the spec file (if any) and the field."""
    if path is not None:
        return FileFormatError(path, message, field=field)
    return VentgenValueError("cohort spec" + (f", {field!r}" if field else "") + f": {message}")


def _checked(path, field: str, check, value, *args, **kwargs):
    """``check(value, field, ...)`` with its error re-raised naming the spec file."""
    try:
        return check(value, field, *args, **kwargs)
    except VentgenValueError as exc:  # "<field> must be ..." -> "<file>, '<field>': must be ..."
        raise _spec_error(path, field, str(exc).removeprefix(f"{field} ")) from None


# ---------------------------------------------------------------------------- spec fields
def spec_from_dict(doc, *, path=None, base=None, prefix: str = "") -> CohortSpec:
    """Validate a parsed spec document: type, schema, then every number against its limit.

    ``path`` (the file it came from) and ``prefix`` (its place in a larger document) are named in the
    errors; a relative ``"reference"`` is taken relative to ``base``.
    """
    source = "cohort spec" if path is None else f"cohort spec {path}" + (f", {prefix!r}" if prefix else "")
    if not isinstance(doc, dict):
        raise _spec_error(path, prefix or None, f"expected a JSON object at the top level, got {type(doc).__name__}")
    has_m, has_b = "minutes" in doc, "breaths" in doc
    if has_m == has_b:
        raise _spec_error(path, prefix or None, "give exactly one of 'minutes' (per patient) or 'breaths' (per "
                          "patient), got " + ("both" if has_m else "neither"))
    validate(doc, "cohort_spec", source=source)
    f = (lambda name: f"{prefix}/{name}") if prefix else (lambda name: name)
    patients = _checked(path, f("patients"), check_count, doc["patients"], high=MAX_PATIENTS)
    minutes, breaths = _duration(doc, patients, path, f)
    rate = doc.get("sampling_rate")
    if rate is not None:
        rate = _checked(path, f("sampling_rate"), check_sampling_rate, rate)
    nc = doc.get("node_concentration", 1.0)
    if nc is not None:
        nc = _checked(path, f("node_concentration"), check_number, nc, low=0, low_open=True,
                      high=_MAX_NODE_CONCENTRATION)
    reference = doc.get("reference")
    if reference is not None and "\x00" in reference:
        raise _spec_error(path, f("reference"), "a path cannot hold a NUL character")
    if reference is not None and base is not None and not Path(reference).is_absolute():
        reference = str(Path(base) / reference)
    return CohortSpec(
        patients=patients,
        composition=_composition(doc.get("composition", NATURAL), path, f),
        minutes=minutes,
        breaths=breaths,
        level=_checked(path, f("level"), check_count, doc.get("level", 1), high=MAX_MAPS),
        sampling_rate=rate,
        patient_variability=_checked(path, f("patient_variability"), check_number,
                                     doc.get("patient_variability", 0.5), low=0, high=1),
        node_concentration=nc,
        name=str(doc.get("name", "")),
        description=str(doc.get("description", "")),
        reference=reference,
    )


def _duration(doc: dict, patients: int, path, f) -> tuple:
    """(minutes, breaths) per patient, one of them None, checked against the cohort's limits."""
    minutes = breaths = None
    if "minutes" in doc:
        minutes = _checked(path, f("minutes"), check_number, doc["minutes"], low=0, low_open=True,
                           high=MAX_COHORT_MINUTES, unit="minutes")
        if patients * minutes > MAX_COHORT_MINUTES:
            raise _spec_error(path, f("minutes"), f"{patients} patients x {minutes:g} minutes = "
                              f"{patients * minutes:g} patient-minutes; a cohort holds at most "
                              f"{MAX_COHORT_MINUTES:g}")
    else:
        breaths = _checked(path, f("breaths"), check_count, doc["breaths"], high=MAX_COHORT_BREATHS)
        if patients * breaths > MAX_COHORT_BREATHS:
            raise _spec_error(path, f("breaths"), f"{patients} patients x {breaths} breaths = {patients * breaths} "
                              f"breaths; a cohort holds at most {MAX_COHORT_BREATHS}")
    return minutes, breaths


def _composition(comp, path, f) -> tuple:
    """The composition entries, checked (fractions finite in [0, 1], summing to 1; levels and nodes
    within the limits; no entry twice) and renormalised; ``()`` for the natural composition."""
    if comp == NATURAL:
        return ()
    entries = []
    items = comp.items() if isinstance(comp, dict) else enumerate(comp)
    for key, item in items:
        where = f(f"composition/{key}")
        if isinstance(comp, dict):
            frac = _checked(path, where, check_number, item, low=0, high=1)
            entries.append(CompositionEntry(fraction=frac, name=str(key)))
            continue
        frac = _checked(path, f"{where}/fraction", check_number, item["fraction"], low=0, high=1)
        lvl = item.get("level")
        if lvl is not None:
            lvl = _checked(path, f"{where}/level", check_count, lvl, high=MAX_MAPS)
        if "node" in item:
            node = _checked(path, f"{where}/node", check_count, item["node"], low=0, high=MAX_CODES_PER_MAP - 1)
            entries.append(CompositionEntry(fraction=frac, level=lvl, node=node))
        else:
            entries.append(CompositionEntry(fraction=frac, name=str(item["class"]), level=lvl))
    keys = [e.key.casefold() if not e.is_node else e.key for e in entries]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise _spec_error(path, f("composition"), f"lists {dup} more than once; give each entry once")
    total = float(sum(e.fraction for e in entries))
    if abs(total - 1.0) > _SUM_TOL:
        terms = " + ".join(f"{e.key} {e.fraction:g}" for e in entries)
        raise _spec_error(path, f("composition"), f"fractions sum to {total:g} ({terms}); they are shares of "
                          "breaths and must sum to 1")
    return tuple(CompositionEntry(fraction=e.fraction / total, name=e.name, level=e.level, node=e.node)
                 for e in entries)
