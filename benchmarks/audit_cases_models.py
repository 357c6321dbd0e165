"""Audit cases of the models area (issue 13): ``train`` and ``benchmark`` under hostile and bad input.

Crafted CIFAR-100 pickles that would run code, tampered checkpoints met by ``train --resume``, absurd
maps and training arguments, resuming on other data, unusable output paths, degenerate CycleSets.
Loaded by ``audit_bad_inputs.py`` (``.venv/bin/python benchmarks/audit_bad_inputs.py -k models:``).
The cases that need a trained model share one tiny model (trained once per run, well under a second).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

from audit_bad_inputs import Case

_CACHE: dict = {}
#: The `train` options of every case: tiny and fast, and those of the shared model (so --resume fits).
TRAIN = ["--maps", "2x2,2x1", "--latent-dim", "2", "--seed", "0", "--device", "cpu", "--epochs", "1"]


# ----------------------------------------------------------------------------- CycleSets and the model
def _write_cycles(path: Path, n: int = 24, seed: int = 0, nan: bool = False) -> None:
    import numpy as np

    import ventgen

    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 16)[None, :]
    amp = rng.uniform(20, 60, (n, 1))
    X = np.stack([amp * np.sin(2 * np.pi * t), 5 + amp / 4 * (t < 0.4)], 1).astype(np.float32)
    if nan and n:
        X[n // 2, 0, 3] = np.nan
    labels = np.array(["normal breathing"] * n, dtype=object)
    ventgen.write_cycleset(ventgen.CycleSet(X, lengths=np.full(n, 16), sampling_rate=25, labels=labels), path)


def _project() -> Path:
    """a.h5 and b.h5 (same shape, other values), m.pt trained on a.h5 with its checkpoint folder."""
    if "dir" not in _CACHE:
        from ventgen.workflows import train_file

        d = Path(tempfile.mkdtemp(prefix="audit_models_"))
        _write_cycles(d / "a.h5", seed=0)
        _write_cycles(d / "b.h5", seed=1)
        train_file(d / "a.h5", d / "m.pt", maps="2x2,2x1", epochs=1, latent_dim=2, seed=0, device="cpu",
                   progress=False, log=lambda line: None)
        _CACHE["dir"] = d
    return _CACHE["dir"]


def _copy_project(d: Path) -> None:
    src = _project()
    for f in src.iterdir():
        (shutil.copytree if f.is_dir() else shutil.copy)(f, d / f.name)


def _cycles(n: int = 24, nan: bool = False):
    def setup(d: Path) -> None:
        _write_cycles(d / "c.h5", n=n, nan=nan)

    return setup


# ----------------------------------------------------------------------------- tampered checkpoints
def _tampered(what: str):
    """The project, with m.pt.checkpoints/checkpoint.pt replaced by a damaged copy."""

    def setup(d: Path) -> None:
        import torch

        _copy_project(d)
        p = d / "m.pt.checkpoints" / "checkpoint.pt"
        if what in ("truncated", "garbage"):
            raw = p.read_bytes()
            p.write_bytes(raw[: len(raw) // 2] if what == "truncated" else os.urandom(4096))
            return
        ckpt = torch.load(p, weights_only=True)
        if what == "missing params":
            del ckpt["params"]
        elif what == "unknown parameter":
            ckpt["params"]["bogus"] = 1
        elif what == "string version":
            ckpt["format_version"] = "one"
        elif what == "wrong-shape tensor":
            ckpt["model"]["som.codes"] = torch.zeros(3, 2)
        elif what == "10**10 codes":
            ckpt["params"]["maps"] = [[100_000, 100_000], [2, 1]]
        elif what == "non-dict":
            ckpt = [ckpt]
        elif what == "malicious":
            ckpt = {"format": "ventgen.HTVAE", "x": _System(d / "PWNED")}
        torch.save(ckpt, p)

    return setup


class _System:
    """Pickles as a call of os.system (a file that would run a shell command when unpickled)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Exec:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import builtins

        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


