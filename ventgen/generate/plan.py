"""The cohort plan (global, cheap, with one random stream of its own) and the patients generated from
it, one at a time, each from its own random stream.

:func:`plan_cohort` does what concerns the whole cohort: the spec and options, the node labels, the
composition resolved into nodes, the exact integer breath counts per patient and entry (largest
remainder over the whole cohort, so its proportions stay exact), the table of (node, class) components
with their latent Gaussians, the observation models and, with ``decoder="linear"``, the linearised
decoder. Its one random draw is the patients' profiles (each patient's node weights and latent
deviation, balanced over the cohort: :mod:`ventgen.generate.profiles`), from the cohort's own stream
(``SeedSequence(seed, spawn_key=(2**32 - 1,))``, apart from every patient's).

:func:`generate_patient` then makes patient ``p`` alone, from the stream
``SeedSequence(seed).spawn(patients)[p]`` (addressed directly, as ``SeedSequence(seed, spawn_key=(p,))``),
split into three independent generators: the events, lengths and latents; the flow generator's
starting noise; the observation noise. A patient's recording depends on the seed, the plan and its
index only: not on the other patients, nor on where or in which order they are made (in this process or
on any number of Dask workers), nor on the batch size. So the same seed gives the same bytes whatever
the number of workers.

Examples
--------
>>> import numpy as np
>>> a = patient_streams(np.random.SeedSequence(7), 3)[0].standard_normal()
>>> b = np.random.default_rng(np.random.SeedSequence(7).spawn(4)[3].spawn(3)[0]).standard_normal()
>>> bool(a == b)
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._core import check_random_state, progress
from .composition import breaths_per_patient, count_matrix, resolve_spec
from .decode import (
    FlowDecoder,
    decode_breaths,
    exact_decoder,
    fit_observation,
    linear_decoder,
    observation_models,
)
from .events import node_persistence, patient_events, run_lengths
from .labelling import label_table, node_stats
from .latents import (
    check_nearest,
    components,
    draw_kde,
    draw_latents,
    draw_lengths,
    length_bounds,
    nearest_lengths,
    nearest_trees,
)
from .options import check_options, check_residual_support, output_rate, resolve_auto
from .profiles import Profiles, draw_profiles
from .reference import NodePools, generation_source
from .result import build_manifest, build_recording, seed_of, superclasses
from .spec import read_cohort_spec
from .walk import chain_table, restarts, successors

__all__ = ["CohortPlan", "plan_cohort", "generate_patient", "generate_patients", "patient_streams", "root_sequence"]


@dataclass
class CohortPlan:
    """Everything every patient needs, decided once for the cohort (see the module notes). Plain data:
    it travels to Dask workers as it is (the model travels beside it)."""

    spec: object  # CohortSpec, its natural composition made explicit
    options: object  # GenerationOptions, "auto" resolved
    names: list  # patient names
    counts: np.ndarray  # (patients, entries) breaths
    resolved: list  # Resolved entries
    is_node: np.ndarray  # (entries,) whether an entry is an explicit node
    pools: NodePools  # its reference without the cycles
    comps: object  # Components of every (node, class) pair the composition draws from
    runs: dict  # event run lengths per label
    persistence: dict  # (level, label): how often a breath has the node of the one before it
    profiles: Profiles  # every patient's node weights and latent deviation (see profiles.py)
    mu: np.ndarray | None  # reference encodings (latent="kde")
    chain: tuple | None  # (successors, chain table) of sequence="chain" (see walk.py), or None
    trees: dict | None  # k-d trees of length_method="nearest"
    models: tuple  # (ObservationNoise or None, BoundaryBias or None)
    linear: object  # LinearDecoder (decoder="linear") or None
    bounds: tuple | None  # (lo, hi) real lengths per node (length_method="padding")
    tree: object  # LabelTree
    node_labels: pd.DataFrame
    cycle_rate: float
    out_rate: float
    root: np.random.SeedSequence
    seed: int | None
    extra_info: dict  # "composition": "natural", "generation_data": "model"

    @property
    def n_patients(self) -> int:
        return len(self.names)

    def info(self, n_breaths: int, seconds: float, durations: list) -> dict:
        """The cohort's ``info`` (see :class:`~ventgen.generate.result.CohortResult`)."""
        o = self.options
        return {"seed": self.seed, "sampling_rate": self.out_rate, "cycle_rate": self.cycle_rate,
                "length_method": o.length_method, "latent": o.latent, "decoder": o.decoder, "nodes": o.nodes,
                "sequence": o.sequence, "chain_breaths": _finite_or_none(o.chain_breaths), "noise": o.noise,
                "noise_highpass_hz": float(o.noise_highpass_hz), "boundary": o.boundary,
                "calibrate": bool(o.calibrate), "patient_profiles": o.patient_profiles,
                "n_components": int(len(self.comps)), "n_data_components": int(self.comps.n_data),
                "n_breaths": int(n_breaths), "seconds": seconds, "breaths_per_s": n_breaths / max(seconds, 1e-9),
                "duration_s": [float(d) for d in durations], **self.extra_info}


