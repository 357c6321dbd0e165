"""Segmentation on Dask (``ventgen segment ... --workers N`` / ``--scheduler``): same bytes as serial."""

from __future__ import annotations

import logging
import os

import pytest

from ventgen import simulate_cohort, write_recording
from ventgen.cli import main
from ventgen.io.shards import read_shard_index, read_shards
from ventgen.workflows.shards import segment_shards

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    d = tmp_path_factory.mktemp("recs")
    for rec in simulate_cohort(3, minutes=1, random_state=1, progress=False):
        write_recording(rec, d / f"{rec.subject}.h5")
    return d


def folder_bytes(folder):
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_two_local_workers_write_the_serial_bytes(recs, tmp_path):
    serial = segment_shards([recs], tmp_path / "serial", progress_bar=False, workers=0)
    dask = segment_shards([recs], tmp_path / "dask", progress_bar=False, workers=2)
    assert {k: v for k, v in serial.items() if k not in ("output", "index")} == \
           {k: v for k, v in dask.items() if k not in ("output", "index")}
    a, b = folder_bytes(tmp_path / "serial"), folder_bytes(tmp_path / "dask")
    assert sorted(a) == ["index.json", "sim-01.h5", "sim-02.h5", "sim-03.h5"]
    assert a == b
    assert len(read_shards(tmp_path / "dask")) == dask["n_cycles"] > 0


def test_a_bad_file_on_a_cluster_is_skipped_and_named(recs, tmp_path, capsys):
    inputs = [str(recs / "sim-01.h5"), str(tmp_path / "bad.csv"), str(recs / "sim-03.h5")]
    (tmp_path / "bad.csv").write_text("time_s,flow_lpm\n0,1\nx,y\n")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        rc = main(["--quiet", "segment", *inputs, "-o", str(tmp_path / "out"), "--scheduler",
                   cluster.scheduler_address])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "2 of 3 file(s) segmented" in cap.out and cap.out.rstrip().endswith("1 failed: " + inputs[1])
    assert [ln for ln in cap.err.splitlines() if "skipped" in ln] == [
        ln for ln in cap.err.splitlines() if ln.startswith("ventgen: warning: skipped " + inputs[1])]
    doc = read_shard_index(tmp_path / "out")
    assert [s["source"] for s in doc["shards"]] == [inputs[0], inputs[2]]
    assert [f["source"] for f in doc["failed"]] == [inputs[1]]
    assert sorted(os.listdir(tmp_path / "out")) == ["index.json", "sim-01.h5", "sim-03.h5"]
    # the same run in this process writes the same bytes
    assert main(["--quiet", "segment", *inputs, "-o", str(tmp_path / "serial"), "--workers", "0"]) == 0
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "serial")


def test_workers_and_scheduler_together_are_refused(recs, tmp_path, capsys):
    assert main(["--quiet", "segment", str(recs), "-o", str(tmp_path / "o"), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "not both" in capsys.readouterr().err
