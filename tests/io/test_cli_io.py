"""`ventgen info` and `ventgen convert`: output, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ventgen import Recording, read_recording, read_recordings, write_recording, write_recordings
from ventgen.cli import main


def _rec(n=200, subject="s", seed=0):
    rng = np.random.default_rng(seed)
    ann = pd.DataFrame({"start_s": [0.5], "end_s": [1.5], "label": ["apnea"]})
    return Recording(flow=rng.normal(0, 10, n), pressure=5 + rng.random(n), sampling_rate=50, subject=subject,
                     annotations=ann, markers=pd.DataFrame({"start_idx": [0, 100], "end_idx": [100, 200]}))


def test_info_prints_counts(tmp_path, capsys):
    write_recording(_rec(), tmp_path / "a.h5")
    f = np.full(200, 1.0)
    f[5:8] = np.nan
    write_recording(Recording(flow=f, pressure=np.ones(200), sampling_rate=100, nan_policy="keep"), tmp_path / "b.csv")
    rc = main(["info", str(tmp_path / "a.h5"), str(tmp_path / "b.csv"), "--csv"])
    assert rc == 0
    out = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(out["format"]) == ["hdf5", "csv"]
    assert list(out["n_samples"]) == [200, 200]
    assert list(out["sampling_rate"]) == [50.0, 100.0]
    assert list(out["duration_s"]) == [4.0, 2.0]
    assert list(out["n_markers"]) == [2, 0]
    assert list(out["n_annotations"]) == [1, 0]
    assert list(out["n_nan"]) == [0, 3]
    assert out["channels"].iloc[0] == "flow_lpm,paw_cmh2o"


def test_info_folder(tmp_path, capsys):
    write_recordings([_rec(subject="x"), _rec(subject="y", seed=1)], tmp_path / "d", format="csv")
    assert main(["info", "--csv", str(tmp_path / "d")]) == 0
    out = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert [f.split("/")[-1] for f in out["file"]] == ["x.csv", "y.csv"]  # side files are not recordings
    assert list(out["n_annotations"]) == [1, 1]


def test_info_many_per_file(tmp_path, capsys):
    write_recordings([_rec(subject="x"), _rec(300, subject="y")], tmp_path / "m.h5")
    assert main(["info", str(tmp_path / "m.h5")]) == 0
    out = capsys.readouterr().out
    assert "rec00000" in out and "rec00001" in out and "300" in out


def test_info_bad_files_exit_nonzero_one_line(tmp_path, capsys):
    write_recording(_rec(), tmp_path / "good.h5")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "trunc.h5").write_bytes((tmp_path / "good.h5").read_bytes()[:300])
    rc = main(["info", str(tmp_path / "good.h5"), str(tmp_path / "empty.csv"), str(tmp_path / "trunc.h5"),
               str(tmp_path / "missing.csv")])
    cap = capsys.readouterr()
    assert rc == 2
    assert "good.h5" in cap.out
    errs = cap.err.strip().splitlines()
    assert len(errs) == 3
    assert all(e.startswith("ventgen: error: ") for e in errs)
    assert "empty.csv" in errs[0] and "trunc.h5" in errs[1] and "missing.csv" in errs[2]
    assert "Traceback" not in cap.err


def test_info_binary_junk_one_line(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for name in ("blob", "blob.csv", "blob.h5", "blob.csv_test"):
        (tmp_path / name).write_bytes(bytes(rng.integers(0, 256, 5000, dtype=np.uint8)))
        assert main(["info", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ventgen: error: ") and name in err
        assert len(err.strip().splitlines()) == 1, err


def test_info_pb840_real(pb840_dir, capsys):
    files = sorted(str(f) for f in pb840_dir.iterdir() if f.is_file())
    assert main(["info", "--csv", *files]) == 0  # recoverable defects are reported, not fatal
    cap = capsys.readouterr()
    warned = [ln for ln in cap.err.splitlines() if ln.startswith("ventgen: warning: ")]
    assert len(warned) == len(cap.err.splitlines())  # one line per warning
    msgs = " ".join(warned)
    assert "skipped 2 junk line" in msgs and "skipped 15 junk line" in msgs
    out = pd.read_csv(__import__("io").StringIO(cap.out)).set_index("file")
    counts = {pb840_dir.joinpath(k).as_posix(): v for k, v in {
        "0149_2016-02-17-08-38-13_1.csv_test": (47018, 319),
        "bad_unicode_error.csv.test": (75312, 321),
        "jimmy-example-data.csv.test": (4669, 16),
        "raw_utils_3_columns.csv.test": (9877, 61),
    }.items()}
    for f, (n, m) in counts.items():
        ref = pd.read_csv(pb840_dir / "reference" / (f.split("/")[-1] + ".breaths.csv"))
        assert (n, m) == (ref["be_idx"].max(), len(ref))  # the table agrees with the reference files
        assert (out.loc[f, "n_samples"], out.loc[f, "n_markers"]) == (n, m)


def test_convert_round_trip(tmp_path, capsys):
    src = tmp_path / "a.h5"
    write_recording(_rec(), src)
    assert main(["convert", str(src), "-o", str(tmp_path / "a.csv")]) == 0
    assert read_recording(tmp_path / "a.csv").equals(read_recording(src))
    assert main(["convert", str(tmp_path / "a.csv"), "-o", str(tmp_path / "b.hdf5")]) == 0
    assert read_recording(tmp_path / "b.hdf5").equals(read_recording(src))
    # no silent overwrite
    assert main(["convert", str(src), "-o", str(tmp_path / "a.csv")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["convert", str(src), "-o", str(tmp_path / "a.csv"), "--overwrite"]) == 0


def test_convert_many_to_folder(tmp_path):
    write_recordings([_rec(subject="x"), _rec(subject="y", seed=1)], tmp_path / "m.h5")
    assert main(["convert", str(tmp_path / "m.h5"), "-o", str(tmp_path / "out"), "--to", "csv"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.csv") if "." not in p.stem) == ["x.csv", "y.csv"]
    assert [r.subject for r in read_recordings(tmp_path / "out")] == ["x", "y"]


def test_convert_csv_units(tmp_path):
    (tmp_path / "raw.csv").write_text("Q,P\n1.0,10\n0.5,20\n")
    rc = main(["convert", str(tmp_path / "raw.csv"), "-o", str(tmp_path / "raw.h5"), "--flow-column", "Q",
               "--flow-unit", "L/s", "--pressure-column", "P", "--pressure-unit", "mbar", "--sampling-rate", "100"])
    assert rc == 0
    rec = read_recording(tmp_path / "raw.h5")
    np.testing.assert_allclose(rec.flow, [60.0, 30.0])
    np.testing.assert_allclose(rec.pressure, [10.197162129779282, 20.394324259558564])
    assert rec.sampling_rate == 100.0


@pytest.mark.parametrize(
    "args, msg",
    [
        (["convert", "{d}/a.h5", "-o", "{d}/x.dat"], "cannot tell the output format"),
        (["convert", "{d}/nope.csv", "-o", "{d}/x.h5"], "nope.csv: No such file"),
        (["convert", "{d}/raw.csv", "-o", "{d}/x.h5"], "the unit of the flow column is not declared"),
    ],
)
def test_convert_errors(tmp_path, capsys, args, msg):
    write_recording(_rec(), tmp_path / "a.h5")
    (tmp_path / "raw.csv").write_text("time_s,flow,paw_cmh2o\n0,1,2\n0.02,1,2\n")
    rc = main([a.format(d=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err
    assert len(err.strip().splitlines()) == 1


def test_convert_to_pb840_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", str(tmp_path / "a.h5"), "-o", str(tmp_path / "x.txt"), "--to", "pb840"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_console_entry_no_traceback(tmp_path):
    (tmp_path / "bad.csv").write_text("time_s,flow_lpm,paw_cmh2o\n0,1,5\n0.02,x,5\n")
    r = subprocess.run([sys.executable, "-m", "ventgen.cli", "info", str(tmp_path / "bad.csv")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "line 3" in r.stderr and "Traceback" not in r.stderr
    from ventgen import FileFormatError

    with pytest.raises(FileFormatError, match="line 3"):  # --debug lets the exception (and traceback) through
        main(["--debug", "convert", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "o.h5")])


def test_help_has_examples(capsys):
    for cmd in ("info", "convert"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "examples:" in capsys.readouterr().out
