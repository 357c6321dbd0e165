"""Class-balanced virtual patients generated from the nodes of a trained HTVAE.

The pipeline of :func:`generate_cohort`:

1. **Spec** (:func:`read_cohort_spec`): number of patients, minutes or breaths per patient, and the
   composition as fractions of breaths over fine classes, super-classes or explicit lattice nodes
   ``{"level": L, "node": k}`` (schema ``data_schemas/cohort_spec.schema.json``).
2. **Node labels** (:func:`label_nodes`): every reference (training) breath is assigned to one node per
   level by the model; a node's class is the majority label of its breaths, with its purity.
3. **Resolution**: a fine class maps to the nodes of the chosen level whose majority label it is,
   weighted by how many of the class's reference breaths each holds; a super-class to the nodes whose
   majority label is one of its members; an explicit node to itself. Per-patient, per-entry breath
   counts are exact integers (largest remainder, with row and column sums both exact).
4. **Events**: each entry's breaths are cut into runs whose lengths follow the run lengths of that
   class in the reference (consecutive breaths with the same label), so multi-breath events (apnea,
   speech, cough trains) stay contiguous; every run is drawn from one node; runs are shuffled.
5. **Latents**: ``z = code + sigma * (a * u_patient + sqrt(1 - a**2) * eps)``: the marginal of every
   breath is exactly the node's Gaussian ``N(code, sigma**2)``, and the share ``a`` of the deviation
   common to one patient (``patient_variability``) makes a patient self-consistent and different from
   the others. Each patient also weighs the nodes of a class by its own Dirichlet draw
   (``node_concentration``), i.e. prefers a neighbourhood of the lattice.
6. **Decoding** in large batches with ``model.decode`` (original units), then each cycle is **cut**
   to a realistic length. Default ``length_method="node"``: a length drawn from the real lengths of
   the reference breaths of the same node. Why: the reference cycles are edge-padded after their true
   end, and a decoder reproduces that padding only approximately (a smooth tail, no sharp corner), so
   reading the length back from the decoded signal is fragile, while the node's breaths share the
   waveform the node decodes to; their lengths are the empirical distribution of exactly that kind of
   breath. ``length_method="padding"`` reads the length from the decoded tail instead (clipped to the
   node's observed range).
7. **Observation noise** (``noise="residual"``, default): the decoder gives the mean of ``p(x | z)``;
   class-conditional coloured noise fitted to the model's residuals on the reference breaths
   (:class:`ventgen.observation.ObservationNoise`) is added, so breaths carry the sensor noise,
   cardiogenic oscillation and vibration of real ones. ``noise="none"`` keeps the smooth means.
8. **Boundary correction** (``boundary="residual"``, default): a cycle starts at the ventilator's
   trigger, so the last samples of a real breath already hold the effort that triggers the next one
   (flow rising, pressure dipping), at a position that moves with the breath's length. The decoder
   smooths that end-aligned feature away; :class:`ventgen.observation.BoundaryBias` adds back the
   mean residual over the first and (aligned to the cut) the last 0.4 s of the breath, per class.
9. **Stitching** into continuous flow and pressure: at each join the last sample of a breath and the
   first of the next are moved towards each other until they differ by the mean step that consecutive
   reference breaths have there (0 with ``boundary="none"`` or a reference without breath positions:
   they meet); the correction fades out with a raised cosine over 0.3 s
   on each side of the join, so there is no jump, no kink, and the tidal volumes barely change (a ramp
   spread over a whole breath would add ``offset x duration / 2`` of volume: hundreds of mL for an
   8-second apnea breath with a 5 L/min offset).

Examples
--------
See :func:`generate_cohort`.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ._core import (
    atomic_dir,
    check_random_state,
    json_default_lenient,
    progress,
    read_json_document,
)
from ._core.limits import (
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
from .errors import FileFormatError, VentgenTypeError, VentgenValueError, VentgenWarning
from .labels import VENTILATION_TREE, LabelTree, flat_tree
from .observation import BoundaryBias, ObservationNoise

__all__ = [
    "CompositionEntry",
    "CohortSpec",
    "CohortResult",
    "read_cohort_spec",
    "label_nodes",
    "resolve_composition",
    "generate_cohort",
    "write_cohort",
    "read_cohort",
    "generate_cohort_files",
    "LENGTH_METHODS",
    "LATENT_SOURCES",
]

#: How a decoded cycle's length is chosen, see the module notes.
LENGTH_METHODS = ("node", "padding", "nearest")
#: Where the latent Gaussians come from: ``"node"`` = the paper's ``N(code, sigma**2)``; ``"data"`` =
#: the mean and per-dimension spread of the encoded reference breaths of the requested class in that
#: node (falls back to ``"node"`` for a node/class pair with fewer than 3 reference breaths).
LATENT_SOURCES = ("node", "data")
NOISE_MODELS = ("residual", "none")
#: Whether the decoder's mean error at the ends of a breath is corrected, see the module notes.
BOUNDARY_MODELS = ("residual", "none")
_SUM_TOL = 1e-3
_UNLABELLED = "unlabelled"


# ============================================================================ spec
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


@dataclass(frozen=True)
class CohortSpec:
    """A parsed and validated cohort specification (see :func:`read_cohort_spec`)."""

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

    def to_dict(self) -> dict:
        """The JSON form (list composition), accepted back by :func:`read_cohort_spec`."""
        comp = []
        for e in self.composition:
            if e.is_node:
                comp.append({"level": e.level, "node": e.node, "fraction": e.fraction})
            else:
                item = {"class": e.name, "fraction": e.fraction}
                if e.level is not None:
                    item["level"] = e.level
                comp.append(item)
        d = {"patients": self.patients, "composition": comp, "level": self.level,
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
    """
    if isinstance(spec, CohortSpec):  # built in Python: held to the same limits
        try:
            doc = spec.to_dict()
        except (AttributeError, TypeError):
            raise VentgenTypeError("CohortSpec.composition must be a tuple of CompositionEntry") from None
        _spec_from_doc(doc)
        return spec
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder; expected a JSON cohort spec file", str(path))
        if not path.is_file():
            raise FileNotFoundError(2, "no such cohort spec file", str(path))
        doc = read_json_document(path, "cohort spec", nonfinite=True)  # every number is checked by field
        return _spec_from_doc(doc, path=path, base=path.parent)
    if isinstance(spec, dict):
        _check_depth(spec, None, "")
        return _spec_from_doc(spec)
    raise VentgenTypeError(
        f"cohort spec must be a dict, a CohortSpec or a path to a JSON file, got {type(spec).__name__}"
    )


#: Largest Dirichlet concentration of a patient's node preference: above ~1e3 every patient already
#: uses the cohort-wide weights; larger values overflow the Dirichlet draw.
_MAX_NODE_CONCENTRATION = 1e6


def _check_depth(doc, path, prefix: str) -> None:
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
def _spec_from_doc(doc, *, path=None, base=None, prefix: str = "") -> CohortSpec:
    """Validate a parsed spec document: type, schema, then every number against its limit."""
    from ._core.schemas import validate

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
    minutes = breaths = None
    if has_m:
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
        composition=_composition(doc["composition"], path, f),
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


def _composition(comp, path, f) -> tuple:
    """The composition entries, checked (fractions finite in [0, 1], summing to 1; levels and nodes
    within the limits; no entry twice) and renormalised."""
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


# ============================================================================ reference and model
_MODEL_METHODS = ("codebook", "node_sigma", "decode", "assign")


def _check_model(model):
    missing = [m for m in _MODEL_METHODS if not callable(getattr(model, m, None))]
    if not hasattr(model, "maps"):
        missing.append("maps")
    if missing:
        raise VentgenTypeError(
            f"generate_cohort: the model lacks {missing}; expected a fitted ventgen.HTVAE "
            "(codebook, node_sigma, decode, assign, maps)"
        )
    maps = [tuple(int(v) for v in m) for m in model.maps]
    if not maps:
        raise VentgenValueError("generate_cohort: the model has no maps")
    return maps


@dataclass
class _Reference:
    X: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    superclasses: np.ndarray | None
    subjects: np.ndarray | None
    sampling_rate: float
    channels: list
    follows: np.ndarray | None = None  # (n - 1,): breath i + 1 starts where breath i ends (same subject)


