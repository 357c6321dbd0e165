"""Hyper-parameters of the models, each written once: default, meaning, check, command-line form.

:class:`HTVAEConfig` holds every hyper-parameter of the HTVAE (the estimator's ``__init__`` arguments
other than ``device``, ``random_state``, ``progress`` and ``preset``). The estimator, the checkpoint and
``ventgen train`` read them from here:

* :data:`PRESETS` name complete configurations. ``"paper"`` is exactly the paper (eq. 4-10, Adam,
  lr 5e-4, batch 32, 20 epochs); ``"recipe"`` is the best measured generation recipe of the README
  (``benchmarks/README.md``: level weights 1, 0.1, 0.1, 0.1, hierarchy weight 0.3, padding left out of
  the loss, absolute reconstruction error, 150 epochs) with the best measured clustering settings
  (Gaussian codes with full covariances, codes at 10x the learning rate, topology weight 0.01, upper
  maps merged from level 1 after training).
  :data:`DEFAULT_PRESET` is the estimator's default.
* :func:`resolve` applies a preset and the arguments a user set (None = the preset's value);
  :meth:`HTVAEConfig.validated` checks every value and returns the normalised configuration (tuples of
  ints, floats), one :class:`~ventgen.errors.VentgenValueError` line naming the argument otherwise.
* :meth:`HTVAEConfig.to_params` is the ``params`` dict of a checkpoint.
* :func:`cli_fields` lists the fields ``ventgen train`` exposes, with their help text and argparse kind.

:class:`VAEConfig` and :class:`SOMVAEConfig` hold the defaults of the baselines.

Examples
--------
>>> cfg = resolve("recipe", {"epochs": 60}).validated()
>>> cfg.epochs, cfg.reconstruction_weights, cfg.mask_padding
(60, (1.0, 0.1, 0.1, 0.1), True)
>>> resolve("recipe", {"maps": [(4, 4), (2, 2)]}).validated().reconstruction_weights
(1.0, 0.1, 0.1)
>>> resolve("paper", {}).validated().maps
[(8, 8), (4, 4), (2, 2)]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .._core.limits import MAX_BATCH_SIZE, MAX_CONV_CHANNELS, MAX_EPOCHS, MAX_LATENT_DIM
from ..errors import VentgenValueError
from ._checks import _channels, _level_weights, _pos_float, _pos_int, check_maps

__all__ = [
    "HTVAEConfig",
    "VAEConfig",
    "SOMVAEConfig",
    "PRESETS",
    "DEFAULT_PRESET",
    "resolve",
    "cli_fields",
]


def _choice(name: str, options: tuple[str, ...]):
    def check(v, _):
        if v not in options:
            raise VentgenValueError(f"{name} must be {' or '.join(repr(o) for o in options)}, got {v!r}")
        return v

    return check


def _fraction(v, name: str) -> float:
    f = _pos_float(v, name, allow_zero=True)
    if f >= 1:
        raise VentgenValueError(f"{name} must be in [0, 1), got {v!r}")
    return f


def _upper_levels(v, done: dict) -> str:
    v = _choice("upper_levels", ("trained", "merged"))(v, done)
    if v == "merged" and done.get("covariance") == "lattice":
        raise VentgenValueError("upper_levels='merged' needs Gaussian codes (covariance 'full' or 'diagonal'), "
                                "got covariance='lattice'")
    return v


def _time_power(v) -> float:
    f = _pos_float(v, "generator_time_power")
    if f > 8:
        raise VentgenValueError(f"generator_time_power must be in (0, 8], got {f}")
    return f


def _param(default, help: str, check, cli: str | None = None):
    """A config field: ``check(value, checked_so_far) -> normalised value``; ``cli`` = argparse kind."""
    return field(default=default, metadata={"help": help, "check": check, "cli": cli})


@dataclass(frozen=True)
class HTVAEConfig:
    """Hyper-parameters of the HTVAE (see :class:`ventgen.HTVAE` for their full meaning)."""

    maps: tuple = _param(
        ((8, 8), (4, 4), (2, 2)), "lattices, deepest first", lambda v, _: check_maps(v), cli="maps"
    )
    latent_dim: int = _param(
        16, "latent dimension", lambda v, _: _pos_int(v, "latent_dim", high=MAX_LATENT_DIM), cli="int"
    )
    rho: float = _param(2.0, "sigma of a code = smallest neighbour distance / rho", lambda v, _: _pos_float(v, "rho"))
    sigma_init: float = _param(1.0, "codes start from N(0, sigma_init^2 I)", lambda v, _: _pos_float(v, "sigma_init"))
    lr: float = _param(5e-4, "Adam learning rate", lambda v, _: _pos_float(v, "lr"), cli="float")
    batch_size: int = _param(
        32, "batch size", lambda v, _: _pos_int(v, "batch_size", high=MAX_BATCH_SIZE), cli="int"
    )
    epochs: int = _param(
        20, "training epochs", lambda v, _: _pos_int(v, "epochs", allow_zero=True, high=MAX_EPOCHS), cli="int"
    )
    channels: tuple | None = _param(None, "conv widths of the encoder/decoder", lambda v, _: _channels(v))
    kl_weight: float = _param(
        0.0, "weight of an optional KL term", lambda v, _: _pos_float(v, "kl_weight", allow_zero=True)
    )
    must_link_weight: float = _param(
        1.0, "weight of the must-link term, eq. 10", lambda v, _: _pos_float(v, "must_link_weight", allow_zero=True)
    )
    must_link_relative: bool = _param(False, "scale-free must-link term", lambda v, _: bool(v))
    dead_codes: str = _param("reinit", "what to do with unused codes", _choice("dead_codes", ("reinit", "ignore")))
    hierarchy_weight: float = _param(
        1.0,
        "weight of the hierarchy term, eq. 7",
        lambda v, _: _pos_float(v, "hierarchy_weight", allow_zero=True),
        cli="nonneg",
    )
    topology_weight: float = _param(
        1.0,
        "weight of the topology term, eq. 9",
        lambda v, _: _pos_float(v, "topology_weight", allow_zero=True),
        cli="nonneg",
    )
    code_lr_scale: float = _param(1.0, "the codes learn at lr * code_lr_scale", lambda v, _: _pos_float(v, "code_lr_scale"))
    reconstruction_weights: tuple | None = _param(
        None,
        "weight of the reconstruction of level 0 and of each map, e.g. 1,0.1,0.1,0.1 (none: all 1, eq. 8)",
        lambda v, done: _level_weights(v, len(done["maps"])),
        cli="weights",
    )
    mask_padding: bool = _param(
        False, "leave each cycle's edge padding out of the reconstruction term (cycles with lengths; plain arrays "
        "and images have none to leave out)", lambda v, _: bool(v), cli="flag"
    )
    reconstruction_loss: str = _param(
        "squared",
        "per-value reconstruction error: squared (the paper's eq. 8) or absolute (a Laplace likelihood: "
        "sharper edges where their timing varies)",
        _choice("reconstruction_loss", ("squared", "absolute")),
        cli="squared,absolute",
    )
    covariance: str = _param(
        "lattice",
        "what sets a code's spread: lattice (the paper: nearest-code assignment, eq. 4, sigma from the lattice "
        "neighbours, eq. 5), or full / diagonal (every code a Gaussian with its own covariance, estimated "
        "from the encodings it holds; assignment by likelihood; samples from a node follow that covariance)",
        _choice("covariance", ("lattice", "diagonal", "full")),
        cli="lattice,diagonal,full",
    )
    parents: str = _param(
        "likelihood",
        "how a code's parent in the map above is chosen with Gaussian codes: likelihood (the upper code under "
        "whose Gaussian it is most likely, at equal volumes) or nearest (the nearest upper code, eq. 4); the "
        "paper's lattice codes always take the nearest",
        _choice("parents", ("likelihood", "nearest")),
        cli="likelihood,nearest",
    )
    upper_levels: str = _param(
        "trained",
        "the upper maps after training: trained (as trained, the chain of eq. 4) or merged (rebuilt from the "
        "Gaussians of the training encodings each level-1 code holds, merged greedily two at a time with the "
        "least loss of likelihood until each map's size is left; a node's Gaussian is that of the encodings "
        "under it; Gaussian codes only)",
        lambda v, done: _upper_levels(v, done),
        cli="trained,merged",
    )
    warmup_fraction: float = _param(
        0.0, "fraction of the epochs trained as a plain autoencoder before the maps are placed on the "
        "encodings (a batch SOM ending in k-means) and trained (DPSOM's recipe); 0: none (the paper)",
        lambda v, _: _fraction(v, "warmup_fraction"), cli="nonneg",
    )
    generator: str = _param(
        "none",
        "what generates the breath from the latent: flow (a conditional flow-matching generator trained after "
        "the HTVAE on the same cycles, conditioned on z and the length) or none (the decoder's mean, the paper)",
        _choice("generator", ("flow", "none")),
        cli="flow,none",
    )
    generator_steps: int = _param(
        3000, "training steps (batches) of the generator",
        lambda v, _: _pos_int(v, "generator_steps", allow_zero=True, high=MAX_EPOCHS * 100), cli="int",
    )
    generator_width: int = _param(
        32, "convolution width of the generator's network",
        lambda v, _: _pos_int(v, "generator_width", high=MAX_CONV_CHANNELS), cli="int",
    )
    generator_lr: float = _param(1e-3, "the generator's peak learning rate (AdamW, cosine decay)",
                                 lambda v, _: _pos_float(v, "generator_lr"), cli="float")
    generator_batch_size: int = _param(
        64, "the generator's batch size", lambda v, _: _pos_int(v, "generator_batch_size", high=MAX_BATCH_SIZE),
        cli="int",
    )
    generator_sample_steps: int = _param(
        4, "midpoint steps when the generator samples (two network calls each)",
        lambda v, _: _pos_int(v, "generator_sample_steps", high=1024), cli="int",
    )
    generator_calibration: str = _param(
        "none",
        "quantile: after training, fit a map of the generator's breaths onto the real per-class marginals at "
        "the first samples of a breath, as far as a KS test finds them different (ventgen.models.marginals): "
        "the flow that a ventilator's trigger holds in a narrow band; none: the breaths as sampled",
        _choice("generator_calibration", ("quantile", "none")),
        cli="quantile,none",
    )
    generator_time_power: float = _param(
        2.0, "the sampler's time grid is t_k = 1 - (1 - k/steps)^power: 1 spaces the steps evenly, 2 puts "
        "more of them near the data end, where the sharp edges and the noise of a breath form",
        lambda v, _: _time_power(v), cli="float",
    )

    def validated(self) -> HTVAEConfig:
        """Every value checked (in field order) and normalised; raises one error line otherwise."""
        done: dict = {}
        for f in dataclasses.fields(self):
            done[f.name] = f.metadata["check"](getattr(self, f.name), done)
        return HTVAEConfig(**done)

    @property
    def warmup_epochs(self) -> int:
        """Epochs of autoencoder warm-up: ``floor(warmup_fraction * epochs)`` (0 for fewer epochs than
        one warm-up epoch needs)."""
        return int(self.warmup_fraction * self.epochs + 1e-9)

    def to_params(self, random_state) -> dict:
        """The ``params`` of a checkpoint (plain lists, ``random_state`` after ``epochs``) of a validated config."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "maps":
                v = [list(m) for m in v]
            elif f.name in ("channels", "reconstruction_weights") and v is not None:
                v = list(v)
            out[f.name] = v
            if f.name == "epochs":
                out["random_state"] = random_state
        return out


