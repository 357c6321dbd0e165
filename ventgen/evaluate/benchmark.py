"""The paper's benchmark (section V): HTVAE against SOM-VAE, VAE-HKMeans and VAE-RGMM.

:func:`run_benchmark` trains every requested model for every seed with the paper's protocol
(the predefined training set minus a random 600-sample validation set, Adam lr 5e-4, batch 32,
20 epochs), evaluates each level on the predefined test set with
:func:`ventgen.evaluate.metrics.level_report`
(purity, NMI, unsupervised accuracy, Dtree against the dataset's true hierarchy) and writes

- ``runs/<model>_seed<k>.csv`` (``runs/<model>_K<K>_seed<k>.csv`` with ``ks``): one row per level of one
  trained model (written as soon as it is done,
  so an interrupted benchmark keeps what finished and a rerun skips it);
- ``runs/<model>_seed<k>_history.csv``: the per-epoch training losses;
- ``summary.csv`` and ``summary.md``: mean and standard deviation over seeds per model, level-1 size and
  level, and wall time, regenerated from every run file present (several processes may share one folder).

``ks`` repeats everything at several numbers of level-1 codes (purity rises with K, and the paper does not
say which K it used): the lattices of ``maps`` scaled to K codes at level 1 with the same branching
(:func:`maps_for_k`; 8x8,4x4,2x2 gives 4x4,2x2 for K = 16 and 16x16,8x8,4x4 for K = 256); every model
gets the same lattices, the baselines their cluster counts. ``htvae`` is the default preset,
``htvae-paper`` exactly the paper's model (``preset="paper"``) in the same runs.

For ``dataset="ventilation"`` the data are breath cycles: read from ``root`` (a CycleSet file, or a
folder of recordings that is segmented) or, without ``root``, simulated with
:func:`ventgen.simulate_cohort`; the last subject is held out for testing, and the HTVAE is reported
without and with must-link constraints built from the training labels, beside a tslearn
time-series k-means baseline applied hierarchically.

Examples
--------
>>> import tempfile
>>> from ventgen.evaluate.benchmark import run_benchmark
>>> out = tempfile.mkdtemp()
>>> summary = run_benchmark("digits", out_dir=out, models=["vae-hkmeans"], epochs=1, subset=200,
...                         maps=[(2, 2), (1, 2)], latent_dim=4, progress=False)
>>> summary[["model", "level", "K"]].values.tolist()
[['vae-hkmeans', 1, 4], ['vae-hkmeans', 2, 2]]
"""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import atomic_path, check_random_state
from .._core import progress as _progress
from .._core.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LATENT_DIM, check_count
from ..errors import VentgenValueError
from ..io import read_cycleset
from ..labels import VENTILATION_TREE, LearnedTree
from ..models._checks import check_maps
from ..signals.simulate import simulate_cohort
from ..workflows import cycles_from_recordings
from .benchmark_summary import (
    BENCHMARK_DATASETS,
    IMAGE_MODELS,
    VENTILATION_MODELS,
    summarize_runs,
    summary_markdown,
)
from .clustering import HierarchicalKMeans, HierarchicalTimeSeriesKMeans, RecursiveGMM
from .datasets import load_dataset, paper_split
from .metrics import level_report

__all__ = [
    "run_benchmark",
    "maps_for_k",
    "summarize_runs",
    "summary_markdown",
    "IMAGE_MODELS",
    "VENTILATION_MODELS",
    "BENCHMARK_DATASETS",
]



# ----------------------------------------------------------------------------- data
class _Split:
    """Train / test data with fine labels (str) and the true tree."""

    def __init__(self, X_train, y_train, X_test, y_test, tree, name, n_val=0):
        self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
        self.tree, self.name, self.n_val = tree, name, n_val


