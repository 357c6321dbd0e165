"""Cohort specs, node labelling and class-balanced generation (with a test-double model)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from _cohort_double import RATE, DoubleModel, make_reference, params_of, waves

import ventgen
from ventgen.errors import FileFormatError, SchemaError, VentgenValueError, VentgenWarning
from ventgen.generate import (
    CohortSpec,
    GenerationOptions,
    generate_cohort,
    label_nodes,
    read_cohort_spec,
    resolve_composition,
)
from ventgen.generate.composition import count_matrix as _count_matrix
from ventgen.generate.composition import largest_remainder as _largest_remainder

PAPER = {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}


@pytest.fixture(scope="module")
def result(model, ref):
    return generate_cohort(model, {"patients": 4, "breaths": 150, "composition": PAPER}, ref, random_state=0)


# ------------------------------------------------------------------------------ spec parsing
def test_spec_from_dict_file_and_list(tmp_path):
    s1 = read_cohort_spec({"patients": 4, "minutes": 10, "composition": PAPER})
    assert isinstance(s1, CohortSpec) and s1.minutes == 10 and s1.breaths is None
    assert [e.key for e in s1.composition] == list(PAPER)
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"patients": 2, "breaths": 50, "composition": [
        {"class": "apnea", "fraction": 0.5}, {"level": 2, "node": 1, "fraction": 0.5}]}))
    s2 = read_cohort_spec(p)
    assert s2.composition[1].is_node and s2.composition[1].key == "level 2 node 1"
    # to_dict round trip
    assert read_cohort_spec(s2.to_dict()) == s2


def test_spec_fractions_must_sum_to_one():
    with pytest.raises(VentgenValueError, match=r"sum to 0\.9 .*apnea 0\.25.*must sum to 1"):
        read_cohort_spec({"patients": 1, "breaths": 5,
                          "composition": {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.15}})
    # rounding slack is accepted and renormalised
    s = read_cohort_spec({"patients": 1, "breaths": 5, "composition": {"a": 0.333, "b": 0.333, "c": 0.3335}})
    assert abs(sum(e.fraction for e in s.composition) - 1) < 1e-12


def test_spec_errors_are_clear(tmp_path):
    with pytest.raises(VentgenValueError, match="exactly one of 'minutes'.*both"):
        read_cohort_spec({"patients": 1, "breaths": 5, "minutes": 2, "composition": PAPER})
    with pytest.raises(VentgenValueError, match="neither"):
        read_cohort_spec({"patients": 1, "composition": PAPER})
    with pytest.raises(SchemaError, match="patients"):
        read_cohort_spec({"patients": 0, "breaths": 5, "composition": PAPER})
    with pytest.raises(SchemaError, match="colour"):
        read_cohort_spec({"patients": 1, "breaths": 5, "composition": PAPER, "colour": "red"})
    with pytest.raises(VentgenValueError, match="more than once"):
        read_cohort_spec({"patients": 1, "breaths": 5, "composition": [
            {"class": "apnea", "fraction": 0.5}, {"class": "Apnea", "fraction": 0.5}]})
    bad = tmp_path / "bad.json"
    bad.write_text('{"patients": 1,\n "breaths": 5,\n "composition": {"apnea": 1.0,}}')
    with pytest.raises(FileFormatError, match=r"bad\.json, line 3"):
        read_cohort_spec(bad)
    with pytest.raises(FileNotFoundError):
        read_cohort_spec(tmp_path / "missing.json")


def test_largest_remainder_and_count_matrix_are_exact():
    assert _largest_remainder(np.array([0.5, 0.25, 0.25]), 7).tolist() == [3, 2, 2]  # 3.5, 1.75, 1.75
    assert _largest_remainder(np.array([0.5, 0.3, 0.2]), 9).tolist() == [4, 3, 2]  # 4.5, 2.7, 1.8
    rng = np.random.default_rng(1)
    for _ in range(20):
        f = rng.dirichlet(np.ones(4))
        rows = rng.integers(1, 50, size=5)
        m = _count_matrix(f, rows)
        assert (m >= 0).all()
        assert m.sum(axis=1).tolist() == rows.tolist()
        assert m.sum(axis=0).tolist() == _largest_remainder(f, int(rows.sum())).tolist()


# ------------------------------------------------------------------------------ node labels
def test_label_nodes_majority_and_purity(model, ref):
    t = label_nodes(model, ref)
    A = model.assign(ref.X)
    for level, (h, w) in enumerate(model.maps, start=1):
        sub = t[t.level == level]
        assert len(sub) == h * w and sub["n_breaths"].sum() == len(ref.labels)
        for _, row in sub.iterrows():
            labs = ref.labels[A[:, level - 1] == row.node]
            if labs.size == 0:
                assert row.label == "" and np.isnan(row.purity)
                continue
            vals, cnt = np.unique(labs, return_counts=True)
            assert row.label == vals[np.argmax(cnt)]
            assert row.purity == pytest.approx(cnt.max() / labs.size)
    # the double separates the classes almost perfectly at level 1
    assert (t[t.level == 1].dropna()["purity"] > 0.9).all()


def test_resolution_weights_and_superclass(model, ref):
    r = resolve_composition(model, {"patients": 1, "breaths": 10,
                                    "composition": {"normal breathing": 0.5, "respiratory events": 0.5}}, ref)
    for _, g in r.groupby("entry"):
        assert g["weight"].sum() == pytest.approx(1.0)
    sup = r[r.entry == "respiratory events"]
    assert set(sup["label"]) == {"apnea", "snoring"}


def test_resolution_errors_list_what_is_available(model, ref):
    with pytest.raises(VentgenValueError, match=r"unknown class 'couging'.*Available: fine classes: \['apnea'"):
        generate_cohort(model, {"patients": 1, "breaths": 5, "composition": {"couging": 0.5, "apnea": 0.5}}, ref)
    with pytest.raises(VentgenValueError, match=r"level 2 node 7: no such node; level 2 is a 1x2 lattice with nodes 0\.\.1"):
        generate_cohort(model, {"patients": 1, "breaths": 5, "composition": [
            {"level": 2, "node": 7, "fraction": 1.0}]}, ref)
    with pytest.raises(VentgenValueError, match=r"level 5 does not exist \(levels 1\.\.2\)"):
        generate_cohort(model, {"patients": 1, "breaths": 5, "composition": [
            {"class": "apnea", "level": 5, "fraction": 1.0}]}, ref)
    # a class present in the data that no node represents: one rare breath hidden among normal ones
    labels = ref.labels.copy()
    labels[np.flatnonzero(labels == "normal breathing")[0]] = "coughing"
    with pytest.raises(VentgenValueError, match=r"'coughing'.*no node of level 1 has it as its majority label.*classes level 1 represents"):
        generate_cohort(model, {"patients": 1, "breaths": 5, "composition": {"coughing": 1.0}}, ref, options=GenerationOptions(labels=labels))


# ------------------------------------------------------------------------------ generation
def test_composition_is_exact(result):
    comp = result.composition()
    assert comp["breaths"].tolist() == [300, 150, 150]
    assert np.abs(comp["difference"]).max() == 0
    assert result.manifest.groupby("patient").size().tolist() == [150] * 4
    # entries map to their class labels (the double's nodes are pure)
    m = result.manifest
    assert (m["label"] == m["entry"]).all()
    assert set(m.loc[m.label == "apnea", "superclass"]) == {"respiratory event"}


def test_recordings_match_manifest(result):
    m = result.manifest
    for rec in result.recordings:
        mp = m[m.patient == rec.subject]
        assert rec.sampling_rate == RATE
        assert mp["breath_index"].tolist() == list(range(len(mp)))
        # breaths tile the recording without gaps
        assert np.allclose(mp["start_s"].to_numpy()[1:], mp["end_s"].to_numpy()[:-1])
        assert mp["start_s"].iloc[0] == 0 and mp["end_s"].iloc[-1] == pytest.approx(rec.duration_s)
        # annotations say the same as the manifest, sample by sample
        per_sample = rec.label_per_sample()
        mid = ((mp["start_s"] + mp["end_s"]) / 2 * RATE).astype(int).to_numpy()
        assert (per_sample[mid] == mp["label"].to_numpy()).all()


def test_recordings_carry_the_breaths_as_device_marks(result, tmp_path):
    m = result.manifest
    for rec in result.recordings:
        mp = m[m.patient == rec.subject]
        assert rec.n_markers == len(mp)
        assert np.array_equal(rec.markers["start_idx"].to_numpy(), np.round(mp["start_s"].to_numpy() * RATE).astype(int))
        assert (rec.markers["end_idx"].to_numpy() <= rec.n_samples).all()
        # segmentation cuts a generated recording at its marks, as a ventilator's recording
        found = ventgen.segment_breaths(rec)
        assert np.allclose(found["start_s"].to_numpy(), mp["start_s"].to_numpy(), atol=1 / RATE)
    ventgen.write_cohort(result, tmp_path / "c", format="hdf5")
    back = ventgen.read_cohort(tmp_path / "c")
    assert [r.markers.equals(o.markers) for r, o in zip(back.recordings, result.recordings, strict=True)] == [True] * 4


def test_no_jumps_at_joins(result):
    m = result.manifest
    for rec in result.recordings:
        mp = m[m.patient == rec.subject]
        joins = np.round(mp["start_s"].to_numpy()[1:] * RATE).astype(int)
        for sig in (rec.flow, rec.pressure):
            d = np.abs(np.diff(sig))
            inside = np.ones(d.size, dtype=bool)
            inside[joins - 1] = False
            # the step across a join is no larger than a typical step inside a breath
            assert d[joins - 1].max() <= np.percentile(d[inside], 90) + 1e-9


def test_step_joins_cross_with_the_reference_mean_step(model, ref):
    import copy

    import pandas as pd

    from ventgen.generate.observation import BoundaryBias
    from ventgen.generate.reference import as_reference

    # the reference's breaths follow each other within a subject, and each starts 2 L/min above where
    # the one before ended (a trigger's jump)
    ends = np.cumsum(ref.lengths)
    stepped = copy.copy(ref)
    stepped.X = np.array(ref.X, dtype=np.float32)
    stepped.X[:, 0, 0] = 2.0 + np.r_[0.0, ref.X[np.arange(len(ends) - 1), 0, ref.lengths[:-1] - 1]]
    stepped.breaths = pd.DataFrame({"start_idx": np.r_[0, ends[:-1]], "end_idx": ends})
    opts = GenerationOptions(noise="none", boundary="step")
    res = generate_cohort(model, {"patients": 2, "breaths": 60, "composition": PAPER}, stepped, random_state=1,
                          options=opts)
    r = as_reference(stepped, None)
    assert r.follows is not None and r.follows.mean() > 0.9
    X = r.X[:, [r.flow_channel, r.pressure_channel]]
    expect = BoundaryBias.fit(X, X, r.lengths, r.labels, follows=r.follows)
    assert np.allclose(expect.step(list(PAPER))[:, 0], 2.0, atol=1e-4)  # known answer: every real join steps by 2
    assert res.info["boundary"] == "step"
    m = res.manifest
    for rec in res.recordings:
        mp = m[m.patient == rec.subject]
        joins = np.round(mp["start_s"].to_numpy()[1:] * RATE).astype(int)
        got = np.c_[rec.flow[joins] - rec.flow[joins - 1], rec.pressure[joins] - rec.pressure[joins - 1]]
        assert np.allclose(got, expect.step(mp["label"].to_numpy()[1:]), atol=1e-4)
        assert np.median(got[:, 0]) > 1.0  # the trigger's jump, where "none" makes breaths meet


def test_breaths_follow_their_node_lengths(result, model, ref):
    """Generated breath durations come from the real durations of the node's reference breaths."""
    m = result.manifest
    A = model.assign(ref.X)
    for (lv, node), g in m.groupby(["level", "node"]):
        real = set(ref.lengths[A[:, lv - 1] == node].tolist())
        got = np.round((g["end_s"] - g["start_s"]).to_numpy() * RATE).astype(int)
        assert set(got.tolist()) <= real


