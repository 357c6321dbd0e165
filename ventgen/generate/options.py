"""How :func:`ventgen.generate_cohort` generates: :class:`GenerationOptions`, checked, and its
``"auto"`` choices resolved for a model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._core.limits import check_sampling_rate
from ..errors import VentgenTypeError, VentgenValueError
from ..io.cohort_spec import RECORDING_FILE
from .composition import NODE_CHOICES
from .decode import BOUNDARY_MODELS, DECODERS, NOISE_HIGHPASS_HZ, NOISE_MODELS
from .latents import KDE_BANDWIDTH, LATENT_SOURCES, LENGTH_METHODS
from .profiles import PATIENT_PROFILES
from .walk import CHAIN_BREATHS, SEQUENCES

__all__ = ["GenerationOptions", "check_options", "resolve_auto", "check_residual_support", "output_rate"]


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
        themselves; default :data:`~ventgen.generate.latents.KDE_BANDWIDTH`, the best measured).
    sequence : {"auto", "chain", "independent"}
        How consecutive breaths relate, with ``latent="kde"``. ``"chain"``: a breath is drawn from the
        reference breath that follows the one its predecessor was drawn from, wherever that breath has
        the breath's class and lies in one of its entry's nodes (else it keeps its own draw), so that
        consecutive breaths join as real ones do (:mod:`ventgen.generate.walk`). ``"independent"``:
        every breath draws its reference breath on its own. ``"auto"`` (default): ``"independent"``. Measured
        (``benchmarks/README.md``), the chain (``chain_breaths=8``) lowers the forest's discriminative
        score (simulated default cohort, one model, 5 generation seeds: 0.131 against about 0.15;
        ventmode mode-balanced: 0.322 against 0.342) but raises the median KS (0.124 against 0.111;
        0.091 against 0.068), and ventmode's re-segmentation F1 falls to 0.977 (0.984).
    chain_breaths : float
        With ``sequence="chain"``: how many breaths a chain follows the reference on average before it
        starts again from a fresh draw (``inf``: only where the reference stops it). Without restarts a
        chain follows one recording for as long as its class lasts, and a virtual patient is a
        stretch of one real patient.
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
    boundary : {"auto", "residual", "step", "none", "raw"}
        ``"residual"`` adds the decoder's mean error over the first and last 0.4 s of each breath
        (:class:`~ventgen.generate.observation.BoundaryBias`) and joins breaths with the real mean
        step; ``"step"`` keeps the decoded ends and joins breaths with the real mean step (the mean of
        ``first sample of a breath - last sample of the one before`` over consecutive reference breaths,
        per class: the trigger's jump in flow, +0.7 to +5 L/min); ``"none"`` keeps the decoded ends and
        makes consecutive breaths meet (both sides move to their mean, faded out over 0.3 s); ``"raw"``
        changes nothing: every breath is joined to the next exactly as it was generated, so the jump at
        a join is the generated first sample (the trigger) against the generated last one. ``"auto"``
        (default): ``"raw"`` with the flow generator (its breaths carry their own ends), ``"residual"``
        with the decoder's means. With the flow generator, one model per cohort, generation seed 0
        (``none`` -> ``raw``): simulated default cohort, random forest 0.163 -> 0.092 and CNN
        0.078 -> 0.040 (seed 1: 0.127 -> 0.114, 0.090 -> 0.060); real ventmode breaths, mode-balanced,
        forest 0.307 -> 0.221 and CNN 0.137 -> 0.061.
    decoder : {"auto", "flow", "exact", "linear"}
        ``"flow"`` samples every breath at its length from the model's flow generator
        (``model.generate_cycles``, a model trained with ``generator="flow"``, the default preset): the
        high-fidelity path. ``"exact"`` decodes every latent with ``model.decode`` (the paper's mean
        breath). ``"linear"`` decodes each component's center once plus ``2 d`` secant points at
        +-sigma along each latent axis, and generates every breath as ``decode(center) + J (z - center)``:
        an order of magnitude faster on CPU, at an approximation error that
        ``benchmarks/bench_generate.py`` measures. ``"auto"`` (default): ``"flow"`` when the model has a
        generator (and ``length_method`` is not ``"padding"``), else ``"exact"``.
    calibrate : bool
        With the flow generator, map the first samples of every breath (as far as the generator's
        marginals differ from the real ones there) onto the real marginals of its class, where the model
        holds a marginal map (``model.generator_.marginals``, fitted at the end of training; see
        :mod:`ventgen.models.marginals`), and round the recordings to the resolution of the training
        cycles (``model.generator_.resolution``: the step their values come in, 0.01 L/min and 0.01 cmH2O
        for PB-840 files), as the device that recorded them writes them. Default True; False gives the
        breaths as sampled.
    patient_profiles : {"balanced", "independent"}
        How the patients' profiles (each patient's node weights, from the spec's ``node_concentration``,
        and latent deviation, from its ``patient_variability``) are drawn. ``"balanced"`` (default):
        for the whole cohort at once, then balanced so that the cohort keeps the reference's node mix
        and mean while every patient still differs from the others (stratified sampling;
        :mod:`ventgen.generate.profiles`). ``"independent"``: each patient on its own, so that a small
        cohort's mix drifts from the reference's (simulated seed-4 model, 4 patients: forest 0.149
        against 0.101 without any patient structure; ``benchmarks/README.md``).
    batch_size : int
        Latents decoded per model call (within one patient); it does not change the breaths.
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
        Show a progress bar over the patients (default: the global setting, :func:`ventgen.set_progress`).
    """

    length_method: str = "node"
    latent: str = "auto"
    nodes: str = "auto"
    kde_bandwidth: float = KDE_BANDWIDTH
    sequence: str = "auto"
    chain_breaths: float = CHAIN_BREATHS
    noise: str = "auto"
    noise_highpass_hz: float = NOISE_HIGHPASS_HZ
    boundary: str = "auto"
    decoder: str = "auto"
    calibrate: bool = True
    patient_profiles: str = "balanced"
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
    _choice("sequence", o.sequence, SEQUENCES)
    cb = o.chain_breaths
    if not (isinstance(cb, (int, float, np.integer, np.floating)) and not isinstance(cb, bool) and cb >= 1):
        raise VentgenValueError(f"chain_breaths must be a number >= 1 (inf: no restarts), got {cb!r}")
    _choice("noise", o.noise, NOISE_MODELS)
    _choice("boundary", o.boundary, BOUNDARY_MODELS)
    _choice("patient_profiles", o.patient_profiles, PATIENT_PROFILES)
    if not isinstance(o.calibrate, (bool, np.bool_)):
        raise VentgenValueError(f"calibrate must be True or False, got {o.calibrate!r}")
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
    resolved for ``model`` (``encodings``: whether every reference breath's encoding is at hand), and
    ``calibrate`` True only where it applies (the flow generator of a model with a marginal map or a
    recording resolution)."""
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
    gen = getattr(model, "generator_", None)
    calibrated = gen is not None and (gen.marginals is not None or bool(np.any(gen.resolution)))
    return dataclasses.replace(o, decoder=decoder, latent=latent, nodes=nodes,
                               calibrate=bool(o.calibrate and decoder == "flow" and calibrated),
                               sequence="independent" if o.sequence == "auto" else o.sequence,
                               noise=plain if o.noise == "auto" else o.noise,
                               boundary=("raw" if decoder == "flow" else "residual") if o.boundary == "auto" else o.boundary)


def check_residual_support(model, o: GenerationOptions) -> None:
    if "residual" in (o.noise, o.boundary) and not callable(getattr(model, "reconstruct", None)):
        raise VentgenTypeError("generate_cohort: noise='residual' and boundary='residual' need model.reconstruct "
                               "(a fitted ventgen.HTVAE); pass noise='none', boundary='none' for a model without it")


def output_rate(o: GenerationOptions, spec, cycle_rate: float) -> float:
    out_rate = float(o.sampling_rate or spec.sampling_rate or cycle_rate)
    if not np.isfinite(out_rate) or out_rate <= 0:
        raise VentgenValueError(f"sampling_rate must be positive, got {out_rate!r}")
    return out_rate
