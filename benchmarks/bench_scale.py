"""Beyond one process and one memory (issue 18): segmentation on Dask, DDP training, streamed training.

Prints three figures, each measured in fresh processes:

* ``segment`` -- segmentation throughput of ``--hours`` hours of simulated recordings (``--files``
  HDF5 files, cached in ``benchmarks/out/scale/``) into a shard folder
  (:func:`ventgen.workflows.shards.segment_shards`): serially, and on a local Dask cluster of 1 and of
  2 single-threaded workers, started and warmed up before the clock starts (its start is printed
  apart); the ratio of the two (aim >= 1.8x on 2 free cores);
* ``ddp`` -- HTVAE training under ``torchrun`` (gloo, CPU, one thread per process) with 1 and 2
  processes on the same in-memory cycles: milliseconds per step (every process takes one batch of
  ``--batch-size`` per step) and cycles per second over all processes, from the epochs after the first;
* ``memory`` -- the peak resident memory (``ru_maxrss``) of training one epoch (then the generation
  data) on a shard folder 4x larger than what the stream holds (shuffle buffer + one chunk; cycles
  tiled from simulated ones, with noise), streamed (``ventgen.io.stream.ShardStream``); the same on its
  first quarter (as many cycles as the stream holds: what grows with the set is the difference); the
  whole set loaded in memory; and the baseline of a process that has imported everything and built
  the model.

Run:  python benchmarks/bench_scale.py [segment] [ddp] [memory] [--hours 8] [--files 8] [--steps 60]

Every process uses one thread (OMP_NUM_THREADS=1, torch.set_num_threads(1)); on a shared machine the
ratios are only as good as the free cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("VENTGEN_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out" / "scale"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "VENTGEN_PROGRESS": "0",
       "PYTHONPATH": str(ROOT)}
SMALL = dict(maps=[(8, 8), (4, 4), (2, 2)], latent_dim=16, device="cpu", progress=False, generator="none",
             random_state=0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(cmd, timeout=1800) -> str:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=timeout)
    if r.returncode:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def last_json(text: str) -> dict:
    return json.loads([ln for ln in text.splitlines() if ln.startswith("{")][-1])


# ----------------------------------------------------------------------------- segmentation on Dask


def recordings(hours: float, files: int) -> Path:
    """``files`` simulated recordings of ``hours / files`` hours each (written once, then reused)."""
    import ventgen

    d = OUT / f"recs_{hours:g}h_{files}"
    if not (d / "done").exists():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        minutes = hours * 60 / files
        for rec in ventgen.simulate_cohort(files, minutes=minutes, random_state=0, progress=False):
            ventgen.write_recording(rec, d / f"{rec.subject}.h5")
        (d / "done").touch()
    return d


def bench_segment(args) -> None:
    recs = recordings(args.hours, args.files)
    print(f"segment: {args.hours:g} h of simulated recordings in {args.files} HDF5 files ({recs}); "
          "best of 2, cluster start apart")
    times = {}
    for workers in (0, 1, 2):
        r = last_json(run([sys.executable, __file__, "_segment", recs, workers]))
        times[workers] = r["wall_s"]
        what = "serial (no Dask)" if workers == 0 else f"{workers} Dask worker(s)"
        start = f" (+ {r['start_s']:.1f} s cluster start)" if workers else ""
        print(f"  {what:<18s} {times[workers]:7.2f} s{start}: {args.hours * 3600 / times[workers]:8.0f} s of "
              f"recording per s, {r['n_cycles'] / times[workers]:7.0f} cycles/s")
    print(f"  ratio 2 workers / 1 worker: {times[1] / times[2]:.2f}x")


def _segment_worker(recs: str, workers: str) -> None:
    """Segments ``recs`` twice (serially, or on a warm local cluster of ``workers`` processes)."""
    from ventgen.workflows.distributed import require_distributed
    from ventgen.workflows.shards import segment_shards

    workers, kw, start, cluster = int(workers), {}, 0.0, None
    if workers:
        dd = require_distributed()
        t0 = time.perf_counter()
        cluster = dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        with dd.Client(cluster) as client:
            client.run(lambda: __import__("ventgen.workflows.shards"))  # the workers import ventgen now
        start = time.perf_counter() - t0
        kw = {"scheduler": cluster.scheduler_address}
    walls = []
    for _ in range(2):
        out = Path(tempfile.mkdtemp(dir=OUT)) / "cycles"
        t0 = time.perf_counter()
        summary = segment_shards([recs], out, progress_bar=False, **kw)
        walls.append(time.perf_counter() - t0)
        shutil.rmtree(out.parent)
    if cluster is not None:
        cluster.close()
    print(json.dumps({"wall_s": min(walls), "start_s": start, "n_cycles": summary["n_cycles"]}))


# ----------------------------------------------------------------------------- DDP step time


def cycles_array(n: int, seed: int = 0):
    """``n`` cycles (2 x 200) tiled from simulated ones, with a little noise, and their lengths."""
    import ventgen

    recs = ventgen.simulate_cohort(1, minutes=10, random_state=seed, progress=False)
    cs = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(cs), n)
    X = cs.X[idx] + rng.normal(0, 0.05, (n, *cs.X.shape[1:])).astype(np.float32)
    return cs, X.astype(np.float32), cs.lengths[idx]


def bench_ddp(args) -> None:
    print(f"ddp: torchrun, gloo on CPU, batch {args.batch_size} per process, {args.cycles} cycles in memory, "
          "maps 8x8,4x4,2x2, latent 16")
    res = {}
    for nproc in (1, 2):
        out = run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   __file__, "_ddp", args.cycles, args.batch_size, args.epochs])
        res[nproc] = last_json(out)
        r = res[nproc]
        print(f"  {nproc} process(es): {r['ms_per_step']:7.1f} ms/step, {r['cycles_per_s']:8.0f} cycles/s "
              f"({r['steps']} steps/epoch/process)")
    print(f"  throughput 2 / 1 processes: {res[2]['cycles_per_s'] / res[1]['cycles_per_s']:.2f}x")


def _ddp_worker(n: str, batch_size: str, epochs: str) -> None:
    import torch
    import torch.distributed as dist

    from ventgen import HTVAE, CycleSet

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    cs, X, lengths = cycles_array(int(n))
    data = CycleSet(X, lengths, cs.sampling_rate)
    model = HTVAE(**SMALL, epochs=int(epochs), batch_size=int(batch_size)).fit(data, ddp=True)
    world = dist.get_world_size()
    per_rank = -(-int(n) // world)
    steps = -(-per_rank // int(batch_size))
    t = float(np.mean([h["time_s"] for h in model.history_[1:]]))
    if dist.get_rank() == 0:
        print(json.dumps({"ms_per_step": t / steps * 1000, "cycles_per_s": int(n) / t, "steps": steps}))
    dist.destroy_process_group()


# ----------------------------------------------------------------------------- peak memory, streamed


def shard_set(n_shards: int, per_shard: int) -> Path:
    """A shard folder of ``n_shards`` x ``per_shard`` cycles tiled from simulated ones (written once)."""
    from ventgen import CycleSet
    from ventgen.io.cycleset import write_cycleset
    from ventgen.io.shards import shard_entry, write_shard_index

    d = OUT / f"shards_{n_shards}x{per_shard}"
    if (d / "index.json").exists():
        return d
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    entries = []
    for i in range(n_shards):
        cs, X, lengths = cycles_array(per_shard, seed=i)
        name = f"part{i:03d}.h5"
        write_cycleset(CycleSet(X, lengths, cs.sampling_rate, labels=cs.labels[:1].repeat(per_shard)), d / name)
        entries.append(shard_entry(name, name, d / name, n_recordings=1, n_breaths=per_shard,
                                   n_cycles=per_shard, n_labelled=per_shard))
    write_shard_index(d, entries, parameters={"synthetic": True})
    return d


def bench_memory(args) -> None:
    folder = shard_set(args.shards, args.per_shard)
    n = args.shards * args.per_shard
    held = n // 4  # the stream holds a quarter of the set: shuffle buffer + one chunk
    chunk = held // 4
    set_mb = n * 2 * 200 * 4 / 2**20
    print(f"memory: {n} cycles (2 x 200 float32: {set_mb:.0f} MB of values) in {args.shards} shards; the stream "
          f"holds {held} cycles ({held * 1600 / 2**20:.0f} MB: buffer {held - chunk} + chunk {chunk}), 1 epoch, "
          f"batch {args.batch_size}")
    quarter = shard_set(args.shards // 4, args.per_shard)  # the first quarter of the same shards
    rows = [("baseline", folder, "imports + model, no data"),
            ("stream", quarter, f"streamed, a quarter of the set ({n // 4} cycles = what the stream holds)"),
            ("stream", folder, f"streamed, the whole set ({n} cycles)"),
            ("memory", folder, f"in memory, the whole set ({n} cycles)")]
    for mode, where, what in rows:
        r = last_json(run([sys.executable, __file__, "_memory", where, mode, held - chunk, chunk, args.batch_size]))
        extra = f", {r['wall_s']:6.1f} s" if mode != "baseline" else ""
        print(f"  peak RSS {r['peak_rss_mb']:7.0f} MB{extra}  {what}")


def _memory_worker(folder: str, mode: str, buffer: str, chunk: str, batch_size: str) -> None:
    import torch

    from ventgen import HTVAE
    from ventgen.io.shards import read_shards
    from ventgen.io.stream import ShardStream

    torch.set_num_threads(1)
    model = HTVAE(**SMALL, epochs=1, batch_size=int(batch_size))
    t0 = time.perf_counter()
    if mode == "baseline":
        model._build((2, 200), 0)
    elif mode == "stream":
        model.fit(ShardStream(folder, buffer_size=int(buffer), chunk_size=int(chunk), sample_cycles=int(chunk)))
    else:
        model.fit(read_shards(folder))
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "wall_s": time.perf_counter() - t0}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        worker = {"_segment": _segment_worker, "_ddp": _ddp_worker, "_memory": _memory_worker}[sys.argv[1]]
        return worker(*sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("parts", nargs="*", default=["segment", "ddp", "memory"], choices=["segment", "ddp", "memory"])
    p.add_argument("--hours", type=float, default=8.0, help="hours of recordings to segment (default 8)")
    p.add_argument("--files", type=int, default=8, help="recording files (default 8)")
    p.add_argument("--cycles", type=int, default=4096, help="ddp: cycles in memory (default 4096)")
    p.add_argument("--epochs", type=int, default=3, help="ddp: epochs, the first not timed (default 3)")
    p.add_argument("--batch-size", type=int, default=64, help="batch per process (default 64)")
    p.add_argument("--shards", type=int, default=8, help="memory: shards (default 8)")
    p.add_argument("--per-shard", type=int, default=8192, help="memory: cycles per shard (default 8192)")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for part in dict.fromkeys(args.parts):
        {"segment": bench_segment, "ddp": bench_ddp, "memory": bench_memory}[part](args)


if __name__ == "__main__":
    main()
