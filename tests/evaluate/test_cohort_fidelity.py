"""Fidelity building blocks on arrays with known answers, and the full report once segmentation exists."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import ventgen
from ventgen.errors import VentgenValueError
from ventgen.evaluate.fidelity import (
    composition_f1,
    cycle_features,
    detection_by_label,
    discriminative_score,
    discriminative_table,
    ks_floor,
    ks_table,
    match_breaths,
    memorisation_check,
    tstr_trtr,
)


def test_match_breaths_known_answer():
    d = match_breaths([0, 4, 8, 12], [0.1, 4.0, 9.5, 12.2, 14], tolerance_s=0.3)
    assert (d["tp"], d["n_true"], d["n_found"]) == (3, 4, 5)
    assert d["precision"] == pytest.approx(3 / 5) and d["recall"] == pytest.approx(3 / 4)
    assert d["f1"] == pytest.approx(6 / 9)
    # one detection cannot match two true breaths, and vice versa
    d = match_breaths([1.0, 1.2], [1.1], tolerance_s=0.3)
    assert d["tp"] == 1
    assert match_breaths(np.arange(50) * 3.0, np.arange(50) * 3.0 + 0.05)["f1"] == 1.0


def test_detection_by_label_counts_what_match_breaths_counts_and_weights_to_a_composition():
    import warnings

    recs = ventgen.simulate_cohort(n_subjects=2, minutes=4, random_state=1, progress=False)
    t = detection_by_label(recs, progress_bar=False)
    tot = {"n_true": 0, "n_found": 0, "tp": 0}
    for r in recs:  # the same matching, recording by recording, gives the same totals
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = match_breaths(ventgen.segment_breaths(r, method="markers")["start_s"],
                              ventgen.segment_breaths(r, method="flow")["start_s"])
        tot = {k: tot[k] + d[k] for k in tot}
    assert {k: int(t[k].sum()) for k in tot} == tot
    assert (t["recall"] == t["tp"] / t["n_true"]).all() and (t["tp"] <= t["n_true"]).all()
    assert set(t["label"]) <= set(recs[0].annotations["label"]) | set(recs[1].annotations["label"])
    # the weighting to a composition: one class is the class's own F1, the mix is known
    one = t.iloc[[0]]
    lab, r, f = one["label"].iloc[0], one["recall"].iloc[0], one["found_per_true"].iloc[0]
    assert composition_f1(t, {lab: 1.0}) == pytest.approx(2 * r / (1 + f))
    known = pd.DataFrame({"label": ["a", "b"], "recall": [1.0, 0.5], "found_per_true": [1.0, 1.0]})
    assert composition_f1(known, {"a": 3, "b": 1}) == pytest.approx(2 * 0.875 / 2)  # fractions normalised
    with pytest.raises(VentgenValueError, match=r"no real breaths labelled \['c'\].*labels at hand: \['a', 'b'\]"):
        composition_f1(known, {"a": 0.5, "c": 0.5})


def test_ks_table_detects_shift_per_class():
    rng = np.random.default_rng(0)
    n = 400
    real = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 2 * n), "tvi_ml": rng.normal(500, 50, 2 * n)})
    lab = np.r_[["a"] * n, ["b"] * n]
    syn = real.copy()
    syn["rr_bpm"] = rng.normal(15, 2, 2 * n)
    syn["tvi_ml"] = rng.normal(500, 50, 2 * n) + np.where(lab == "b", 100, 0)  # class b drifts
    t = ks_table(real, syn, lab, lab, columns=["rr_bpm", "tvi_ml"]).set_index(["label", "column"])
    assert t.loc[("a", "rr_bpm"), "ks"] < 0.1 and t.loc[("a", "tvi_ml"), "ks"] < 0.1
    assert t.loc[("b", "tvi_ml"), "ks"] > 0.5
    # classes missing on one side are not compared; tiny classes give NaN
    lab2 = lab.copy()
    lab2[:3] = "c"
    t2 = ks_table(real, syn, lab2, np.r_[lab2[:-1], ["z"]], columns=["rr_bpm"])
    assert set(t2["label"]) == {"a", "b", "c"} and np.isnan(t2.set_index("label").loc["c", "ks"])


def test_tstr_equals_trtr_when_synthetic_is_real_like():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (200, 6)), rng.normal(2, 1, (200, 6))]
    y = np.r_[["a"] * 200, ["b"] * 200]
    Xs = np.r_[rng.normal(0, 1, (200, 6)), rng.normal(2, 1, (200, 6))]
    d = tstr_trtr(X, y, Xs, y, random_state=0)
    assert d["trtr_accuracy"] > 0.9 and d["ratio"] > 0.9
    # synthetic labels swapped: TSTR collapses
    bad = tstr_trtr(X, y, Xs, y[::-1], random_state=0)
    assert bad["tstr_accuracy"] < 0.2
    with pytest.raises(VentgenValueError, match="at least 2 classes"):
        tstr_trtr(X, y, Xs, np.full(400, "a"))


def test_tstr_is_not_lowered_by_other_class_proportions():
    # the synthetic breaths follow the real class laws exactly, but balanced where the real ones are 85/15;
    # the classes overlap, so a forest trained on the balanced set would lose accuracy to the prior alone
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(0, 1, (1700, 4)), rng.normal(1, 1, (300, 4))]
    y = np.r_[["a"] * 1700, ["b"] * 300]
    Xs = np.r_[rng.normal(0, 1, (1000, 4)), rng.normal(1, 1, (1000, 4))]
    ys = np.r_[["a"] * 1000, ["b"] * 1000]
    d = tstr_trtr(X, y, Xs, ys, random_state=0)
    assert d["n_real_train"] == d["n_synthetic_train"]  # class-matched training sets
    assert abs(d["ratio"] - 1) < 0.05


def test_discriminative_score_known_answers():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (400, 5)), rng.normal(0, 1, (400, 5))
    assert discriminative_score(a, b, random_state=0)["score"] < 0.08
    assert discriminative_score(a, b + 3, random_state=0)["score"] > 0.45
    # class mix alone does not give synthetic breaths away: matched per class
    ya = np.r_[["n"] * 300, ["x"] * 100]
    yb = np.r_[["n"] * 100, ["x"] * 300]
    a2 = a + np.where(ya == "x", 5, 0)[:, None]
    b2 = b + np.where(yb == "x", 5, 0)[:, None]
    d = discriminative_score(a2, b2, ya, yb, random_state=0)
    assert d["n_per_side"] == 200 and d["score"] < 0.08


def test_memorisation_flags_copies_not_fresh_samples():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(600, 8))
    fresh = memorisation_check(real, rng.normal(size=(300, 8)))
    assert fresh["n_exact_copies"] == 0 and fresh["fraction_below_real_p05"] < 0.15 and fresh["passes"]
    copies = memorisation_check(real, real[:100] + 1e-9)
    assert copies["n_exact_copies"] == 100 and copies["fraction_below_real_p01"] == 1.0 and not copies["passes"]
    # jittered copies are no exact copies but sit far too close to their originals
    near = memorisation_check(real, real[:300] + rng.normal(0, 0.3, (300, 8)))
    assert near["n_exact_copies"] == 0 and near["fraction_below_real_p05"] > 0.5 and not near["passes"]


def test_cycle_features_shape():
    assert cycle_features(np.zeros((3, 2, 200)), step=4).shape == (3, 100)
    with pytest.raises(VentgenValueError, match="channels, time"):
        cycle_features(np.zeros((3, 200)))


def test_ks_floor_is_the_sampling_noise_at_the_synthetic_size():
    rng = np.random.default_rng(1)
    real = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 4000), "tvi_ml": rng.normal(500, 50, 4000)})
    lab = np.r_[["a"] * 3000, ["b"] * 1000]
    cols = ["rr_bpm", "tvi_ml"]
    small = ks_floor(real, lab, {"a": 50, "b": 50}, cols, random_state=0)
    large = ks_floor(real, lab, {"a": 1500, "b": 500}, cols, random_state=0)
    # the median KS of one distribution against itself: about 0.83 / sqrt(n m / (n + m))
    assert 0.6 * 0.83 / np.sqrt(50) < small < 1.6 * 0.83 / np.sqrt(50)
    assert large < small / 2
    assert ks_floor(real, lab, {"a": 50, "b": 50}, cols, random_state=0) == small  # same seed, same number
    assert np.isnan(ks_floor(real, lab, {"c": 50}, cols))  # no class in common
    # without labels every breath is in one class
    assert ks_floor(real, None, {"all": 100}, cols) < 0.2


def test_evaluate_cohort_on_double(tmp_path):
    """Generate from the test double, write, and evaluate against the double's own reference cycles."""
    from _cohort_double import DoubleModel, make_reference

    ref0 = make_reference(per_subject=250)
    real = ventgen.CycleSet(ref0.X, lengths=ref0.lengths, sampling_rate=ref0.sampling_rate,
                            labels=ref0.labels, superclasses=ref0.superclasses, subjects=ref0.subjects)
    model = DoubleModel(ref0)
    # the double's "apnea" is a 3 L/min breath that flow segmentation rightly ignores: leave it out
    spec = {"patients": 2, "breaths": 150, "composition": {"normal breathing": 0.6, "snoring": 0.4}}
    res = ventgen.generate_cohort(model, spec, real, random_state=0)
    ventgen.write_cohort(res, tmp_path / "cohort")
    rep = ventgen.evaluate_cohort(tmp_path / "cohort", real, out_dir=tmp_path / "fid", random_state=0, model=model,
                                  cnn_epochs=0)  # the CNN's score: test_evaluate_cohort_reports_both_classifiers
    s = rep.summary()
    assert s["composition_max_abs_difference"] == 0
    assert s["segmentation_f1"] > 0.98
    assert set(rep.segmentation["recall_by_label"]) == {"normal breathing", "snoring"}
    assert s["tstr_over_trtr"] > 0.85
    # the double reconstructs its own waveforms almost exactly: a near-perfect ceiling
    assert rep.ceiling["ks_median"] < 0.15 and rep.ceiling["ratio"] > 0.9
    assert json.loads((tmp_path / "fid" / "fidelity.json").read_text())["reconstruction_ceiling"]["ks_median"] < 0.15
    assert (tmp_path / "fid" / "fidelity.json").is_file() and (tmp_path / "fid" / "ks_rr_bpm.png").is_file()
    assert rep.discriminative_cnn == {"classifier": "cnn_1d", "skipped": "cnn_epochs=0"}
    assert "cnn_discriminative_score" not in rep.ceiling
    summary = json.loads((tmp_path / "fid" / "fidelity.json").read_text())["summary"]
    assert summary["ks_median"] == pytest.approx(rep.ks_median)
    assert 0 < summary["ks_median_floor"] < 0.5 and "floor" in repr(rep)
    with pytest.raises(FileExistsError):
        ventgen.evaluate_cohort(res, real, out_dir=tmp_path / "fid")


