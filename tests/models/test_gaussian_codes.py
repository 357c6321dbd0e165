"""Gaussian codes (covariance="full"/"diagonal"), the autoencoder warm-up and the batch SOM that places
the maps: known answers, invariants, persistence and resume. Tiny networks and data (seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ventgen
from ventgen.errors import VentgenValueError
from ventgen.models.checkpoint import ADDED_PARAMS
from ventgen.models.som import COV_PRIOR, SOMStack, batch_som

MAPS = [(3, 3), (2, 2)]
SMALL = dict(maps=MAPS, latent_dim=3, channels=(4, 8), batch_size=16, lr=1e-2, progress=False, preset="paper")

pytestmark = pytest.mark.usefixtures("one_thread")


def images(n=64, seed=0):
    """Two kinds of 8x8 images in [0, 1]: a bright left half or a bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 0.2, (n, 1, 8, 8)).astype(np.float32)
    X[: n // 2, :, :, :4] += 0.7
    X[n // 2 :, :, :, 4:] += 0.7
    return X


@pytest.fixture(scope="module")
def X():
    return images()


@pytest.fixture(scope="module")
def fitted(X):
    return ventgen.HTVAE(epochs=4, random_state=0, covariance="full", **SMALL).fit(X)


# ------------------------------------------------------------------ assignment by likelihood
@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_equal_isotropic_covariances_give_the_nearest_code(covariance):
    som = SOMStack([(4, 4), (2, 2)], latent_dim=3, sigma_init=1.5, seed=0, covariance=covariance)
    ref = SOMStack([(4, 4), (2, 2)], latent_dim=3, sigma_init=1.5, seed=0)  # the paper's eq. 4
    z = torch.randn(200, 3, generator=torch.Generator().manual_seed(1)) * 2
    assert torch.equal(som.codes, ref.codes)
    assert torch.equal(som.nearest(z), torch.cdist(z, som.level_codes(1)).argmin(1))
    assert torch.equal(som.nearest(z), ref.nearest(z))
    assert all(torch.equal(a, b) for a, b in zip(som.parents(), ref.parents(), strict=True))
    # the same when every code has one equal isotropic covariance other than the overall one
    som.cov_weight.fill_(50.0)
    som.cov_scatter.copy_(torch.eye(3) * 50.0 * 0.3)
    assert torch.equal(som.nearest(z), ref.nearest(z))


def test_nearest_parents_take_the_nearest_upper_code_whatever_the_covariances():
    som = SOMStack([(4, 4), (2, 2)], latent_dim=3, sigma_init=1.5, seed=0, covariance="full", parents="nearest")
    lik = SOMStack([(4, 4), (2, 2)], latent_dim=3, sigma_init=1.5, seed=0, covariance="full")
    # one upper code elongated along the first axis: by likelihood it takes lower codes far along that axis
    for s in (som, lik):
        s.cov_weight.fill_(50.0)
        scatter = torch.eye(3).repeat(20, 1, 1) * 50.0 * 0.3
        scatter[16] = torch.diag(torch.tensor([50.0 * 30.0, 50.0 * 0.01, 50.0 * 0.01]))
        s.cov_scatter.copy_(scatter)
    near = torch.cdist(som.level_codes(1), som.level_codes(2)).argmin(1)
    assert torch.equal(som.parents()[0], near)
    assert not torch.equal(lik.parents()[0], near)  # the elongated code takes more children by likelihood
    # the chain of a sample follows its rule's parents
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(2))
    idx = som.chain(z)
    assert torch.equal(idx[1], near[idx[0]])
    with pytest.raises(VentgenValueError, match="parents must be 'likelihood' or 'nearest'"):
        SOMStack([(2, 2), (1, 1)], latent_dim=2, covariance="full", parents="closest")


def test_nearest_parents_are_a_config_field_saved_with_the_model(X, tmp_path):
    m = ventgen.HTVAE(epochs=1, random_state=0, covariance="full", parents="nearest", **SMALL).fit(X)
    assert m.module_.som.parent_rule == "nearest"
    m.save(tmp_path / "m.pt")
    back = ventgen.HTVAE.load(tmp_path / "m.pt")
    assert back.config_.parents == "nearest" and np.array_equal(back.assign(X), m.assign(X))
    assert ADDED_PARAMS["parents"] == "likelihood"  # files written before the field: likelihood parents


def test_paper_codes_have_no_covariance_state():
    """The paper's model keeps eq. 4 and the weights of older files (no covariance buffers)."""
    som = SOMStack([(3, 3), (2, 2)], latent_dim=2, seed=0)
    assert not som.gaussian and set(som.state_dict()) == {"codes"}
    assert ventgen.HTVAE(preset="paper").validated_config().covariance == "lattice"
    assert ADDED_PARAMS["covariance"] == "lattice" and ADDED_PARAMS["warmup_fraction"] == 0.0


def test_likelihood_follows_an_elongated_code():
    """A point nearer to a round code in Euclidean distance goes to an elongated code along whose long
    axis it lies."""
    som = SOMStack([(2, 1)], latent_dim=2, seed=0, covariance="full")
    with torch.no_grad():
        som.codes.copy_(torch.tensor([[0.0, 0.0], [3.0, 0.0]]))
    som.cov_weight.fill_(1e6)
    som.cov_scatter[0] = torch.diag(torch.tensor([4.0, 0.01])) * 1e6  # long along x
    som.cov_scatter[1] = torch.eye(2) * 0.01 * 1e6  # small and round
    z = torch.tensor([[1.8, 0.0], [2.9, 0.05], [-2.0, 0.0]])
    assert torch.cdist(z, som.codes)[0].argmin() == 1  # nearest code: the round one
    assert som.nearest(z).tolist() == [0, 1, 0]


def test_covariance_estimates_follow_the_encodings():
    """Running statistics of samples from N(code_k, Sigma_k) give back Sigma_k (shrunk toward the overall)."""
    som = SOMStack([(2, 1)], latent_dim=2, seed=0, covariance="full")
    with torch.no_grad():
        som.codes.copy_(torch.tensor([[-5.0, 0.0], [5.0, 0.0]]))
    sig = [torch.tensor([[1.0, 0.8], [0.8, 1.0]]), torch.tensor([[0.25, -0.1], [-0.1, 0.5]])]
    gen = torch.Generator().manual_seed(0)
    for _ in range(3000):
        k = torch.randint(2, (64,), generator=gen)
        eps = torch.randn(64, 2, generator=gen)
        z = som.codes.detach()[k] + torch.einsum("nij,nj->ni", torch.stack([torch.linalg.cholesky(s) for s in sig])[k], eps)
        som.update_covariances(z, k[None])
    cov = som.covariances()
    w = som.cov_weight
    for k in range(2):
        expected = (w[k] * sig[k] + COV_PRIOR * som.cov_all) / (w[k] + COV_PRIOR)
        assert torch.allclose(cov[k], expected, atol=0.05)
        assert torch.allclose(cov[k], sig[k], atol=0.12)
    assert som.nearest(torch.tensor([[-4.0, 1.0], [4.0, -0.5]])).tolist() == [0, 1]


def test_diagonal_keeps_only_the_variances():
    som = SOMStack([(2, 1)], latent_dim=2, seed=0, covariance="diagonal")
    som.cov_weight.fill_(100.0)
    som.cov_scatter.copy_(torch.tensor([[1.0, 0.9], [0.9, 1.0]]) * 100)
    cov = som.covariances()
    assert cov[0, 0, 1] == 0 and cov[0, 0, 0] > 0.9


# ------------------------------------------------------------------ the estimator
def test_fitted_gaussian_model_uses_its_covariances(fitted, X):
    som = fitted.module_.som
    assert som.gaussian and float(som.cov_weight.sum()) > 0
    cov = som.covariances()[: 9]
    sigma = fitted.node_sigma(1)
    assert np.allclose(sigma, torch.diagonal(cov, dim1=1, dim2=2).sqrt().numpy(), rtol=1e-5)
    # sampling from a node: the spread of the latent draws follows the node's covariance
    tril = som.scale_tril(1)[0]
    eps = torch.randn(20000, 3, generator=torch.Generator().manual_seed(0))
    emp = torch.cov((eps @ tril.T).T)
    assert torch.allclose(emp, cov[0], atol=0.05 * float(cov[0].diagonal().max()))
    # ... and the model's own node sampling draws from that full covariance, around the code
    Z = fitted.sample_latents(1, 0, 20000, random_state=0)
    tol = 0.05 * float(cov[0].diagonal().max())
    assert np.allclose(np.cov(Z.T), cov[0].numpy(), atol=tol)
    assert np.allclose(Z.mean(0), fitted.codebook(1)[0], atol=3 * float(sigma[0].max()) / np.sqrt(20000) * 3)
    assert fitted.sample(1, 0, 3, random_state=0).shape == (3, *X.shape[1:])
    # the assignment is the likelihood one (the paper's nearest code would differ somewhere or not, but
    # the model's own predict must equal the SOM's likelihood assignment of the encodings)
    mu = torch.from_numpy(fitted.transform(X))
    assert np.array_equal(fitted.predict(X), som.nearest(mu).numpy())


def test_gaussian_model_saves_and_loads_identically(fitted, X, tmp_path):
    p = tmp_path / "g.pt"
    fitted.save(p)
    m2 = ventgen.HTVAE.load(p, device="cpu")
    assert m2.config_.covariance == "full"
    assert np.array_equal(m2.assign(X), fitted.assign(X))
    assert np.array_equal(m2.node_sigma(2), fitted.node_sigma(2))
    assert np.array_equal(m2.sample(1, 2, 5, random_state=3), fitted.sample(1, 2, 5, random_state=3))
    assert all(np.array_equal(a, b) for a, b in zip(m2.tree_, fitted.tree_, strict=True))


def test_assignment_does_not_change_outside_training(fitted, X):
    before = fitted.module_.som.cov_scatter.clone()
    fitted.assign(X)
    fitted.sample(1, 0, 3, random_state=0)
    assert torch.equal(before, fitted.module_.som.cov_scatter)


# ------------------------------------------------------------------ warm-up and batch SOM
def test_batch_som_is_ordered_and_ends_as_kmeans():
    x = torch.linspace(0, 1, 500)[:, None].repeat(1, 2)  # points on a line
    c = batch_som(x, 5, 1)
    assert (c[1:, 0] - c[:-1, 0] > 0).all() or (c[1:, 0] - c[:-1, 0] < 0).all()  # ordered along the lattice
    # the last steps are Lloyd steps: every code is the mean of the points it holds
    a = torch.cdist(x, c).argmin(1)
    means = torch.stack([x[a == k].mean(0) for k in range(5)])
    assert torch.allclose(means, c, atol=1e-5)
    assert torch.equal(batch_som(x, 5, 1), c)  # deterministic


def test_warmup_places_the_maps_then_trains(X):
    m = ventgen.HTVAE(epochs=4, warmup_fraction=0.5, random_state=0, covariance="full", **SMALL).fit(X)
    h = m.history_
    assert [r["hier"] for r in h[:2]] == [0.0, 0.0] and h[2]["hier"] > 0 and h[3]["topo"] > 0
    assert bool(m.module_.maps_placed)
    pred = m.predict(X)  # the placed map tells the two kinds of images apart
    assert not set(pred[: len(X) // 2]) & set(pred[len(X) // 2 :])


def test_resume_across_the_warmup_end_equals_uninterrupted(X, tmp_path):
    kw = dict(SMALL, random_state=2, epochs=4, warmup_fraction=0.5, covariance="full")
    full = ventgen.HTVAE(**kw).fit(X)

    class Stop(Exception):
        pass

    def stop_after(k):
        def cb(row):
            if row["epoch"] == k:
                raise Stop
        return cb

    for k in (1, 2):  # in the warm-up, and right where the maps are placed
        with pytest.raises(Stop):
            ventgen.HTVAE(**kw).fit(X, checkpoint_dir=tmp_path / f"cut{k}", epoch_callback=stop_after(k))
        resumed = ventgen.HTVAE(**kw).fit(X, checkpoint_dir=tmp_path / f"cut{k}", resume=True)
        assert np.array_equal(resumed.codebook(1), full.codebook(1))
        assert np.array_equal(resumed.assign(X), full.assign(X))
        assert [r["loss"] for r in resumed.history_] == [r["loss"] for r in full.history_]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"covariance": "low-rank"}, "covariance must be"),
        ({"warmup_fraction": 1.0}, r"warmup_fraction must be in \[0, 1\)"),
        ({"warmup_fraction": -0.1}, "warmup_fraction must be >= 0"),
    ],
)
def test_bad_parameters(kw, match, X):
    with pytest.raises(VentgenValueError, match=match):
        ventgen.HTVAE(**kw).fit(X)


