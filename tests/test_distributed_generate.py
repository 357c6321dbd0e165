"""Generation on Dask (``ventgen generate ... --workers N`` / ``--scheduler``): every patient from its own
random stream, so the same seed writes the same bytes in this process and on any number of workers."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import ventgen
from ventgen.cli import main
from ventgen.errors import VentgenValueError
from ventgen.generate import GenerationOptions, generate_cohort
from ventgen.generate.plan import generate_patient, plan_cohort
from ventgen.workflows import generate_files
from ventgen.workflows.distributed import MISSING_DASK, DaskRunner

SPEC = {"patients": 3, "breaths": 20, "composition": {"normal breathing": 0.5, "respiratory event": 0.5}}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny model file (with its small flow generator, see conftest.py) and a spec file."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("gen")
    recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0, device="cpu",
                          progress=False).fit(cycles)
    model.save(d / "model.pt")
    (d / "spec.json").write_text(json.dumps(SPEC))
    return d, ventgen.HTVAE.load(d / "model.pt", device="cpu")


@pytest.fixture(scope="module")
def cluster():
    """A local Dask cluster of two single-threaded worker processes."""
    pytest.importorskip("distributed")
    with DaskRunner(workers=2) as c:  # the cluster ventgen starts for --workers 2
        yield c


def folder_bytes(folder):
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.mark.parametrize("options", [GenerationOptions(), GenerationOptions(decoder="exact", noise="residual", latent="data")],
                         ids=["flow", "exact+noise"])
def test_two_workers_write_the_serial_bytes(project, cluster, tmp_path, options):
    d, model = project
    kw = {"random_state": 5, "options": options}
    serial = generate_files(d / "model.pt", d / "spec.json", None, tmp_path / "serial", workers=0, **kw)
    dask = generate_files(d / "model.pt", d / "spec.json", None, tmp_path / "dask",
                          scheduler=cluster.address, **kw)
    a, b = folder_bytes(tmp_path / "serial"), folder_bytes(tmp_path / "dask")
    assert sorted(a) == ["cohort.json", "manifest.csv", "node_labels.csv", *[f"virtual_00{p}.h5" for p in range(3)]]
    assert a == b
    assert (serial.n_breaths, serial.files) == (dask.n_breaths, dask.files) == (60, sorted(a)[3:])
    # the cohort in memory, written at once, is the same cohort
    memory = generate_cohort(model, SPEC, random_state=5, options=options)
    ventgen.write_cohort(memory, tmp_path / "memory")
    assert folder_bytes(tmp_path / "memory") == a
    # and another seed another cohort
    other = generate_files(model, SPEC, None, tmp_path / "other", random_state=6, options=options)
    assert folder_bytes(tmp_path / "other")["virtual_000.h5"] != a["virtual_000.h5"] and other.n_breaths == 60


def test_one_and_two_workers_give_the_same_bytes(project, cluster, tmp_path, capsys):
    d, _ = project
    common = ["--quiet", "generate", str(d / "model.pt"), "--spec", str(d / "spec.json"), "--seed", "3"]
    assert main([*common, "-o", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert main([*common, "-o", str(tmp_path / "two"), "--scheduler", cluster.address]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Cohort(3 patients, 60 breaths, ") and f"-> {tmp_path / 'one'}" in out[0]
    assert folder_bytes(tmp_path / "one") == folder_bytes(tmp_path / "two")


def test_a_patient_depends_on_its_own_stream_only(project):
    """Patient 2 made alone equals patient 2 of the cohort; the batch size changes nothing."""
    _, model = project
    opts = GenerationOptions(decoder="exact", noise="residual", latent="data")
    cohort = generate_cohort(model, SPEC, random_state=1, options=opts)
    rec, man = generate_patient(model, plan_cohort(model, SPEC, None, 1, opts), 2)
    assert np.array_equal(rec.flow, cohort.recordings[2].flow) and rec.subject == "virtual_002"
    assert man.reset_index(drop=True).equals(cohort.manifest[cohort.manifest.patient == "virtual_002"]
                                             .reset_index(drop=True))
    small = generate_cohort(model, SPEC, random_state=1, options=GenerationOptions(decoder="exact", noise="residual", latent="data",
                                                                                  batch_size=7))
    assert all(np.array_equal(x.flow, y.flow) and np.array_equal(x.pressure, y.pressure)
               for x, y in zip(cohort.recordings, small.recordings, strict=True))
    # the streams of different patients differ
    assert not np.array_equal(cohort.recordings[0].flow[:40], cohort.recordings[1].flow[:40])


def test_without_dask_workers_are_one_error_line_and_the_serial_path_runs(project, tmp_path, monkeypatch, capsys):
    d, _ = project
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails, as when not installed
    monkeypatch.setitem(sys.modules, "dask", None)
    common = ["--quiet", "generate", str(d / "model.pt"), "--spec", str(d / "spec.json")]
    assert main([*common, "-o", str(tmp_path / "w"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err == f"ventgen: error: {MISSING_DASK}\n"
    assert not (tmp_path / "w").exists()
    assert main([*common, "-o", str(tmp_path / "serial")]) == 0  # never imports Dask
    assert (tmp_path / "serial" / "cohort.json").is_file()


def test_a_bad_scheduler_is_one_error_line(project, tmp_path, capsys):
    pytest.importorskip("distributed")
    d, _ = project
    common = ["--quiet", "generate", str(d / "model.pt"), "--spec", str(d / "spec.json")]
    assert main([*common, "-o", str(tmp_path / "x"), "--scheduler", "nonsense://host:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ventgen: error: cannot reach the Dask scheduler at "
                                                   "nonsense://host:1: unknown address scheme")
    assert not (tmp_path / "x").exists() and not list(tmp_path.iterdir())
    with pytest.raises(VentgenValueError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1: Timed out"):
        with DaskRunner(scheduler="tcp://127.0.0.1:1", timeout="1s"):
            pass
    assert main([*common, "-o", str(tmp_path / "y"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "not both" in capsys.readouterr().err
