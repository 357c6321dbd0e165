"""``ventgen segment`` and its library function ``segment_files`` (seg room)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _synthetic import psv_signal

from ventgen import Recording, read_cycleset, segment_files, write_recording
from ventgen.cli import main


@pytest.fixture
def two_files(tmp_path):
    paths = []
    for i in range(2):
        f, p, s, _ = psv_signal(12, 50.0, random_state=i)
        path = tmp_path / f"r{i}.csv"
        write_recording(Recording(f, p, 50.0, subject=f"p{i}"), path)
        paths.append(path)
    return paths


def test_cli_segment_writes_cycles_and_breaths(tmp_path, two_files, capsys):
    out, csv = tmp_path / "c.h5", tmp_path / "b.csv"
    rc = main(["--quiet", "segment", *map(str, two_files), "-o", str(out), "--method", "flow", "--breaths-csv", str(csv)])
    assert rc == 0
    assert "2 recording(s), 24 breaths" in capsys.readouterr().out
    cs = read_cycleset(out)
    table = pd.read_csv(csv)
    assert len(table) == 24 and set(table["subject"]) == {"p0", "p1"}
    assert len(cs) == 24 and cs.X.shape[1:] == (2, 200) and set(cs.subjects) == {"p0", "p1"}
    np.testing.assert_array_equal(cs.breaths["start_idx"], table["start_idx"])
    # refuses to overwrite, one-line error, status 2
    assert main(["--quiet", "segment", str(two_files[0]), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["--quiet", "segment", str(two_files[0]), "-o", str(out), "--overwrite", "--length", "100"]) == 0
    assert read_cycleset(out).length == 100


def test_cli_segment_errors_and_help(tmp_path, capsys):
    assert main(["segment", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "c.h5")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["segment", "--help"])
    assert e.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_segment_files_returns_summary(tmp_path, two_files):
    info = segment_files(two_files, tmp_path / "c.h5", method="flow", progress_bar=False)
    assert info["n_recordings"] == 2 and info["n_cycles"] == 24 and info["breaths_csv"] is None
