"""Upper maps rebuilt after training as merges of the level-1 Gaussians (upper_levels="merged",
ventgen.models.upper): known answers on blobs, the greedy merge, the chain kept, persistence, the post
hoc merge equal to the trained one, resumes, level-1 generation unchanged, and the errors. Tiny networks
and data (seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ventgen
from ventgen.errors import VentgenValueError
from ventgen.models.checkpoint import ADDED_PARAMS
from ventgen.models.som import SOMStack
from ventgen.models.upper import greedy_merge, merge_upper_maps

pytestmark = pytest.mark.usefixtures("one_thread")

KW = dict(maps=[(3, 3), (2, 2), (1, 2)], latent_dim=3, channels=(4, 8), batch_size=16, lr=1e-2, progress=False,
          preset="paper", covariance="full", epochs=3, random_state=0)


def images(n, seed=0):
    """Two kinds of 8x8 images in [0, 1]: a bright left half or a bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 0.2, (n, 1, 8, 8)).astype(np.float32)
    X[: n // 2, :, :, :4] += 0.7
    X[n // 2 :, :, :, 4:] += 0.7
    return X


def blobs(seed=0, n=150):
    """Four elongated blobs in 2-D (each 2 x 0.2 standard deviations, at the corners of a 20-wide square)
    and their labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20]], float)
    z = np.concatenate([c + rng.normal(size=(n, 2)) * [2.0, 0.2] for c in centres])
    return torch.tensor(z, dtype=torch.float32), np.repeat(np.arange(4), n)


@pytest.fixture(scope="module")
def X():
    return images(96)


@pytest.fixture(scope="module")
def merged(X):
    return ventgen.HTVAE(upper_levels="merged", **KW).fit(X)


# ------------------------------------------------------------------ the maps
def test_merge_finds_the_blobs_and_keeps_a_tree():
    z, y = blobs()
    som = SOMStack([(4, 4), (2, 2)], latent_dim=2, seed=0, covariance="full", stored_upper=True)
    som.init_from(z)
    assert not som.upper_stored
    out = merge_upper_maps(som, z)
    assert som.upper_stored and out == {"n_used": [4]}
    chain = som.chain(z)
    assert torch.equal(chain[1], som.parents()[0][chain[0]])  # a sample's node = its level-1 node's parent
    top = chain[1].numpy()
    assert all(len(set(top[y == k])) == 1 for k in range(4)) and len(set(top)) == 4  # one node per blob
    # each node is its blob's Gaussian: mean and covariance
    for k in range(4):
        node = top[y == k][0]
        zk = z[y == k].double()
        assert torch.allclose(som.level_codes(2)[node].double(), zk.mean(0), atol=1e-3)
        cov = som.covariances()[som.offsets[1] + node].double()
        assert torch.allclose(cov, torch.cov(zk.T) * (len(zk) - 1) / len(zk), rtol=0.02, atol=0.02)
        assert torch.allclose(som.sigma(2)[node].double(), cov.diagonal().sqrt().float().double())
    tril = som.scale_tril(2)  # positive definite
    assert torch.isfinite(tril).all()


def test_merge_is_deterministic_and_leaves_level_1_alone():
    z, _ = blobs(1)
    soms = []
    for _ in range(2):
        som = SOMStack([(4, 4), (2, 2), (1, 2)], latent_dim=2, seed=0, covariance="full", stored_upper=True)
        som.init_from(z)
        before = (som.level_codes(1).clone(), som.covariances()[:16].clone())
        merge_upper_maps(som, z)
        assert torch.equal(som.level_codes(1), before[0]) and torch.equal(som.covariances()[:16], before[1])
        soms.append(som)
    assert torch.equal(soms[0].codes, soms[1].codes)
    assert all(torch.equal(a, b) for a, b in zip(soms[0].parents(), soms[1].parents(), strict=True))


def test_fewer_used_codes_than_nodes_leave_nodes_empty():
    som = SOMStack([(3, 3), (2, 2), (1, 2)], latent_dim=2, seed=0, covariance="full", stored_upper=True)
    z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.0, 5.1], [-5.0, 5.0]])
    som.codes.data[:9] = torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]]).repeat(3, 1) + torch.randn(9, 2) * 0.01
    som.codes.data[3:9] += 100.0  # only codes 0, 1 and 2 of level 1 hold encodings
    before = som.level_codes(2).detach().clone(), som.covariances()[9:13].clone()
    assert merge_upper_maps(som, z) == {"n_used": [3, 2]}
    chain = som.chain(z)
    assert len(set(chain[1].tolist())) == 3 and chain[2][0] == chain[2][1]
    for i in range(2):  # still a tree, every node below has a parent
        assert torch.equal(chain[i + 1], som.parents()[i][chain[i]])
    empty = sorted(set(range(4)) - set(chain[1].tolist()))
    assert torch.equal(som.level_codes(2)[empty], before[0][empty])
    assert torch.allclose(som.covariances()[9:13][empty], before[1][empty])


def test_set_upper_checks_its_arguments():
    som = SOMStack([(3, 3), (2, 2)], latent_dim=2, seed=0, covariance="full", stored_upper=True)
    c, cov = torch.zeros(4, 2), torch.eye(2).repeat(4, 1, 1)
    with pytest.raises(VentgenValueError, match=r"needs codes \(4, 2\)"):
        som.set_upper([torch.zeros(3, 2)], [cov], [torch.zeros(9)])
    with pytest.raises(VentgenValueError, match=r"must lie in 0..3"):
        som.set_upper([c], [cov], [torch.full((9,), 4)])
    with pytest.raises(VentgenValueError, match="one per upper map"):
        som.set_upper([], [], [])
    som3 = SOMStack([(3, 3), (2, 2), (1, 2)], latent_dim=2, seed=0, covariance="full", stored_upper=True)
    before = som3.codes.detach().clone()
    with pytest.raises(VentgenValueError, match=r"parents of level 2 must lie in 0..1"):  # level 2 fine, 3 not
        som3.set_upper([c, torch.zeros(2, 2)], [cov, cov[:2]], [torch.zeros(9), torch.full((4,), 2)])
    assert torch.equal(som3.codes, before) and not som3.upper_stored  # nothing written
    with pytest.raises(VentgenValueError, match="without stored_upper"):
        SOMStack([(3, 3), (2, 2)], latent_dim=2, covariance="full").set_upper([c], [cov], [torch.zeros(9)])
    with pytest.raises(VentgenValueError, match="needs Gaussian codes"):
        SOMStack([(3, 3), (2, 2)], latent_dim=2, stored_upper=True)


# ------------------------------------------------------------------ the estimator
def test_fit_merges_and_the_chain_holds(merged, X):
    som = merged.module_.som
    assert som.upper_stored
    A, P = merged.assign(X), merged.tree_
    for i in range(1, A.shape[1]):
        assert np.array_equal(A[:, i], P[i - 1][A[:, i - 1]])
    assert merged.sample(2, int(A[0, 1]), n=3, random_state=0).shape == (3, *X.shape[1:])


def test_merged_model_round_trips(merged, X, tmp_path):
    merged.save(tmp_path / "m.pt")
    back = ventgen.HTVAE.load(tmp_path / "m.pt")
    assert back.config_.upper_levels == "merged" and back.module_.som.upper_stored
    assert np.array_equal(back.assign(X), merged.assign(X))
    for level in (2, 3):
        assert np.array_equal(back.codebook(level), merged.codebook(level))
        assert np.array_equal(back.node_sigma(level), merged.node_sigma(level))


def test_post_hoc_merge_equals_the_trained_merge(merged, X):
    m = ventgen.HTVAE(**KW).fit(X)
    assert m.config_.upper_levels == "trained" and not m.module_.som.upper_stored
    m.merge_upper_levels(X)
    assert m.config_.upper_levels == "merged" and m.upper_levels == "merged"
    assert np.array_equal(m.assign(X), merged.assign(X))
    for level in (2, 3):
        assert np.array_equal(m.codebook(level), merged.codebook(level))
        assert np.array_equal(m.node_sigma(level), merged.node_sigma(level))
    with pytest.raises(VentgenValueError, match="merged already"):
        m.merge_upper_levels(X)


def test_resuming_a_finished_training_does_not_merge_twice(merged, X, tmp_path):
    ventgen.HTVAE(upper_levels="merged", **KW).fit(X, checkpoint_dir=tmp_path)
    again = ventgen.HTVAE(upper_levels="merged", **KW).fit(X, checkpoint_dir=tmp_path, resume=True)
    assert np.array_equal(again.codebook(2), merged.codebook(2))
    assert np.array_equal(again.assign(X), merged.assign(X))


def test_bad_settings_and_old_files(X):
    with pytest.raises(VentgenValueError, match="upper_levels='merged' needs Gaussian codes"):
        ventgen.HTVAE(upper_levels="merged", preset="paper").validated_config()
    with pytest.raises(VentgenValueError, match="upper_levels must be"):
        ventgen.HTVAE(upper_levels="gmm").validated_config()
    lattice = ventgen.HTVAE(**dict(KW, covariance="lattice")).fit(X)
    with pytest.raises(VentgenValueError, match="needs Gaussian codes"):
        lattice.merge_upper_levels(X)
    assert ADDED_PARAMS["upper_levels"] == "trained"  # files written before the option keep their trained maps


def test_greedy_merge_is_nested_and_merges_the_cheapest_pair_first():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(12, 3)) * 5
    a = rng.normal(size=(12, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)
    w = rng.uniform(1, 10, 12)
    g6, g3, g1 = greedy_merge(w, mu, cov, [6, 3, 1])
    assert [len(set(g)) for g in (g6, g3, g1)] == [6, 3, 1]
    for fine, coarse in ((g6, g3), (g3, g1)):  # every fine group lies inside one coarse group
        assert all(len(set(coarse[fine == j])) == 1 for j in set(fine))
    # with n-1 components left, the pair merged is the one whose merge loses the least likelihood
    (g11,) = greedy_merge(w, mu, cov, [11])
    pair = [k for k in range(12) if (g11 == g11[k]).sum() == 2]

    def loss(i, j):
        W = w[i] + w[j]
        m = (w[i] * mu[i] + w[j] * mu[j]) / W
        c = sum(w[k] * (cov[k] + np.outer(mu[k] - m, mu[k] - m)) for k in (i, j)) / W
        ld = lambda x: np.linalg.slogdet(x)[1]  # noqa: E731
        return 0.5 * (W * ld(c) - w[i] * ld(cov[i]) - w[j] * ld(cov[j]))

    best = min(((i, j) for i in range(12) for j in range(i + 1, 12)), key=lambda p: loss(*p))
    assert tuple(pair) == best


def test_more_epochs_resume_from_the_maps_as_trained(X, tmp_path):
    """A finished model with merged maps, resumed for more epochs, equals a direct run: training goes on
    from the trained upper codes and the merge is redone at the end."""
    kw = dict(KW, upper_levels="merged", epochs=2)
    ventgen.HTVAE(**kw).fit(X, checkpoint_dir=tmp_path)
    resumed = ventgen.HTVAE(**dict(kw, epochs=4)).fit(X, checkpoint_dir=tmp_path, resume=True)
    direct = ventgen.HTVAE(**dict(kw, epochs=4)).fit(X)
    assert resumed.module_.som.upper_stored
    assert [r["loss"] for r in resumed.history_] == [r["loss"] for r in direct.history_]
    for level in (1, 2, 3):
        assert np.array_equal(resumed.codebook(level), direct.codebook(level))
    som = direct.module_.som
    trained = som.upper_trained.clone()
    som.unset_upper()  # undo: the trained codes and computed parents are back
    assert not som.upper_stored and torch.equal(som.codes[som.offsets[1]:], trained)


def test_class_balanced_generation_at_level_1_is_unchanged_by_the_merge():
    """The merge changes the upper maps only: training, level 1 and a cohort drawn by class at level 1
    are the same breaths."""
    import warnings

    from ventgen.errors import VentgenWarning
    from ventgen.generate import GenerationOptions, generate_cohort

    recs = ventgen.simulate_cohort(n_subjects=1, minutes=3, random_state=0, progress=False)
    cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    spec = {"patients": 2, "breaths": 30, "composition": {"normal breathing": 0.5, "respiratory event": 0.5}}
    out = []
    for upper in ("trained", "merged"):
        m = ventgen.HTVAE(maps=[(3, 3), (2, 2), (1, 2)], latent_dim=4, epochs=2, random_state=0, device="cpu",
                          progress=False, generator="none", upper_levels=upper).fit(cycles)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VentgenWarning)  # a two-epoch model: impure nodes
            options = GenerationOptions(nodes="members", latent="data")  # classes inside mixed nodes
            out.append((m, generate_cohort(m, spec, random_state=3, options=options)))
    (a_model, a), (b_model, b) = out
    assert np.array_equal(a_model.codebook(1), b_model.codebook(1))
    assert a.manifest.equals(b.manifest)
    assert all(np.array_equal(x.flow, y.flow) and np.array_equal(x.pressure, y.pressure)
               for x, y in zip(a.recordings, b.recordings, strict=True))