def test_events_are_contiguous(result, ref):
    """Apnea and snoring come in runs like the reference's, not as isolated breaths."""
    for rec in result.recordings:
        ann = rec.annotations
        m = result.manifest[result.manifest.patient == rec.subject]
        n_apnea_breaths = (m.label == "apnea").sum()
        n_apnea_events = (ann.label == "apnea").sum()
        assert n_apnea_events < n_apnea_breaths / 1.8  # reference runs are 2..5 breaths long
        # an event is one class; like the reference's events, a long one visits several of the class's nodes
        assert (m.groupby("event")["label"].nunique() == 1).all()
        nodes = m[m.label == "normal breathing"].groupby("event")["node"].agg(["size", "nunique"])
        assert (nodes["nunique"] > 1).any() and nodes.loc[nodes["size"] == 1, "nunique"].eq(1).all()


def test_same_seed_same_bytes_and_seeds_differ(model, ref):
    spec = {"patients": 2, "breaths": 60, "composition": PAPER}
    a = generate_cohort(model, spec, ref, random_state=3)
    b = generate_cohort(model, spec, ref, random_state=3)
    c = generate_cohort(model, spec, ref, random_state=4)
    for ra, rb in zip(a.recordings, b.recordings, strict=True):
        assert ra.flow.tobytes() == rb.flow.tobytes() and ra.pressure.tobytes() == rb.pressure.tobytes()
    assert a.manifest.equals(b.manifest)
    assert a.recordings[0].flow.tobytes() != c.recordings[0].flow.tobytes()