def _finite_or_none(v) -> float | None:
    """A JSON-safe number: None for an infinite one (``chain_breaths=inf``: no restarts)."""
    return float(v) if np.isfinite(v) else None


#: The spawn key of the cohort's profile stream, beside the patients' 0, 1, 2, ...
_PROFILE_KEY = 2**32 - 1


def root_sequence(random_state) -> np.random.SeedSequence:
    """The cohort's root :class:`numpy.random.SeedSequence`: from an int seed (or a SeedSequence) as it
    is; fresh entropy for None; a Generator gives one draw to seed it."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    rng = check_random_state(random_state)  # one clear error for a bad random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(rng.integers(2**63 - 1)))
    return np.random.SeedSequence(None if random_state is None else int(random_state))


def patient_streams(root: np.random.SeedSequence, p: int) -> tuple:
    """Patient ``p``'s three generators (events, lengths and latents; flow generator noise; observation
    noise): the children of ``root.spawn(...)[p]``, addressed without spawning the others."""
    ss = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, int(p)), pool_size=root.pool_size)
    return tuple(np.random.default_rng(s) for s in ss.spawn(3))


def profile_stream(root: np.random.SeedSequence) -> np.random.Generator:
    """The cohort's own generator of the patients' profiles: a child of ``root`` apart from every
    patient's (:func:`patient_streams`)."""
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, _PROFILE_KEY),
                                                         pool_size=root.pool_size))


def plan_cohort(model, spec, reference=None, random_state=0, options=None) -> CohortPlan:
    """The :class:`CohortPlan` of :func:`ventgen.generate_cohort`'s arguments (one clear error for a bad
    one, before any patient is made)."""
    spec = read_cohort_spec(spec)
    natural = spec.natural
    o = check_options(options)
    root = root_sequence(random_state)
    ref, enc, stored = generation_source(model, reference, spec, o.labels)
    o = resolve_auto(model, o, encodings=stored is None or stored.encodings is not None)
    st = node_stats(model, ref, o.label_tree if stored is None else (o.label_tree or stored.tree), enc)
    table = label_table(st)
    spec, resolved = resolve_spec(spec, st, table, nodes=o.nodes)
    check_residual_support(model, o)
    out_rate = output_rate(o, spec, ref.sampling_rate)
    pools = NodePools(model, st.maps, st.assign, ref)
    counts = count_matrix(np.array([r.entry.fraction for r in resolved]),
                          breaths_per_patient(spec, resolved, pools, ref.sampling_rate))
    comps = components(resolved, pools, enc if o.latent in ("data", "kde") else None)
    profiles = draw_profiles(resolved, counts, pools.dim, spec.node_concentration, profile_stream(root),
                             balanced=o.patient_profiles == "balanced")
    trees = None
    if o.latent != "kde" and o.length_method == "nearest":
        check_nearest(o.latent)
        trees = nearest_trees(comps, enc.mu)
    models = (observation_models(ref, enc, o.noise, o.noise_highpass_hz, o.boundary) if stored is None
              else stored.observation_models(o.noise, o.noise_highpass_hz, o.boundary))
    linear = linear_decoder(model, comps.centers, comps.scales, np.arange(len(comps))) if o.decoder == "linear" else None
    bounds = length_bounds(pools) if o.length_method == "padding" else None
    if ref.X is not None:  # the cycles served the statistics; patients need their lengths and labels only
        pools.ref = dataclasses.replace(ref, X=None, cycle_shape=tuple(ref.X.shape[1:]))
    extra = ({"composition": "natural"} if natural else {}) | ({"generation_data": "model"} if stored else {})
    return CohortPlan(
        spec=spec, options=o, names=[f"{o.subject_prefix}{p:03d}" for p in range(spec.patients)], counts=counts,
        resolved=resolved, is_node=np.array([r.entry.is_node for r in resolved]), pools=pools, comps=comps,
        runs=run_lengths(ref) if stored is None else stored.runs,
        persistence=node_persistence(pools.gid_ref, pools.ref.labels, pools.ref.subjects), profiles=profiles,
        mu=enc.mu if o.latent == "kde" else None, chain=_chain(o, resolved, comps, pools),
        trees=trees, models=models, linear=linear, bounds=bounds, tree=st.tree, node_labels=table,
        cycle_rate=float(ref.sampling_rate), out_rate=out_rate, root=root, seed=seed_of(random_state),
        extra_info=extra)


