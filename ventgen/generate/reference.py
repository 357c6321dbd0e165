"""The reference (training) cycles and the model's view of them: what generation learns from.

The reference gives the node labels (majority of the breaths a node holds), the real breath lengths
and event run lengths; the model gives each reference breath's node path, latent mean and
reconstruction (:class:`Encoded`, each computed once). :class:`NodePools` holds the model's nodes of
every level under one global id, with their codes, sigmas and the reference breaths they hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import VentgenTypeError, VentgenValueError
from ..io.cycleset import read_cycleset
from ..labels import model_maps

__all__ = ["Reference", "as_reference", "reference_of", "generation_source", "check_model", "Encoded", "NodePools"]

_MODEL_METHODS = ("codebook", "node_sigma", "decode", "assign")


#: The label generated breaths carry when they have none; a reference breath without one has ``""``.
UNLABELLED = "unlabelled"
#: Every label that means "no label" (a reference's ``""``, a generated breath's ``"unlabelled"``).
NO_LABEL = ("", UNLABELLED)


def latent_moments(mu: np.ndarray) -> tuple:
    """(mean, standard deviation with ddof=1) of encodings ``mu`` (n, d): a latent component's Gaussian."""
    return mu.mean(axis=0), mu.std(axis=0, ddof=1)


def check_model(model) -> list:
    """The model's lattice shapes ``[(h, w), ...]``; refuses an object without the HTVAE contract."""
    missing = [m for m in _MODEL_METHODS if not callable(getattr(model, m, None))]
    if model_maps(model) is None:
        missing.append("maps")
    if missing:
        raise VentgenTypeError(
            f"generate_cohort: the model lacks {missing}; expected a fitted ventgen.HTVAE "
            "(codebook, node_sigma, decode, assign, maps)"
        )
    maps = model_maps(model)
    if not maps:
        raise VentgenValueError("generate_cohort: the model has no maps")
    return maps


@dataclass
class Reference:
    """The reference cycles, checked: arrays of one length ``n`` each."""

    X: np.ndarray | None  # None: the model file's stored generation data (no cycles)
    lengths: np.ndarray
    labels: np.ndarray
    superclasses: np.ndarray | None
    subjects: np.ndarray | None
    sampling_rate: float
    channels: list
    follows: np.ndarray | None = None  # (n - 1,): breath i + 1 starts where breath i ends (same subject)
    cycle_shape: tuple = ()  # (channels, time) of the cycles (taken from X when it is there)

    @property
    def n(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.X.shape[1] if self.X is not None else self.cycle_shape[0])

    @property
    def flow_channel(self) -> int:
        return self.channels.index("flow_lpm") if "flow_lpm" in self.channels else 0

    @property
    def pressure_channel(self) -> int:
        C = self.n_channels
        return self.channels.index("paw_cmh2o") if "paw_cmh2o" in self.channels else min(1, C - 1)


def reference_of(reference, spec, required: bool = True):
    """The reference given, else the spec's ``"reference"`` path (which must exist); None when there is
    neither and not ``required`` (generation then uses the model's stored data)."""
    if reference is not None:
        return reference
    if spec.reference:
        if not Path(spec.reference).is_file():
            raise FileNotFoundError(2, "the cohort spec's reference cycles file does not exist", spec.reference)
        return spec.reference
    if not required:
        return None
    raise VentgenValueError(
        "no reference cycles: pass reference= (CLI: --reference cycles.h5) or put \"reference\": \"cycles.h5\" "
        "in the cohort spec; they are the model's training cycles, which give the node labels, breath lengths "
        "and event lengths"
    )


def generation_source(model, reference, spec, labels=None) -> tuple:
    """``(reference, encodings, stored)``: from the reference cycles given (or the spec's), else from the
    data the model stored when it was fitted (``model.generation_``; ``stored`` is then not None)."""
    given = reference_of(reference, spec, required=False)
    if given is not None:
        ref = as_reference(given, labels)
        return ref, Encoded(model, ref.X), None
    stored = getattr(model, "generation_", None)  # a ventgen.generate.stored.StoredGeneration
    if stored is None or not callable(getattr(stored, "reference", None)):
        raise VentgenValueError(
            "this model holds no generation data (a model file written before ventgen stored them, or a model "
            "fitted on an array rather than a CycleSet): pass its training cycles as reference= "
            "(CLI: --reference cycles.h5)")
    if labels is not None:
        raise VentgenValueError("labels= relabels reference cycles: pass reference= (the cycles they label) too")
    return stored.reference(), stored.encoded(), stored