def test_reconstruction_ceiling_rmse_leaves_out_the_padding():
    from _cohort_double import make_reference

    from ventgen.evaluate.fidelity import reconstruction_ceiling

    ref = make_reference(per_subject=120)
    cycles = ventgen.CycleSet(ref.X, lengths=ref.lengths, sampling_rate=ref.sampling_rate, labels=ref.labels)
    pad = np.arange(ref.X.shape[2])[None, None, :] >= ref.lengths[:, None, None]

    class ExactInsideTheBreaths:
        def reconstruct(self, X):
            return np.where(pad, np.asarray(X) + 100.0, X)  # wrong only after each cycle's length

    out = reconstruction_ceiling(ExactInsideTheBreaths(), cycles, cnn_epochs=4)
    assert out["rmse"] == {"flow_lpm": 0.0, "paw_cmh2o": 0.0}
    # the reconstructions are cut and edge-padded like real cycles: the decoded padding cannot give
    # them away, and a decoder exact inside the breaths is indistinguishable from the real breaths
    assert out["discriminative_score"] < 0.1 and out["ratio"] > 0.95 and out["cnn_discriminative_score"] < 0.1
    # with generation's observation model: a zero residual adds nothing
    obs = reconstruction_ceiling(ExactInsideTheBreaths(), cycles, noise="residual", boundary="residual", cnn_epochs=0)
    assert (obs["noise"], obs["boundary"]) == ("residual", "residual")
    assert obs["discriminative_score"] < 0.1 and obs["rmse"] == out["rmse"]


