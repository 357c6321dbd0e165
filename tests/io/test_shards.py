"""Sharded CycleSets (a folder of one CycleSet per recording file + index.json), written serially."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ventgen import read_cycleset, segment_files, simulate_cohort, write_recording
from ventgen.cli import main
from ventgen.errors import FileFormatError, VentgenValueError
from ventgen.io.shards import (
    INDEX_NAME,
    file_sha256,
    iter_shards,
    read_cycles,
    read_shard_index,
    read_shards,
)
from ventgen.workflows.shards import segment_shards


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    """Three simulated one-minute recordings, one HDF5 file each, and a bad file beside them."""
    d = tmp_path_factory.mktemp("recs")
    for rec in simulate_cohort(3, minutes=1, random_state=0, progress=False):
        write_recording(rec, d / f"{rec.subject}.h5")
    return d


@pytest.fixture(scope="module")
def shard_dir(recs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "cycles"
    segment_shards([recs], out, progress_bar=False)
    return out


def assert_same_cycles(a, b):
    np.testing.assert_array_equal(a.X, b.X)
    for name in ("lengths", "labels", "superclasses", "subjects", "source_rate"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    pd.testing.assert_frame_equal(a.breaths, b.breaths)
    assert (a.sampling_rate, a.channels) == (b.sampling_rate, b.channels)


def test_shards_concatenate_to_the_single_cycleset(recs, shard_dir, tmp_path):
    single = segment_files([recs], tmp_path / "all.h5", progress_bar=False)
    whole = read_cycleset(single["output"])
    assert_same_cycles(read_shards(shard_dir), whole)
    assert_same_cycles(read_cycles(shard_dir), whole)
    doc = read_shard_index(shard_dir)
    assert [s["file"] for s in doc["shards"]] == ["sim-01.h5", "sim-02.h5", "sim-03.h5"]
    assert [s["source"] for s in doc["shards"]] == [str(recs / f"sim-0{i}.h5") for i in (1, 2, 3)]
    assert doc["n_cycles"] == len(whole) == sum(s["n_cycles"] for s in doc["shards"])
    assert doc["parameters"] == {"method": "auto", "length": 200, "cycle_rate": 25.0, "long_policy": "drop",
                                 "read_kwargs": {}, "segment_kwargs": {}}
    assert all(s["sha256"] == file_sha256(shard_dir / s["file"]) for s in doc["shards"])
    assert doc["failed"] == []


def test_iter_shards_one_at_a_time_in_index_order(shard_dir):
    seen = list(iter_shards(shard_dir))
    assert [e["file"] for e, _ in seen] == ["sim-01.h5", "sim-02.h5", "sim-03.h5"]
    for k, (entry, cs) in enumerate(seen):
        assert len(cs) == entry["n_cycles"] > 0
        assert set(cs.subjects) == {f"sim-0{k + 1}"}
        assert set(cs.breaths["recording"]) == {k}  # offset by the recordings before it
        # on disk, a shard counts its own recordings from 0
        assert set(read_cycleset(shard_dir / entry["file"]).breaths["recording"]) == {0}


def test_changed_or_missing_shard_is_an_error_naming_it(shard_dir, tmp_path):
    bad = tmp_path / "cycles"
    bad.mkdir()
    for f in shard_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    with open(bad / "sim-02.h5", "r+b") as fh:  # flip one byte near the end of the file
        fh.seek(-10, os.SEEK_END)
        b = fh.read(1)
        fh.seek(-10, os.SEEK_END)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(FileFormatError, match=r"sim-02\.h5.*SHA-256"):
        read_shards(bad)
    (bad / "sim-03.h5").unlink()
    with pytest.raises(FileFormatError, match=r"sim-03\.h5.*missing"):
        list(iter_shards(bad, verify=False))


@pytest.mark.parametrize("name", ["../x.h5", "a/b.h5", "", "index.json"])
def test_index_refuses_names_outside_the_folder(tmp_path, name):
    sha = "0" * 64
    doc = {"format": "ventgen.cycleset-shards", "format_version": 1,
           "shards": [{"file": name, "source": "r.csv", "n_recordings": 1, "n_breaths": 1, "n_cycles": 1,
                       "n_labelled": 0, "sha256": sha}]}
    (tmp_path / INDEX_NAME).write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=r"shards\[0\]\.file"):
        read_shard_index(tmp_path)


def test_serial_run_skips_a_bad_file_and_names_it(recs, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in sorted(recs.iterdir())[:2]:
        (inputs / f.name).write_bytes(f.read_bytes())
    (inputs / "broken.h5").write_bytes(b"not an HDF5 file at all")
    rc = main(["--quiet", "segment", str(inputs), "-o", str(tmp_path / "out") + "/"])
    cap = capsys.readouterr()
    assert rc == 0
    assert "2 of 3 file(s) segmented" in cap.out and "1 failed: " + str(inputs / "broken.h5") in cap.out
    assert cap.err.count("ventgen: warning: skipped") == 1 and "broken.h5" in cap.err
    doc = read_shard_index(tmp_path / "out")
    assert [s["file"] for s in doc["shards"]] == ["sim-01.h5", "sim-02.h5"]
    assert [f["source"] for f in doc["failed"]] == [str(inputs / "broken.h5")]
    assert sorted(os.listdir(tmp_path / "out")) == ["index.json", "sim-01.h5", "sim-02.h5"]


def test_a_file_name_is_refused_as_shard_folder(recs, tmp_path, capsys):
    assert main(["--quiet", "segment", str(recs), "-o", str(tmp_path / "c.h5"), "--workers", "0"]) == 2
    assert "name a folder" in capsys.readouterr().err and not (tmp_path / "c.h5").exists()


def test_every_file_failing_is_an_error_and_writes_nothing(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"junk")
    (tmp_path / "b.csv").write_text("flow,pressure\n")
    with pytest.warns(UserWarning, match="skipped"), pytest.raises(VentgenValueError, match="none of the 2 file"):
        segment_shards([tmp_path / "a.h5", tmp_path / "b.csv"], tmp_path / "out", progress_bar=False)
    assert not (tmp_path / "out").exists()
    assert sorted(os.listdir(tmp_path)) == ["a.h5", "b.csv"]  # no temporary left


def test_overwrite_only_replaces_a_ventgen_shard_folder(recs, shard_dir, tmp_path, capsys):
    one = str(recs / "sim-01.h5")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["--quiet", "segment", one, "-o", str(foreign), "--overwrite"]) == 2
    assert "not a ventgen shard folder" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"
    out = tmp_path / "cycles"
    assert main(["--quiet", "segment", one, "-o", str(out) + "/"]) == 0
    assert main(["--quiet", "segment", one, "-o", str(out) + "/"]) == 2  # exists: needs --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["--quiet", "segment", str(recs), "-o", str(out), "--shards", "--overwrite"]) == 0
    assert read_shard_index(out)["n_shards"] == 3
    (out / "extra.csv").write_text("x")  # a shard folder holding a file that is not its own
    assert main(["--quiet", "segment", one, "-o", str(out), "--overwrite"]) == 2
    assert "extra.csv" in capsys.readouterr().err and read_shard_index(out)["n_shards"] == 3


def test_info_describes_a_shard_folder(shard_dir, capsys):
    assert main(["info", str(shard_dir)]) == 0
    out = capsys.readouterr().out
    n = read_shard_index(shard_dir)["n_cycles"]
    assert f"{shard_dir}: cycleset" in out and f"n_cycles: {n}" in out and "n_subjects: 3" in out


def test_dask_stays_optional(recs, tmp_path):
    """``import ventgen`` and a serial run never import Dask; --workers without Dask says how to get it."""
    code = (
        "import sys\n"
        "from ventgen.cli import main\n"
        f"rc = main(['--quiet', 'segment', {str(recs / 'sim-01.h5')!r}, '-o', {str(tmp_path / 'a')!r} + '/'])\n"
        "assert rc == 0 and 'dask' not in sys.modules and 'distributed' not in sys.modules, rc\n"
        "sys.modules['distributed'] = None  # as if it were not installed\n"
        f"rc = main(['--quiet', 'segment', {str(recs / 'sim-01.h5')!r}, '-o', {str(tmp_path / 'b')!r}, '--workers', '2'])\n"
        "assert rc == 2, rc\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "ventgen: error: --workers/--scheduler need the optional Dask packages (dask, distributed): "
        "pip install 'ventgen[distributed]'")
    assert not (tmp_path / "b").exists()
