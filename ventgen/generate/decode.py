"""Decoding the latents in batches, with the observation model, cutting and stitching.

Each batch is turned into cycles by one of three decoders, all called as ``f(Z, comp, lengths, start)``
(``start`` = index of the batch's first breath in the patient; every patient is decoded on its own,
from its own random stream, see :mod:`~ventgen.generate.plan`):

* ``"flow"``: the model's flow generator (``model.generate_cycles``), which samples each breath at its
  length from the learned ``p(x | z, length)`` (:class:`FlowDecoder`); the default when the model has one;
* ``"exact"``: the decoder's mean, ``model.decode``;
* ``"linear"``: the linearised decoder (each component's center decoded once plus ``2 d`` secant
  points, every breath ``decode(center) + J (z - center)``).

Then every cycle is cut to its length, gets (if asked) the decoder's mean error at its two ends
(:class:`~ventgen.generate.observation.BoundaryBias`) and observation noise
(:class:`~ventgen.generate.observation.ObservationNoise`), and is stitched to its neighbours
(:func:`~ventgen.generate.stitching.stitch_batch`). One breath more than the batch is decoded: its
first sample closes the batch's last join, and its noise (observation noise, or the flow generator's
starting noise) is carried to the next batch, so that every breath is drawn once and the batch size
does not change the breaths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .._core import progress
from ..errors import VentgenValueError
from .observation import BoundaryBias, ObservationNoise
from .reference import Encoded, Reference
from .stitching import TAPER_S, join_masks, stitch_batch

__all__ = ["DECODERS", "NOISE_MODELS", "NOISE_HIGHPASS_HZ", "BOUNDARY_MODELS", "Observation", "observation_models", "fit_observation",
           "linear_decoder", "LinearDecoder", "exact_decoder", "FlowDecoder",
           "decode_breaths", "cut_padding"]

DECODERS = ("auto", "flow", "exact", "linear")
#: Observation noise added to the decoded breaths: fitted to the model's residuals, or none.
NOISE_MODELS = ("auto", "residual", "none")
#: Whether the decoder's mean error at the ends of a breath is corrected (see BoundaryBias).
BOUNDARY_MODELS = ("auto", "residual", "step", "none", "raw")
#: Default cut-off (Hz) of the observation noise: the residual above it is noise (see GenerationOptions).
NOISE_HIGHPASS_HZ = 4.0
#: Seconds at each end of a breath over which the boundary bias is fitted.
BOUNDARY_WIDTH_S = 0.4


@dataclass
class Observation:
    """What is added to the decoder's means: noise (and its generator), boundary bias, join steps."""

    noise: ObservationNoise | None
    bias: BoundaryBias | None
    noise_rng: np.random.Generator | None
    steps: np.ndarray | None  # (N, 2): row i, the step across the join after breath i; None: joins as generated


def observation_models(ref: Reference, enc: Encoded, noise: str, highpass_hz: float, boundary: str) -> tuple:
    """(ObservationNoise or None, BoundaryBias or None, join steps or None): fitted, as asked, to the
    model's residuals on the reference breaths (flow and pressure channels). The join steps are a
    :class:`BoundaryBias` read for its :meth:`~BoundaryBias.step` only (``boundary="step"``: the
    reference's mean step across a join, with no correction of the breaths' ends)."""
    obs = bias = stepper = None
    if noise == "none" and boundary in ("none", "raw"):
        return obs, bias, stepper
    chans = [ref.flow_channel, ref.pressure_channel]
    Xr = ref.X[:, chans]
    Rr = enc.recon[:, chans] if "residual" in (noise, boundary) else Xr  # the steps alone need no residual
    if noise == "residual":
        obs = ObservationNoise.fit(Xr, Rr, ref.lengths, ref.labels, highpass_hz=float(highpass_hz),
                                   sampling_rate=ref.sampling_rate)
    if boundary in ("residual", "step"):
        stepper = BoundaryBias.fit(Xr, Rr, ref.lengths, ref.labels,
                                   width=max(1, int(round(BOUNDARY_WIDTH_S * ref.sampling_rate))), follows=ref.follows)
        bias = stepper if boundary == "residual" else None
    return obs, bias, stepper