def _as_reference(reference, labels=None) -> _Reference:
    if isinstance(reference, (str, os.PathLike)):
        from . import CycleSet  # seg room

        reference = CycleSet.load(reference)
    missing = [a for a in ("X", "lengths", "sampling_rate") if not hasattr(reference, a)]
    if missing:
        raise VentgenTypeError(
            f"reference must be a ventgen.CycleSet (or a path to one), got {type(reference).__name__} "
            f"without {missing}"
        )
    X = np.asarray(reference.X)
    if X.ndim != 3 or X.shape[0] == 0:
        raise VentgenValueError(f"reference cycles must have shape (n > 0, channels, time), got {X.shape}")
    n = X.shape[0]
    lengths = np.asarray(reference.lengths).astype(np.int64)
    if lengths.shape != (n,):
        raise VentgenValueError(f"reference lengths must have shape ({n},), got {lengths.shape}")
    lengths = np.clip(lengths, 2, X.shape[2])
    if labels is None:
        labels = getattr(reference, "labels", None)
    if labels is None:
        raise VentgenValueError("reference cycles carry no labels; pass labels= (class or must-link group per cycle)")
    labels = np.asarray(labels).astype(str)
    if labels.shape != (n,):
        raise VentgenValueError(f"labels must have shape ({n},) like the reference cycles, got {labels.shape}")
    sup = getattr(reference, "superclasses", None)
    sup = None if sup is None else np.asarray(sup).astype(str)
    if sup is not None and sup.shape != (n,):
        sup = None
    subj = getattr(reference, "subjects", None)
    subj = None if subj is None else np.asarray(subj).astype(str)
    if subj is not None and subj.shape != (n,):
        subj = None
    rate = float(reference.sampling_rate)
    chans = list(getattr(reference, "channels", None) or ["flow_lpm", "paw_cmh2o"][: X.shape[1]])
    follows = None
    br = getattr(reference, "breaths", None)
    if isinstance(br, pd.DataFrame) and len(br) == n and {"start_idx", "end_idx"} <= set(br.columns):
        same = np.ones(n - 1, dtype=bool) if subj is None else subj[1:] == subj[:-1]
        follows = same & (br["end_idx"].to_numpy()[:-1] == br["start_idx"].to_numpy()[1:])
    return _Reference(X, lengths, labels, sup, subj, rate, chans, follows)


def _reference_of(reference, spec: CohortSpec):
    if reference is not None:
        return reference
    if spec.reference:
        if not Path(spec.reference).is_file():
            raise FileNotFoundError(2, "the cohort spec's reference cycles file does not exist", spec.reference)
        return spec.reference
    raise VentgenValueError(
        "no reference cycles: pass reference= (CLI: --reference cycles.h5) or put \"reference\": \"cycles.h5\" "
        "in the cohort spec; they are the model's training cycles, which give the node labels, breath lengths "
        "and event lengths"
    )


def _label_tree(ref: _Reference, label_tree=None) -> LabelTree:
    present = sorted({str(v) for v in ref.labels if v not in ("", _UNLABELLED)})
    if label_tree is not None:
        return label_tree
    if ref.superclasses is not None:
        pairs = {}
        ok = True
        for lab, sup in zip(ref.labels, ref.superclasses, strict=True):
            if lab in ("", _UNLABELLED) or sup == "":
                continue
            if pairs.setdefault(lab, sup) != sup:
                ok = False
                break
        if ok and pairs and set(pairs) == set(present):
            return LabelTree({k: [v] for k, v in pairs.items()}, name="reference")
    if present and set(present) <= set(VENTILATION_TREE.classes):
        return VENTILATION_TREE
    return flat_tree(present or ["?"], name="reference")


@dataclass
class _Stats:
    """Assignments of the reference breaths and per-node label counts, for every level."""

    assign: np.ndarray  # (n, M)
    classes: list  # fine classes present
    counts: list  # per level: (K, n_classes) int
    maps: list
    tree: LabelTree


class _Encoded:
    """The model's view of the reference cycles, each part computed once: node paths, latent means and
    reconstructions. A model with ``encode`` (the HTVAE) gives paths and means in one encoder pass, and
    its reconstructions are ``decode`` of those means; other models use ``assign``, ``transform`` and
    ``reconstruct``."""

    def __init__(self, model, X):
        self.model, self.X = model, X
        self._one_pass = callable(getattr(model, "encode", None))

    @cached_property
    def _pair(self):
        return self.model.encode(self.X)

    @cached_property
    def assign(self) -> np.ndarray:
        return np.asarray(self._pair[1] if self._one_pass else self.model.assign(self.X), dtype=np.int64)

    @cached_property
    def mu(self) -> np.ndarray:
        return np.asarray(self._pair[0] if self._one_pass else self.model.transform(self.X), dtype=np.float64)

    @cached_property
    def recon(self) -> np.ndarray:
        if self._one_pass:
            return np.asarray(self.model.decode(self.mu.astype(np.float32)))
        return np.asarray(self.model.reconstruct(self.X))


def _node_stats(model, ref: _Reference, label_tree=None, enc: _Encoded | None = None) -> _Stats:
    maps = _check_model(model)
    A = (enc or _Encoded(model, ref.X)).assign
    if A.ndim == 1:
        A = A[:, None]
    if A.shape != (ref.X.shape[0], len(maps)):
        raise VentgenValueError(f"model.assign returned shape {A.shape}, expected ({ref.X.shape[0]}, {len(maps)})")
    tree = _label_tree(ref, label_tree)
    classes = sorted({str(v) for v in ref.labels if v not in ("", _UNLABELLED)})
    cidx = {c: i for i, c in enumerate(classes)}
    y = np.array([cidx.get(v, -1) for v in ref.labels], dtype=np.int64)
    counts = []
    for li, (h, w) in enumerate(maps):
        K = h * w
        ok = y >= 0
        c = np.zeros((K, len(classes)), dtype=np.int64)
        np.add.at(c, (A[ok, li], y[ok]), 1)
        counts.append(c)
    return _Stats(A, classes, counts, maps, tree)


def _superclass_of(tree: LabelTree, label: str) -> str:
    if tree.n_levels < 2 or label not in tree.classes:
        return label
    return tree.ancestor(label, 1)


def _label_table(st: _Stats) -> pd.DataFrame:
    rows = []
    for li, c in enumerate(st.counts):
        level = li + 1
        n_lab = c.sum(axis=1)
        n_all = np.bincount(st.assign[:, li], minlength=c.shape[0])
        for k in range(c.shape[0]):
            if n_lab[k]:
                j = int(np.argmax(c[k]))
                lab = st.classes[j]
                pur = c[k, j] / n_lab[k]
                sup = _superclass_of(st.tree, lab)
                members = [st.classes.index(m) for m in st.tree.members(sup) if m in st.classes] if st.tree.n_levels > 1 else [j]
                sup_pur = c[k, members].sum() / n_lab[k]
            else:
                lab, pur, sup, sup_pur = "", np.nan, "", np.nan
            rows.append({"level": level, "node": k, "n_breaths": int(n_all[k]), "n_labelled": int(n_lab[k]),
                         "label": lab, "purity": float(pur), "superclass": sup,
                         "superclass_purity": float(sup_pur)})
    return pd.DataFrame(rows)


def label_nodes(model, reference, *, labels=None, label_tree=None) -> pd.DataFrame:
    """Class of every node of every level: the majority label of the reference breaths it holds.

    Parameters
    ----------
    model : HTVAE
        A fitted model (``assign`` and ``maps`` are used).
    reference : CycleSet or path
        The training (or any labelled reference) cycles.
    labels : array-like of str, optional
        One label per reference cycle (for example must-link group names) instead of
        ``reference.labels``; ``""`` = unlabelled (ignored for the majority).
    label_tree : LabelTree, optional
        The class hierarchy (default: from the reference's super-classes, else the ventilation tree).

    Returns
    -------
    DataFrame
        One row per (level, node): ``level``, ``node``, ``n_breaths`` (assigned reference breaths),
        ``n_labelled``, ``label`` (majority fine label, ``""`` when the node holds no labelled breath),
        ``purity`` (share of the majority label), ``superclass``, ``superclass_purity``.

    Examples
    --------
    >>> table = label_nodes(model, cycles)  # doctest: +SKIP
    >>> table[table.level == 1].nlargest(3, "n_breaths")  # doctest: +SKIP
    """
    ref = _as_reference(reference, labels)
    return _label_table(_node_stats(model, ref, label_tree))


# ============================================================================ resolution
@dataclass
class _Resolved:
    entry: CompositionEntry
    level: int
    nodes: np.ndarray  # node ids at `level`
    weights: np.ndarray  # sums to 1
    node_labels: np.ndarray  # label of each node (str)
    run_label: str  # label whose run lengths shape the events


def _lookup_name(name: str, st: _Stats):
    """('class' | 'super', canonical name) or None."""
    fine = {c.casefold(): c for c in st.classes}
    supers = {}
    if st.tree.n_levels > 1:
        for c in st.classes:
            if c in st.tree.classes:
                s = st.tree.ancestor(c, 1)
                supers.setdefault(s.casefold(), s)
    key = name.strip().casefold()
    if key in fine:
        return "class", fine[key]
    if key in supers:
        return "super", supers[key]
    # tolerate a plural/singular slip ("respiratory events")
    for alt in (key.rstrip("s"), key + "s"):
        if alt in fine:
            return "class", fine[alt]
        if alt in supers:
            return "super", supers[alt]
    return None