def _small_cohort(per_subject=90, breaths=60):
    from _cohort_double import DoubleModel, make_reference

    ref = make_reference(per_subject=per_subject)
    real = ventgen.CycleSet(ref.X, lengths=ref.lengths, sampling_rate=ref.sampling_rate, labels=ref.labels,
                            superclasses=ref.superclasses, subjects=ref.subjects)
    model = DoubleModel(ref)
    spec = {"patients": 2, "breaths": breaths, "composition": {"normal breathing": 0.6, "snoring": 0.4}}
    return real, model, ventgen.generate_cohort(model, spec, real, random_state=0)


def test_evaluate_cohort_reports_both_classifiers_with_floor_and_ceiling(tmp_path):
    real, model, res = _small_cohort(per_subject=200)  # real breaths enough for the cohort's size in each half
    rep = ventgen.evaluate_cohort(res, real, out_dir=tmp_path / "fid", random_state=0, model=model, cnn_epochs=3,
                                  columns=["rr_bpm"])
    forest, cnn = rep.discriminative, rep.discriminative_cnn
    assert (forest["classifier"], cnn["classifier"], cnn["epochs"]) == ("random_forest", "cnn_1d", 3)
    for d in (forest, cnn):
        assert 0 <= d["score"] <= 0.5 and d["n_per_side"] >= 10
        assert sum(d["per_class"].values()) == d["n_per_side"] and set(d["per_class"]) == {"normal breathing", "snoring"}
        # the floor and the between-subjects score: two random halves of the real breaths, class-matched,
        # as many breaths as the score compares (a score grows with the breaths it learns from)
        for ref in (d["floor"], d["between_subjects"]):
            assert 0 <= ref["score"] <= 0.5 and set(ref["per_class"]) == set(d["per_class"])
            # at most the score's breaths of each class; as many where each half holds them
            assert all(ref["per_class"][c] <= k for c, k in d["per_class"].items())
            assert ref["per_class"]["normal breathing"] == d["per_class"]["normal breathing"]
    assert 0 <= rep.ceiling["cnn_discriminative_score"] <= 0.5
    # the ceiling, too, at the cohort's size (here the real snoring breaths are fewer than the cohort's)
    assert forest["per_class"]["normal breathing"] < rep.ceiling["n_per_side"] <= forest["n_per_side"]
    s = rep.summary()
    assert s["discriminative_score"] == forest["score"] and s["cnn_discriminative_score"] == cnn["score"]
    assert s["discriminative_score_floor"] == forest["floor"]["score"]
    assert s["cnn_discriminative_score_floor"] == cnn["floor"]["score"]
    for d, key in ((forest, "discriminative_score"), (cnn, "cnn_discriminative_score")):
        # new real subjects: half the real subjects against the other half, class-matched
        assert 0 <= d["between_subjects"]["score"] <= 0.5 and d["between_subjects"]["n_per_side"] >= 10
        assert s[f"{key}_between_subjects"] == d["between_subjects"]["score"]
    table = rep.discriminative_table()
    assert table["classifier"].tolist() == ["random forest, cycle features", "1-D CNN, raw cycles"]
    assert table["ceiling"].tolist() == [rep.ceiling["discriminative_score"], rep.ceiling["cnn_discriminative_score"]]
    doc = json.loads((tmp_path / "fid" / "fidelity.json").read_text())
    assert doc["discriminative_cnn"]["floor"]["score"] == cnn["floor"]["score"]
    assert doc["discriminative"]["score"] == forest["score"] and "floor" in doc["discriminative"]
    assert doc["reconstruction_ceiling"]["cnn_discriminative_score"] == rep.ceiling["cnn_discriminative_score"]
    assert discriminative_table(doc).equals(table)
    assert table["between subjects"].tolist() == [forest["between_subjects"]["score"], cnn["between_subjects"]["score"]]
    assert (tmp_path / "fid" / "breaths_real_vs_generated.png").is_file()
    assert tmp_path / "fid" / "breaths_real_vs_generated.png" in rep.figures


