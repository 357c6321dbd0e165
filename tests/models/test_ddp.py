"""Training beyond one process and one memory: a streamed sharded CycleSet and torchrun (gloo, CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ventgen  # noqa: E402
import ventgen.cli  # noqa: E402
from ventgen import HTVAE, simulate_cohort, write_recording  # noqa: E402
from ventgen.errors import VentgenValueError  # noqa: E402
from ventgen.generate.stored import generation_state  # noqa: E402
from ventgen.io.shards import read_shards  # noqa: E402
from ventgen.io.stream import ShardStream  # noqa: E402
from ventgen.models._inputs import fit_scaling  # noqa: E402
from ventgen.workflows import train_file  # noqa: E402
from ventgen.workflows.shards import segment_shards  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(maps=[(3, 3), (2, 1)], latent_dim=4, epochs=2, random_state=0, device="cpu", progress=False,
             batch_size=8, generator="none")
CLI_SMALL = ["--maps", "3x3,2x1", "--latent-dim", "4", "--seed", "0", "--device", "cpu", "--batch-size", "8",
             "--generator", "flow", "--generator-steps", "10", "--generator-width", "8"]


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    """Three simulated one-minute recordings segmented into a folder of three shards."""
    recs = tmp_path_factory.mktemp("recs")
    for rec in simulate_cohort(3, minutes=1, random_state=0, progress=False):
        write_recording(rec, recs / f"{rec.subject}.h5")
    out = tmp_path_factory.mktemp("cycles") / "cycles"
    segment_shards([recs], out, progress_bar=False)
    return out


def torchrun(args, nproc: int = 2, timeout: int = 180) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node=nproc ARGS`` with one thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "VENTGEN_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *map(str, args)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def weights(path) -> dict:
    return torch.load(path, weights_only=True)["model"]


# ----------------------------------------------------------------------------- streaming, one process


def test_a_three_shard_set_trains_through_the_stream(shard_dir, one_thread):
    stream = ShardStream(shard_dir, chunk_size=16, buffer_size=24, sample_cycles=10_000)
    assert len(stream.shards) == 3
    model = HTVAE(**SMALL).fit(stream)
    full = read_shards(shard_dir)
    assert [h["epoch"] for h in model.history_] == [1, 2] and np.isfinite(model.history_[-1]["loss"])
    assert model.n_samples_ == len(full) == stream.n
    # the streamed statistics are those of the whole set
    want = fit_scaling(full.X)
    assert torch.equal(model.scaling_["min"], want["min"]) and torch.equal(model.scaling_["max"], want["max"])
    assert model.assign(full).shape == (len(full), 2) and model.predict(full).max() < 9
    # same seed, same model
    again = HTVAE(**SMALL).fit(stream)
    assert all(torch.equal(a, b) for a, b in zip(model.module_.state_dict().values(),
                                                 again.module_.state_dict().values(), strict=True))


def test_the_streamed_generation_data_cover_every_breath(shard_dir, one_thread):
    stream = ShardStream(shard_dir, chunk_size=16, buffer_size=24, sample_cycles=20)
    model = HTVAE(**SMALL).fit(stream)
    full = read_shards(shard_dir)
    got, want = model.generation_.to_state(), generation_state(model, full)
    assert model.generation_.n == len(full) > 20  # every breath, not the sample
    for key in ("assign", "lengths", "maps", "cycle_shape", "channels"):
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]))
    assert got["labels"]["names"] == want["labels"]["names"]
    np.testing.assert_array_equal(got["labels"]["codes"], want["labels"]["codes"])
    assert got["run_lengths"]["labels"] == want["run_lengths"]["labels"]
    assert got["label_tree"] == want["label_tree"]
    np.testing.assert_array_equal(got["moments"]["node"], want["moments"]["node"])
    assert got["moments"]["label"] == want["moments"]["label"]
    for k in ("mean", "std"):
        np.testing.assert_allclose(got["moments"][k], want["moments"][k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["encodings"], want["encodings"], rtol=1e-5, atol=1e-6)
    cohort = ventgen.generate_cohort(model, {"patients": 1, "breaths": 12}, random_state=0)
    assert cohort.n_breaths == 12


def test_ventgen_train_stream_reads_the_shard_folder(shard_dir, tmp_path, capsys, one_thread):
    rc = ventgen.cli.main(["--quiet", "train", str(shard_dir), "-o", str(tmp_path / "m.pt"), "--stream",
                           "--buffer-cycles", "16", "--epochs", "1", "--maps", "3x3,2x1", "--latent-dim", "4",
                           "--generator", "none", "--seed", "0", "--device", "cpu"])
    out, full = capsys.readouterr().out, read_shards(shard_dir)
    assert rc == 0 and "epoch 1/1:" in out and f"{len(full)} cycles" in out
    model = HTVAE.load(tmp_path / "m.pt", device="cpu")
    assert model.generation_.n == model.n_samples_ == len(full) and model.predict(full).shape == (len(full),)
    rc = ventgen.cli.main(["--quiet", "train", str(next(shard_dir.glob("*.h5"))), "-o", str(tmp_path / "x.pt"),
                           "--stream"])
    assert rc == 2 and "--stream reads a shard folder" in capsys.readouterr().err


def test_must_link_and_ddp_without_a_process_group_are_refused(shard_dir, tmp_path):
    stream = ShardStream(shard_dir)
    with pytest.raises(VentgenValueError, match="must_link needs the cycles in memory"):
        HTVAE(**SMALL).fit(stream, must_link=np.zeros(stream.n, int))
    with pytest.raises(VentgenValueError, match="initialised torch.distributed process group.*torchrun"):
        HTVAE(**SMALL).fit(np.zeros((4, 2, 16), np.float32), ddp=True)
    with pytest.raises(VentgenValueError, match="--ddp needs the environment torchrun sets"):
        train_file(shard_dir, tmp_path / "m.pt", ddp=True, epochs=1, progress=False, log=lambda s: None)
    with pytest.raises(VentgenValueError, match="cannot be combined with --stream"):
        train_file(shard_dir, tmp_path / "m.pt", stream=True, must_link_level=1, log=lambda s: None)


# ----------------------------------------------------------------------------- torchrun, 2 processes, gloo


@pytest.fixture(scope="module")
def ddp_run(shard_dir, tmp_path_factory):
    """``torchrun --nproc_per_node=2 -m ventgen.cli train`` of 2 epochs (in memory, DistributedSampler)."""
    out = tmp_path_factory.mktemp("ddp")
    r = torchrun(["-m", "ventgen.cli", "--quiet", "train", shard_dir, "-o", out / "m.pt", "--epochs", "2",
                  "--checkpoint-dir", out / "ck", *CLI_SMALL])
    return out, r


def test_two_processes_train_and_the_model_loads_and_assigns(ddp_run, shard_dir):
    out, r = ddp_run
    assert r.stdout.count("epoch 1/2:") == 1 and r.stdout.count("-> ") == 1  # rank 0 alone logs
    assert "(2 processes)" in r.stdout
    model = HTVAE.load(out / "m.pt", device="cpu")
    full = read_shards(shard_dir)
    assert [h["epoch"] for h in model.history_] == [1, 2] and model.n_samples_ == len(full)
    assert model.assign(full).shape == (len(full), 2) and model.transform(full).shape == (len(full), 4)
    assert model.generator_ is not None and model.generation_.n == len(full)  # both ranks trained the generator


def test_a_ddp_run_resumes_as_if_never_interrupted(ddp_run, shard_dir, tmp_path):
    out, _ = ddp_run
    # the HTVAE's weights do not depend on the generator trained after it: leave it out here (faster)
    base = ["-m", "ventgen.cli", "--quiet", "train", shard_dir, "--checkpoint-dir", tmp_path / "ck", *CLI_SMALL,
            "--generator", "none"]
    torchrun([*base, "-o", tmp_path / "part.pt", "--epochs", "1"])
    r = torchrun([*base, "-o", tmp_path / "res.pt", "--epochs", "2", "--resume"])
    assert "epoch 1/2" not in r.stdout and r.stdout.count("epoch 2/2:") == 1
    full, part, res = weights(out / "m.pt"), weights(tmp_path / "part.pt"), weights(tmp_path / "res.pt")
    assert all(torch.equal(full[k], res[k]) for k in full)
    assert not all(torch.equal(full[k], part[k]) for k in full)


_RANKS_SCRIPT = """
import sys, torch, torch.distributed as dist
torch.set_num_threads(1)
from ventgen import HTVAE
from ventgen.io.stream import ShardStream
dist.init_process_group("gloo")
stream = ShardStream(sys.argv[1], chunk_size=8, buffer_size=16)
model = HTVAE(maps=[(3, 3), (2, 1)], latent_dim=4, epochs=2, random_state=0, device="cpu", progress=False,
              batch_size=8, generator="flow", generator_steps=60, generator_width=8,
              generator_batch_size=16).fit(stream, ddp=True)
