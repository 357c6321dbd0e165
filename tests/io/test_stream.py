"""ShardStream: a sharded CycleSet read in chunks (per-epoch shard order, per-rank split, shuffle buffer)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader  # noqa: E402

from ventgen import CycleSet  # noqa: E402
from ventgen.errors import FileFormatError, VentgenValueError  # noqa: E402
from ventgen.io.cycleset import write_cycleset  # noqa: E402
from ventgen.io.shards import read_shards, shard_entry, write_shard_index  # noqa: E402
from ventgen.io.stream import ShardStream  # noqa: E402

SIZES = (23, 7, 31)  # three shards of unequal sizes: 61 cycles


def write_shards(folder, sizes=SIZES, T=12, bad=None):
    """Shards whose cycle ``k`` (over all shards, index order) holds the value ``k`` everywhere."""
    entries, k = [], 0
    for i, n in enumerate(sizes):
        X = np.repeat(np.arange(k, k + n, dtype=np.float32)[:, None, None], 2 * T, axis=2).reshape(n, 2, T)
        if bad == i:
            X[n // 2, 1, 3] = np.nan
        cs = CycleSet(X, lengths=np.arange(n) % T + 1, sampling_rate=25, labels=[f"c{j % 3}" for j in range(n)],
                      subjects=[f"s{i}"] * n)
        cs.breaths["recording"] = 0
        name = f"shard{i}.h5"
        write_cycleset(cs, folder / name)
        entries.append(shard_entry(name, name, folder / name, n_recordings=1, n_breaths=n, n_cycles=n,
                                   n_labelled=n))
        k += n
    write_shard_index(folder, entries, parameters={})
    return folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("stream"))


def ids(batches) -> np.ndarray:
    """The cycle number of every cycle of the batches, in order."""
    return np.concatenate([b["x"][:, 0, 0].numpy() for b in batches]).astype(np.int64)


def test_one_epoch_sees_every_cycle_once_in_a_shuffled_order(shards):
    s = ShardStream(shards, batch_size=8, chunk_size=5, buffer_size=16, seed=3)
    batches = list(s)
    seen = ids(batches)
    assert len(batches) == len(s) == 8 and [len(b["x"]) for b in batches][:-1] == [8] * 7
    assert sorted(seen.tolist()) == list(range(61))
    assert not np.array_equal(seen, np.sort(seen))  # shuffled
    b = batches[0]
    assert b["x"].dtype == torch.float32 and tuple(b["x"].shape[1:]) == (2, 12) and b["lengths"].dtype == torch.int64
    # the lengths travel with their cycles
    lengths = np.concatenate([b["lengths"].numpy() for b in batches])
    want = np.concatenate([np.arange(n) % 12 + 1 for n in SIZES])
    np.testing.assert_array_equal(lengths, want[seen])


def test_same_seed_same_batches_new_epoch_new_order(shards):
    a = ShardStream(shards, batch_size=8, chunk_size=5, buffer_size=16, seed=3)
    b = ShardStream(shards, batch_size=8, chunk_size=5, buffer_size=16, seed=3)
    np.testing.assert_array_equal(ids(a), ids(b))
    first = ids(a)
    a.set_epoch(1)
    second = ids(a)
    assert sorted(second.tolist()) == list(range(61)) and not np.array_equal(first, second)


def test_ranks_split_an_epoch_in_equal_parts_that_cover_every_cycle(shards):
    parts = [list(ShardStream(shards, batch_size=4, chunk_size=6, buffer_size=10, seed=1, rank=r, world_size=3))
             for r in range(3)]
    seen = [ids(p) for p in parts]
    assert [len(p) for p in parts] == [len(ShardStream(shards, batch_size=4, rank=0, world_size=3))] * 3 == [6] * 3
    assert [len(v) for v in seen] == [21, 21, 21]  # ceil(61 / 3); one cycle repeated as padding
    allc = np.concatenate(seen)
    assert sorted(set(allc.tolist())) == list(range(61)) and len(allc) - 61 == 2


def test_a_dataloader_takes_the_stream_as_it_is(shards):
    s = ShardStream(shards, batch_size=16, chunk_size=8, buffer_size=16, seed=0)
    via_loader = [b for b in DataLoader(s, batch_size=None)]
    np.testing.assert_array_equal(ids(via_loader), ids(s))
    with pytest.raises(VentgenValueError, match="not between DataLoader workers"):
        list(DataLoader(s, batch_size=None, num_workers=2))


def test_the_stream_holds_at_most_buffer_plus_chunk_cycles(shards, monkeypatch):
    """Batches leave once the buffer is full: the first one comes after at most buffer + chunk reads."""
    s = ShardStream(shards, batch_size=4, chunk_size=5, buffer_size=10, seed=0)
    reads = []
    real = s._chunks

    def counted():
        for x, lengths in real():
            reads.append(len(x))
            yield x, lengths

    monkeypatch.setattr(s, "_chunks", counted)
    it = iter(s)
    next(it)
    assert sum(reads) <= s.max_cycles_in_memory == 15


def test_iter_chunks_is_the_whole_set_in_index_order(shards):
    s = ShardStream(shards, chunk_size=10)
    chunks = list(s.iter_chunks())
    assert max(len(c) for c in chunks) == 10
    whole, full = CycleSet.concatenate(chunks), read_shards(shards)
    np.testing.assert_array_equal(whole.X, full.X)
    np.testing.assert_array_equal(whole.lengths, full.lengths)
    assert whole.labels.tolist() == full.labels.tolist() and whole.subjects.tolist() == full.subjects.tolist()
    halves = [CycleSet.concatenate(list(s.iter_chunks(part=(i, 2)))) for i in range(2)]
    assert sorted(np.concatenate([h.X[:, 0, 0] for h in halves]).tolist()) == list(range(61))


def test_sample_is_whole_shards_up_to_the_limit(shards):
    s = ShardStream(shards, sample_cycles=30)
    cs = s.sample()
    v = cs.X[:, 0, 0].astype(int)
    assert len(cs) == 30 and (np.diff(v) != 1).sum() <= len(SIZES) - 1  # runs of consecutive breaths
    assert len(s.sample(1000)) == 61


def test_bad_folders_and_arguments_are_refused_with_the_file_named(tmp_path, shards):
    (tmp_path / "bad").mkdir()
    s = ShardStream(write_shards(tmp_path / "bad", bad=1), chunk_size=4)
    with pytest.raises(VentgenValueError, match=r"shard1\.h5: 1 cycles hold NaN.*first: cycle 3"):
        list(s.iter_chunks())
    (tmp_path / "odd").mkdir()
    odd = tmp_path / "odd"
    write_shards(odd, sizes=(5, 5))
    cs = CycleSet(np.zeros((5, 2, 9), np.float32), np.full(5, 9), 25)
    (odd / "shard1.h5").unlink()
    write_cycleset(cs, odd / "shard1.h5")
    with pytest.raises(FileFormatError, match="SHA-256"):
        ShardStream(odd)
    with pytest.raises(FileFormatError, match="SHA-256"):
        ShardStream(odd, verify=(1, 2))  # the part of the second of two processes holds shard1
    for verify in (False, (0, 2)):  # shard1 not hashed: its other shape is found
        with pytest.raises(FileFormatError, match=r"shard1\.h5.*x 9 at 25 Hz.*x 12 at 25 Hz"):
            ShardStream(odd, verify=verify)
    with pytest.raises(VentgenValueError, match="rank must be in 0..1"):
        ShardStream(shards, rank=2, world_size=2)
    with pytest.raises(VentgenValueError, match="buffer_size must be an integer"):
        ShardStream(shards, buffer_size=0)