def test_between_subjects_sees_subjects_that_differ_and_not_those_that_do_not():
    real, _, res = _small_cohort(per_subject=90, breaths=60)
    subjects = np.asarray(real.subjects).astype(str)
    assert np.unique(subjects).size >= 2

    def with_shift(shift):  # the flow of subject k offset by k * ``shift`` L/min
        X = np.array(real.X, dtype=np.float32)
        X[:, 0] += shift * np.unique(subjects, return_inverse=True)[1][:, None]
        return ventgen.CycleSet(X, lengths=real.lengths, sampling_rate=real.sampling_rate, labels=real.labels,
                                subjects=real.subjects)

    same = ventgen.evaluate_cohort(res, with_shift(0.0), random_state=0, cnn_epochs=0).discriminative
    apart = ventgen.evaluate_cohort(res, with_shift(50.0), random_state=0, cnn_epochs=0).discriminative
    assert apart["between_subjects"]["score"] > 0.4 and apart["floor"]["score"] < 0.1
    assert same["between_subjects"]["score"] < 0.15
    # one subject: nothing to split, said in one line
    one = ventgen.CycleSet(real.X, lengths=real.lengths, sampling_rate=real.sampling_rate, labels=real.labels)
    d = ventgen.evaluate_cohort(res, one, random_state=0, cnn_epochs=0).discriminative
    assert d["between_subjects"] == {"error": "needs the real breaths of at least two subjects"}


