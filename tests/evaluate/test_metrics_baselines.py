"""Metrics room: SOM-VAE and VAE baselines, and the benchmark command on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import ventgen
from ventgen.cli import main
from ventgen.errors import VentgenTypeError, VentgenValueError
from ventgen.models.baselines import SOMVAE, VAE

pytestmark = pytest.mark.usefixtures("one_thread")


def _series(n=48, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 16)
    f = rng.integers(1, 3, n)
    X = np.stack(
        [np.sin(2 * np.pi * f[:, None] * t) * 40, np.cos(2 * np.pi * f[:, None] * t) * 5 + 10], 1
    )
    return X.astype(np.float32), f


def test_vae_fit_transform_and_units():
    X, _ = _series()
    vae = VAE(latent_dim=3, epochs=2, batch_size=16, random_state=0, progress=False).fit(X)
    Z = vae.transform(X)
    assert Z.shape == (48, 3) and np.isfinite(Z).all()
    R = vae.reconstruct(X)
    assert R.shape == X.shape
    # decoded values stay inside the training range per channel (sigmoid output, min-max scaling)
    for c in range(2):
        assert X[:, c].min() - 1e-4 <= R[:, c].min() and R[:, c].max() <= X[:, c].max() + 1e-4
    assert [h["epoch"] for h in vae.history_] == [1, 2] and {"rec", "kl"} <= set(vae.history_[0])
    # same seed, same bytes
    again = VAE(latent_dim=3, epochs=2, batch_size=16, random_state=0, progress=False).fit(X)
    assert np.array_equal(again.transform(X), Z)


def test_vae_learns():
    X, _ = _series(n=64)
    vae = VAE(
        latent_dim=2,
        epochs=15,
        batch_size=16,
        likelihood="gaussian",
        random_state=0,
        progress=False,
    ).fit(X)
    assert vae.history_[-1]["loss"] < vae.history_[0]["loss"]


def test_somvae_map_and_losses():
    X = np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32)
    som = SOMVAE(
        map_shape=(3, 2), latent_dim=4, epochs=2, batch_size=8, random_state=0, progress=False
    ).fit(X)
    k = som.predict(X)
    assert k.shape == (40,) and k.min() >= 0 and k.max() < 6
    assert som.codebook_.shape == (6, 4) and som.maps == [(3, 2)] and som.tree_ == []
    assert som.assign(X).shape == (40, 1)
    assert {"rec", "commit", "som"} <= set(som.history_[0])
    # the neighbour table holds the 4-connected lattice (corner 0 of a 3x2 map: right 1, down 2)
    assert sorted(int(v) for v in som._nb[0] if v >= 0) == [0, 1, 2]


def test_baseline_errors():
    with pytest.raises(VentgenTypeError):
        VAE(epochs=1).fit([[1, 2]])
    with pytest.raises(VentgenValueError, match="shape"):
        VAE(epochs=1).fit(np.zeros((4, 8), np.float32))
    with pytest.raises(VentgenValueError, match="not fitted"):
        SOMVAE().predict(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(VentgenValueError, match="epochs"):
        VAE(epochs=0).fit(np.zeros((4, 1, 8), np.float32))
    X = np.zeros((4, 1, 8), np.float32)
    X[0, 0, 0] = np.nan
    with pytest.raises(VentgenValueError, match="NaN"):
        VAE(epochs=1).fit(X)


# ----------------------------------------------------------------------------- benchmark
def _tiny_digits_benchmark(out, models: str, *extra: str) -> list[str]:
    """argv of a one-epoch benchmark on 120 digits with tiny maps."""
    return [
        "--quiet", "benchmark", "--dataset", "digits", "--epochs", "1", "--subset", "120",
        "--maps", "2x2,1x2", "--latent-dim", "4", "--models", models, *extra, "-o", str(out),
    ]


def test_benchmark_command_on_digits(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(_tiny_digits_benchmark(out, "som-vae,vae-hkmeans,vae-rgmm", "--threads", "1"))
    assert rc == 0
    text = capsys.readouterr().out
    assert "| som-vae | 1 | 4" in text and "vae-rgmm" in text
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["model"]) == {"som-vae", "vae-hkmeans", "vae-rgmm"}
    assert summary.loc[summary.model == "vae-hkmeans", "level"].tolist() == [1, 2]
    assert summary.loc[summary.model == "vae-hkmeans", "K"].tolist() == [4, 2]
    assert (
        summary[["purity_mean", "nmi_mean", "accuracy_mean"]]
        .apply(lambda c: c.between(0, 1))
        .all()
        .all()
    )
    # Dtree: on level 1 of the hierarchical baselines, not for the single-map SOM-VAE
    row = summary[(summary.model == "vae-hkmeans") & (summary.level == 1)].iloc[0]
    assert (
        np.isfinite(row.dtree_mean)
        and np.isnan(summary[summary.model == "som-vae"].dtree_mean).all()
    )
    assert (out / "summary.md").read_text().startswith("| model |")
    runs = sorted(p.name for p in (out / "runs").glob("*.csv"))
    assert "vae-hkmeans_seed0.csv" in runs and "som-vae_seed0_history.csv" in runs
    # a rerun skips finished runs (their files stay byte-identical)
    before = (out / "runs" / "som-vae_seed0.csv").read_bytes()
    assert main(_tiny_digits_benchmark(out, "som-vae")) == 0
    assert (out / "runs" / "som-vae_seed0.csv").read_bytes() == before


def test_benchmark_argument_errors(tmp_path, capsys):
    assert (
        main(["benchmark", "--dataset", "digits", "--models", "kmeans", "-o", str(tmp_path)]) == 2
    )
    assert "unknown model" in capsys.readouterr().err
    assert (
        main(
            [
                "benchmark",
                "--dataset",
                "mnist",
                "--root",
                str(tmp_path / "none"),
                "-o",
                str(tmp_path),
            ]
        )
        == 2
    )
    with pytest.raises(SystemExit):
        main(["benchmark", "--dataset", "digits", "--maps", "8by8"])


def test_benchmark_passes_htvae_params_and_records_them(tmp_path, capsys):
    out = tmp_path / "hp"
    argv = _tiny_digits_benchmark(out, "htvae", "--htvae-param", "code_lr_scale=10",
                                  "--htvae-param", "topology_weight=0.01", "--htvae-param", "parents=nearest",
                                  "--threads", "1")
    assert main(argv) == 0
    run = pd.read_csv(out / "runs" / "htvae_seed0.csv")
    assert json.loads(run["htvae_params"].iloc[0]) == {"code_lr_scale": 10.0, "parents": "nearest",
                                                       "topology_weight": 0.01}
    ckpt = ventgen.HTVAE.load(out / "runs" / "htvae_seed0_ckpt" / "checkpoint.pt")
    assert (ckpt.code_lr_scale, ckpt.topology_weight, ckpt.config_.parents) == (10.0, 0.01, "nearest")
    assert main(_tiny_digits_benchmark(tmp_path / "bad", "htvae", "--htvae-param", "epochs=3")) == 2
    assert "unknown HTVAE parameter" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(_tiny_digits_benchmark(tmp_path / "bad", "htvae", "--htvae-param", "rho"))
    assert main(_tiny_digits_benchmark(tmp_path / "bad2", "htvae", "--htvae-param", "parents=closest")) == 2
    assert "parents" in capsys.readouterr().err


def test_benchmark_ventilation_simulated(tmp_path):
    from ventgen.evaluate.benchmark import run_benchmark

    out = tmp_path / "vent"
    summary = run_benchmark(
        "ventilation",
        out_dir=out,
        sim_minutes=1.5,
        epochs=1,
        models=["vae-hkmeans", "vae-rgmm"],
        maps=[(2, 2), (1, 2)],
        latent_dim=3,
        progress=False,
    )
    assert set(summary["model"]) == {"vae-hkmeans", "vae-rgmm"}
    run = pd.read_csv(out / "runs" / "vae-hkmeans_seed0.csv")
    # held-out subject: the test set is the labelled cycles of the last subject only
    assert run["n_test"].iloc[0] > 0 and run["n_train"].iloc[0] > run["n_test"].iloc[0]
    assert np.isfinite(run.loc[run.level == 1, "dtree"]).all()


def test_maps_for_k_keeps_the_branching():
    from ventgen.evaluate.benchmark import maps_for_k

    base = [(8, 8), (4, 4), (2, 2)]
    assert maps_for_k(base, 64) == base
    assert maps_for_k(base, 16) == [(4, 4), (2, 2)]  # a 1x1 top map would hold every sample: dropped
    assert maps_for_k(base, 256) == [(16, 16), (8, 8), (4, 4)]
    assert maps_for_k([(4, 2), (2, 1)], 32) == [(8, 4), (4, 2)]


def test_benchmark_at_several_k_with_the_paper_model(tmp_path):
    from ventgen.evaluate.benchmark import run_benchmark

    out = tmp_path / "ks"
    summary = run_benchmark("digits", out_dir=out, models=["htvae-paper", "vae-hkmeans"], epochs=1, subset=120,
                            maps=[(2, 2), (1, 2)], ks=[4, 16], latent_dim=3, progress=False)
    rows = {(r.model, r.k1, r.level): r.K for r in summary.itertuples()}
    assert rows == {("htvae-paper", 4, 1): 4, ("htvae-paper", 4, 2): 2, ("htvae-paper", 16, 1): 16,
                    ("htvae-paper", 16, 2): 8, ("vae-hkmeans", 4, 1): 4, ("vae-hkmeans", 4, 2): 2,
                    ("vae-hkmeans", 16, 1): 16, ("vae-hkmeans", 16, 2): 8}
    assert (out / "runs" / "htvae-paper_K16_seed0.csv").exists()
    ckpt = ventgen.HTVAE.load(out / "runs" / "htvae-paper_K16_seed0_ckpt" / "checkpoint.pt")
    assert ckpt.preset == "paper" and ckpt.maps_ == [(4, 4), (2, 4)]
    run = pd.read_csv(out / "runs" / "htvae-paper_K4_seed0.csv")
    assert json.loads(run["htvae_params"].iloc[0]) == {"preset": "paper"}
    with pytest.raises(VentgenValueError, match="ks"):
        run_benchmark("digits", out_dir=tmp_path / "bad", models=["vae-hkmeans"], ks=[1], progress=False)


def test_benchmark_command_takes_several_k(tmp_path, capsys):
    out = tmp_path / "cli_ks"
    assert main(_tiny_digits_benchmark(out, "vae-hkmeans", "--ks", "4,16")) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary.loc[summary.level == 1, "K"]) == [4, 16]
    with pytest.raises(SystemExit):
        main(["benchmark", "--dataset", "digits", "--ks", "16,zero"])
    assert "expected a positive integer" in capsys.readouterr().err