#: named complete configurations; "paper" reproduces the paper exactly
PRESETS: dict[str, HTVAEConfig] = {
    "paper": HTVAEConfig(),
    "recipe": HTVAEConfig(
        epochs=150,
        covariance="full",
        parents="nearest",
        upper_levels="merged",
        code_lr_scale=10.0,
        topology_weight=0.01,
        hierarchy_weight=0.3,
        reconstruction_weights=(1.0, 0.1, 0.1, 0.1),
        mask_padding=True,
        reconstruction_loss="absolute",
        generator="flow",
        generator_steps=6000,
        generator_lr=2e-3,
        generator_calibration="quantile",
    ),
}
#: the default: the best measured recipe (make demo, seed 0: discriminative 0.497 -> 0.445, median KS
#: 0.521 -> 0.315, TSTR/TRTR 0.755 -> 0.923 against "paper"; benchmarks/README.md). Gaussian codes
#: (covariance="full"), codes at 10x the learning rate and topology weight 0.01 since issue 17: MNIST
#: proxy (10k images, 5 epochs, 3 seeds) level-1 purity 0.588 (seed 0) -> 0.826, NMI 0.395 -> 0.584;
#: simulated ventilation held out, seed 0: purity 0.466 -> 0.480, NMI 0.228 -> 0.276, accuracy 0.134 -> 0.380.
#: 6,000 generator steps instead of 3,000 (issue 16): the generator's own ceiling on the simulated seed-0
#: model, forest 0.157 -> 0.113, CNN 0.071 -> 0.005, median KS 0.065 -> 0.055 (benchmarks/README.md)
#: generator_lr 2e-3 instead of 1e-3 (issue 16): the generator's ceiling (two evaluation draws), ventmode
#: forest 0.108 / 0.128 -> 0.097 / 0.105, CNN 0.188 / 0.166 -> 0.080 / 0.069; simulated seed 4 forest
#: 0.039 / 0.042 -> 0.027 / 0.036, CNN 0.036 / 0.030 -> 0.026 / 0.019 (benchmarks/README.md)
#: parents="nearest" (issue 17): MNIST, paper protocol, K = 64, 3 seeds: level-2 purity 0.828 +- 0.029, level 3
#: 0.384 +- 0.018 (likelihood parents: 0.794 / 0.348; VAE-RGMM 0.816 / 0.400), level 1 unchanged (0.957)
#: upper_levels="merged" (issue 17): the same protocol, seeds 0 and 1: level-2 purity / NMI 0.882 / 0.793 and
#: 0.810 / 0.742 -> 0.927 / 0.804 and 0.920 / 0.797, level 3 0.409 / 0.583 and 0.407 / 0.571 -> 0.408 / 0.647
#: and 0.408 / 0.658 (benchmarks/README.md); level 1 and training unchanged
DEFAULT_PRESET = "recipe"