def test_both_methods_report_the_segmenters_f1_and_cut_where_they_say():
    real, _, res = _small_cohort(per_subject=90, breaths=60)
    man = ventgen.evaluate_cohort(res, real, random_state=0, cnn_epochs=0)  # default: the manifest's boundaries
    seg = ventgen.evaluate_cohort(res, real, random_state=0, cnn_epochs=0, method="segment")
    assert (man.info["method"], seg.info["method"]) == ("manifest", "segment")
    assert man.segmentation["cycles_cut_at"] == "manifest" and seg.segmentation["cycles_cut_at"] == "segment"
    # the detector's numbers do not depend on where the compared cycles are cut
    assert man.segmentation["f1"] == seg.segmentation["f1"] and np.isfinite(man.summary()["segmentation_f1"])
    # at the manifest's boundaries every generated breath is compared, at its own duration
    assert man.info["n_synthetic_breaths_found"] == len(res.manifest)
    dur = (res.manifest["end_s"] - res.manifest["start_s"]).to_numpy()
    assert np.allclose(np.sort(man.synthetic_breaths["itime_s"] + man.synthetic_breaths["etime_s"]), np.sort(dur),
                       atol=1.5 / real.sampling_rate)


def test_subject_halves_keeps_every_subject_on_one_side():
    from ventgen.evaluate.fidelity.api import subject_halves

    subjects = np.array(["a", "b", "a", "c", "d", "b", "e"])
    a, b = subject_halves(subjects, np.random.default_rng(1))
    assert sorted(np.r_[a, b].tolist()) == list(range(7))
    assert not set(subjects[a]) & set(subjects[b]) and len(set(subjects[a])) == 2
    assert subject_halves(np.array(["a", "a"]), np.random.default_rng(0)) is None


