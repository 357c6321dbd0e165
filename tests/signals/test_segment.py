"""Breath segmentation and per-breath metadata (seg room)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _synthetic import match_f1, psv_signal

import ventgen
from ventgen import Recording, breath_metadata, inspiration_end, segment_breaths
from ventgen.errors import DataRecoveryWarning, VentgenTypeError, VentgenValueError, VentgenWarning

RATE = 50.0
TOL = int(0.1 * RATE)  # +-0.1 s


def _rec(kw=None, n=60, seed=0, **rec_kw):
    f, p, s, ie = psv_signal(n, RATE, random_state=seed, **(kw or {}))
    return Recording(f, p, RATE, **rec_kw), s, ie


SCENARIOS = [
    {},
    {"noise_lpm": 1.5},
    {"rest_offset_lpm": 4.0},
    {"rest_offset_lpm": -4.0},
    {"double_trigger_every": 5},
    {"cough_every": 3},
    {"apnea_every": 5},
    {"noise_lpm": 1.0, "rest_offset_lpm": 2.0, "double_trigger_every": 7, "cough_every": 4, "apnea_every": 9},
]


@pytest.mark.parametrize("kw", SCENARIOS, ids=lambda k: ",".join(k) or "clean")
def test_flow_method_finds_true_starts(kw):
    rec, starts, _ = _rec(kw, n=80, seed=len(kw))
    df = segment_breaths(rec, method="flow")
    p, r, f1 = match_f1(starts, df["start_idx"].to_numpy(), TOL)
    assert f1 >= 0.99, (p, r)


def test_inspiration_end_on_synthetic_within_two_samples():
    rec, starts, ie = _rec({"noise_lpm": 0.3}, n=50)
    df = segment_breaths(rec, method="flow")
    k = np.searchsorted(df["start_idx"].to_numpy(), starts - TOL)
    found_ie = df["insp_end_idx"].to_numpy()[k]
    assert np.mean(np.abs(found_ie - ie) <= 2) >= 0.95


def test_table_invariants():
    rec, _, _ = _rec({"double_trigger_every": 4, "cough_every": 3})
    df = segment_breaths(rec, method="flow")
    s, ie, e = (df[c].to_numpy() for c in ("start_idx", "insp_end_idx", "end_idx"))
    assert (np.diff(s) > 0).all()
    assert (e[:-1] == s[1:]).all() and e[-1] == rec.n_samples
    assert ((s <= ie) & (ie <= e)).all()
    assert list(df.columns) == list(ventgen.signals.features.METADATA_COLUMNS)
    np.testing.assert_allclose(df["itime_s"] + df["etime_s"], (e - s) / RATE)
    np.testing.assert_allclose(df["rr_bpm"], 60 * RATE / (e - s))
    assert df["flags"].iloc[-1] == "truncated"
    assert (df["tvi_ml"] > 0).all() and (df["tve_ml"] >= 0).all()
    assert (df["breath_id"] == np.arange(len(df))).all()


def test_markers_method_reproduces_marks_exactly():
    rec, starts, ie = _rec(n=20)
    ends = np.append(starts[1:], rec.n_samples)
    mk = pd.DataFrame({"start_idx": starts, "end_idx": ends, "device_breath": np.arange(starts.size), "insp_end_idx": ie})
    rec.markers = ventgen.signals.recording._check_markers(mk, rec.n_samples)
    df = segment_breaths(rec, method="markers")
    np.testing.assert_array_equal(df["start_idx"], starts)
    np.testing.assert_array_equal(df["end_idx"], ends)
    np.testing.assert_array_equal(df["insp_end_idx"], ie)
    auto = segment_breaths(rec)  # auto uses the markers when present
    pd.testing.assert_frame_equal(auto, df)
    # markers without an end: the next start, the last one truncated
    rec.markers = ventgen.signals.recording._check_markers(pd.DataFrame({"start_idx": starts}), rec.n_samples)
    df2 = segment_breaths(rec, method="markers")
    np.testing.assert_array_equal(df2["end_idx"], ends)
    assert "truncated" in df2["flags"].iloc[-1]


def test_flow_method_ignores_markers():
    rec, starts, _ = _rec(n=20)
    rec.markers = ventgen.signals.recording._check_markers(pd.DataFrame({"start_idx": starts[::2] + 7}), rec.n_samples)
    df = segment_breaths(rec, method="flow")
    assert match_f1(starts, df["start_idx"].to_numpy(), TOL)[2] == 1.0


def test_metadata_known_answer():
    # 1 s at +30 L/min then 2 s at -15 L/min: tvi = 500 mL, tve = 500 mL, PEEP 5, PIP 20
    fl = np.concatenate([np.full(50, 30.0), np.full(100, -15.0)])
    fl = np.tile(fl, 3)
    pr = np.tile(np.concatenate([np.full(50, 20.0), np.full(100, 5.0)]), 3)
    df = breath_metadata(fl, pr, 50, [0, 150, 300], [150, 300, 450])
    np.testing.assert_array_equal(df["insp_end_idx"], [50, 200, 350])
    np.testing.assert_allclose(df["itime_s"], 1.0)
    np.testing.assert_allclose(df["etime_s"], 2.0)
    np.testing.assert_allclose(df["ie_ratio"], 0.5)
    np.testing.assert_allclose(df["rr_bpm"], 20.0)
    np.testing.assert_allclose(df["tvi_ml"], 30 * 49 / 50 / 60 * 1000)  # Simpson over 50 points spans 0.98 s
    np.testing.assert_allclose(df["tve_ml"], 15 * 99 / 50 / 60 * 1000)
    np.testing.assert_allclose(df["pip_cmh2o"], 20.0)
    np.testing.assert_allclose(df["peep_cmh2o"], 5.0)
    np.testing.assert_allclose(df["mean_insp_p_cmh2o"], 20.0)
    np.testing.assert_allclose(df["max_flow_lpm"], 30.0)
    np.testing.assert_allclose(df["min_flow_lpm"], -15.0)


def test_vectorised_simpson_matches_scipy():
    from scipy.integrate import simpson

    from ventgen.signals.features import _Simpson

    x = np.random.default_rng(0).normal(size=500)
    a = np.array([0, 3, 10, 50, 51, 120, 300, 301])
    b = np.array([1, 5, 13, 51, 60, 200, 301, 500])
    got = _Simpson(x)(a, b, 0.02)
    for ai, bi, g in zip(a, b, got, strict=True):
        seg = x[ai:bi]
        if seg.size == 1:
            assert g == 0
        elif seg.size % 2 == 1:
            assert g == pytest.approx(simpson(seg, dx=0.02))
        else:  # mean of the two Simpson + trapezoid variants (scipy's former even="avg")
            first = simpson(seg[:-1], dx=0.02) + 0.01 * (seg[-2] + seg[-1]) if seg.size > 2 else 0.01 * seg.sum()
            last = 0.01 * (seg[0] + seg[1]) + simpson(seg[1:], dx=0.02) if seg.size > 2 else 0.01 * seg.sum()
            assert g == pytest.approx(0.5 * (first + last))


def test_inspiration_end_rule():
    # inspiration with a short dip below zero (not confirmed) then the real expiration
    f = np.array([0, 20, 30, 30, -1, 25, 20, 10, -8, -10, -9, -7, -5, -3, -1, -0.5], float)
    ie = inspiration_end(f, np.array([0]), np.array([f.size]), sampling_rate=50)
    assert ie.tolist() == [8]
    # largest positive lobe ends later than the first confirmed sign change ("nubbin" first lobe)
    g = np.array([0, 5, -6, -6, 0, 30, 40, 30, 20, -10, -10, -8, -6, -4, -2, -1], float)
    assert inspiration_end(g, np.array([0]), np.array([g.size]), sampling_rate=50).tolist() == [9]
    # no expiration at all: the last sample
    h = np.full(10, 5.0)
    assert inspiration_end(h, np.array([0]), np.array([10]), sampling_rate=50).tolist() == [9]


def test_flat_signal_warns_and_returns_empty_table():
    rec = Recording(np.zeros(1000), np.full(1000, 5.0), RATE)
    with pytest.warns(VentgenWarning, match="no breath found"):
        df = segment_breaths(rec, method="flow")
    assert len(df) == 0 and list(df.columns) == list(ventgen.signals.features.METADATA_COLUMNS)


def test_flow_in_wrong_small_unit_gets_a_hint():
    t = np.arange(0, 60, 0.02)
    flow_l_per_s = 0.5 * np.sin(2 * np.pi * t / 4)  # L/s read as L/min: peaks of 0.5 "L/min"
    with pytest.warns(VentgenWarning, match="L/s"):
        df = segment_breaths(Recording(flow_l_per_s, 5 + 0 * t, RATE), method="flow")
    assert len(df) == 0


def test_single_breath():
    f, p, s, _ = psv_signal(1, RATE)
    df = segment_breaths(Recording(f, p, RATE), method="flow")
    assert len(df) == 1 and abs(df["start_idx"].iloc[0] - s[0]) <= TOL


def test_spikes_are_not_breaths():
    rec, starts, _ = _rec(n=30)
    f = rec.flow.copy()
    rng = np.random.default_rng(1)
    spikes = rng.choice(np.arange(100, f.size - 100), 15, replace=False)
    f[spikes] += 150.0  # one-sample artefacts
    df = segment_breaths(Recording(f, rec.pressure, RATE), method="flow")
    assert match_f1(starts, df["start_idx"].to_numpy(), TOL)[2] >= 0.99


def test_nan_stretch_is_flagged_and_warned():
    rec, starts, _ = _rec(n=30)
    f = rec.flow.copy()
    f[starts[10] + 60 : starts[10] + 90] = np.nan
    r2 = Recording(f, rec.pressure, RATE, nan_policy="keep")
    with pytest.warns(DataRecoveryWarning, match="non-finite"):
        df = segment_breaths(r2, method="flow")
    assert df["flags"].str.contains("artefact").sum() == 1
    assert np.isfinite(df[["tvi_ml", "tve_ml", "peep_cmh2o"]].to_numpy()).all()
    all_nan = Recording(np.full(100, np.nan), np.full(100, np.nan), RATE, nan_policy="keep")
    with pytest.raises(VentgenValueError, match="no finite sample"):
        segment_breaths(all_nan)


def test_absurd_units_raise():
    rec, _, _ = _rec(n=10)
    with pytest.raises(VentgenValueError, match="L/min"):
        segment_breaths(Recording(rec.flow * 1000.0 / 60 * 60, rec.pressure, RATE), method="flow")


def test_bad_arguments():
    rec, _, _ = _rec(n=5)
    with pytest.raises(VentgenValueError, match="method must be one of"):
        segment_breaths(rec, method="peaks")
    with pytest.raises(VentgenValueError, match="no device markers"):
        segment_breaths(rec, method="markers")
    with pytest.raises(VentgenTypeError, match="Recording"):
        segment_breaths(rec.flow)
    with pytest.raises(VentgenValueError, match="outside"):
        breath_metadata(rec.flow, rec.pressure, RATE, [0], [rec.n_samples + 1])
    with pytest.raises(VentgenValueError, match="non-overlapping"):
        breath_metadata(rec.flow, rec.pressure, RATE, [0, 50], [100, 150])


def test_rate_independence():
    """The same signal at 100 Hz gives the same breath times."""
    rec, starts, _ = _rec(n=20)
    f2 = np.interp(np.arange(2 * rec.n_samples) / 2, np.arange(rec.n_samples), rec.flow)
    p2 = np.interp(np.arange(2 * rec.n_samples) / 2, np.arange(rec.n_samples), rec.pressure)
    df = segment_breaths(Recording(f2, p2, 2 * RATE), method="flow")
    assert match_f1(starts / RATE, df["start_s"].to_numpy(), 0.1 + 1e-9)[2] >= 0.99


# ----------------------------------------------------------------------------- real PB-840 data
def _read_pb840(path):
    if not hasattr(ventgen, "read_recording"):
        pytest.skip("ventgen.read_recording (io room) not available yet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ventgen.read_recording(path)


PB840_FILES = [
    "0149_2016-02-17-08-38-13_1.csv_test",
    "bad_unicode_error.csv.test",
    "file_without_be_at_end.csv.test",
    "jimmy-example-data.csv.test",
    "raw_utils_3_columns.csv.test",
    "speedup-multi-bad-first-lines-error-case.csv.test",
]
PB840_WITH_REFERENCE = [n for n in PB840_FILES if n not in ("file_without_be_at_end.csv.test",
                                                            "speedup-multi-bad-first-lines-error-case.csv.test")]


@pytest.mark.parametrize("name", PB840_FILES)
def test_pb840_flow_method_matches_ventilator_marks(pb840_dir, name):
    rec = _read_pb840(pb840_dir / name)
    marks = rec.markers["start_idx"].to_numpy()
    bare = Recording(rec.flow, rec.pressure, rec.sampling_rate)  # no markers at all
    df = segment_breaths(bare, method="flow")
    found = df["start_idx"].to_numpy()
    # evaluate where the ventilator marked breaths (the file may start or end mid-breath)
    found = found[(found >= marks[0] - TOL) & (found <= marks[-1] + TOL)]
    p, r, _ = match_f1(marks, found, TOL)
    assert p >= 0.98 and r >= 0.98, (p, r)


@pytest.mark.parametrize("name", PB840_WITH_REFERENCE)
def test_pb840_flow_method_metadata_matches_ventmap(pb840_dir, name):
    """Matched breaths: inspiration end within 2 samples, volumes/PIP/PEEP within 2 % or 0.5 unit."""
    rec = _read_pb840(pb840_dir / name)
    ref = pd.read_csv(pb840_dir / "reference" / f"{name}.breaths.csv")
    df = segment_breaths(Recording(rec.flow, rec.pressure, rec.sampling_rate), method="flow")
    s = df["start_idx"].to_numpy()
    bs = ref["bs_idx"].to_numpy()
    k = np.clip(np.searchsorted(s, bs), 1, s.size - 1)
    k = np.where(np.abs(s[k - 1] - bs) < np.abs(s[k] - bs), k - 1, k)
    matched = np.abs(s[k] - bs) <= TOL
    assert matched.mean() >= 0.98
    m, r = df.iloc[k[matched]], ref[matched]
    assert np.mean(np.abs(m["insp_end_idx"].to_numpy() - r["ie_idx"].to_numpy()) <= 2) >= 0.95
    for mine, theirs in [("tvi_ml", "tvi"), ("tve_ml", "tve"), ("pip_cmh2o", "PIP"), ("peep_cmh2o", "PEEP")]:
        a, b = m[mine].to_numpy(), r[theirs].to_numpy()
        assert np.mean(np.abs(a - b) <= np.maximum(0.02 * np.abs(b), 0.5)) >= 0.95, mine


@pytest.mark.parametrize("name", PB840_WITH_REFERENCE)
def test_pb840_markers_metadata_equals_ventmap(pb840_dir, name):
    """From the ventilator's own marks, the metadata code reproduces ventMAP's table exactly."""
    rec = _read_pb840(pb840_dir / name)
    ref = pd.read_csv(pb840_dir / "reference" / f"{name}.breaths.csv")
    df = segment_breaths(rec, method="markers").set_index("start_idx").loc[ref["bs_idx"]]
    np.testing.assert_array_equal(df["insp_end_idx"], ref["ie_idx"])
    for mine, theirs in [("tvi_ml", "tvi"), ("tve_ml", "tve"), ("pip_cmh2o", "PIP"), ("peep_cmh2o", "PEEP"),
                         ("max_flow_lpm", "maxF"), ("min_flow_lpm", "minF"), ("mean_insp_p_cmh2o", "Maw"),
                         ("itime_s", "iTime"), ("rr_bpm", "inst_RR")]:
        np.testing.assert_allclose(df[mine].to_numpy(), ref[theirs].to_numpy(), rtol=1e-6, atol=1e-6, err_msg=mine)


def test_pb840_markers_method_reproduces_marks(pb840_dir):
    rec = _read_pb840(pb840_dir / "0149_2016-02-17-08-38-13_1.csv_test")
    df = segment_breaths(rec, method="markers")
    np.testing.assert_array_equal(df["start_idx"], rec.markers["start_idx"])


def test_simulated_cohort_breath_starts():
    """The physiological simulator's true breaths (sim room), found from flow and pressure alone."""
    if not hasattr(ventgen, "simulate_cohort"):
        pytest.skip("ventgen.simulate_cohort not available")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = ventgen.simulate_cohort(n_subjects=3, minutes=10, sampling_rate=50, random_state=0, progress=False)
    tp = n_true = n_found = 0
    for rec in recs:
        true = rec.markers["start_idx"].to_numpy()
        bare = Recording(rec.flow, rec.pressure, rec.sampling_rate)  # no markers: flow method only
        found = segment_breaths(bare, method="flow")["start_idx"].to_numpy()
        p, r, _ = match_f1(true, found, TOL)
        tp += r * true.size
        n_true += true.size
        n_found += found.size
    f1 = 2 * tp / (n_true + n_found)
    assert f1 >= 0.98, f1