def _peaks(r):
    m = r.manifest
    out = []
    for rec in r.recordings:
        mp = m[m.patient == rec.subject]
        i0 = np.round(mp["start_s"].to_numpy() * RATE).astype(int)
        i1 = np.round(mp["end_s"].to_numpy() * RATE).astype(int)
        out.append(np.array([rec.flow[a:b].max() for a, b in zip(i0, i1, strict=True)]))
    return out


def test_patients_are_distinct_by_latent_offset(ref):
    """Per-patient means of normal-breath peak flow vary between patients far more than a shuffle of
    the same breaths across patients would give (shared latent component, no node preference)."""
    model = DoubleModel(ref, sigma=0.2)
    spec = {"patients": 8, "breaths": 80, "composition": {"normal breathing": 1.0},
            "patient_variability": 0.9, "node_concentration": None}
    peaks = _peaks(generate_cohort(model, spec, ref, random_state=0))
    allp = np.concatenate(peaks)
    between = np.var([p.mean() for p in peaks])
    rng = np.random.default_rng(0)
    shuffled = [np.var(rng.permutation(allp).reshape(len(peaks), -1).mean(axis=1)) for _ in range(200)]
    assert between > 5 * np.percentile(shuffled, 99)
    # with no shared component the same test finds no patient effect of that size
    spec0 = dict(spec, patient_variability=0.0)
    peaks0 = _peaks(generate_cohort(model, spec0, ref, random_state=0))
    assert np.var([p.mean() for p in peaks0]) < between / 5