def field_names() -> list[str]:
    """Names of the HTVAE hyper-parameters, in checkpoint order."""
    return [f.name for f in dataclasses.fields(HTVAEConfig)]


def resolve(preset, overrides: dict) -> HTVAEConfig:
    """The configuration of ``preset`` with the values of ``overrides`` that are not None (unvalidated).

    A preset's ``reconstruction_weights`` whose map weights are all equal follow the number of maps
    when the maps are overridden (e.g. ``"recipe"`` with two maps weighs 1, 0.1, 0.1).
    """
    if not isinstance(preset, str) or preset not in PRESETS:
        raise VentgenValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    base = PRESETS[preset]
    set_ = {k: v for k, v in overrides.items() if v is not None}
    w = base.reconstruction_weights
    if "maps" in set_ and "reconstruction_weights" not in set_ and w is not None and len(set(w[1:])) == 1:
        try:
            set_["reconstruction_weights"] = (w[0],) + (w[1],) * len(set_["maps"])
        except TypeError:
            pass  # bad maps: their own check reports them
    return dataclasses.replace(base, **set_)


def cli_fields() -> list[tuple[str, str, str, object]]:
    """``(name, argparse kind, help, default)`` of the fields ``ventgen train`` exposes.

    Kinds: "maps", "int", "float" (> 0), "nonneg" (>= 0), "weights", "flag", or the comma-separated
    choices. The default is the one of :data:`DEFAULT_PRESET`.
    """
    default = PRESETS[DEFAULT_PRESET]
    return [
        (f.name, f.metadata["cli"], f.metadata["help"], getattr(default, f.name))
        for f in dataclasses.fields(HTVAEConfig)
        if f.metadata["cli"] is not None
    ]


@dataclass(frozen=True)
class VAEConfig:
    """Defaults of :class:`ventgen.models.baselines.VAE` (the paper's optimiser)."""

    latent_dim: int = 16
    likelihood: str = "bernoulli"
    beta: float = 1.0
    lr: float = 5e-4
    batch_size: int = 32
    epochs: int = 20


@dataclass(frozen=True)
class SOMVAEConfig:
    """Defaults of :class:`ventgen.models.baselines.SOMVAE` (Fortuin et al., 2019; level 1 of the HTVAE)."""

    map_shape: tuple = (8, 8)
    latent_dim: int = 16
    alpha: float = 1.0
    beta: float = 0.9
    code_init_std: float = 0.05
    lr: float = 5e-4
    batch_size: int = 32
    epochs: int = 20
