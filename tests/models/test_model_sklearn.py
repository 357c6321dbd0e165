"""The scikit-learn contract of HTVAE, SOMVAE and VAE, and the hyper-parameter config with its presets."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec

import ventgen
from ventgen.cli import build_parser
from ventgen.errors import VentgenValueError
from ventgen.models.baselines import SOMVAE, VAE
from ventgen.models.checkpoint import ADDED_PARAMS
from ventgen.models.config import DEFAULT_PRESET, PRESETS, HTVAEConfig, field_names, resolve

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(latent_dim=2, channels=(2, 2), batch_size=16, epochs=1, device="cpu", progress=False, random_state=0)


def _estimators():
    return [
        ventgen.HTVAE(maps=[(2, 2), (2, 1)], **TINY),
        SOMVAE(map_shape=(2, 2), **TINY),
        VAE(**TINY),
    ]


def _X(n=32, T=8, seed=0):
    return np.random.default_rng(seed).random((n, 2, T)).astype(np.float32) * 10


CHECKS = [
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
    ec.check_estimators_unfitted,
]


@pytest.mark.parametrize("est", _estimators(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_sklearn_estimator_checks(est, check):
    check(type(est).__name__, est)


@pytest.mark.parametrize("est", _estimators(), ids=lambda e: type(e).__name__)
def test_clone_refit_is_idempotent_and_unfitted_use_is_refused(est):
    X = _X()
    with pytest.raises(NotFittedError):
        est.transform(X)
    with pytest.raises(VentgenValueError, match="not fitted"):  # also a ventgen error
        est.transform(X)
    a = clone(est).fit(X)
    b = clone(est).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    again = a.fit(X).transform(X)  # fitting twice gives the same model
    np.testing.assert_array_equal(again, b.transform(X))
    assert clone(a).get_params() == est.get_params()
    assert not any(k.endswith("_") for k in vars(clone(a)))  # a clone is unfitted


def test_htvae_set_params_takes_effect_at_fit():
    X = _X()
    m = ventgen.HTVAE(maps=[(2, 2), (2, 1)], **TINY)
    m.set_params(latent_dim=3, maps=[(3, 1), (2, 1)]).fit(X)
    assert m.transform(X).shape == (32, 3) and m.maps_ == [(3, 1), (2, 1)]
    assert m.config_.latent_dim == 3 and m.get_params()["latent_dim"] == 3


def test_config_is_the_one_source_of_hyper_parameters():
    sig = inspect.signature(ventgen.HTVAE).parameters
    assert set(sig) == {*field_names(), "device", "random_state", "progress", "preset"}
    assert all(sig[k].default is None for k in field_names())  # None = the preset's value
    assert sig["preset"].default == DEFAULT_PRESET == "recipe"  # the best measured recipe
    # checkpoints written before a parameter existed imply the paper's value
    paper = PRESETS["paper"]
    assert all(getattr(paper, k) == v for k, v in ADDED_PARAMS.items())
    assert (paper.epochs, paper.lr, paper.batch_size, paper.latent_dim) == (20, 5e-4, 32, 16)
    assert dataclasses.replace(paper) == HTVAEConfig()
    # every field is a CLI option of `ventgen train` when the config says so, with the config's default
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {a.dest: a for a in train._actions}
    for f in dataclasses.fields(HTVAEConfig):
        if f.metadata["cli"] is not None:
            assert flags[f.name].default is None and f.metadata["help"] in flags[f.name].help


def test_recipe_preset_and_overrides():
    recipe = resolve("recipe", {}).validated()
    assert (recipe.reconstruction_weights, recipe.hierarchy_weight) == ((1.0, 0.1, 0.1, 0.1), 0.3)
    assert (recipe.mask_padding, recipe.reconstruction_loss, recipe.epochs) == (True, "absolute", 150)
    m = ventgen.HTVAE(preset="recipe", epochs=3, hierarchy_weight=0.5)
    cfg = m.validated_config()
    assert (cfg.epochs, cfg.hierarchy_weight, cfg.reconstruction_loss) == (3, 0.5, "absolute")
    assert m.epochs == 3 and m.reconstruction_loss is None  # the estimator stores what it was given
    with pytest.raises(VentgenValueError, match="preset must be one of"):
        ventgen.HTVAE(preset="best").validated_config()


def test_recipe_model_trains_saves_and_loads(tmp_path):
    X = _X()

    class Cycles:  # mask_padding needs lengths
        def __init__(self, X):
            self.X, self.lengths = X, np.full(len(X), 6)

    m = ventgen.HTVAE(preset="recipe", maps=[(2, 2), (2, 1)], **TINY).fit(Cycles(X))
    assert m.module_.reconstruction_weights == (1.0, 0.1, 0.1) and m.module_.reconstruction_loss == "absolute"
    m.save(tmp_path / "r.pt")
    loaded = ventgen.HTVAE.load(tmp_path / "r.pt")
    assert loaded.config_ == m.config_ and loaded.mask_padding is True
    np.testing.assert_array_equal(loaded.transform(X), m.transform(X))
    ckpt = torch.load(tmp_path / "r.pt", weights_only=True)
    assert "preset" not in ckpt["params"]  # the file stores every value, not the preset's name


def test_a_model_fitted_with_its_presets_maps_generates_and_reports(tmp_path):
    """HTVAE() leaves maps=None (the preset's); everything downstream reads the fitted maps_."""
    import ventgen
    from ventgen.labels import LearnedTree, model_maps

    recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0)
    cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    model = ventgen.HTVAE(epochs=1, random_state=0, device="cpu").fit(cycles)
    assert model.maps is None and model_maps(model) == [(8, 8), (4, 4), (2, 2)]
    assert LearnedTree.from_model(model).sizes == [64, 16, 4]
    spec = {"patients": 1, "breaths": 20, "composition": {"normal breathing": 1.0}}
    opts = ventgen.GenerationOptions(latent="data", nodes="members")
    res = ventgen.generate_cohort(model, spec, cycles, random_state=0, options=opts)
    assert res.n_breaths == 20