def test_warmup_epochs_follow_the_fraction():
    cfg = ventgen.HTVAE(epochs=20, warmup_fraction=0.1).validated_config()
    assert cfg.warmup_epochs == 2
    assert ventgen.HTVAE(epochs=3, warmup_fraction=0.1).validated_config().warmup_epochs == 0


def test_assignment_depends_on_shape_not_size():
    """Equal volumes: making one code's covariance broader (same shape) does not win it more samples."""
    som = SOMStack([(3, 1)], latent_dim=2, seed=0, covariance="full")
    som.cov_weight.fill_(1e6)
    shapes = [torch.tensor([[2.0, 0.5], [0.5, 1.0]]), torch.eye(2), torch.tensor([[1.0, -0.3], [-0.3, 0.5]])]
    for k, s in enumerate(shapes):
        som.cov_scatter[k] = s * 1e6
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(0)) * 2
    before = som.nearest(z)
    som.cov_scatter[1] *= 25.0  # five times the spread, same shape
    assert torch.equal(som.nearest(z), before)


def test_the_default_preset_has_gaussian_codes():
    cfg = ventgen.HTVAE().validated_config()
    assert (cfg.covariance, cfg.code_lr_scale, cfg.topology_weight) == ("full", 10.0, 0.01)
    assert cfg.parents == "nearest" and ventgen.HTVAE(preset="paper").validated_config().parents == "likelihood"
    assert ventgen.HTVAE(preset="paper").validated_config().code_lr_scale == 1.0