def test_patients_prefer_their_own_nodes(model, ref):
    spec = {"patients": 10, "breaths": 200, "composition": {"normal breathing": 1.0},
            "patient_variability": 0.0, "node_concentration": 0.2}
    m = generate_cohort(model, spec, ref, random_state=0).manifest
    share = m.groupby("patient")["node"].value_counts(normalize=True)
    per_patient_top = share.groupby(level=0).max().mean()
    cohort_top = m["node"].value_counts(normalize=True).max()
    assert per_patient_top > cohort_top + 0.15


def test_minutes_spec_gives_the_duration(model, ref):
    r = generate_cohort(model, {"patients": 2, "minutes": 6, "composition": PAPER}, ref, random_state=1)
    for rec in r.recordings:
        assert abs(rec.duration_s - 360) / 360 < 0.1


def test_minutes_hold_when_classes_share_nodes(ref):
    """Lengths are drawn from each class's own breaths inside a mixed node; the breath count must
    come from the same lengths, or a short class sharing a node with longer ones (snoring: 80 samples,
    normal breathing: 100) falls short of the duration (295-300 s of 360 s before the fix)."""
    coarse = DoubleModel(ref, maps=((2, 1),))
    spec = {"patients": 2, "minutes": 6, "composition": {"snoring": 0.9, "apnea": 0.1}}
    r = generate_cohort(coarse, spec, ref, random_state=1, options=GenerationOptions(latent="data"))
    for rec in r.recordings:
        assert abs(rec.duration_s - 360) / 360 < 0.1


