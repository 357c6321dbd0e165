"""Baselines of the paper, built on the HTVAE's own encoder/decoder: SOM-VAE and a plain VAE.

* :class:`SOMVAE` (Fortuin et al., 2019): a deterministic auto-encoder with one self-organising map
  of ``h x w`` codes in its latent space. Loss per sample:
  ``||x - x_e||^2 + ||x - x_q||^2 + alpha ||z_e - z_q||^2 + beta sum_{e in N(z_q)} ||sg(z_e) - e||^2``
  with ``x_e = dec(z_e)``, ``x_q = dec(z_q)`` (gradients copied from ``z_q`` to ``z_e``) and
  ``N(z_q)`` the winning code and its 4-connected lattice neighbours.
* :class:`VAE`: a Gaussian-posterior VAE (Bernoulli or squared-error likelihood) whose latent means
  feed :class:`ventgen.evaluate.clustering.HierarchicalKMeans` / :class:`~ventgen.evaluate.clustering.RecursiveGMM`
  (the paper's VAE-HKM and VAE-RGMM).

Both use :func:`ventgen.models.networks.build_encoder` / ``build_decoder`` (the encoder's mean is
``z_e`` for the SOM-VAE), the paper's optimiser (Adam, lr 5e-4, batch 32, 20 epochs by default, from
:mod:`ventgen.models.config`), the one training loop of :mod:`ventgen.models.loop`, and the scikit-learn
contract (``__init__`` only stores, ``fit`` checks, ``clone`` works, unfitted use raises
:class:`~ventgen.errors.NotFittedError`). Inputs are arrays ``(n, C, T)`` / ``(n, C, H, W)``, CycleSets or ImageDatasets
(anything with an ``X`` attribute); each channel is min-max scaled to [0, 1] with statistics stored at
``fit`` (images already in [0, 1] pass unchanged).

Examples
--------
>>> import numpy as np
>>> from ventgen.models.baselines import SOMVAE
>>> X = np.random.default_rng(0).random((64, 1, 8, 8)).astype("float32")
>>> som = SOMVAE(map_shape=(2, 2), latent_dim=4, epochs=1, random_state=0).fit(X)
>>> som.predict(X).shape, som.codebook_.shape
((64,), (4, 4))
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_scalar
from torch import nn

from .._core import check_random_state
from ..errors import NotFittedError, VentgenTypeError, VentgenValueError
from .config import SOMVAEConfig, VAEConfig
from .loop import Step, TrainingLoop
from .networks import build_decoder, build_encoder

__all__ = ["VAE", "SOMVAE"]


def _as_array(X) -> np.ndarray:
    X = getattr(X, "X", X)
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if not isinstance(X, np.ndarray):
        raise VentgenTypeError(
            f"X must be an array (n, C, T) or (n, C, H, W), a CycleSet or an ImageDataset, got {type(X).__name__}"
        )
    if X.ndim not in (3, 4):
        raise VentgenValueError(f"X must be (n, C, T) or (n, C, H, W), got shape {X.shape}")
    if X.shape[0] == 0:
        raise VentgenValueError("X has no samples")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise VentgenValueError(f"X contains {int((~np.isfinite(X)).sum())} NaN or infinite values")
    return X


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check(value, name: str, target_type, **bounds):
    """``sklearn.utils.validation.check_scalar`` with ventgen's error types."""
    try:
        return check_scalar(value, name, target_type, **bounds)
    except TypeError as exc:
        raise VentgenTypeError(str(exc)) from None
    except ValueError as exc:
        raise VentgenValueError(str(exc)) from None


class _BatchStep(Step):
    """The one training loop's step for a baseline: its ``_loss`` on a batch of the scaled data."""

    def __init__(self, estimator, data: torch.Tensor, gen: torch.Generator):
        self.estimator, self.data, self.gen = estimator, data, gen
        self.module = nn.ModuleList([estimator.encoder_, estimator.decoder_])
        self.terms = estimator._terms

    def __call__(self, sel: torch.Tensor) -> dict:
        loss, parts = self.estimator._loss(self.data[sel], self.gen)
        return {**parts, "loss": loss}


