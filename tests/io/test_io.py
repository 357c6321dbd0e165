"""Readers and writers: CSV, HDF5, PB-840 text; round trips, units, bad input, real-file counts."""

from __future__ import annotations

import json
import warnings
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import ventgen.io as vio
from ventgen import (
    DataRecoveryWarning,
    FileFormatError,
    Recording,
    VentgenValueError,
    describe_file,
    detect_format,
    read_recording,
    read_recordings,
    write_recording,
    write_recordings,
)


def make_rec(n=300, rate=50.0, subject="p1", volume=False, ann=True, markers=True, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    flow = 30 * np.sin(2 * np.pi * t / 3) + rng.normal(0, 0.1, n)
    paw = 5 + 10 * (flow > 0) + rng.normal(0, 0.05, n)
    ann_df = None
    if ann:
        ann_df = pd.DataFrame({"start_s": [0.5, 2.0], "end_s": [1.5, 4.0], "label": ["coughing", "normal breathing"],
                               "superclass": ["respiratory event", "normal breathing"]})
    mk = None
    if markers:
        mk = pd.DataFrame({"start_idx": [0, 150], "end_idx": [150, -1], "device_breath": [7, 8],
                           "insp_end_idx": [60, 210]})
    return Recording(
        flow=flow, pressure=paw, sampling_rate=rate, volume=np.cumsum(flow) if volume else None,
        subject=subject, start_time=datetime(2024, 1, 2, 3, 4, 5, 600000),
        metadata={"device": "sim", "settings": {"peep": 5}}, markers=mk, annotations=ann_df,
    )


def assert_same(a: Recording, b: Recording):
    assert a.equals(b), (a, b)
    assert a.start_time == b.start_time
    assert a.metadata == b.metadata
    if a.markers is not None:
        pd.testing.assert_frame_equal(a.markers.reset_index(drop=True), b.markers.reset_index(drop=True),
                                      check_dtype=False)
    if len(a.annotations):
        assert list(a.annotations.columns) == list(b.annotations.columns)
        assert list(a.annotations["superclass"]) == list(b.annotations["superclass"])


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".csv", ".h5"])
@pytest.mark.parametrize("volume", [False, True])
def test_round_trip(tmp_path, suffix, volume):
    rec = make_rec(volume=volume)
    p = tmp_path / f"r{suffix}"
    write_recording(rec, p)
    back = read_recording(p)
    assert_same(rec, back)
    assert back.channels == rec.channels


def test_csv_side_files(tmp_path):
    rec = make_rec()
    p = tmp_path / "x.csv"
    write_recording(rec, p)
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "x.annotations.csv", "x.csv", "x.markers.csv", "x.meta.json"]
    head = p.read_text().splitlines()[0]
    assert head == "time_s,flow_lpm,paw_cmh2o"
    meta = json.loads((tmp_path / "x.meta.json").read_text())
    assert meta["sampling_rate"] == 50.0 and meta["units"]["flow_lpm"] == "L/min"


def test_round_trip_without_annotations_or_markers(tmp_path):
    rec = make_rec(ann=False, markers=False)
    for suffix in (".csv", ".h5"):
        p = tmp_path / f"r{suffix}"
        write_recording(rec, p)
        back = read_recording(p)
        assert back.markers is None and len(back.annotations) == 0
        assert back.equals(rec)


def test_hdf5_many_recordings(tmp_path):
    recs = [make_rec(n=300 + 10 * i, subject=f"s{i}", seed=i) for i in range(3)]
    p = tmp_path / "many.h5"
    assert write_recordings(recs, p) == [p]
    back = read_recordings(p)
    assert [r.subject for r in back] == ["s0", "s1", "s2"]
    for a, b in zip(recs, back, strict=True):
        assert_same(a, b)
    with pytest.raises(FileFormatError, match="holds 3 recordings"):
        read_recording(p)
    assert read_recording(p, index=2).subject == "s2"
    desc = describe_file(p)
    assert list(desc["n_samples"]) == [300, 310, 320]