def test_scores_compare_at_the_same_size_and_class_mix():
    """``per_class`` repeats a comparison's size and class mix; ``{"": n}`` caps an unlabelled one."""
    from ventgen.evaluate.fidelity.classifiers import class_counts, matched_sides

    ry = np.array(["a"] * 300 + ["b"] * 100 + ["c"] * 50)
    sy = np.array(["a"] * 40 + ["b"] * 200 + ["c"] * 20)
    rng = np.random.default_rng(0)
    ir, is_ = matched_sides(ry, sy, ry.size, sy.size, rng, max_per_side=5000, folds=5, who="t")
    assert class_counts(ry, ir) == class_counts(sy, is_) == {"a": 40, "b": 100, "c": 20}
    ir, is_ = matched_sides(ry, sy, ry.size, sy.size, rng, max_per_side=5000, folds=5, who="t",
                            per_class={"a": 10, "b": 150})  # b: at most what both sides hold; c left out
    assert class_counts(ry, ir) == class_counts(sy, is_) == {"a": 10, "b": 100}
    ir, is_ = matched_sides(None, None, 450, 260, rng, max_per_side=5000, folds=5, who="t", per_class={"": 33})
    assert ir.size == is_.size == 33 and class_counts(None, ir) == {"": 33}
    # the forest's score is returned with its per_class, and the same per_class gives the same size
    X = rng.normal(size=(450, 6))
    d = discriminative_score(X, rng.normal(size=(260, 6)), ry, sy, random_state=0)
    assert d["per_class"] == {"a": 40, "b": 100, "c": 20} and d["n_per_side"] == 160
    half = discriminative_score(X[::2], X[1::2], ry[::2], ry[1::2], random_state=0, per_class=d["per_class"])
    assert half["per_class"] == {"a": 40, "b": 50, "c": 20}  # each half holds 50 of the 100 "b"
    with pytest.raises(VentgenValueError, match="class-matched breaths per side"):
        matched_sides(ry, sy, ry.size, sy.size, rng, max_per_side=5000, folds=5, who="t", per_class={"z": 9})


def test_evaluate_cohort_same_seed_same_numbers():
    real, _, res = _small_cohort(per_subject=60, breaths=40)
    a = ventgen.evaluate_cohort(res, real, random_state=3, cnn_epochs=2)
    b = ventgen.evaluate_cohort(res, real, random_state=3, cnn_epochs=2)
    assert a.discriminative == b.discriminative and a.discriminative_cnn == b.discriminative_cnn


def test_evaluate_cohort_without_labels_still_has_both_scores_and_floors():
    real, _, res = _small_cohort(per_subject=60, breaths=40)
    blank = ventgen.CycleSet(real.X, lengths=real.lengths, sampling_rate=real.sampling_rate)
    rep = ventgen.evaluate_cohort(res, blank, random_state=0, cnn_epochs=2)
    assert rep.info["labelled"] is False
    assert {"score", "floor"} <= set(rep.discriminative) and {"score", "floor"} <= set(rep.discriminative_cnn)
    assert "score" in rep.discriminative_cnn["floor"]


def test_flow_pressure_picks_the_two_channels_in_order():
    from types import SimpleNamespace

    from ventgen.evaluate.fidelity.classifiers import flow_pressure

    X = np.random.default_rng(0).normal(size=(3, 3, 8))
    c = SimpleNamespace(X=X, channels=["paw_cmh2o", "volume_ml", "flow_lpm"])
    np.testing.assert_array_equal(flow_pressure(c), X[:, [2, 0]].astype(np.float32))
    with pytest.raises(VentgenValueError, match="expected cycles"):
        flow_pressure(SimpleNamespace(X=X, channels=["a", "b", "c"]), "real cycles")