class _AutoEncoderBase(BaseEstimator):
    """Shared checks, scaling, batching and training of the baselines."""

    _terms: tuple[str, ...] = ("loss",)

    # scaling -------------------------------------------------------------
    def _fit_scaler(self, X: np.ndarray) -> None:
        axes = (0,) + tuple(range(2, X.ndim))
        lo = X.min(axis=axes, keepdims=True)
        hi = X.max(axis=axes, keepdims=True)
        self.data_min_ = lo[0]
        self.data_range_ = np.where(hi - lo > 0, hi - lo, 1.0)[0].astype(np.float32)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.data_min_) / self.data_range_).astype(np.float32)

    def _check_fitted(self):
        if not hasattr(self, "encoder_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def _check_shape(self, X):
        if tuple(X.shape[1:]) != tuple(self.input_shape_):
            raise VentgenValueError(
                f"X has sample shape {tuple(X.shape[1:])}, the model was fitted on {tuple(self.input_shape_)}"
            )

    # training ------------------------------------------------------------
    def _build(self, input_shape, gen: torch.Generator) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(
        self, x: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict]:  # pragma: no cover
        raise NotImplementedError

    def _params(self):
        return list(self.encoder_.parameters()) + list(self.decoder_.parameters())

    def _check_params(self) -> None:
        for name in ("epochs", "batch_size", "latent_dim"):
            _check(getattr(self, name), name, numbers.Integral, min_val=1)
        _check(self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither")

    def fit(self, X, y=None):
        """Train on ``X`` for ``epochs`` epochs of Adam; returns self. ``history_`` holds per-epoch losses."""
        self._check_params()
        X = _as_array(X)
        rng = check_random_state(self.random_state)
        dev = _device(self.device)
        self.device_ = dev
        self.input_shape_ = tuple(X.shape[1:])
        self._fit_scaler(X)
        data = torch.from_numpy(self._scale(X)).to(dev)
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**63 - 1)))  # network init only; global state restored
            self._build(self.input_shape_, gen)
        opt = torch.optim.Adam(self._params(), lr=self.lr)
        loop = TrainingLoop(_BatchStep(self, data, gen), data.shape[0], opt, batch_size=self.batch_size,
                            generator=gen, device=dev, progress=self.progress)
        self.history_ = loop.fit(self.epochs)
        self.train_time_s_ = float(sum(h["time_s"] for h in self.history_))
        return self

    @torch.no_grad()
    def _encode(self, X, batch: int = 1024) -> torch.Tensor:
        self._check_fitted()
        X = _as_array(X)
        self._check_shape(X)
        Xs = self._scale(X)
        out = []
        for s in range(0, Xs.shape[0], batch):
            mu, _ = self.encoder_(torch.from_numpy(Xs[s : s + batch]).to(self.device_))
            out.append(mu)
        return torch.cat(out)

    def transform(self, X) -> np.ndarray:
        """Latent vectors ``(n, latent_dim)`` (the encoder's mean)."""
        return self._encode(X).cpu().numpy()

    @torch.no_grad()
    def decode(self, Z) -> np.ndarray:
        """Decode latent vectors into the original units of the training data."""
        self._check_fitted()
        z = torch.as_tensor(np.asarray(Z, dtype=np.float32), device=self.device_)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise VentgenValueError(f"Z must be (n, {self.latent_dim}), got shape {tuple(z.shape)}")
        x = self.decoder_(z).cpu().numpy()
        return x * self.data_range_ + self.data_min_

    def reconstruct(self, X) -> np.ndarray:
        """Encode then decode ``X`` (original units)."""
        return self.decode(self.transform(X))


