"""What generation needs from the training cycles, kept with the model: :class:`StoredGeneration`.

``generate_cohort`` learns from a reference (normally the training cycles) the node of every breath at
every level and its label (node labels and purities), the real breath lengths (the length pools of
every node and class), the event run lengths of every class, the encodings' mean and spread of every
(node, class) pair (``latent="data"``), the observation models (noise and boundary, fitted to the
model's residuals) and the class hierarchy. :func:`generation_state` computes all of it once, at the
end of ``HTVAE.fit`` on a CycleSet, as compact arrays (int16 lengths and node ids, no cycle); the model
file stores it, and generation from the stored data gives the same cohort, byte for byte, as generation
with the training cycles as reference.

Every training breath's encoding is stored too (float32: ``4 d`` bytes a breath), for ``latent="kde"``.
What the stored data cannot give: another ``noise_highpass_hz`` than the one stored, and other labels (``labels=``): those need the
reference cycles again.

Examples
--------
>>> import ventgen
>>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
>>> cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
>>> model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0,
...                       device="cpu", progress=False).fit(cycles)
>>> model.generation_                                       # built by fit, saved with the model
StoredGeneration(... breaths, maps [(2, 2), (1, 2)], ...)
>>> spec = {"patients": 1, "breaths": 20}                   # natural composition, no reference
>>> ventgen.generate_cohort(model, spec, random_state=0)
CohortResult(1 patients, 20 breaths, ...)
"""

from __future__ import annotations

import numpy as np

from .._core.limits import MAX_CYCLE_LENGTH
from ..errors import VentgenValueError
from ..labels import LabelTree
from .decode import NOISE_HIGHPASS_HZ, observation_models
from .events import run_lengths
from .labelling import node_stats
from .observation import BoundaryBias, ObservationNoise
from .reference import (
    NO_LABEL,
    UNLABELLED,
    Encoded,
    NodePools,
    Reference,
    as_reference,
    latent_moments,
)

__all__ = ["STATE_VERSION", "StoredGeneration", "generation_state"]

#: Version of the stored generation data (the ``"generation"`` entry of a model file).
STATE_VERSION = 1
_MIN_MOMENT_BREATHS = 3  # as latents.components: a (node, class) pair with fewer uses the node's code


def _small_int(a: np.ndarray, high: int) -> np.ndarray:
    """``a`` as int16 when every value fits, else int32."""
    return np.asarray(a, dtype=np.int16 if high < 2**15 else np.int32)


def generation_state(model, cycles, *, noise_highpass_hz: float = NOISE_HIGHPASS_HZ) -> dict:
    """Everything generation needs from ``cycles`` (the training cycles), as plain data: lists, str,
    numbers and numpy arrays (the model file turns the arrays into tensors).

    Parameters
    ----------
    model : HTVAE
        The fitted model.
    cycles : CycleSet
        Its training cycles (unlabelled ones too: their labels are ``""``).
    noise_highpass_hz : float
        Cut-off of the stored observation noise (see :class:`ventgen.GenerationOptions`).
    """
    labels = getattr(cycles, "labels", None)
    ref = as_reference(cycles, np.full(len(cycles.X), "") if labels is None else None)
    enc = Encoded(model, ref.X)
    st = node_stats(model, ref, None, enc)
    pools = NodePools(model, st.maps, st.assign, ref)
    nodes, labs, means, stds = [], [], [], []
    unlabelled = [UNLABELLED] if np.isin(ref.labels, NO_LABEL).any() and st.classes else []
    for lab in ["", *st.classes, *unlabelled]:
        for g in range(pools.n_nodes):
            mem = pools.members(g, lab)
            if mem.size >= _MIN_MOMENT_BREATHS:
                m, s = enc.moments(g, lab, mem)
                nodes.append(g)
                labs.append(lab)
                means.append(m)
                stds.append(s)
    d = pools.dim
    noise, bias, _ = (None, None, None) if ref.n < 2 else observation_models(ref, enc, "residual", noise_highpass_hz, "residual")
    return {
        "version": STATE_VERSION,
        "sampling_rate": float(ref.sampling_rate),
        "channels": [str(c) for c in ref.channels],
        "cycle_shape": [int(v) for v in ref.X.shape[1:]],
        "maps": [[int(h), int(w)] for h, w in st.maps],
        **breath_state(st, ref, ref.X.shape[2]),
        "moments": {"node": np.asarray(nodes, dtype=np.int32), "label": labs,
                    "mean": np.asarray(means, dtype=np.float64).reshape(-1, d),
                    "std": np.asarray(stds, dtype=np.float64).reshape(-1, d)},
        "noise": None if noise is None else {"highpass_hz": float(noise_highpass_hz), **noise.to_state()},
        "boundary": None if bias is None else bias.to_state(),
        "encodings": np.asarray(enc.mu, dtype=np.float32),
    }


