"""Tests of the physiological simulator (ventgen.signals.simulate: patient, ventilator, events, effort)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ventgen
from ventgen import VENTILATION_CLASSES, VENTILATION_TREE, simulate_cohort, simulate_recording
from ventgen._core import check_random_state
from ventgen.signals.simulate import draw_patient, plan_events, resolve_proportions
from ventgen.signals.simulate.api import _simulate
from ventgen.signals.simulate.ventilator import _solve_volume
from ventgen.signals.simulate.waveforms import albanese_pmus

RATE = 50.0


@pytest.fixture(scope="module")
def rec5():
    """Five minutes with every class (default proportions)."""
    return simulate_recording(minutes=5, random_state=3)


@pytest.fixture(scope="module")
def core():
    """Internals of a 6-minute simulation (hidden effort, patient flow, settings)."""
    rng = check_random_state(11)
    n = int(6 * 60 * RATE)
    return _simulate(n, RATE, rng, resolve_proportions(None), "psv", None, {}, {}, "mask")


def _breath_labels(rec):
    return np.asarray(VENTILATION_CLASSES, dtype=object)[rec.markers["label_code"].to_numpy()]


# ------------------------------------------------------------------ shapes, units, API
def test_shapes_units_rate(rec5):
    assert rec5.sampling_rate == RATE
    assert rec5.n_samples == 5 * 60 * 50
    assert rec5.volume is not None and rec5.volume.shape == rec5.flow.shape
    assert rec5.channels == ["flow_lpm", "paw_cmh2o", "volume_ml"]
    # plausible physical ranges: L/min, cmH2O
    assert 20 < np.percentile(rec5.flow, 99) < 250
    assert -600 < rec5.flow.min() < -10
    s = rec5.metadata["settings"]
    assert s["peep"] - 3 < np.median(rec5.pressure) < s["peep"] + s["support"] + 1
    assert np.all(np.isfinite(rec5.flow)) and np.all(np.isfinite(rec5.pressure))


def test_other_rate_and_modes():
    r = simulate_recording(minutes=1, sampling_rate=100, random_state=0, mode="pcv")
    assert r.n_samples == 6000 and r.sampling_rate == 100
    assert len(simulate_recording(minutes=1, random_state=0, mode="vcv").markers) > 5
    c = simulate_recording(minutes=2, random_state=0, mode="cpap", proportions={"normal breathing": 1})
    # CPAP: no pressure support, pressure stays near the CPAP level
    peep = c.metadata["settings"]["peep"]
    assert abs(np.median(c.pressure) - peep) < 0.5
    assert len(c.markers) > 10


def test_volume_control_delivers_set_volume_and_flow():
    rng = check_random_state(4)
    n = int(3 * 60 * RATE)
    out = _simulate(n, RATE, rng, resolve_proportions({"normal breathing": 1}), "vcv", "healthy", {},
                    {"tidal_volume_ml": 500.0, "peak_flow_lpm": 60.0, "decelerating": 0.0, "pause_s": 0.0},
                    "invasive")
    m, v = out["markers"], out["vent"]
    st, ie = m["start_idx"].to_numpy(), m["insp_end_idx"].to_numpy()
    delivered = (v.vol[ie] - v.vol[st]) * 1000
    limited = np.array([v.paw[e - 1] >= out["settings"].pressure_limit - 1e-9 for e in ie])
    assert np.mean(limited) < 0.1
    np.testing.assert_allclose(delivered[~limited], 500.0, rtol=0.06)
    # square flow: the inspiratory flow sits at the set peak flow
    mid = (st + ie) // 2
    np.testing.assert_allclose(np.median(v.q[mid] * 60), 60.0, rtol=1e-6)
    # the pressure rises during a square-flow inspiration (elastic load)
    assert np.median(v.paw[ie - 1] - v.paw[st + 1]) > 2.0


def test_determinism_same_seed_same_bytes():
    a = simulate_cohort(n_subjects=2, minutes=1, random_state=5, progress=False)
    b = simulate_cohort(n_subjects=2, minutes=1, random_state=5, progress=False)
    for x, y in zip(a, b, strict=True):
        assert x.flow.tobytes() == y.flow.tobytes()
        assert x.pressure.tobytes() == y.pressure.tobytes()
        assert x.volume.tobytes() == y.volume.tobytes()
        assert x.markers.equals(y.markers) and x.annotations.equals(y.annotations)
    c = simulate_cohort(n_subjects=2, minutes=1, random_state=6, progress=False)
    assert a[0].flow.tobytes() != c[0].flow.tobytes()
    assert a[0].flow.tobytes() != a[1].flow.tobytes()  # subjects differ
    # subject i does not depend on the cohort size
    one = simulate_cohort(n_subjects=1, minutes=1, random_state=5, progress=False)[0]
    assert one.flow.tobytes() == a[0].flow.tobytes()
    assert [r.subject for r in a] == ["sim-01", "sim-02"]


# ------------------------------------------------------------------ annotations and markers
def test_annotations_cover_recording_and_all_classes(rec5):
    ann = rec5.annotations
    assert list(ann.columns[:4]) == ["start_s", "end_s", "label", "superclass"]
    assert ann["start_s"].iloc[0] == 0.0
    assert ann["end_s"].iloc[-1] == pytest.approx(rec5.duration_s)
    np.testing.assert_allclose(ann["start_s"].to_numpy()[1:], ann["end_s"].to_numpy()[:-1])
    assert set(ann["label"]) == set(VENTILATION_CLASSES)
    for lab, sup in zip(ann["label"], ann["superclass"], strict=True):
        assert VENTILATION_TREE.ancestor(lab, 1) == sup
    assert "" not in set(rec5.label_per_sample())


def test_markers_are_true_breaths_inside_their_annotation(rec5):
    m = rec5.markers
    st, ie, en = (m[c].to_numpy() for c in ("start_idx", "insp_end_idx", "end_idx"))
    assert np.all(st < ie) and np.all(ie < en) and np.all(en[:-1] == st[1:])
    assert en[-1] <= rec5.n_samples
    assert np.array_equal(m["device_breath"].to_numpy(), np.arange(1, len(m) + 1))
    per_sample = rec5.label_per_sample()
    labels = _breath_labels(rec5)
    assert np.array_equal(per_sample[st], labels)
    assert np.array_equal(per_sample[en - 1], labels)  # the whole breath lies in one annotation
    # inspiration: flow mostly positive; breath durations physiological
    dur = (en - st) / RATE
    normal = labels == "normal breathing"
    assert 1.0 < np.median(dur[normal]) < 8.0
    insp_mean = np.array([rec5.flow[a:b].mean() for a, b in zip(st, ie, strict=True)])
    assert np.mean(insp_mean[normal] > 0) > 0.9  # a few asynchronous breaths (late triggers) are allowed


def test_proportions_honoured():
    r = simulate_recording(minutes=10, random_state=2,
                           proportions={"normal breathing": 0.5, "snoring": 0.3, "lying down": 0.2})
    ann = r.annotations
    share = (ann["end_s"] - ann["start_s"]).groupby(ann["label"]).sum() / r.duration_s
    assert set(share.index) == {"normal breathing", "snoring", "lying down"}
    assert share["normal breathing"] == pytest.approx(0.5, abs=0.08)
    assert share["snoring"] == pytest.approx(0.3, abs=0.08)
    assert share["lying down"] == pytest.approx(0.2, abs=0.08)
    only = simulate_recording(minutes=2, random_state=2, proportions={"normal breathing": 1})
    assert set(only.annotations["label"]) == {"normal breathing"}


def test_resolve_proportions_superclass_and_errors():
    p = resolve_proportions({"normal breathing": 2, "movement": 2})
    assert p["normal breathing"] == pytest.approx(0.5) and p["knees to chest"] == pytest.approx(0.125)
    assert sum(p.values()) == pytest.approx(1.0)
    with pytest.raises(ventgen.VentgenValueError, match="unknown class 'sneezing'"):
        resolve_proportions({"sneezing": 1})
    with pytest.raises(ventgen.VentgenValueError, match=">= 0"):
        resolve_proportions({"apnea": -1})
    with pytest.raises(ventgen.VentgenValueError, match="positive weight"):
        resolve_proportions({"apnea": 0})
    with pytest.raises(ventgen.VentgenTypeError):
        resolve_proportions(["apnea"])
    assert resolve_proportions("normal breathing = 1, movement=1") == p
    with pytest.raises(ventgen.VentgenValueError, match="item 2 .* is not 'class=weight'"):
        resolve_proportions("apnea=1, snoring")


def test_plan_events_contiguous():
    rng = np.random.default_rng(0)
    w = plan_events(600.0, resolve_proportions(None), rng)
    assert w["start_s"].iloc[0] == 0 and w["end_s"].iloc[-1] == 600.0
    np.testing.assert_allclose(w["start_s"].to_numpy()[1:], w["end_s"].to_numpy()[:-1])
    assert set(w["label"]) == set(VENTILATION_CLASSES)


# ------------------------------------------------------------------ physics
def test_solver_matches_analytic_exponential():
    dt, R, C, D = 0.02, 10.0, 0.05, 10.0
    m = 200
    v = _solve_volume(0.0, np.full(m, D), np.full(m, R), np.full(m, C), dt)
    t = np.arange(1, m + 1) * dt
    np.testing.assert_allclose(v, C * D * (1 - np.exp(-t / (R * C))), rtol=1e-9, atol=1e-12)
    # very long and stiff segments stay finite (chunked closed form)
    v = _solve_volume(0.1, np.zeros(20000), np.full(20000, 2.0), np.full(20000, 0.02), dt)
    assert np.all(np.isfinite(v)) and abs(v[-1]) < 1e-12


def test_volume_is_integral_of_flow(rec5):
    st = rec5.markers["start_idx"].to_numpy()
    dv = np.diff(rec5.volume)
    expected = rec5.flow[:-1] * 1000.0 / 60.0 / RATE
    inside = np.ones(rec5.n_samples - 1, dtype=bool)
    inside[st - 1] = False  # volume resets at each breath start
    np.testing.assert_allclose(dv[inside], expected[inside], atol=1e-9)
    assert np.all(rec5.volume[st] == 0)


def test_lung_volume_returns_to_baseline_over_normal_breaths(core):
    m = core["markers"]
    vol = core["vent"].vol * 1000  # mL, relaxed volume at PEEP = 0
    lab = np.asarray(VENTILATION_CLASSES, dtype=object)[m["label_code"].to_numpy()]
    normal = (lab == "normal breathing") & (m["mandatory"].to_numpy() == 0)
    st, ie = m["start_idx"].to_numpy()[normal], m["insp_end_idx"].to_numpy()[normal]
    tvi = vol[ie] - vol[st]
    # end-expiratory volume stays near baseline (at most some dynamic hyperinflation)
    assert np.median(np.abs(vol[st])) < 0.35 * np.median(tvi)
    # no drift over the recording
    assert abs(np.median(vol[st][-20:]) - np.median(vol[st][:20])) < 0.3 * np.median(tvi)


def test_peep_and_pressure_floor(core):
    m = core["markers"]
    s = core["settings"]
    paw = core["pressure"]
    lab = np.asarray(VENTILATION_CLASSES, dtype=object)[m["label_code"].to_numpy()]
    normal = lab == "normal breathing"
    en = m["end_idx"].to_numpy()[normal]
    en = en[en < len(paw)]
    peep_meas = np.array([paw[e - 5:e].mean() for e in en])  # ventMAP-style PEEP: last 5 samples
    assert abs(np.median(peep_meas) - s.peep) < 0.6
    # outside events, pressure never falls below PEEP minus the trigger dip
    st_all, en_all = m["start_idx"].to_numpy(), m["end_idx"].to_numpy()
    idx = np.concatenate([np.arange(a, b) for a, b in zip(st_all[normal], en_all[normal], strict=True)])
    assert paw[idx].min() > s.peep - 3.0
    # and pressure support is delivered: peak inspiratory pressure near PEEP + support
    pip = np.array([paw[a:b].max() for a, b in zip(m["start_idx"][normal], m["insp_end_idx"][normal], strict=True)])
    assert abs(np.median(pip) - (s.peep + s.support)) < 1.5


def test_apnea_has_no_effort_for_ten_seconds(core):
    pmus = core["drives"].pmus
    ann = core["annotations"]
    apneas = ann[ann["label"] == "apnea"]
    assert len(apneas) >= 1
    for _, a in apneas.iterrows():
        seg = pmus[int(a.start_s * RATE):int(a.end_s * RATE)]
        quiet = np.concatenate(([0], (seg == 0).astype(np.int8), [0]))
        d = np.diff(quiet)
        runs = np.flatnonzero(d == -1) - np.flatnonzero(d == 1)
        assert runs.max() / RATE >= 10.0
    # backup breaths are delivered during apnea, and only rarely outside it
    m = core["markers"]
    lab = np.asarray(VENTILATION_CLASSES, dtype=object)[m["label_code"].to_numpy()]
    mand = m["mandatory"].to_numpy() == 1
    assert mand[lab == "apnea"].sum() >= 1
    assert mand[lab == "normal breathing"].mean() < 0.1


def test_cough_expiratory_peak_exceeds_normal(rec5):
    m = rec5.markers
    lab = _breath_labels(rec5)
    st, en = m["start_idx"].to_numpy(), m["end_idx"].to_numpy()
    peak_exp = np.array([-rec5.flow[a:b].min() for a, b in zip(st, en, strict=True)])
    cough = peak_exp[lab == "coughing"]
    normal = peak_exp[lab == "normal breathing"]
    assert cough.size >= 2
    assert np.median(cough) > 1.5 * np.median(normal)
    assert cough.max() > np.percentile(normal, 99)


def test_swallow_stops_flow_inside_the_breath(core):
    d = core["drives"]
    q = core["vent"].q * 60
    closed = (d.r_add >= 500 - 1e-9) & (d.r_add < 700)  # swallow closures (coughs close at +800)
    lab = core["efforts"]
    assert (lab["label"] == "swallowing").any()
    # during airway closure the patient's flow is (almost) zero
    assert np.abs(q[closed]).max() < 5.0


def test_classes_overlap_in_breath_metadata():
    """Positioning breaths are not trivially separable from normal ones (realism guard)."""
    r = simulate_recording(minutes=8, random_state=4,
                           proportions={"normal breathing": 0.5, "lying down": 0.25, "turning left": 0.25})
    m = r.markers
    lab = _breath_labels(r)
    ie = m["insp_end_idx"].to_numpy()
    tvi = np.array([r.volume[b - 1] for b in ie])
    a, b = tvi[lab == "normal breathing"], tvi[lab == "lying down"]
    # the ranges of tidal volume overlap substantially
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    assert hi > lo and np.mean((b >= lo) & (b <= hi)) > 0.5


def test_albanese_profile():
    p = albanese_pmus(6.0, 1.2, 4.0, 0.01)
    assert p.max() == pytest.approx(6.0, rel=1e-3)
    assert np.argmax(p) == pytest.approx(120, abs=1)
    assert p[0] == 0 and p[-1] < 0.05 and np.all(p >= 0)


def test_draw_patient_ranges():
    for ph in ("healthy", "obstructive", "restrictive"):
        p = draw_patient(0, ph)
        assert p.phenotype == ph and p.compliance_ml_cmh2o > 0 and p.resistance_cmh2o_l_s > 0
    assert draw_patient(0, "healthy", interface="invasive").leak_k == 0


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"minutes": 0}, "minutes must be a positive"),
        ({"minutes": 0.05}, "too short"),
        ({"sampling_rate": 5}, r"sampling_rate must be a number of Hz in \[10, 1000\]"),
        ({"mode": "hfov"}, "mode must be one of"),
        ({"interface": "helmet"}, "interface must be one of"),
        ({"proportions": {"yawning": 1}}, "unknown class 'yawning'"),
        ({"settings": {"peeep": 5}}, r"unknown field\(s\) \['peeep'\]"),
        ({"patient": {"compliance_ml_cmh2o": -3}}, "must be >= 0"),
        ({"phenotype": "athletic"}, "phenotype must be one of"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ventgen.VentgenValueError, match=match):
        simulate_recording(**{"minutes": 1, **kwargs})


def test_cohort_bad_arguments():
    with pytest.raises(ventgen.VentgenValueError, match="n_subjects must be a positive integer"):
        simulate_cohort(n_subjects=0, minutes=1)
    with pytest.raises(ventgen.VentgenValueError, match="phenotypes has 1 entries"):
        simulate_cohort(n_subjects=2, minutes=1, phenotypes=["healthy"])
    with pytest.raises(ventgen.VentgenTypeError):
        simulate_cohort(n_subjects=1, minutes=1, random_state="zero")


def test_cohort_shares_one_ventilator_protocol_unless_asked():
    shared = simulate_cohort(n_subjects=3, minutes=0.5, random_state=7, progress=False)
    assert all(r.metadata["settings"] == shared[0].metadata["settings"] for r in shared)
    assert shared[0].metadata["patient"] != shared[1].metadata["patient"]
    own = simulate_cohort(n_subjects=3, minutes=0.5, random_state=7, progress=False, shared_settings=False)
    assert len({(r.metadata["settings"]["peep"], r.metadata["settings"]["support"],
                 r.metadata["settings"]["rise_time_s"]) for r in own}) == 3
    fixed = simulate_cohort(n_subjects=2, minutes=0.5, random_state=7, progress=False, settings={"peep": 6})
    assert [r.metadata["settings"]["peep"] for r in fixed] == [6, 6]


def test_overrides_are_used():
    r = simulate_recording(minutes=1, random_state=0, settings={"peep": 8, "support": 6},
                           patient={"compliance_ml_cmh2o": 40.0}, phenotype="healthy", interface="invasive")
    assert r.metadata["settings"]["peep"] == 8 and r.metadata["settings"]["support"] == 6
    assert r.metadata["patient"]["compliance_ml_cmh2o"] == 40.0
    assert r.metadata["patient"]["leak_k"] == 0


# ------------------------------------------------------------------ files and CLI
def test_write_and_cli_round_trip(tmp_path):
    from ventgen.cli import main

    rc = main(["--quiet", "simulate", "-o", str(tmp_path / "a"), "--subjects", "2", "--minutes", "0.5",
               "--seed", "3"])
    assert rc == 0
    files = sorted((tmp_path / "a").glob("*.h5"))
    assert [f.name for f in files] == ["sim-01.h5", "sim-02.h5"]
    back = ventgen.read_recording(files[0])
    ref = simulate_cohort(n_subjects=1, minutes=0.5, random_state=3, progress=False)[0]
    assert back.equals(ref)
    assert back.markers[list(ref.markers.columns)].equals(ref.markers)
    # same seed -> same bytes on disk (HDF5 and CSV)
    assert main(["--quiet", "simulate", "-o", str(tmp_path / "b"), "--subjects", "1", "--minutes", "0.5",
                 "--seed", "3"]) == 0
    assert (tmp_path / "a" / "sim-01.h5").read_bytes() == (tmp_path / "b" / "sim-01.h5").read_bytes()
    for d in ("c1", "c2"):
        assert main(["--quiet", "simulate", "-o", str(tmp_path / d), "--subjects", "1", "--minutes", "0.5",
                     "--format", "csv"]) == 0
    for name in ("sim-01.csv", "sim-01.markers.csv", "sim-01.annotations.csv"):
        assert (tmp_path / "c1" / name).read_bytes() == (tmp_path / "c2" / name).read_bytes()
    # proportions from the command line
    assert main(["--quiet", "simulate", "-o", str(tmp_path / "p"), "--subjects", "1", "--minutes", "1",
                 "--proportions", "normal breathing=1, apnea=1"]) == 0
    labs = set(ventgen.read_recording(tmp_path / "p" / "sim-01.h5").annotations["label"])
    assert labs == {"normal breathing", "apnea"}
    assert main(["--quiet", "simulate", "-o", str(tmp_path / "q"), "--minutes", "1", "--proportions", "yawn=1"]) == 2
    # never overwrite silently
    assert main(["--quiet", "simulate", "-o", str(tmp_path / "c1"), "--minutes", "0.5", "--subjects", "1",
                 "--format", "csv"]) == 2


def test_annotation_frame_types(rec5):
    ann = rec5.annotations
    assert isinstance(ann, pd.DataFrame)
    assert ann["start_s"].dtype == float and pd.api.types.is_string_dtype(ann["label"])
