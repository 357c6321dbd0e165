"""`ventgen info` on every kind of file ventgen writes: CycleSets, model files, cohort folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ventgen import CycleSet, Recording, describe_paths, write_cycleset, write_recording
from ventgen.cli import main
from ventgen.io.describe import file_kind


def _cycles(n=12):
    rng = np.random.default_rng(0)
    lab = np.array(["ps", "pav", ""] * (n // 3))
    return CycleSet(rng.normal(size=(n, 2, 16)), np.full(n, 16), 25, labels=lab,
                    superclasses=np.where(lab == "", "", "spontaneous"), subjects=np.repeat(["a", "b"], n // 2))


def test_info_on_cycleset_model_cohort_and_bad_file(tmp_path, capsys, one_thread):
    import ventgen

    write_cycleset(_cycles(), tmp_path / "c.h5")
    X = np.random.default_rng(0).normal(size=(16, 2, 16)).astype(np.float32)
    ventgen.HTVAE(maps=[(2, 2), (2, 1)], latent_dim=3, epochs=1, random_state=0, progress=False,
                  device="cpu").fit(X).save(tmp_path / "m.pt")
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "cohort.json").write_text(json.dumps({"format": "hdf5", "files": ["p1.h5", "p2.h5"]}))
    pd.DataFrame({"patient": ["p1", "p1", "p2"], "start_s": [0, 2, 0], "end_s": [2, 4, 3],
                  "label": ["ps", "pav", "ps"]}).to_csv(cohort / "manifest.csv", index=False)
    (tmp_path / "bad.pt").write_bytes(b"PK\x03\x04garbage")
    assert [file_kind(tmp_path / f) for f in ("c.h5", "m.pt", "cohort")] == ["cycleset", "model", "cohort"]
    rc = main(["info", str(tmp_path / "c.h5"), str(tmp_path / "m.pt"), str(cohort), str(tmp_path / "bad.pt")])
    out, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "bad.pt" in err
    assert "c.h5: cycleset" in out and "labels: pav=4, ps=4" in out and "n_subjects: 2" in out
    assert "m.pt: model" in out and "epochs_trained: 1" in out and "n_samples: 16" in out
    assert "input_shape: 2x16" in out and "maps: 2x2, 2x1" in out
    assert "generator: flow matching, width 8, 1 epochs (20 steps asked)" in out  # the tests' small recipe
    assert "cohort: cohort" in out and "n_patients: 2" in out and "n_breaths: 3" in out
    assert "composition: ps=2, pav=1" in out


def test_describe_paths_mixes_recordings_and_blocks(tmp_path):
    write_recording(Recording(flow=np.zeros(100), pressure=np.ones(100), sampling_rate=50), tmp_path / "r.h5")
    write_cycleset(_cycles(), tmp_path / "c.h5")
    table, blocks, errors = describe_paths([tmp_path])  # a folder: each file by its kind
    assert list(table["n_samples"]) == [100] and errors == []
    assert [(p.endswith("c.h5"), b["kind"], b["n_labelled"]) for p, b in blocks] == [(True, "cycleset", 8)]


@pytest.mark.parametrize("csv", [True, False])
def test_info_csv_flag_on_cycleset(tmp_path, capsys, csv):
    write_cycleset(_cycles(), tmp_path / "c.h5")
    assert main(["info", str(tmp_path / "c.h5")] + (["--csv"] if csv else [])) == 0
    out = capsys.readouterr().out
    assert ("n_cycles" in out.splitlines()[0]) if csv else out.startswith(f"{tmp_path / 'c.h5'}: cycleset")