def breath_state(st, ref: Reference, T: int) -> dict:
    """The per-breath part of the stored state (node paths, lengths, label codes, label tree, event
    runs) from the node statistics ``st`` (:func:`~ventgen.generate.labelling.node_stats`) of the breaths
    of ``ref``, cycles ``T`` samples long; shared by :func:`generation_state` and the streamed path
    (:func:`ventgen.models.streaming.stream_generation`)."""
    names, codes = np.unique(np.asarray(ref.labels).astype(str), return_inverse=True)
    runs, tree = run_lengths(ref), st.tree
    return {
        "assign": _small_int(st.assign, max(h * w for h, w in st.maps)),
        "lengths": _small_int(ref.lengths, T),
        "labels": {"names": [str(v) for v in names], "codes": _small_int(codes.ravel(), names.size)},
        "label_tree": {"name": tree.name, "paths": {c: [tree.ancestor(c, lv) for lv in range(1, tree.n_levels)]
                                                    for c in tree.classes}},
        "run_lengths": {"labels": [str(k) for k in runs], "lengths": [v.astype(np.int32) for v in runs.values()]},
    }


class _StoredEncoded:
    """The model's view of the training breaths, as stored: node paths and (node, class) moments."""

    def __init__(self, assign: np.ndarray, moments: dict, encodings=None):
        self.assign = assign
        self._moments = moments
        self._mu = None if encodings is None else np.asarray(encodings, dtype=np.float64)

    def moments(self, g: int, label: str, members) -> tuple:
        key = (int(g), str(label))
        if key in self._moments:
            return self._moments[key]
        if self._mu is None:  # a file from before the unlabelled class was stored
            raise VentgenValueError(
                f"this model file stores no latent moments of the {label!r} breaths of node {g}: pass "
                "reference= (CLI: --reference cycles.h5), the training cycles")
        return latent_moments(self._mu[np.asarray(members, dtype=np.int64)])

    @property
    def mu(self):
        """Every training breath's encoding (``latent="kde"``; files written before they were stored lack them)."""
        if self._mu is None:
            raise VentgenValueError(
                "latent='kde' and length_method='nearest' need every training breath's encoding, which this model "
                "file does not store (it predates them): pass reference= (CLI: --reference cycles.h5), the "
                "training cycles")
        return self._mu


