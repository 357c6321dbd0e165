"""A sharded CycleSet read in chunks: a torch ``IterableDataset`` for archives larger than memory.

:class:`ShardStream` reads a shard folder (``ventgen segment ... -o cycles/``, see :mod:`ventgen.io.shards`)
with h5py, ``chunk_size`` cycles at a time, and never holds more than ``buffer_size + chunk_size`` cycles
of it while it streams batches:

* **per-epoch shard order** -- every epoch (:meth:`ShardStream.set_epoch`) visits the shards in a new
  order drawn from ``(seed, epoch)``; the cycles of that order form one sequence;
* **per-rank split** -- with ``world_size`` processes (DistributedDataParallel), rank ``r`` takes the
  ``r``-th of ``world_size`` equal, contiguous parts of that sequence (the last part wraps around to its
  start, as :class:`torch.utils.data.DistributedSampler` pads), so every rank makes the same number of
  steps and every cycle is seen once an epoch;
* **shuffle buffer** -- the chunks a rank reads go through a buffer of ``buffer_size`` cycles, shuffled
  with a generator of ``(seed, epoch, rank)``; its random first half leaves as batches.

Batches are dicts of tensors: ``x`` float32 ``(b, C, T)`` in original units (flow L/min, pressure
cmH2O) and ``lengths`` int64 ``(b,)``. The same seed gives the same batches, whatever the chunk size.

The passes that need every cycle once (normalisation statistics, the stored generation data) use
:meth:`ShardStream.iter_chunks`, which yields the shards in index order as CycleSets of at most
``chunk_size`` cycles; :meth:`ShardStream.sample` is a bounded CycleSet of whole shards (the flow
generator and the observation models are fitted on it).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from ventgen import CycleSet
>>> from ventgen.io.cycleset import write_cycleset
>>> from ventgen.io.shards import shard_entry, write_shard_index
>>> d = tempfile.mkdtemp()
>>> entries = []
>>> for i, name in enumerate(("a.h5", "b.h5", "c.h5")):
...     X = np.full((10, 2, 8), i, np.float32)
...     _ = write_cycleset(CycleSet(X, np.full(10, 8), 25), os.path.join(d, name))
...     entries.append(shard_entry(name, name, os.path.join(d, name), n_recordings=1, n_breaths=10,
...                                n_cycles=10, n_labelled=0))
>>> _ = write_shard_index(d, entries, parameters={})
>>> stream = ShardStream(d, batch_size=4, chunk_size=5, buffer_size=8, seed=0)
>>> len(stream), stream.n, stream.sample_shape
(8, 30, (2, 8))
>>> batches = list(stream)
>>> sum(len(b["x"]) for b in batches), np.unique(np.concatenate([b["x"][:, 0, 0] for b in batches])).tolist()
(30, [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import IterableDataset

from .._core.limits import MAX_BATCH_SIZE
from ..errors import FileFormatError, VentgenError, VentgenValueError
from ..signals.cycles import CycleSet
from .cycleset import _read_dataset, _read_manifest
from .hdf5 import _H5_ERRORS
from .shards import INDEX_NAME, file_sha256, read_shard_index

__all__ = ["ShardStream"]


def _positive(v, name: str, high: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 or (high is not None and v > high):
        raise VentgenValueError(f"{name} must be an integer in 1..{high or 'inf'}, got {v!r}")
    return int(v)


class _Shard:
    """One shard file: its checked manifest and per-cycle columns; ``X`` read by slices."""

    def __init__(self, path: Path, entry: dict):
        self.path, self.entry = path, entry
        with self._open() as h:
            try:
                self.manifest = _read_manifest(path, h)
                n, c, t = (self.manifest[k] for k in ("n_cycles", "n_channels", "length"))
                d = h.get("X")
                if not isinstance(d, h5py.Dataset) or d.shape != (n, c, t) or d.dtype.kind not in "fiu":
                    raise FileFormatError(path, f"expected a numeric dataset of shape {(n, c, t)}", field="X")
            except VentgenError:
                raise
            except _H5_ERRORS as exc:
                raise FileFormatError(path, f"cannot read the CycleSet: {str(exc)[:200]}") from None
        if n != entry["n_cycles"]:
            raise FileFormatError(path, f"holds {n} cycles; {INDEX_NAME} says {entry['n_cycles']}")
        self.n = int(n)

    def _open(self):
        if not self.path.is_file():
            raise FileFormatError(self.path, f"listed in {INDEX_NAME} but missing")
        try:
            return h5py.File(self.path, "r")
        except _H5_ERRORS as exc:
            raise FileFormatError(self.path, f"not an HDF5 file ({str(exc)[:200]})") from None

    def read_x(self, h, start: int, stop: int) -> np.ndarray:
        """Cycles ``start:stop`` as float32 (one h5py hyperslab read: only the chunks it covers)."""
        try:
            return np.asarray(h["X"][start:stop], dtype=np.float32)
        except _H5_ERRORS as exc:
            raise FileFormatError(self.path, f"cannot read cycles {start}..{stop} (truncated or corrupt?): "
                                             f"{str(exc)[:200]}", field="X") from None

    def columns(self, h) -> dict:
        """lengths, labels, superclasses, subjects, source_rate and the breath table (checked)."""
        n, t = self.n, self.manifest["length"]
        out = {"lengths": _read_dataset(self.path, h, "lengths", (n,), "iu")}
        if n and (out["lengths"].min() < 1 or out["lengths"].max() > t):
            raise FileFormatError(self.path, f"cycle lengths must lie in [1, {t}]", field="lengths")
        for name in ("labels", "superclasses", "subjects"):
            out[name] = _read_dataset(self.path, h, name, (n,), "str")
        out["source_rate"] = _read_dataset(self.path, h, "source_rate", (n,), "fiu") if "source_rate" in h else None
        g = h.get("breaths")
        cols = {}
        for col in self.manifest["breath_columns"]:
            if not isinstance(g, h5py.Group) or col not in g:
                raise FileFormatError(self.path, "breath column listed in the manifest is missing",
                                      field=f"breaths/{col}")
            cols[col] = _read_dataset(self.path, g, col, (n,), "any", where="breaths/")
        out["breaths"] = pd.DataFrame(cols, columns=self.manifest["breath_columns"], index=range(n))
        return out


class ShardStream(IterableDataset):
    """Batches of a shard folder, read in chunks (see the module notes).

    Parameters
    ----------
    folder : path
        A shard folder with its ``index.json``.
    batch_size : int
        Cycles per batch (the last batch of an epoch may be smaller).
    chunk_size : int
        Cycles per h5py read.
    buffer_size : int
        Cycles in the shuffle buffer; with ``chunk_size`` it bounds what the stream holds.
    seed : int
        Seeds the shard order and the shuffle buffer (with the epoch and the rank).
    rank, world_size : int
        This process's part of every epoch (DistributedDataParallel); 0 and 1 for one process.
    verify : bool or (i, k)
        Check every shard's SHA-256 against the index once, when the stream is made; ``(i, k)``: only
        the shards ``i, i + k, ...`` (each of ``k`` processes checks its part).
    sample_cycles : int
        Cycles of :meth:`sample`.

    Attributes
    ----------
    n : int
        Cycles in the folder.
    sample_shape : (C, T)
    channels, sampling_rate :
        Those of the shards (all alike, or an error).
    """

    def __init__(self, folder, *, batch_size: int = 32, chunk_size: int = 1024, buffer_size: int = 8192,
                 seed: int = 0, rank: int = 0, world_size: int = 1, verify: bool | tuple = True,
                 sample_cycles: int = 50_000):
        super().__init__()
        self.folder = Path(folder)
        self.batch_size = _positive(batch_size, "batch_size", MAX_BATCH_SIZE)
        self.chunk_size = _positive(chunk_size, "chunk_size")
        self.buffer_size = _positive(buffer_size, "buffer_size")
        self.sample_cycles = _positive(sample_cycles, "sample_cycles")
        self.world_size = _positive(world_size, "world_size")
        if not 0 <= int(rank) < self.world_size:
            raise VentgenValueError(f"rank must be in 0..{self.world_size - 1}, got {rank!r}")
        self.rank, self.seed, self.epoch = int(rank), int(seed), 0
        doc = read_shard_index(self.folder)
        self.shards = []
        check = set(range(len(doc["shards"]))[slice(verify[0], None, verify[1])] if isinstance(verify, tuple)
                    else range(len(doc["shards"])) if verify else ())
        for i, entry in enumerate(doc["shards"]):
            path = self.folder / entry["file"]
            if i in check and path.is_file() and file_sha256(path) != entry["sha256"]:
                raise FileFormatError(path, f"its SHA-256 differs from the one in {INDEX_NAME}")
            self.shards.append(_Shard(path, entry))
        self.shards = [s for s in self.shards if s.n > 0]
        if not self.shards:
            raise VentgenValueError(f"{self.folder}: the shard folder holds no cycles")
        self._check_alike()
        first = self.shards[0].manifest
        self.sample_shape = (int(first["n_channels"]), int(first["length"]))
        self.channels = list(first["channels"])
        self.sampling_rate = float(first["sampling_rate"])
        self.n = sum(s.n for s in self.shards)
        self.fingerprint = self._fingerprint()

    def for_training(self, *, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> ShardStream:
        """This stream (the same shards, nothing read again) with other batch settings, at epoch 0."""
        new = copy.copy(self)
        new.batch_size = _positive(batch_size, "batch_size", MAX_BATCH_SIZE)
        new.world_size = _positive(world_size, "world_size")
        if not 0 <= int(rank) < new.world_size:
            raise VentgenValueError(f"rank must be in 0..{new.world_size - 1}, got {rank!r}")
        new.rank, new.seed, new.epoch = int(rank), int(seed), 0
        return new

    def _check_alike(self) -> None:
        a = self.shards[0].manifest
        for s in self.shards[1:]:
            m = s.manifest
            if (m["n_channels"], m["length"], m["sampling_rate"], m["channels"]) != (
                    a["n_channels"], a["length"], a["sampling_rate"], a["channels"]):
                raise FileFormatError(s.path, f"holds cycles of {m['channels']} x {m['length']} at "
                                              f"{m['sampling_rate']:g} Hz; {self.shards[0].path.name} holds "
                                              f"{a['channels']} x {a['length']} at {a['sampling_rate']:g} Hz")

    def _fingerprint(self) -> str:
        """sha256 (hex) of the shards' names, sizes and SHA-256 (what a resume checks)."""
        h = hashlib.sha256(b"ventgen-shard-stream-1")
        for s in self.shards:
            h.update(repr((s.entry["file"], s.n, s.entry["sha256"])).encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (f"ShardStream({self.folder}, {len(self.shards)} shards, {self.n} cycles, batch_size="
                f"{self.batch_size}, rank {self.rank}/{self.world_size})")

    # ------------------------------------------------------------------ epochs
    @property
    def per_rank(self) -> int:
        """Cycles each rank sees an epoch (``ceil(n / world_size)``)."""
        return -(-self.n // self.world_size)

    @property
    def samples_per_epoch(self) -> int:
        """Cycles all ranks see together an epoch (``n`` padded to a multiple of ``world_size``)."""
        return self.per_rank * self.world_size

    @property
    def max_cycles_in_memory(self) -> int:
        """The most cycles the stream holds while it iterates (shuffle buffer plus one chunk)."""
        return self.buffer_size + self.chunk_size

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return -(-self.per_rank // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose shard order and shuffle the next iteration uses."""
        self.epoch = int(epoch)

    def _segments(self) -> list[tuple[int, int, int]]:
        """``(shard, start, stop)`` reads of this rank's part of the epoch's sequence, in order."""
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.shards))
        sizes = np.array([self.shards[i].n for i in order])
        ends = np.cumsum(sizes)
        out, pos = [], self.rank * self.per_rank
        left = self.per_rank
        while left > 0:
            p = pos % self.n
            k = int(np.searchsorted(ends, p, side="right"))
            start = p - (ends[k] - sizes[k])
            stop = min(int(sizes[k]), start + left, start + self.chunk_size)
            out.append((int(order[k]), int(start), int(stop)))
            left -= stop - start
            pos += stop - start
        return out

    def _chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(X, lengths)`` of this rank's reads, one chunk at a time (one open file at a time)."""
        cur, h, lengths = None, None, None
        try:
            for k, start, stop in self._segments():
                if k != cur:
                    if h is not None:
                        h.close()
                    cur, h = k, self.shards[k]._open()
                    lengths = _read_dataset(self.shards[k].path, h, "lengths", (self.shards[k].n,), "iu")
                yield self.shards[k].read_x(h, start, stop), np.asarray(lengths[start:stop], dtype=np.int64)
        finally:
            if h is not None:
                h.close()

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        if info is not None and info.num_workers > 1:
            raise VentgenValueError("a ShardStream splits itself between ranks, not between DataLoader workers: "
                                    "use DataLoader(stream, batch_size=None, num_workers=0 or 1)")
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 1])
        bs, keep = self.batch_size, self.buffer_size // 2
        buf_x = np.zeros((0, *self.sample_shape), np.float32)
        buf_l = np.zeros(0, np.int64)
        for x, lengths in self._chunks():
            buf_x, buf_l = np.concatenate([buf_x, x]), np.concatenate([buf_l, lengths])
            if len(buf_l) < self.buffer_size:
                continue
            perm = rng.permutation(len(buf_l))
            n_out = (len(buf_l) - keep) // bs * bs
            yield from _batches(buf_x[perm[:n_out]], buf_l[perm[:n_out]], bs)
            buf_x, buf_l = buf_x[perm[n_out:]], buf_l[perm[n_out:]]
        perm = rng.permutation(len(buf_l))
        yield from _batches(buf_x[perm], buf_l[perm], bs)

    # ------------------------------------------------------------------ whole passes
    def iter_chunks(self, *, part: tuple[int, int] = (0, 1)) -> Iterator[CycleSet]:
        """The cycles in index order, as CycleSets of at most ``chunk_size`` cycles (every column).

        ``part=(i, k)`` visits only the shards ``i, i + k, i + 2k ...`` (a pass shared by ``k``
        processes). A chunk holding NaN or infinite values is an error naming the shard and the cycle.
        """
        i, k = (int(v) for v in part)
        for shard in self.shards[i::k]:
            with shard._open() as h:
                cols = shard.columns(h)
                for start in range(0, shard.n, self.chunk_size):
                    stop = min(shard.n, start + self.chunk_size)
                    yield self._chunk(shard, shard.read_x(h, start, stop), cols, start, stop)

    def n_chunks(self, *, part: tuple[int, int] = (0, 1)) -> int:
        """How many chunks :meth:`iter_chunks` yields for ``part``."""
        i, k = (int(v) for v in part)
        return sum(-(-s.n // self.chunk_size) for s in self.shards[i::k])

    def _chunk(self, shard: _Shard, X: np.ndarray, cols: dict, start: int, stop: int) -> CycleSet:
        bad = ~np.isfinite(X).reshape(len(X), -1).all(axis=1)
        if bad.any():
            raise VentgenValueError(f"{shard.path}: {int(bad.sum())} cycles hold NaN or infinite values (first: "
                                    f"cycle {start + int(np.flatnonzero(bad)[0])}); drop them before training")
        sl = slice(start, stop)
        sr = None if cols["source_rate"] is None else cols["source_rate"][sl]
        return CycleSet(X, cols["lengths"][sl], self.sampling_rate, self.channels, cols["labels"][sl],
                        cols["superclasses"][sl], cols["subjects"][sl], cols["breaths"].iloc[sl], sr)

    def sample(self, max_cycles: int | None = None) -> CycleSet:
        """At most ``max_cycles`` (default ``sample_cycles``) cycles of whole shards, in an order drawn
        from ``seed``: consecutive breaths stay together (event runs, boundaries)."""
        limit = self.sample_cycles if max_cycles is None else _positive(max_cycles, "max_cycles")
        order = np.random.default_rng([self.seed, 2**31]).permutation(len(self.shards))
        sets, left = [], limit
        for i in order:
            shard = self.shards[i]
            with shard._open() as h:
                stop = min(shard.n, left)
                sets.append(self._chunk(shard, shard.read_x(h, 0, stop), shard.columns(h), 0, stop))
            left -= stop
            if left == 0:
                break
        return CycleSet.concatenate(sets)


def _batches(X: np.ndarray, lengths: np.ndarray, bs: int) -> Iterator[dict]:
    for i in range(0, len(lengths), bs):
        yield {"x": torch.from_numpy(np.ascontiguousarray(X[i:i + bs])),
               "lengths": torch.from_numpy(np.ascontiguousarray(lengths[i:i + bs]))}