codes = [torch.zeros_like(model.module_.som.codes) for _ in range(dist.get_world_size())]
dist.all_gather(codes, model.module_.som.codes.detach())
# the flow generator trained under DDP too: each rank its part of every epoch, the same weights everywhere
w = torch.cat([p.detach().reshape(-1) for p in model.generator_.net.parameters()])
ws = [torch.zeros_like(w) for _ in range(dist.get_world_size())]
dist.all_gather(ws, w)
if dist.get_rank() == 0:
    assert all(torch.equal(codes[0], c) for c in codes[1:]), "codes differ between ranks"
    assert all(torch.equal(ws[0], x) for x in ws[1:]), "generator weights differ between ranks"
    assert not torch.equal(ws[0], torch.zeros_like(ws[0]))
    assert model.generation_ is not None and model.generation_.n == stream.n
    model.save(sys.argv[2])
else:
    assert model.generation_ is None
dist.destroy_process_group()
"""


def test_streamed_ddp_keeps_the_codes_and_the_generator_identical_on_every_rank(shard_dir, tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(_RANKS_SCRIPT)
    torchrun([script, shard_dir, tmp_path / "m.pt"])
    model = HTVAE.load(tmp_path / "m.pt", device="cpu")
    assert len(model.history_) == 2 and model.n_samples_ == read_shards(shard_dir).X.shape[0]
