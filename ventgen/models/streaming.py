"""Fitting an HTVAE on a CycleSet larger than memory: batches, statistics and generation data by streaming.

The estimator never opens a file: the caller hands it a *stream* (:class:`ventgen.io.stream.ShardStream`,
or any object with the same methods), and :func:`fit_streamed` drives it:

1. the per-channel min/max scaling from one chunked pass (:func:`stream_scaling`; shared between the
   processes of a DistributedDataParallel run, then all-reduced) -- the same values as
   :func:`ventgen.models._inputs.fit_scaling` on the whole set;
2. the HTVAE epochs from the stream's batches (per-epoch shard order, shuffle buffer, a part per rank),
   scaled and masked on the fly (:class:`ScaledBatches`) by the one training loop;
3. the flow generator (every rank its part, under DDP) and, on rank 0, the observation models (noise,
   boundary) on a bounded sample of whole shards (``stream.sample()``, ``sample_cycles`` cycles): they
   need the cycles themselves;
4. on rank 0, the stored generation data of *every* breath from a second chunked pass
   (:func:`stream_generation`): node paths, encodings, lengths, labels, event runs, (node, class)
   moments; only per-breath numbers are kept (``4 (d + M) + a few`` bytes a breath), never the cycles.

Must-link constraints draw pairs across the whole set and are not available on a stream.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .._core import progress
from ..errors import VentgenValueError, VentgenWarning
from ..generate.labelling import node_stats
from ..generate.reference import NodePools, Reference
from ..generate.stored import StoredGeneration, breath_state, generation_state
from ..io.checkpoint import read_checkpoint
from ._inputs import scale
from .checkpoint import CHECKPOINT_NAME, check_checkpoint, check_resume, restore_trainer
from .generator_stage import fit_model_generator
from .train import htvae_loop
from .upper import merge_model_upper

__all__ = ["is_stream", "ScaledBatches", "stream_scaling", "stream_generation", "fit_streamed"]

_MIN_MOMENT_BREATHS = 3  # as generate.stored: a (node, class) pair with fewer uses the node's code


def is_stream(X) -> bool:
    """Whether ``X`` is a stream of cycles (a :class:`~ventgen.io.stream.ShardStream`), not an array."""
    return all(callable(getattr(X, a, None)) for a in ("iter_chunks", "set_epoch", "for_training", "sample"))


class ScaledBatches:
    """The batches of a stream (dicts ``x`` in original units, ``lengths``), scaled to [0, 1] with
    ``scaling``, with the padding mask when ``mask`` is set, on ``device``: what
    :class:`~ventgen.models.train.HTVAEStep` takes."""

    def __init__(self, stream, scaling: dict, device, *, mask: bool):
        self.stream, self.scaling, self.device, self.mask = stream, scaling, torch.device(device), bool(mask)

    @property
    def samples_per_epoch(self) -> int:
        return int(self.stream.samples_per_epoch)

    def __len__(self) -> int:
        return len(self.stream)

    def set_epoch(self, epoch: int) -> None:
        self.stream.set_epoch(epoch)

    def __iter__(self):
        for b in self.stream:
            x = scale(np.asarray(b["x"]), self.scaling).to(self.device)
            mask = None
            if self.mask:
                T = x.shape[-1]
                mask = (torch.arange(T)[None, None, :] < b["lengths"][:, None, None]).to(self.device, x.dtype)
            yield {"x": x, "mask": mask}


def stream_scaling(chunks, n_channels: int, dist=None) -> dict:
    """The min/max scaling of :func:`~ventgen.models._inputs.fit_scaling` from CycleSet ``chunks`` (a
    part of the set per process with ``dist``: the minima and maxima are all-reduced)."""
    lo = torch.full((n_channels,), float("inf"), dtype=torch.float64)
    hi = torch.full((n_channels,), float("-inf"), dtype=torch.float64)
    for cs in chunks:
        X = np.asarray(cs.X)
        lo = torch.minimum(lo, torch.from_numpy(X.min(axis=(0, 2)).astype(np.float64)))
        hi = torch.maximum(hi, torch.from_numpy(X.max(axis=(0, 2)).astype(np.float64)))
    if dist is not None:
        lo, hi = lo.to(dist.device), hi.to(dist.device)
        dist.reduce(lo, "min")
        dist.reduce(hi, "max")
        lo, hi = lo.cpu(), hi.cpu()
    lo, hi = lo.numpy(), hi.numpy()
    hi = np.where(hi > lo, hi, lo + 1.0)  # a constant channel maps to 0
    return {"kind": "minmax", "min": torch.tensor(lo, dtype=torch.float32), "max": torch.tensor(hi, dtype=torch.float32)}


class _Encodings:
    """Node paths of every breath (the ``assign`` that :func:`ventgen.generate.labelling.node_stats` reads)."""

    def __init__(self, assign: np.ndarray):
        self.assign = assign


def node_moments(mu: np.ndarray, gid: np.ndarray, codes: np.ndarray, labels: np.ndarray, classes: list) -> dict:
    """The (node, class) moments :func:`ventgen.generate.stored.generation_state` stores, from grouped sums
    (``O(n M d)``; the same entries in the same order: class ``""`` (every breath) then each class, nodes
    in global order, pairs of at least 3 breaths): mean and standard deviation (ddof=1) of the encodings
    ``mu`` (n, d) of the breaths of each global node ``gid`` (n, M), accumulated around the node's code."""
    K, d = codes.shape
    nodes, labs, means, stds = [], [], [], []
    for lab in ["", *classes]:
        rows = np.arange(len(mu)) if lab == "" else np.flatnonzero(labels == lab)
        cnt, s1, s2 = np.zeros(K), np.zeros((K, d)), np.zeros((K, d))
        for li in range(gid.shape[1]):
            g = gid[rows, li]
            dev = mu[rows] - codes[g]  # around the code: no cancellation in the sums of squares
            cnt += np.bincount(g, minlength=K)
            for j in range(d):
                s1[:, j] += np.bincount(g, weights=dev[:, j], minlength=K)
                s2[:, j] += np.bincount(g, weights=dev[:, j] ** 2, minlength=K)
        keep = np.flatnonzero(cnt >= _MIN_MOMENT_BREATHS)
        c = cnt[keep, None]
        m = s1[keep] / c
        nodes += keep.tolist()
        labs += [lab] * keep.size
        means.append(codes[keep] + m)
        stds.append(np.sqrt(np.maximum(s2[keep] - c * m**2, 0.0) / (c - 1)))
    return {"node": np.asarray(nodes, dtype=np.int32), "label": labs,
            "mean": np.concatenate(means).reshape(-1, d), "std": np.concatenate(stds).reshape(-1, d)}