class StoredGeneration:
    """The generation data of a model (see the module notes), checked; built from :func:`generation_state`'s
    dict (or a model file's ``"generation"`` entry, its tensors turned back into arrays).

    Raises
    ------
    VentgenValueError
        One line naming the field (``generation/<field>``) that is missing or malformed.
    """

    def __init__(self, state: dict):
        self._state = state
        _check(state)
        lab = state["labels"]
        names = np.asarray(lab["names"], dtype=str)
        self.labels = names[np.asarray(lab["codes"], dtype=np.int64)] if names.size else np.zeros(0, dtype=str)
        self.assign = np.asarray(state["assign"], dtype=np.int64)
        self.maps = [tuple(m) for m in state["maps"]]
        self.tree = LabelTree(state["label_tree"]["paths"], name=state["label_tree"]["name"])
        rl = state["run_lengths"]
        self.runs = {k: np.asarray(v, dtype=np.int64) for k, v in zip(rl["labels"], rl["lengths"], strict=True)}
        mo = state["moments"]
        self._moments = {(int(g), str(lab)): (m, s) for g, lab, m, s in
                         zip(mo["node"], mo["label"], np.asarray(mo["mean"]), np.asarray(mo["std"]), strict=True)}
        nz, bd = state["noise"], state["boundary"]
        self.noise = None if nz is None else ObservationNoise.from_state(nz)
        self.noise_highpass_hz = None if nz is None else float(nz["highpass_hz"])
        self.bias = None if bd is None else BoundaryBias.from_state(bd)
        self.encodings = state.get("encodings")  # (n, d) float32, or None in files written before them

    def to_state(self) -> dict:
        """The dict it was built from."""
        return self._state

    @property
    def n(self) -> int:
        return int(self.assign.shape[0])

    def reference(self) -> Reference:
        """The training breaths as a :class:`~ventgen.generate.reference.Reference` without cycles."""
        s = self._state
        return Reference(None, np.asarray(s["lengths"], dtype=np.int64), self.labels, None, None,
                         float(s["sampling_rate"]), list(s["channels"]), cycle_shape=tuple(s["cycle_shape"]))

    def encoded(self) -> _StoredEncoded:
        return _StoredEncoded(self.assign, self._moments, self.encodings)

    def observation_models(self, noise: str, highpass_hz: float, boundary: str) -> tuple:
        """The stored (noise, boundary, join steps) models, as asked (see
        :func:`~ventgen.generate.decode.observation_models`); one clear error where they cannot serve."""
        obs = self.noise if noise == "residual" else None
        bias = self.bias if boundary == "residual" else None
        stepper = self.bias if boundary in ("residual", "step") else None
        if (noise == "residual" and obs is None) or (boundary in ("residual", "step") and stepper is None):
            raise VentgenValueError("the model file stores no observation model (fewer than 2 training breaths); "
                                    "pass noise='none', boundary='none' or reference= (the training cycles)")
        if obs is not None and float(highpass_hz) != self.noise_highpass_hz:
            raise VentgenValueError(
                f"noise_highpass_hz={float(highpass_hz):g}: the model file stores the noise fitted above "
                f"{self.noise_highpass_hz:g} Hz; use that, or pass reference= (CLI: --reference cycles.h5) to refit it")
        return obs, bias, stepper

    def nbytes(self) -> int:
        """Bytes of the stored arrays (what the data add to a model file, less a few hundred for the keys)."""
        total, stack = 0, [self._state]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, (list, tuple)):
                stack.extend(v)
            elif isinstance(v, np.ndarray):
                total += v.nbytes
            elif isinstance(v, str):
                total += len(v)
        return total

    def __repr__(self) -> str:
        return (f"StoredGeneration({self.n} breaths, maps {self.maps}, classes {self.tree.classes if self.labels.size and (self.labels != '').any() else []}, "
                f"{self.nbytes() / 1024:.0f} KiB)")


# ---------------------------------------------------------------------------- checks of a stored dict
def _fail(field: str, msg: str):
    raise VentgenValueError(f"generation/{field}: {msg}")


def _arr(d: dict, key: str, kind: str, ndim: int, field: str) -> np.ndarray:
    v = d.get(key) if isinstance(d, dict) else None
    if not isinstance(v, np.ndarray) or v.dtype.kind not in kind or v.ndim != ndim:
        _fail(field, f"expected a {ndim}-d {'integer' if kind == 'iu' else 'float'} array, got "
              f"{type(v).__name__}{getattr(v, 'shape', '')}")
    if v.dtype.kind == "f" and not np.isfinite(v).all():
        _fail(field, "holds NaN or infinite values")
    return v


def _strs(v, field: str) -> list:
    if not (isinstance(v, (list, tuple)) and all(isinstance(x, str) and len(x) <= 1000 for x in v)):
        _fail(field, "expected a list of strings")
    return list(v)