def test_write_recordings_folder(tmp_path):
    recs = [make_rec(n=300, subject=s, seed=i) for i, s in enumerate(["a", "b", "a"])]
    paths = write_recordings(recs, tmp_path / "out", format="csv")
    assert [p.name for p in paths] == ["a.csv", "b.csv", "a_0002.csv"]
    back = read_recordings(tmp_path / "out")
    assert sorted(r.subject for r in back) == ["a", "a", "b"]


def test_no_silent_overwrite_and_atomic(tmp_path, monkeypatch):
    rec = make_rec()
    for suffix in (".csv", ".h5"):
        p = tmp_path / f"r{suffix}"
        write_recording(rec, p)
        before = p.read_bytes()
        with pytest.raises(FileExistsError):
            write_recording(rec, p)
        assert p.read_bytes() == before
        write_recording(make_rec(seed=5), p, overwrite=True)
        assert read_recording(p).equals(make_rec(seed=5))

    # a write that fails half way leaves nothing behind
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(RuntimeError):
        write_recording(rec, tmp_path / "fail.h5")
    monkeypatch.undo()
    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(RuntimeError):
        write_recording(make_rec(ann=False, markers=False), tmp_path / "fail.csv")
    assert not any(f.name.startswith(("fail", ".fail")) for f in tmp_path.iterdir())


def test_write_refuses_pb840_and_unknown_suffix(tmp_path):
    with pytest.raises(VentgenValueError, match="read-only"):
        write_recording(make_rec(), tmp_path / "x.txt", format="pb840")
    with pytest.raises(VentgenValueError, match="suffix"):
        write_recording(make_rec(), tmp_path / "x.bin")


def test_metadata_must_be_json(tmp_path):
    rec = make_rec()
    rec.metadata["obj"] = object()
    with pytest.raises(TypeError, match="JSON"):
        write_recording(rec, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


# ----------------------------------------------------------------------------- CSV units
def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "col, unit, value, expected",
    [
        ("flow_lps", None, 1.0, 60.0),
        ("flow", "L/s", 0.5, 30.0),
        ("flow_mlps", None, 1000.0, 60.0),
        ("Flow (mL/s)", None, 500.0, 30.0),
        ("flow [L/min]", None, 12.5, 12.5),
    ],
)
def test_flow_units(tmp_path, col, unit, value, expected):
    p = _write(tmp_path / "u.csv", f'time_s,"{col}",paw_cmh2o\n0,{value},5\n0.02,{value},5\n0.04,{value},5\n')
    rec = read_recording(p, flow_unit=unit)
    np.testing.assert_allclose(rec.flow, expected)
    assert rec.sampling_rate == 50.0


@pytest.mark.parametrize("col, unit", [("paw_hpa", None), ("paw_mbar", None), ("pressure", "hPa"), ("paw", "mbar")])
def test_pressure_units(tmp_path, col, unit):
    p = _write(tmp_path / "u.csv", f"time_s,flow_lpm,{col}\n0,1,10\n0.01,1,10\n")
    rec = read_recording(p, pressure_unit=unit)
    np.testing.assert_allclose(rec.pressure, 10.197162129779282)  # 1 hPa = 1.0197 cmH2O
    assert rec.sampling_rate == 100.0


def test_time_in_ms_and_explicit_rate(tmp_path):
    p = _write(tmp_path / "t.csv", "time_ms,flow_lpm,paw_cmh2o\n0,1,5\n40,2,5\n80,3,5\n")
    assert read_recording(p).sampling_rate == 25.0
    p2 = _write(tmp_path / "n.csv", "flow_lpm,paw_cmh2o\n1,5\n2,5\n")
    assert read_recording(p2, sampling_rate=100).sampling_rate == 100.0
    with pytest.raises(FileFormatError, match="disagrees with the time column"):
        read_recording(p, sampling_rate=50)