def as_reference(reference, labels=None) -> Reference:
    """A :class:`Reference` from a CycleSet (or its path), with ``labels`` instead of its own if given."""
    if isinstance(reference, (str, os.PathLike)):
        reference = read_cycleset(reference)
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
    labels = _labels_of(reference, labels, n)
    sup = _optional_column(reference, "superclasses", n)
    subj = _optional_column(reference, "subjects", n)
    rate = float(reference.sampling_rate)
    chans = list(getattr(reference, "channels", None) or ["flow_lpm", "paw_cmh2o"][: X.shape[1]])
    return Reference(X, lengths, labels, sup, subj, rate, chans, _follows(reference, subj, n))


def _labels_of(reference, labels, n: int) -> np.ndarray:
    if labels is None:
        labels = getattr(reference, "labels", None)
    if labels is None:
        raise VentgenValueError("reference cycles carry no labels; pass labels= (class or must-link group per cycle)")
    labels = np.asarray(labels).astype(str)
    if labels.shape != (n,):
        raise VentgenValueError(f"labels must have shape ({n},) like the reference cycles, got {labels.shape}")
    return labels


def _optional_column(reference, name: str, n: int):
    """A per-cycle string column, or None when absent or of the wrong shape."""
    v = getattr(reference, name, None)
    v = None if v is None else np.asarray(v).astype(str)
    return None if v is None or v.shape != (n,) else v


def _follows(reference, subj, n: int):
    """(n - 1,) bool: breath i + 1 starts where breath i ends, from the breath table (None without one)."""
    br = getattr(reference, "breaths", None)
    if isinstance(br, pd.DataFrame) and len(br) == n and {"start_idx", "end_idx"} <= set(br.columns):
        same = np.ones(n - 1, dtype=bool) if subj is None else subj[1:] == subj[:-1]
        return same & (br["end_idx"].to_numpy()[:-1] == br["start_idx"].to_numpy()[1:])
    return None


class Encoded:
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

    def moments(self, g: int, label: str, members: np.ndarray) -> tuple:
        """(mean, standard deviation with ddof=1) of the encodings of the reference breaths ``members``
        (those of class ``label`` in global node ``g``)."""
        return latent_moments(self.mu[members])

    @cached_property
    def recon(self) -> np.ndarray:
        if self._one_pass:
            return np.asarray(self.model.decode(self.mu.astype(np.float32)))
        return np.asarray(self.model.reconstruct(self.X))


class NodePools:
    """Every node of every level under one global id (level 1 first), with its code, its sigma and the
    reference breaths it holds (their indices and lengths, cached)."""

    def __init__(self, model, maps: list, assign: np.ndarray, ref: Reference):
        M = len(maps)
        self.maps, self.ref = maps, ref
        self.offs = np.concatenate(([0], np.cumsum([h * w for h, w in maps])))
        self.codes = np.concatenate([np.asarray(model.codebook(lv), dtype=np.float64) for lv in range(1, M + 1)])
        self.sigmas = np.concatenate([np.asarray(model.node_sigma(lv), dtype=np.float64) for lv in range(1, M + 1)])
        if self.codes.shape[0] != self.offs[-1] or self.sigmas.shape != self.codes.shape:
            raise VentgenValueError(
                f"model codebooks/sigmas have shapes {self.codes.shape}/{self.sigmas.shape}, expected "
                f"({self.offs[-1]}, d) for maps {maps}"
            )
        self.gid_ref = assign + self.offs[:-1][None, :]  # (n, M) global node id per level
        self._members: dict = {}
        self._lengths: dict = {}

    @property
    def n_nodes(self) -> int:
        return int(self.offs[-1])

    @property
    def dim(self) -> int:
        return self.codes.shape[1]

    def global_id(self, level: int, nodes):
        """Global ids of ``nodes`` of a 1-based ``level``."""
        return nodes + self.offs[level - 1]

    def members(self, g: int, label: str = "") -> np.ndarray:
        """Indices of the reference breaths in global node ``g`` (of class ``label``; "" = any;
        ``"unlabelled"``: those without a label)."""
        key = (int(g), str(label))
        if key not in self._members:
            li = int(np.searchsorted(self.offs, g, side="right") - 1)
            sel = self.gid_ref[:, li] == g
            if label == UNLABELLED:
                sel &= np.isin(self.ref.labels, NO_LABEL)
            elif label:
                sel &= self.ref.labels == label
            self._members[key] = np.flatnonzero(sel)
        return self._members[key]

    def lengths(self, g: int) -> np.ndarray:
        """Real lengths of the reference breaths of global node ``g`` (all of them for an empty node)."""
        if g not in self._lengths:
            sel = self.ref.lengths[self.members(g)]
            self._lengths[g] = sel if sel.size else self.ref.lengths
        return self._lengths[g]

    def level_and_node(self, gid: np.ndarray) -> tuple:
        """(1-based level, node id within the level) of global ids."""
        level = np.searchsorted(self.offs, gid, side="right")
        return level, gid - self.offs[level - 1]