def _check(s) -> None:
    """One :class:`VentgenValueError` line for the first malformed field of a stored dict."""
    if not isinstance(s, dict):
        _fail("", f"expected a dict, got {type(s).__name__}")
    missing = [k for k in ("version", "sampling_rate", "channels", "cycle_shape", "maps", "assign", "lengths",
                           "labels", "label_tree", "run_lengths", "moments", "noise", "boundary") if k not in s]
    if missing:
        _fail(missing[0], "missing")
    if s["version"] != STATE_VERSION:
        _fail("version", f"version {s['version']!r} is not one this ventgen reads ({STATE_VERSION}); upgrade ventgen")
    rate = s["sampling_rate"]
    if not (isinstance(rate, float) and 0 < rate < np.inf):
        _fail("sampling_rate", f"expected a positive number, got {rate!r}")
    shape = s["cycle_shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and 1 <= v <= MAX_CYCLE_LENGTH
                                                                for v in shape)):
        _fail("cycle_shape", f"expected [channels, time], got {shape!r}")
    if len(_strs(s["channels"], "channels")) != shape[0]:
        _fail("channels", f"expected {shape[0]} names")
    maps = s["maps"]
    if not (isinstance(maps, list) and maps and all(isinstance(m, list) and len(m) == 2 and
                                                   all(isinstance(v, int) and v >= 1 for v in m) for m in maps)):
        _fail("maps", f"expected a list of [h, w], got {maps!r}")
    A = _arr(s, "assign", "iu", 2, "assign")
    n = A.shape[0]
    if A.shape[1] != len(maps) or n < 1 or (A < 0).any() or (A >= np.array([h * w for h, w in maps])).any():
        _fail("assign", f"expected ({n}, {len(maps)}) node ids within the maps {maps}")
    L = _arr(s, "lengths", "iu", 1, "lengths")
    if L.shape != (n,) or (L < 2).any() or (L > shape[1]).any():
        _fail("lengths", f"expected ({n},) lengths in [2, {shape[1]}]")
    _check_labels(s, n)
    _check_moments(s["moments"])
    _check_observation(s["noise"], s["boundary"], shape[0])
    if s.get("encodings") is not None:
        E = _arr(s, "encodings", "f", 2, "encodings")
        if E.shape[0] != n or E.shape[1] != np.asarray(s["moments"]["mean"]).shape[1] or not np.isfinite(E).all():
            _fail("encodings", f"expected ({n}, latent dimension) finite encodings, one per training breath")


def _check_labels(s: dict, n: int) -> None:
    lab = s["labels"]
    names = _strs(lab.get("names") if isinstance(lab, dict) else None, "labels/names")
    codes = _arr(lab, "codes", "iu", 1, "labels/codes")
    if codes.shape != (n,) or (codes < 0).any() or (codes >= len(names)).any():
        _fail("labels/codes", f"expected ({n},) indices into the {len(names)} names")
    tree = s["label_tree"]
    paths = tree.get("paths") if isinstance(tree, dict) else None
    if not (isinstance(paths, dict) and paths and isinstance(tree.get("name"), str)
            and all(isinstance(k, str) for k in paths) and all(_strs(v, "label_tree") is not None for v in paths.values())):
        _fail("label_tree", "expected {'name': str, 'paths': {class: [ancestors]}}")
    try:
        LabelTree(paths, name=tree["name"])
    except VentgenValueError as exc:
        _fail("label_tree", str(exc))
    rl = s["run_lengths"]
    keys = _strs(rl.get("labels") if isinstance(rl, dict) else None, "run_lengths/labels")
    runs = rl.get("lengths")
    if not (isinstance(runs, list) and len(runs) == len(keys) and all(
            isinstance(r, np.ndarray) and r.dtype.kind in "iu" and r.ndim == 1 and (r >= 1).all() for r in runs)):
        _fail("run_lengths/lengths", "expected one 1-d array of positive run lengths per label")


def _check_moments(mo) -> None:
    nodes = _arr(mo, "node", "iu", 1, "moments/node")
    labs = _strs(mo.get("label"), "moments/label")
    mean, std = _arr(mo, "mean", "f", 2, "moments/mean"), _arr(mo, "std", "f", 2, "moments/std")
    if not (len(labs) == nodes.size == mean.shape[0] and mean.shape == std.shape):
        _fail("moments", "node, label, mean and std must describe the same (node, class) pairs")


def _check_observation(noise, boundary, C: int) -> None:
    for name, d, fields in (("noise", noise, ("envelope", "amplitude")), ("boundary", boundary, ("head", "tail", "step"))):
        if d is None:
            continue
        keys = _strs(d.get("keys") if isinstance(d, dict) else None, f"{name}/keys")
        if not keys or keys[0] != "" or len(set(keys)) != len(keys):
            _fail(f"{name}/keys", "expected the class-free key '' first, then distinct classes")
        arrs = [_arr(d, f, "f", 2 if f == "step" else 3, f"{name}/{f}") for f in fields]
        same_width = name == "noise" or arrs[0].shape == arrs[1].shape
        if any(a.shape[:2] != (len(keys), C) for a in arrs) or not same_width:
            _fail(name, f"expected one ({C}, ...) array per key, the profiles of one width")
        cnt = d.get("n_per_class")
        if not (isinstance(cnt, list) and len(cnt) == len(keys) and all(isinstance(v, int) for v in cnt)):
            _fail(f"{name}/n_per_class", "expected one integer per key")
    if noise is not None and not (isinstance(noise.get("highpass_hz"), float) and noise["highpass_hz"] >= 0):
        _fail("noise/highpass_hz", "expected a number >= 0")
