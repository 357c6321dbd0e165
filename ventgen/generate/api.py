"""Class-balanced virtual patients generated from the nodes of a trained HTVAE: :func:`generate_cohort`.

The steps, one module each:

1. **Spec** (:mod:`~ventgen.generate.spec`, read by :func:`ventgen.read_cohort_spec`): number of
   patients, minutes or breaths per patient, and the composition as fractions of breaths over fine
   classes, super-classes or explicit lattice nodes ``{"level": L, "node": k}``.
2. **Node labels** (:mod:`~ventgen.generate.labelling`): every reference (training) breath is assigned
   to one node per level by the model; a node's class is the majority label of its breaths.
3. **Resolution** and exact integer counts (:mod:`~ventgen.generate.composition`).
4. **Events** (:mod:`~ventgen.generate.events`): runs of one class and one node, with the run lengths
   of the reference, shuffled and spread.
5. **Latents** and lengths (:mod:`~ventgen.generate.latents`). Default ``length_method="node"``: a
   length drawn from the real lengths of the reference breaths of the same node. Why: the reference
   cycles are edge-padded after their true end, and a decoder reproduces that padding only
   approximately (a smooth tail, no sharp corner), so reading the length back from the decoded signal
   is fragile, while the node's breaths share the waveform the node decodes to.
6. **Decoding** in large batches (:mod:`~ventgen.generate.decode`), with the **observation model**
   (:mod:`~ventgen.generate.observation`: noise fitted to the model's residuals, the decoder's mean
   error at the two ends of a breath), cut to length and **stitched** into continuous flow and
   pressure (:mod:`~ventgen.generate.stitching`).
7. **Recordings** and the manifest (:mod:`~ventgen.generate.result`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from .._core import check_random_state
from .._core.limits import check_sampling_rate
from ..errors import VentgenTypeError, VentgenValueError
from ..io.cohort_spec import RECORDING_FILE
from .composition import (
    NODE_CHOICES,
    breaths_per_patient,
    count_matrix,
    natural_composition,
    resolve,
)
from .decode import (
    BOUNDARY_MODELS,
    DECODERS,
    NOISE_HIGHPASS_HZ,
    NOISE_MODELS,
    FlowDecoder,
    decode_breaths,
    exact_decoder,
    fit_observation,
    linear_decoder,
    observation_models,
)
from .events import draw_events, run_lengths
from .labelling import label_table, node_stats
from .latents import (
    KDE_BANDWIDTH,
    LATENT_SOURCES,
    LENGTH_METHODS,
    check_nearest,
    components,
    draw_kde,
    draw_latents,
    draw_lengths,
    length_bounds,
    nearest_lengths,
)
from .reference import NodePools, generation_source
from .result import CohortResult, build_manifest, build_recordings, seed_of, superclasses
from .spec import read_cohort_spec

__all__ = ["GenerationOptions", "generate_cohort"]


@dataclass(frozen=True)
class GenerationOptions:
    """How :func:`generate_cohort` generates: every choice besides the model, the spec and the seed.

    Parameters
    ----------
    length_method : {"node", "padding", "nearest"}
        How a decoded cycle is cut. ``"node"`` (default): a length drawn from the real lengths of the
        reference breaths of its node (and class). ``"padding"``: read from the decoded tail (clipped
        to the node's observed range). ``"nearest"`` (with ``latent="data"``): the length of the
        reference breath whose encoding is nearest to the drawn latent (distances scaled by the
        component's spread), so that a breath's length follows its shape.
    latent : {"auto", "node", "data"}
        ``"node"`` (the paper): ``z ~ N(code, sigma**2)`` of the node. ``"data"``: ``z`` from a
        Gaussian with the mean and per-dimension spread of the encoded (``model.transform``) reference
        breaths of the requested class in that node: the breaths keep the spread the real breaths of
        that class have in that node, and a class stays itself even in a mixed node. ``"kde"``: the
        encoding of a reference breath of the class in the node, drawn at random, with Gaussian jitter
        of ``kde_bandwidth`` times the pair's spread (a smoothed bootstrap that keeps the pair's mean
        and spread), and that breath's length (``length_method`` is then not used): shape and length
        stay those of one real breath. ``"auto"`` (default): ``"kde"`` with the flow generator
        (``"data"`` for a model file written before the encodings were stored), ``"node"`` with the
        decoder's means (the paper). On the simulated default cohort (seed 0, flow generator) the
        forest's discriminative score is 0.373 with ``"node"``, 0.192 with ``"data"``, 0.138 with
        ``"kde"`` (``benchmarks/README.md``).
    kde_bandwidth : float
        Jitter of ``latent="kde"`` in units of the component's spread (0: the reference encodings
        themselves).
    nodes : {"auto", "majority", "members"}
        Which nodes a named class draws from. ``"majority"``: the nodes whose majority label it is.
        ``"members"``: every node holding at least 3 reference breaths of the class, weighted by how
        many; meaningful with ``latent="data"``. ``"auto"`` (default): ``"majority"`` with
        ``latent="node"``, ``"members"`` with ``latent="data"``.
    noise : {"auto", "residual", "none"}
        ``"residual"`` adds observation noise to every decoded breath: the decoder gives the mean of
        ``p(x | z)``, and :class:`~ventgen.generate.observation.ObservationNoise` (fitted per class to
        the model's residuals on the reference breaths) supplies the sensor noise, cardiogenic
        oscillation and vibration that no code reconstructs. ``"none"`` keeps the decoded breaths.
        ``"auto"`` (default): ``"none"`` with the flow generator (its breaths carry their own noise),
        ``"residual"`` with the decoder's means.
    noise_highpass_hz : float
        Fit the noise to the residual above this frequency only. The default, 4 Hz, is above the
        breathing frequencies, where most of the decoder's own shape error sits: the whole residual (0)
        would add that error as noise too. On the simulated cohort ``ventgen segment`` then split apnea
        breaths: re-segmentation F1 0.89-0.91 with the whole residual, 0.97-0.99 above 2 Hz, 0.98-1.00
        above 4 Hz.
    boundary : {"auto", "residual", "none"}
        ``"residual"`` adds the decoder's mean error over the first and last 0.4 s of each breath
        (:class:`~ventgen.generate.observation.BoundaryBias`) and joins breaths with the real mean
        step; ``"none"`` keeps the decoded ends and makes consecutive breaths meet. ``"auto"``
        (default): ``"none"`` with the flow generator, ``"residual"`` with the decoder's means.
    decoder : {"auto", "flow", "exact", "linear"}
        ``"flow"`` samples every breath at its length from the model's flow generator
        (``model.generate_cycles``, a model trained with ``generator="flow"``, the default preset): the
        high-fidelity path. ``"exact"`` decodes every latent with ``model.decode`` (the paper's mean
        breath). ``"linear"`` decodes each component's center once plus ``2 d`` secant points at
        +-sigma along each latent axis, and generates every breath as ``decode(center) + J (z - center)``:
        an order of magnitude faster on CPU, at an approximation error that
        ``benchmarks/bench_generate.py`` measures. ``"auto"`` (default): ``"flow"`` when the model has a
        generator (and ``length_method`` is not ``"padding"``), else ``"exact"``.
    batch_size : int
        Latents decoded per ``model.decode`` call.
    sampling_rate : float, optional
        Output rate in Hz (default: the spec's, else the reference cycles' rate); other rates are
        reached by linear interpolation.
    subject_prefix : str
        Patients are named ``<prefix>000``, ``<prefix>001``, ...
    labels : array-like of str, optional
        Labels of the reference cycles to use instead of ``reference.labels`` (e.g. must-link groups).
    label_tree : LabelTree, optional
        Class hierarchy for super-class names (default: from the reference, else the ventilation tree).
    progress : bool, optional
        Show a progress bar (default: the global setting, :func:`ventgen.set_progress`).
    """

    length_method: str = "node"
    latent: str = "auto"
    nodes: str = "auto"
    kde_bandwidth: float = KDE_BANDWIDTH
    noise: str = "auto"
    noise_highpass_hz: float = NOISE_HIGHPASS_HZ
    boundary: str = "auto"
    decoder: str = "auto"
    batch_size: int = 8192
    sampling_rate: float | None = None
    subject_prefix: str = "virtual_"
    labels: object = None
    label_tree: object = None
    progress: bool | None = None


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise VentgenValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_options(options) -> GenerationOptions:
    """The options checked (one clear error per bad value), with ``nodes="auto"`` resolved."""
    if options is None:
        options = GenerationOptions()
    if not isinstance(options, GenerationOptions):
        raise VentgenTypeError(f"options must be a GenerationOptions (or None), got {type(options).__name__}")
    o = options
    _choice("latent", o.latent, ("auto", *LATENT_SOURCES))
    if o.nodes not in NODE_CHOICES:
        raise VentgenValueError(f"nodes must be 'auto', 'majority' or 'members', got {o.nodes!r}")
    _choice("decoder", o.decoder, DECODERS)
    _choice("noise", o.noise, NOISE_MODELS)
    _choice("boundary", o.boundary, BOUNDARY_MODELS)
    hp = o.noise_highpass_hz
    if not (isinstance(hp, (int, float, np.integer, np.floating)) and 0 <= hp < np.inf):
        raise VentgenValueError(f"noise_highpass_hz must be a finite number >= 0, got {hp!r}")
    _choice("length_method", o.length_method, LENGTH_METHODS)
    bw = o.kde_bandwidth
    if not (isinstance(bw, (int, float, np.integer, np.floating)) and not isinstance(bw, bool) and 0 <= bw <= 10):
        raise VentgenValueError(f"kde_bandwidth must be a number in [0, 10], got {bw!r}")
    if not isinstance(o.batch_size, (int, np.integer)) or o.batch_size < 1:
        raise VentgenValueError(f"batch_size must be a positive integer, got {o.batch_size!r}")
    prefix = o.subject_prefix
    if not (isinstance(prefix, str) and len(prefix) <= 100 and RECORDING_FILE.match(f"{prefix}0.h5")):
        raise VentgenValueError(f"subject_prefix must be up to 100 characters of a plain file name (no '/', no "
                                f"leading '.'), got {prefix!r}")
    rate = None if o.sampling_rate is None else check_sampling_rate(o.sampling_rate, "sampling_rate")
    return dataclasses.replace(o, sampling_rate=rate)


def resolve_auto(model, o: GenerationOptions, encodings: bool = True) -> GenerationOptions:
    """The options with ``decoder``, ``latent``, ``nodes``, ``noise`` and ``boundary`` = ``"auto"``
    resolved for ``model`` (``encodings``: whether every reference breath's encoding is at hand)."""
    has_flow = getattr(model, "generator_", None) is not None
    decoder = o.decoder
    if decoder == "auto":
        decoder = "flow" if has_flow and o.length_method != "padding" else "exact"
    if decoder == "flow" and not has_flow:
        raise VentgenValueError("decoder='flow' needs a model trained with generator='flow' (the default preset); "
                                "this model has no generator: use decoder='exact' or 'linear'")
    if decoder == "flow" and o.length_method == "padding":
        raise VentgenValueError("length_method='padding' reads lengths from the decoder's padding, and the flow "
                                "generator takes the length as given: use length_method='node' or 'nearest'")
    plain = "none" if decoder == "flow" else "residual"
    latent = o.latent if o.latent != "auto" else (("kde" if encodings else "data") if decoder == "flow" else "node")
    nodes = o.nodes if o.nodes != "auto" else ("members" if latent in ("data", "kde") else "majority")
    return dataclasses.replace(o, decoder=decoder, latent=latent, nodes=nodes,
                               noise=plain if o.noise == "auto" else o.noise,
                               boundary=plain if o.boundary == "auto" else o.boundary)


def _check_residual_support(model, o: GenerationOptions) -> None:
    if "residual" in (o.noise, o.boundary) and not callable(getattr(model, "reconstruct", None)):
        raise VentgenTypeError("generate_cohort: noise='residual' and boundary='residual' need model.reconstruct "
                               "(a fitted ventgen.HTVAE); pass noise='none', boundary='none' for a model without it")


def _output_rate(o: GenerationOptions, spec, cycle_rate: float) -> float:
    out_rate = float(o.sampling_rate or spec.sampling_rate or cycle_rate)
    if not np.isfinite(out_rate) or out_rate <= 0:
        raise VentgenValueError(f"sampling_rate must be positive, got {out_rate!r}")
    return out_rate


def _info(o: GenerationOptions, random_state, out_rate, ref, comps, n: int, t0: float, recs) -> dict:
    secs = time.perf_counter() - t0
    return {"seed": seed_of(random_state), "sampling_rate": out_rate, "cycle_rate": ref.sampling_rate,
            "length_method": o.length_method, "latent": o.latent, "decoder": o.decoder, "nodes": o.nodes,
            "noise": o.noise, "noise_highpass_hz": float(o.noise_highpass_hz), "boundary": o.boundary,
            "n_components": int(len(comps)), "n_data_components": int(comps.n_data), "n_breaths": int(n),
            "seconds": secs, "breaths_per_s": n / max(secs, 1e-9), "duration_s": [float(r.duration_s) for r in recs]}


def generate_cohort(model, spec, reference=None, random_state=0, options=None) -> CohortResult:
    """Generate virtual patients with a chosen class balance from a trained HTVAE.

    Parameters
    ----------
    model : HTVAE
        A fitted model (``maps``, ``codebook``, ``node_sigma``, ``decode``, ``assign`` are used;
        ``reconstruct`` for the observation model, ``transform`` or ``encode`` for ``latent="data"``).
    spec : dict, CohortSpec or path
        The cohort specification, see :func:`ventgen.read_cohort_spec`.
    reference : CycleSet or path, optional
        Cycles to learn the node labels, real breath lengths, event run lengths, latent moments and
        observation models from (other labelled data relabel the nodes). Default: the spec's
        ``"reference"`` path, else the data the model stored from its training cycles
        (``model.generation_``, saved in the model file; see :mod:`ventgen.generate.stored`).
    random_state : int, Generator or None
        Seed; the same seed gives the same bytes.
    options : GenerationOptions, optional
        How to generate (lengths, latents, nodes, noise, boundary, decoder, output rate, ...); the
        defaults are :class:`GenerationOptions`'s.

    Returns
    -------
    CohortResult

    Examples
    --------
    >>> import tempfile, ventgen
    >>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    >>> cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    >>> model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0,
    ...                       device="cpu", progress=False).fit(cycles)
    >>> spec = {"patients": 2, "breaths": 30, "composition": {"normal breathing": 0.5, "respiratory event": 0.5}}
    >>> result = ventgen.generate_cohort(model, spec, random_state=0,  # the data stored by fit: no reference
    ...                                  options=ventgen.GenerationOptions(latent="data"))
    >>> result
    CohortResult(2 patients, 60 breaths, ...)
    >>> result.composition()[["entry", "requested", "breaths"]]
                   entry  requested  breaths
    0   normal breathing        0.5       30
    1  respiratory event        0.5       30
    >>> folder = ventgen.write_cohort(result, tempfile.mkdtemp() + "/cohort")
    >>> sorted(p.name for p in folder.iterdir())
    ['cohort.json', 'manifest.csv', 'node_labels.csv', 'virtual_000.h5', 'virtual_001.h5']
    >>> back = ventgen.read_cohort(folder)
    >>> len(back.recordings), back.manifest["label"].equals(result.manifest["label"])
    (2, True)
    """
    t0 = time.perf_counter()
    spec = read_cohort_spec(spec)  # 1. spec and options
    natural = spec.natural
    o = check_options(options)
    rng = check_random_state(random_state)
    ref, enc, stored = generation_source(model, reference, spec, o.labels)
    o = resolve_auto(model, o, encodings=stored is None or stored.encodings is not None)
    st = node_stats(model, ref, o.label_tree if stored is None else (o.label_tree or stored.tree), enc)  # 2.
    table = label_table(st)
    spec = natural_composition(spec, st)
    resolved = resolve(spec, st, table, nodes=o.nodes)  # 3. resolution and counts
    _check_residual_support(model, o)
    out_rate = _output_rate(o, spec, ref.sampling_rate)
    pools = NodePools(model, st.maps, st.assign, ref)
    counts = count_matrix(np.array([r.entry.fraction for r in resolved]),
                          breaths_per_patient(spec, resolved, pools, ref.sampling_rate))
    u = rng.standard_normal((spec.patients, pools.dim))  # the deviation each patient's breaths share
    runs = run_lengths(ref) if stored is None else stored.runs
    ev = draw_events(counts, resolved, pools.offs, spec.node_concentration, runs, rng)  # 4.
    comps, lens, Z = _latents_and_lengths(ev, resolved, pools, enc, spec, o, u, rng)  # 5.
    models = (observation_models(ref, enc, o.noise, o.noise_highpass_hz, o.boundary) if stored is None
              else stored.observation_models(o.noise, o.noise_highpass_hz, o.boundary))
    flow, pres = _decode(model, Z, comps, lens, ev, ref, models, pools, o, rng)  # 6. (lens: as cut)
    recs, manifest = _assemble(flow, pres, lens, ev, resolved, pools, st.tree, spec, o, ref.sampling_rate,
                               out_rate, seed_of(random_state))  # 7. recordings and manifest
    info = _info(o, random_state, out_rate, ref, comps, len(ev), t0, recs)
    if natural:
        info["composition"] = "natural"
    if stored is not None:
        info["generation_data"] = "model"
    return CohortResult(recs, manifest, spec, table, info)


def _latents_and_lengths(ev, resolved, pools, enc, spec, o: GenerationOptions, u, rng) -> tuple:
    """The components of the breaths, their lengths and their latents (in this order of draws)."""
    comps = components(ev, np.array([r.entry.is_node for r in resolved]), pools,
                       enc if o.latent in ("data", "kde") else None)
    if o.latent == "kde":
        Z, lens = draw_kde(comps, ev.patient, u, spec.patient_variability, enc.mu, pools.ref.lengths,
                           o.kde_bandwidth, rng)
        missing = lens == 0  # components without reference breaths: lengths as asked
        if missing.any():
            lens[missing] = draw_lengths(comps, pools, len(ev), "node", rng)[missing]
        return comps, lens, Z
    lens = draw_lengths(comps, pools, len(ev), o.length_method, rng)
    Z = draw_latents(comps, ev.patient, u, spec.patient_variability, rng)
    if o.length_method == "nearest":
        check_nearest(o.latent)
        nearest_lengths(lens, Z, comps, pools, enc, rng)
    return comps, lens, Z


def _decode(model, Z, comps, lens, ev, ref, models, pools, o: GenerationOptions, rng) -> tuple:
    """The continuous flow and pressure: decoded, with the observation model, cut and stitched."""
    if o.decoder == "flow":
        decode = FlowDecoder(model, np.random.default_rng(int(rng.integers(2**63 - 1))))
    elif o.decoder == "exact":
        decode = exact_decoder(model)
    else:
        decode = linear_decoder(model, comps.centers, comps.scales, np.arange(len(comps)))
    obs = fit_observation(models, ev.label, rng)
    bounds = None
    if o.length_method == "padding":
        lo, hi = length_bounds(pools)
        bounds = (lo[ev.gid], hi[ev.gid])
    return decode_breaths(decode, Z, comps.of_breath, lens, ev.patient, ev.label, ref, obs,
                          bounds=bounds, batch_size=o.batch_size, progress_bar=o.progress)


def _assemble(flow, pres, lens, ev, resolved, pools, tree, spec, o: GenerationOptions, cyc_rate, out_rate,
              seed) -> tuple:
    """(recordings, manifest): one recording per patient and one manifest row per breath."""
    names = [f"{o.subject_prefix}{p:03d}" for p in range(spec.patients)]
    sup = superclasses(tree, ev.label)
    recs, start_s, end_s, bidx = build_recordings(flow, pres, lens, ev.patient, ev.label, sup, names=names,
                                                  cyc_rate=cyc_rate, out_rate=out_rate, cohort_name=spec.name,
                                                  seed=seed)
    level, node = pools.level_and_node(ev.gid)
    manifest = build_manifest(names, ev.patient, bidx, start_s, end_s, ev.label, sup, level, node,
                              [r.entry.key for r in resolved], ev.entry, ev.run)
    return recs, manifest
