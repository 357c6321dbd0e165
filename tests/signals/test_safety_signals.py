"""Recording readers, CycleSet files, simulation and segmentation under bad input and interruption.

Every test builds its bad input itself; a bad input must end in ONE ventgen error (or, for the CLI,
exit 2 and one ``ventgen: error:`` line), never a raw OverflowError/MemoryError/TypeError, and a
failed multi-file write must leave none of its files.
"""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest

from ventgen import (
    CycleSet,
    Recording,
    extract_cycles,
    read_cycleset,
    read_recording,
    segment_breaths,
    write_cycleset,
    write_recording,
)
from ventgen._core.limits import MAX_CYCLE_LENGTH, MAX_RECORDING_SAMPLES, MAX_SIMULATION_MINUTES
from ventgen.cli import main
from ventgen.errors import FileFormatError, VentgenTypeError, VentgenValueError, VentgenWarning
from ventgen.io import describe as describe_mod
from ventgen.io import describe_files
from ventgen.io import recordings as recordings_mod
from ventgen.signals.simulate import simulate_recording
from ventgen.workflows import segment as workflows_mod
from ventgen.workflows import write_simulated_cohort


# ----------------------------------------------------------------------------- helpers
def _breathing(seconds=12.0, rate=50, subject="p1", annotations=None) -> Recording:
    t = np.arange(0, seconds, 1 / rate)
    ph = t % 4
    flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    return Recording(flow=flow, pressure=5 + 10 * (ph < 1.2), sampling_rate=rate, subject=subject,
                     annotations=annotations)


def _cli(capsys, *argv) -> tuple[int, str, list[str]]:
    rc = main(["--quiet", *map(str, argv)])
    cap = capsys.readouterr()
    return rc, cap.out, [ln for ln in cap.err.splitlines() if ln.strip()]


def _one_error_line(capsys, *argv) -> str:
    rc, _, err = _cli(capsys, *argv)
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("ventgen: error:"), err
    assert "Traceback" not in err[0]
    return err[0]


def _visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _h5_recording(path, edit=None):
    """A valid ventgen HDF5 recording, then ``edit(group)`` on its recording group."""
    write_recording(_breathing(), path)
    if edit is not None:
        with h5py.File(path, "r+") as f:
            edit(f["recordings/rec00000"])
    return path


def _replace(g, name, **kw):
    del g[name]
    d = g.create_dataset(name, **kw)
    d.attrs["unit"] = {"flow_lpm": "L/min", "paw_cmh2o": "cmH2O"}.get(name, "")
    return d


def _huge(g):
    for name in ("flow_lpm", "paw_cmh2o"):  # declared, never written: the file stays tiny
        _replace(g, name, shape=(10**10,), dtype="f8", chunks=(4096,))


# ----------------------------------------------------------------------------- 1. PB-840 absurd numbers
@pytest.mark.parametrize("mark", ["BS, S:99999999999999999999999,", "BS, S: 99999999999999999999999 ,"])
def test_pb840_breath_number_wider_than_64_bits(tmp_path, mark):
    p = tmp_path / "big.txt"
    p.write_text(f"1.0, 5.0\n{mark}\n2.0, 6.0\n3.0, 7.0\nBE\n")
    with pytest.raises(FileFormatError, match=r"big\.txt, line 2: breath number 9+ \(23 digits\)"):
        read_recording(p, format="pb840")