def stream_generation(model, stream, sample) -> StoredGeneration:
    """The stored generation data of a model fitted on a stream: per-breath data of every breath from
    one chunked pass, the observation models from the CycleSet ``sample`` (see the module notes)."""
    parts = {k: [] for k in ("mu", "assign", "lengths", "labels", "superclasses", "subjects")}
    chunks = progress(stream.iter_chunks(), enabled=model.progress, desc="generation data", unit="chunk",
                      total=stream.n_chunks())
    for cs in chunks:
        mu, a = model.encode(cs.X)
        for k, v in (("mu", mu), ("assign", a), ("lengths", cs.lengths), ("labels", cs.labels),
                     ("superclasses", cs.superclasses), ("subjects", cs.subjects)):
            parts[k].append(np.asarray(v))
    col = {k: np.concatenate(v) for k, v in parts.items()}
    C, T = stream.sample_shape
    labels = col["labels"].astype(str)
    ref = Reference(None, np.clip(col["lengths"].astype(np.int64), 2, T), labels, col["superclasses"].astype(str),
                    col["subjects"].astype(str), float(stream.sampling_rate), list(stream.channels),
                    cycle_shape=(C, T))
    st = node_stats(model, ref, None, _Encodings(col["assign"].astype(np.int64)))
    pools = NodePools(model, st.maps, st.assign, ref)
    moments = node_moments(col["mu"].astype(np.float64), pools.gid_ref, pools.codes, labels, st.classes)
    state = generation_state(model, sample)  # the observation models need cycles: fitted on the sample
    state.update({**breath_state(st, ref, T), "moments": moments, "encodings": col["mu"].astype(np.float32)})
    return StoredGeneration(state)