def test_custom_column_names(tmp_path):
    p = _write(tmp_path / "c.csv", "t_sec;Q;P\n0;1;5\n0.02;2;6\n")
    rec = read_recording(p, delimiter=";", flow_column="Q", pressure_column="P", flow_unit="L/min",
                         pressure_unit="cmH2O", time_column="t_sec", time_unit="s")
    assert rec.sampling_rate == 50.0
    np.testing.assert_allclose(rec.pressure, [5, 6])


def test_csv_with_byte_order_mark_and_crlf(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufefftime_s,flow_lpm,paw_cmh2o\r\n0,1,5\r\n0.02,2,6\r\n".encode("utf-8"))
    rec = read_recording(p)
    np.testing.assert_allclose(rec.flow, [1, 2])
    assert rec.sampling_rate == 50.0


def test_refuses_to_guess_units(tmp_path):
    p = _write(tmp_path / "g.csv", "time_s,flow,paw_cmh2o\n0,1,5\n0.02,1,5\n")
    with pytest.raises(FileFormatError, match=r"g\.csv, line 1, 'flow': the unit of the flow column is not declared"):
        read_recording(p)
    p = _write(tmp_path / "g2.csv", "time_s,flow_gps,paw_cmh2o\n0,1,5\n0.02,1,5\n")
    with pytest.raises(FileFormatError, match="no flow column"):
        read_recording(p)
    p = _write(tmp_path / "g3.csv", "time_s,Flow (gal/h),paw_cmh2o\n0,1,5\n0.02,1,5\n")
    with pytest.raises(FileFormatError, match="unknown flow unit 'gal/h'"):
        read_recording(p)
    with pytest.raises(VentgenValueError, match="unknown flow unit 'furlongs'"):
        read_recording(tmp_path / "g.csv", flow_unit="furlongs")


def test_refuses_to_assume_a_rate(tmp_path):
    p = _write(tmp_path / "r.csv", "flow_lpm,paw_cmh2o\n1,5\n2,5\n")
    with pytest.raises(FileFormatError, match="no time column and no sampling rate"):
        read_recording(p)


# ----------------------------------------------------------------------------- CSV bad input
@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "empty file"),
        ("time_s,flow_lpm,paw_cmh2o\n", "no data rows"),
        ("time_s,volume_ml\n0,1\n0.02,1\n", "no flow column"),
        ("time_s,flow_lpm,paw_cmh2o\n0,1,5\n0.02,abc,5\n", r"line 3, 'flow_lpm': expected a number, found 'abc'"),
        ("time_s,flow_lpm,paw_cmh2o\n0,1,5\n0.02,1,5\n0.01,1,5\n", r"line 4, 'time_s': time is not strictly increasing"),
        ("time_s,flow_lpm,paw_cmh2o\n0,1,5\n0.02,1,5\n0.04,1,5\n0.06,1,5\n0.5,1,5\n", r"line 6, 'time_s': irregular sampling"),
        ("time_s,flow_lpm,paw_cmh2o\n0,1,5\n0.02,1\n0.04,1,5\n", r"line 3, 'paw_cmh2o': missing or non-finite"),
        ("time_s,flow_lpm,paw_cmh2o\n0,1,5\n0.02,1,5,7,8\n", r"line 3: malformed CSV"),
    ],
)
def test_csv_bad_input(tmp_path, text, pattern):
    p = _write(tmp_path / "bad.csv", text)
    with pytest.raises(FileFormatError, match=pattern) as exc:
        read_recording(p)
    msg = str(exc.value)
    assert "\n" not in msg and "bad.csv" in msg


def test_csv_binary_junk(tmp_path):
    p = tmp_path / "junk.csv"
    p.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(FileFormatError, match="junk.csv"):
        read_recording(p, format="csv")