def test_pb840_value_too_large_for_a_float_names_its_line(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("BS, S:1,\n1.0, 5.0\n1" + "0" * 400 + ", 6.0\nBE\n")
    with pytest.raises(FileFormatError, match=r"v\.txt, line 3: flow value too large"):
        read_recording(p, format="pb840")


# ----------------------------------------------------------------------------- 2. HDF5 recordings
def test_hdf5_declaring_1e10_samples_is_refused_before_reading(tmp_path):
    p = _h5_recording(tmp_path / "huge.h5", _huge)
    assert p.stat().st_size < 100_000
    with pytest.raises(FileFormatError, match=rf"huge\.h5, 'recordings/rec00000/flow_lpm': declares 10000000000 "
                                              rf"values; a recording holds at most {MAX_RECORDING_SAMPLES}"):
        read_recording(p)


@pytest.mark.parametrize("edit, pattern", [
    (lambda g: _replace(g, "flow_lpm", data=np.array(["a"] * 600, dtype=object), dtype=h5py.string_dtype()),
     r"'recordings/rec00000/flow_lpm': holds strings; expected numbers"),
    (lambda g: (_replace(g, "flow_lpm", data=np.ones((600, 2))), _replace(g, "paw_cmh2o", data=np.ones((600, 2)))),
     r"'recordings/rec00000/flow_lpm': has shape \(600, 2\); expected a 1-D dataset"),
    (lambda g: _replace(g, "paw_cmh2o", data=np.ones(10)),
     r"'recordings/rec00000/paw_cmh2o': has 10 samples but flow_lpm has 600"),
    (lambda g: (g.__delitem__("flow_lpm"), g.create_group("flow_lpm")),
     r"'recordings/rec00000/flow_lpm': is a group; expected a 1-D dataset"),
    (lambda g: (g.__delitem__("flow_lpm"), g.__setitem__("flow_lpm", h5py.ExternalLink("/etc/other.h5", "/x"))),
     r"'recordings/rec00000/flow_lpm': is a link to another file"),
    (lambda g: (g.__delitem__("flow_lpm"), g.create_dataset("flow_lpm", shape=(600,), dtype="f8",
                                                            external=[("/etc/passwd", 0, 4800)])),
     r"'recordings/rec00000/flow_lpm': keeps its values in another file"),
    (lambda g: g.attrs.__delitem__("sampling_rate"),
     r"'recordings/rec00000@sampling_rate': missing attribute"),
    (lambda g: g.attrs.__setitem__("sampling_rate", 1e-300),
     r"'recordings/rec00000@sampling_rate': sampling_rate must be a number of Hz in \[10, 1000\], got 1e-300"),
    (lambda g: g.attrs.__setitem__("sampling_rate", np.full(5000, 50.0)),  # a large attribute is not read
     r"'recordings/rec00000@sampling_rate': sampling_rate must be a number of Hz in \[10, 1000\], "
     r"got '<attribute of 5000 values>'"),
    (lambda g: g.attrs.__setitem__("sampling_rate", 1e9),
     r"'recordings/rec00000@sampling_rate': sampling_rate must be a number of Hz in \[10, 1000\], got 1000000000"),
    (lambda g: (g["annotations"].__delitem__("start_s"), g["annotations"].create_dataset("start_s", data=[0.0, 1.0])),
     r"'recordings/rec00000/annotations': columns of different lengths"),
    (lambda g: (g.create_group("markers").create_dataset("start_idx", data=[0, 5]),
                g["markers"].create_group("end_idx")),
     r"'recordings/rec00000/markers/end_idx': is a group"),
    (lambda g: g.attrs.__setitem__("metadata_json", "[" * 100_000 + "]" * 100_000),
     r"'recordings/rec00000@metadata_json': not valid JSON"),
])
def test_hdf5_bad_layouts_are_one_file_format_error(tmp_path, edit, pattern):
    p = _h5_recording(tmp_path / "bad.h5", edit)
    with pytest.raises(FileFormatError, match=r"bad\.h5, " + pattern) as exc:
        read_recording(p)
    assert "\n" not in str(exc.value)


# ----------------------------------------------------------------------------- 3. CycleSet files
def _cycleset(path, edit=None, manifest=None):
    cs = CycleSet(np.zeros((3, 2, 10), np.float32), [5, 6, 7], 25.0, labels=["apnea", "", "snoring"],
                  subjects=["a", "a", "b"], breaths=pd.DataFrame({"tvi_ml": [400.0, 410.0, 420.0]}))
    write_cycleset(cs, path)
    with h5py.File(path, "r+") as h:
        if edit is not None:
            edit(h)
        if manifest is not None:
            m = json.loads(h.attrs["manifest"])
            m.update(manifest)
            h.attrs["manifest"] = json.dumps(m)
    return path


def _regroup(h, name):
    del h[name]
    h.create_group(name)


def _shorten(h, name, n=2):
    data = h[name][()][:n]
    del h[name]
    h.create_dataset(name, data=data, dtype=h5py.string_dtype() if data.dtype.kind == "O" else data.dtype)


@pytest.mark.parametrize("edit, manifest, field, pattern", [
    (lambda h: _regroup(h, "X"), None, "X", r"is a group; expected a dataset of shape \(3, 2, 10\)"),
    (lambda h: _regroup(h, "lengths"), None, "lengths", "is a group"),
    (lambda h: _regroup(h, "breaths/tvi_ml"), None, "breaths/tvi_ml", "is a group"),
    (lambda h: _shorten(h, "lengths"), None, "lengths", r"has shape \(2,\); the manifest says \(3,\)"),
    (lambda h: _shorten(h, "labels"), None, "labels", r"has shape \(2,\)"),
    (lambda h: _shorten(h, "subjects"), None, "subjects", r"has shape \(2,\)"),
    (lambda h: _shorten(h, "breaths/tvi_ml"), None, "breaths/tvi_ml", r"has shape \(2,\)"),
    (lambda h: (h.__delitem__("X"), h.create_dataset("X", data=np.zeros((3, 20)))), None, "X",
     r"has shape \(3, 20\); the manifest says \(3, 2, 10\)"),
    (lambda h: (h.__delitem__("X"), h.create_dataset("X", data=np.full((3, 2, 10), "a", dtype=object),
                                                     dtype=h5py.string_dtype())), None, "X", "holds strings"),
    (lambda h: (h.__delitem__("lengths"), h.__setitem__("lengths", h5py.ExternalLink("/etc/x.h5", "/l"))), None,
     "lengths", "is a link to another file"),
    (lambda h: (h.__delitem__("X"), h.create_dataset("X", shape=(3, 2, 10), dtype="f4",
                                                     external=[("/etc/passwd", 0, 240)])), None, "X",
     "keeps its values in another file"),
    (None, {"length": MAX_CYCLE_LENGTH + 1}, "manifest", rf"length.*\[2, {MAX_CYCLE_LENGTH}\]"),
    (None, {"sampling_rate": 1e9}, "manifest", r"sampling_rate must be a number of Hz in \[10, 1000\]"),
    (None, {"sampling_rate": 1e-300}, "manifest", r"sampling_rate must be a number of Hz"),
    (None, {"n_cycles": 10**10}, "manifest", "declares 10000000000 x 2 x 10 values; a CycleSet holds at most"),
])
def test_cycleset_file_defects_name_the_file_and_dataset(tmp_path, edit, manifest, field, pattern):
    p = _cycleset(tmp_path / "cycles.h5", edit, manifest)
    with pytest.raises(FileFormatError, match=rf"cycles\.h5, '{field}': {pattern}"):
        read_cycleset(p)


def test_cycleset_rate_and_length_follow_the_one_rule():
    with pytest.raises(VentgenValueError, match=r"CycleSet: sampling_rate must be a number of Hz in \[10, 1000\]"):
        CycleSet(np.zeros((1, 2, 10)), [5], 1e9)


def test_info_describes_a_cycleset_beside_the_recordings(tmp_path, capsys):
    _cycleset(tmp_path / "cycles.h5")
    write_recording(_breathing(), tmp_path / "good.h5")
    rc, out, err = _cli(capsys, "info", tmp_path)
    assert rc == 0 and err == []
    assert "good.h5" in out and f"{tmp_path / 'cycles.h5'}: cycleset" in out


# ----------------------------------------------------------------------------- 4. one rule for rates
@pytest.mark.parametrize("rate", [1e-300, 1e9, 5, 2000])
def test_recording_rate_rule(rate):
    with pytest.raises(VentgenValueError, match=r"Recording: sampling_rate must be a number of Hz in \[10, 1000\]"):
        Recording(flow=np.zeros(10), pressure=np.zeros(10), sampling_rate=rate)


@pytest.mark.parametrize("rate", [1e-300, 1e9])
def test_reader_rate_arguments_follow_the_rule(tmp_path, rate):
    csv = tmp_path / "a.csv"
    csv.write_text("flow_lpm,paw_cmh2o\n1,2\n3,4\n")
    pb = tmp_path / "a.txt"
    pb.write_text("1.0, 5.0\n2.0, 6.0\n")
    for path, fmt in ((csv, "csv"), (pb, "pb840")):
        with pytest.raises(VentgenValueError, match=r"^sampling_rate must be a number of Hz in \[10, 1000\]"):
            read_recording(path, format=fmt, sampling_rate=rate)


@pytest.mark.parametrize("times, shown", [("0\n1e-300", "1e\\+300 Hz"), ("0\n1000", "0.001 Hz")])
def test_csv_rate_from_the_time_column_follows_the_rule(tmp_path, times, shown):
    t0, t1 = times.split("\n")
    p = tmp_path / "t.csv"
    p.write_text(f"time_s,flow_lpm,paw_cmh2o\n{t0},1,2\n{t1},3,4\n")
    with pytest.raises(FileFormatError, match=rf"t\.csv, 'time_s': the time column gives a sampling rate of {shown}"):
        read_recording(p)


def test_meta_json_rate_follows_the_rule(tmp_path):
    write_recording(_breathing(), tmp_path / "r.csv")
    meta = json.loads((tmp_path / "r.meta.json").read_text())
    meta["sampling_rate"] = 1e9
    (tmp_path / "r.meta.json").write_text(json.dumps(meta))
    (tmp_path / "r.csv").write_text("flow_lpm,paw_cmh2o\n1,2\n3,4\n")  # no time column: the rate is meta's
    with pytest.raises(FileFormatError, match=r"r\.meta\.json, 'sampling_rate': sampling_rate must be"):
        read_recording(tmp_path / "r.csv")


@pytest.mark.parametrize("rate", [1e-300, 1e9])
def test_cycle_rate_follows_the_rule(rate):
    rec = _breathing()
    with pytest.raises(VentgenValueError, match=r"extract_cycles: cycle_rate must be a number of Hz in \[10, 1000\]"):
        extract_cycles(rec, segment_breaths(rec, method="flow"), cycle_rate=rate)


@pytest.mark.parametrize("argv", [
    ["simulate", "-o", "{d}/sim", "--minutes", "0.5", "--rate", "1e9"],
    ["simulate", "-o", "{d}/sim", "--minutes", "0.5", "--rate", "1e-300"],
    ["segment", "{d}/r.h5", "-o", "{d}/c.h5", "--cycle-rate", "1e-300"],
    ["segment", "{d}/r.h5", "-o", "{d}/c.h5", "--cycle-rate", "1e9"],
    ["convert", "{d}/a.csv", "-o", "{d}/b.h5", "--sampling-rate", "1e9"],
    ["convert", "{d}/a.csv", "-o", "{d}/b.h5", "--sampling-rate", "1e-300"],
])
def test_cli_rates_out_of_range_are_one_line_and_write_nothing(tmp_path, capsys, argv):
    write_recording(_breathing(), tmp_path / "r.h5")
    (tmp_path / "a.csv").write_text("flow_lpm,paw_cmh2o\n1,2\n3,4\n")
    before = _visible(tmp_path)
    line = _one_error_line(capsys, *[a.replace("{d}", str(tmp_path)) for a in argv])
    assert "must be a number of Hz in [10, 1000]" in line
    assert _visible(tmp_path) == before


def test_segment_finding_no_breath_is_an_error_not_an_empty_file(tmp_path, capsys):
    write_recording(Recording(flow=np.zeros(1000), pressure=np.full(1000, 5.0), sampling_rate=50), tmp_path / "flat.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc, _, err = _cli(capsys, "segment", tmp_path / "flat.h5", "-o", tmp_path / "c.h5")
    assert rc == 2
    assert err[-1].startswith("ventgen: error: segment_files: no breath cycle found in the 1 recording(s)")
    assert not (tmp_path / "c.h5").exists()


def test_convert_of_a_folder_without_recordings_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    line = _one_error_line(capsys, "convert", tmp_path / "empty", "-o", tmp_path / "out.h5")
    assert "no recording file found" in line
    assert not (tmp_path / "out.h5").exists()


# ----------------------------------------------------------------------------- 5. info FOLDER
def test_info_folder_lists_good_files_despite_a_hostile_one(tmp_path, capsys):
    write_recording(_breathing(subject="a"), tmp_path / "a.h5")
    _h5_recording(tmp_path / "b_huge.h5", _huge)
    (tmp_path / "c.txt").write_text("BS, S:99999999999999999999999,\n1.0, 5.0\nBE\n")
    write_recording(_breathing(subject="d"), tmp_path / "d.csv")
    rc, out, err = _cli(capsys, "info", tmp_path)
    assert rc == 2
    assert "a.h5" in out and "d.csv" in out
    assert len(err) == 2 and all(ln.startswith("ventgen: error: ") for ln in err)
    assert "b_huge.h5, 'recordings/rec00000/flow_lpm': declares 10000000000 values" in err[0]
    assert "c.txt, line 1: breath number" in err[1]


def test_describe_files_collects_unexpected_errors_as_one_line(tmp_path, monkeypatch):
    write_recording(_breathing(), tmp_path / "a.h5")

    def boom(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(describe_mod, "read_hdf5_all", boom)
    t = describe_files([tmp_path / "a.h5"], errors="collect")
    assert t["error"].tolist() == [f"{tmp_path / 'a.h5'}: not enough memory to read this file"]


# ----------------------------------------------------------------------------- 6. absurd CLI arguments
@pytest.mark.parametrize("delim", ["", "ab", "\n"])
def test_convert_bad_delimiter_is_one_line(tmp_path, capsys, delim):
    (tmp_path / "a.csv").write_text("flow_lpm,paw_cmh2o\n1,2\n3,4\n")
    line = _one_error_line(capsys, "convert", tmp_path / "a.csv", "-o", tmp_path / "b.h5", "--sampling-rate", "50",
                           "--delimiter", delim)
    assert "delimiter (--delimiter) must be one character" in line
    assert not (tmp_path / "b.h5").exists()


def test_simulate_minutes_limit_cli_and_library(tmp_path, capsys):
    line = _one_error_line(capsys, "simulate", "-o", tmp_path / "sim", "--minutes", "1e9")
    assert f"at most {MAX_SIMULATION_MINUTES:g} (MAX_SIMULATION_MINUTES" in line
    assert not (tmp_path / "sim").exists()
    with pytest.raises(VentgenValueError, match="MAX_SIMULATION_MINUTES"):
        simulate_recording(minutes=1e9)


def test_segment_length_limit_cli_and_library(tmp_path, capsys):
    write_recording(_breathing(), tmp_path / "r.h5")
    line = _one_error_line(capsys, "segment", tmp_path / "r.h5", "-o", tmp_path / "c.h5", "--length", "1000000000")
    assert f"MAX_CYCLE_LENGTH) must be an integer in [2, {MAX_CYCLE_LENGTH}], got 1000000000" in line
    assert not (tmp_path / "c.h5").exists()
    rec = _breathing()
    with pytest.raises(VentgenValueError, match="MAX_CYCLE_LENGTH"):
        extract_cycles(rec, segment_breaths(rec, method="flow"), length=10**9)


# ----------------------------------------------------------------------------- 7. unknown labels
def test_unknown_annotation_labels_in_a_csv_side_file_warn_and_are_kept(tmp_path):
    write_recording(_breathing(), tmp_path / "r.csv")
    (tmp_path / "r.annotations.csv").write_text("start_s,end_s,label\n0,1,flying\n2,3,apnea\n4,5,flying\n")
    with pytest.warns(VentgenWarning, match=r"r\.annotations\.csv: 2 annotation\(s\) with labels not in the "
                                            r"ventilation hierarchy: 'flying' \(x2\)") as rec_w:
        rec = read_recording(tmp_path / "r.csv")
    assert len([w for w in rec_w if issubclass(w.category, VentgenWarning)]) == 1
    assert rec.annotations["label"].tolist() == ["flying", "apnea", "flying"]


def test_unknown_annotation_labels_in_an_hdf5_table_warn_and_are_kept(tmp_path):
    ann = pd.DataFrame({"start_s": [0.0, 2.0], "end_s": [1.0, 3.0], "label": ["flying", "apnea"]})
    write_recording(_breathing(annotations=ann), tmp_path / "r.h5")
    with pytest.warns(VentgenWarning, match=r"r\.h5, recordings/rec00000/annotations: 1 annotation\(s\) with labels "
                                            r"not in the ventilation hierarchy: 'flying' \(x1\)"):
        rec = read_recording(tmp_path / "r.h5")
    assert rec.annotations["label"].tolist() == ["flying", "apnea"]


def test_known_labels_do_not_warn(tmp_path):
    ann = pd.DataFrame({"start_s": [0.0], "end_s": [1.0], "label": ["apnea"]})
    write_recording(_breathing(annotations=ann), tmp_path / "r.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_recording(tmp_path / "r.h5")


# ----------------------------------------------------------------------------- 8. BOM
def test_csv_with_a_utf8_bom_is_read(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbfflow_lpm,paw_cmh2o\n1,2\n3,4\n")
    rec = read_recording(p, sampling_rate=50)
    np.testing.assert_array_equal(rec.flow, [1, 3])


# ----------------------------------------------------------------------------- 9. options that do not fit
def test_reader_option_that_does_not_fit_the_format(tmp_path, capsys):
    write_recording(_breathing(), tmp_path / "a.h5")
    with pytest.raises(VentgenTypeError, match=r"a\.h5: option\(s\) flow_unit \(--flow-unit\) do not apply to hdf5 "
                                               r"files; hdf5 accepts index, name, subject, nan_policy, max_gap_s"):
        read_recording(tmp_path / "a.h5", flow_unit="L/s")
    line = _one_error_line(capsys, "convert", tmp_path / "a.h5", "-o", tmp_path / "b.csv", "--flow-unit", "L/s")
    assert "flow_unit (--flow-unit) do not apply to hdf5 files" in line
    assert not (tmp_path / "b.csv").exists()


# ----------------------------------------------------------------------------- 10. all-or-nothing sets
def test_segment_outputs_are_one_set(tmp_path, monkeypatch):
    from ventgen import segment_files

    write_recording(_breathing(), tmp_path / "r.h5")
    out, br = tmp_path / "X.h5", tmp_path / "B.csv"

    def fail(self, *a, **k):  # the second file's writer
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        segment_files([tmp_path / "r.h5"], out, breaths_csv=br, progress_bar=False)
    assert _visible(tmp_path) == ["r.h5"]  # neither file, no temporary
    monkeypatch.undo()
    # a killed run leaves a temporary of ventgen's naming: the re-run removes it and starts normally
    (tmp_path / ".X.h5.vg999999999-abcdefgh.tmp").write_bytes(b"half")
    with pytest.warns(VentgenWarning, match="cleaned up after an interrupted ventgen run"):
        res = segment_files([tmp_path / "r.h5"], out, breaths_csv=br, progress_bar=False)
    assert res["n_recordings"] == 1 and res["n_cycles"] == 3
    assert _visible(tmp_path) == ["B.csv", "X.h5", "r.h5"]


def test_segment_checks_every_target_before_the_work(tmp_path, monkeypatch):
    from ventgen import segment_files

    write_recording(_breathing(), tmp_path / "r.h5")
    (tmp_path / "B.csv").write_text("old")

    def no_work(*a, **k):
        raise AssertionError("segmentation started")

    monkeypatch.setattr(workflows_mod, "_segment_sources", no_work)
    with pytest.raises(FileExistsError):
        segment_files([tmp_path / "r.h5"], tmp_path / "X.h5", breaths_csv=tmp_path / "B.csv")
    assert _visible(tmp_path) == ["B.csv", "r.h5"]
    assert (tmp_path / "B.csv").read_text() == "old"


@pytest.mark.parametrize("fmt, writer", [("hdf5", "_write_hdf5_file"), ("csv", "_write_csv_files")])
def test_simulated_cohort_is_one_set(tmp_path, monkeypatch, fmt, writer):
    real = getattr(recordings_mod, writer)
    calls = []

    def second_fails(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(recordings_mod, writer, second_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        write_simulated_cohort(tmp_path / "sim", n_subjects=2, minutes=0.25, format=fmt, progress=False)
    assert _visible(tmp_path / "sim") == []  # not even the first subject's files
    monkeypatch.undo()
    paths = write_simulated_cohort(tmp_path / "sim", n_subjects=2, minutes=0.25, format=fmt, progress=False)
    assert [p.name for p in paths] == [f"sim-01.{'h5' if fmt == 'hdf5' else 'csv'}",
                                       f"sim-02.{'h5' if fmt == 'hdf5' else 'csv'}"]
    assert all(not n.startswith(".") for n in _visible(tmp_path / "sim"))


def test_simulated_cohort_checks_every_target_first(tmp_path, monkeypatch):
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "sim-02.markers.csv").write_text("start_idx\n0\n")

    def no_work(*a, **k):
        raise AssertionError("simulation started")

    monkeypatch.setattr(workflows_mod, "simulate_cohort", no_work)
    with pytest.raises(FileExistsError, match="exists"):
        write_simulated_cohort(tmp_path / "sim", n_subjects=2, minutes=0.25, format="csv", progress=False)
    assert _visible(tmp_path / "sim") == ["sim-02.markers.csv"]
