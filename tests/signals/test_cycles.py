"""Breath cycles: extraction, padding, labels, HDF5 round trip (seg room)."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from _synthetic import psv_signal

from ventgen import (
    CycleSet,
    Recording,
    cycles_from_recordings,
    extract_cycles,
    read_cycleset,
    segment_breaths,
    write_cycleset,
)
from ventgen.errors import FileFormatError, VentgenTypeError, VentgenValueError, VentgenWarning

RATE = 50.0


@pytest.fixture
def rec_and_table():
    f, p, s, _ = psv_signal(30, RATE, random_state=3, apnea_every=10, apnea_s=6.0)
    dur = f.size / RATE
    ann = pd.DataFrame(
        {
            "start_s": [0.0, dur / 3, 2 * dur / 3],
            "end_s": [dur / 3, 2 * dur / 3, dur],
            "label": ["normal breathing", "coughing", "lying down"],
        }
    )
    rec = Recording(f, p, RATE, subject="s1", annotations=ann)
    return rec, segment_breaths(rec, method="flow")


def test_shapes_units_and_padding_invariant(rec_and_table):
    rec, table = rec_and_table
    with pytest.warns(VentgenWarning, match="dropped"):
        cs = extract_cycles(rec, table, length=200, cycle_rate=25.0)
    assert cs.X.dtype == np.float32 and cs.X.shape[1:] == (2, 200)
    assert cs.channels == ["flow_lpm", "paw_cmh2o"] and cs.sampling_rate == 25.0
    kept = cs.breaths
    for i in range(len(cs)):
        L = cs.lengths[i]
        s = kept["start_idx"].iloc[i]
        # 50 Hz -> 25 Hz: every second source sample, original units
        np.testing.assert_allclose(cs.X[i, 0, :L], rec.flow[s : s + 2 * L : 2], rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(cs.X[i, 1, :L], rec.pressure[s : s + 2 * L : 2], rtol=1e-5, atol=1e-4)
        # edge padding after the end
        assert (cs.X[i, :, L:] == cs.X[i, :, L - 1 : L]).all()
    np.testing.assert_array_equal(cs.lengths, np.round(kept["n_samples"] / 2).astype(int))
    assert (cs.subjects == "s1").all()
    assert (cs.source_rate == RATE).all()


def test_long_policy(rec_and_table):
    rec, table = rec_and_table
    n_long = int((np.round(table["n_samples"] / 2) > 100).sum())
    assert n_long > 0
    with pytest.warns(VentgenWarning, match=f"dropped {n_long} of"):
        dropped = extract_cycles(rec, table, length=100)
    assert len(dropped) == len(table) - n_long and dropped.lengths.max() <= 100
    with pytest.warns(VentgenWarning, match=f"time-compressed {n_long} of"):
        comp = extract_cycles(rec, table, length=100, long_policy="compress")
    assert len(comp) == len(table)
    c = comp.breaths["compressed"].to_numpy()
    assert c.sum() == n_long and (comp.lengths[c] == 100).all()
    # a compressed cycle spans the whole breath: first and last samples are the breath's
    i = int(np.flatnonzero(c)[0])
    s, e = comp.breaths["start_idx"].iloc[i], comp.breaths["end_idx"].iloc[i]
    assert comp.X[i, 0, 0] == pytest.approx(rec.flow[s], abs=1e-4)
    assert comp.X[i, 0, -1] == pytest.approx(rec.flow[e - 1], abs=1e-4)
    with pytest.raises(VentgenValueError, match="long_policy"):
        extract_cycles(rec, table, long_policy="truncate")


def test_labels_by_majority_overlap():
    rate = 10.0
    f = np.tile(np.concatenate([np.full(10, 20.0), np.full(30, -8.0)]), 4)
    ann = pd.DataFrame({"start_s": [0.0, 3.0, 9.0], "end_s": [3.0, 9.0, 12.0], "label": ["apnea", "snoring", "speaking"],
                        "superclass": ["respiratory event"] * 3})
    rec = Recording(f, np.full(f.size, 5.0), rate, annotations=ann)
    table = pd.DataFrame({"start_idx": [0, 40, 80, 120], "end_idx": [40, 80, 120, 160]})
    cs = extract_cycles(rec, table, length=40, cycle_rate=10.0)
    # breath 0 [0,4): apnea 3 s vs snoring 1 s; breath 1 [4,8): snoring; breath 2 [8,12): speaking 3 s;
    # breath 3 [12,16): no annotation
    assert cs.labels.tolist() == ["apnea", "snoring", "speaking", ""]
    assert cs.superclasses.tolist() == ["respiratory event"] * 3 + [""]
    # without a superclass column, ventilation labels map through VENTILATION_TREE
    rec2 = Recording(f, np.full(f.size, 5.0), rate, annotations=ann.drop(columns="superclass"))
    cs2 = extract_cycles(rec2, table, length=40, cycle_rate=10.0)
    assert cs2.superclasses.tolist() == ["respiratory event"] * 3 + [""]
    # a label covering less than half of a breath does not label it
    cs3 = extract_cycles(rec, table, length=40, cycle_rate=10.0, min_label_overlap=0.8)
    assert cs3.labels.tolist() == ["", "snoring", "", ""]


def test_hdf5_round_trip(tmp_path, rec_and_table):
    rec, table = rec_and_table
    with pytest.warns(VentgenWarning):
        cs = extract_cycles(rec, table, length=200, long_policy="compress")
    path = write_cycleset(cs, tmp_path / "c.h5")
    back = read_cycleset(path)
    np.testing.assert_array_equal(back.X, cs.X)
    np.testing.assert_array_equal(back.lengths, cs.lengths)
    for name in ("labels", "superclasses", "subjects"):
        np.testing.assert_array_equal(getattr(back, name), getattr(cs, name))
    assert back.sampling_rate == cs.sampling_rate and back.channels == cs.channels
    pd.testing.assert_frame_equal(back.breaths, cs.breaths, check_dtype=False)
    with pytest.raises(FileExistsError):
        write_cycleset(cs, path)
    write_cycleset(cs, path, overwrite=True)
    with pytest.raises(VentgenTypeError, match="CycleSet"):
        write_cycleset(cs.X, tmp_path / "d.h5")


def test_load_errors(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("not hdf5")
    with pytest.raises(FileFormatError, match="not an HDF5 file"):
        read_cycleset(p)
    q = tmp_path / "y.h5"
    with h5py.File(q, "w") as h:
        h.attrs["manifest"] = '{"format": "other"}'
    with pytest.raises(FileFormatError, match="schema"):
        read_cycleset(q)
    with pytest.raises(FileNotFoundError):
        read_cycleset(tmp_path / "missing.h5")


def test_tslearn_subset_concatenate():
    X = np.arange(3 * 2 * 5, dtype=np.float32).reshape(3, 2, 5)
    cs = CycleSet(X, [2, 5, 3], 25.0, labels=["a", "b", ""], subjects=["x", "y", "z"])
    ts = cs.to_tslearn()
    assert ts.shape == (3, 5, 2) and ts[1, 4, 1] == X[1, 1, 4]
    tn = cs.to_tslearn(pad="nan")
    assert np.isnan(tn[0, 2:]).all() and not np.isnan(tn[1]).any()
    sub = cs.subset([2, 0])
    assert sub.labels.tolist() == ["", "a"] and sub.lengths.tolist() == [3, 2]
    assert len(cs.subset(np.array([True, False, True]))) == 2
    both = CycleSet.concatenate([cs, sub])
    assert len(both) == 5 and both.subjects.tolist() == ["x", "y", "z", "z", "x"]
    with pytest.raises(VentgenValueError, match="concatenate"):
        CycleSet.concatenate([cs, CycleSet(np.zeros((1, 2, 6)), [6], 25.0)])
    with pytest.raises(VentgenValueError, match="lengths"):
        CycleSet(X, [0, 5, 3], 25.0)
    with pytest.raises(VentgenValueError, match="shape"):
        CycleSet(X[0], [1], 25.0)


def test_extract_errors(rec_and_table):
    rec, table = rec_and_table
    with pytest.raises(VentgenTypeError):
        extract_cycles(rec.flow, table)
    with pytest.raises(VentgenValueError, match="lacks column"):
        extract_cycles(rec, table.drop(columns="end_idx"))
    bad = table.copy()
    bad.loc[0, "end_idx"] = rec.n_samples + 10
    with pytest.raises(VentgenValueError, match="another recording"):
        extract_cycles(rec, bad)
    with pytest.raises(VentgenValueError, match="cycle_rate"):
        extract_cycles(rec, table, cycle_rate=0)


def test_cycles_from_recordings(rec_and_table):
    rec, _ = rec_and_table
    with pytest.warns(VentgenWarning):
        cs, table = cycles_from_recordings([rec, rec], method="flow", long_policy="compress", progress_bar=False)
    assert len(cs) == len(table) and set(cs.breaths["recording"]) == {0, 1}
    assert (table["subject"] == "s1").all()


def test_empty_cycleset_round_trip(tmp_path):
    flat = Recording(np.zeros(1000), np.full(1000, 5.0), RATE, subject="flat")
    with pytest.warns(VentgenWarning, match="no breath found"):
        cs, table = cycles_from_recordings([flat], method="flow", progress_bar=False)
    assert len(cs) == 0 and cs.X.shape == (0, 2, 200) and len(table) == 0
    back = read_cycleset(write_cycleset(cs, tmp_path / "empty.h5"))
    assert len(back) == 0 and back.X.shape == (0, 2, 200)