def _available(st: _Stats) -> str:
    sup = []
    if st.tree.n_levels > 1:
        sup = sorted({st.tree.ancestor(c, 1) for c in st.classes if c in st.tree.classes})
    lv = ", ".join(f"{i + 1} ({h}x{w}={h * w} nodes, ids 0..{h * w - 1})" for i, (h, w) in enumerate(st.maps))
    return (f"fine classes: {st.classes}; super-classes: {sup}; explicit nodes "
            f"{{\"level\": L, \"node\": k}} with levels {lv}")


def _resolve(spec: CohortSpec, st: _Stats, table: pd.DataFrame, nodes: str = "majority",
             min_members: int = 3) -> list:
    problems = []
    out = []
    M = len(st.maps)
    for e in spec.composition:
        level = e.level if e.level is not None else spec.level
        if not 1 <= level <= M:
            problems.append(f"{e.key}: level {level} does not exist (levels 1..{M})")
            continue
        K = st.counts[level - 1].shape[0]
        lt = table[table.level == level].sort_values("node")
        labs = lt["label"].to_numpy().astype(str)
        if e.is_node:
            if not 0 <= e.node < K:
                h, w = st.maps[level - 1]
                problems.append(f"{e.key}: no such node; level {level} is a {h}x{w} lattice with nodes 0..{K - 1}")
                continue
            lab = labs[e.node] or _UNLABELLED
            if not labs[e.node]:
                warnings.warn(f"cohort composition: {e.key} holds no labelled reference breath; its breaths "
                              f"are labelled {_UNLABELLED!r} and their lengths drawn from all reference breaths",
                              VentgenWarning, stacklevel=3)
            out.append(_Resolved(e, level, np.array([e.node]), np.array([1.0]), np.array([lab]), lab))
            continue
        found = _lookup_name(e.name, st)
        if found is None:
            close = difflib.get_close_matches(e.name, st.classes + sorted(
                {st.tree.ancestor(c, 1) for c in st.classes if c in st.tree.classes} if st.tree.n_levels > 1 else set()), n=2)
            hint = f" (did you mean {close}?)" if close else ""
            problems.append(f"unknown class {e.name!r}{hint}")
            continue
        kind, name = found
        members = [name] if kind == "class" else [m for m in st.tree.members(name) if m in st.classes]
        midx = [st.classes.index(m) for m in members]
        c = st.counts[level - 1]
        if nodes == "members":
            # every node holding breaths of the class (>= min_members of them), weighted by how many;
            # the generated breaths are the class's own (class-conditional latents, see latent="data")
            nn, ll, ww = [], [], []
            for m, j in zip(members, midx, strict=True):
                keep = np.flatnonzero(c[:, j] >= min_members)
                if keep.size == 0:
                    keep = np.flatnonzero(c[:, j] > 0)
                nn.append(keep)
                ll.append(np.full(keep.size, m, dtype=object))
                ww.append(c[keep, j].astype(float))
            nn, ll, ww = np.concatenate(nn), np.concatenate(ll).astype(str), np.concatenate(ww)
            if ww.sum() == 0:
                problems.append(f"{e.key!r}: no reference breath of it is assigned to any node of level {level}")
                continue
            out.append(_Resolved(e, level, nn, ww / ww.sum(), ll, name if kind == "class" else ""))
            continue
        sel = np.flatnonzero(np.isin(labs, members))
        if sel.size == 0:
            share = c[:, midx].sum(axis=1)
            tot = np.maximum(c.sum(axis=1), 1)
            best = int(np.argmax(share / tot)) if share.any() else -1
            bestmsg = (f"the node with the largest share is level {level} node {best} "
                       f"({int(share[best])} of {int(c[best].sum())} breaths, majority {str(labs[best])!r})"
                       if best >= 0 else "no reference breath of it at all")
            represented = sorted({str(v) for v in labs if v})
            problems.append(
                f"{e.key!r}: no node of level {level} has it as its majority label ({bestmsg}); "
                f"classes level {level} represents: {represented}; try a coarser level, an explicit node, or "
                "nodes='members' with latent='data' (class-conditional sampling inside mixed nodes)"
            )
            continue
        w = c[sel][:, midx].sum(axis=1).astype(float)
        w = w / w.sum()
        pur = float((w * c[sel][:, midx].sum(axis=1) / np.maximum(c[sel].sum(axis=1), 1)).sum())
        if pur < 0.5:
            warnings.warn(f"cohort composition: {e.key!r} is drawn from {sel.size} node(s) of level {level} whose "
                          f"reference breaths are only {100 * pur:.0f}% {e.key!r} (purity); generated breaths are "
                          "labelled with their node's majority class", VentgenWarning, stacklevel=3)
        run_label = name if kind == "class" else ""
        out.append(_Resolved(e, level, sel, w, labs[sel], run_label))
    if problems:
        raise VentgenValueError("cohort composition cannot be resolved: " + "; ".join(problems)
                                + ". Available: " + _available(st))
    return out


def resolve_composition(model, spec, reference=None, *, labels=None, label_tree=None,
                        nodes: str = "majority") -> pd.DataFrame:
    """Which nodes each composition entry draws from, with their weights and labels.

    Returns
    -------
    DataFrame
        One row per (entry, node): ``entry``, ``fraction``, ``level``, ``node``, ``weight`` (share of
        the entry's breaths), ``label``, ``purity``.

    Examples
    --------
    >>> resolve_composition(model, {"patients": 1, "breaths": 10,
    ...     "composition": {"apnea": 1.0}}, cycles)  # doctest: +SKIP
    """
    spec = read_cohort_spec(spec)
    ref = _as_reference(_reference_of(reference, spec), labels)
    st = _node_stats(model, ref, label_tree)
    table = _label_table(st)
    rows = []
    pur = table.set_index(["level", "node"])["purity"]
    for r in _resolve(spec, st, table, nodes=nodes):
        for k, w, lab in zip(r.nodes, r.weights, r.node_labels, strict=True):
            rows.append({"entry": r.entry.key, "fraction": r.entry.fraction, "level": r.level, "node": int(k),
                         "weight": float(w), "label": str(lab), "purity": float(pur.loc[(r.level, int(k))])})
    return pd.DataFrame(rows)


