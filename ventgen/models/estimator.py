"""``ventgen.HTVAE``: the scikit-learn style estimator around the HTVAE module.

Inputs are CycleSets (their ``X`` in original units: flow L/min, pressure cmH2O), float arrays of breath
cycles (n, C, T) or images (n, C, H, W). The estimator keeps its own input scaling: time series are
scaled per channel to [0, 1] with the training min/max (stored in the model), images must already be in
[0, 1] (uint8 images are divided by 255). Everything that comes out (``decode``, ``sample``,
``reconstruct``) is in the original units again.

``save``/``load`` are the only places in ``ventgen.models`` that touch a file, through ``torch.save`` /
``torch.load(weights_only=True)`` on the path the caller gives; the checkpoint holds tensors and
primitive containers only (hyper-parameters, weights, scaling, history, optimizer and RNG states, a
fingerprint of the training data, the ventgen version), and every field of a file is checked before use
(:mod:`ventgen.models.checkpoint`).
"""

from __future__ import annotations

import math
import operator
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .._core import atomic_path, check_random_state
from .._core.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LATENT_DIM
from ..errors import VentgenError, VentgenTypeError, VentgenValueError, VentgenWarning
from ._checks import (
    _as_array,
    _channels,
    _level_weights,
    _pos_float,
    _pos_int,
    parse_maps,
    resolve_device,
)
from .checkpoint import (
    ADDED_PARAMS,
    CHECKPOINT_NAME,
    FORMAT,
    FORMAT_VERSION,
    data_fingerprint,
    load_weights,
    read_checkpoint,
    restore_trainer,
    scaling_from,
)
from .htvae import HTVAEModule
from .som import check_maps
from .train import MustLinkSampler, Trainer

__all__ = ["HTVAE", "resolve_device", "parse_maps"]

_CHUNK = 2048
_ADDED_PARAMS = ADDED_PARAMS