def test_csv_nan_runs(tmp_path):
    rows = ["time_s,flow_lpm,paw_cmh2o"] + [f"{i / 50},{'' if 10 <= i < 13 else 1.0},5" for i in range(300)]
    p = _write(tmp_path / "gap.csv", "\n".join(rows) + "\n")
    with pytest.raises(FileFormatError, match=r"line 12, 'flow_lpm'"):
        read_recording(p)
    with pytest.warns(DataRecoveryWarning, match="3 samples"):
        rec = read_recording(p, nan_policy="interpolate")
    assert np.isfinite(rec.flow).all()
    rows = ["time_s,flow_lpm,paw_cmh2o"] + [f"{i / 50},{'' if 10 <= i < 200 else 1.0},5" for i in range(300)]
    p = _write(tmp_path / "longgap.csv", "\n".join(rows) + "\n")
    with pytest.raises(FileFormatError, match=r"longgap\.csv: flow has a gap of 190"):
        read_recording(p, nan_policy="interpolate")
    assert read_recording(p, nan_policy="keep").n_nan == 190


def test_annotation_side_file_errors(tmp_path):
    write_recording(make_rec(), tmp_path / "a.csv")
    side = tmp_path / "a.annotations.csv"
    side.write_text("start_s,end_s,label\n0,1,x\n0.5,2,y\n")
    with pytest.raises(FileFormatError, match=r"a\.annotations\.csv: invalid annotations: row 1 overlaps"):
        read_recording(tmp_path / "a.csv")
    side.write_text("start_s,end_s,label\n0,1,\n")
    with pytest.raises(FileFormatError, match="annotations"):
        read_recording(tmp_path / "a.csv")
    side.write_text("start,end\n0,1\n")
    with pytest.raises(FileFormatError, match="missing column"):
        read_recording(tmp_path / "a.csv")
    assert len(read_recording(tmp_path / "a.csv", annotations=False).annotations) == 0


# ----------------------------------------------------------------------------- HDF5 bad input
def test_truncated_hdf5(tmp_path):
    p = tmp_path / "t.h5"
    write_recording(make_rec(n=5000), p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"t\.h5"):
        read_recording(p)


def test_hdf5_not_ventgen_layout(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FileFormatError, match="does not follow schema 'hdf5_recording'"):
        read_recording(p)
    p2 = tmp_path / "units.h5"
    write_recording(make_rec(), p2)
    with h5py.File(p2, "a") as f:
        f["recordings/rec00000/flow_lpm"].attrs["unit"] = "L/s"
    with pytest.raises(FileFormatError, match="flow_lpm"):
        read_recording(p2)
    p3 = tmp_path / "len.h5"
    write_recording(make_rec(), p3)
    with h5py.File(p3, "a") as f:
        del f["recordings/rec00000/paw_cmh2o"]
        d = f["recordings/rec00000"].create_dataset("paw_cmh2o", data=np.zeros(10))
        d.attrs["unit"] = "cmH2O"
    with pytest.raises(FileFormatError, match="paw_cmh2o.*has 10 samples but flow_lpm has 300"):
        read_recording(p3)


# ----------------------------------------------------------------------------- format detection
def test_detect_format(tmp_path):
    write_recording(make_rec(), tmp_path / "a.h5")
    write_recording(make_rec(), tmp_path / "a.csv")
    assert detect_format(tmp_path / "a.h5") == "hdf5"
    assert detect_format(tmp_path / "a.csv") == "csv"
    assert detect_format(_write(tmp_path / "p.csv", "2016-01-01-00-00-00.000\nBS, S:1,\n1.0, 2.0\n")) == "pb840"
    assert detect_format(_write(tmp_path / "q.csv_test", "1.0, 2.0\n3, 4\n")) == "pb840"
    with pytest.raises(FileFormatError, match="empty file"):
        detect_format(_write(tmp_path / "e.csv", ""))