class VAE(_AutoEncoderBase):
    """A plain VAE on the HTVAE's encoder/decoder; its latent means feed the hierarchical clusterings.

    Parameters
    ----------
    latent_dim : int
    likelihood : {"bernoulli", "gaussian"}
        Reconstruction term: binary cross-entropy (the usual MNIST VAE) or squared error.
    beta : float
        Weight of the KL term.
    lr, batch_size, epochs : the paper's protocol by default (5e-4, 32, 20).
    channels : tuple, optional
        Conv widths passed to the network builders.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
    random_state : None, int or Generator
    progress : bool, optional

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((40, 2, 16)).astype("float32") * 30  # e.g. flow in L/min
    >>> vae = VAE(latent_dim=3, epochs=2, random_state=0).fit(X)
    >>> vae.transform(X).shape, vae.reconstruct(X).shape, len(vae.history_)
    ((40, 3), (40, 2, 16), 2)
    """

    _terms = ("loss", "rec", "kl")

    def __init__(
        self,
        latent_dim: int = VAEConfig.latent_dim,
        likelihood: str = VAEConfig.likelihood,
        beta: float = VAEConfig.beta,
        lr: float = VAEConfig.lr,
        batch_size: int = VAEConfig.batch_size,
        epochs: int = VAEConfig.epochs,
        channels=None,
        device: str = "auto",
        random_state=None,
        progress: bool | None = None,
    ):
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.beta = beta
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.channels = channels
        self.device = device
        self.random_state = random_state
        self.progress = progress

    def _check_params(self) -> None:
        super()._check_params()
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise VentgenValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {self.likelihood!r}")

    def _build(self, input_shape, gen):
        self.encoder_ = build_encoder(input_shape, self.latent_dim, channels=self.channels).to(
            self.device_
        )
        self.decoder_ = build_decoder(input_shape, self.latent_dim, channels=self.channels).to(
            self.device_
        )

    def _loss(self, x, gen):
        mu, logvar = self.encoder_(x)
        eps = torch.randn(mu.shape, generator=gen).to(mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        xr = self.decoder_(z)
        dims = tuple(range(1, x.ndim))
        if self.likelihood == "bernoulli":
            rec = nn.functional.binary_cross_entropy(
                xr.clamp(1e-6, 1 - 1e-6), x, reduction="none"
            ).sum(dims)
        else:
            rec = ((xr - x) ** 2).sum(dims)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(1)
        loss = (rec + self.beta * kl).mean()
        return loss, {"loss": loss.detach(), "rec": rec.mean().detach(), "kl": kl.mean().detach()}


class SOMVAE(_AutoEncoderBase):
    """SOM-VAE (Fortuin et al., 2019): one non-probabilistic self-organising map in the latent space.

    Parameters
    ----------
    map_shape : (h, w)
        Lattice of codes (8 x 8 = the HTVAE's level 1 by default).
    latent_dim : int
    alpha : float
        Weight of the commitment term ``||z_e - z_q||^2`` (trains encoder and codes).
    beta : float
        Weight of the SOM term pulling the winner and its lattice neighbours towards ``sg(z_e)``.
    code_init_std : float
        Codes start from N(0, code_init_std^2).
    lr, batch_size, epochs, channels, device, random_state, progress : as :class:`VAE`.

    Attributes
    ----------
    codebook_ : (h*w, latent_dim) ndarray
    maps : list with one (h, w); ``tree_`` is empty (a single level under the root).
    """

    _terms = ("loss", "rec", "commit", "som")

    def __init__(
        self,
        map_shape=SOMVAEConfig.map_shape,
        latent_dim: int = SOMVAEConfig.latent_dim,
        alpha: float = SOMVAEConfig.alpha,
        beta: float = SOMVAEConfig.beta,
        code_init_std: float = SOMVAEConfig.code_init_std,
        lr: float = SOMVAEConfig.lr,
        batch_size: int = SOMVAEConfig.batch_size,
        epochs: int = SOMVAEConfig.epochs,
        channels=None,
        device: str = "auto",
        random_state=None,
        progress: bool | None = None,
    ):
        self.map_shape = map_shape
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.beta = beta
        self.code_init_std = code_init_std
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.channels = channels
        self.device = device
        self.random_state = random_state
        self.progress = progress

    def _check_params(self) -> None:
        super()._check_params()
        try:
            h, w = (int(v) for v in self.map_shape)
        except (TypeError, ValueError):
            raise VentgenValueError(f"map_shape must be (h, w), got {self.map_shape!r}") from None
        if h < 1 or w < 1:
            raise VentgenValueError(f"map_shape must be positive, got {self.map_shape!r}")

    def _build(self, input_shape, gen):
        h, w = (int(v) for v in self.map_shape)
        self.h_, self.w_ = h, w
        self.encoder_ = build_encoder(input_shape, self.latent_dim, channels=self.channels).to(
            self.device_
        )
        self.decoder_ = build_decoder(input_shape, self.latent_dim, channels=self.channels).to(
            self.device_
        )
        codes = torch.randn(h * w, self.latent_dim, generator=gen) * self.code_init_std
        self.codes_ = nn.Parameter(codes.to(self.device_))
        # neighbour table (K, 5): self, up, down, left, right; -1 where the lattice ends
        r, c = np.divmod(np.arange(h * w), w)
        nb = [np.arange(h * w)]
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            nb.append(np.where(ok, rr * w + cc, -1))
        self._nb = torch.as_tensor(np.stack(nb, 1), device=self.device_)

    def _params(self):
        return super()._params() + [self.codes_]

    def _nearest(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cdist(z, self.codes_.detach()).argmin(1)

    def _loss(self, x, gen):
        z_e, _ = self.encoder_(x)
        k = self._nearest(z_e)
        z_q = self.codes_[k]
        z_st = z_e + (z_q - z_e).detach()  # gradient copying from z_q to z_e
        xr = self.decoder_(torch.cat([z_e, z_st]))
        x_e, x_q = xr.chunk(2)
        dims = tuple(range(1, x.ndim))
        rec = ((x_e - x) ** 2).sum(dims) + ((x_q - x) ** 2).sum(dims)
        commit = ((z_e - z_q) ** 2).sum(1)
        nb = self._nb[k]  # (B, 5)
        valid = (nb >= 0).to(z_e.dtype)
        e = self.codes_[nb.clamp(min=0)]  # (B, 5, d)
        som = (((e - z_e.detach()[:, None]) ** 2).sum(2) * valid).sum(1)
        loss = (rec + self.alpha * commit + self.beta * som).mean()
        return loss, {
            "loss": loss.detach(),
            "rec": rec.mean().detach(),
            "commit": commit.mean().detach(),
            "som": som.mean().detach(),
        }

    def fit(self, X, y=None):
        super().fit(X, y)
        self.codebook_ = self.codes_.detach().cpu().numpy().copy()
        return self

    def predict(self, X, level: int = 1) -> np.ndarray:
        """Index (row-major in the h x w lattice) of the nearest code of each sample."""
        if level != 1:
            raise VentgenValueError(f"a SOM-VAE has one level; got level={level}")
        z = self._encode(X)
        return self._nearest(z).cpu().numpy().astype(np.int64)

    def assign(self, X) -> np.ndarray:
        """(n, 1) node ids (the HTVAE's ``assign`` layout with one level)."""
        return self.predict(X)[:, None]

    @property
    def maps(self) -> list:
        return [tuple(int(v) for v in self.map_shape)]

    @property
    def maps_(self) -> list:
        """The one lattice of the fitted model, as ``HTVAE.maps_``."""
        self._check_fitted()
        return self.maps

    @property
    def tree_(self) -> list:
        return []