def _image_split(dataset, root, seed, subset, n_val):
    train = load_dataset(dataset, root, "train")
    test = load_dataset(dataset, root, "test")
    n_val = min(n_val, max(len(train) // 10, 1)) if dataset == "digits" else n_val
    tr, va = paper_split(len(train), n_val=n_val, random_state=seed)
    rng = check_random_state(seed)
    if subset is not None:
        tr = np.sort(rng.choice(tr, size=min(subset, tr.size), replace=False))
        te = np.sort(rng.choice(len(test), size=min(subset, len(test)), replace=False))
        test = test.subset(te)
    train = train.subset(tr)
    return _Split(train.X, train.labels, test.X, test.labels, train.tree, dataset, n_val=len(va))


def _ventilation_split(root, seed, subset, sim_minutes):
    cycles = _ventilation_cycles(root, sim_minutes)
    subjects = np.asarray(cycles.subjects).astype(str)
    uniq = sorted(set(subjects.tolist()))
    if len(uniq) < 2:
        raise VentgenValueError(
            f"{root if root is not None else 'the simulated cohort'}: the ventilation benchmark needs cycles "
            f"of >= 2 subjects to hold the last one out, got {len(uniq)} subject(s) {uniq[:5]}"
        )
    test_mask = subjects == uniq[-1]
    labels = np.asarray(cycles.labels).astype(str)
    X = np.asarray(cycles.X, dtype=np.float32)
    tr, te = np.flatnonzero(~test_mask), np.flatnonzero(test_mask & (labels != ""))
    if te.size == 0:
        raise VentgenValueError(
            f"held-out subject {uniq[-1]!r} has no labelled cycles to evaluate on"
        )
    if subset is not None:
        rng = check_random_state(seed)
        tr = np.sort(rng.choice(tr, size=min(subset, tr.size), replace=False))
        te = np.sort(rng.choice(te, size=min(subset, te.size), replace=False))
    return _Split(X[tr], labels[tr], X[te], labels[te], VENTILATION_TREE, "ventilation")


def _ventilation_cycles(root, sim_minutes):
    """Breath cycles from a CycleSet file, a folder/file of recordings, or the simulated default cohort."""
    if root is not None and Path(root).is_file() and Path(root).suffix in (".h5", ".hdf5"):
        try:
            return read_cycleset(root)
        except (KeyError, OSError, ValueError):
            pass  # not a CycleSet: read it as recordings below
    if root is not None:
        sources = [Path(root)]
    else:
        # one fixed cohort (seed 0): the seeds of the benchmark vary the models, not the data
        sources = simulate_cohort(minutes=sim_minutes, random_state=0, progress=False)
    cycles, _ = cycles_from_recordings(sources, progress_bar=False)
    return cycles


# ----------------------------------------------------------------------------- models
def _torch_models():
    """``(HTVAE, SOMVAE, VAE)``: torch-backed, imported on first use so that ``import ventgen`` (and a
    benchmark of the clustering baselines alone) stays free of torch."""
    try:
        from ..models.baselines import SOMVAE, VAE
        from ..models.estimator import HTVAE
    except ImportError as exc:  # pragma: no cover - depends on the model room's landing
        raise VentgenValueError(
            f"the HTVAE estimator is not available in this installation ({exc})"
        ) from None
    return HTVAE, SOMVAE, VAE


def _htvae_class():
    return _torch_models()[0]


def _evaluate(model_name, assign, labels, tree, learned, wall, extra):
    rep = level_report(assign, labels, tree, learned, sizes=extra.pop("sizes", None))
    rep.insert(0, "model", model_name)
    for k, v in extra.items():
        rep[k] = v
    rep["wall_s"] = wall
    return rep


def _common_params(cfg, seed) -> dict:
    """The training settings every network model shares."""
    return dict(latent_dim=cfg["latent_dim"], lr=cfg["lr"], batch_size=cfg["batch_size"],
                epochs=cfg["epochs"], device=cfg["device"], random_state=seed, progress=cfg["progress"])


def _fit_htvae(model_name, data, seed, cfg, cache):
    """HTVAE (with must-link constraints for ``htvae-mustlink``; the paper's preset for ``htvae-paper``),
    resumable from its checkpoints."""
    HTVAE = _htvae_class()
    own = {"preset": "paper"} if model_name == "htvae-paper" else cfg.get("htvae_params", {})
    model = HTVAE(maps=list(cfg["maps"]), **_common_params(cfg, seed), **own)
    kw = {}
    if model_name == "htvae-mustlink":
        kw = {"must_link": data.y_train}  # partial label vector, "" = unknown
    ckpt_dir = None
    if cfg.get("checkpoint_root") is not None:
        # one checkpoint per epoch: an interrupted benchmark resumes where it stopped
        ckpt_dir = Path(cfg["checkpoint_root"]) / f"{_stem(model_name, seed, cfg)}_ckpt"
        kw["checkpoint_dir"] = ckpt_dir
        kw["resume"] = (ckpt_dir / "checkpoint.pt").exists()
    if cfg.get("from_checkpoints"):
        ckpt = None if ckpt_dir is None else ckpt_dir / "checkpoint.pt"
        if ckpt is None or not ckpt.exists():
            raise VentgenValueError(
                f"no checkpoint to evaluate for {model_name} seed {seed} (looked for {ckpt})"
            )
        model = HTVAE.load(ckpt)
        if own.get("upper_levels") == "merged" and model.config_.upper_levels != "merged":
            # the merge is a step after training: it gives the model that upper_levels="merged" trains
            model.merge_upper_levels(data.X_train)
    else:
        model.fit(data.X_train, **kw)
    history = pd.DataFrame(getattr(model, "history_", []))
    extra = {}
    if own:
        extra["htvae_params"] = json.dumps(own, sort_keys=True)
    if cfg.get("from_checkpoints"):
        extra["epochs_done"] = len(history)
    return model.assign(data.X_test), LearnedTree.from_model(model), history, extra


def _fit_somvae(model_name, data, seed, cfg, cache):
    """SOM-VAE on ``maps[0]``: one map under the root, so the paper reports no Dtree for it."""
    SOMVAE = _torch_models()[1]
    m0 = cfg["maps"][0]
    model = SOMVAE(map_shape=tuple(m0) if not isinstance(m0, int) else (m0, 1), **_common_params(cfg, seed))
    model.fit(data.X_train)
    return model.assign(data.X_test), None, pd.DataFrame(model.history_), {"sizes": [m0]}


def _shared_vae(data, seed, cfg, cache):
    """One VAE per seed, shared by VAE-HKMeans and VAE-RGMM: (vae, its training time, Z_train, Z_test)."""
    key = ("vae", seed)
    if key not in cache:
        vae = _torch_models()[2](**_common_params(cfg, seed)).fit(data.X_train)
        cache[key] = (vae, vae.train_time_s_, vae.transform(data.X_train), vae.transform(data.X_test))
    return cache[key]


def _fit_vae_clustering(model_name, data, seed, cfg, cache):
    """VAE followed by hierarchical k-means or a recursive Gaussian mixture on its latent means."""
    vae, _, Z_train, Z_test = _shared_vae(data, seed, cfg, cache)
    Cls = HierarchicalKMeans if model_name == "vae-hkmeans" else RecursiveGMM
    clus = Cls(maps=cfg["maps"], random_state=seed, progress=False).fit(Z_train)
    return clus.assign(Z_test), clus.learned_tree_, pd.DataFrame(vae.history_), {}


def _fit_ts_hkmeans(model_name, data, seed, cfg, cache):
    """tslearn time-series k-means applied top-down to the breath cycles themselves (no network)."""
    clus = HierarchicalTimeSeriesKMeans(
        maps=cfg["maps"], metric=cfg.get("ts_metric", "dtw"), random_state=seed, progress=False
    ).fit(data.X_train)
    return clus.assign(data.X_test), clus.learned_tree_, None, {}


_FITTERS = {"htvae": _fit_htvae, "htvae-mustlink": _fit_htvae, "htvae-paper": _fit_htvae, "som-vae": _fit_somvae,
            "vae-hkmeans": _fit_vae_clustering, "vae-rgmm": _fit_vae_clustering, "ts-hkmeans": _fit_ts_hkmeans}


def _fit_one(model_name, data: _Split, seed, cfg, cache):
    """Train and evaluate one model; returns (level report, history DataFrame)."""
    if model_name not in _FITTERS:
        raise VentgenValueError(f"unknown model {model_name!r}")
    t0 = time.perf_counter()
    if model_name in ("vae-hkmeans", "vae-rgmm"):
        # the shared VAE's training counts in both wall times
        t0 = time.perf_counter() - _shared_vae(data, seed, cfg, cache)[1]
    assign, learned, history, extra = _FITTERS[model_name](model_name, data, seed, cfg, cache)
    wall = time.perf_counter() - t0
    if cfg.get("from_checkpoints") and history is not None and "time_s" in history:
        wall += float(history["time_s"].sum())  # training time recorded in the checkpoint
    extra.setdefault("epochs_done", cfg["epochs"])
    extra.update(
        {
            "seed": seed,
            "epochs": cfg["epochs"],
            "n_train": len(data.X_train),
            "n_test": len(data.X_test),
        }
    )
    cache[("assign", model_name, seed, cfg.get("k"))] = (assign, learned)
    return _evaluate(model_name, assign, data.y_test, data.tree, learned, wall, extra), history


def _check_run_args(seeds, epochs, batch_size, latent_dim, threads, maps) -> None:
    """One-line errors, with the limits, for the numeric arguments of :func:`run_benchmark`."""
    check_count(seeds, "seeds")
    check_count(epochs, "epochs", high=MAX_EPOCHS)
    check_count(batch_size, "batch_size", high=MAX_BATCH_SIZE)
    check_count(latent_dim, "latent_dim", high=MAX_LATENT_DIM)
    n_cpu = os.cpu_count() or 1
    if threads is not None and not (isinstance(threads, (int, np.integer)) and 1 <= threads <= n_cpu):
        raise VentgenValueError(f"threads must be an integer in [1, {n_cpu}] (this machine's CPU count), got {threads!r}")
    if isinstance(maps, (str, bytes)) or not hasattr(maps, "__iter__"):
        raise VentgenValueError(f"maps must be a list of (height, width) pairs, got {maps!r}")
    check_maps([(m, 1) if isinstance(m, (int, np.integer)) else m for m in maps])


# ----------------------------------------------------------------------------- entry point
def run_benchmark(
    dataset: str,
    root=None,
    out_dir="results",
    seeds: int = 1,
    epochs: int = 20,
    models=None,
    maps=((8, 8), (4, 4), (2, 2)),
    latent_dim: int = 16,
    batch_size: int = 32,
    lr: float = 5e-4,
    subset: int | None = None,
    n_val: int = 600,
    sim_minutes: float = 60.0,
    first_seed: int = 0,
    device: str = "auto",
    ks=None,
    threads: int | None = None,
    overwrite: bool = False,
    from_checkpoints: bool = False,
    htvae_params: dict | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Train and evaluate HTVAE and the baselines; write per-run CSVs and a summary (see module docs).

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "cifar100", "digits", "ventilation"}
    root : path, optional
        Folder with the dataset's files (see :mod:`ventgen.io.datasets`); for ``ventilation`` a CycleSet
        file or a folder of recordings, or None to simulate the default cohort.
    out_dir : path
        Output folder (created).
    seeds : int
        Number of seeds, ``first_seed, first_seed + 1, ...``; each seed also draws the validation split.
    epochs, batch_size, lr : the paper's protocol by default (20, 32, 5e-4).
    models : sequence of str, optional
        Subset of :data:`IMAGE_MODELS` (or :data:`VENTILATION_MODELS`); default all.
    maps : sequence of (h, w)
        The HTVAE lattices, level 1 first; the baselines use the same branching (SOM-VAE: ``maps[0]``).
    latent_dim : int
    subset : int, optional
        Use a random subset of this many training and test samples (quick checks).
    n_val : int
        Validation samples held out of the training set (600 in the paper).
    sim_minutes : float
        Minutes per simulated subject for ``ventilation`` without ``root`` (3 subjects, seed 0).
    device : str
    ks : sequence of int, optional
        Numbers of level-1 codes to run every model at (e.g. ``(16, 64, 256)``), the lattices of ``maps``
        scaled with the same branching (:func:`maps_for_k`); None: ``maps`` only.
    threads : int, optional
        ``torch.set_num_threads`` for this process (1 when several benchmarks share a CPU).
    overwrite : bool
        Retrain runs whose files exist (default: skip them, so an interrupted benchmark resumes).
    from_checkpoints : bool
        Do not train: evaluate the HTVAE models from their last per-epoch checkpoint (for a run cut
        short; the run file's ``epochs_done`` says how many epochs it had).
    htvae_params : dict, optional
        Extra :class:`ventgen.HTVAE` parameters for the HTVAE models (e.g. ``{"code_lr_scale": 10}``);
        they are recorded in every HTVAE run file as ``htvae_params``.
    progress : bool, optional

    Returns
    -------
    DataFrame
        The summary (mean/std per model and level).
    """
    models = _check_models(dataset, models)
    _check_run_args(seeds, epochs, batch_size, latent_dim, threads, maps)
    htvae_params = _check_htvae_params(htvae_params, models, maps, latent_dim, lr, batch_size, epochs)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise VentgenValueError(f"{out_dir}: is a file; -o/--out must be the output folder")
    if threads is not None:
        import torch  # heavy: only a benchmark that sets torch's threads needs it here

        torch.set_num_threads(int(threads))
    cfg = dict(
        maps=[tuple(m) if not isinstance(m, int) else m for m in maps],
        latent_dim=latent_dim,
        lr=lr,
        batch_size=batch_size,
        epochs=epochs,
        device=device,
        progress=progress,
        checkpoint_root=out_dir / "runs",
        from_checkpoints=from_checkpoints,
        htvae_params=htvae_params,
    )
    grids = [(None, cfg["maps"])] if ks is None else [(k, maps_for_k(cfg["maps"], k)) for k in _check_ks(ks)]
    todo = [(s, k, m) for s in range(first_seed, first_seed + seeds) for k in grids for m in models]
    data_cache: dict = {}
    for seed, (k, k_maps), model_name in _progress(todo, enabled=progress, desc=f"benchmark {dataset}"):
        cfg.update(k=k, maps=k_maps)
        stem = _stem(model_name, seed, cfg)
        run_file = out_dir / "runs" / f"{stem}.csv"
        if run_file.exists() and not overwrite:
            continue
        if from_checkpoints and not model_name.startswith("htvae"):
            continue
        data = _data_of(data_cache, dataset, root, seed, subset, n_val, sim_minutes)
        (out_dir / "runs").mkdir(parents=True, exist_ok=True)  # once the data are known to be readable
        rep, history = _fit_one(model_name, data, seed, cfg, data_cache)
        rep.insert(0, "dataset", dataset)
        _write_run(out_dir / "runs", stem, rep, history, data.y_test,
                   data_cache[("assign", model_name, seed, k)], overwrite)
    return summarize_runs(out_dir)


def _stem(model_name: str, seed: int, cfg: dict) -> str:
    """The name of a run's files: ``<model>_seed<k>``, or ``<model>_K<K>_seed<k>`` in a run over several K."""
    return f"{model_name}_seed{seed}" if cfg.get("k") is None else f"{model_name}_K{cfg['k']}_seed{seed}"


def maps_for_k(maps, k: int) -> list:
    """The lattices of ``maps`` scaled so that level 1 has ``k`` codes, with the same branching.

    Every side is multiplied by sqrt(k / K_1) and rounded (at least 1); levels left with fewer than 2
    codes, or not fewer codes than the level below, are dropped.

    Examples
    --------
    >>> maps_for_k([(8, 8), (4, 4), (2, 2)], 16)
    [(4, 4), (2, 2)]
    >>> maps_for_k([(8, 8), (4, 4), (2, 2)], 256)
    [(16, 16), (8, 8), (4, 4)]
    >>> maps_for_k([(8, 8), (4, 4), (2, 2)], 64)
    [(8, 8), (4, 4), (2, 2)]
    """
    lat = [(m, 1) if isinstance(m, (int, np.integer)) else tuple(m) for m in maps]
    h1, w1 = lat[0]
    scale = float(np.sqrt(k / (h1 * w1)))
    out: list = []
    for h, w in lat:
        hh, ww = max(1, round(h * scale)), max(1, round(w * scale))
        if len(out) == 0:
            hh, ww = _exact(k, h, w)
        if hh * ww >= 2 and (not out or hh * ww < out[-1][0] * out[-1][1]):
            out.append((hh, ww))
    return out


def _exact(k: int, h: int, w: int) -> tuple[int, int]:
    """A ``k``-code lattice with the aspect of ``h x w`` as far as k allows (square for square k)."""
    best = min((abs(np.log((a / (k // a)) / (h / w))), a) for a in range(1, k + 1) if k % a == 0)[1]
    return best, k // best


def _check_ks(ks) -> list:
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise VentgenValueError(f"ks must be a list of numbers of level-1 codes, e.g. (16, 64, 256), got {ks!r}")
    out = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 65536:
            raise VentgenValueError(f"ks: every number of level-1 codes must be an integer in [2, 65536], got {k!r}")
        out.append(int(k))
    return out


def _check_models(dataset: str, models) -> list:
    """The models to run (default: all of the dataset's), refusing unknown datasets and models."""
    if dataset not in BENCHMARK_DATASETS:
        raise VentgenValueError(
            f"unknown dataset {dataset!r}; choose one of {list(BENCHMARK_DATASETS)}"
        )
    allowed = VENTILATION_MODELS if dataset == "ventilation" else IMAGE_MODELS
    models = list(allowed if models is None else models)
    bad = [m for m in models if m not in allowed]
    if bad:
        raise VentgenValueError(
            f"unknown model(s) {bad} for dataset {dataset!r}; choose from {list(allowed)}"
        )
    return models


def _check_htvae_params(htvae_params, models, maps, latent_dim, lr, batch_size, epochs) -> dict:
    """The extra HTVAE parameters, names and values checked before any work."""
    htvae_params = dict(htvae_params or {})
    if htvae_params:
        fixed = {"maps", "latent_dim", "lr", "batch_size", "epochs", "device", "random_state", "progress"}
        allowed_params = sorted(set(inspect.signature(_htvae_class()).parameters) - fixed)
        unknown = sorted(set(htvae_params) - set(allowed_params))
        if unknown:
            raise VentgenValueError(
                f"unknown HTVAE parameter(s) {unknown} in htvae_params; choose from {allowed_params} "
                "(maps, latent_dim, lr, batch_size and epochs have their own options)"
            )
    if any(m.startswith("htvae") for m in models):  # the HTVAE parameters' values, before any work
        _htvae_class()(maps=list(maps), latent_dim=latent_dim, lr=lr, batch_size=batch_size, epochs=epochs,
                       **htvae_params).validated_config()
    return htvae_params


def _data_of(data_cache: dict, dataset, root, seed, subset, n_val, sim_minutes) -> _Split:
    """The split of ``seed`` (one fixed split for the ventilation data without ``subset``), cached."""
    dkey = ("data", seed if dataset != "ventilation" or subset is not None else 0)
    if dkey not in data_cache:
        data_cache.clear()
        data_cache[dkey] = (
            _ventilation_split(root, seed, subset, sim_minutes)
            if dataset == "ventilation"
            else _image_split(dataset, root, seed, subset, n_val)
        )
    return data_cache[dkey]


def _write_run(runs: Path, stem: str, rep, history, y_test, assigned, overwrite: bool) -> None:
    """The files of one finished run: history, test assignments (npz) and, last, the run's table."""
    if history is not None and len(history):
        with atomic_path(runs / f"{stem}_history.csv", overwrite=True) as tmp:
            history.to_csv(tmp, index=False)
    assign, learned = assigned
    parents = {f"parents_{i + 1}": p for i, p in enumerate(learned.parents)} if learned else {}
    with atomic_path(runs / f"{stem}_assign.npz", overwrite=True) as tmp, open(tmp, "wb") as fh:
        # a file object: given a name without .npz, numpy would write to another file
        np.savez_compressed(
            fh,
            assign=assign,
            labels=y_test.astype(str),
            sizes=np.array(learned.sizes if learned else []),
            **parents,
        )
    with atomic_path(runs / f"{stem}.csv", overwrite=overwrite) as tmp:
        rep.to_csv(tmp, index=False)
