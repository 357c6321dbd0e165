"""Observation noise of generated breaths: what the decoder's mean leaves out of a real recording.

The HTVAE's decoder gives the *mean* of ``p(x | z)`` (its squared-error loss is a Gaussian likelihood).
A real recording also carries what no 16-dimensional code reconstructs: sensor noise, cardiogenic
oscillations, the aliased vibration of snoring. Decoded breaths without it are visibly too smooth: a
classifier tells them from real breaths at once, and statistics such as PIP (a maximum) or PEEP (an
end-expiratory level) are biased.

:class:`ObservationNoise` is the Gaussian observation model, fitted to the model's own residuals on the
reference breaths (``real - model.reconstruct(real)``), one model per class:

* an *envelope* ``env[c, t]``: the residual's RMS at sample ``t`` of the cycle (cycles start at
  inspiration, so noise confined to inspiration, like snoring, stays there), estimated from the breaths
  longer than ``t`` and shrunk towards the class-free envelope where few breaths reach ``t``;
* a *spectrum* ``amp[c, f]``: the mean amplitude spectrum of the residual divided by its envelope, so
  that coloured noise (cardiogenic oscillations, aliased vibration) keeps its colour.

A draw is white Gaussian noise (drawn directly as its Fourier coefficients), coloured by ``amp``, scaled
to unit variance (exactly, from the spectrum by Parseval's theorem) and multiplied by ``env``: fully vectorised over breaths, channels and samples.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(0, 1, (200, 2, 32))                      # "real" cycles
>>> R = np.zeros_like(X)                                     # a decoder that only knows the mean (0)
>>> noise = ObservationNoise.fit(X, R, lengths=np.full(200, 32), labels=np.repeat(["a", "b"], 100))
>>> e = noise.sample(np.array(["a", "b", "never seen"]), 32, rng)
>>> e.shape, bool(0.8 < noise.envelope("a").mean() < 1.2)
((3, 2, 32), True)
"""

from __future__ import annotations

import numpy as np

from ..errors import VentgenValueError

__all__ = ["BoundaryBias", "ObservationNoise"]

POOLED = ""  # key of the class-free model


