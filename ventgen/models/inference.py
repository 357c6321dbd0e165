"""What a fitted HTVAE answers: encodings, node paths, the learned tree, codebooks, decodings, samples.

:class:`HTVAEInference` is the part of :class:`ventgen.HTVAE` that only reads fitted attributes
(``config_``, ``module_``, ``scaling_``, ``input_shape_``, ``device_``); everything that comes out
(``decode``, ``sample``, ``reconstruct``) is in the original units of the training data.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from .._core import check_random_state
from ..errors import NotFittedError, VentgenTypeError, VentgenValueError
from ..signals.resolution import quantize
from ._checks import _pos_int
from ._inputs import check_X, scale, unscale
from .generator import edge_pad

__all__ = ["HTVAEInference"]

_CHUNK = 2048


class HTVAEInference:
    """Inference methods of :class:`ventgen.HTVAE` (a mixin; see there for the examples)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(X) (or HTVAE.load(path)) first"
            )

    def _check_X(self, X) -> np.ndarray:
        self._check_fitted()
        return check_X(X, self.input_shape_)

    @torch.no_grad()
    def _encode(self, X) -> tuple[torch.Tensor, torch.Tensor]:
        arr = self._check_X(X)
        m = self.module_.eval()
        mus, idxs = [], []
        for i in range(0, arr.shape[0], _CHUNK):
            x = scale(arr[i : i + _CHUNK], self.scaling_).to(self.device_)
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

    def _level(self, level) -> int:
        self._check_fitted()
        n_maps = len(self.config_.maps)
        try:
            lvl = operator.index(level)
        except TypeError:
            raise VentgenTypeError(f"level must be an integer in 1..{n_maps}, got {level!r}") from None
        if not 1 <= lvl <= n_maps:
            raise VentgenValueError(f"level must be in 1..{n_maps} (1 = S_1, the deepest map), got {level}")
        return lvl

    @property
    def maps_(self) -> list[tuple[int, int]]:
        """The lattices of the fitted model, S_1 first (``maps`` as validated)."""
        self._check_fitted()
        return list(self.config_.maps)

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
        d = self.config_.latent_dim
        Z = np.asarray(Z, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[1] != d:
            raise VentgenValueError(f"Z must have shape (n, {d}), got {Z.shape}")
        if not np.isfinite(Z).all():
            raise VentgenValueError("Z contains NaN or inf values")
        m = self.module_.eval()
        out = [
            m.decoder(torch.from_numpy(Z[i : i + _CHUNK]).to(self.device_)).cpu()
            for i in range(0, Z.shape[0], _CHUNK)
        ]
        x = torch.cat(out) if out else torch.zeros((0, *self.input_shape_))
        return unscale(x, self.scaling_)

    def sample(self, level: int, node: int, n: int = 1, random_state=None) -> np.ndarray:
        """Generate ``n`` samples from node ``node`` of ``level``: latents from :meth:`sample_latents`, decoded.

        Returns (n, *input_shape) in original units.
        """
        return self.decode(self.sample_latents(level, node, n, random_state))

    def sample_latents(self, level: int, node: int, n: int = 1, random_state=None) -> np.ndarray:
        """``n`` latents (n, latent_dim) from node ``node`` of ``level``: z ~ N(code, sigma^2 I) (the paper),
        or, with Gaussian codes (``covariance="full"`` or ``"diagonal"``), z ~ N(code, the code's covariance)."""
        lvl = self._level(level)
        h, w = self.config_.maps[lvl - 1]
        try:
            node = operator.index(node)
        except TypeError:
            raise VentgenTypeError(f"node must be an integer, got {node!r}") from None
        if not 0 <= node < h * w:
            raise VentgenValueError(
                f"node must be in 0..{h * w - 1} for level {lvl} ({(h, w)} lattice), got {node}"
            )
        n = _pos_int(n, "n", allow_zero=True)
        rng = check_random_state(random_state)
        code = self.codebook(lvl)[node]
        eps = rng.standard_normal((n, self.config_.latent_dim))
        som = self.module_.som
        if getattr(som, "gaussian", False):
            with torch.no_grad():
                L = som.scale_tril(lvl)[node].cpu().double().numpy()
            Z = code[None, :] + eps @ L.T
        else:
            Z = code[None, :] + self.node_sigma(lvl)[node][None, :] * eps
        return Z.astype(np.float32)

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

    def generate_cycles(self, Z, lengths, random_state=None, noise=None, steps=None, labels=None,
                        calibrate: bool = True) -> np.ndarray:
        """Breath cycles for latents ``Z`` (n, latent_dim) and ``lengths`` (n,) samples, in original units.

        With a flow generator (``generator="flow"``, :attr:`generator_`) each cycle is sampled from the
        learned ``p(x | z, length)``: it has the given length (edge-padded after it, like a CycleSet's
        cycles) and the sharp edges and noise of real breaths. Without one, the decoder's means, edge
        padded at the lengths.

        Parameters
        ----------
        Z : array (n, latent_dim)
        lengths : array (n,) of int
            Samples of each breath, 1..T.
        random_state : None, int or numpy Generator
            Draws the generator's starting noise (ignored when ``noise`` is given).
        noise : array (n, C, T), optional
            The starting noise itself (standard normal), e.g. drawn per breath by the caller.
        steps : int, optional
            Midpoint steps of the sampler (default ``config_.generator_sample_steps``), on the time grid
            of ``config_.generator_time_power``.
        labels : array (n,) of str, optional
            The class of each breath, for the generator's marginal map (``generator_.marginals``, fitted
            at the end of training; :mod:`ventgen.models.marginals`): each breath's samples are mapped to
            the real marginals of its class (None or an unknown class: of all classes pooled).
        calibrate : bool
            Apply the marginal map and round every channel to the training cycles' recording resolution
            (``generator_.resolution``, the step their values come in: 0.01 for two-decimal PB-840
            files) (default); False gives the flow generator's breaths as sampled.

        Returns
        -------
        array (n, C, T) float32
        """
        decoded = self.decode(Z)
        n, T = decoded.shape[0], decoded.shape[-1]
        lengths = np.asarray(lengths)
        if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer) or (
                n and (lengths.min() < 1 or lengths.max() > T)):
            raise VentgenValueError(f"lengths must be {n} integers in 1..{T}, got shape {lengths.shape}")
        gen = getattr(self, "generator_", None)
        if gen is None:
            return edge_pad(decoded.astype(np.float32), lengths)
        if noise is None:
            noise = check_random_state(random_state).standard_normal(decoded.shape, dtype=np.float32)
        elif np.shape(noise) != decoded.shape:
            raise VentgenValueError(f"noise must have shape {decoded.shape}, got {np.shape(noise)}")
        steps = self.config_.generator_sample_steps if steps is None else _pos_int(steps, "steps", high=1024)
        out = gen.sample(np.asarray(Z, np.float32), decoded, lengths, noise, steps=steps,
                         time_power=self.config_.generator_time_power)
        if calibrate and gen.marginals is not None:
            if labels is not None and np.shape(labels) != (n,):
                raise VentgenValueError(f"labels must be {n} class names, got shape {np.shape(labels)}")
            out = gen.marginals.apply(out, lengths, labels)
        if calibrate and gen.resolution.any():
            out = quantize(out, gen.resolution)
        return out
