"""Recording: validation on construction and its small helpers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ventgen import DataRecoveryWarning, Recording, VentgenTypeError, VentgenValueError


def _rec(n=500, rate=50.0, **kw):
    t = np.arange(n) / rate
    return Recording(flow=30 * np.sin(2 * np.pi * t / 4), pressure=5 + t, sampling_rate=rate, **kw)


def test_basic_properties():
    rec = _rec(500, 50)
    assert rec.n_samples == 500
    assert rec.duration_s == 10.0
    assert rec.channels == ["flow_lpm", "paw_cmh2o"]
    np.testing.assert_allclose(rec.time_s[:3], [0, 0.02, 0.04])
    assert list(rec.to_frame().columns) == ["time_s", "flow_lpm", "paw_cmh2o"]


def test_unequal_lengths_refused():
    with pytest.raises(VentgenValueError, match="pressure has 9 samples but flow has 10"):
        Recording(flow=np.zeros(10), pressure=np.zeros(9), sampling_rate=50)
    with pytest.raises(VentgenValueError, match="volume"):
        Recording(flow=np.zeros(10), pressure=np.zeros(10), volume=np.zeros(3), sampling_rate=50)


@pytest.mark.parametrize("rate", [0, -50, float("nan"), float("inf"), 1e-300, 9.99, 1000.5, 1e9])
def test_rate_must_follow_the_one_rule(rate):
    with pytest.raises(VentgenValueError, match=r"sampling_rate must be a number of Hz in \[10, 1000\]"):
        Recording(flow=np.zeros(10), pressure=np.zeros(10), sampling_rate=rate)


@pytest.mark.parametrize("rate", [None, "50", True])
def test_rate_must_be_a_number(rate):
    with pytest.raises(VentgenTypeError, match="sampling_rate"):
        Recording(flow=np.zeros(10), pressure=np.zeros(10), sampling_rate=rate)


def test_empty_and_2d_signals_refused():
    with pytest.raises(VentgenValueError, match="empty"):
        Recording(flow=np.zeros(0), pressure=np.zeros(0), sampling_rate=50)
    with pytest.raises(VentgenValueError, match="1-D"):
        Recording(flow=np.zeros((2, 5)), pressure=np.zeros(10), sampling_rate=50)


def test_nan_policy_raise_names_first_sample():
    f = np.zeros(100)
    f[[7, 8]] = np.nan
    with pytest.raises(VentgenValueError, match="2 non-finite sample.*first at sample 7"):
        Recording(flow=f, pressure=np.zeros(100), sampling_rate=50)


def test_nan_policy_interpolate_fills_short_gaps_and_warns():
    f = np.arange(100, dtype=float)
    f[10:13] = np.nan
    with pytest.warns(DataRecoveryWarning, match="flow: 3 samples"):
        rec = Recording(flow=f, pressure=np.zeros(100), sampling_rate=50, nan_policy="interpolate")
    np.testing.assert_allclose(rec.flow, np.arange(100))


def test_nan_policy_interpolate_refuses_long_gap():
    f = np.zeros(500)
    f[100:200] = np.nan  # 2 s at 50 Hz
    with pytest.raises(VentgenValueError, match="gap of 100 non-finite samples.*starting at sample 100"):
        Recording(flow=f, pressure=np.zeros(500), sampling_rate=50, nan_policy="interpolate", max_gap_s=1.0)


def test_nan_policy_keep():
    f = np.zeros(10)
    f[3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = Recording(flow=f, pressure=np.zeros(10), sampling_rate=50, nan_policy="keep")
    assert rec.n_nan == 1


def test_unknown_nan_policy():
    with pytest.raises(VentgenValueError, match="nan_policy"):
        Recording(flow=np.zeros(10), pressure=np.zeros(10), sampling_rate=50, nan_policy="drop")


def _ann(rows):
    return pd.DataFrame(rows, columns=["start_s", "end_s", "label"])


def test_annotations_valid():
    rec = _rec(500, 50, annotations=_ann([(0, 2, "a"), (2, 5, "b"), (6, 10, "c")]))
    labels = rec.label_per_sample()
    assert labels[0] == "a" and labels[99] == "a" and labels[100] == "b"
    assert labels[275] == "" and labels[499] == "c"


@pytest.mark.parametrize(
    "rows, msg",
    [
        ([(2, 3, "a"), (0, 1, "b")], "not sorted"),
        ([(0, 3, "a"), (2, 4, "b")], "overlaps"),
        ([(3, 3, "a")], "end_s <= start_s"),
        ([(5, 11, "a")], "outside the signal"),
        ([(-1, 1, "a")], "outside the signal"),
    ],
)
def test_annotations_invalid(rows, msg):
    with pytest.raises(VentgenValueError, match=msg):
        _rec(500, 50, annotations=_ann(rows))


def test_annotations_missing_column():
    with pytest.raises(VentgenValueError, match="lack column"):
        _rec(annotations=pd.DataFrame({"start_s": [0.0], "end_s": [1.0]}))


def test_markers_validated():
    rec = _rec(100, 50, markers=pd.DataFrame({"start_idx": [0, 40], "end_idx": [40, -1]}))
    assert rec.n_markers == 2
    assert list(rec.markers["device_breath"]) == [-1, -1]
    with pytest.raises(VentgenValueError, match="strictly increasing"):
        _rec(100, 50, markers=pd.DataFrame({"start_idx": [40, 10]}))
    with pytest.raises(VentgenValueError, match="outside"):
        _rec(100, 50, markers=pd.DataFrame({"start_idx": [0, 100]}))
    with pytest.raises(VentgenValueError, match="end_idx"):
        _rec(100, 50, markers=pd.DataFrame({"start_idx": [10], "end_idx": [5]}))


def test_markers_from_dict_of_arrays():
    rec = _rec(100, 50, markers={"start_idx": np.array([0, 40]), "insp_end_idx": [20, 60]})
    assert list(rec.markers.columns) == ["start_idx", "end_idx", "device_breath", "insp_end_idx"]
    assert list(rec.markers["end_idx"]) == [-1, -1]
    assert list(rec.markers["insp_end_idx"]) == [20, 60]
    with pytest.raises(VentgenValueError, match="equal lengths"):
        _rec(100, 50, markers={"start_idx": [0, 40], "end_idx": [10]})
    with pytest.raises(VentgenValueError, match="integers"):
        _rec(100, 50, markers={"start_idx": ["a", "b"]})


def test_slice_clips_annotations_and_markers():
    rec = _rec(500, 50, annotations=_ann([(1, 3, "a"), (4, 6, "b")]),
               markers=pd.DataFrame({"start_idx": [50, 150, 300], "end_idx": [150, 300, -1]}))
    part = rec.slice(2.0, 5.0)
    assert part.n_samples == 150
    np.testing.assert_allclose(part.annotations["start_s"], [0.0, 2.0])
    np.testing.assert_allclose(part.annotations["end_s"], [1.0, 3.0])
    assert list(part.markers["start_idx"]) == [50]
    np.testing.assert_array_equal(part.flow, rec.flow[100:250])


def test_equals():
    a = _rec(100)
    b = _rec(100)
    assert a.equals(b)
    c = Recording(flow=a.flow + 1e-3, pressure=a.pressure, sampling_rate=50)
    assert not a.equals(c)
    assert a.equals(c, atol=1e-2)
    assert not a.equals(_rec(100, 25))
