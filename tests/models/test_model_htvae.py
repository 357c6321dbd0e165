"""ventgen.HTVAE and its parts (SOM stack, module, trainer): shapes, losses, tree, sigma, must-link,
persistence, resume, determinism and errors. Tiny networks and data so that the file runs in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ventgen
from ventgen.errors import VentgenTypeError, VentgenValueError
from ventgen.models.som import SOMStack, lattice_neighbours
from ventgen.models.train import MustLinkSampler, must_link_sampler

MAPS = [(3, 3), (2, 2)]
SMALL = dict(maps=MAPS, latent_dim=3, channels=(4, 8), batch_size=16, lr=1e-2, progress=False)


def cycles(n=96, T=32, seed=0, return_ti=False):
    """Breath-like cycles in original units: flow (L/min, +-60) and pressure (cmH2O, 5..30)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)[None, :]
    ti = rng.uniform(0.25, 0.5, (n, 1))
    amp = rng.uniform(20, 60, (n, 1))
    flow = np.where(t < ti, amp * np.sin(np.pi * t / ti), -0.8 * amp * np.exp(-(t - ti) / 0.15))
    paw = 5 + np.where(t < ti, rng.uniform(10, 25, (n, 1)), 0.0) + rng.normal(0, 0.2, (n, T))
    X = np.stack([flow, paw], 1).astype(np.float32)
    return (X, ti[:, 0]) if return_ti else X


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def X():
    return cycles()


@pytest.fixture(scope="module")
def fitted(X):
    return ventgen.HTVAE(epochs=25, random_state=0, **SMALL).fit(X)


@pytest.fixture(scope="module")
def fitted_paper(X):
    """The paper's model (eq. 4 and 5; the default preset has Gaussian codes, tests/models/test_gaussian_codes.py)."""
    return ventgen.HTVAE(epochs=5, random_state=0, preset="paper", **SMALL).fit(X)


# ------------------------------------------------------------------ shapes and API
def test_shapes_and_units(fitted, X):
    m, n = fitted, len(X)
    assert m.transform(X).shape == (n, 3)
    assert m.predict(X).shape == (n,) and m.predict(X, level=2).max() < 4
    a = m.assign(X)
    assert a.shape == (n, 2) and a.dtype == np.int64
    assert a[:, 0].max() < 9 and a.min() >= 0
    assert [t.shape for t in m.tree_] == [(9,)]
    assert m.maps == [(3, 3), (2, 2)]
    assert m.codebook(1).shape == (9, 3) and m.codebook(2).shape == (4, 3)
    assert m.decode(np.zeros((5, 3))).shape == (5, 2, 32)
    s = m.sample(level=2, node=1, n=7, random_state=0)
    assert s.shape == (7, 2, 32) and s.dtype == np.float32
    # original units: the decoder's [0, 1] output is mapped back to the training range per channel
    lo, hi = X.min(axis=(0, 2)), X.max(axis=(0, 2))
    assert (s.min(axis=(0, 2)) >= lo - 1e-3).all() and (s.max(axis=(0, 2)) <= hi + 1e-3).all()
    assert s[:, 1].mean() > 4  # pressure channel sits in cmH2O, not in [0, 1]
    for level in (0, 1, 2):
        assert m.reconstruct(X[:4], level=level).shape == (4, 2, 32)
    assert np.array_equal(m.sample(1, 0, 3, random_state=5), m.sample(1, 0, 3, random_state=5))
    # encode: transform and assign from one encoder pass; decoding its means is the reconstruction
    mu, paths = m.encode(X)
    assert np.array_equal(mu, m.transform(X)) and np.array_equal(paths, m.assign(X))
    assert np.array_equal(m.decode(mu), m.reconstruct(X))