def _resume_checkpoint(model, path: Path, cfg, shape: tuple, fingerprint: str):
    if not path.exists():
        warnings.warn(f"{path}: no checkpoint to resume from; training starts fresh", VentgenWarning, stacklevel=4)
        return None
    ckpt, _ = check_checkpoint(path, read_checkpoint(path))
    check_resume(model._params(cfg), ckpt, shape, fingerprint, path, stacklevel=5)
    return ckpt


def fit_streamed(model, stream, cfg, *, must_link=None, checkpoint_dir=None, resume=False, epoch_callback=None,
                 dist=None):
    """``model.fit`` on a stream (see the module notes and :meth:`ventgen.HTVAE.fit`); returns ``model``.

    With ``dist`` every process trains on its part of every epoch (the HTVAE, then the flow generator on
    the same sample of whole shards); only rank 0 writes checkpoints, logs and builds the generation data.
    """
    if must_link is not None:
        raise VentgenValueError("must_link needs the cycles in memory (pairs are drawn across the whole set); "
                                "it is not available when training on a stream")
    if len(stream.sample_shape) != 2:
        raise VentgenValueError(f"a stream must hold cycles (channels, time), got sample shape {stream.sample_shape}")
    if resume and checkpoint_dir is None:
        raise VentgenValueError("resume=True needs checkpoint_dir (where the checkpoint was written)")
    shape = (int(stream.n), *(int(s) for s in stream.sample_shape))
    ckpt_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    ckpt = _resume_checkpoint(model, ckpt_path, cfg, shape, stream.fingerprint) if resume else None
    part = (0, 1) if dist is None else (dist.rank, dist.world_size)
    main = dist is None or dist.is_main

    def scaling():
        chunks = progress(stream.iter_chunks(part=part), enabled=model.progress if main else False,
                          desc="scaling", unit="chunk", total=stream.n_chunks(part=part))
        return stream_scaling(chunks, shape[1], dist)

    model._start(shape[1:], cfg, ckpt_path, ckpt, scaling)
    model.data_sha256_ = stream.fingerprint
    train_stream = stream.for_training(batch_size=cfg.batch_size, seed=model.seeds_[1], rank=part[0],
                                       world_size=part[1])
    loop = htvae_loop(
        model.module_, None, lr=cfg.lr, batch_size=cfg.batch_size, code_lr_scale=cfg.code_lr_scale,
        device=model.device_, seed=model.seeds_[1], must_link_level=1, dead_codes=cfg.dead_codes,
        progress=model.progress if main else False,
        batches=ScaledBatches(train_stream, model.scaling_, model.device_, mask=cfg.mask_padding), dist=dist,
    )
    if ckpt is not None:
        restore_trainer(ckpt_path, loop, ckpt.get("trainer"))
    model.history_, model.n_samples_ = loop.history, shape[0]
    htvae_done = loop.epoch >= cfg.epochs
    model.generator_, model.generation_ = None, None
    model._train(loop, ckpt_path, epoch_callback, dist)
    sample = stream.sample()  # the same whole shards on every rank (drawn from the stream's seed)
    merge_model_upper(model, sample.X, dist)
    model.generator_ = fit_model_generator(model, sample, sample.X, ckpt_path, ckpt if htvae_done else None,
                                           epoch_callback, dist)
    if not main:
        return model
    model.generation_ = stream_generation(model, stream, sample)
    return model
