"""`ventgen train`: CycleSet file in, saved HTVAE out; resume; must-link from partial labels; errors."""

from __future__ import annotations

import numpy as np
import pytest

import ventgen
from ventgen.cli import main
from ventgen.workflows import partial_labels

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cycles_file(tmp_path):
    rng = np.random.default_rng(0)
    n, T = 48, 32
    t = np.linspace(0, 1, T)[None, :]
    amp = rng.uniform(20, 60, (n, 1))
    X = np.stack([amp * np.sin(2 * np.pi * t), 5 + amp / 4 * (t < 0.4)], 1).astype(np.float32)
    labels = np.where(amp[:, 0] > 40, "coughing", "normal breathing").astype(object)
    labels[::3] = ""
    cs = ventgen.CycleSet(X, lengths=np.full(n, T), sampling_rate=25, labels=labels)
    path = tmp_path / "cycles.h5"
    ventgen.write_cycleset(cs, path)
    return path, X


def test_train_cli_writes_a_loadable_model(cycles_file, tmp_path, capsys):
    path, X = cycles_file
    out = tmp_path / "model.pt"
    args = [
        "--quiet",
        "train",
        str(path),
        "-o",
        str(out),
        "--maps",
        "3x3,2x1",
        "--epochs",
        "2",
        "--latent-dim",
        "3",
        "--seed",
        "0",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "epoch 1/2: loss=" in text and "perplexity_2=" in text and "48 cycles" in text
    m = ventgen.HTVAE.load(out)
    assert m.maps == [(3, 3), (2, 1)] and len(m.history_) == 2
    assert m.assign(X).shape == (48, 2)
    assert main(args) == 2  # refuses to overwrite
    assert "exists" in capsys.readouterr().err
    # resume from the checkpoints to more epochs == a direct run with the same seed
    assert main([*args[:8], "4", *args[9:], "--resume", "--overwrite"]) == 0
    resumed = ventgen.HTVAE.load(out)
    direct = tmp_path / "direct.pt"
    assert main([*args[:4], str(direct), *args[5:8], "4", *args[9:]]) == 0
    assert np.array_equal(resumed.codebook(1), ventgen.HTVAE.load(direct).codebook(1))


def test_train_cli_must_link_and_errors(cycles_file, tmp_path, capsys):
    path, _ = cycles_file
    out = tmp_path / "ml.pt"
    base = [
        "--quiet",
        "train",
        str(path),
        "--maps",
        "3x3,2x1",
        "--epochs",
        "1",
        "--latent-dim",
        "3",
        "--seed",
        "1",
    ]
    assert main([*base, "-o", str(out), "--must-link", "1", "--label-fraction", "0.5"]) == 0
    assert "(16 with must-link labels)" in capsys.readouterr().out  # 32 labelled, half kept
    assert ventgen.HTVAE.load(out).history_[0]["must_link"] > 0  # the kept labels link pairs
    assert main([*base, "-o", str(tmp_path / "x.pt"), "--maps", "2x2,3x3"]) == 2
    assert "shrink" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "x.pt"), "--must-link", "3"]) == 2
    assert "must_link_level" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "-o", str(tmp_path / "x.pt"), "--label-fraction", "2"])
    assert main([*base, "-o", str(tmp_path / "w.pt"), "--hierarchy-weight", "0.1", "--topology-weight", "0",
                 "--reconstruction-weights", "1,0.1,0.1", "--mask-padding", "--reconstruction-loss", "absolute"]) == 0
    w = ventgen.HTVAE.load(tmp_path / "w.pt")
    assert (w.hierarchy_weight, w.topology_weight, w.reconstruction_weights) == (0.1, 0.0, (1.0, 0.1, 0.1))
    assert w.mask_padding is True and w.reconstruction_loss == "absolute"
    assert main([*base, "-o", str(tmp_path / "x.pt"), "--reconstruction-weights", "1,0.1"]) == 2
    assert "needs 3 values" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "-o", str(tmp_path / "x.pt"), "--topology-weight", "-1"])


def test_partial_labels():
    lab = np.array(["a", "b", "", "a", "c", ""])
    out = partial_labels(lab, 0.5, random_state=0)
    kept = out != ""
    assert kept.sum() == 2 and (out[kept] == lab[kept]).all()
    assert (partial_labels(lab, 1.0) == lab.astype(object)).all()


def test_train_cli_preset(cycles_file, tmp_path, capsys):
    path, _ = cycles_file
    base = ["--quiet", "train", str(path), "--maps", "3x3,2x1", "--latent-dim", "3", "--seed", "0",
            "--device", "cpu", "--epochs", "1"]
    assert main([*base, "-o", str(tmp_path / "r.pt"), "--preset", "recipe"]) == 0
    r = ventgen.HTVAE.load(tmp_path / "r.pt")
    # the recipe's values, its level weights following the two maps; the options given win
    assert (r.reconstruction_weights, r.hierarchy_weight, r.mask_padding) == ((1.0, 0.1, 0.1), 0.3, True)
    assert (r.reconstruction_loss, r.epochs) == ("absolute", 1)
    assert main([*base, "-o", str(tmp_path / "n.pt"), "--preset", "recipe", "--no-mask-padding",
                 "--reconstruction-loss", "squared"]) == 0
    n = ventgen.HTVAE.load(tmp_path / "n.pt")
    assert (n.mask_padding, n.reconstruction_loss, n.hierarchy_weight) == (False, "squared", 0.3)
    assert main([*base, "-o", str(tmp_path / "p.pt"), "--preset", "paper"]) == 0
    p = ventgen.HTVAE.load(tmp_path / "p.pt")
    assert (p.reconstruction_weights, p.hierarchy_weight, p.mask_padding) == (None, 1.0, False)
    assert main([*base, "-o", str(tmp_path / "d.pt")]) == 0  # the default preset: the best recipe
    d = ventgen.HTVAE.load(tmp_path / "d.pt")
    assert (d.reconstruction_weights, d.hierarchy_weight, d.mask_padding) == ((1.0, 0.1, 0.1), 0.3, True)
    with pytest.raises(SystemExit):
        main([*base, "-o", str(tmp_path / "x.pt"), "--preset", "best"])