def test_history_terms_and_loss_decreases(fitted):
    h = fitted.history_
    assert [r["epoch"] for r in h] == list(range(1, 26))
    for key in (
        "loss",
        "rec",
        "hier",
        "topo",
        "must_link",
        "perplexity_1",
        "perplexity_2",
        "time_s",
    ):
        assert all(np.isfinite(r[key]) for r in h), key
    assert h[-1]["loss"] < 0.8 * h[0]["loss"]
    assert h[-1]["rec"] < h[0]["rec"]
    assert all(1 <= r["perplexity_1"] <= 9 + 1e-6 for r in h)


def test_reconstruction_beats_the_mean(fitted, X):
    err = ((fitted.reconstruct(X) - X) ** 2).mean()
    base = ((X - X.mean(0, keepdims=True)) ** 2).mean()
    assert err < 0.9 * base


def test_cycleset_like_input(fitted, X):
    class FakeCycles:  # CycleSet duck type: the estimator reads .X in original units
        def __init__(self, X):
            self.X = X

    assert np.array_equal(fitted.assign(FakeCycles(X)), fitted.assign(X))


# ------------------------------------------------------------------ tree and sigma
def test_parent_table_is_nearest_code(fitted_paper, X):
    fitted = fitted_paper
    c1, c2 = fitted.codebook(1), fitted.codebook(2)
    d = ((c1[:, None, :] - c2[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(fitted.tree_[0], d.argmin(1))
    a = fitted.assign(X)
    assert np.array_equal(a[:, 1], fitted.tree_[0][a[:, 0]])
    z = fitted.transform(X)
    d0 = ((z[:, None, :] - c1[None]) ** 2).sum(-1)
    assert np.array_equal(a[:, 0], d0.argmin(1))


def test_sigma_positive_finite_and_formula(fitted_paper):
    fitted = fitted_paper
    for level, (h, w) in enumerate(MAPS, start=1):
        s = fitted.node_sigma(level)
        assert s.shape == (h * w, 3) and np.isfinite(s).all() and (s > 0).all()
        codes = fitted.codebook(level)
        idx, mask = (t.numpy() for t in lattice_neighbours(h, w))
        diff = np.abs(codes[:, None, :] - codes[idx])
        diff[~mask] = np.inf
        np.testing.assert_allclose(s, np.maximum(diff.min(1) / fitted.config_.rho, 1e-6), rtol=1e-6)


def test_lattice_neighbours_and_distance():
    idx, mask = lattice_neighbours(2, 3)
    # node 0 (row 0, col 0): only down (3) and right (1)
    assert mask[0].tolist() == [False, True, False, True] and idx[0, 1] == 3 and idx[0, 3] == 1
    assert mask.sum() == 2 * 7  # 7 edges in a 2x3 grid, each seen from both ends
    som = SOMStack([(2, 3), (1, 2)], latent_dim=2, seed=0)
    assert som.lattice_distance(1, torch.tensor([0, 0]), torch.tensor([5, 0])).tolist() == [3, 0]


def test_som_init_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = SOMStack([(3, 3), (2, 2)], 4, sigma_init=0.5, seed=3)
    b = SOMStack([(3, 3), (2, 2)], 4, sigma_init=0.5, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.codes, b.codes) and a.codes.shape == (13, 4)
    assert abs(float(a.codes.detach().std()) - 0.5) < 0.25


# ------------------------------------------------------------------ must-link
def test_must_link_sampler_partial_labels():
    labels = np.array([0, -1, 1, 0, -1, 1, 0, 2])  # group 2 is a singleton: links nothing
    s = MustLinkSampler(len(labels), labels=labels)
    g = torch.Generator().manual_seed(0)
    pairs = s.sample(500, g).numpy()
    assert (labels[pairs[:, 0]] == labels[pairs[:, 1]]).all()
    assert not np.isin(pairs, [1, 4, 7]).any()
    assert set(pairs[:, 0]) == {0, 2, 3, 5, 6}


def _module_with_linked_pairs(seed=0):
    from ventgen.models.htvae import HTVAEModule

    torch.manual_seed(0)
    m = HTVAEModule((2, 32), [(3, 3), (2, 2)], latent_dim=3, channels=(4, 8), seed=seed).eval()
    x = torch.rand(8, 2, 32)
    xa, xb = torch.rand(6, 2, 32), torch.rand(6, 2, 32)
    return m, x, xa, xb


def test_must_link_term_is_eq10():
    m, x, xa, xb = _module_with_linked_pairs()
    for level in (1, 2):
        out = m(x, pairs=(xa, xb), must_link_level=level)
        za, zb = m.encoder(xa)[0], m.encoder(xb)[0]  # eval mode: z = mu
        ia, ib = m.som.chain(za)[level - 1], m.som.chain(zb)[level - 1]
        d = m.som.lattice_distance(level, ia, ib).float()
        expected = (d * ((za - zb) ** 2).sum(1)).mean()
        torch.testing.assert_close(out["must_link"], expected)
        torch.testing.assert_close(
            out["loss"], out["rec"] + out["hier"] + out["topo"] + out["must_link"]
        )


def test_loss_weights_scale_the_hierarchy_and_topology_terms():
    m, x, _, _ = _module_with_linked_pairs()
    base = m(x)
    m.hierarchy_weight, m.topology_weight = 0.1, 0.25
    out = m(x)
    torch.testing.assert_close(out["hier"], base["hier"])  # terms are reported unweighted
    torch.testing.assert_close(out["loss"], out["rec"] + 0.1 * out["hier"] + 0.25 * out["topo"])


def test_reconstruction_weights_weigh_each_level():
    from ventgen.models.htvae import HTVAEModule

    torch.manual_seed(0)
    m = HTVAEModule((2, 32), [(3, 3), (2, 2)], latent_dim=3, channels=(4, 8), seed=0,
                    reconstruction_weights=(1.0, 0.1, 0.0)).eval()
    out = m(torch.rand(8, 2, 32))
    torch.testing.assert_close(out["rec"], out["rec_levels"].sum())  # reported unweighted
    expected = out["rec_levels"] @ torch.tensor([1.0, 0.1, 0.0]) + out["hier"] + out["topo"]
    torch.testing.assert_close(out["loss"], expected)


@pytest.mark.parametrize(
    "weights, match",
    [((1, 1), "needs 3 values"), ((1, -1, 1), ">= 0"), ((0, 1, 1), "level 0 > 0"), (("a", 1, 1), "3 numbers")],
)
def test_reconstruction_weights_are_checked(weights, match, X):
    with pytest.raises(VentgenValueError, match=match):
        ventgen.HTVAE(maps=[(2, 2), (2, 1)], reconstruction_weights=weights).fit(X)


def test_loss_weights_are_saved_and_old_checkpoints_resume(X, tmp_path):
    m = ventgen.HTVAE(preset="paper", maps=[(2, 2), (2, 1)], latent_dim=3, epochs=1, random_state=0, progress=False,
                      device="cpu", hierarchy_weight=0.1, topology_weight=0.2,
                      reconstruction_weights="1,0.5,0.25").fit(X)
    p = tmp_path / "w.pt"
    m.save(p)
    m2 = ventgen.HTVAE.load(p)
    assert (m2.hierarchy_weight, m2.topology_weight) == (0.1, 0.2)
    assert m2.reconstruction_weights == m2.module_.reconstruction_weights == (1.0, 0.5, 0.25)
    assert (m2.module_.hierarchy_weight, m2.module_.topology_weight) == (0.1, 0.2)
    # a checkpoint written before the weights existed means the paper's weights (1, 1)
    ckpt = torch.load(p, weights_only=True)
    for k in ("hierarchy_weight", "topology_weight", "reconstruction_weights"):
        del ckpt["params"][k]
    torch.save(ckpt, tmp_path / "old.pt")
    old = ventgen.HTVAE.load(tmp_path / "old.pt")
    assert (old.hierarchy_weight, old.topology_weight, old.reconstruction_weights) == (1.0, 1.0, None)
    ventgen.HTVAE(preset="paper", maps=[(2, 2), (2, 1)], latent_dim=3, epochs=1, random_state=0, progress=False,
                  device="cpu")._check_resume(ckpt, X)


def test_must_link_gradient_pulls_linked_pairs_together():
    def dist(m, xa, xb):
        return ((m.encoder(xa)[0] - m.encoder(xb)[0]) ** 2).sum(1).detach()

    for seed in range(3):
        m, x, xa, xb = _module_with_linked_pairs(seed)
        with (
            torch.no_grad()
        ):  # put S_1's codes among the encodings so that pairs land in different nodes
            z = m.encoder(torch.cat([xa, xb]))[0]
            m.som.codes[:9] = z[torch.arange(9) % z.shape[0]] + 0.01 * torch.randn(9, 3)
        before = dist(m, xa, xb)
        out = m(x, pairs=(xa, xb), must_link_level=1)
        assert out["must_link"] > 0
        m.zero_grad()
        out["must_link"].backward()
        with torch.no_grad():
            for p in m.encoder.parameters():
                p -= 1e-2 * p.grad
        assert dist(m, xa, xb).sum() < before.sum()


def test_must_link_term_decreases_in_training(X):
    pairs = np.random.default_rng(1).permutation(len(X))[:24].reshape(12, 2)
    m = ventgen.HTVAE(**dict(SMALL, epochs=6, random_state=0)).fit(X, must_link=pairs)
    ml = [h["must_link"] for h in m.history_]
    assert ml[0] > 0 and ml[-1] < 0.5 * ml[0]


def test_must_link_pairs_and_string_labels(X):
    pairs = np.array([[0, 1], [2, 3], [4, 5]])
    m = ventgen.HTVAE(epochs=1, random_state=0, **SMALL).fit(X, must_link=pairs, must_link_level=2)
    none = ventgen.HTVAE(epochs=1, random_state=0, **SMALL).fit(X)
    assert m.history_[0]["must_link"] > 0 and none.history_[0]["must_link"] == 0
    # string labels: "" is unknown, every two samples with the same label are linked
    labels = np.array(["a", "", "b"] * (len(X) // 3))
    sampler = must_link_sampler(labels, len(X))
    drawn = sampler.sample(200, torch.Generator().manual_seed(0)).numpy()
    assert sampler.n_links == 2 * (len(X) // 3) and (labels[drawn[:, 0]] == labels[drawn[:, 1]]).all()
    assert (labels[drawn] != "").all()
    m = ventgen.HTVAE(epochs=1, random_state=0, **SMALL).fit(X, must_link=labels)
    assert m.history_[0]["must_link"] > 0


# ------------------------------------------------------------------ persistence, resume, determinism
def test_save_load_round_trip(fitted, X, tmp_path):
    p = tmp_path / "m.pt"
    fitted.save(p)
    with pytest.raises(FileExistsError):
        fitted.save(p)
    m2 = ventgen.HTVAE.load(p, device="cpu")
    assert np.array_equal(m2.transform(X), fitted.transform(X))
    assert np.array_equal(m2.assign(X), fitted.assign(X))
    assert np.array_equal(m2.decode(np.ones((2, 3))), fitted.decode(np.ones((2, 3))))
    assert np.array_equal(
        m2.sample(2, 3, 4, random_state=1), fitted.sample(2, 3, 4, random_state=1)
    )
    assert all(np.array_equal(a, b) for a, b in zip(m2.tree_, fitted.tree_, strict=True))
    assert m2.history_ == fitted.history_ and m2.maps == fitted.maps
    ckpt = torch.load(p, weights_only=True)
    assert ckpt["ventgen_version"] == ventgen.__version__ and ckpt["params"]["latent_dim"] == 3


def test_resume_equals_uninterrupted(X, tmp_path):
    kw = dict(SMALL, random_state=4)
    full = ventgen.HTVAE(epochs=3, **kw).fit(X, checkpoint_dir=tmp_path / "full")
    ventgen.HTVAE(epochs=1, **kw).fit(
        X, checkpoint_dir=tmp_path / "cut"
    )  # "interrupted" after epoch 1
    resumed = ventgen.HTVAE(epochs=3, **kw).fit(X, checkpoint_dir=tmp_path / "cut", resume=True)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    for level in (1, 2):
        assert np.array_equal(resumed.codebook(level), full.codebook(level))
    assert np.array_equal(resumed.transform(X), full.transform(X))
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]
    # a checkpoint is a loadable model too
    assert np.array_equal(
        ventgen.HTVAE.load(tmp_path / "full" / "checkpoint.pt").assign(X), full.assign(X)
    )
    with pytest.raises(VentgenValueError, match="different parameters"):
        ventgen.HTVAE(epochs=3, **dict(kw, latent_dim=4)).fit(
            X, checkpoint_dir=tmp_path / "cut", resume=True
        )


def test_old_one_group_checkpoints_resume_identically(X, tmp_path):
    """Checkpoints from before the codes had their own Adam group resume to the same model."""
    kw = dict(SMALL, random_state=4, preset="paper")  # checkpoints of that era hold the paper's values
    full = ventgen.HTVAE(epochs=2, **kw).fit(X)
    ventgen.HTVAE(epochs=1, **kw).fit(X, checkpoint_dir=tmp_path / "cut")
    p = tmp_path / "cut" / "checkpoint.pt"
    ckpt = torch.load(p, weights_only=True)
    m = ventgen.HTVAE(epochs=1, **kw)
    module = m._build(tuple(ckpt["input_shape"]), ckpt["seeds"][0])
    params = list(module.parameters())
    k = next(i for i, q in enumerate(params) if q is module.som.codes)
    new_to_old = [i for i in range(len(params)) if i != k] + [k]
    opt = ckpt["trainer"]["optimizer"]
    merged = dict(opt["param_groups"][0], params=list(range(len(params))))
    opt["state"] = {new_to_old[new]: v for new, v in opt["state"].items()}
    opt["param_groups"] = [merged]
    for key in ("hierarchy_weight", "topology_weight", "code_lr_scale", "reconstruction_weights"):
        del ckpt["params"][key]
    torch.save(ckpt, p)
    resumed = ventgen.HTVAE(epochs=2, **kw).fit(X, checkpoint_dir=tmp_path / "cut", resume=True)
    assert np.array_equal(resumed.codebook(1), full.codebook(1))
    assert np.array_equal(resumed.transform(X), full.transform(X))


def test_code_lr_scale_moves_the_codes_faster(X):
    kw = dict(SMALL, random_state=0, epochs=1)
    init = ventgen.HTVAE(**dict(kw, epochs=0)).fit(X).codebook(1)
    slow = ventgen.HTVAE(**kw, code_lr_scale=1).fit(X).codebook(1)
    fast = ventgen.HTVAE(**kw, code_lr_scale=10).fit(X).codebook(1)
    assert np.abs(fast - init).mean() > 2 * np.abs(slow - init).mean()


def test_determinism_with_seed(X):
    a = ventgen.HTVAE(epochs=2, random_state=7, **SMALL).fit(X)
    b = ventgen.HTVAE(epochs=2, random_state=7, **SMALL).fit(X)
    c = ventgen.HTVAE(epochs=2, random_state=8, **SMALL).fit(X)
    assert np.array_equal(a.codebook(1), b.codebook(1))
    assert np.array_equal(a.transform(X), b.transform(X))
    assert not np.array_equal(a.codebook(1), c.codebook(1))


# ------------------------------------------------------------------ dead codes, images
def test_dead_codes_are_revived(X):
    # codes drawn far away (sigma_init large) are never used: "ignore" leaves them dead
    kw = dict(SMALL, epochs=3, random_state=0, sigma_init=50.0, maps=[(4, 4), (2, 2)])
    ignore = ventgen.HTVAE(dead_codes="ignore", **kw).fit(X)
    revive = ventgen.HTVAE(dead_codes="reinit", **kw).fit(X)
    assert ignore.history_[-1]["dead_1"] >= 8
    assert revive.history_[-1]["dead_1"] < ignore.history_[-1]["dead_1"]
    assert revive.history_[-1]["perplexity_1"] > ignore.history_[-1]["perplexity_1"]


def test_dead_code_windows_hold_twelve_samples_per_level_1_code_within_one_epoch():
    import torch

    from ventgen.models.htvae import HTVAEModule
    from ventgen.models.train import HTVAEStep

    module = HTVAEModule((1, 8, 8), [(8, 8), (2, 2)], latent_dim=4, seed=0)
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(module.parameters())
    step = HTVAEStep(module, torch.zeros(10, 1, 8, 8), opt, gen, gen, batch_size=32)
    # (batches per epoch, window): 12 x 64 codes / 32 = 24 batches, else a quarter of the epoch, at most
    # dead_window (200) and one epoch
    for n_batches, window in ((5, 5), (15, 15), (41, 24), (96, 24), (400, 100), (2000, 200)):
        step.begin_epoch(n_batches)
        assert step.check_every == window, n_batches
    small = HTVAEStep(HTVAEModule((1, 8, 8), [(2, 2)], latent_dim=4, seed=0), torch.zeros(10, 1, 8, 8), opt, gen,
                      gen, batch_size=32)
    small.begin_epoch(41)
    assert small.check_every == 10  # 12 x 4 codes fit in 2 batches: at least 10


def test_images_fit_sample_and_uint8():
    rng = np.random.default_rng(0)
    imgs = (rng.random((40, 1, 8, 8)) > 0.5).astype(np.uint8) * 255
    m = ventgen.HTVAE(epochs=1, random_state=0, **SMALL).fit(imgs)
    s = m.sample(1, 4, 3, random_state=0)
    assert s.shape == (3, 1, 8, 8) and m.scaling_ == {"kind": "identity"}
    # uint8 images are divided by 255: the same pixels as floats in [0, 1] encode identically
    np.testing.assert_array_equal(m.transform(imgs), m.transform(imgs.astype(np.float32) / 255))
    with pytest.raises(VentgenValueError, match=r"\[0, 1\]"):
        ventgen.HTVAE(epochs=1, **SMALL).fit(imgs.astype(np.float32))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(maps=[(2, 2), (3, 3)]), "shrink"),
        (dict(maps=[(2, 2), (2, 2)]), "shrink"),
        (dict(maps=[(1, 1)]), "at least 2 codes"),
        (dict(maps=[]), "at least one"),
        (dict(maps=[(2, "x")]), "pair of integers"),
        (dict(latent_dim=0), "latent_dim"),
        (dict(rho=-1), "rho"),
        (dict(dead_codes="keep"), "dead_codes"),
        (dict(topology_weight=-1), "topology_weight"),
        (dict(code_lr_scale=0), "code_lr_scale"),
        (dict(hierarchy_weight=float("nan")), "hierarchy_weight"),
    ],
)
def test_bad_parameters(kw, match, X):
    m = ventgen.HTVAE(**kw)  # __init__ only stores
    assert m.get_params()[next(iter(kw))] is kw[next(iter(kw))]
    with pytest.raises(VentgenValueError, match=match):
        m.fit(X)


def test_bad_inputs(fitted, X):
    m = ventgen.HTVAE(epochs=1, **SMALL)
    with pytest.raises(VentgenValueError, match="empty"):
        m.fit(np.zeros((0, 2, 32), np.float32))
    bad = X.copy()
    bad[3, 1, 5] = np.nan
    with pytest.raises(VentgenValueError, match="NaN.*sample 3"):
        m.fit(bad)
    with pytest.raises(VentgenValueError, match=r"shape \(n, channels, time\)"):
        m.fit(X[:, 0])
    with pytest.raises(VentgenTypeError, match="numeric"):
        m.fit(np.array([["a"]]))
    with pytest.raises(VentgenValueError, match="not fitted"):
        m.predict(X)
    with pytest.raises(VentgenValueError, match=r"fitted on \(2, 32\)"):
        fitted.transform(X[:, :, :16])
    with pytest.raises(VentgenValueError, match="level must be in 1..2"):
        fitted.predict(X, level=3)
    with pytest.raises(VentgenValueError, match="node must be in 0..3"):
        fitted.sample(2, 4)
    with pytest.raises(VentgenValueError, match=r"Z must have shape \(n, 3\)"):
        fitted.decode(np.zeros((2, 5)))
    with pytest.raises(VentgenValueError, match="must_link"):
        m.fit(X, must_link=np.zeros((3, 3), int))
    with pytest.raises(VentgenValueError, match="indices in 0..95"):
        m.fit(X, must_link=np.array([[0, 96]]))
    with pytest.raises(VentgenValueError, match="must_link_level"):
        m.fit(X, must_link_level=3)
    with pytest.raises(VentgenValueError, match="checkpoint_dir"):
        m.fit(X, resume=True)
    if not torch.cuda.is_available():
        with pytest.raises(VentgenValueError, match="CUDA is not available"):
            ventgen.HTVAE(device="cuda", epochs=1, **SMALL).fit(X)


# ------------------------------------------------------------------ padding left out of the loss
class _Cycles:
    """CycleSet duck type: X in original units and the valid length of each cycle."""

    def __init__(self, X, lengths):
        self.X, self.lengths = X, lengths


def test_mask_weighs_the_reconstruction_error():
    from ventgen.models.htvae import HTVAEModule

    m = HTVAEModule((2, 32), [(3, 3), (2, 2)], latent_dim=3, channels=(4, 8), seed=0).eval()
    x = torch.rand(8, 2, 32)
    mask = (torch.arange(32) < 20).float().expand(8, 1, 32)
    out = m(x, mask=mask)
    expected = ((out["x_rec"] - x.unsqueeze(0)) ** 2)[..., :20].flatten(2).sum(2).mean(1)
    torch.testing.assert_close(out["rec_levels"], expected)
    out["x_rec"].retain_grad()
    out["rec"].backward()
    g = out["x_rec"].grad
    assert g[..., 20:].abs().max() == 0 and g[..., :20].abs().max() > 0  # padding never trains the decoder


def test_mask_padding_follows_the_lengths(X):
    """Full-length cycles train exactly as without the mask; shorter ones leave the padding out of
    the reported reconstruction term."""
    kw = dict(SMALL, epochs=2, random_state=3)
    full = np.full(len(X), X.shape[2])
    plain = ventgen.HTVAE(**kw).fit(_Cycles(X, full))
    masked_full = ventgen.HTVAE(**kw, mask_padding=True).fit(_Cycles(X, full))
    assert np.array_equal(plain.codebook(1), masked_full.codebook(1))
    assert [h["loss"] for h in plain.history_] == [h["loss"] for h in masked_full.history_]
    short = ventgen.HTVAE(**kw, mask_padding=True).fit(_Cycles(X, np.full(len(X), 8)))
    assert short.history_[0]["rec"] < 0.5 * plain.history_[0]["rec"]  # a quarter of the samples count


def test_mask_padding_needs_lengths_and_is_saved(X, tmp_path):
    # a plain array has no padding: nothing is masked, and the fit equals the unmasked one
    a = ventgen.HTVAE(**dict(SMALL, epochs=1, random_state=0, mask_padding=True)).fit(X)
    b = ventgen.HTVAE(**dict(SMALL, epochs=1, random_state=0, mask_padding=False)).fit(X)
    np.testing.assert_array_equal(a.codebook(1), b.codebook(1))
    m = ventgen.HTVAE(**dict(SMALL, epochs=1, random_state=0, mask_padding=True)).fit(
        _Cycles(X, np.full(len(X), 20)))
    m.save(tmp_path / "m.pt")
    assert ventgen.HTVAE.load(tmp_path / "m.pt").mask_padding is True


def test_absolute_reconstruction_loss_sums_absolute_errors():
    from ventgen.models.htvae import HTVAEModule

    x = torch.rand(8, 2, 32)
    sq = HTVAEModule((2, 32), [(3, 3), (2, 2)], latent_dim=3, channels=(4, 8), seed=0).eval()
    ab = HTVAEModule((2, 32), [(3, 3), (2, 2)], latent_dim=3, channels=(4, 8), seed=0,
                     reconstruction_loss="absolute").eval()
    out_sq, out_ab = sq(x), ab(x)
    torch.testing.assert_close(out_ab["x_rec"], out_sq["x_rec"])  # same weights, same decodings
    expected = (out_ab["x_rec"] - x.unsqueeze(0)).abs().flatten(2).sum(2).mean(1)
    torch.testing.assert_close(out_ab["rec_levels"], expected)
    torch.testing.assert_close(out_ab["loss"], out_ab["rec"] + out_ab["hier"] + out_ab["topo"])
    assert not torch.allclose(out_ab["rec"], out_sq["rec"])
    with pytest.raises(ValueError, match="squared' or 'absolute"):
        HTVAEModule((2, 32), [(3, 3), (2, 2)], latent_dim=3, reconstruction_loss="huber")


def test_absolute_loss_learns_the_median_edge_and_is_saved(tmp_path):
    """Breaths whose edge falls at one of two times: the squared loss decodes the mean (a half step
    between them), the absolute loss the median (a clean step at the majority's time)."""
    rng = np.random.default_rng(0)
    n, T = 240, 32
    t = np.arange(T)
    edge = np.where(rng.random(n) < 0.65, 12, 18)  # 65 % of the breaths step down at 12, the rest at 18
    X = np.stack([np.where(t[None, :] < edge[:, None], 1.0, 0.0), np.zeros((n, T))], axis=1).astype(np.float32)
    X[:, 1] = 5.0 + rng.normal(0, 0.01, (n, T))  # a second, flat channel
    kw = dict(maps=[(2, 2), (1, 2)], latent_dim=1, epochs=100, random_state=0, progress=False, device="cpu",
              channels=(4, 8), kl_weight=100.0)  # a KL that silences the latent: one "typical breath"
    sq = ventgen.HTVAE(preset="paper", **kw).fit(X)
    ab = ventgen.HTVAE(preset="paper", reconstruction_loss="absolute", **kw).fit(X)
    mid = slice(14, 18)  # between the two edge times: mean 0.35, median 0
    z = np.zeros((1, 1), dtype=np.float32)
    assert sq.decode(z)[0, 0, mid].mean() > 0.2
    assert ab.decode(z)[0, 0, mid].mean() < 0.1
    ab.save(tmp_path / "a.pt")
    assert ventgen.HTVAE.load(tmp_path / "a.pt").module_.reconstruction_loss == "absolute"
    ckpt = torch.load(tmp_path / "a.pt", weights_only=True)
    del ckpt["params"]["reconstruction_loss"]
    torch.save(ckpt, tmp_path / "old.pt")
    assert ventgen.HTVAE.load(tmp_path / "old.pt").reconstruction_loss == "squared"
    with pytest.raises(VentgenValueError, match="reconstruction_loss"):
        ventgen.HTVAE(reconstruction_loss="huber").fit(np.zeros((4, 2, 8), np.float32))