def test_output_rate_and_padding_lengths(model, ref):
    spec = {"patients": 1, "breaths": 40, "composition": PAPER, "sampling_rate": 50}
    r = generate_cohort(model, spec, ref, random_state=0, options=GenerationOptions(length_method="padding", batch_size=7))
    rec = r.recordings[0]
    assert rec.sampling_rate == 50
    assert rec.duration_s == pytest.approx(r.manifest["end_s"].iloc[-1], abs=0.05)
    # with the padding method each breath is as long as the waveform it was decoded to
    m = r.manifest
    L = np.round((m["end_s"] - m["start_s"]).to_numpy() * RATE).astype(int)
    nodes = m["node"].to_numpy()
    codes = model.codebook(1)[nodes] * model.std_ + model.mean_
    true_L = np.round(codes[:, 2])
    assert np.median(np.abs(L - true_L) / true_L) < 0.1


def test_explicit_node_without_labels_does_not_warn(model, ref):
    labels = ref.labels.copy()
    A = model.assign(ref.X)
    labels[A[:, 0] == 2] = ""  # node 2 of level 1 loses its labels
    spec = {"patients": 1, "breaths": 20, "composition": [
        {"level": 1, "node": 2, "fraction": 0.5}, {"class": "normal breathing", "fraction": 0.5}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", VentgenWarning)  # node entries never warn for lack of labels (issue 15)
        r = generate_cohort(model, spec, ref, options=GenerationOptions(labels=labels))
    assert set(r.manifest.loc[r.manifest.entry == "level 1 node 2", "label"]) == {"unlabelled"}
    assert (r.manifest.loc[r.manifest.entry == "level 1 node 2", "node"] == 2).all()


def test_bad_arguments(model, ref):
    spec = {"patients": 1, "breaths": 5, "composition": PAPER}
    with pytest.raises(VentgenValueError, match="length_method"):
        generate_cohort(model, spec, ref, options=GenerationOptions(length_method="guess"))
    with pytest.raises(TypeError, match="lacks"):
        generate_cohort(object(), spec, ref)
    with pytest.raises(TypeError, match="CycleSet"):
        generate_cohort(model, spec, np.zeros((3, 2, 200)))


def test_double_roundtrip_sanity():
    p = np.array([[30.0, 0.4, 100.0, 5.0]])
    assert np.allclose(params_of(waves(p)), [[30.0, 0.4, 100.0, 5.0]], atol=0.6)


def test_write_and_read_cohort(result, tmp_path):
    out = ventgen.write_cohort(result, tmp_path / "cohort", format="csv")
    assert (out / "manifest.csv").is_file() and (out / "cohort.json").is_file()
    back = ventgen.read_cohort(out)
    assert back.manifest[["patient", "breath_index", "label", "node"]].equals(
        result.manifest[["patient", "breath_index", "label", "node"]])
    for a, b in zip(result.recordings, back.recordings, strict=True):
        assert np.allclose(a.flow, b.flow, atol=1e-3)
    with pytest.raises(FileExistsError):
        ventgen.write_cohort(result, out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ventgen.write_cohort(result, out, format="hdf5", overwrite=True)
    assert sorted(p.suffix for p in out.iterdir() if p.name.startswith("virtual_")) == [".h5"] * 4
    # the folder goes straight back through the readers (manifest.csv is not taken for a recording)
    assert [r.subject for r in ventgen.read_recordings(out)] == [r.subject for r in result.recordings]


def test_cli_generate_reports_bad_spec(tmp_path, capsys):
    from ventgen.cli import main

    spec = tmp_path / "c.json"
    spec.write_text(json.dumps({"patients": 2, "minutes": 1, "composition": {"apnea": 0.5, "snoring": 0.2}}))
    rc = main(["generate", str(tmp_path / "model.pt"), "--spec", str(spec), "--reference", "x.h5",
               "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "sum to 0.7" in err and "c.json" in err
    assert not (tmp_path / "out").exists()


def test_linear_decoder_matches_exact_on_a_smooth_decoder(model, ref):
    spec = {"patients": 2, "breaths": 60, "composition": PAPER}
    a = generate_cohort(model, spec, ref, random_state=5)
    b = generate_cohort(model, spec, ref, random_state=5, options=GenerationOptions(decoder="linear"))
    assert a.manifest.equals(b.manifest)
    for ra, rb in zip(a.recordings, b.recordings, strict=True):
        err = np.sqrt(np.mean((ra.flow - rb.flow) ** 2)) / np.std(ra.flow)
        assert err < 0.2
    with pytest.raises(VentgenValueError, match="decoder"):
        generate_cohort(model, spec, ref, options=GenerationOptions(decoder="fast"))


def test_spread_avoids_equal_neighbours():
    from ventgen.generate.events import spread as _spread

    keys = ["a"] * 5 + ["b"] * 5 + ["c"] * 2
    order = _spread(keys)
    assert sorted(order.tolist()) == list(range(12))
    seq = [keys[i] for i in order]
    assert all(x != y for x, y in zip(seq[:-1], seq[1:], strict=True))
    # impossible to separate all: the surplus stays together at the end, nothing lost
    keys = ["a"] * 6 + ["b"]
    seq = [keys[i] for i in _spread(keys)]
    assert seq.count("a") == 6 and seq[:3] == ["a", "b", "a"]


def test_cli_generate_with_a_real_htvae(tmp_path, capsys):
    """'ventgen generate' end to end: a (barely trained) HTVAE and its reference cycles on disk."""
    from ventgen.cli import main

    r = make_reference(n_subjects=2, per_subject=60)
    cyc = ventgen.CycleSet(r.X, lengths=r.lengths, sampling_rate=r.sampling_rate, labels=r.labels,
                           superclasses=r.superclasses, subjects=r.subjects)
    ventgen.write_cycleset(cyc, tmp_path / "cycles.h5")
    model = ventgen.HTVAE(maps=[(3, 3), (2, 2)], latent_dim=4, epochs=1, batch_size=64, random_state=0,
                          device="cpu", progress=False).fit(cyc)
    model.save(tmp_path / "model.pt")
    table = ventgen.label_nodes(model, cyc)
    # generate from whatever the barely trained lattice represents at level 1
    lab = table[(table.level == 1) & (table.label != "")].sort_values("n_breaths").label.iloc[-1]
    # the spec names its reference cycles, relative to the spec file: the command line works as is
    (tmp_path / "spec.json").write_text(json.dumps({"patients": 2, "breaths": 30, "composition": {lab: 1.0},
                                                    "reference": "cycles.h5"}))
    rc = main(["--quiet", "generate", str(tmp_path / "model.pt"), "--spec", str(tmp_path / "spec.json"),
               "-o", str(tmp_path / "out"), "--seed", "3"])
    assert rc == 0, capsys.readouterr().err
    back = ventgen.read_cohort(tmp_path / "out")
    assert len(back.recordings) == 2 and len(back.manifest) == 60
    assert (back.manifest["label"] == lab).all()
    direct = ventgen.generate_cohort(ventgen.HTVAE.load(tmp_path / "model.pt"),
                                     {"patients": 2, "breaths": 30, "composition": {lab: 1.0}}, cyc, random_state=3)
    assert np.allclose(direct.recordings[0].flow, back.recordings[0].flow, atol=1e-4)


def test_latent_data_keeps_the_real_spread(model, ref):
    """latent='data' draws from the moments of the encoded real breaths of the class in the node, so
    generated peak flows spread like the real ones; the paper's node Gaussian (small sigma) does not."""
    spec = {"patients": 1, "breaths": 400, "composition": {"normal breathing": 1.0}, "patient_variability": 0.0,
            "node_concentration": None}
    A = model.assign(ref.X)
    real_peak = ref.X[:, 0, :].max(axis=1)
    out = {}
    for latent in ("node", "data"):
        r = generate_cohort(model, spec, ref, random_state=0, options=GenerationOptions(latent=latent))
        peaks = _peaks(r)[0]
        m = r.manifest
        ratios = []
        for k, g in m.groupby("node"):
            real = real_peak[(A[:, 0] == k) & (ref.labels == "normal breathing")]
            if len(g) >= 20 and real.size >= 20:
                ratios.append(peaks[g.index.to_numpy()].std() / real.std())
        out[latent] = np.median(ratios)
    assert 0.6 < out["data"] < 1.6
    assert out["node"] < 0.5 * out["data"]
    assert r.info["latent"] == "data" and r.info["n_data_components"] > 0
    with pytest.raises(VentgenValueError, match="latent"):
        generate_cohort(model, spec, ref, options=GenerationOptions(latent="prior"))


def test_members_nodes_generate_a_minority_class(model, ref):
    """A class that is no node's majority: refused with nodes='majority', generated from the nodes
    holding it (class-conditional latents) with latent='data'."""
    labels = ref.labels.copy()
    A = model.assign(ref.X)
    rng = np.random.default_rng(0)
    normal = np.flatnonzero(labels == "normal breathing")
    labels[rng.choice(normal, 60, replace=False)] = "coughing"  # scattered: a minority everywhere
    spec = {"patients": 1, "breaths": 40, "composition": {"coughing": 0.5, "apnea": 0.5}}
    with pytest.raises(VentgenValueError, match="nodes='members'"):
        generate_cohort(model, spec, ref, options=GenerationOptions(labels=labels))
    r = generate_cohort(model, spec, ref, options=GenerationOptions(labels=labels, latent="data"))
    m = r.manifest
    assert (m.entry == m.label).all() and (m.label == "coughing").sum() == 20
    cough_nodes = set(np.unique(A[labels == "coughing", 0]))
    assert set(m.loc[m.label == "coughing", "node"]) <= cough_nodes


def test_reference_is_required_somewhere(model, ref, tmp_path):
    """A model without stored generation data (here a test double) needs a reference."""
    with pytest.raises(VentgenValueError, match="holds no generation data.*--reference"):
        generate_cohort(model, {"patients": 1, "breaths": 5, "composition": PAPER})
    (tmp_path / "c.json").write_text(json.dumps({"patients": 1, "breaths": 5, "composition": PAPER,
                                                 "reference": "missing.h5"}))
    spec = read_cohort_spec(tmp_path / "c.json")
    assert spec.reference == str(tmp_path / "missing.h5")
    with pytest.raises(FileNotFoundError):
        generate_cohort(model, spec)


def test_stitch_batch_meets_at_joins_and_leaves_the_middle_alone():
    from ventgen.generate.stitching import stitch_batch as _stitch_batch

    rng = np.random.default_rng(0)
    b, T = 6, 200
    X = rng.normal(size=(b + 1, 2, T)).astype(np.float32)
    L = np.array([150, 120, 199, 60, 100, 180])
    first = np.array([True, False, False, True, False, False])  # a new patient starts at breath 3
    last = np.array([False, False, True, False, False, False])
    raw = X.copy()
    _stitch_batch(X, L, first, last, None, taper=8)
    for i in range(b - 1):
        if not last[i]:
            assert np.allclose(X[i, :, L[i] - 1], X[i + 1, :, 0], atol=1e-5)  # joined, no jump
    # the next batch's first breath (row b) is not touched; patient boundaries are not bridged
    assert np.array_equal(X[b], raw[b])
    assert np.allclose(X[3, :, 0], raw[3, :, 0]) and np.allclose(X[2, :, L[2] - 1], raw[2, :, L[2] - 1])
    # away from the joins the breath is unchanged (volumes kept)
    assert np.allclose(X[0, :, 20:120], raw[0, :, 20:120])
    assert np.allclose(X[2, :, 20:170], raw[2, :, 20:170])


def test_nearest_lengths_follow_the_shape_of_each_breath(ref):
    """length_method='nearest' takes the length of the reference breath nearest to the drawn latent:
    the double's latent holds the breath's own length, so the cut must match it far better than a
    length drawn independently of the latent."""

    class Recording(DoubleModel):  # keeps the latents of every decode call (the patients' come last)
        def decode(self, Z):
            self.Z = np.concatenate([getattr(self, "Z", np.zeros((0, len(Z[0])))), np.asarray(Z)])
            return super().decode(Z)

    spec = {"patients": 2, "breaths": 150, "composition": {"normal breathing": 0.5, "snoring": 0.5}}
    err = {}
    for method in ("node", "nearest"):
        m = Recording(ref)
        r = generate_cohort(m, spec, ref, random_state=0, options=GenerationOptions(latent="data", length_method=method, noise="none"))
        implied = m.Z[-len(r.manifest):, 2] * m.std_[2] + m.mean_[2]  # the length the decoded wave has
        cut = np.round((r.manifest.end_s - r.manifest.start_s).to_numpy() * RATE)
        err[method] = np.abs(cut - np.clip(np.round(implied), 10, None)).mean()
    assert err["nearest"] < 0.5 * err["node"]
    with pytest.raises(VentgenValueError, match="needs latent='data'"):
        generate_cohort(DoubleModel(ref), spec, ref, options=GenerationOptions(length_method="nearest"))


def test_the_reference_is_encoded_once_when_the_model_can(ref):
    """A model with ``encode`` (the HTVAE) gives node paths, latent means and, through ``decode``, the
    reconstructions of the reference from a single encoder pass; the result is unchanged."""

    class Counting(DoubleModel):
        calls = 0

        def encode(self, X):
            Counting.calls += 1
            return self.transform(X), self.assign(X)

    spec = {"patients": 2, "breaths": 30, "composition": PAPER}
    plain = generate_cohort(DoubleModel(ref), spec, ref, random_state=0, options=GenerationOptions(latent="data"))
    counted = generate_cohort(Counting(ref), spec, ref, random_state=0, options=GenerationOptions(latent="data"))
    assert Counting.calls == 1
    assert np.array_equal(plain.manifest.to_numpy(), counted.manifest.to_numpy())
    # (the double's means are float64; decode gets them as float32, as the HTVAE's are)
    assert all(np.allclose(a.flow, b.flow, atol=1e-3) for a, b in zip(plain.recordings, counted.recordings, strict=True))
