"""``ventgen.HTVAE``: the scikit-learn estimator around the HTVAE module.

Inputs are CycleSets (their ``X`` in original units: flow L/min, pressure cmH2O), float arrays of breath
cycles (n, C, T) or images (n, C, H, W). The estimator keeps its own input scaling (see
:mod:`ventgen.models._inputs`); everything that comes out (``decode``, ``sample``, ``reconstruct``, see
:mod:`ventgen.models.inference`) is in the original units again.

It follows scikit-learn: ``__init__`` only stores its arguments (hyper-parameters left None take the
value of the preset, :mod:`ventgen.models.config`), ``fit`` checks them and returns self, fitted
attributes end in ``_``, ``get_params``/``set_params``/``sklearn.base.clone`` work, and an unfitted
model raises :class:`~ventgen.errors.NotFittedError`.

``save``/``load`` (:mod:`ventgen.models.persistence`) hand the checkpoint dict to :mod:`ventgen.io.checkpoint` (``torch.save`` /
``torch.load(weights_only=True)``); the dict holds tensors and primitive containers only
(hyper-parameters, weights, scaling, history, optimizer and RNG states, a fingerprint of the training
data, the ventgen version), and every field of a file is checked before use
(:mod:`ventgen.models.checkpoint`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from .._core import check_random_state
from ..errors import VentgenError, VentgenValueError, VentgenWarning
from ..io.checkpoint import read_checkpoint
from ._checks import _pos_int, parse_maps
from ._inputs import check_X, fit_scaling, padding_mask, resolve_device, scale
from .checkpoint import (
    CHECKPOINT_NAME,
    check_checkpoint,
    check_resume,
    data_fingerprint,
    restore_trainer,
)
from .config import DEFAULT_PRESET, HTVAEConfig, field_names, resolve
from .ddp import IndexBatches, ddp_context
from .generator_stage import fit_model_generator
from .htvae import HTVAEModule
from .inference import HTVAEInference
from .persistence import HTVAEPersistence
from .stored import generation_data
from .streaming import fit_streamed, is_stream
from .train import htvae_loop, must_link_sampler
from .upper import merge_model_upper, merge_trained_model

__all__ = ["HTVAE", "resolve_device", "parse_maps"]


class HTVAE(HTVAEInference, HTVAEPersistence, BaseEstimator):
    """Hierarchical Topological VAE (stacked self-organizing maps in a VAE's latent space).

    Every hyper-parameter left None takes the value of ``preset`` (:data:`ventgen.models.config.PRESETS`:
    ``"paper"`` is exactly the paper, ``"recipe"`` the best measured generation recipe); the values below
    are the paper's. ``__init__`` only stores its arguments; ``fit`` checks them.

    Parameters
    ----------
    maps : list of (h, w)
        Lattice sizes S_1 .. S_M, S_1 the deepest and largest; the number of codes must shrink.
    latent_dim : int
        Latent dimension.
    rho : float
        sigma of a code = smallest per-dimension distance to its lattice neighbours / rho.
    sigma_init : float
        Codes start from N(0, sigma_init^2 I).
    lr : float
        Adam learning rate (paper: 5e-4).
    batch_size : int
        Paper: 32.
    epochs : int
        Paper: 20.
    device : {"auto", "cpu", "cuda"} or torch.device
        "auto" uses CUDA when available.
    random_state : None, int or numpy Generator
        Seeds the weights, codes, data order and noise. Same seed, same model (on CPU).
    channels : tuple of 2 ints, optional
        Conv widths of the encoder/decoder (default (32, 64) for time series, (8, 16) for images).
    kl_weight : float
        Weight of an optional KL term (0: the paper's model).
    must_link_weight : float
        Weight of the must-link term (eq. 10). Its scale competes with the reconstruction term, which
        depends on the data (sum of squared errors over C x T values in [0, 1]): on breath cycles a
        weight of 1 lets the must-link term dominate and degrades the reconstructions.
    must_link_relative : bool
        Scale-free must-link: eq. 10 divided by the batch's mean squared distance between encodings
        (eq. 10 as printed can be lowered by shrinking the whole latent space). Off by default.
    dead_codes : {"reinit", "ignore"}
        What to do with codes no sample used during an epoch (see :mod:`ventgen.models.train`).
    progress : bool, optional
        Progress bars during ``fit`` (None: the global setting, see :func:`ventgen.set_progress`).
    hierarchy_weight, topology_weight : float
        Weights of the hierarchy term (eq. 7) and the topology term (eq. 9) against the reconstruction
        term (eq. 8); 1 and 1 is the paper's loss. The reconstruction term is a sum over the C x T (or
        C x H x W) values of the input, so its scale depends on the data while the other two do not:
        on breath cycles (2 x 200 values) weights of 0.1 keep the encodings from collapsing onto the
        codes and give sharper reconstructions (see ``benchmarks/README.md``).
    code_lr_scale : float
        The SOM codes learn at ``lr * code_lr_scale`` (see :func:`ventgen.models.train.htvae_loop`).
    reconstruction_weights : sequence of M+1 floats, optional
        Weight of the reconstruction of each level (level 0, i.e. ``z_0``, first, then S_1 .. S_M);
        None weighs all by 1 (eq. 8). Every code's decoding shares the one decoder with ``z_0``: on
        breath cycles, weights such as (1, 0.1, 0.1, 0.1) give sharper level-0 reconstructions (see
        ``benchmarks/README.md``).
    mask_padding : bool
        Leave each cycle's edge padding (the samples after ``lengths``) out of the reconstruction
        term; needs a CycleSet (or an object with ``lengths``) in ``fit``. The padding repeats the last
        sample, the onset of the next inspiration, so its positive flow otherwise teaches the decoder a
        flow level that bleeds into long breaths. The decoded padding is then arbitrary, so cut
        decodings at a length (``generate_cohort(length_method="node")``, the default).
    reconstruction_loss : {"squared", "absolute"}
        Per-value error in the reconstruction term. "squared" (default) is the paper's eq. 8, a Gaussian
        likelihood: the decoder learns the conditional mean, which blurs an edge whose timing varies
        between similar breaths (the end of inspiration, the trigger). "absolute", a Laplace
        likelihood, learns the conditional median, which keeps such an edge sharp; on breath cycles it
        makes generated breaths harder to tell from real ones (see ``benchmarks/README.md``). The
        term's scale changes with it, and so does its balance with the other terms.
    generator : {"flow", "none"}
        What turns a latent and a length into a breath. ``"none"`` (the paper): the decoder's mean.
        ``"flow"`` (``preset="recipe"``): a conditional flow-matching generator
        (:mod:`ventgen.models.flowgen`), trained after the HTVAE on the same cycles, conditioned on the
        latent, the length and the decoder's mean, which gives breaths with the sharp, variably timed
        edges and the noise of real ones (:meth:`generate_cycles`). Time series only.
    generator_steps, generator_width, generator_lr, generator_batch_size : int, int, float, int
        The generator's training steps (batches), network width, peak learning rate and batch size.
    generator_sample_steps : int
        Midpoint steps (two network calls each) when the generator samples.
    generator_time_power : float
        The sampler's time grid, ``t_k = 1 - (1 - k / steps) ** power``: 2 (the default) spends more steps
        near the data end, where the sharp edges and the noise of a breath form; 1 spaces them evenly.
    generator_calibration : {"quantile", "none"}
        "quantile" (the default preset): after training, fit the generator's marginal map
        (:func:`ventgen.models.generator_stage.calibrate_generator`).
    covariance : {"lattice", "diagonal", "full"}
        "lattice" (the paper): a sample goes to the nearest code (eq. 4) and a node's sigma comes from
        its lattice neighbours (eq. 5). "full" / "diagonal": every code is a Gaussian with its own
        covariance, estimated from the training encodings it holds (shrunk toward their overall
        covariance); a sample goes to the code under which it is most likely, so elongated clusters
        are not cut as the nearest code cuts them, and ``node_sigma`` / ``sample`` follow that
        covariance (its diagonal).
    parents : {"likelihood", "nearest"}
        With Gaussian codes: a code's parent in the map above is the upper code under whose Gaussian it
        is most likely (``"likelihood"``) or the nearest upper code (``"nearest"``, eq. 4). The nodes of
        the upper levels are the parents' chains, so this sets the tree. Lattice codes always take the
        nearest.
    warmup_fraction : float in [0, 1)
        Train the first ``floor(warmup_fraction * epochs)`` epochs as a plain autoencoder, then place
        the maps on the encodings (a batch SOM that ends as k-means) and train the whole model (0: the
        paper, maps from random codes).
    upper_levels : {"trained", "merged"}
        With Gaussian codes: keep the upper maps as trained (``"trained"``), or, once the HTVAE is
        trained, rebuild them from level 1 (``"merged"``, :mod:`ventgen.models.upper`): the Gaussians
        of the training encodings each level-1 code holds are merged greedily, two at a time with the
        least loss of likelihood, and the groups left at each map's size are its nodes. The chain of
        parents stays a tree; sampling from an upper node draws from the Gaussian of the encodings under it.
    preset : {"paper", "recipe"}
        The configuration that the parameters left None take their values from.

    Attributes
    ----------
    config_ : HTVAEConfig
        The checked hyper-parameters the model was fitted (or loaded) with.
    maps_ : list of (h, w)
        ``config_.maps``.
    history_ : list of dict
        Per epoch: epoch, loss, rec, hier, topo, must_link, kl, perplexity_1..M, dead_1..M, time_s.
    input_shape_ : tuple
        (C, T) or (C, H, W) seen in ``fit``.
    scaling_ : dict
        ``{"kind": "minmax", "min": (C,), "max": (C,)}`` for time series, ``{"kind": "identity"}`` for images.
    device_ : torch.device
    generator_ : FlowGenerator or None
        The fitted flow generator (``generator="flow"`` on time series), saved in the model file.
    generation_ : StoredGeneration or None
        What generation needs from the training cycles (node labels, length and event-run pools, latent
        moments, observation models, label tree; :mod:`ventgen.generate.stored`), built at the end of
        ``fit`` on a CycleSet (None for arrays) and saved in the model file, so that
        :func:`ventgen.generate_cohort` needs no reference cycles.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 1, 64)
    >>> X = np.stack([np.stack([a * np.sin(6 * t), 5 + a * t]) for a in rng.uniform(1, 3, 40)])
    >>> model = HTVAE(maps=[(3, 3), (2, 1)], latent_dim=4, epochs=2, random_state=0, progress=False)
    >>> model = model.fit(X.astype("float32"))
    >>> model.assign(X).shape, model.sample(level=2, node=0, n=3).shape
    ((40, 2), (3, 2, 64))
    """

    def __init__(
        self,
        maps=None,
        latent_dim=None,
        rho=None,
        sigma_init=None,
        lr=None,
        batch_size=None,
        epochs=None,
        device="auto",
        random_state=None,
        channels=None,
        kl_weight=None,
        must_link_weight=None,
        must_link_relative=None,
        dead_codes=None,
        progress=None,
        hierarchy_weight=None,
        topology_weight=None,
        code_lr_scale=None,
        reconstruction_weights=None,
        mask_padding=None,
        reconstruction_loss=None,
        generator=None,
        generator_steps=None,
        generator_width=None,
        generator_lr=None,
        generator_batch_size=None,
        generator_sample_steps=None,
        generator_time_power=None,
        generator_calibration=None,
        covariance=None,
        parents=None,
        warmup_fraction=None,
        upper_levels=None,
        preset=DEFAULT_PRESET,
    ):
        self.maps = maps
        self.latent_dim = latent_dim
        self.rho = rho
        self.sigma_init = sigma_init
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.device = device
        self.random_state = random_state
        self.channels = channels
        self.kl_weight = kl_weight
        self.must_link_weight = must_link_weight
        self.must_link_relative = must_link_relative
        self.dead_codes = dead_codes
        self.progress = progress
        self.hierarchy_weight = hierarchy_weight
        self.topology_weight = topology_weight
        self.code_lr_scale = code_lr_scale
        self.reconstruction_weights = reconstruction_weights
        self.mask_padding = mask_padding
        self.reconstruction_loss = reconstruction_loss
        self.generator = generator
        self.generator_steps = generator_steps
        self.generator_width = generator_width
        self.generator_lr = generator_lr
        self.generator_batch_size = generator_batch_size
        self.generator_sample_steps = generator_sample_steps
        self.generator_time_power = generator_time_power
        self.generator_calibration = generator_calibration
        self.covariance = covariance
        self.parents = parents
        self.warmup_fraction = warmup_fraction
        self.upper_levels = upper_levels
        self.preset = preset

    # ================================================================== parameters
    def validated_config(self) -> HTVAEConfig:
        """The hyper-parameters this estimator would be fitted with: ``preset`` completed by the
        arguments set, every value checked (one :class:`~ventgen.errors.VentgenValueError` line otherwise)."""
        return resolve(self.preset, {k: getattr(self, k) for k in field_names()}).validated()

    def _params(self, cfg: HTVAEConfig | None = None) -> dict:
        """The ``params`` a checkpoint stores."""
        rs = self.random_state
        cfg = self.config_ if cfg is None else cfg
        return cfg.to_params(int(rs) if isinstance(rs, (int, np.integer)) else None)

    def _build(self, input_shape, seed: int) -> HTVAEModule:
        """The module of ``config_`` (of :meth:`validated_config` before ``fit``), seeded."""
        c = self.config_ if hasattr(self, "config_") else self.validated_config()
        return HTVAEModule(
            input_shape,
            c.maps,
            latent_dim=c.latent_dim,
            rho=c.rho,
            sigma_init=c.sigma_init,
            channels=c.channels,
            kl_weight=c.kl_weight,
            must_link_weight=c.must_link_weight,
            must_link_relative=c.must_link_relative,
            hierarchy_weight=c.hierarchy_weight,
            topology_weight=c.topology_weight,
            reconstruction_weights=c.reconstruction_weights,
            reconstruction_loss=c.reconstruction_loss,
            covariance=c.covariance,
            parents=c.parents,
            warmup_epochs=c.warmup_epochs,
            stored_upper=c.upper_levels == "merged",
            seed=seed,
        )

    # ================================================================== fitting
    def fit(
        self,
        X,
        y=None,
        must_link=None,
        must_link_level: int = 1,
        checkpoint_dir=None,
        resume: bool = False,
        epoch_callback=None,
        ddp: bool = False,
    ):
        """Train the model.

        Parameters
        ----------
        X : CycleSet, array (n, C, T) or (n, C, H, W), or a stream
            Training data in original units; a stream (:class:`ventgen.io.stream.ShardStream`) reads a
            sharded CycleSet larger than memory chunk by chunk (see :mod:`ventgen.models.streaming`).
        y : ignored
            Present for scikit-learn compatibility (use ``must_link`` for supervision).
        must_link : (k, 2) int array or (n,) label vector, optional
            Linked index pairs, or a partial label vector (-1, "" or None = unknown) in which every two
            samples with the same label are linked.
        must_link_level : int
            The level i whose lattice distance weighs the must-link penalty (eq. 10).
        checkpoint_dir : path, optional
            Write ``checkpoint.pt`` there after every epoch (atomic replace).
        resume : bool
            Continue from ``checkpoint_dir/checkpoint.pt`` if it exists (same data and parameters); on
            CPU the result equals an uninterrupted run with the same seed. A checkpoint written for
            other data (its stored sha256 of the values, padding lengths and must-link links differs)
            is refused; with no checkpoint there, a :class:`~ventgen.errors.VentgenWarning` says that
            training starts fresh.
        epoch_callback : callable, optional
            Called as ``epoch_callback(row)`` with each epoch's history row (after its checkpoint); the
            generator's epochs come after the HTVAE's, their rows with ``part="generator"`` and their
            number of ``epochs``.
        ddp : bool
            Train with DistributedDataParallel in the initialised process group (``torchrun``, see
            :mod:`ventgen.models.ddp`): each process takes its part of every epoch on its ``device``;
            rank 0 writes the checkpoints and calls ``epoch_callback``; the flow generator trains the same
            way after the HTVAE; rank 0 alone builds the generation data (``generation_`` stays None on the
            other ranks).

        Returns
        -------
        self
        """
        cfg = self.validated_config()
        dist = ddp_context(resolve_device(self.device)) if ddp else None
        if is_stream(X):
            return fit_streamed(self, X, cfg, must_link=must_link, checkpoint_dir=checkpoint_dir, resume=resume,
                                epoch_callback=epoch_callback, dist=dist)
        arr = check_X(X)
        n = arr.shape[0]
        mask, lengths = padding_mask(X, arr) if cfg.mask_padding else (None, None)
        ml = must_link_sampler(must_link, n)
        must_link_level = _pos_int(must_link_level, "must_link_level")
        if must_link_level > len(cfg.maps):
            raise VentgenValueError(
                f"must_link_level must be in 1..{len(cfg.maps)} (the number of maps), got {must_link_level}"
            )
        if resume and checkpoint_dir is None:
            raise VentgenValueError("resume=True needs checkpoint_dir (where the checkpoint was written)")
        ckpt_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
        fingerprint = None
        if ckpt_path is not None:
            fingerprint = data_fingerprint(arr, lengths=lengths, must_link=ml, must_link_level=must_link_level)
        ckpt = self._resume_from(ckpt_path, arr, fingerprint, cfg) if resume else None
        self._start(arr.shape[1:], cfg, ckpt_path, ckpt, lambda: fit_scaling(arr))
        self.data_sha256_ = fingerprint
        batches = None if dist is None else IndexBatches(n, batch_size=cfg.batch_size, rank=dist.rank,
                                                         world_size=dist.world_size, seed=self.seeds_[1],
                                                         device=self.device_)
        loop = htvae_loop(
            self.module_,
            scale(arr, self.scaling_),
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            code_lr_scale=cfg.code_lr_scale,
            mask=mask,
            device=self.device_,
            seed=self.seeds_[1],
            must_link=ml,
            must_link_level=must_link_level,
            dead_codes=cfg.dead_codes,
            progress=self.progress if dist is None or dist.is_main else False,
            batches=batches,
            dist=dist,
        )
        if ckpt is not None:
            restore_trainer(ckpt_path, loop, ckpt.get("trainer"))
        self.history_ = loop.history
        self.n_samples_ = n
        htvae_done = loop.epoch >= cfg.epochs  # a stored generator is only resumed if the HTVAE is unchanged
        self.generator_ = None
        self._train(loop, ckpt_path, epoch_callback, dist)
        merge_model_upper(self, arr, dist)  # with upper_levels="merged"
        self.generator_ = fit_model_generator(self, X, arr, ckpt_path, ckpt if htvae_done else None,
                                              epoch_callback, dist)
        if dist is not None and not dist.is_main:  # rank 0 alone stores the generation data
            self.generation_ = None
            return self
        self.generation_ = generation_data(self, X)
        return self

    def _start(self, input_shape, cfg: HTVAEConfig, ckpt_path, ckpt, scaling) -> None:
        """The fitted attributes a training starts from: fresh (seeded; ``scaling()`` computes the input
        scaling) or those of ``ckpt``."""
        self.config_ = cfg
        self.device_ = resolve_device(self.device)
        self.input_shape_ = tuple(int(s) for s in input_shape)
        if ckpt is None:
            self.scaling_ = scaling()
            rng = check_random_state(self.random_state)
            self.seeds_ = tuple(int(s) for s in rng.integers(0, 2**62, size=2))
            self.module_ = self._build(self.input_shape_, self.seeds_[0])
        else:
            self._restore(ckpt_path, ckpt)

    def _train(self, loop, ckpt_path, epoch_callback, dist=None) -> None:
        main = dist is None or dist.is_main  # with DDP only rank 0 writes and logs

        def on_epoch_end(lp):
            self.module_.end_epoch(lp.epoch, lp.optimizer)  # ends an autoencoder warm-up (models/htvae.py)
            if dist is not None:  # the maps are identical on every rank (placed from rank 0's encodings)
                for p in self.module_.som.parameters():
                    dist.broadcast(p.data)
            self.history_ = lp.history
            if ckpt_path is not None and main:
                self._write(ckpt_path, overwrite=True, loop=lp)
            if epoch_callback is not None and main:
                epoch_callback(dict(lp.history[-1]))

        if loop.epoch < self.config_.epochs:  # more epochs for a finished model: from its maps as trained
            self.module_.som.unset_upper()
        try:
            loop.fit(self.config_.epochs, on_epoch_end=on_epoch_end)
        except VentgenError:
            del self.module_  # a diverged or failed run is not a fitted model
            raise
        self.history_ = loop.history
        self.training_state_ = loop.state_dict()
        self.module_.eval()

    def merge_upper_levels(self, X) -> HTVAE:
        """Rebuild the upper maps of a trained model from the encodings of its training cycles ``X``, as
        ``upper_levels="merged"`` does at the end of :meth:`fit` (:mod:`ventgen.models.upper`): a model
        trained with ``"trained"`` becomes the one ``"merged"`` trains. Gaussian codes only; the
        generation data are rebuilt from ``X``. Returns ``self``."""
        self._check_fitted()
        merge_trained_model(self, check_X(X))
        if self.generation_ is not None:
            self.generation_ = generation_data(self, X)
        return self

    def fit_predict(self, X, y=None, **fit_kw) -> np.ndarray:
        """``fit(X, **fit_kw)`` then ``predict(X)`` at level 1."""
        return self.fit(X, y, **fit_kw).predict(X)

    def _resume_from(self, path: Path, arr: np.ndarray, fingerprint: str, cfg: HTVAEConfig) -> dict | None:
        """The checked checkpoint at ``path`` to continue from, or None (with a warning) if there is none."""
        if not path.exists():
            warnings.warn(
                f"{path}: no checkpoint to resume from; training starts fresh", VentgenWarning, stacklevel=3
            )
            return None
        ckpt, _ = check_checkpoint(path, read_checkpoint(path))
        check_resume(self._params(cfg), ckpt, arr.shape, fingerprint, path, stacklevel=4)
        return ckpt

    def _check_resume(self, ckpt: dict, arr: np.ndarray, fingerprint: str | None = None, path=None) -> None:
        """Refuse to resume from ``ckpt`` with other parameters or data (see :func:`check_resume`)."""
        check_resume(self._params(self.validated_config()), ckpt, arr.shape, fingerprint, path, stacklevel=3)
