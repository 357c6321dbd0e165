"""Safety of the model files, training and the image datasets under bad, hostile or mismatched input.

Every bad input is built here in ``tmp_path``: crafted CIFAR-100 pickles that would run code, tampered
model files (from a real saved tiny model), absurd map sizes, resuming on other data, unusable output
paths, degenerate CycleSets and out-of-range training arguments.
"""

from __future__ import annotations

import builtins
import os
import pickle

import numpy as np
import pytest
import torch

import ventgen
from ventgen import workflows
from ventgen.cli import main
from ventgen.errors import FileFormatError, VentgenValueError, VentgenWarning
from ventgen.io import checkpoint as io_checkpoint
from ventgen.io.datasets import load_cifar100, load_mnist
from ventgen.models.estimator import parse_maps

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(maps=[(2, 2), (2, 1)], latent_dim=2, channels=(2, 2), progress=False, device="cpu")
TRAIN = ["--maps", "2x2,2x1", "--latent-dim", "2", "--seed", "0", "--device", "cpu", "--epochs", "1"]


def _one_error_line(capsys, *needles) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ventgen: error:"), err
    assert "Traceback" not in err and ".tmp" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _X(n=24, T=16, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)[None, :]
    amp = rng.uniform(20, 60, (n, 1))
    return np.stack([amp * np.sin(2 * np.pi * t), 5 + amp / 4 * (t < 0.4)], 1).astype(np.float32)