# ----------------------------------------------------------------------------- PB-840 synthetic
def pb(tmp_path, body: bytes | str, name="pb.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(body.encode() if isinstance(body, str) else body)
    return p


def _breaths(n_breaths=3, per=10, start_bn=100, be=True, crlf=False, sep=", "):
    lines = ["2016-02-17-08-43-02.525325"]
    k = 0
    for b in range(n_breaths):
        lines.append(f"BS{sep}S:{start_bn + b}{sep.rstrip()}")
        for _ in range(per):
            lines.append(f"{k * 0.5:.2f}{sep}{5 + k % 7:.2f}")
            k += 1
        if be or b < n_breaths - 1:
            lines.append("BE")
    nl = "\r\n" if crlf else "\n"
    return nl.join(lines) + nl


def test_pb840_basic(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_recording(pb(tmp_path, _breaths()))
    assert rec.n_samples == 30 and rec.sampling_rate == 50.0
    assert rec.start_time == datetime(2016, 2, 17, 8, 43, 2, 525325)
    assert list(rec.markers["start_idx"]) == [0, 10, 20]
    assert list(rec.markers["end_idx"]) == [10, 20, 30]
    assert list(rec.markers["device_breath"]) == [100, 101, 102]
    np.testing.assert_allclose(rec.flow[:3], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(rec.pressure[:3], [5, 6, 7])
    assert rec.metadata["device"] == "PB-840"


def test_pb840_last_breath_without_be_and_crlf(tmp_path):
    rec = read_recording(pb(tmp_path, _breaths(be=False, crlf=True, sep=" ,  ")))
    assert rec.n_samples == 30
    assert list(rec.markers["end_idx"]) == [10, 20, -1]


def test_pb840_three_columns(tmp_path):
    lines = []
    for i in range(20):
        ts = f"2015-06-03 17:33:{8 + i * 0.02:012.9f}"
        if i == 5:
            lines.append(f"{ts}, BS, S:7530,")
        if i == 15:
            lines.append(f"{ts}, BE")
        lines.append(f"{ts}, {i:.2f}, {10 + i:.2f}")
    rec = read_recording(pb(tmp_path, "\n".join(lines) + "\n"))
    assert rec.n_samples == 20
    assert rec.metadata["variant"] == "3-column"
    assert list(rec.markers["start_idx"]) == [5] and list(rec.markers["end_idx"]) == [15]
    np.testing.assert_allclose(rec.flow, np.arange(20))
    np.testing.assert_allclose(rec.pressure, 10 + np.arange(20))
    assert rec.start_time == datetime(2015, 6, 3, 17, 33, 8)


def test_pb840_junk_lines_null_and_undecodable_bytes(tmp_path):
    body = _breaths().encode()
    lines = body.split(b"\n")
    lines.insert(1, b"17.66")          # one number only
    lines.insert(2, b", 9.11")         # empty first field
    lines.insert(5, b"1\xffBS, S:0,")  # undecodable byte
    lines.insert(8, b"12.\x0034, 5.00")  # a null byte inside a number
    body = b"\n".join(lines)
    with pytest.warns(DataRecoveryWarning) as rec_w:
        rec = read_recording(pb(tmp_path, body), format="pb840")
    msg = " ".join(str(w.message) for w in rec_w)
    assert "removed 1 null byte" in msg
    assert "skipped 3 junk line(s)" in msg and "first at line 2" in msg
    assert "1 undecodable" in msg
    assert rec.n_samples == 31  # the null-byte line is kept: '12.34, 5.00'
    assert 12.34 in rec.flow
    assert rec.n_markers == 3


def test_pb840_empty_breath_dropped(tmp_path):
    text = "BS, S:1,\n1.0, 2.0\n2.0, 3.0\nBE\nBS, S:2,\n1.13\nBE\nBS, S:3,\n4.0, 5.0\nBE\n"
    with pytest.warns(DataRecoveryWarning, match="dropped 1 breath mark"):
        rec = read_recording(pb(tmp_path, text))
    assert list(rec.markers["device_breath"]) == [1, 3]
    assert list(rec.markers["start_idx"]) == [0, 2]


def test_pb840_bad_input(tmp_path):
    with pytest.raises(FileFormatError, match="empty file"):
        read_recording(pb(tmp_path, "\n\n", "e.txt"), format="pb840")
    junk = bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8))
    with pytest.raises(FileFormatError, match=r"junk\.bin.*(no 'flow, pressure' data lines|is this a PB-840)"):
        read_recording(pb(tmp_path, junk, "junk.bin"), format="pb840")
    with pytest.raises(FileFormatError, match="is this a PB-840"):
        read_recording(pb(tmp_path, "hello\nworld\n" * 30 + "1, 2\n", "words.txt"), format="pb840")


def test_pb840_pathological_numbers_fall_back(tmp_path):
    # fields the fast parser cannot take: the slow path classifies them as junk
    text = "1.0, 2.0\n1-2, 3.0\n- , 4\n3.0, 4.0\n"
    with pytest.warns(DataRecoveryWarning, match="skipped 2 junk"):
        rec = read_recording(pb(tmp_path, text), format="pb840")
    np.testing.assert_allclose(rec.flow, [1.0, 3.0])


@pytest.mark.parametrize(
    "text, flow",
    [
        ("1.0, 2.0\n3, 4, 5\n6, 7\n", [1.0, 6.0]),      # too many fields in the middle
        ("1, 2, 3\n4, 5\n6, 7\n", [4.0, 6.0]),          # ... and on the first line
        ("1.0, 2.0\n17.66\n6, 7\n", [1.0, 6.0]),         # one field
        ("1.0, 2.0\n1.13,\n6, 7\n", [1.0, 6.0]),         # empty second field
        ("1.0, 2.0\n, 9.11\n6, 7\n", [1.0, 6.0]),        # empty first field
    ],
)
def test_pb840_malformed_data_lines_are_junk(tmp_path, text, flow):
    with pytest.warns(DataRecoveryWarning, match="skipped 1 junk line"):
        rec = read_recording(pb(tmp_path, text), format="pb840")
    np.testing.assert_allclose(rec.flow, flow)


def test_pb840_timestamp_lines_mid_file(tmp_path):
    text = ("2016-02-17-08-43-02.525325\nBS, S:1,\n1.0, 2.0\n2.0, 3.0\nBE\n2016-02-17-08-43-03.000000\n"
            "BS, S:2,\n3.0, 4.0\nBE\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_recording(pb(tmp_path, text))
    np.testing.assert_allclose(rec.flow, [1.0, 2.0, 3.0])
    assert list(rec.markers["start_idx"]) == [0, 2] and list(rec.markers["end_idx"]) == [2, 3]
    assert rec.start_time == datetime(2016, 2, 17, 8, 43, 2, 525325)


def test_pb840_blank_lines_ignored(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_recording(pb(tmp_path, "BS, S:1,\n1.0, 2.0\n\n3.0, 4.0\nBE\n\n"), format="pb840")
    np.testing.assert_allclose(rec.flow, [1.0, 3.0])
    assert list(rec.markers["end_idx"]) == [2]


def test_pb840_to_hdf5_and_csv(tmp_path):
    rec = read_recording(pb(tmp_path, _breaths(be=False)))
    for suffix in (".h5", ".csv"):
        write_recording(rec, tmp_path / f"o{suffix}")
        back = read_recording(tmp_path / f"o{suffix}")
        assert back.equals(rec)
        assert back.start_time == rec.start_time


# ----------------------------------------------------------------------------- PB-840 real files
def _ref_counts(ref: Path):
    df = pd.read_csv(ref)
    return int(df["be_idx"].max()), len(df), df


def test_pb840_real_files_match_reference(pb840_dir):
    files = sorted(f for f in pb840_dir.iterdir() if f.is_file())
    assert len(files) >= 6
    checked = 0
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataRecoveryWarning)
            rec = read_recording(f)
        assert rec.n_samples > 0 and rec.n_markers > 0
        assert np.isfinite(rec.flow).all() and np.isfinite(rec.pressure).all()
        ref = pb840_dir / "reference" / f"{f.name}.breaths.csv"
        if ref.is_file():
            n, nb, df = _ref_counts(ref)
            assert rec.n_samples == n, f.name
            assert rec.n_markers == nb, f.name
            np.testing.assert_array_equal(rec.markers["start_idx"], df["bs_idx"])
            np.testing.assert_array_equal(rec.markers["device_breath"], df["vent_bn"])
            # maxF of every breath: the samples are the ones ventMAP saw
            bs, be = df["bs_idx"].to_numpy(), df["be_idx"].to_numpy()
            maxf = np.maximum.reduceat(rec.flow, bs)
            ends_ok = np.r_[bs[1:], n] == be
            np.testing.assert_allclose(maxf[ends_ok], df["maxF"].to_numpy()[ends_ok], atol=1e-6)
            checked += 1
    assert checked == 4


def test_pb840_real_edge_files(pb840_dir):
    with pytest.warns(DataRecoveryWarning, match=r"skipped 2 junk line.*1 undecodable"):
        rec = read_recording(pb840_dir / "bad_unicode_error.csv.test")
    assert (rec.n_samples, rec.n_markers) == (75312, 321)
    rec = read_recording(pb840_dir / "file_without_be_at_end.csv.test")
    # 14 BS marks, 13 BE marks of which the first closes a breath that began before the file:
    # breaths 14634 (mid-file) and 14635 (the last) have no BE
    ends = rec.markers.set_index("device_breath")["end_idx"]
    assert ends[14634] == -1 and ends[14635] == -1
    assert (ends.drop([14634, 14635]) > 0).all()
    assert rec.n_markers == 14
    with pytest.warns(DataRecoveryWarning, match="dropped 1 breath mark"):
        rec = read_recording(pb840_dir / "speedup-multi-bad-first-lines-error-case.csv.test")
    assert list(rec.markers["device_breath"]) == [30727, 30728]


def test_read_recordings_folder_of_pb840(pb840_dir, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRecoveryWarning)
        recs = read_recordings(pb840_dir)
        desc = pd.concat([describe_file(f) for f in sorted(pb840_dir.iterdir()) if f.is_file()])
    assert len(recs) == 6
    assert set(desc["format"]) == {"pb840"}
    assert (desc["n_nan"] == 0).all()
    assert desc["n_samples"].sum() == sum(r.n_samples for r in recs)


def test_io_modules_have_no_torch():
    folder = Path(vio.__file__).parent
    for name in ("recordings", "describe", "csv", "hdf5", "pb840", "units", "cycleset", "_common", "wfdb", "edf",
                 "labels"):
        src = (folder / f"{name}.py").read_text()
        assert "torch" not in src.replace("never imports torch", ""), name


def test_docstring_examples_run():
    import doctest

    from ventgen.io import csv, cycleset, describe, recordings, units

    attempted = 0
    for mod in (recordings, describe, csv, units, cycleset):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert res.failed == 0, mod.__name__
        attempted += res.attempted
    assert attempted >= 8


def test_nan_kept_through_hdf5_and_csv(tmp_path):
    f = np.ones(200)
    f[10:15] = np.nan
    rec = Recording(flow=f, pressure=np.ones(200), sampling_rate=50, nan_policy="keep")
    write_recording(rec, tmp_path / "n.h5")
    assert read_recording(tmp_path / "n.h5").n_nan == 5  # the file remembers that gaps were accepted
    write_recording(rec, tmp_path / "n.csv")
    with pytest.raises(FileFormatError, match=r"line 12, 'flow_lpm'"):
        read_recording(tmp_path / "n.csv")
    assert read_recording(tmp_path / "n.csv", nan_policy="keep").n_nan == 5


def test_overwrite_csv_removes_stale_side_files(tmp_path):
    p = tmp_path / "s.csv"
    write_recording(make_rec(), p)
    write_recording(make_rec(ann=False, markers=False), p, overwrite=True)
    assert not (tmp_path / "s.annotations.csv").exists() and not (tmp_path / "s.markers.csv").exists()
    back = read_recording(p)
    assert len(back.annotations) == 0 and back.markers is None