def generate_patient(model, plan: CohortPlan, p: int) -> tuple:
    """(Recording, manifest rows) of patient ``p`` of ``plan``, from its own random streams."""
    rng, flow_rng, noise_rng = patient_streams(plan.root, p)
    u = plan.profiles.u[p:p + 1]  # the deviation the patient's breaths share
    ev = patient_events(p, plan.counts[p], plan.resolved, plan.pools.offs, plan.profiles.node_weights(p),
                        plan.runs, rng, plan.persistence)
    comps = plan.comps.for_breaths(plan.comps.of(ev.gid, np.where(plan.is_node[ev.entry], "", ev.label)))
    lens, Z, of_breath = _latents_and_lengths(plan, comps, ev, u, rng)
    if of_breath is not comps.of_breath:  # chained breaths take their reference breath's node
        comps = comps.for_breaths(of_breath)
        ev.gid = np.where(plan.is_node[ev.entry], ev.gid, comps.gid[of_breath])
    o = plan.options
    if o.decoder == "flow":
        decode = FlowDecoder(model, flow_rng, labels=ev.label, calibrate=o.calibrate)
    else:
        decode = exact_decoder(model) if o.decoder == "exact" else plan.linear
    obs = fit_observation(plan.models, ev.label, noise_rng, joins=o.boundary != "raw")
    bounds = None if plan.bounds is None else (plan.bounds[0][ev.gid], plan.bounds[1][ev.gid])
    flow, pres = decode_breaths(decode, Z, comps.of_breath, lens, ev.patient, ev.label, plan.pools.ref, obs,
                                bounds=bounds, batch_size=o.batch_size, progress_bar=False)
    sup = superclasses(plan.tree, ev.label)
    rec, start_s, end_s, bidx = build_recording(flow, pres, lens, ev.label, sup, name=plan.names[p], patient=p,
                                                cyc_rate=plan.cycle_rate, out_rate=plan.out_rate,
                                                cohort_name=plan.spec.name, seed=plan.seed,
                                                resolution=_resolution(model, plan) if o.calibrate else None)
    level, node = plan.pools.level_and_node(ev.gid)
    manifest = build_manifest(plan.names[p], bidx, start_s, end_s, ev.label, sup, level, node,
                              [r.entry.key for r in plan.resolved], ev.entry, ev.run)
    return rec, manifest


def _resolution(model, plan: CohortPlan) -> tuple:
    """(flow, pressure) recording resolution of the model's flow generator (0: continuous)."""
    r, ref = model.generator_.resolution, plan.pools.ref
    return float(r[ref.flow_channel]), float(r[ref.pressure_channel])


def _latents_and_lengths(plan: CohortPlan, comps, ev, u, rng) -> tuple:
    """One patient's lengths and latents (in this order of draws)."""
    o, pools, a = plan.options, plan.pools, plan.spec.patient_variability
    one = np.zeros(len(ev), dtype=np.int64)  # every breath is the patient's: row 0 of u
    if o.latent == "kde":
        chain = None if plan.chain is None else (ev.entry, ev.label, *plan.chain,
                                                 restarts(len(ev), o.chain_breaths, rng))
        Z, lens, of_breath = draw_kde(comps, one, u, a, plan.mu, pools.ref.lengths, o.kde_bandwidth, rng, chain)
        missing = lens == 0  # components without reference breaths: lengths as asked
        if missing.any():
            lens[missing] = draw_lengths(comps.for_breaths(of_breath), pools, len(ev), "node", rng)[missing]
        return lens, Z, of_breath if chain is not None else comps.of_breath
    lens = draw_lengths(comps, pools, len(ev), o.length_method, rng)
    Z = draw_latents(comps, one, u, a, rng)
    if o.length_method == "nearest":
        nearest_lengths(lens, Z, comps, pools, None, rng, trees=plan.trees)
    return lens, Z, comps.of_breath


def _chain(o, resolved: list, comps, pools: NodePools):
    """(successors, chain table) of ``sequence="chain"`` (see :mod:`ventgen.generate.walk`), else None."""
    if o.latent != "kde" or o.sequence != "chain":
        return None
    ref = pools.ref
    succ = successors(ref.labels, ref.subjects, ref.follows)
    return succ, chain_table(resolved, comps, pools.gid_ref, ref.labels, pools.offs)


def generate_patients(model, plan: CohortPlan, progress_bar=None):
    """Yield ``(recording, manifest rows)`` patient after patient, in this process (a generator: one
    patient in memory at a time)."""
    for p in progress(range(plan.n_patients), enabled=progress_bar, desc="generating patients", unit="patient"):
        yield generate_patient(model, plan, p)
