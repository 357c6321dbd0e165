"""WFDB and EDF+ recordings: round trips within the format's resolution, annotations, detection, CLI.

Resolution: both formats store 16-bit integers with a gain (WFDB fmt 16, gain and baseline per
channel from the channel's range) or a physical range (EDF+ 16-bit digital, physical min/max per
channel) spanning the channel: a value comes back within one step, step = range / 65535 (half a step of
rounding, plus the gain as printed in the header).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ventgen import (
    FileFormatError,
    Recording,
    detect_format,
    read_recording,
    read_recordings,
    simulate_recording,
    write_recording,
    write_recordings,
)
from ventgen.cli import main


@pytest.fixture(scope="module")
def sim():
    return simulate_recording(minutes=0.5, random_state=2, subject="sim-02")


def _step(x):
    x = x[np.isfinite(x)]
    return (x.max() - x.min()) / 65535


@pytest.mark.parametrize("suffix, fmt", [(".hea", "wfdb"), (".edf", "edf")])
def test_round_trip_within_resolution(sim, tmp_path, suffix, fmt):
    rec = Recording(flow=sim.flow, pressure=sim.pressure, volume=np.cumsum(sim.flow) / 3, sampling_rate=50,
                    subject="sim-02", annotations=sim.annotations, markers=sim.markers)
    p = tmp_path / f"sim-02{suffix}"
    write_recording(rec, p)
    assert detect_format(p) == fmt
    back = read_recording(p)
    assert (back.n_samples, back.sampling_rate, back.subject) == (rec.n_samples, 50.0, "sim-02")
    for ch in ("flow", "pressure", "volume"):
        a, b = getattr(rec, ch), getattr(back, ch)
        assert np.abs(a - b).max() <= _step(a), ch  # within one 16-bit step
    cols = ["start_s", "end_s"]
    np.testing.assert_allclose(back.annotations[cols], rec.annotations[cols], atol=0.5 / 50)
    assert list(back.annotations["label"]) == list(rec.annotations["label"])
    assert list(back.annotations["superclass"]) == list(rec.annotations["superclass"])
    for c in ("start_idx", "device_breath"):
        assert back.markers[c].tolist() == rec.markers[c].tolist()


@pytest.mark.parametrize("suffix", [".hea", ".edf"])
def test_nan_kept_odd_rate_and_no_annotations(tmp_path, suffix):
    f = np.sin(np.arange(333) / 7) * 40
    f[10:13] = np.nan
    rec = Recording(flow=f, pressure=np.full(333, 5.0), sampling_rate=62.5, subject="n", nan_policy="keep")
    p = tmp_path / f"n{suffix}"
    write_recording(rec, p)
    back = read_recording(p, nan_policy="keep")
    assert back.n_samples == 333 and back.sampling_rate == 62.5
    assert np.isnan(back.flow[10:13]).all() and np.isfinite(np.delete(back.flow, [10, 11, 12])).all()
    assert np.abs(back.pressure - 5.0).max() < 1e-3  # a constant channel still writes
    assert len(back.annotations) == 0 and back.markers is None


def test_folder_of_wfdb_records_and_convert(sim, tmp_path, capsys):
    recs = [sim, Recording(flow=sim.flow[:500], pressure=sim.pressure[:500], sampling_rate=50, subject="b.x")]
    written = write_recordings(recs, tmp_path / "out", format="wfdb")
    assert [p.name for p in written] == ["sim-02.hea", "b_x.hea"]
    assert sorted(r.subject for r in read_recordings(tmp_path / "out")) == ["b.x", "sim-02"]  # .dat not read twice
    write_recording(sim, tmp_path / "s.h5")
    assert main(["convert", str(tmp_path / "s.h5"), "-o", str(tmp_path / "s.edf")]) == 0
    assert main(["info", str(tmp_path / "s.edf"), str(tmp_path / "out" / "sim-02.hea"), "--csv"]) == 0
    out = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out.split("\n", 1)[1]))
    assert list(out["format"]) == ["edf", "wfdb"] and list(out["n_samples"]) == [sim.n_samples] * 2


def test_bad_files_are_one_line(tmp_path):
    (tmp_path / "x.edf").write_bytes(b"not an edf file at all" * 20)
    with pytest.raises(FileFormatError, match=r"x\.edf: not a readable EDF file"):
        read_recording(tmp_path / "x.edf")
    (tmp_path / "y.hea").write_text("y 1 50 10\ny.dat 16 1(0)/mV 16 0 0 0 0 ecg\n")
    (tmp_path / "y.dat").write_bytes(b"\x00" * 20)
    with pytest.raises(FileFormatError, match=r"y\.hea: no flow and no pressure signal"):
        read_recording(tmp_path / "y.hea")
    with pytest.raises(ValueError, match="WFDB record name"):
        write_recording(Recording(flow=np.zeros(60), pressure=np.ones(60), sampling_rate=50), tmp_path / "a.b.hea")


@pytest.mark.parametrize("fmt", ["wfdb", "edf"])
def test_generated_cohort_in_physionet_formats(tmp_path, fmt):
    from _cohort_double import DoubleModel, make_reference

    from ventgen.generate import generate_cohort
    from ventgen.io.cohort import read_cohort, write_cohort

    ref = make_reference(n_subjects=2, per_subject=60)
    spec = {"patients": 2, "breaths": 12, "composition": {"normal breathing": 0.5, "snoring": 0.5}}
    res = generate_cohort(DoubleModel(ref), spec, ref, random_state=0)
    out = write_cohort(res, tmp_path / "cohort", format=fmt)
    back = read_cohort(out)
    assert len(back.recordings) == 2
    for a, b in zip(res.recordings, back.recordings, strict=True):
        assert a.n_samples == b.n_samples and np.abs(a.flow - b.flow).max() <= _step(a.flow)
        assert list(a.annotations["label"]) == list(b.annotations["label"])