# ============================================================================ integer counts
def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Integers summing to ``total``, proportional to ``shares`` (Hamilton's method)."""
    shares = np.asarray(shares, dtype=float)
    if total <= 0 or shares.sum() <= 0:
        return np.zeros(shares.shape, dtype=np.int64)
    q = shares / shares.sum() * total
    base = np.floor(q + 1e-9).astype(np.int64)
    rem = total - int(base.sum())
    if rem > 0:
        order = np.argsort(-(q - base), kind="stable")
        base[order[:rem]] += 1
    return base


def _count_matrix(fractions: np.ndarray, per_patient: np.ndarray) -> np.ndarray:
    """(patients, entries) integer counts: rows sum to ``per_patient``, columns to the cohort's
    largest-remainder totals (so the cohort composition is as exact as integers allow)."""
    col = _largest_remainder(fractions, int(per_patient.sum()))
    out = np.zeros((per_patient.size, fractions.size), dtype=np.int64)
    remaining = col.copy()
    for p, n_p in enumerate(per_patient):
        left = int(remaining.sum())
        if n_p == left:
            row = remaining.copy()
        else:
            row = _largest_remainder(remaining.astype(float), int(n_p))
            row = np.minimum(row, remaining)
            short = int(n_p - row.sum())
            if short:  # only when capped; give the rest to the entries with most left
                order = np.argsort(-(remaining - row), kind="stable")
                for j in order[:short]:
                    row[j] += 1
        out[p] = row
        remaining -= row
    return out


# ============================================================================ result
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
        :func:`label_nodes` of the model on the reference.
    info : dict
        Seed, sampling rate, length method and the other options; timings (``seconds``,
        ``breaths_per_s``) too, which :func:`write_cohort` keeps out of ``cohort.json`` (they differ
        between two runs with one seed).
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
        """Requested vs achieved share of breaths per composition entry.

        Examples
        --------
        >>> result.composition()  # doctest: +SKIP
        """
        n = max(len(self.manifest), 1)
        got = self.manifest["entry"].value_counts()
        rows = [{"entry": e.key, "requested": e.fraction, "breaths": int(got.get(e.key, 0)),
                 "achieved": got.get(e.key, 0) / n} for e in self.spec.composition]
        df = pd.DataFrame(rows)
        df["difference"] = df["achieved"] - df["requested"]
        return df

    def __repr__(self) -> str:
        return (f"CohortResult({len(self.recordings)} patients, {self.n_breaths} breaths, "
                f"{sum(r.duration_s for r in self.recordings) / 60:.1f} min)")


# ============================================================================ generation
def _run_lengths(ref: _Reference) -> dict:
    """Lengths of runs of consecutive equal labels in the reference (per subject, in row order)."""
    lab = ref.labels
    change = np.ones(lab.size, dtype=bool)
    change[1:] = lab[1:] != lab[:-1]
    if ref.subjects is not None:
        change[1:] |= ref.subjects[1:] != ref.subjects[:-1]
    starts = np.flatnonzero(change)
    lens = np.diff(np.append(starts, lab.size))
    out: dict = {}
    for s, n in zip(starts, lens, strict=True):
        out.setdefault(lab[s], []).append(int(n))
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def _split_runs(count: int, runs: np.ndarray | None, rng) -> np.ndarray:
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    if runs is None or runs.size == 0:
        return np.ones(count, dtype=np.int64)
    draws = rng.choice(runs, size=count)
    cs = np.cumsum(draws)
    k = int(np.searchsorted(cs, count)) + 1
    draws = draws[:k].copy()
    draws[-1] -= int(cs[k - 1] - count)
    return draws


def _cut_padding(X: np.ndarray, lo: np.ndarray, hi: np.ndarray, flow_ch: int) -> np.ndarray:
    """Length read from the decoded flow: last sample that still differs from the flat tail."""
    f = X[:, flow_ch, :]
    amp = f.max(axis=1) - f.min(axis=1)
    dev = np.abs(f - f[:, -1:]) > 0.02 * amp[:, None] + 1e-6
    T = f.shape[1]
    last = T - 1 - np.argmax(dev[:, ::-1], axis=1)
    L = np.where(dev.any(axis=1), last + 2, T)
    return np.clip(L, lo, hi)


def _stitch_batch(Xd: np.ndarray, L: np.ndarray, first: np.ndarray, last: np.ndarray, prev_e, taper: int,
                  step=None, step_before=None):
    """In place: remove the jumps at the joins of a batch of consecutive breaths.

    ``Xd`` (b [+ 1], channels, T) holds the batch's breaths and, when there is one, the next breath
    (only its first sample is read). At the join after breath i both neighbours move, by equal and
    opposite amounts, until breath i+1's first sample exceeds breath i's last by ``step[i]`` (b, C)
    (default 0: they meet at their mean); ``step_before`` (C,) is the step of the join before the
    batch, with ``prev_e`` the raw last sample of the breath there. The correction fades out with a raised cosine over
    ``taper`` samples on each side of the join (at most half the breath), so the waveform has no jump
    and the breath's volumes change by ``offset x taper / 2`` at most. Returns the raw last samples of
    the batch's last breath.
    """
    b = L.size
    s = Xd[:, :, 0].astype(np.float64)  # (b [+1], C)
    e = Xd[np.arange(b), :, L - 1].astype(np.float64)  # (b, C)
    nxt = s[1:b + 1] if s.shape[0] > b else np.vstack([s[1:b], e[-1:]])
    st = np.zeros_like(e) if step is None else np.asarray(step, dtype=np.float64)
    join_after = np.where(last[:, None], e, 0.5 * (e + nxt - st))  # breath i's new last sample
    before = np.empty_like(e)  # breath i's new first sample
    before[1:] = join_after[:-1] + st[:-1]
    sb = 0.0 if step_before is None else np.asarray(step_before, dtype=np.float64)
    before[0] = s[0] if prev_e is None else 0.5 * (prev_e + s[0] + sb)
    d0 = np.where(first[:, None], 0.0, before - s[:b]).astype(np.float32)
    d1 = np.where(last[:, None], 0.0, join_after - e).astype(np.float32)
    n = min(int(taper), Xd.shape[2])
    k = np.arange(n, dtype=np.float32)[None, :]
    W = np.maximum(np.minimum(taper, (L - 1) // 2), 1).astype(np.float32)[:, None]
    w = (0.5 * (1.0 + np.cos(np.pi * np.minimum(k / W, 1.0)))).astype(np.float32)  # (b, n), 0 from W on
    Xd[:b, :, :n] += d0[:, :, None] * w[:, None, :]  # after the join before the breath
    idx = np.maximum(L[:, None] - 1 - np.arange(n)[None, :], 0)  # (b, n): the breath's last n samples
    rows = np.arange(b)[:, None]
    for c in range(Xd.shape[1]):  # windows never overlap (W <= (L - 1) // 2); clipped duplicates have w = 0
        Xd[rows, c, idx] += d1[:, c, None] * w
    return e[-1]


def generate_cohort(
    model,
    spec,
    reference=None,
    random_state=0,
    *,
    labels=None,
    label_tree=None,
    length_method: str = "node",
    sampling_rate: float | None = None,
    batch_size: int = 8192,
    decoder: str = "exact",
    latent: str = "node",
    nodes: str = "auto",
    noise: str = "residual",
    noise_highpass_hz: float = 4.0,
    boundary: str = "residual",
    subject_prefix: str = "virtual_",
    progress_bar: bool | None = None,
) -> CohortResult:
    """Generate virtual patients with a chosen class balance from a trained HTVAE.

    Parameters
    ----------
    model : HTVAE
        A fitted model (``maps``, ``codebook``, ``node_sigma``, ``decode``, ``assign`` are used).
    spec : dict, CohortSpec or path
        The cohort specification, see :func:`read_cohort_spec`.
    reference : CycleSet or path, optional
        The training cycles: node labels, real breath lengths and event run lengths come from them.
        Default: the spec's ``"reference"`` path.
    random_state : int, Generator or None
        Seed; the same seed gives the same bytes.
    labels : array-like of str, optional
        Labels of the reference cycles to use instead of ``reference.labels`` (e.g. must-link groups).
    label_tree : LabelTree, optional
        Class hierarchy for super-class names (default: from the reference, else the ventilation tree).
    length_method : {"node", "padding", "nearest"}
        How a decoded cycle is cut, see the module notes. ``"nearest"`` (with ``latent="data"``): the
        length of the reference breath whose encoding is nearest to the drawn latent (distances scaled
        by the component's spread), so that a breath's length follows its shape.
    sampling_rate : float, optional
        Output rate in Hz (default: the spec's, else the reference cycles' rate); other rates are
        reached by linear interpolation.
    batch_size : int
        Latents decoded per ``model.decode`` call.
    nodes : {"auto", "majority", "members"}
        Which nodes a named class draws from. ``"majority"``: the nodes whose majority label it is
        (the class of a node is its majority). ``"members"``: every node holding at least 3 reference
        breaths of the class, weighted by how many; meaningful with ``latent="data"``, whose Gaussians
        are class-conditional, so a class stays itself inside a mixed node. ``"auto"`` (default):
        ``"majority"`` with ``latent="node"``, ``"members"`` with ``latent="data"``.
    latent : {"node", "data"}
        ``"node"`` (default, the paper): ``z ~ N(code, sigma**2)`` of the node. ``"data"``: ``z`` from a
        Gaussian with the mean and per-dimension spread of the encoded (``model.transform``) reference
        breaths of the requested class in that node: the breaths keep the spread the real breaths of
        that class have in that node, and a class stays itself even in a mixed node. Needs
        ``model.transform``.
    decoder : {"exact", "linear"}
        ``"exact"`` decodes every latent with ``model.decode``. ``"linear"`` decodes each used node's
        code once plus ``2 d`` secant points at +-sigma along each latent axis, and generates every
        breath as ``decode(code) + J (z - code)`` (a statistical linearisation of the decoder over the
        node's Gaussian): an order of magnitude faster on CPU, at an approximation error that
        ``benchmarks/bench_generate.py`` measures.
    noise : {"residual", "none"}
        ``"residual"`` (default) adds observation noise to every decoded breath: the decoder gives the
        mean of ``p(x | z)``, and :class:`ventgen.observation.ObservationNoise` (fitted per class to the
        model's residuals on the reference breaths: an RMS envelope along the cycle and a spectrum)
        supplies the sensor noise, cardiogenic oscillation and vibration that no code reconstructs.
        ``"none"`` returns the decoder's means (smooth breaths).
    noise_highpass_hz : float
        Fit the noise to the residual above this frequency only (see
        :meth:`ventgen.observation.ObservationNoise.fit`). The default, 4 Hz, is above the breathing
        frequencies, where most of the decoder's own shape error sits: the whole residual (0) would add
        that error as noise too. On the simulated cohort ``ventgen segment`` then split apnea breaths:
        re-segmentation F1 0.89-0.91 with the whole residual, 0.97-0.99 above 2 Hz, 0.98-1.00 above 4 Hz.
    boundary : {"residual", "none"}
        ``"residual"`` (default) adds the decoder's mean error over the first and last 0.4 s of each
        breath (:class:`ventgen.observation.BoundaryBias`, fitted per class on the reference breaths)
        and joins breaths with the real mean step; ``"none"`` keeps the decoded ends and makes
        consecutive breaths meet.
    subject_prefix : str
        Patients are named ``<prefix>000``, ``<prefix>001``, ...
    progress_bar : bool, optional
        Show a progress bar (default: the global setting).

    Returns
    -------
    CohortResult

    Examples
    --------
    >>> import ventgen
    >>> recs = ventgen.simulate_cohort(n_subjects=2, minutes=10, random_state=0)  # doctest: +SKIP
    >>> cycles = ventgen.CycleSet.concatenate(
    ...     [ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs])  # doctest: +SKIP
    >>> model = ventgen.HTVAE(epochs=2).fit(cycles)  # doctest: +SKIP
    >>> result = ventgen.generate_cohort(model, {"patients": 2, "minutes": 5,
    ...     "composition": {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}}, cycles)  # doctest: +SKIP
    >>> result.composition()  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    spec = read_cohort_spec(spec)
    if latent not in LATENT_SOURCES:
        raise VentgenValueError(f"latent must be one of {LATENT_SOURCES}, got {latent!r}")
    if nodes not in ("auto", "majority", "members"):
        raise VentgenValueError(f"nodes must be 'auto', 'majority' or 'members', got {nodes!r}")
    if nodes == "auto":
        nodes = "members" if latent == "data" else "majority"
    if decoder not in ("exact", "linear"):
        raise VentgenValueError(f"decoder must be 'exact' or 'linear', got {decoder!r}")
    if noise not in NOISE_MODELS:
        raise VentgenValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    if boundary not in BOUNDARY_MODELS:
        raise VentgenValueError(f"boundary must be one of {BOUNDARY_MODELS}, got {boundary!r}")
    if not (isinstance(noise_highpass_hz, (int, float, np.integer, np.floating)) and 0 <= noise_highpass_hz < np.inf):
        raise VentgenValueError(f"noise_highpass_hz must be a finite number >= 0, got {noise_highpass_hz!r}")
    if length_method not in LENGTH_METHODS:
        raise VentgenValueError(f"length_method must be one of {LENGTH_METHODS}, got {length_method!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise VentgenValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (isinstance(subject_prefix, str) and len(subject_prefix) <= 100
            and _RECORDING_FILE.match(f"{subject_prefix}0.h5")):
        raise VentgenValueError(f"subject_prefix must be up to 100 characters of a plain file name (no '/', no "
                                f"leading '.'), got {subject_prefix!r}")
    if sampling_rate is not None:
        sampling_rate = check_sampling_rate(sampling_rate, "sampling_rate")
    rng = check_random_state(random_state)
    ref = _as_reference(_reference_of(reference, spec), labels)
    enc = _Encoded(model, ref.X)
    st = _node_stats(model, ref, label_tree, enc)
    table = _label_table(st)
    resolved = _resolve(spec, st, table, nodes=nodes)
    if "residual" in (noise, boundary) and not callable(getattr(model, "reconstruct", None)):
        raise VentgenTypeError("generate_cohort: noise='residual' and boundary='residual' need model.reconstruct "
                               "(a fitted ventgen.HTVAE); pass noise='none', boundary='none' for a model without it")
    M = len(st.maps)
    cyc_rate = ref.sampling_rate
    out_rate = float(sampling_rate or spec.sampling_rate or cyc_rate)
    if not np.isfinite(out_rate) or out_rate <= 0:
        raise VentgenValueError(f"sampling_rate must be positive, got {out_rate!r}")
    C = ref.X.shape[1]
    flow_ch = ref.channels.index("flow_lpm") if "flow_lpm" in ref.channels else 0
    pres_ch = ref.channels.index("paw_cmh2o") if "paw_cmh2o" in ref.channels else min(1, C - 1)

    # ---- global node ids across levels, codebooks, sigmas, real lengths per node
    sizes = [h * w for h, w in st.maps]
    offs = np.concatenate(([0], np.cumsum(sizes)))
    codes = np.concatenate([np.asarray(model.codebook(lv), dtype=np.float64) for lv in range(1, M + 1)])
    sigmas = np.concatenate([np.asarray(model.node_sigma(lv), dtype=np.float64) for lv in range(1, M + 1)])
    if codes.shape[0] != offs[-1] or sigmas.shape != codes.shape:
        raise VentgenValueError(
            f"model codebooks/sigmas have shapes {codes.shape}/{sigmas.shape}, expected ({offs[-1]}, d) for maps {st.maps}"
        )
    gid_ref = st.assign + offs[:-1][None, :]  # (n, M) global node id per level
    node_lengths: dict = {}

    member_cache: dict = {}

    def members_of(g: int, label: str = "") -> np.ndarray:
        """Indices of the reference breaths in global node ``g`` (of class ``label``; "" = any)."""
        key = (int(g), str(label))
        if key not in member_cache:
            li = int(np.searchsorted(offs, g, side="right") - 1)
            sel = gid_ref[:, li] == g
            if label:
                sel &= ref.labels == label
            member_cache[key] = np.flatnonzero(sel)
        return member_cache[key]

    def lengths_of(g: int) -> np.ndarray:
        if g not in node_lengths:
            sel = ref.lengths[members_of(g)]
            node_lengths[g] = sel if sel.size else ref.lengths
        return node_lengths[g]

    runs_by_label = _run_lengths(ref)

    # ---- breaths per patient
    fr = np.array([r.entry.fraction for r in resolved])
    if spec.breaths is not None:
        per_patient = np.full(spec.patients, spec.breaths, dtype=np.int64)
    else:
        # expected breath length of each entry, from the same pools the lengths are drawn from below:
        # the entry's class inside each node (the node's own breaths for explicit nodes)
        exp_len = 0.0
        for r in resolved:
            g = r.nodes + offs[r.level - 1]
            means = []
            for k, lab_k in zip(g, r.node_labels, strict=True):
                mem = members_of(int(k), lab_k) if not r.entry.is_node else np.empty(0, dtype=np.int64)
                means.append(ref.lengths[mem].mean() if mem.size else lengths_of(int(k)).mean())
            exp_len += r.entry.fraction * float(np.dot(r.weights, means))
        n = max(1, int(round(spec.minutes * 60.0 * cyc_rate / max(exp_len, 1e-9))))
        if n * spec.patients > MAX_COHORT_BREATHS:
            raise VentgenValueError(
                f"cohort spec: {spec.patients} patients x {spec.minutes:g} minutes are {n * spec.patients} breaths "
                f"of this reference (mean breath {exp_len / cyc_rate:.2f} s); a cohort holds at most "
                f"{MAX_COHORT_BREATHS} breaths")
        per_patient = np.full(spec.patients, n, dtype=np.int64)
    counts = _count_matrix(fr, per_patient)

    # ---- events: runs of one entry and one node, shuffled per patient
    a = spec.patient_variability
    d = codes.shape[1]
    u = rng.standard_normal((spec.patients, d))
    p_col, e_col, g_col, run_col, lab_col = [], [], [], [], []
    for p in range(spec.patients):
        runs_p, entry_p, node_p = [], [], []
        for j, r in enumerate(resolved):
            c = int(counts[p, j])
            if c == 0:
                continue
            w = r.weights
            if spec.node_concentration is not None and w.size > 1:
                w = rng.dirichlet(spec.node_concentration * w * w.size)
                if not (np.isfinite(w).all() and w.sum() > 0):  # an extreme concentration: no preference
                    w = r.weights
            if r.run_label:
                rl = _split_runs(c, runs_by_label.get(r.run_label), rng)
                k = rng.choice(r.nodes.size, size=rl.size, p=w)
            else:  # super-class: each member class keeps its own event lengths
                rl, k = _regroup(rng.choice(r.nodes.size, size=c, p=w), r, runs_by_label, rng)
            runs_p.append(rl)
            entry_p.append(np.full(rl.size, j))
            node_p.append(k)
        rl = np.concatenate(runs_p)
        ej = np.concatenate(entry_p)
        kk = np.concatenate(node_p)
        order = rng.permutation(rl.size)
        rl, ej, kk = rl[order], ej[order], kk[order]
        order = _spread([resolved[j].node_labels[k] for j, k in zip(ej, kk, strict=True)])
        rl, ej, kk = rl[order], ej[order], kk[order]
        p_col.append(np.full(int(rl.sum()), p))
        e_col.append(np.repeat(ej, rl))
        g_col.append(np.repeat(np.array([resolved[j].nodes[k] + offs[resolved[j].level - 1]
                                         for j, k in zip(ej, kk, strict=True)], dtype=np.int64), rl))
        lab_col.append(np.repeat(np.array([resolved[j].node_labels[k] for j, k in zip(ej, kk, strict=True)],
                                          dtype=object), rl))
        run_col.append(np.repeat(np.arange(rl.size), rl))
    pat = np.concatenate(p_col)
    ent = np.concatenate(e_col)
    gid = np.concatenate(g_col)
    lab = np.concatenate(lab_col).astype(str)
    run = np.concatenate(run_col)
    N = pat.size

    # ---- components: (node, class) pairs; the reference breaths of that class in that node give the
    # real lengths (and, with latent="data", the latent moments) of the breaths drawn from it
    is_node_entry = np.array([r.entry.is_node for r in resolved])[ent]
    key_lab = np.where(is_node_entry, "", lab)
    lab_names, lab_code = np.unique(key_lab, return_inverse=True)
    pair = gid * len(lab_names) + lab_code.ravel()
    upair, comp = np.unique(pair, return_inverse=True)
    comp = comp.ravel()
    n_comp = len(upair)
    comp_g = (upair // len(lab_names)).astype(np.int64)
    comp_keys = np.stack([comp_g.astype(str), lab_names[upair % len(lab_names)]], axis=1)
    members = [members_of(int(comp_g[c]), comp_keys[c, 1]) for c in range(n_comp)]
    centers, scales = codes[comp_g].copy(), sigmas[comp_g].copy()
    n_data = 0
    if latent == "data":
        mu_ref = enc.mu
        for c, mem in enumerate(members):
            if mem.size >= 3:
                centers[c] = mu_ref[mem].mean(axis=0)
                scales[c] = mu_ref[mem].std(axis=0, ddof=1) + 1e-6
                n_data += 1

    # ---- lengths drawn per component, in a fixed order
    lens = np.zeros(N, dtype=np.int64)
    if length_method == "node":
        for c in range(n_comp):
            sel = np.flatnonzero(comp == c)
            pool = ref.lengths[members[c]] if members[c].size else lengths_of(int(comp_g[c]))
            lens[sel] = rng.choice(pool, size=sel.size)
    lo = np.array([lengths_of(int(g)).min() for g in range(offs[-1])]) if length_method == "padding" else None
    hi = np.array([lengths_of(int(g)).max() for g in range(offs[-1])]) if length_method == "padding" else None

    # ---- latents
    eps = rng.standard_normal((N, d))
    Z = (centers[comp] + scales[comp] * (a * u[pat] + np.sqrt(1.0 - a * a) * eps)).astype(np.float32)
    if length_method == "nearest":
        if latent != "data":
            raise VentgenValueError("length_method='nearest' needs latent='data' (the encodings of the reference breaths)")
        for c in range(n_comp):
            sel = np.flatnonzero(comp == c)
            mem = members[c]
            if mem.size == 0:
                lens[sel] = rng.choice(lengths_of(int(comp_g[c])), size=sel.size)
                continue
            ref_z = (mu_ref[mem] / scales[c]).astype(np.float32)
            for i0 in range(0, sel.size, 8192):
                part = sel[i0 : i0 + 8192]
                d2 = ((Z[part][:, None, :] / scales[c].astype(np.float32) - ref_z[None]) ** 2).sum(-1)
                lens[part] = ref.lengths[mem[d2.argmin(axis=1)]]

    # ---- decode in batches, stitch, cut
    decode = model.decode if decoder == "exact" else _linear_decoder(model, centers, scales, np.arange(n_comp))
    first = np.ones(N, dtype=bool)
    first[1:] = pat[1:] != pat[:-1]
    last = np.ones(N, dtype=bool)
    last[:-1] = pat[1:] != pat[:-1]
    taper = max(1, int(round(0.3 * cyc_rate)))  # samples over which a join correction fades (0.3 s)
    obs = bias = None
    steps = np.zeros((N, 2))  # row i: the step across the join after breath i
    if "residual" in (noise, boundary):
        Xr = ref.X[:, [flow_ch, pres_ch]]
        Rr = enc.recon[:, [flow_ch, pres_ch]]
    if noise == "residual":
        obs = ObservationNoise.fit(Xr, Rr, ref.lengths, ref.labels, highpass_hz=float(noise_highpass_hz),
                                   sampling_rate=cyc_rate)
        noise_rng = np.random.default_rng(int(rng.integers(2**63 - 1)))
    if boundary == "residual":
        bias = BoundaryBias.fit(Xr, Rr, ref.lengths, ref.labels, width=max(1, int(round(0.4 * cyc_rate))),
                                follows=ref.follows)
        steps[:-1] = bias.step(lab[1:])
    pieces_f, pieces_p = [], []
    prev_e = None  # last sample (flow, pressure) of the breath before the batch
    carried = None  # noise of the batch's first breath, drawn with the previous batch (its extra breath)
    for b0 in progress(range(0, N, batch_size), enabled=progress_bar, desc="decoding breaths"):
        b1 = min(N, b0 + batch_size)
        ext = min(N, b1 + 1)  # one breath more: its first sample closes this batch's last join
        Xd = np.asarray(decode(Z[b0:ext]) if decoder == "exact" else decode(Z[b0:ext], comp[b0:ext]),
                        dtype=np.float32)
        if Xd.ndim != 3 or Xd.shape[0] != ext - b0 or Xd.shape[2] < 2 or Xd.shape[1] < C:
            raise VentgenValueError(f"model.decode returned shape {Xd.shape}, expected ({ext - b0}, {C}, time)")
        Xd = Xd[:, [flow_ch, pres_ch], :]
        if length_method == "padding":  # the extra breath keeps the length its own batch will give it
            k0 = 0 if b0 == 0 else 1
            lens[b0 + k0:ext] = _cut_padding(Xd[k0:], lo[gid[b0 + k0:ext]], hi[gid[b0 + k0:ext]], 0)
        L = np.clip(lens[b0:ext], 2, Xd.shape[2])
        lens[b0:ext] = L
        if bias is not None:
            bias.apply(Xd, lab[b0:ext], L)
        if obs is not None:
            eps = obs.sample(lab[b0 + (carried is not None):ext], Xd.shape[2], noise_rng)
            if carried is not None:
                eps = np.concatenate([carried[None], eps])
            Xd += eps
            carried = eps[-1] if ext > b1 else None
        L = L[: b1 - b0]
        prev_e = _stitch_batch(Xd, L, first[b0:b1], last[b0:b1], prev_e, taper, steps[b0:b1],
                               steps[b0 - 1] if b0 > 0 else None)
        mask = np.arange(Xd.shape[2])[None, :] < L[:, None]
        pieces_f.append(Xd[: b1 - b0, 0, :][mask])
        pieces_p.append(Xd[: b1 - b0, 1, :][mask])
    flow = np.concatenate(pieces_f)
    pres = np.concatenate(pieces_p)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))

    # ---- recordings and manifest
    from . import __version__
    from .signals.recording import Recording

    ulab, inv = np.unique(lab, return_inverse=True)
    sup = np.array([_superclass_of(st.tree, v) if v != _UNLABELLED else _UNLABELLED for v in ulab])[inv.ravel()]
    level = np.searchsorted(offs, gid, side="right")  # 1-based level
    node = gid - offs[level - 1]
    recs = []
    start_s = np.zeros(N)
    end_s = np.zeros(N)
    bidx = np.zeros(N, dtype=np.int64)
    names = [f"{subject_prefix}{p:03d}" for p in range(spec.patients)]
    pstart = np.flatnonzero(first)
    pend = np.append(pstart[1:], N)
    for p, (i0, i1) in enumerate(zip(pstart, pend, strict=True)):
        s0 = starts[i0]
        s1 = starts[i1 - 1] + lens[i1 - 1]
        f_p, p_p = flow[s0:s1], pres[s0:s1]
        loc = (starts[i0:i1] - s0) / cyc_rate
        start_s[i0:i1] = loc
        end_s[i0:i1] = loc + lens[i0:i1] / cyc_rate
        bidx[i0:i1] = np.arange(i1 - i0)
        if out_rate != cyc_rate:
            n_out = max(2, int(np.floor((s1 - s0) * out_rate / cyc_rate)))
            t_out = np.arange(n_out) / out_rate
            t_in = np.arange(s1 - s0) / cyc_rate
            f_p, p_p = np.interp(t_out, t_in, f_p), np.interp(t_out, t_in, p_p)
        dur = f_p.size / out_rate
        # annotations: one row per event (merged when two runs of the same label touch)
        lab_p = lab[i0:i1]
        ch = np.ones(i1 - i0, dtype=bool)
        ch[1:] = lab_p[1:] != lab_p[:-1]
        a_idx = np.flatnonzero(ch)
        a_end = np.append(a_idx[1:], i1 - i0) - 1
        ann = pd.DataFrame({"start_s": start_s[i0:i1][a_idx],
                            "end_s": np.minimum(end_s[i0:i1][a_end], dur),
                            "label": lab_p[a_idx], "superclass": sup[i0:i1][a_idx]})
        ann = ann[ann["end_s"] > ann["start_s"]].reset_index(drop=True)
        meta = {"generator": "ventgen.generate_cohort", "ventgen_version": __version__,
                "cohort": spec.name, "patient": p, "n_breaths": int(i1 - i0),
                "seed": random_state if isinstance(random_state, (int, np.integer)) else None}
        recs.append(Recording(flow=f_p, pressure=p_p, sampling_rate=out_rate, subject=names[p],
                              metadata=meta, annotations=ann))
    manifest = pd.DataFrame({
        "patient": np.array(names, dtype=object)[pat],
        "breath_index": bidx,
        "start_s": start_s,
        "end_s": end_s,
        "label": lab,
        "superclass": sup,
        "level": level.astype(np.int64),
        "node": node.astype(np.int64),
        "entry": np.array([r.entry.key for r in resolved], dtype=object)[ent],
        "event": run.astype(np.int64),
    })
    secs = time.perf_counter() - t0
    info = {"seed": random_state if isinstance(random_state, (int, np.integer)) else None,
            "sampling_rate": out_rate, "cycle_rate": cyc_rate, "length_method": length_method,
            "latent": latent, "decoder": decoder, "nodes": nodes, "noise": noise,
            "noise_highpass_hz": float(noise_highpass_hz), "boundary": boundary, "n_components": int(n_comp), "n_data_components": int(n_data),
            "n_breaths": int(N), "seconds": secs, "breaths_per_s": N / max(secs, 1e-9),
            "duration_s": [float(r.duration_s) for r in recs]}
    return CohortResult(recs, manifest, spec, table, info)


def _spread(keys) -> np.ndarray:
    """A permutation of ``keys`` (already shuffled) that avoids two equal neighbours where possible,
    so that two events of one class do not merge into one longer event.

    Walks the shuffled order and takes the first remaining item whose key differs from the previous
    one and leaves a remainder that can still be separated; when no order can separate everything,
    the surplus of the most frequent key ends up together (nothing is dropped).
    """
    from collections import Counter

    n = len(keys)
    left = Counter(keys)
    if len(left) < 2 or n > 20000:
        return np.arange(n, dtype=np.int64)

    def ok(k, r):  # after taking key k, can the r remaining items follow with no equal neighbours?
        c_k = left[k] - 1
        c_o = max((v for kk, v in left.items() if kk != k), default=0)
        return c_k <= r // 2 and c_o <= (r + 1) // 2

    from collections import deque

    queues: dict = {}
    for i, k in enumerate(keys):
        queues.setdefault(k, deque()).append(i)
    out = []
    prev = None
    for r in range(n - 1, -1, -1):  # r = items left after this pick
        heads = [(q[0], k) for k, q in queues.items() if q and k != prev]
        good = [h for h in heads if ok(h[1], r)]
        pick = min(good or heads or [(q[0], k) for k, q in queues.items() if q])
        k = pick[1]
        out.append(queues[k].popleft())
        left[k] -= 1
        prev = k
    return np.asarray(out, dtype=np.int64)


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits  # ships with scikit-learn
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _linear_decoder(model, codes: np.ndarray, sigmas: np.ndarray, used: np.ndarray):
    """``f(Z, g)``: decode(code_g) + J_g (z - code_g), J_g from secants at +-sigma (one model call)."""
    d = codes.shape[1]
    eye = np.eye(d)
    pts = []
    for g in used:
        c, h = codes[g], np.maximum(sigmas[g], 1e-6)
        pts.append(np.concatenate([c[None], c + h[:, None] * eye, c - h[:, None] * eye]))
    out = np.asarray(model.decode(np.concatenate(pts).astype(np.float32)), dtype=np.float64)
    C, T = out.shape[1:]
    out = out.reshape(len(used), 2 * d + 1, C * T)
    base = {int(g): out[i, 0].astype(np.float32) for i, g in enumerate(used)}
    jac = {int(g): ((out[i, 1:d + 1] - out[i, d + 1:]) / (2 * np.maximum(sigmas[g], 1e-6))[:, None]).astype(np.float32)
           for i, g in enumerate(used)}
    codes32 = codes.astype(np.float32)

    def f(Z, g):
        order = np.argsort(g, kind="stable")
        gs, Zs = g[order], Z[order]
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(gs)) + 1, [len(gs)]))
        Y = np.empty((len(Z), C * T), dtype=np.float32)
        with _one_blas_thread():  # many small GEMMs: thread start-up would cost 10x the work
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                k = int(gs[a])
                np.matmul(Zs[a:b] - codes32[k], jac[k], out=Y[a:b])
                Y[a:b] += base[k]
        X = np.empty_like(Y)
        X[order] = Y
        return X.reshape(len(Z), C, T)

    return f


def _regroup(k, r: _Resolved, runs_by_label: dict, rng):
    """For a super-class entry: turn the node chosen for each breath into runs per node, with the run
    lengths of that node's label, so events of the member classes stay contiguous too."""
    out_rl, out_k = [], []
    for kk in np.unique(k):
        runs = _split_runs(int((k == kk).sum()), runs_by_label.get(str(r.node_labels[kk])), rng)
        out_rl.append(runs)
        out_k.append(np.full(runs.size, kk))
    return np.concatenate(out_rl), np.concatenate(out_k)


# ============================================================================ writing and reading
_EXT = {"hdf5": ".h5", "csv": ".csv"}
#: What write_cohort puts in a cohort folder besides the recordings its cohort.json lists: the only
#: files ``overwrite`` may replace.
_COHORT_FILES = ("cohort.json", "manifest.csv", "node_labels.csv")
#: ``CohortResult.info`` keys kept out of cohort.json: timings differ between two runs with one seed,
#: and cohort.json (like the manifest) is covered by the same-seed-same-bytes promise.
_NOT_IN_COHORT_JSON = ("seconds", "breaths_per_s", "duration_s")
#: A file of a cohort folder: a plain, non-hidden name in the folder itself; a recording's ends in
#: .h5 or .csv.
_PLAIN_NAME = re.compile(r"^[^./\\\x00][^/\\\x00]*$")
_RECORDING_FILE = re.compile(r"^[^./\\\x00][^/\\\x00]*\.(?:h5|csv)$")


def _cohort_files_of(folder: Path) -> set:
    """Names of the recordings that ventgen wrote in ``folder``, from its cohort.json; refuses a folder
    that is not a ventgen cohort folder (its files are not ventgen's to replace)."""
    doc_path = folder / "cohort.json"
    why = None
    try:
        doc = read_json_document(doc_path, "cohort.json")
    except FileNotFoundError:
        why = "it has no cohort.json"
    except (VentgenValueError, OSError):
        why = "its cohort.json cannot be read"
    else:
        doc = doc if isinstance(doc, dict) else {}
        files, written = doc.get("files"), doc.get("written", [])
        if not (isinstance(files, list) and all(isinstance(f, str) and _RECORDING_FILE.match(f) for f in files)
                and isinstance(written, list) and all(isinstance(f, str) and _PLAIN_NAME.match(f) for f in written)):
            why = "its cohort.json does not list the files ventgen wrote"
    if why:
        raise VentgenValueError(f"{folder}: not replaced: {why}, so it is not a cohort folder written by ventgen; "
                                "--overwrite only replaces such a folder; choose an empty or new output folder")
    return set(files) | set(written)


def _inside(path, folder: Path) -> bool:
    p = Path(path).resolve()
    return p == folder or folder in p.parents


def _check_output_folder(out: Path, *, overwrite: bool, inputs=()) -> bool:
    """Refuse an output folder that a cohort may not be written to; True when it exists (and may be
    replaced). Runs before any work starts, and again right before the replacement.

    An existing non-empty folder is replaced only with ``overwrite``, only when it is a cohort folder
    that ventgen wrote (a readable cohort.json) holding nothing but what ventgen wrote there, and never
    when it holds one of the ``inputs`` (model, spec, reference cycles).
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(17, "exists and is not a folder", str(out))
    real = out.resolve()
    held = [str(p) for p in inputs if p is not None and _inside(p, real)]
    if held:
        raise VentgenValueError(f"{out}: the output folder holds the input {held[0]}; write the cohort to another "
                                "folder (a cohort folder holds only what ventgen writes there)")
    if not out.is_dir():
        return False
    entries = sorted(out.iterdir())
    if not entries:
        return True
    if not overwrite:
        raise FileExistsError(17, "folder exists and is not empty; pass overwrite=True (or --overwrite) to replace "
                                  "the cohort ventgen wrote there", str(out))
    ours = set(_COHORT_FILES) | _cohort_files_of(out)
    foreign = [p.name for p in entries if p.name not in ours or p.is_symlink() or not p.is_file()]
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise VentgenValueError(f"{out}: not replaced: it holds {shown}, which ventgen did not write there; "
                                "--overwrite only replaces a cohort's own files; move them or choose another folder")
    return True


def _recording_names(result: CohortResult, format: str) -> list:
    names = [f"{rec.subject}{_EXT[format]}" for rec in result.recordings]
    bad = [n for n in names if not _RECORDING_FILE.match(n) or n in _COHORT_FILES]
    if bad:
        raise VentgenValueError(f"write_cohort: patient names {bad[:3]} do not give plain file names; expected "
                                "names without '/', a leading '.' or the names of the cohort's own files")
    if len(set(names)) != len(names):
        raise VentgenValueError("write_cohort: two patients share one name; expected distinct subjects")
    return names


def write_cohort(result: CohortResult, out_dir, *, format: str = "hdf5", overwrite: bool = False) -> Path:
    """Write the recordings, ``manifest.csv``, ``node_labels.csv`` and ``cohort.json`` into ``out_dir``.

    The cohort is written into a temporary folder beside ``out_dir`` that takes its place at the end
    (atomically): an interrupted run leaves no half cohort, and while a cohort is replaced there is
    no moment without one. ``cohort.json`` and ``manifest.csv`` depend on the seed alone (timings
    stay in ``result.info``).

    Parameters
    ----------
    result : CohortResult
    out_dir : str or path-like
        A new or empty folder; with ``overwrite``, also a cohort folder written by ventgen.
    format : {"hdf5", "csv"}
        Format of the recordings (one file per patient, through :func:`ventgen.write_recording`).
    overwrite : bool
        Replace a cohort folder ventgen wrote. A folder holding anything else (other files, folders,
        the spec's reference cycles), or without a readable ``cohort.json``, is refused.

    Returns
    -------
    Path
        ``out_dir``.

    Examples
    --------
    >>> write_cohort(result, "cohort_out", format="csv")  # doctest: +SKIP
    """
    return _write_cohort(result, out_dir, format=format, overwrite=overwrite, inputs=())


def _write_cohort(result, out_dir, *, format: str, overwrite: bool, inputs) -> Path:
    from . import write_recording  # io room

    if not isinstance(result, CohortResult):
        raise VentgenTypeError(f"write_cohort: expected a CohortResult, got {type(result).__name__}")
    if format not in _EXT:
        raise VentgenValueError(f"write_cohort: format must be one of {sorted(_EXT)}, got {format!r}")
    out = Path(os.path.abspath(out_dir))
    names = _recording_names(result, format)
    exists = _check_output_folder(out, overwrite=overwrite, inputs=(*inputs, result.spec.reference))
    with atomic_dir(out, replace=exists) as tmp:
        for rec, name in zip(result.recordings, names, strict=True):
            write_recording(rec, tmp / name, format=format)
        man = result.manifest.copy()
        man.insert(1, "file", man["patient"].map(dict(zip([r.subject for r in result.recordings], names,
                                                          strict=True))))
        man.to_csv(tmp / "manifest.csv", index=False, float_format="%.6g")
        result.node_labels.to_csv(tmp / "node_labels.csv", index=False)
        doc = {"spec": result.spec.to_dict(), "format": format, "files": names,
               "written": sorted(p.name for p in tmp.iterdir() if p.name not in names) + ["cohort.json"],
               "info": {k: v for k, v in result.info.items() if k not in _NOT_IN_COHORT_JSON},
               "composition": result.composition().to_dict(orient="records")}
        (tmp / "cohort.json").write_text(json.dumps(doc, indent=2, default=json_default_lenient), encoding="utf-8")
    return Path(out_dir)


_MANIFEST_COLUMNS = ["patient", "file", "breath_index", "start_s", "end_s", "label", "level", "node", "entry"]
_MANIFEST_NUMERIC = ["breath_index", "start_s", "end_s", "level", "node"]


def _read_table(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise FileFormatError(path, f"not a readable {what} CSV table ({detail})") from None


def _read_manifest(path: Path) -> pd.DataFrame:
    man = _read_table(path, "manifest")
    miss = [c for c in _MANIFEST_COLUMNS if c not in man.columns]
    if miss:
        raise FileFormatError(path, f"missing column(s) {miss}; expected {_MANIFEST_COLUMNS}")
    for col in _MANIFEST_NUMERIC:
        if not pd.api.types.is_numeric_dtype(man[col]):
            raise FileFormatError(path, "expected numbers in every row", field=col)
    man["file"] = man["file"].astype(str)
    bad = sorted({f for f in man["file"] if not _RECORDING_FILE.match(f)})
    if bad:
        raise FileFormatError(path, f"{bad[:3]} are not recording files of the cohort folder; expected plain "
                              ".h5 or .csv file names", field="file")
    return man


def _read_cohort_json(path: Path) -> dict:
    doc = read_json_document(path, "cohort.json")
    if not isinstance(doc, dict):
        raise FileFormatError(path, f"expected a JSON object at the top level, got {type(doc).__name__}")
    for key, kind, name in (("spec", dict, "an object"), ("info", dict, "an object"), ("files", list, "an array"),
                            ("format", str, "a string")):
        if key in doc and not isinstance(doc[key], kind):
            raise FileFormatError(path, f"expected {name}, got {type(doc[key]).__name__}", field=key)
    return doc


def read_cohort(path) -> CohortResult:
    """Read a folder written by :func:`write_cohort` back into a :class:`CohortResult`.

    Raises
    ------
    FileFormatError
        When ``manifest.csv``, ``cohort.json`` or ``node_labels.csv`` cannot be read (one line naming
        the file and the field).

    Examples
    --------
    >>> result = read_cohort("cohort_out")  # doctest: +SKIP
    """
    from . import read_recording  # io room

    d = Path(path)
    man_path = d / "manifest.csv"
    if not d.is_dir():
        raise FileNotFoundError(2, "no such cohort folder", str(d))
    if not man_path.is_file():
        raise FileFormatError(d, "not a ventgen cohort folder: manifest.csv is missing")
    man = _read_manifest(man_path)
    json_path = d / "cohort.json"
    meta = _read_cohort_json(json_path) if json_path.is_file() else {}
    files = list(dict.fromkeys(man["file"]))
    recs = [read_recording(d / f) for f in files]
    if "spec" in meta:
        spec = _spec_from_doc(meta["spec"], path=json_path, prefix="spec")
    else:
        ents = man["entry"].value_counts(normalize=True)
        spec = CohortSpec(patients=len(files), breaths=int(man.groupby("patient").size().max()),
                          composition=tuple(CompositionEntry(float(v), name=str(k)) for k, v in ents.items()))
    nl_path = d / "node_labels.csv"
    nl = _read_table(nl_path, "node labels") if nl_path.is_file() else pd.DataFrame()
    return CohortResult(recs, man.drop(columns=["file"]), spec, nl, meta.get("info", {}))


def generate_cohort_files(model, spec, reference, out_dir, *, random_state=0, format: str = "hdf5",
                          overwrite: bool = False, length_method: str = "node", latent: str = "node",
                          decoder: str = "exact", nodes: str = "auto", noise: str = "residual",
                          noise_highpass_hz: float = 4.0, boundary: str = "residual",
                          progress_bar: bool | None = None) -> CohortResult:
    """Load a model (path or object), generate a cohort and write it: what ``ventgen generate`` runs.

    The output folder is checked before the (slow) generation: it must be new or empty, or, with
    ``overwrite``, a cohort folder ventgen wrote that holds nothing else and none of the inputs.

    Parameters
    ----------
    model : HTVAE or path
        A fitted model, or the path of one saved with ``HTVAE.save``.
    spec : dict, CohortSpec or path
    reference : CycleSet or path
        The training cycles (node labels, real breath lengths, event run lengths).
    out_dir : path
        Output folder (see :func:`write_cohort`).
    length_method, latent, decoder, nodes, noise, noise_highpass_hz, boundary, progress_bar
        As in :func:`generate_cohort`.

    Returns
    -------
    CohortResult

    Examples
    --------
    >>> generate_cohort_files("model.pt", "cohort.json", "cycles.h5", "cohort/")  # doctest: +SKIP
    """
    parsed = read_cohort_spec(spec)
    if format not in _EXT:
        raise VentgenValueError(f"write_cohort: format must be one of {sorted(_EXT)}, got {format!r}")
    inputs = [p for p in (model, spec, reference, parsed.reference) if isinstance(p, (str, os.PathLike))]
    _check_output_folder(Path(os.path.abspath(out_dir)), overwrite=overwrite, inputs=inputs)
    if isinstance(model, (str, os.PathLike)):
        from . import HTVAE  # model room

        if not Path(model).is_file():
            raise FileNotFoundError(2, "no such model file", str(model))
        model = HTVAE.load(model)
    result = generate_cohort(model, parsed, reference, random_state=random_state, length_method=length_method,
                             latent=latent, decoder=decoder, nodes=nodes, noise=noise,
                             noise_highpass_hz=noise_highpass_hz, boundary=boundary, progress_bar=progress_bar)
    _write_cohort(result, out_dir, format=format, overwrite=overwrite, inputs=inputs)
    return result