def fit_observation(models: tuple, labels: np.ndarray, noise_rng: np.random.Generator | None,
                    joins: bool = True) -> Observation:
    """The :class:`Observation` of the breaths ``labels`` (one patient's) from ``(noise model, boundary
    model, join steps)`` (each None when not asked): the noise drawn from ``noise_rng``, the joins with
    their real mean steps (0 without join steps: consecutive breaths meet); ``joins=False``
    (``boundary="raw"``): the joins stay as the breaths were generated."""
    obs, bias, stepper = models
    steps = np.zeros((labels.size, 2)) if joins else None
    if stepper is not None and joins:
        steps[:-1] = stepper.step(labels[1:])
    return Observation(obs, bias, None if obs is None else noise_rng, steps)


def cut_padding(X: np.ndarray, lo: np.ndarray, hi: np.ndarray, flow_ch: int) -> np.ndarray:
    """Length read from the decoded flow: last sample that still differs from the flat tail."""
    f = X[:, flow_ch, :]
    amp = f.max(axis=1) - f.min(axis=1)
    dev = np.abs(f - f[:, -1:]) > 0.02 * amp[:, None] + 1e-6
    T = f.shape[1]
    last = T - 1 - np.argmax(dev[:, ::-1], axis=1)
    L = np.where(dev.any(axis=1), last + 2, T)
    return np.clip(L, lo, hi)


def exact_decoder(model):
    """``f(Z, comp, lengths, start)``: the decoder's means, ``model.decode(Z)``."""
    return lambda Z, comp, lengths, start: model.decode(Z)


class FlowDecoder:
    """``f(Z, comp, lengths, start)``: breaths sampled by the model's flow generator at their lengths,
    mapped onto the real marginals of their classes (``labels[start:]``) when the model holds a marginal
    map and ``calibrate``.

    The starting noise of breath ``i`` is drawn once from ``rng`` (the patient's), in recording order: the
    extra breath a batch decodes keeps its noise for the next batch, so batches do not change the breaths.
    """

    def __init__(self, model, rng: np.random.Generator, steps: int | None = None, labels=None, calibrate: bool = True):
        self.model, self.rng, self.steps = model, rng, steps
        self.labels, self.calibrate = labels, bool(calibrate)  # labels: of the breaths ``start`` indexes
        self._carried = None  # (index, noise) of the last breath decoded

    def __call__(self, Z, comp, lengths, start):
        shape = (len(Z), *self.model.input_shape_)
        noise = np.empty(shape, dtype=np.float32)
        k = 1 if self._carried is not None and self._carried[0] == start and len(Z) else 0
        if k:
            noise[0] = self._carried[1]
        noise[k:] = self.rng.standard_normal((shape[0] - k, *shape[1:]), dtype=np.float32)
        if len(Z):
            self._carried = (start + len(Z) - 1, noise[-1].copy())
        lengths = np.clip(np.asarray(lengths, dtype=np.int64), 2, shape[-1])
        labels = None if self.labels is None else np.asarray(self.labels)[start:start + len(Z)]
        return self.model.generate_cycles(Z, lengths, noise=noise, steps=self.steps, labels=labels,
                                          calibrate=self.calibrate)


class LinearDecoder:
    """``f(Z, comp, lengths, start)``: decode(code_g) + J_g (z - code_g) for the breaths of component
    ``g = comp``, J_g from secants at +-sigma along each latent axis (one model call, when built).

    Plain arrays once built: it travels to Dask workers as it is (no model needed there).
    """

    def __init__(self, model, codes: np.ndarray, sigmas: np.ndarray, used: np.ndarray):
        d = codes.shape[1]
        eye = np.eye(d)
        pts = []
        for g in used:
            c, h = codes[g], np.maximum(sigmas[g], 1e-6)
            pts.append(np.concatenate([c[None], c + h[:, None] * eye, c - h[:, None] * eye]))
        out = np.asarray(model.decode(np.concatenate(pts).astype(np.float32)), dtype=np.float64)
        self.shape = out.shape[1:]
        out = out.reshape(len(used), 2 * d + 1, -1)
        self.base = {int(g): out[i, 0].astype(np.float32) for i, g in enumerate(used)}
        self.jac = {int(g): ((out[i, 1:d + 1] - out[i, d + 1:]) / (2 * np.maximum(sigmas[g], 1e-6))[:, None])
                    .astype(np.float32) for i, g in enumerate(used)}
        self.codes = codes.astype(np.float32)

    def __call__(self, Z, g, lengths=None, start=None):
        C, T = self.shape
        order = np.argsort(g, kind="stable")
        gs, Zs = g[order], Z[order]
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(gs)) + 1, [len(gs)]))
        Y = np.empty((len(Z), C * T), dtype=np.float32)
        with threadpool_limits(1, user_api="blas"):  # many small GEMMs: thread start-up would cost 10x the work
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                k = int(gs[a])
                np.matmul(Zs[a:b] - self.codes[k], self.jac[k], out=Y[a:b])
                Y[a:b] += self.base[k]
        X = np.empty_like(Y)
        X[order] = Y
        return X.reshape(len(Z), C, T)


