"""Observation noise fitted to reconstruction residuals (ventgen.generate.observation)."""

from __future__ import annotations

import numpy as np
import pytest
from _cohort_double import DoubleModel, make_reference

from ventgen.errors import VentgenTypeError, VentgenValueError
from ventgen.generate import GenerationOptions, generate_cohort
from ventgen.generate.observation import BoundaryBias, ObservationNoise

T = 64


def _ar1(rng, shape, phi):
    e = rng.standard_normal(shape)
    y = np.empty(shape)
    y[..., 0] = e[..., 0]
    for t in range(1, shape[-1]):  # a short loop over time steps of a test fixture, not a signal path
        y[..., t] = phi * y[..., t - 1] + np.sqrt(1 - phi**2) * e[..., t]
    return y


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n = 400
    R = rng.normal(0, 5, (n, 2, T))  # "reconstructions": anything; only X - R matters
    labels = np.repeat(["white", "gated"], n // 2)
    noise = np.empty((n, 2, T))
    noise[: n // 2] = 2.0 * rng.standard_normal((n // 2, 2, T))          # white, RMS 2 everywhere
    gated = 3.0 * _ar1(rng, (n // 2, 2, T), 0.9)                          # coloured, RMS 3 ...
    gated[:, :, : T // 2] = 0.0                                           # ... only in the second half
    noise[n // 2 :] = gated
    return ObservationNoise.fit(R + noise, R, np.full(n, T), labels, shrinkage=0.0), rng


def test_envelope_is_the_residual_rms_per_class_and_sample(fitted):
    obs, _ = fitted
    assert obs.classes == ["gated", "white"]
    w, g = obs.envelope("white"), obs.envelope("gated")
    assert w.shape == (2, T)
    assert np.allclose(w, 2.0, rtol=0.2)
    assert np.allclose(g[:, : T // 2], 0.0, atol=1e-12)
    assert np.allclose(g[:, T // 2 :].mean(), 3.0, rtol=0.1)
    # an unknown class falls back to the class-free model
    assert np.array_equal(obs.envelope("never seen"), obs.envelope(""))


def test_samples_keep_the_level_the_gating_and_the_colour(fitted):
    obs, rng = fitted
    w = obs.sample(np.array(["white"] * 3000), T, rng)
    g = obs.sample(np.array(["gated"] * 3000), T, rng)
    assert w.shape == (3000, 2, T)
    assert w.std() == pytest.approx(2.0, rel=0.05)
    assert np.abs(g[:, :, : T // 2]).max() < 1e-9
    assert g[:, :, T // 2 :].std() == pytest.approx(3.0, rel=0.1)

    def lag1(x):
        a, b = x[..., :-1].ravel(), x[..., 1:].ravel()
        return float(np.corrcoef(a, b)[0, 1])

    assert abs(lag1(w)) < 0.1  # white stays white
    assert lag1(g[:, :, T // 2 :]) > 0.6  # AR(1) with phi 0.9 stays strongly coloured


def test_sampling_is_reproducible_and_other_lengths_work(fitted):
    obs, _ = fitted
    a = obs.sample(np.array(["white", "gated"]), T, np.random.default_rng(5))
    b = obs.sample(np.array(["white", "gated"]), T, np.random.default_rng(5))
    assert np.array_equal(a, b)
    longer = obs.sample(np.array(["gated"]), T + 20, np.random.default_rng(0))
    assert longer.shape == (1, 2, T + 20) and np.isfinite(longer).all()


def test_padding_is_ignored_and_small_classes_pool():
    rng = np.random.default_rng(1)
    n = 100
    R = np.zeros((n, 1, T))
    X = rng.standard_normal((n, 1, T))
    L = np.full(n, T // 2)
    X[:, :, T // 2 :] = 1e6  # garbage beyond each cycle's length must not count
    obs = ObservationNoise.fit(X, R, L, np.array(["big"] * 95 + ["tiny"] * 5), min_breaths=20)
    assert obs.classes == ["big"] and obs.n_per_class == {"": 100, "big": 95}
    assert np.abs(obs.envelope("big")).max() < 2.0


def test_fit_errors_are_clear():
    with pytest.raises(VentgenValueError, match="one shape"):
        ObservationNoise.fit(np.zeros((3, 2, 8)), np.zeros((3, 2, 9)), np.full(3, 8))
    with pytest.raises(VentgenValueError, match="lengths"):
        ObservationNoise.fit(np.zeros((3, 2, 8)), np.zeros((3, 2, 8)), np.full(4, 8))


# ------------------------------------------------------------------ in generate_cohort
class KnowsTheTruth(DoubleModel):
    """A double whose decoder is the perfect mean: the noisy reference encodes like its clean waves."""

    def __init__(self, clean, noisy):
        super().__init__(clean)
        self._clean, self._noisy = np.asarray(clean.X), np.asarray(noisy.X)

    def _denoise(self, X):
        X = np.asarray(X)
        return self._clean if X.shape == self._noisy.shape and np.array_equal(X, self._noisy) else X

    def transform(self, X):
        return super().transform(self._denoise(X))


@pytest.fixture(scope="module")
def noisy_ref():
    clean, ref = make_reference(), make_reference()
    rng = np.random.default_rng(3)
    valid = np.arange(ref.X.shape[2])[None, None, :] < ref.lengths[:, None, None]
    ref.X = (ref.X + rng.normal(0, [[1.5], [0.2]], ref.X.shape) * valid).astype(np.float32)
    return clean, ref


def _roughness(rec):
    """Std of the second difference: white noise of std s gives s * sqrt(6); smooth waves give ~0."""
    return np.diff(rec.flow, 2).std(), np.diff(rec.pressure, 2).std()


def test_generated_breaths_carry_the_reference_noise(noisy_ref):
    clean, noisy_ref = noisy_ref
    model = KnowsTheTruth(clean, noisy_ref)
    spec = {"patients": 2, "breaths": 200, "composition": {"normal breathing": 0.6, "apnea": 0.2, "snoring": 0.2}}
    noisy = generate_cohort(model, spec, noisy_ref, random_state=0)
    smooth = generate_cohort(model, spec, noisy_ref, random_state=0, options=GenerationOptions(noise="none"))
    assert noisy.info["noise"] == "residual" and smooth.info["noise"] == "none"
    assert np.array_equal(noisy.manifest.to_numpy(), smooth.manifest.to_numpy())
    rf, rp = np.mean([_roughness(r) for r in noisy.recordings], axis=0)
    sf, sp = np.mean([_roughness(r) for r in smooth.recordings], axis=0)
    assert rf == pytest.approx(1.5 * np.sqrt(6), rel=0.25) and rp == pytest.approx(0.2 * np.sqrt(6), rel=0.25)
    assert sf < 0.3 * rf and sp < 0.3 * rp
    again = generate_cohort(model, spec, noisy_ref, random_state=0)
    assert all(np.array_equal(a.flow, b.flow) for a, b in zip(noisy.recordings, again.recordings, strict=True))


def test_noise_argument_errors(noisy_ref):
    clean, noisy_ref = noisy_ref
    model = DoubleModel(clean)
    spec = {"patients": 1, "breaths": 20, "composition": {"normal breathing": 1.0}}
    with pytest.raises(VentgenValueError, match="noise must be one of"):
        generate_cohort(model, spec, noisy_ref, options=GenerationOptions(noise="white"))
    with pytest.raises(VentgenValueError, match="noise_highpass_hz"):
        generate_cohort(model, spec, noisy_ref, options=GenerationOptions(noise_highpass_hz=-1))

    class NoReconstruct(DoubleModel):
        reconstruct = None

    with pytest.raises(VentgenTypeError, match="noise='none'"):
        generate_cohort(NoReconstruct(noisy_ref), spec, noisy_ref)
    assert len(generate_cohort(NoReconstruct(noisy_ref), spec, noisy_ref, options=GenerationOptions(noise="none", boundary="none")).manifest) == 20


def test_highpass_keeps_the_noise_and_drops_slow_shape_errors():
    rng = np.random.default_rng(4)
    n, rate = 300, 50.0
    t = np.arange(T) / rate
    shape_error = 10.0 * np.sin(2 * np.pi * (rate / T) * t + rng.uniform(0, 2 * np.pi, (n, 1, 1)))  # 0.78 Hz
    white = rng.standard_normal((n, 1, T))
    R = np.zeros((n, 1, T))
    full = ObservationNoise.fit(R + shape_error + white, R, np.full(n, T))
    hp = ObservationNoise.fit(R + shape_error + white, R, np.full(n, T), highpass_hz=2.0, sampling_rate=rate)
    assert full.envelope().mean() > 5.0
    # white noise keeps (25 - 2) / 25 of its power above 2 Hz with 0.78 Hz bins (T = 64 at 50 Hz)
    assert hp.envelope().mean() == pytest.approx(np.sqrt(1 - 3 / 33), rel=0.15)
    # the model holds nothing below its cut-off, and neither do its draws
    low = np.fft.rfftfreq(T, 1.0 / rate) < 2.0
    assert np.all(hp.spectrum()[:, low] == 0) and np.all(hp.spectrum()[:, ~low] > 0)
    draw = hp.sample(np.full(50, ""), T, np.random.default_rng(0))
    P = (np.abs(np.fft.rfft(draw, axis=2)) ** 2).mean(axis=(0, 1))  # only the envelope's modulation leaks
    assert P[low].mean() < 0.05 * P[~low].mean()
    assert draw.std() == pytest.approx(hp.envelope().mean(), rel=0.1)
    with pytest.raises(VentgenValueError, match="sampling_rate"):
        ObservationNoise.fit(white, R, np.full(n, T), highpass_hz=2.0)


# ------------------------------------------------------------------------------ boundary bias
def _ramped(n, L, rng, ramp=(1.0, 2.0, 4.0), dip=0.5):
    """Cycles whose last samples hold a ramp (flow) and a dip (pressure) that a decoder misses."""
    X = rng.normal(0, 0.1, (n, 2, T))
    k = len(ramp)
    for i in range(n):  # a fixture: a few hundred rows
        X[i, 0, L[i] - k : L[i]] += ramp
        X[i, 1, L[i] - k : L[i]] -= dip
    return X


def test_boundary_bias_restores_an_end_aligned_feature_at_any_length():
    rng = np.random.default_rng(0)
    n = 300
    L = rng.integers(20, T, n)
    X = _ramped(n, L, rng)
    bias = BoundaryBias.fit(X, np.zeros_like(X), L, width=6)
    head, tail = bias.profiles()
    assert np.allclose(tail[0, -3:], [1.0, 2.0, 4.0], atol=0.05) and np.allclose(tail[1, -3:], -0.5, atol=0.05)
    assert np.allclose(tail[:, :3], 0.0, atol=0.05) and np.allclose(head, 0.0, atol=0.05)
    # applied to "decoded" cycles cut at new lengths, the ramp ends exactly at each cut
    Y = np.zeros((3, 2, T), dtype=np.float32)
    Lnew = np.array([12, 30, T])
    bias.apply(Y, ["", "", ""], Lnew)
    for i, li in enumerate(Lnew):
        assert np.allclose(Y[i, 0, li - 3 : li], [1.0, 2.0, 4.0], atol=0.05)
        assert np.allclose(Y[i, :, li:], 0.0) and np.allclose(Y[i, :, : li - 6], 0.0, atol=0.05)


def test_boundary_bias_short_breaths_split_between_the_two_profiles():
    n, k = 50, 5
    X = np.zeros((n, 1, T))
    X[:, 0, :] = 1.0  # the decoder (0) is 1 too low everywhere
    L = np.full(n, 6)  # shorter than 2 * width: 3 samples to the start, 3 to the end
    bias = BoundaryBias.fit(X, np.zeros_like(X), L, width=k)
    Y = np.zeros((2, 1, T))
    bias.apply(Y, ["", ""], np.array([6, 3]))
    assert np.allclose(Y[0, 0, :6], 1.0) and np.allclose(Y[0, 0, 6:], 0.0)  # every sample once, none twice
    assert np.allclose(Y[1, 0, :3], 1.0) and np.allclose(Y[1, 0, 3:], 0.0)


def test_boundary_bias_classes_steps_and_errors():
    rng = np.random.default_rng(1)
    n = 200
    L = np.full(n, 40)
    X = rng.normal(0, 0.01, (n, 1, T))
    labels = np.repeat(["a", "b"], n // 2)
    X[n // 2 :, 0, :] += 2.0  # class b sits 2 above the decoder, class a on it
    X[:, 0, 0] += 3.0  # every breath starts 3 above where the one before ended ...
    follows = np.ones(n - 1, dtype=bool)
    follows[n // 2 - 1] = False  # ... except across the change of recording
    bias = BoundaryBias.fit(X, np.zeros_like(X), L, labels, follows=follows, width=4, shrinkage=0.0)
    assert np.allclose(bias.profiles("b")[1], 2.0, atol=0.01) and np.allclose(bias.profiles("a")[1], 0.0, atol=0.01)
    assert bias.step(["a", "b", "never seen"])[:, 0] == pytest.approx([3.0, 3.0, 3.0], abs=0.01)
    assert bias.classes == ["a", "b"] and "BoundaryBias" in repr(bias)
    # no consecutive breaths: the step is 0 (breaths meet)
    assert BoundaryBias.fit(X, np.zeros_like(X), L, labels).step(["a"])[0, 0] == 0.0
    with pytest.raises(VentgenValueError, match="follows must have shape"):
        BoundaryBias.fit(X, np.zeros_like(X), L, follows=follows[:-1])
    with pytest.raises(VentgenValueError, match="lengths must lie"):
        BoundaryBias.fit(X, np.zeros_like(X), np.full(n, T + 1))
    with pytest.raises(VentgenValueError, match="width"):
        BoundaryBias.fit(X, np.zeros_like(X), L, width=0)
    with pytest.raises(VentgenValueError, match="one label and one length"):
        bias.apply(np.zeros((2, 1, T)), ["a"], np.array([5, 5]))


def test_stitch_batch_keeps_the_real_step_at_joins():
    from ventgen.generate.stitching import stitch_batch as _stitch_batch

    rng = np.random.default_rng(2)
    b = 5
    X = rng.normal(size=(b + 1, 2, 120)).astype(np.float32)
    L = np.array([100, 80, 110, 60, 90])
    no = np.zeros(b, dtype=bool)
    step = np.tile([2.0, -0.3], (b, 1))
    before = X.copy()
    prev_e = _stitch_batch(X, L, np.r_[True, no[1:]], no, None, taper=6, step=step)
    for i in range(b - 1):
        assert np.allclose(X[i + 1, :, 0] - X[i, :, L[i] - 1], [2.0, -0.3], atol=1e-5)
    assert np.allclose(X[b], before[b])  # the next batch's first breath is only read
    # the next batch closes the join from its side with the same step, from the raw last sample
    nxt = np.concatenate([before[b : b + 1], rng.normal(size=(1, 2, 120)).astype(np.float32)])
    _stitch_batch(nxt, np.array([100]), np.array([False]), np.array([True]), prev_e, taper=6,
                  step=step[:1], step_before=step[-1])
    assert np.allclose(nxt[0, :, 0] - X[b - 1, :, L[-1] - 1], [2.0, -0.3], atol=1e-5)


def test_boundary_option_in_generation(noisy_ref):
    clean, noisy_ref = noisy_ref
    model = KnowsTheTruth(clean, noisy_ref)
    spec = {"patients": 2, "breaths": 60, "composition": {"normal breathing": 0.6, "apnea": 0.2, "snoring": 0.2}}
    a = generate_cohort(model, spec, noisy_ref, random_state=0, options=GenerationOptions(noise="none"))
    b = generate_cohort(model, spec, noisy_ref, random_state=0, options=GenerationOptions(noise="none", boundary="none"))
    assert a.info["boundary"] == "residual" and b.info["boundary"] == "none"
    assert np.array_equal(a.manifest.to_numpy(), b.manifest.to_numpy())
    with pytest.raises(VentgenValueError, match="boundary must be one of"):
        generate_cohort(model, spec, noisy_ref, options=GenerationOptions(boundary="mean"))


def test_joins_across_decoding_batches_meet_with_noise(noisy_ref):
    """Each batch decodes one breath more to close its last join; that breath's noise is carried to
    the next batch, so batch boundaries join exactly like the joins inside a batch."""
    clean, noisy_ref = noisy_ref
    model = KnowsTheTruth(clean, noisy_ref)
    spec = {"patients": 2, "breaths": 40, "composition": {"normal breathing": 0.6, "apnea": 0.2, "snoring": 0.2}}
    res = generate_cohort(model, spec, noisy_ref, random_state=0, options=GenerationOptions(boundary="none", batch_size=7))
    for rec in res.recordings:
        mp = res.manifest[res.manifest["patient"] == rec.subject]
        joins = np.round(mp["start_s"].to_numpy()[1:] * rec.sampling_rate).astype(int)
        assert np.allclose(rec.flow[joins - 1], rec.flow[joins], atol=1e-4)
        assert np.allclose(rec.pressure[joins - 1], rec.pressure[joins], atol=1e-4)
    one = generate_cohort(model, spec, noisy_ref, random_state=0, options=GenerationOptions(boundary="none", batch_size=8192))
    assert np.array_equal(one.manifest.to_numpy(), res.manifest.to_numpy())


def test_from_model_fits_the_model_residuals(noisy_ref):
    clean, noisy_ref = noisy_ref
    model = KnowsTheTruth(clean, noisy_ref)  # reconstructs the clean waves: residual = the added noise
    noise = ObservationNoise.from_model(model, noisy_ref)
    assert set(noise.classes) == {"normal breathing", "apnea", "snoring"}
    assert noise.envelope("normal breathing")[:, :20].mean(axis=1) == pytest.approx([1.5, 0.2], rel=0.15)
