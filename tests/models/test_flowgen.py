"""The HTVAE's flow generator as part of the model: training, file, resume, sampling, generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ventgen
from ventgen.errors import FileFormatError, VentgenValueError
from ventgen.generate import GenerationOptions, generate_cohort
from ventgen.models.config import PRESETS

KW = dict(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=2, random_state=0, device="cpu", progress=False,
          generator="flow", generator_steps=60, generator_width=8)


@pytest.fixture(scope="module")
def cycles(one_thread):
    recs = ventgen.simulate_cohort(n_subjects=1, minutes=3, random_state=0, progress=False)
    return ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))


@pytest.fixture(scope="module")
def model(cycles):
    return ventgen.HTVAE(**KW).fit(cycles)


def test_the_default_preset_trains_the_generator_and_the_paper_does_not(small_default_generator):
    real = small_default_generator  # the recipe as shipped (the tests shrink its generator)
    assert real.generator == "flow" and real.generator_steps == 6000 and real.generator_width == 32
    assert real.generator_lr == 2e-3 and PRESETS["paper"].generator_lr == 1e-3
    assert PRESETS["paper"].generator == "none"


def test_fit_trains_the_generator_after_the_htvae(model):
    assert model.generator_ is not None
    hist = model.generator_.history
    assert len(hist) == 2 and all(np.isfinite(h["loss"]) for h in hist)  # 60 steps = 2 epochs of 50 batches
    assert len(model.history_) == 2  # the HTVAE's own epochs


def test_generated_cycles_keep_their_lengths_and_follow_the_noise(model, cycles):
    Z, L = model.transform(cycles.X[:6]), cycles.lengths[:6]
    G = model.generate_cycles(Z, L, random_state=1)
    assert G.shape == (6, *cycles.X.shape[1:]) and G.dtype == np.float32
    for g, n in zip(G, L, strict=True):  # edge padding after the length, as in a CycleSet
        assert np.all(g[:, n:] == g[:, n - 1:n])
    assert np.array_equal(G, model.generate_cycles(Z, L, random_state=1))
    assert not np.allclose(G, model.generate_cycles(Z, L, random_state=2))
    noise = np.random.default_rng(5).standard_normal(G.shape).astype(np.float32)
    assert np.array_equal(model.generate_cycles(Z, L, noise=noise), model.generate_cycles(Z, L, noise=noise))
    with pytest.raises(VentgenValueError, match="lengths must be 6 integers"):
        model.generate_cycles(Z, np.full(6, cycles.X.shape[2] + 1))


def test_the_model_file_holds_the_generator(model, cycles, tmp_path):
    model.save(tmp_path / "m.pt")
    back = ventgen.HTVAE.load(tmp_path / "m.pt")
    Z, L = model.transform(cycles.X[:4]), cycles.lengths[:4]
    assert np.array_equal(back.generate_cycles(Z, L, random_state=0), model.generate_cycles(Z, L, random_state=0))
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    state["generator"]["norm"]["std"] = -state["generator"]["norm"]["std"]
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(FileFormatError, match="generator.*spreads must be positive"):
        ventgen.HTVAE.load(tmp_path / "bad.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    state["generator"]["weights"].pop(next(iter(state["generator"]["weights"])))
    torch.save(state, tmp_path / "bad2.pt")
    with pytest.raises(FileFormatError, match="weights do not match"):
        ventgen.HTVAE.load(tmp_path / "bad2.pt")


def test_the_generator_is_calibrated_after_training_and_its_map_is_stored_and_applied(model, cycles, tmp_path):
    import copy

    from ventgen.models.generator_stage import calibrate_generator
    from ventgen.models.marginals import MarginalMap

    m = model.generator_.marginals  # the default preset fits the marginal map after training
    assert isinstance(m, MarginalMap) and m.labels[0] == "" and set(m.labels[1:]) <= set(cycles.labels)
    assert m.real.shape[1:3] == cycles.X.shape[1:]
    model.save(tmp_path / "m.pt")
    back = ventgen.HTVAE.load(tmp_path / "m.pt")
    assert back.generator_.marginals is not None and np.array_equal(back.generator_.marginals.real, m.real)
    assert np.array_equal(back.generator_.marginals.valid, m.valid)
    # known answer: a map that adds 1 everywhere (real quantiles = generated + 1) shifts every breath by 1
    shifted = copy.deepcopy(model)
    shifted.generator_.resolution[:] = 0  # the map alone (rounding: the test after this one)
    grid = np.broadcast_to(np.linspace(-1e3, 1e3, m.real.shape[-1], dtype=np.float32), m.real.shape)
    shifted.generator_.marginals = MarginalMap(m.labels, grid + 1.0, grid, np.ones_like(m.valid))
    Z, L = model.transform(cycles.X[:5]), cycles.lengths[:5]
    noise = np.random.default_rng(0).standard_normal((5, *cycles.X.shape[1:])).astype(np.float32)
    raw = model.generate_cycles(Z, L, noise=noise, calibrate=False)
    mapped = shifted.generate_cycles(Z, L, noise=noise, labels=cycles.labels[:5])
    assert np.allclose(mapped - raw, 1.0, atol=1e-3)
    with pytest.raises(VentgenValueError, match="labels must be 5 class names"):
        shifted.generate_cycles(Z, L, noise=noise, labels=["a"])
    # generation applies it by default, and not with calibrate=False
    spec = {"patients": 1, "breaths": 12}
    on = generate_cohort(shifted, spec, random_state=0)
    off = generate_cohort(shifted, spec, random_state=0, options=GenerationOptions(calibrate=False))
    assert on.info["calibrate"] and not off.info["calibrate"]
    assert np.median(on.recordings[0].flow - off.recordings[0].flow) > 0.5
    # a model trained without it has none, and gets one from calibrate_generator
    bare = ventgen.HTVAE(**dict(KW, generator_calibration="none", generator_steps=20)).fit(cycles)
    assert bare.generator_.marginals is None
    assert generate_cohort(bare, spec, random_state=0).info["calibrate"]  # it still rounds (the next test)
    bare.generator_.resolution[:] = 0
    assert not generate_cohort(bare, spec, random_state=0).info["calibrate"]
    fitted = calibrate_generator(bare, cycles, random_state=0)
    assert bare.generator_.marginals is fitted and fitted.real.shape == m.real.shape
    assert bare.generator_.resolution.tolist() == [0.01, 0.01]  # and the resolution, for older model files
    with pytest.raises(VentgenValueError, match=r"needs the training cycles .*got shape \(3, 4\)"):
        calibrate_generator(bare, np.zeros((3, 4)))
    with pytest.raises(VentgenValueError, match="needs a model with a flow generator"):
        calibrate_generator(ventgen.HTVAE(**dict(KW, generator="none", epochs=1)).fit(cycles), cycles)
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    state["generator"]["marginals"]["real"] = state["generator"]["marginals"]["real"].flip(-1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(FileFormatError, match="marginal map its quantiles must increase"):
        ventgen.HTVAE.load(tmp_path / "bad.pt")


def test_without_a_generator_the_cycles_are_the_decoder_means(cycles):
    m = ventgen.HTVAE(**dict(KW, generator="none")).fit(cycles)
    assert m.generator_ is None
    Z, L = m.transform(cycles.X[:3]), cycles.lengths[:3]
    G = m.generate_cycles(Z, L)
    D = m.decode(Z)
    for g, d, n in zip(G, D, L, strict=True):
        assert np.allclose(g[:, :n], d[:, :n]) and np.all(g[:, n:] == g[:, n - 1:n])


def test_resume_inside_the_generator_equals_an_uninterrupted_run(cycles, tmp_path):
    full = ventgen.HTVAE(**KW).fit(cycles)

    def stop(row):
        if row.get("part") == "generator":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ventgen.HTVAE(**KW).fit(cycles, checkpoint_dir=tmp_path, epoch_callback=stop)
    rows = []
    resumed = ventgen.HTVAE(**KW).fit(cycles, checkpoint_dir=tmp_path, resume=True, epoch_callback=rows.append)
    assert [r.get("part") for r in rows] == ["generator"]  # only the generator's second epoch was left
    for k, v in full.generator_.net.state_dict().items():
        assert torch.equal(v, resumed.generator_.net.state_dict()[k]), k


def test_the_generator_gives_the_sample_to_sample_noise_the_decoder_smooths_away(cycles):
    m = ventgen.HTVAE(**dict(KW, generator_steps=200, generator_width=16, generator_lr=5e-3)).fit(cycles)
    Z, L = m.transform(cycles.X), cycles.lengths
    inside = np.arange(cycles.X.shape[2])[None, 1:] < L[:, None] - 1

    def jitter(X):  # spread of the second difference of the pressure inside the breaths
        return float(np.diff(X[:, 1], 2, axis=1)[inside[:, 1:]].std())

    real, dec, gen = jitter(cycles.X), jitter(m.decode(Z)), jitter(m.generate_cycles(Z, L, random_state=0))
    assert dec < 0.5 * real  # the decoder's mean is smooth
    assert 0.5 * real < gen < 2 * real


def test_generation_uses_the_generator_by_default(model, cycles):
    spec = {"patients": 2, "breaths": 20}
    res = generate_cohort(model, spec, random_state=0)
    assert (res.info["decoder"], res.info["noise"], res.info["boundary"], res.info["latent"]) == (
        "flow", "none", "raw", "kde")
    lengths = set(cycles.lengths.tolist())  # kde: every breath has the length of a training breath
    assert set(np.round((res.manifest["end_s"] - res.manifest["start_s"]) * cycles.sampling_rate).astype(int)) <= lengths
    small = generate_cohort(model, spec, random_state=0, options=GenerationOptions(batch_size=7))
    for a, b in zip(res.recordings, small.recordings, strict=True):  # batches do not change the breaths
        assert np.array_equal(a.flow, b.flow) and np.array_equal(a.pressure, b.pressure)
    exact = generate_cohort(model, spec, random_state=0, options=GenerationOptions(decoder="exact"))
    assert exact.info["noise"] == "residual" and not np.allclose(exact.recordings[0].flow[:50],
                                                                 res.recordings[0].flow[:50])
    with pytest.raises(VentgenValueError, match="length_method='padding'.*flow generator"):
        generate_cohort(model, spec, options=GenerationOptions(decoder="flow", length_method="padding"))


def test_raw_joins_keep_every_breath_as_generated_and_none_makes_them_meet(model, cycles):
    from ventgen.generate.stitching import TAPER_S

    spec = {"patients": 2, "breaths": 30}
    raw = generate_cohort(model, spec, random_state=3)  # the default with the flow generator
    meet = generate_cohort(model, spec, random_state=3, options=GenerationOptions(boundary="none"))
    assert raw.info["boundary"] == "raw" and meet.info["boundary"] == "none"
    rate, taper = cycles.sampling_rate, int(round(TAPER_S * cycles.sampling_rate))
    m = raw.manifest
    for a, b in zip(raw.recordings, meet.recordings, strict=True):
        joins = np.round(m[m.patient == a.subject]["start_s"].to_numpy()[1:] * rate).astype(int)
        near = np.zeros(a.flow.size, bool)
        for j in joins:
            near[max(0, j - taper):j + taper] = True
        for x, y in ((a.flow, b.flow), (a.pressure, b.pressure)):
            assert np.array_equal(x[~near], y[~near])  # the same breaths, away from the joins
            # known answer: "none" moves both sides of a join to the mean of the generated ends (both
            # cohorts rounded to the recording resolution, 0.01)
            assert np.allclose(y[joins], 0.5 * (x[joins - 1] + x[joins]), atol=0.0101)
            assert np.allclose(y[joins - 1], y[joins], atol=0.0101)
        assert np.abs(a.flow[joins] - a.flow[joins - 1]).max() > 0.1  # raw keeps the generated jumps


def test_flow_decoding_needs_a_generator(cycles):
    m = ventgen.HTVAE(**dict(KW, generator="none")).fit(cycles)
    with pytest.raises(VentgenValueError, match="decoder='flow' needs a model trained with generator='flow'"):
        generate_cohort(m, {"patients": 1, "breaths": 5}, options=GenerationOptions(decoder="flow"))
    assert generate_cohort(m, {"patients": 1, "breaths": 5}).info["decoder"] == "exact"


def test_the_sampler_time_grid_shrinks_towards_the_data_end(model, cycles):
    from ventgen.models.generator import FlowNet, sample_flow, time_grid

    assert time_grid(4, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    g = time_grid(8, 2.0)
    assert g[0] == 0.0 and g[-1] == 1.0 and np.all(np.diff(np.diff(g)) < 0)  # ever smaller steps
    # power 1 is the even midpoint integrator, step for step
    torch.manual_seed(0)
    net = FlowNet(2, 3, width=8).eval()
    torch.nn.init.normal_(net.out.weight, std=0.1)
    x0, m = torch.randn(3, 2, 20), torch.randn(3, 2, 20)
    mask, c = torch.ones(3, 1, 20), torch.randn(3, 3)
    x, dt = x0.clone(), 0.25
    with torch.no_grad():
        for k in range(4):
            t = torch.full((3,), k * dt)
            v = net(x, t, m, mask, c)
            x = x + dt * net(x + 0.5 * dt * v, t + 0.5 * dt, m, mask, c)
    assert torch.allclose(sample_flow(net, m, mask, c, steps=4, x0=x0.clone(), time_power=1.0), x, atol=1e-6)
    assert not torch.allclose(sample_flow(net, m, mask, c, steps=4, x0=x0.clone(), time_power=2.0), x, atol=1e-4)
    # the model samples on its configured grid; the default is 2
    assert model.config_.generator_time_power == 2.0
    Z, L = model.transform(cycles.X[:4]), cycles.lengths[:4]
    a = model.generate_cycles(Z, L, random_state=3)
    even = ventgen.HTVAE(**KW, generator_time_power=1.0).fit(cycles)
    assert np.array_equal(even.generator_.net.out.weight.detach().numpy(), model.generator_.net.out.weight.detach().numpy())
    assert not np.allclose(a, even.generate_cycles(Z, L, random_state=3))
    with pytest.raises(VentgenValueError, match="generator_time_power must be"):
        ventgen.HTVAE(**KW, generator_time_power=0).fit(cycles)


def test_each_channel_residual_is_learnt_at_its_own_scale(model, cycles, tmp_path):
    # the target is the standardised residual divided by each channel's own spread
    rs = model.generator_.norm["residual_scale"]
    X = np.asarray(cycles.X, np.float32)
    std = model.generator_.norm["std"][None, :, None]
    res = (X - np.asarray(model.decode(model.transform(X)), np.float32)) / std
    np.testing.assert_allclose(rs, res.std(axis=(0, 2)), rtol=1e-4)
    assert rs.shape == (2,) and abs(rs[0] / rs[1] - 1) > 0.05  # flow and pressure residuals differ
    # a model file from before (one spread shared by the channels) loads and samples with it
    model.save(tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    Z, L = model.transform(cycles.X[:4]), cycles.lengths[:4]
    for shared, name in ((torch.tensor([0.3]), "one.pt"), (torch.tensor([0.3, 0.3]), "two.pt")):
        state["generator"]["norm"]["residual_scale"] = shared
        torch.save(state, tmp_path / name)
    one, two = (ventgen.HTVAE.load(tmp_path / n) for n in ("one.pt", "two.pt"))
    assert np.array_equal(one.generate_cycles(Z, L, random_state=0), two.generate_cycles(Z, L, random_state=0))
    state["generator"]["norm"]["residual_scale"] = torch.tensor([0.3, 0.3, 0.3])
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(FileFormatError, match="normalisation must hold"):
        ventgen.HTVAE.load(tmp_path / "bad.pt")


def _on_grid(x, q=0.01) -> bool:
    k = np.asarray(x, np.float64) / q
    return bool(np.all(np.abs(k - np.round(k)) < 1e-2))


def test_the_generator_keeps_the_recording_resolution_and_rounds_calibrated_breaths_to_it(model, cycles, tmp_path):
    import copy

    # the simulator writes two decimals, as PB-840 files do: the training cycles come in steps of 0.01
    assert _on_grid(cycles.X) and model.generator_.resolution.tolist() == [0.01, 0.01]
    Z, L, lab = model.transform(cycles.X[:8]), cycles.lengths[:8], cycles.labels[:8]
    on = model.generate_cycles(Z, L, random_state=0, labels=lab)
    off = model.generate_cycles(Z, L, random_state=0, labels=lab, calibrate=False)
    assert _on_grid(on) and not _on_grid(off)
    unmapped = copy.deepcopy(model)
    unmapped.generator_.marginals = None  # known answer: without the map, calibrating is rounding to 0.01
    assert np.allclose(unmapped.generate_cycles(Z, L, random_state=0), np.round(off, 2), atol=1e-5)
    # the file keeps it; a bad one is refused; a file from before it loads without rounding
    model.save(tmp_path / "m.pt")
    assert ventgen.HTVAE.load(tmp_path / "m.pt").generator_.resolution.tolist() == [0.01, 0.01]
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    state["generator"]["resolution"] = torch.tensor([0.01, -1.0], dtype=torch.float64)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(FileFormatError, match="resolution must hold 2 finite steps >= 0"):
        ventgen.HTVAE.load(tmp_path / "bad.pt")
    del state["generator"]["resolution"]
    torch.save(state, tmp_path / "old.pt")
    old = ventgen.HTVAE.load(tmp_path / "old.pt")
    assert old.generator_.resolution.tolist() == [0.0, 0.0]
    assert not _on_grid(old.generate_cycles(Z, L, random_state=0, labels=lab))
    # a cohort's recordings are rounded after resampling to another rate, and not with calibrate=False
    spec = {"patients": 1, "breaths": 15}
    res = generate_cohort(model, spec, random_state=0, options=GenerationOptions(sampling_rate=50.0))
    rec = res.recordings[0]
    assert rec.sampling_rate == 50.0 and _on_grid(rec.flow) and _on_grid(rec.pressure)
    raw = generate_cohort(model, spec, random_state=0, options=GenerationOptions(sampling_rate=50.0, calibrate=False))
    assert not _on_grid(raw.recordings[0].flow)