def linear_decoder(model, codes: np.ndarray, sigmas: np.ndarray, used: np.ndarray) -> LinearDecoder:
    """The :class:`LinearDecoder` of the components ``used`` (their latent ``codes`` and ``sigmas``)."""
    return LinearDecoder(model, codes, sigmas, used)


def _decode(decode, Z: np.ndarray, comp: np.ndarray, lens: np.ndarray, start: int, C: int, chans: list) -> np.ndarray:
    """(b, 2, T) float32 flow and pressure of one batch of latents, the decoder's output checked."""
    Xd = np.asarray(decode(Z, comp, lens, start), dtype=np.float32)
    if Xd.ndim != 3 or Xd.shape[0] != len(Z) or Xd.shape[2] < 2 or Xd.shape[1] < C:
        raise VentgenValueError(f"model.decode returned shape {Xd.shape}, expected ({len(Z)}, {C}, time)")
    return Xd[:, chans, :]


def decode_breaths(decode, Z: np.ndarray, comp: np.ndarray, lens: np.ndarray, patient: np.ndarray,
                   labels: np.ndarray, ref: Reference, obs: Observation, *, bounds=None, batch_size: int = 8192,
                   progress_bar: bool | None = None) -> tuple:
    """The continuous (flow, pressure) of the breaths (one patient's, or several patients' one after
    the other, never joined across patients); ``lens`` is updated in place
    with the length every breath was cut to. ``decode`` is ``f(Z, comp, lengths, start)`` (see the module
    notes). ``bounds`` = (lo, hi) per breath reads the lengths from the decoded padding
    (``length_method="padding"``; the lengths passed to ``decode`` are then only the drawn ones)."""
    N, C = Z.shape[0], ref.n_channels
    chans = [ref.flow_channel, ref.pressure_channel]
    first, last = join_masks(patient)
    taper = max(1, int(round(TAPER_S * ref.sampling_rate)))  # samples over which a join correction fades
    pieces_f, pieces_p = [], []
    prev_e = None  # last sample (flow, pressure) of the breath before the batch
    carried = None  # noise of the batch's first breath, drawn with the previous batch (its extra breath)
    for b0 in progress(range(0, N, batch_size), enabled=progress_bar, desc="decoding breaths"):
        b1 = min(N, b0 + batch_size)
        ext = min(N, b1 + 1)  # one breath more: its first sample closes this batch's last join
        Xd = _decode(decode, Z[b0:ext], comp[b0:ext], lens[b0:ext], b0, C, chans)
        if bounds is not None:  # the extra breath keeps the length its own batch will give it
            k0 = 0 if b0 == 0 else 1
            lens[b0 + k0:ext] = cut_padding(Xd[k0:], bounds[0][b0 + k0:ext], bounds[1][b0 + k0:ext], 0)
        L = np.clip(lens[b0:ext], 2, Xd.shape[2])
        lens[b0:ext] = L
        if obs.bias is not None:
            obs.bias.apply(Xd, labels[b0:ext], L)
        if obs.noise is not None:
            eps = obs.noise.sample(labels[b0 + (carried is not None):ext], Xd.shape[2], obs.noise_rng)
            if carried is not None:
                eps = np.concatenate([carried[None], eps])
            Xd += eps
            carried = eps[-1] if ext > b1 else None
        L = L[: b1 - b0]
        if obs.steps is not None:  # boundary="raw": every breath as generated, its first sample included
            prev_e = stitch_batch(Xd, L, first[b0:b1], last[b0:b1], prev_e, taper, obs.steps[b0:b1],
                                  obs.steps[b0 - 1] if b0 > 0 else None)
        mask = np.arange(Xd.shape[2])[None, :] < L[:, None]
        pieces_f.append(Xd[: b1 - b0, 0, :][mask])
        pieces_p.append(Xd[: b1 - b0, 1, :][mask])
    return np.concatenate(pieces_f), np.concatenate(pieces_p)