class ObservationNoise:
    """Class-conditional, cycle-phase-dependent, coloured Gaussian noise (see the module notes).

    Use :meth:`fit` (arrays) or :meth:`from_model` (a model and its reference cycles) to build one.

    Attributes
    ----------
    classes : list of str
        Classes with their own model; any other label draws from the class-free model.
    n_per_class : dict
        Reference breaths behind each class's model.
    """

    def __init__(self, envelopes: dict, amplitudes: dict, n_per_class: dict):
        self._env = {str(k): np.asarray(v, dtype=np.float64) for k, v in envelopes.items()}
        self._amp = {str(k): np.asarray(v, dtype=np.float64) for k, v in amplitudes.items()}
        self.n_per_class = {str(k): int(v) for k, v in n_per_class.items()}
        if POOLED not in self._env:
            raise VentgenValueError("ObservationNoise needs the class-free model (key '')")
        self.classes = sorted(k for k in self._env if k != POOLED)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, X, R, lengths, labels=None, *, min_breaths: int = 20, shrinkage: float = 10.0,
            highpass_hz: float = 0.0, sampling_rate: float | None = None):
        """Fit to real cycles ``X`` and their reconstructions ``R``, both (n, C, T).

        Parameters
        ----------
        X, R : array (n, C, T)
            Real cycles and the model's reconstructions of them, in the same units.
        lengths : array (n,)
            Valid samples of each cycle (the rest is padding and ignored).
        labels : array (n,) of str, optional
            Class of each cycle; classes with fewer than ``min_breaths`` cycles (and "") use the
            class-free model.
        min_breaths : int
            Smallest class with its own model.
        shrinkage : float
            Weight, in breaths, of the class-free envelope in each class's envelope at every sample
            (it matters only where few breaths of the class are that long).
        highpass_hz, sampling_rate : float
            Keep only the residual above ``highpass_hz`` (needs the cycles' ``sampling_rate``). The
            residual holds the decoder's own shape errors as well as the recording's noise; the shape
            errors sit mostly at breathing frequencies, so a cut-off of a few Hz keeps the noise and
            leaves the breath shapes to the decoder. 0 (default) keeps the whole residual.
        """
        X = np.asarray(X, dtype=np.float64)
        R = np.asarray(R, dtype=np.float64)
        if X.ndim != 3 or R.shape != X.shape:
            raise VentgenValueError(
                f"ObservationNoise.fit: X and R must be (n, C, T) of one shape, got {X.shape} and {R.shape}"
            )
        n, C, T = X.shape
        L = np.asarray(lengths, dtype=np.int64)
        if L.shape != (n,):
            raise VentgenValueError(f"lengths must have shape ({n},), got {L.shape}")
        if n < 2:
            raise VentgenValueError("ObservationNoise.fit needs at least 2 cycles")
        labels = np.full(n, POOLED, dtype=object) if labels is None else np.asarray(labels).astype(str)
        valid = (np.arange(T)[None, :] < L[:, None]).astype(np.float64)  # (n, T)
        res = (X - R) * valid[:, None, :]
        low = np.zeros(T // 2 + 1, dtype=bool)
        if highpass_hz > 0:
            if sampling_rate is None or not sampling_rate > 0:
                raise VentgenValueError("ObservationNoise.fit: highpass_hz needs the cycles' sampling_rate")
            F = np.fft.rfft(res, axis=2)
            low = np.fft.rfftfreq(T, 1.0 / float(sampling_rate)) < highpass_hz
            F[..., low] = 0.0
            res = np.fft.irfft(F, n=T, axis=2) * valid[:, None, :]

        def moments(sel):
            s2 = (res[sel] ** 2).sum(0)  # (C, T)
            cnt = valid[sel].sum(0)  # (T,)
            return s2, cnt

        s2_all, cnt_all = moments(slice(None))
        env_all = np.sqrt(s2_all / np.maximum(cnt_all, 1.0))
        env_all = _fill_tail(env_all, cnt_all)

        def spectrum(sel, env):
            w = res[sel] / np.where(env > 1e-12, env, 1.0)[None]
            p = (np.abs(np.fft.rfft(w, axis=2)) ** 2).mean(0)  # (C, F)
            p[:, low] = 0.0  # what the cycle mask leaked back below the cut-off: not part of the model
            p = p / np.maximum(p.mean(1, keepdims=True), 1e-300)
            return np.sqrt(p)

        envs, amps, counts = {POOLED: env_all}, {POOLED: spectrum(slice(None), env_all)}, {POOLED: n}
        for c, sel in _class_rows(labels, min_breaths):
            s2, cnt = moments(sel)
            env = np.sqrt((s2 + shrinkage * env_all**2) / (cnt + shrinkage))
            envs[c], amps[c], counts[c] = env, spectrum(sel, env), sel.size
        return cls(envs, amps, counts)

    @classmethod
    def from_model(cls, model, cycles, labels=None, **kwargs):
        """Fit to ``model.reconstruct`` of a CycleSet (its labels unless ``labels`` is given)."""
        X = np.asarray(cycles.X)
        R = np.asarray(model.reconstruct(X))
        lab = cycles.labels if labels is None else labels
        return cls.fit(X, R, cycles.lengths, None if lab is None else np.asarray(lab).astype(str), **kwargs)

    # ------------------------------------------------------------------ access and sampling
    def envelope(self, label: str = POOLED) -> np.ndarray:
        """(C, T) RMS of the noise at each cycle sample for ``label`` (class-free model if unknown)."""
        return self._env.get(str(label), self._env[POOLED])

    def spectrum(self, label: str = POOLED) -> np.ndarray:
        """(C, T // 2 + 1) relative amplitude spectrum (mean square 1) for ``label``."""
        return self._amp.get(str(label), self._amp[POOLED])

    def sample(self, labels, length: int, rng, scale: float = 1.0) -> np.ndarray:
        """Noise for one breath per label: (n, C, length) float32.

        ``length`` may differ from the fitted cycle length T: the envelope is cut or extended with its
        last value, and the spectrum is interpolated onto the new frequency grid.
        """
        labels = np.asarray(labels).astype(str).ravel()
        T = int(length)
        F = T // 2 + 1
        # the rfft of white noise, drawn directly: independent complex Gaussian bins of variance T/2 per
        # part, real-only bins of variance T at 0 Hz and (even T) at Nyquist; one inverse FFT per draw
        binf = np.full((F, 2), np.sqrt(T / 2.0))
        binf[0] = (np.sqrt(T), 0.0)
        if T % 2 == 0:
            binf[-1] = (np.sqrt(T), 0.0)
        keys, inv = np.unique(labels, return_inverse=True)
        C = self._env[POOLED].shape[0]
        # every breath's white noise in breath order, whatever its class: the draws of a breath do not
        # depend on the breaths drawn with it (a batch of generation gives the same noise as its parts)
        white = rng.standard_normal((labels.size, C, F, 2), dtype=np.float32)
        out = np.empty((labels.size, C, T), dtype=np.float32)
        for j, key in enumerate(keys):  # one block per class: broadcasts, no per-breath gathers
            k = key if key in self._env else POOLED
            amp = _resize_amp(self._amp[k], T)
            scl = (_resize_env(self._env[k], T) / _rms_gain(amp, T) * float(scale)).astype(np.float32)
            fac = (amp[:, :, None] * binf[None]).astype(np.float32)  # (C, F, 2); 0 below a high-pass cut-off
            w = white[np.flatnonzero(inv.ravel() == j)] * fac
            y = np.fft.irfft(w.view(np.complex64)[..., 0], n=T, axis=2)
            y *= scl
            out[inv.ravel() == j] = y
        return out

    def to_state(self) -> dict:
        """Plain data (lists and float64 arrays) that :meth:`from_state` turns back into this model."""
        keys = [POOLED, *self.classes]
        return {"keys": keys, "envelope": np.stack([self._env[k] for k in keys]),
                "amplitude": np.stack([self._amp[k] for k in keys]),
                "n_per_class": [self.n_per_class.get(k, 0) for k in keys]}

    @classmethod
    def from_state(cls, d: dict):
        """The model of :meth:`to_state`'s dict (checked by its caller)."""
        keys = list(d["keys"])
        return cls(dict(zip(keys, d["envelope"], strict=True)), dict(zip(keys, d["amplitude"], strict=True)),
                   dict(zip(keys, d["n_per_class"], strict=True)))

    def __repr__(self) -> str:
        return f"ObservationNoise(classes={self.classes}, n_per_class={self.n_per_class})"


class BoundaryBias:
    """The decoder's mean error at the two ends of a breath, and the real step across a join.

    A breath cycle starts at the ventilator's trigger and ends just before the next one. In real
    recordings the last samples of a breath already hold the patient's effort that triggers the next
    breath (flow rising, pressure dipping below PEEP), at a position that moves with the breath's
    length. A decoder that reproduces features at fixed cycle positions smooths such an end-aligned
    feature away, and the breaths it generates end flat: a classifier spots them at once, and the
    stitched signal lacks the trigger. :class:`BoundaryBias` holds, per class, the mean residual
    ``real - reconstruction`` over the first ``width`` samples (aligned to the start) and over the last
    ``width`` samples (aligned to each breath's own end), and the mean step ``first sample of a breath -
    last sample of the breath before it`` over consecutive reference breaths, so that generation can add
    the missing mean and join breaths with the step real breaths have (:meth:`step`) instead of forcing
    them level.

    A breath shorter than ``2 * width`` gives its first half to the start profile and the rest to the
    end profile, in fitting and in :meth:`apply` alike, so no sample is corrected twice.

    Examples
    --------
    >>> import numpy as np
    >>> T, n = 40, 100
    >>> L = np.full(n, 30)
    >>> X = np.zeros((n, 1, T))
    >>> X[:, 0, 27:30] = [1.0, 2.0, 3.0]                       # an end-aligned ramp
    >>> bias = BoundaryBias.fit(X, np.zeros_like(X), L, width=5)  # the decoder misses it
    >>> Y = np.zeros((2, 1, T)); bias.apply(Y, ["", ""], np.array([30, 20]))
    >>> Y[0, 0, 27:30].tolist(), Y[1, 0, 17:20].tolist()
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    """

    def __init__(self, head: dict, tail: dict, steps: dict, n_per_class: dict):
        self._head = {str(k): np.asarray(v, dtype=np.float64) for k, v in head.items()}
        self._tail = {str(k): np.asarray(v, dtype=np.float64) for k, v in tail.items()}
        self._step = {str(k): np.asarray(v, dtype=np.float64) for k, v in steps.items()}
        self.n_per_class = {str(k): int(v) for k, v in n_per_class.items()}
        if POOLED not in self._head:
            raise VentgenValueError("BoundaryBias needs the class-free profiles (key '')")
        self.width = int(self._head[POOLED].shape[1])
        self.classes = sorted(k for k in self._head if k != POOLED)

    @classmethod
    def fit(cls, X, R, lengths, labels=None, *, follows=None, width: int = 10, min_breaths: int = 20,
            shrinkage: float = 10.0):
        """Fit to real cycles ``X`` and their reconstructions ``R``, both (n, C, T).

        Parameters
        ----------
        X, R : array (n, C, T)
            Real cycles and the model's reconstructions of them, in the same units.
        lengths : array (n,)
            Valid samples of each cycle.
        labels : array (n,) of str, optional
            Class of each cycle; classes with fewer than ``min_breaths`` cycles (and "") use the
            class-free profiles.
        follows : array (n - 1,) of bool, optional
            ``follows[i]``: cycle ``i + 1`` starts where cycle ``i`` ends in the same recording. The
            steps across those joins give :meth:`step` (per class of the later breath); without any,
            the step is 0.
        width : int
            Samples at each end (10 at 25 Hz: 0.4 s, the span of a trigger effort).
        shrinkage : float
            Weight, in breaths, of the class-free profile in each class's profile.
        """
        X = np.asarray(X, dtype=np.float64)
        R = np.asarray(R, dtype=np.float64)
        if X.ndim != 3 or R.shape != X.shape:
            raise VentgenValueError(
                f"BoundaryBias.fit: X and R must be (n, C, T) of one shape, got {X.shape} and {R.shape}")
        n, C, T = X.shape
        L = np.asarray(lengths, dtype=np.int64)
        if L.shape != (n,) or n < 2:
            raise VentgenValueError(f"BoundaryBias.fit: needs at least 2 cycles and lengths of shape ({n},), got {L.shape}")
        if np.any(L < 2) or np.any(L > T):
            raise VentgenValueError(f"BoundaryBias.fit: lengths must lie in [2, {T}]")
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise VentgenValueError(f"BoundaryBias.fit: width must be a positive integer, got {width!r}")
        k = int(min(width, T // 2))
        labels = np.full(n, POOLED, dtype=object) if labels is None else np.asarray(labels).astype(str)
        res = X - R
        hpos, hok, tpos, tok = _end_windows(L, k)
        rows = np.arange(n)[:, None]
        head = np.transpose(res[rows, :, hpos], (0, 2, 1)) * hok[:, None, :]  # (n, C, k)
        tail = np.transpose(res[rows, :, tpos], (0, 2, 1)) * tok[:, None, :]
        # step[i]: first sample of cycle i - last sample of the cycle before it (where it follows one)
        step = np.zeros((n, C))
        has_step = np.zeros(n)
        if follows is not None:
            fo = np.asarray(follows, dtype=bool)
            if fo.shape != (n - 1,):
                raise VentgenValueError(f"BoundaryBias.fit: follows must have shape ({n - 1},), got {fo.shape}")
            step[1:] = (X[1:, :, 0] - X[np.arange(n - 1), :, L[:-1] - 1]) * fo[:, None]
            has_step[1:] = fo

        def means(sel, prior=None):
            hs, hc = head[sel].sum(0), hok[sel].sum(0)
            ts, tc = tail[sel].sum(0), tok[sel].sum(0)
            ss, sc = step[sel].sum(0), has_step[sel].sum()
            if prior is None:
                return (hs / np.maximum(hc, 1), ts / np.maximum(tc, 1), ss / max(sc, 1.0))
            s = float(shrinkage)
            return ((hs + s * prior[0]) / (hc + s), (ts + s * prior[1]) / (tc + s), (ss + s * prior[2]) / (sc + s))

        pooled = means(slice(None))
        out = [{POOLED: v} for v in pooled]
        counts = {POOLED: n}
        for c, sel in _class_rows(labels, min_breaths):
            for d, v in zip(out, means(sel, pooled), strict=True):
                d[c] = v
            counts[c] = sel.size
        return cls(*out, counts)

    def _key(self, label) -> str:
        return label if label in self._head else POOLED

    def profiles(self, label: str = POOLED) -> tuple:
        """(head, tail), each (C, width): the mean residual at the start and at the end of a breath."""
        k = self._key(str(label))
        return self._head[k], self._tail[k]

    def apply(self, X, labels, lengths) -> None:
        """Add the start and end profiles to decoded cycles ``X`` (n, C, T) in place.

        ``lengths`` are the lengths the cycles will be cut to; the end profile ends at sample
        ``lengths - 1``.
        """
        labels = np.asarray(labels).astype(str)
        L = np.asarray(lengths, dtype=np.int64)
        n, C, T = X.shape
        if labels.shape != (n,) or L.shape != (n,):
            raise VentgenValueError(f"BoundaryBias.apply: need one label and one length per cycle ({n})")
        if np.any(L < 2) or np.any(L > T):
            raise VentgenValueError(f"BoundaryBias.apply: lengths must lie in [2, {T}]")
        keys, inv = np.unique(labels, return_inverse=True)
        keys = [self._key(k) for k in keys]
        inv = inv.ravel()
        head = np.stack([self._head[k] for k in keys]).astype(X.dtype)[inv]  # (n, C, width)
        tail = np.stack([self._tail[k] for k in keys]).astype(X.dtype)[inv]
        k = min(self.width, T // 2)
        hpos, hok, tpos, tok = _end_windows(L, k)
        hok, tok = hok.astype(X.dtype), tok.astype(X.dtype)
        rows = np.arange(n)[:, None]
        for c in range(C):  # windows never overlap, so fancy-index += is safe (masked entries add 0)
            X[rows, c, hpos] += head[:, c, :k] * hok
            X[rows, c, tpos] += tail[:, c, self.width - k:] * tok

    def step(self, next_labels) -> np.ndarray:
        """(n, C): the mean real step ``first sample of a breath - last sample of the one before``,
        for breaths of the classes ``next_labels``."""
        b = np.asarray(next_labels).astype(str)
        C = self._step[POOLED].size
        out = np.empty(b.shape + (C,))
        for key in np.unique(b):
            out[b == key] = self._step[self._key(key)]
        return out

    def to_state(self) -> dict:
        """Plain data (lists and float64 arrays) that :meth:`from_state` turns back into this model."""
        keys = [POOLED, *self.classes]
        return {"keys": keys, "head": np.stack([self._head[k] for k in keys]),
                "tail": np.stack([self._tail[k] for k in keys]), "step": np.stack([self._step[k] for k in keys]),
                "n_per_class": [self.n_per_class.get(k, 0) for k in keys]}

    @classmethod
    def from_state(cls, d: dict):
        """The model of :meth:`to_state`'s dict (checked by its caller)."""
        keys = list(d["keys"])
        return cls(*(dict(zip(keys, d[f], strict=True)) for f in ("head", "tail", "step")),
                   dict(zip(keys, d["n_per_class"], strict=True)))

    def __repr__(self) -> str:
        return f"BoundaryBias(width={self.width}, classes={self.classes}, n_per_class={self.n_per_class})"


def _class_rows(labels: np.ndarray, min_breaths: int):
    """``(class, row indices)`` of every labelled class with at least ``min_breaths`` rows: the classes
    that get a model of their own (the others use the class-free one)."""
    for c in np.unique(labels):
        sel = np.flatnonzero(labels == c)
        if c != POOLED and sel.size >= min_breaths:
            yield c, sel


def _end_windows(L: np.ndarray, k: int):
    """Sample positions of the start and end windows of breaths of lengths ``L`` and their masks.

    The start window is ``[0, min(k, L // 2))``; the end window the last ``min(k, L - head)`` samples,
    right-aligned in a width-``k`` array (``tpos[:, -1] == L - 1``). Masked positions point at a valid
    sample and carry weight 0.
    """
    j = np.arange(k)[None, :]
    h = np.minimum(k, L // 2)[:, None]
    t = np.minimum(k, L[:, None] - h)
    hok = (j < h).astype(np.float64)
    tok = (j >= k - t).astype(np.float64)
    tpos = np.maximum(L[:, None] - k + j, 0)
    return np.broadcast_to(j, hok.shape), hok, tpos, tok


def _rms_gain(amp: np.ndarray, length: int) -> np.ndarray:
    """(C, 1) standard deviation of ``irfft(rfft(white) * amp)`` (Parseval over the full spectrum)."""
    w = np.full(amp.shape[1], 2.0)
    w[0] = 1.0
    if length % 2 == 0:
        w[-1] = 1.0
    return np.sqrt(np.maximum((w * amp**2).sum(1, keepdims=True) / length, 1e-300))


def _fill_tail(env: np.ndarray, cnt: np.ndarray, min_count: float = 5.0) -> np.ndarray:
    """Where fewer than ``min_count`` breaths reach a sample, repeat the last well-estimated value."""
    ok = np.flatnonzero(cnt >= min_count)
    if ok.size == 0:
        return env
    env = env.copy()
    env[:, ok[-1] + 1 :] = env[:, ok[-1] : ok[-1] + 1]
    return env


def _resize_env(env: np.ndarray, length: int) -> np.ndarray:
    C, T = env.shape
    if length <= T:
        return env[:, :length]
    return np.concatenate([env, np.repeat(env[:, -1:], length - T, axis=1)], axis=1)


def _resize_amp(amp: np.ndarray, length: int) -> np.ndarray:
    F_new = length // 2 + 1
    if amp.shape[1] == F_new:
        return amp
    src = np.linspace(0.0, 1.0, amp.shape[1])
    dst = np.linspace(0.0, 1.0, F_new)
    return np.stack([np.interp(dst, src, a) for a in amp])