# ----------------------------------------------------------------------------- CIFAR-100 folders
def _cifar(payload: str):
    def setup(d: Path) -> None:
        import numpy as np

        folder = d / "cifar-100-python"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for split, n in (("train", 620), ("test", 20)):
            fine = rng.integers(0, 100, n)
            obj = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"fine_labels": fine.tolist(),
                   b"coarse_labels": (fine // 5).tolist()}
            if payload == "os.system":
                obj[b"data"] = _System(d / "PWNED")
            elif payload == "builtins.exec":
                obj[b"data"] = _Exec(d / "PWNED")
            (folder / split).write_bytes(pickle.dumps(obj, 2))
        meta = {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                b"coarse_label_names": [f"c{i}".encode() for i in range(20)]}
        (folder / "meta").write_bytes(pickle.dumps(meta, 2))

    return setup


def _nothing(d: Path) -> None:
    pass


def _folder_with_notes(d: Path) -> None:
    _write_cycles(d / "c.h5")
    (d / "proj").mkdir()
    (d / "proj" / "notes.txt").write_text("keep me")


def _existing_model(d: Path) -> None:
    _write_cycles(d / "c.h5")
    (d / "m.pt").write_bytes(b"precious")


def _a_file(d: Path) -> None:
    (d / "data.bin").write_bytes(b"not a folder")


_BENCH = ["--models", "vae-hkmeans", "--subset", "10", "--epochs", "1", "--maps", "2x2,2x1", "--latent-dim", "2",
          "--device", "cpu", "-o", "{d}/results"]

CASES = [
    # CIFAR-100 pickles are data, never code
    Case("models: cifar100 pickle that calls os.system", _cifar("os.system"),
         ["benchmark", "--dataset", "cifar100", "--root", "{d}", *_BENCH]),
    Case("models: cifar100 pickle that calls builtins.exec", _cifar("builtins.exec"),
         ["benchmark", "--dataset", "cifar100", "--root", "{d}", *_BENCH]),
    Case("models: genuine-like cifar100 pickles (protocol 2) still load", _cifar("none"),
         ["benchmark", "--dataset", "cifar100", "--root", "{d}", *_BENCH], expect=0),
    Case("models: benchmark --root that is a file", _a_file,
         ["benchmark", "--dataset", "mnist", "--root", "{d}/data.bin", *_BENCH]),
    # tampered checkpoints met by train --resume
    *[
        Case(f"models: train --resume from a checkpoint with {what}", _tampered(what),
             ["train", "{d}/a.h5", "-o", "{d}/m.pt", *TRAIN, "--resume", "--overwrite"])
        for what in ("missing params", "unknown parameter", "string version", "wrong-shape tensor",
                     "10**10 codes", "non-dict", "truncated", "garbage", "malicious")
    ],
    # resume
    Case("models: train --resume on other data of the same shape", lambda d: _copy_project(d),
         ["train", "{d}/b.h5", "-o", "{d}/m.pt", *TRAIN[:-1], "2", "--resume", "--overwrite"]),
    Case("models: train --resume with no checkpoint (warns, starts fresh)", _cycles(),
         ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN, "--resume"], expect=0),
    # maps and training arguments
    Case("models: train --maps 3000x3000,2x2", _cycles(), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN[2:],
                                                           "--maps", "3000x3000,2x2"]),
    Case("models: benchmark --maps 3000x3000,2x2", _nothing,
         ["benchmark", "--dataset", "digits", "--maps", "3000x3000,2x2", "-o", "{d}/results"]),
    Case("models: train --epochs 10**21", _cycles(), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN,
                                                       "--epochs", str(10**21)]),
    Case("models: train --batch-size 10**12", _cycles(), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN,
                                                           "--batch-size", str(10**12)]),
    Case("models: train --batch-size larger than the data", _cycles(),
         ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN, "--batch-size", "1000"], expect=0),
    Case("models: train --latent-dim 100000", _cycles(), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN,
                                                          "--latent-dim", "100000"]),
    Case("models: train --lr 1e30 (diverges)", _cycles(), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN[:-1],
                                                           "3", "--lr", "1e30"]),
    Case("models: benchmark --threads 100000", _nothing,
         ["benchmark", "--dataset", "digits", "--threads", "100000", *_BENCH]),
    Case("models: benchmark --htvae-param channels=3", _nothing,
         ["benchmark", "--dataset", "digits", "--htvae-param", "channels=3", *_BENCH[2:], "--models", "htvae"]),
    # degenerate CycleSets
    Case("models: train on a CycleSet with 0 cycles", _cycles(n=0), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN]),
    Case("models: train on a CycleSet with 1 cycle", _cycles(n=1), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN],
         expect=0),
    Case("models: train on NaN cycles", _cycles(nan=True), ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN]),
    # output paths, refused before training
    Case("models: train -o EXISTING_FOLDER --overwrite", _folder_with_notes,
         ["train", "{d}/c.h5", "-o", "{d}/proj", "--overwrite", *TRAIN]),
    Case("models: train -o inside a file", _cycles(), ["train", "{d}/c.h5", "-o", "{d}/c.h5/m.pt", *TRAIN]),
    Case("models: train -o the input CycleSet --overwrite", _cycles(),
         ["train", "{d}/c.h5", "-o", "{d}/c.h5", "--overwrite", *TRAIN]),
    Case("models: train -o existing.pt without --overwrite", _existing_model,
         ["train", "{d}/c.h5", "-o", "{d}/m.pt", *TRAIN]),
    Case("models: train --checkpoint-dir that is a file", _cycles(),
         ["train", "{d}/c.h5", "-o", "{d}/m.pt", "--checkpoint-dir", "{d}/c.h5", *TRAIN]),
]