def _cycles(path, n=24, T=16, seed=0, nan=False):
    X = _X(n, T, seed)
    if nan and n:
        X[n // 2, 0, 3] = np.nan
    labels = np.array(["coughing", "normal breathing"] * (n // 2) + ["coughing"] * (n % 2), dtype=object)
    ventgen.write_cycleset(ventgen.CycleSet(X, lengths=np.full(n, T), sampling_rate=25, labels=labels), path)
    return path


# ============================================================================ CIFAR-100 pickles
class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Exec:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _cifar_dict(n=6, seed=0):
    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 100, n)
    return {
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"fine_labels": fine.tolist(),
        b"coarse_labels": (fine // 5).tolist(),
        b"filenames": [f"img{i}.png".encode() for i in range(n)],
        b"batch_label": b"training batch 1 of 1",
    }


def _write_cifar(root, train_obj, protocol=2):
    d = root / "cifar-100-python"
    d.mkdir(parents=True, exist_ok=True)
    (d / "train").write_bytes(train_obj if isinstance(train_obj, bytes) else pickle.dumps(train_obj, protocol))
    meta = {
        b"fine_label_names": [f"f{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"c{i}".encode() for i in range(20)],
    }
    (d / "meta").write_bytes(pickle.dumps(meta, protocol))
    return d


@pytest.mark.parametrize("payload", ["os.system", "builtins.exec", "raw GLOBAL os system"])
def test_cifar_pickle_that_runs_code_is_refused(tmp_path, payload):
    marker = tmp_path / "PWNED"
    if payload == "os.system":
        obj = pickle.dumps({b"data": _System(marker)}, 2)
    elif payload == "builtins.exec":
        obj = pickle.dumps({b"data": _Exec(marker)}, 4)
    else:  # protocol 0, naming the module 'os' literally
        obj = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    _write_cifar(tmp_path, obj)
    with pytest.raises(FileFormatError, match=r"refusing to load .*it would import (os|posix|builtins)\.(system|exec)"):
        load_cifar100(tmp_path, "train")
    assert not marker.exists()


def test_cifar_pickle_attack_through_the_cli(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    _write_cifar(tmp_path, pickle.dumps({b"data": _System(marker)}, 2))
    out = tmp_path / "results"
    rc = main(["benchmark", "--dataset", "cifar100", "--root", str(tmp_path), "-o", str(out), "--epochs", "1"])
    assert rc == 2
    _one_error_line(capsys, "refusing to load", "it would import")
    assert not marker.exists() and not out.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_cifar_like_pickles_still_load(tmp_path, protocol):
    obj = _cifar_dict()
    _write_cifar(tmp_path, obj, protocol)
    ds = load_cifar100(tmp_path, "train")
    assert np.array_equal((ds.X * 255).round().astype(np.uint8).reshape(6, -1), obj[b"data"])
    assert ds.coarse.tolist() == obj[b"coarse_labels"]
    assert [int(c[1:]) for c in ds.labels] == obj[b"fine_labels"]


@pytest.mark.parametrize(
    "change, match",
    [
        ({b"data": [[0] * 3072]}, "'data'"),
        ({b"data": np.zeros((2, 3072), np.float64)}, "uint8"),
        ({b"fine_labels": ["a"] * 6}, "'fine_labels'"),
        ({b"coarse_labels": [-1] * 6}, "'coarse_labels'"),
        ({b"fine_labels": [10**30] * 6}, "'fine_labels'"),
        ({b"data": np.array([object()] * 2, dtype=object)}, "unexpected array type"),
    ],
)
def test_cifar_contents_are_checked(tmp_path, change, match):
    _write_cifar(tmp_path, pickle.dumps({**_cifar_dict(), **change}, 2))
    with pytest.raises(FileFormatError, match=match) as exc:
        load_cifar100(tmp_path, "train")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "raw, reason",
    [  # numpy asked for a 10**12-element array with no data behind it, directly or through _reconstruct
        (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
         b"\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85C\x01b\x87R.", "unexpected array reconstruction"),
        (b"cnumpy\nndarray\n(I1000000000000\ntR.", "takes no arguments"),
    ],
)
def test_cifar_huge_array_allocation_is_refused(tmp_path, raw, reason):
    _write_cifar(tmp_path, raw)
    with pytest.raises(FileFormatError, match=f"not a CIFAR-100 python pickle .*{reason}"):
        load_cifar100(tmp_path, "train")


@pytest.mark.parametrize("dataset", ["mnist", "cifar100"])
def test_benchmark_root_that_is_a_file(tmp_path, capsys, dataset):
    f = tmp_path / "data.bin"
    f.write_bytes(b"x")
    out = tmp_path / "results"
    assert main(["benchmark", "--dataset", dataset, "--root", str(f), "-o", str(out)]) == 2
    _one_error_line(capsys, "is a file", "--root")
    assert not out.exists()
    with pytest.raises(VentgenValueError, match="is a file"):
        load_mnist(f)


# ============================================================================ tampered model files
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    X = _X()
    m = ventgen.HTVAE(epochs=1, random_state=0, **TINY).fit(X, checkpoint_dir=d / "ck")
    m.save(d / "m.pt")
    return d / "m.pt", d / "ck" / "checkpoint.pt", X


def _mutate(ckpt, what):
    if what == "missing params":
        del ckpt["params"]
    elif what == "unknown parameter":
        ckpt["params"]["bogus"] = 1
    elif what == "string version":
        ckpt["format_version"] = "1.0"
    elif what == "absurd version":
        ckpt["format_version"] = 10**30
    elif what == "wrong-shape tensor":
        ckpt["model"]["som.codes"] = torch.zeros(3, 2)
    elif what == "10**10 codes":
        ckpt["params"]["maps"] = [[100_000, 100_000], [2, 1]]
    elif what == "too many maps":
        ckpt["params"]["maps"] = [[2 ** (20 - i), 1] for i in range(17)]
    elif what == "latent_dim 10**5":
        ckpt["params"]["latent_dim"] = 10**5
    elif what == "NaN weights":
        ckpt["model"]["som.codes"] = torch.full_like(ckpt["model"]["som.codes"], float("nan"))
    elif what == "missing tensor":
        del ckpt["model"]["decoder.fc.weight"]
    elif what == "absurd input_shape":
        ckpt["input_shape"] = [2, 10**9]
    elif what == "string seeds":
        ckpt["seeds"] = ["a", "b"]
    elif what == "bad scaling":
        ckpt["scaling"] = {"kind": "minmax", "min": torch.zeros(5), "max": torch.ones(5)}
    elif what == "string random_state":
        ckpt["params"]["random_state"] = "x"
    elif what == "non-dict top level":
        return [ckpt]
    return ckpt


@pytest.mark.parametrize(
    "what, field",
    [
        ("missing params", "'params'"),
        ("unknown parameter", "unknown parameter"),
        ("string version", "'format_version'"),
        ("absurd version", "newer than this ventgen"),
        ("wrong-shape tensor", "'som.codes'"),
        ("10**10 codes", "at most 65536 codes"),
        ("too many maps", "at most 16"),
        ("latent_dim 10**5", "latent_dim must be at most 1024"),
        ("NaN weights", "NaN"),
        ("missing tensor", "decoder.fc.weight"),
        ("absurd input_shape", "'input_shape'"),
        ("string seeds", "'seeds'"),
        ("bad scaling", "'scaling'"),
        ("string random_state", "random_state"),
        ("non-dict top level", "top level"),
    ],
)
def test_tampered_model_file_is_one_format_error(saved, tmp_path, what, field):
    good, _, _ = saved
    ckpt = torch.load(good, weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save(_mutate(ckpt, what), bad)
    with pytest.raises(FileFormatError) as exc:
        ventgen.HTVAE.load(bad)
    msg = str(exc.value)
    assert msg.startswith(str(bad)) and field in msg and "\n" not in msg, msg


@pytest.mark.parametrize("content", ["truncated", "garbage", "empty", "malicious"])
def test_unreadable_model_file_never_passes_on_torchs_advice(saved, tmp_path, content):
    good, _, _ = saved
    bad = tmp_path / "bad.pt"
    marker = tmp_path / "PWNED"
    if content == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif content == "garbage":
        bad.write_bytes(os.urandom(2000))
    elif content == "empty":
        bad.write_bytes(b"")
    else:
        torch.save({"format": "ventgen.HTVAE", "x": _System(marker)}, bad)
    with pytest.raises(FileFormatError, match="not a ventgen model file") as exc:
        ventgen.HTVAE.load(bad)
    msg = str(exc.value)
    assert "\n" not in msg and "trust" not in msg and "Weights only load failed" not in msg
    assert not marker.exists()
    if content == "malicious":
        assert "never loads model files with weights_only=False" in msg


def test_saved_model_still_loads(saved):
    good, ck, X = saved
    m = ventgen.HTVAE.load(good)
    assert m.assign(X).shape == (24, 2) and len(m.data_sha256_) == 64
    assert ventgen.HTVAE.load(ck).data_sha256_ is not None


def test_resume_from_a_checkpoint_with_a_broken_trainer_state(saved, tmp_path):
    _, ck, X = saved
    ckpt = torch.load(ck, weights_only=True)
    st = ckpt["trainer"]["optimizer"]["state"]
    first = next(iter(st))
    st[first]["exp_avg"] = torch.zeros(7)
    (tmp_path / "ck").mkdir()
    torch.save(ckpt, tmp_path / "ck" / "checkpoint.pt")
    with pytest.raises(FileFormatError, match="'trainer'.*cannot resume"):
        ventgen.HTVAE(epochs=2, random_state=0, **TINY).fit(X, checkpoint_dir=tmp_path / "ck", resume=True)


def test_resume_from_a_saved_model_without_training_state(saved, tmp_path):
    good, _, X = saved
    ckpt = torch.load(good, weights_only=True)
    ckpt["trainer"] = None
    (tmp_path / "ck").mkdir()
    torch.save(ckpt, tmp_path / "ck" / "checkpoint.pt")
    with pytest.raises(FileFormatError, match="holds no training state"):
        ventgen.HTVAE(epochs=2, random_state=0, **TINY).fit(X, checkpoint_dir=tmp_path / "ck", resume=True)


# ============================================================================ map and argument limits
def test_map_limits_in_the_estimator():
    """Checked by ``fit`` (through ``validated_config``), never by ``__init__``, which only stores."""
    ventgen.HTVAE(maps=[(3000, 3000), (2, 2)], latent_dim=100_000, channels="ab")  # stores, checks nothing
    with pytest.raises(VentgenValueError, match="9000000 codes.*at most 65536"):
        ventgen.HTVAE(maps=[(3000, 3000), (2, 2)]).validated_config()
    with pytest.raises(VentgenValueError, match="at most 16 stacked maps"):
        ventgen.HTVAE(maps=[(2 ** (20 - i), 1) for i in range(17)]).validated_config()
    with pytest.raises(VentgenValueError, match="at most 16"):
        parse_maps(",".join(["2x2"] * 17))
    with pytest.raises(VentgenValueError, match="must shrink"):
        ventgen.HTVAE(maps=[(2, 2), (2, 2)]).validated_config()
    with pytest.raises(VentgenValueError, match="latent_dim must be at most 1024"):
        ventgen.HTVAE(latent_dim=100_000).validated_config()
    with pytest.raises(VentgenValueError, match="epochs must be at most 100000"):
        ventgen.HTVAE(epochs=10**21).validated_config()
    with pytest.raises(VentgenValueError, match="batch_size must be at most 65536"):
        ventgen.HTVAE(batch_size=10**12).validated_config()
    for bad in (3.0, (0, 4), (4,), "ab", (10**6, 2)):
        with pytest.raises(VentgenValueError, match="channels must be two integers"):
            ventgen.HTVAE(channels=bad).validated_config()


def test_train_cli_refuses_huge_maps_before_reading(tmp_path, capsys):
    out = tmp_path / "m.pt"
    rc = main(["train", str(tmp_path / "absent.h5"), "-o", str(out), "--maps", "3000x3000,2x2"])
    assert rc == 2
    _one_error_line(capsys, "at most 65536 codes")
    assert sorted(os.listdir(tmp_path)) == []


def test_benchmark_cli_refuses_huge_maps(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--dataset", "digits", "--maps", "3000x3000,2x2", "-o", str(tmp_path / "r")])
    assert exc.value.code == 2
    assert "at most 65536 codes" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--epochs", str(10**21)], "epochs must be at most 100000"),
        (["--batch-size", str(10**12)], "batch_size must be at most 65536"),
        (["--latent-dim", "100000"], "latent_dim must be at most 1024"),
    ],
)
def test_train_cli_argument_limits(tmp_path, capsys, extra, needle):
    cycles = _cycles(tmp_path / "c.h5")
    out = tmp_path / "m.pt"
    assert main(["train", str(cycles), "-o", str(out), *TRAIN, *extra]) == 2
    _one_error_line(capsys, needle)
    assert not out.exists()
    assert not (tmp_path / "m.pt.checkpoints" / "checkpoint.pt").exists()


def test_train_cli_divergence_is_an_error_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    out = tmp_path / "m.pt"
    assert main(["--quiet", "train", str(cycles), "-o", str(out), *TRAIN[:-1], "3", "--lr", "1e30"]) == 2
    _one_error_line(capsys, "training diverged", "NaN", "lower learning rate")
    assert not out.exists()
    good = ventgen.HTVAE.load(tmp_path / "m.pt.checkpoints" / "checkpoint.pt")
    assert all(np.isfinite(h["loss"]) for h in good.history_) and len(good.history_) >= 1


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--threads", "100000"], "threads"),
        (["--htvae-param", "channels=3"], "channels must be two integers"),
        (["--epochs", str(10**6)], "epochs must be an integer in [1, 100000]"),
    ],
)
def test_benchmark_cli_argument_limits(tmp_path, capsys, extra, needle):
    out = tmp_path / "r"
    argv = ["benchmark", "--dataset", "digits", "--models", "htvae", "--subset", "20", "--maps", "2x2,2x1",
            "--latent-dim", "2", "--epochs", "1", "-o", str(out), *extra]
    assert main(argv) == 2
    _one_error_line(capsys, needle)
    assert not out.exists()


def test_benchmark_run_files_are_complete_and_leave_no_temporaries(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["--quiet", "benchmark", "--dataset", "digits", "--models", "vae-hkmeans", "--subset", "20",
            "--maps", "2x2,2x1", "--latent-dim", "2", "--epochs", "1", "--device", "cpu", "-o", str(out)]
    assert main(argv) == 0
    runs = out / "runs"
    assert not [p.name for p in runs.iterdir() if p.name.startswith(".")]
    with np.load(runs / "vae-hkmeans_seed0_assign.npz") as z:
        assert z["assign"].shape == (20, 2) and z["labels"].shape == (20,)


# ============================================================================ resume on other data
def test_resume_refuses_other_data_of_the_same_shape(tmp_path):
    X, Y = _X(seed=0), _X(seed=1)
    kw = dict(TINY, random_state=3)
    ventgen.HTVAE(epochs=1, **kw).fit(X, checkpoint_dir=tmp_path / "ck")
    with pytest.raises(VentgenValueError, match="trained on other data.*to start fresh"):
        ventgen.HTVAE(epochs=2, **kw).fit(Y, checkpoint_dir=tmp_path / "ck", resume=True)
    labels = np.array(["a", "b"] * 12)
    with pytest.raises(VentgenValueError, match="other data"):
        ventgen.HTVAE(epochs=2, **kw).fit(X, must_link=labels, checkpoint_dir=tmp_path / "ck", resume=True)
    # the same data resumes, bit for bit the uninterrupted run
    resumed = ventgen.HTVAE(epochs=2, **kw).fit(X, checkpoint_dir=tmp_path / "ck", resume=True)
    full = ventgen.HTVAE(epochs=2, **kw).fit(X)
    assert np.array_equal(resumed.codebook(1), full.codebook(1))
    assert np.array_equal(resumed.transform(X), full.transform(X))


def test_resume_from_an_old_checkpoint_without_fingerprint_warns(tmp_path):
    X = _X()
    kw = dict(TINY, random_state=3)
    ventgen.HTVAE(epochs=1, **kw).fit(X, checkpoint_dir=tmp_path / "ck")
    p = tmp_path / "ck" / "checkpoint.pt"
    ckpt = torch.load(p, weights_only=True)
    del ckpt["data_sha256"]
    torch.save(ckpt, p)
    with pytest.warns(VentgenWarning, match="predates data fingerprints"):
        ventgen.HTVAE(epochs=2, **kw).fit(X, checkpoint_dir=tmp_path / "ck", resume=True)


def test_train_cli_resume_on_other_data(tmp_path, capsys):
    a, b = _cycles(tmp_path / "a.h5", seed=0), _cycles(tmp_path / "b.h5", seed=1)
    out = tmp_path / "m.pt"
    assert main(["--quiet", "train", str(a), "-o", str(out), *TRAIN]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    rc = main(["--quiet", "train", str(b), "-o", str(out), *TRAIN[:-1], "2", "--resume", "--overwrite"])
    assert rc == 2
    _one_error_line(capsys, "other data", "--resume", "m.pt.checkpoints")
    assert out.read_bytes() == before


def test_train_cli_resume_without_checkpoint_says_it_starts_fresh(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    assert main(["--quiet", "train", str(cycles), "-o", str(tmp_path / "m.pt"), *TRAIN, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "ventgen: warning:" in err and "no checkpoint to resume from; training starts fresh" in err
    assert (tmp_path / "m.pt").exists()


# ============================================================================ output paths, before training
def test_train_output_that_is_a_folder_fails_before_training(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep")
    assert main(["train", str(cycles), "-o", str(folder), "--overwrite", *TRAIN]) == 2
    _one_error_line(capsys, "is a folder")
    assert os.listdir(folder) == ["notes.txt"] and not (tmp_path / "proj.checkpoints").exists()
    assert "epoch 1" not in capsys.readouterr().out


def test_train_output_inside_a_file_or_the_input_fails_before_training(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    before = cycles.read_bytes()
    assert main(["train", str(cycles), "-o", str(cycles / "m.pt"), *TRAIN]) == 2
    _one_error_line(capsys, "is a file, not a folder")
    assert main(["train", str(cycles), "-o", str(cycles), "--overwrite", *TRAIN]) == 2
    _one_error_line(capsys, "is the input CycleSet")
    assert main(["train", str(cycles), "-o", str(tmp_path / "m.pt"), "--checkpoint-dir", str(cycles), *TRAIN]) == 2
    _one_error_line(capsys, "is not a folder")
    assert cycles.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["c.h5"]


def test_train_existing_output_without_overwrite_fails_before_training(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    out = tmp_path / "m.pt"
    out.write_bytes(b"precious")
    assert main(["train", str(cycles), "-o", str(out), *TRAIN]) == 2
    _one_error_line(capsys, "exists", "--overwrite")
    assert out.read_bytes() == b"precious" and not (tmp_path / "m.pt.checkpoints").exists()


def test_train_output_in_a_missing_folder_is_created(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    out = tmp_path / "new" / "sub" / "m.pt"
    assert main(["--quiet", "train", str(cycles), "-o", str(out), *TRAIN]) == 0
    assert ventgen.HTVAE.load(out).maps == [(2, 2), (2, 1)]


def test_ventilation_benchmark_with_one_subject_names_the_file(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    rc = main(["benchmark", "--dataset", "ventilation", "--root", str(cycles), "--models", "htvae",
               "--maps", "2x2,2x1", "--epochs", "1", "-o", str(tmp_path / "r")])
    assert rc == 2
    _one_error_line(capsys, "c.h5", ">= 2 subjects")
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere")
def test_train_output_in_an_unwritable_folder_fails_before_training(tmp_path, capsys):
    cycles = _cycles(tmp_path / "c.h5")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["train", str(cycles), "-o", str(ro / "m.pt"), *TRAIN]) == 2
        _one_error_line(capsys, "not writable")
    finally:
        ro.chmod(0o755)
    assert os.listdir(ro) == []


def test_unwritable_folder_is_detected(tmp_path, monkeypatch):
    """The same check as above, made testable as root by faking os.access."""
    cycles = _cycles(tmp_path / "c.h5")
    monkeypatch.setattr(workflows.train.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="not writable"):
        workflows.check_output_paths(cycles, tmp_path / "out" / "m.pt", tmp_path / "ck")


# ============================================================================ degenerate CycleSets
def test_train_cycleset_with_no_cycles_or_nan_cycles(tmp_path, capsys):
    empty = _cycles(tmp_path / "empty.h5", n=0)
    assert main(["train", str(empty), "-o", str(tmp_path / "m.pt"), *TRAIN]) == 2
    _one_error_line(capsys, "empty.h5", "no cycles")
    nan = _cycles(tmp_path / "nan.h5", nan=True)
    assert main(["train", str(nan), "-o", str(tmp_path / "m.pt"), *TRAIN]) == 2
    _one_error_line(capsys, "nan.h5", "1 of 24 cycles hold NaN", "cycle 12")
    assert not (tmp_path / "m.pt").exists()


def test_train_one_cycle_and_batch_larger_than_the_data(tmp_path, capsys):
    one = _cycles(tmp_path / "one.h5", n=1)
    assert main(["--quiet", "train", str(one), "-o", str(tmp_path / "m1.pt"), *TRAIN]) == 0
    assert ventgen.HTVAE.load(tmp_path / "m1.pt").n_samples_ == 1
    many = _cycles(tmp_path / "c.h5")
    assert main(["--quiet", "train", str(many), "-o", str(tmp_path / "m2.pt"), *TRAIN, "--batch-size", "1000"]) == 0
    assert ventgen.HTVAE.load(tmp_path / "m2.pt").batch_size == 1000


def test_a_failed_model_write_names_the_target_never_the_temporary(saved, tmp_path, monkeypatch):
    good, _, _ = saved
    m = ventgen.HTVAE.load(good)

    def full_disk(obj, f):
        raise OSError(28, "No space left on device", str(f))

    monkeypatch.setattr(io_checkpoint.torch, "save", full_disk)
    with pytest.raises(VentgenValueError, match="No space left on device") as exc:
        m.save(tmp_path / "m.pt")
    assert str(exc.value).startswith(str(tmp_path / "m.pt")) and ".tmp" not in str(exc.value)
    assert os.listdir(tmp_path) == []