class HTVAE:
    """Hierarchical Topological VAE (stacked self-organizing maps in a VAE's latent space).

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
        The SOM codes learn at ``lr * code_lr_scale`` (see :class:`ventgen.models.train.Trainer`).
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

    Attributes
    ----------
    history_ : list of dict
        Per epoch: epoch, loss, rec, hier, topo, must_link, kl, perplexity_1..M, dead_1..M, time_s.
    input_shape_ : tuple
        (C, T) or (C, H, W) seen in ``fit``.
    scaling_ : dict
        ``{"kind": "minmax", "min": (C,), "max": (C,)}`` for time series, ``{"kind": "identity"}`` for images.
    device_ : torch.device

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
        maps=((8, 8), (4, 4), (2, 2)),
        latent_dim: int = 16,
        rho: float = 2.0,
        sigma_init: float = 1.0,
        lr: float = 5e-4,
        batch_size: int = 32,
        epochs: int = 20,
        device="auto",
        random_state=None,
        channels=None,
        kl_weight: float = 0.0,
        must_link_weight: float = 1.0,
        must_link_relative: bool = False,
        dead_codes: str = "reinit",
        progress: bool | None = None,
        hierarchy_weight: float = 1.0,
        topology_weight: float = 1.0,
        code_lr_scale: float = 1.0,
        reconstruction_weights=None,
        mask_padding: bool = False,
        reconstruction_loss: str = "squared",
    ):
        self.maps = check_maps(maps)
        self.latent_dim = _pos_int(latent_dim, "latent_dim", high=MAX_LATENT_DIM)
        self.rho = _pos_float(rho, "rho")
        self.sigma_init = _pos_float(sigma_init, "sigma_init")
        self.lr = _pos_float(lr, "lr")
        self.batch_size = _pos_int(batch_size, "batch_size", high=MAX_BATCH_SIZE)
        self.epochs = _pos_int(epochs, "epochs", allow_zero=True, high=MAX_EPOCHS)
        self.device = device
        self.random_state = random_state
        self.channels = _channels(channels)
        self.kl_weight = _pos_float(kl_weight, "kl_weight", allow_zero=True)
        self.must_link_weight = _pos_float(must_link_weight, "must_link_weight", allow_zero=True)
        self.must_link_relative = bool(must_link_relative)
        if dead_codes not in ("reinit", "ignore"):
            raise VentgenValueError(f"dead_codes must be 'reinit' or 'ignore', got {dead_codes!r}")
        self.dead_codes = dead_codes
        self.progress = progress
        self.hierarchy_weight = _pos_float(hierarchy_weight, "hierarchy_weight", allow_zero=True)
        self.topology_weight = _pos_float(topology_weight, "topology_weight", allow_zero=True)
        self.code_lr_scale = _pos_float(code_lr_scale, "code_lr_scale")
        self.reconstruction_weights = _level_weights(reconstruction_weights, len(self.maps))
        self.mask_padding = bool(mask_padding)
        if reconstruction_loss not in ("squared", "absolute"):
            raise VentgenValueError(f"reconstruction_loss must be 'squared' or 'absolute', got {reconstruction_loss!r}")
        self.reconstruction_loss = reconstruction_loss

    def __repr__(self) -> str:
        return (
            f"HTVAE(maps={self.maps}, latent_dim={self.latent_dim}, rho={self.rho}, "
            f"sigma_init={self.sigma_init}, lr={self.lr}, batch_size={self.batch_size}, epochs={self.epochs})"
        )

    # ================================================================== input handling
    def _check_X(self, X, fitting: bool = False) -> np.ndarray:
        arr = _as_array(X)
        if arr.ndim not in (3, 4):
            raise VentgenValueError(
                f"X must have shape (n, channels, time) or (n, channels, height, width), got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise VentgenValueError(
                f"X is empty (shape {arr.shape}): at least one sample is needed"
            )
        if not fitting:
            self._check_fitted()
            if tuple(arr.shape[1:]) != tuple(self.input_shape_):
                raise VentgenValueError(
                    f"X has sample shape {tuple(arr.shape[1:])} but the model was fitted on {tuple(self.input_shape_)}"
                )
        if arr.dtype.kind == "f" or arr.dtype.kind == "c":
            bad = ~np.isfinite(arr)
            if bad.any():
                rows = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(1))
                raise VentgenValueError(
                    f"X contains {int(bad.sum())} NaN/inf values in {len(rows)} samples "
                    f"(first: sample {rows[0]}); fill or drop them before fitting"
                )
        return arr

    def _scale(self, arr: np.ndarray) -> torch.Tensor:
        s = self.scaling_
        if s["kind"] == "minmax":
            lo = s["min"].numpy()[None, :, None]
            span = (s["max"] - s["min"]).numpy()[None, :, None]
            out = (arr.astype(np.float32) - lo) / span
        elif arr.dtype == np.uint8:
            out = arr.astype(np.float32) / 255.0
        else:
            out = arr.astype(np.float32, copy=False)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def _unscale(self, x: torch.Tensor) -> np.ndarray:
        x = x.detach().cpu()
        s = self.scaling_
        if s["kind"] == "minmax":
            x = x * (s["max"] - s["min"])[None, :, None] + s["min"][None, :, None]
        return x.numpy().astype(np.float32, copy=False)

    @staticmethod
    def _fit_scaling(arr: np.ndarray) -> dict:
        if arr.ndim == 3:
            lo = arr.min(axis=(0, 2)).astype(np.float64)
            hi = arr.max(axis=(0, 2)).astype(np.float64)
            hi = np.where(hi > lo, hi, lo + 1.0)  # a constant channel maps to 0
            return {
                "kind": "minmax",
                "min": torch.tensor(lo, dtype=torch.float32),
                "max": torch.tensor(hi, dtype=torch.float32),
            }
        if arr.dtype != np.uint8:
            lo, hi = float(arr.min()), float(arr.max())
            if lo < -1e-6 or hi > 1 + 1e-6:
                raise VentgenValueError(
                    f"images must be scaled to [0, 1] (or be uint8 0..255); got values in [{lo:g}, {hi:g}]"
                )
        return {"kind": "identity"}

    def _must_link(self, must_link, n: int) -> MustLinkSampler | None:
        if must_link is None:
            return None
        ml = np.asarray(must_link)
        if ml.ndim == 2 and ml.shape[1] == 2 and ml.dtype.kind in "iu":
            if ml.size and (ml.min() < 0 or ml.max() >= n):
                raise VentgenValueError(
                    f"must_link pairs must be indices in 0..{n - 1}, got values in [{ml.min()}, {ml.max()}]"
                )
            return MustLinkSampler(n, pairs=ml)
        if ml.ndim == 1:
            if ml.shape[0] != n:
                raise VentgenValueError(
                    f"must_link as a label vector must have one entry per sample ({n}), got {ml.shape[0]}"
                )
            if ml.dtype.kind in "iu":
                codes = ml.astype(np.int64)
                codes[codes < 0] = -1
            else:
                s = ml.astype(object)
                unknown = np.array(
                    [
                        v is None
                        or (isinstance(v, float) and math.isnan(v))
                        or str(v) in ("", "-1")
                        for v in s
                    ]
                )
                _, inv = np.unique(np.where(unknown, "", s.astype(str)), return_inverse=True)
                codes = np.where(unknown, -1, inv).astype(np.int64)
            return MustLinkSampler(n, labels=codes)
        raise VentgenValueError(
            f"must_link must be (k, 2) integer index pairs or a label vector of length {n} "
            f"(-1 or '' = unknown), got an array of shape {ml.shape} and dtype {ml.dtype}"
        )

    # ================================================================== fitting
    def _build(self, input_shape, seed: int) -> HTVAEModule:
        return HTVAEModule(
            input_shape,
            self.maps,
            latent_dim=self.latent_dim,
            rho=self.rho,
            sigma_init=self.sigma_init,
            channels=self.channels,
            kl_weight=self.kl_weight,
            must_link_weight=self.must_link_weight,
            must_link_relative=self.must_link_relative,
            hierarchy_weight=self.hierarchy_weight,
            topology_weight=self.topology_weight,
            reconstruction_weights=self.reconstruction_weights,
            reconstruction_loss=self.reconstruction_loss,
            seed=seed,
        )

    def fit(
        self,
        X,
        y=None,
        must_link=None,
        must_link_level: int = 1,
        checkpoint_dir=None,
        resume: bool = False,
        epoch_callback=None,
    ):
        """Train the model.

        Parameters
        ----------
        X : CycleSet or array (n, C, T) or (n, C, H, W)
            Training data in original units.
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
            Called as ``epoch_callback(row)`` with each epoch's history row (after its checkpoint).

        Returns
        -------
        self
        """
        arr = self._check_X(X, fitting=True)
        n = arr.shape[0]
        mask = None
        if self.mask_padding:
            lengths = getattr(X, "lengths", None)
            if lengths is None or arr.ndim != 3:
                raise VentgenValueError(
                    "mask_padding=True needs breath cycles with lengths (a ventgen.CycleSet), "
                    f"got {type(X).__name__} of shape {arr.shape}"
                )
            lengths = np.asarray(lengths).reshape(-1)
            if lengths.shape != (n,):
                raise VentgenValueError(f"X.lengths must have {n} values, got {lengths.shape}")
            mask = torch.from_numpy(np.arange(arr.shape[2])[None, None, :] < lengths[:, None, None])
        ml = self._must_link(must_link, n)
        must_link_level = _pos_int(must_link_level, "must_link_level")
        if must_link_level > len(self.maps):
            raise VentgenValueError(
                f"must_link_level must be in 1..{len(self.maps)} (the number of maps), got {must_link_level}"
            )
        if resume and checkpoint_dir is None:
            raise VentgenValueError(
                "resume=True needs checkpoint_dir (where the checkpoint was written)"
            )
        ckpt_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
        fingerprint = None
        if ckpt_path is not None:
            fingerprint = data_fingerprint(
                arr, lengths=None if mask is None else lengths, must_link=ml, must_link_level=must_link_level
            )
        ckpt = self._resume_from(ckpt_path, arr, fingerprint) if resume else None

        self.device_ = resolve_device(self.device)
        self.input_shape_ = tuple(int(s) for s in arr.shape[1:])
        if ckpt is None:
            self.scaling_ = self._fit_scaling(arr)
            rng = check_random_state(self.random_state)
            self.seeds_ = tuple(int(s) for s in rng.integers(0, 2**62, size=2))
            self.module_ = self._build(self.input_shape_, self.seeds_[0])
        else:
            self._restore(ckpt_path, ckpt)
        self.data_sha256_ = fingerprint
        trainer = Trainer(
            self.module_,
            self._scale(arr),
            lr=self.lr,
            batch_size=self.batch_size,
            code_lr_scale=self.code_lr_scale,
            mask=mask,
            device=self.device_,
            seed=self.seeds_[1],
            must_link=ml,
            must_link_level=must_link_level,
            dead_codes=self.dead_codes,
            progress=self.progress,
        )
        if ckpt is not None:
            restore_trainer(ckpt_path, trainer, ckpt.get("trainer"))
        self.history_ = trainer.history
        self.n_samples_ = n

        def on_epoch_end(tr):
            self.history_ = tr.history
            if ckpt_path is not None:
                self._write(ckpt_path, overwrite=True, trainer=tr)
            if epoch_callback is not None:
                epoch_callback(dict(tr.history[-1]))

        try:
            trainer.fit(self.epochs, on_epoch_end=on_epoch_end)
        except VentgenError:
            del self.module_  # a diverged or failed run is not a fitted model
            raise
        self.history_ = trainer.history
        self._trainer_snapshot = trainer.state_dict()
        self.module_.eval()
        return self

    def _resume_from(self, path: Path, arr: np.ndarray, fingerprint: str) -> dict | None:
        """The checked checkpoint at ``path`` to continue from, or None (with a warning) if there is none."""
        if not path.exists():
            warnings.warn(
                f"{path}: no checkpoint to resume from; training starts fresh", VentgenWarning, stacklevel=3
            )
            return None
        ckpt, _ = read_checkpoint(path, type(self))
        self._check_resume(ckpt, arr, fingerprint, path)
        return ckpt

    def _check_resume(self, ckpt: dict, arr: np.ndarray, fingerprint: str | None = None, path=None) -> None:
        where = "the checkpoint" if path is None else str(path)
        mine = self._params()
        theirs = {**_ADDED_PARAMS, **ckpt["params"]}
        diff = [
            k
            for k in mine
            if k not in ("epochs", "device", "progress") and mine[k] != theirs.get(k)
        ]
        if diff:
            raise VentgenValueError(
                f"cannot resume: {where} was written with different parameters: "
                + ", ".join(f"{k}={theirs.get(k)!r} (now {mine[k]!r})" for k in diff)
            )
        if (
            tuple(ckpt["input_shape"]) != tuple(arr.shape[1:])
            or int(ckpt["n_samples"]) != arr.shape[0]
        ):
            raise VentgenValueError(
                f"cannot resume: {where} was trained on {ckpt['n_samples']} samples of shape "
                f"{tuple(ckpt['input_shape'])}, got {arr.shape[0]} of shape {tuple(arr.shape[1:])}"
            )
        theirs_fp = ckpt.get("data_sha256")
        if fingerprint is not None and theirs_fp is not None and theirs_fp != fingerprint:
            raise VentgenValueError(
                f"cannot resume: {where} was trained on other data (same shape, but other values, padding "
                "lengths or must-link labels); to start fresh, train without resume (--resume), which "
                "replaces the checkpoint, or choose another checkpoint folder (--checkpoint-dir)"
            )
        if fingerprint is not None and theirs_fp is None:
            warnings.warn(
                f"{where} predates data fingerprints: cannot check that it was trained on the same data",
                VentgenWarning,
                stacklevel=4,
            )

    # ================================================================== inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise VentgenValueError(
                "this HTVAE is not fitted yet: call fit(X) (or HTVAE.load(path)) first"
            )

    @torch.no_grad()
    def _encode(self, X) -> tuple[torch.Tensor, list[torch.Tensor]]:
        arr = self._check_X(X)
        m = self.module_.eval()
        mus, idxs = [], []
        for i in range(0, arr.shape[0], _CHUNK):
            x = self._scale(arr[i : i + _CHUNK]).to(self.device_)
            mu0, idx = m.encode_chain(x)
            mus.append(mu0.cpu())
            idxs.append(torch.stack(idx, 1).cpu())
        return torch.cat(mus), torch.cat(idxs)

    def transform(self, X) -> np.ndarray:
        """Latent means mu_0, (n, latent_dim)."""
        return self._encode(X)[0].numpy()

    def encode(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(transform(X), assign(X))`` from one encoder pass: mu_0 (n, latent_dim) and the node path
        (n, M). ``decode(mu_0)`` is ``reconstruct(X)``."""
        mu, idx = self._encode(X)
        return mu.numpy(), idx.numpy().astype(np.int64)

    def assign(self, X) -> np.ndarray:
        """Node path of every sample, (n, M) int: column i-1 = node id at level i (row-major in its lattice)."""
        return self._encode(X)[1].numpy().astype(np.int64)

    def predict(self, X, level: int = 1) -> np.ndarray:
        """Node id at ``level`` (1 = S_1, the deepest) of every sample, (n,) int."""
        lvl = self._level(level)
        return self.assign(X)[:, lvl - 1]

    def fit_predict(self, X, y=None, **fit_kw) -> np.ndarray:
        """``fit(X, **fit_kw)`` then ``predict(X)`` at level 1."""
        return self.fit(X, y, **fit_kw).predict(X)

    def _level(self, level) -> int:
        self._check_fitted()
        try:
            lvl = operator.index(level)
        except TypeError:
            raise VentgenTypeError(
                f"level must be an integer in 1..{len(self.maps)}, got {level!r}"
            ) from None
        if not 1 <= lvl <= len(self.maps):
            raise VentgenValueError(
                f"level must be in 1..{len(self.maps)} (1 = S_1, the deepest map), got {level}"
            )
        return lvl

    @property
    def tree_(self) -> list[np.ndarray]:
        """The learned tree: ``tree_[i-1][k]`` = parent in level i+1 of node k of level i (M-1 arrays)."""
        self._check_fitted()
        return [p.cpu().numpy().astype(np.int64) for p in self.module_.som.parents()]

    def codebook(self, level: int = 1) -> np.ndarray:
        """Codes of ``level`` as a (K, latent_dim) array (row-major lattice order)."""
        lvl = self._level(level)
        return self.module_.som.level_codes(lvl).detach().cpu().numpy().copy()

    def node_sigma(self, level: int = 1) -> np.ndarray:
        """Per-dimension sigma of every code of ``level``, (K, latent_dim), positive."""
        lvl = self._level(level)
        return self.module_.som.sigma(lvl).cpu().numpy().copy()

    @torch.no_grad()
    def decode(self, Z) -> np.ndarray:
        """Decode latent vectors (n, latent_dim) to samples in ORIGINAL units, (n, *input_shape)."""
        self._check_fitted()
        Z = np.asarray(Z, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            raise VentgenValueError(f"Z must have shape (n, {self.latent_dim}), got {Z.shape}")
        if not np.isfinite(Z).all():
            raise VentgenValueError("Z contains NaN or inf values")
        m = self.module_.eval()
        out = [
            m.decoder(torch.from_numpy(Z[i : i + _CHUNK]).to(self.device_)).cpu()
            for i in range(0, Z.shape[0], _CHUNK)
        ]
        x = torch.cat(out) if out else torch.zeros((0, *self.input_shape_))
        return self._unscale(x)

    def sample(self, level: int, node: int, n: int = 1, random_state=None) -> np.ndarray:
        """Generate ``n`` samples from node ``node`` of ``level``: z ~ N(code, sigma^2 I), decoded.

        Returns (n, *input_shape) in original units.
        """
        lvl = self._level(level)
        K = self.maps[lvl - 1][0] * self.maps[lvl - 1][1]
        try:
            node = operator.index(node)
        except TypeError:
            raise VentgenTypeError(f"node must be an integer, got {node!r}") from None
        if not 0 <= node < K:
            raise VentgenValueError(
                f"node must be in 0..{K - 1} for level {lvl} ({self.maps[lvl - 1]} lattice), got {node}"
            )
        n = _pos_int(n, "n", allow_zero=True)
        rng = check_random_state(random_state)
        code = self.codebook(lvl)[node]
        sigma = self.node_sigma(lvl)[node]
        Z = code[None, :] + sigma[None, :] * rng.standard_normal((n, self.latent_dim))
        return self.decode(Z.astype(np.float32))

    @torch.no_grad()
    def reconstruct(self, X, level: int = 0) -> np.ndarray:
        """Reconstructions in original units: level 0 decodes mu_0, level i >= 1 decodes the code mu_i."""
        mu0, idx = self._encode(X)
        if level == 0:
            Z = mu0.numpy()
        else:
            lvl = self._level(level)
            Z = self.codebook(lvl)[idx[:, lvl - 1].numpy()]
        return self.decode(Z)

    # ================================================================== persistence
    def _params(self) -> dict:
        rs = self.random_state
        return {
            "maps": [list(m) for m in self.maps],
            "latent_dim": self.latent_dim,
            "rho": self.rho,
            "sigma_init": self.sigma_init,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "random_state": int(rs) if isinstance(rs, (int, np.integer)) else None,
            "channels": None if self.channels is None else list(self.channels),
            "kl_weight": self.kl_weight,
            "must_link_weight": self.must_link_weight,
            "must_link_relative": self.must_link_relative,
            "dead_codes": self.dead_codes,
            "hierarchy_weight": self.hierarchy_weight,
            "topology_weight": self.topology_weight,
            "code_lr_scale": self.code_lr_scale,
            "reconstruction_weights": (
                None if self.reconstruction_weights is None else list(self.reconstruction_weights)
            ),
            "mask_padding": self.mask_padding,
            "reconstruction_loss": self.reconstruction_loss,
        }

    def _state(self, trainer=None) -> dict:
        tr = (
            trainer.state_dict()
            if trainer is not None
            else getattr(self, "_trainer_snapshot", None)
        )
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ventgen_version": __version__,
            "params": self._params(),
            "input_shape": list(self.input_shape_),
            "n_samples": int(self.n_samples_),
            "seeds": list(self.seeds_),
            "scaling": {k: v for k, v in self.scaling_.items()},
            "model": {k: v.detach().cpu() for k, v in self.module_.state_dict().items()},
            "history": [
                dict(h) for h in (trainer.history if trainer is not None else self.history_)
            ],
            "trainer": tr,
            "data_sha256": getattr(self, "data_sha256_", None),
        }

    def _write(self, path, overwrite: bool, trainer=None) -> None:
        state = self._state(trainer)
        with atomic_path(path, overwrite=overwrite) as tmp:
            try:
                torch.save(state, tmp)
            except (OSError, RuntimeError) as exc:  # e.g. a full disk; never name the temporary file
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                raise VentgenValueError(f"{path}: cannot write the model file ({reason})") from None

    def save(self, path, overwrite: bool = False) -> None:
        """Write the fitted model to ``path`` (atomic; refuses to replace a file unless ``overwrite``)."""
        self._check_fitted()
        self._write(path, overwrite=overwrite)

    @classmethod
    def load(cls, path, device=None) -> HTVAE:
        """Load a model written by :meth:`save` (or a training checkpoint) onto ``device`` (default auto).

        The file is read with ``torch.load(weights_only=True)`` and every field is checked first (see
        :mod:`ventgen.models.checkpoint`): a malformed or foreign file is one
        :class:`~ventgen.errors.FileFormatError` naming the file and the field.
        """
        ckpt, params = read_checkpoint(path, cls)
        model = cls(**params, device="auto" if device is None else device)
        model.device_ = resolve_device(model.device)
        model._restore(path, ckpt)
        model.module_.to(model.device_).eval()
        model.history_ = [dict(h) for h in ckpt.get("history", [])]
        if ckpt.get("trainer") is not None:
            model._trainer_snapshot = ckpt["trainer"]
        return model

    def _restore(self, path, ckpt: dict) -> None:
        """Fitted attributes and checked weights from a checked checkpoint."""
        self.input_shape_ = tuple(int(s) for s in ckpt["input_shape"])
        self.n_samples_ = int(ckpt["n_samples"])
        self.seeds_ = tuple(int(s) for s in ckpt["seeds"])
        self.scaling_ = scaling_from(ckpt["scaling"])
        self.data_sha256_ = ckpt.get("data_sha256")
        self.module_ = load_weights(
            path, ckpt["model"], lambda: self._build(self.input_shape_, self.seeds_[0])
        )
