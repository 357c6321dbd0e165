"""The self-contained model file and unlabelled data (issue 15, items 2 and 3): generation from the data
the model stores equals generation with its training cycles as reference; natural compositions; old
model files; malformed stored data; evaluation without labels."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import ventgen
from ventgen.cli import main
from ventgen.errors import FileFormatError, VentgenValueError, VentgenWarning
from ventgen.generate import (
    GenerationOptions,
    generate_cohort,
    read_cohort_spec,
    resolve_composition,
)
from ventgen.generate.stored import StoredGeneration
from ventgen.workflows import generate_files

CLASSES = {"patients": 2, "breaths": 40, "composition": {"normal breathing": 0.5, "respiratory event": 0.5}}
NATURAL = {"patients": 2, "minutes": 1}


@pytest.fixture(scope="module")
def cycles():
    recs = ventgen.simulate_cohort(n_subjects=1, minutes=3, random_state=0, progress=False)
    return ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))


@pytest.fixture(scope="module")
def files(cycles, tmp_path_factory):
    """A model file and its training cycles, and the model loaded back."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("stored")
    model = ventgen.HTVAE(maps=[(3, 3), (1, 2)], latent_dim=4, epochs=1, random_state=0, device="cpu",
                          progress=False).fit(cycles)
    model.save(d / "model.pt")
    ventgen.write_cycleset(cycles, d / "cycles.h5")
    return d, ventgen.HTVAE.load(d / "model.pt", device="cpu")


def _same(a, b) -> bool:
    return (a.manifest.equals(b.manifest) and a.node_labels.equals(b.node_labels)
            and all(np.array_equal(x.flow, y.flow) and np.array_equal(x.pressure, y.pressure)
                    and x.annotations.equals(y.annotations) for x, y in zip(a.recordings, b.recordings, strict=True)))


@pytest.mark.parametrize("spec, options", [
    (NATURAL, GenerationOptions()),
    (NATURAL, GenerationOptions(latent="data", decoder="linear")),
    (CLASSES, GenerationOptions(latent="data")),
    (CLASSES, GenerationOptions(nodes="members", length_method="padding", noise="none")),
])
def test_the_stored_data_give_the_cohort_of_the_training_cycles(files, cycles, spec, options):
    _, model = files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VentgenWarning)  # a one-epoch model: impure nodes
        a = generate_cohort(model, spec, cycles, random_state=3, options=options)
        b = generate_cohort(model, spec, random_state=3, options=options)
    assert _same(a, b)
    assert b.info["generation_data"] == "model" and "generation_data" not in a.info


def test_cli_generate_from_the_model_file_alone_writes_the_same_recordings(files, tmp_path, capsys):
    d, _ = files
    (tmp_path / "spec.json").write_text(json.dumps({"patients": 2, "minutes": 1}))
    common = ["--quiet", "generate", str(d / "model.pt"), "--spec", str(tmp_path / "spec.json"), "--seed", "1"]
    assert main([*common, "-o", str(tmp_path / "a"), "--reference", str(d / "cycles.h5")]) == 0
    assert main([*common, "-o", str(tmp_path / "b")]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        if name != "cohort.json":  # its info says where the data came from
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    doc = json.loads((tmp_path / "b" / "cohort.json").read_text())
    assert doc["info"]["composition"] == "natural" and doc["info"]["patient_profiles"] == "balanced"
    assert main([*common, "-o", str(tmp_path / "c"), "--patient-profiles", "independent"]) == 0
    assert json.loads((tmp_path / "c" / "cohort.json").read_text())["info"]["patient_profiles"] == "independent"
    names, counts = np.unique(_labels_of(d), return_counts=True)
    assert {e["class"]: e["fraction"] for e in doc["spec"]["composition"]} == pytest.approx(
        dict(zip(names, counts / counts.sum(), strict=True)))  # the training breaths' classes


def _labels_of(d):
    return np.asarray(ventgen.read_cycleset(d / "cycles.h5").labels).astype(str)


def test_natural_composition_keeps_the_classes_and_the_nodes_that_hold_them(files, cycles):
    _, model = files
    table = resolve_composition(model, {"patients": 1, "breaths": 10, "composition": "natural"}, nodes="members")
    labels, node = np.asarray(cycles.labels).astype(str), model.assign(cycles.X)[:, 0]
    for name, rows in table.groupby("entry"):
        assert rows["fraction"].iloc[0] == pytest.approx(np.mean(labels == name))
        held = np.bincount(node[labels == name], minlength=9)
        keep = held >= 3 if (held >= 3).any() else held > 0
        assert sorted(rows["node"]) == np.flatnonzero(keep).tolist() and set(rows["level"]) == {1}
        assert rows.set_index("node")["weight"].to_numpy() == pytest.approx(held[keep] / held[keep].sum())
        assert set(rows["label"]) == {name}
    assert set(table["entry"]) == set(labels)
    assert read_cohort_spec({"patients": 1, "breaths": 3}).to_dict()["composition"] == "natural"


def test_unlabelled_training_data_generate_without_warnings(cycles, tmp_path):
    blank = cycles.subset(np.arange(len(cycles)))
    blank.labels = np.full(len(cycles), "", dtype=object)
    blank.superclasses = np.full(len(cycles), "", dtype=object)
    model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0, device="cpu",
                          progress=False).fit(blank)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VentgenWarning)
        nat = generate_cohort(model, {"patients": 2, "minutes": 1}, random_state=0)
        node = generate_cohort(model, {"patients": 1, "breaths": 10, "composition": [
            {"level": 1, "node": 0, "fraction": 0.5}, {"level": 2, "node": 1, "fraction": 0.5}]}, random_state=0)
    assert set(nat.manifest["label"]) == {"unlabelled"} and len(node.manifest) == 10
    table = resolve_composition(model, {"patients": 1, "breaths": 10})  # natural: the top level's nodes
    top = model.assign(blank.X)[:, -1]
    assert set(table["level"]) == {2}
    assert np.allclose(table.set_index("node")["fraction"].reindex(range(2), fill_value=0),
                       np.bincount(top, minlength=2) / top.size)
    report = ventgen.evaluate_cohort(nat, blank, random_state=0, cnn_epochs=2)
    s = report.summary()
    assert s["needs_labels"] == ["tstr_trtr", "ks by class", "class-matched discriminative score"]
    assert 0 <= s["discriminative_score"] <= 0.5 and np.isfinite(s["ks_median"])
    assert s["memorisation_passes"] in (True, False) and np.isfinite(s["segmentation_f1"])
    assert set(report.ks["label"]) == {"all"} and report.classifier == {"skipped": "needs labels"}


def test_what_the_stored_data_cannot_do_is_one_clear_error(files, tmp_path):
    d, model = files
    nearest = GenerationOptions(latent="data", length_method="nearest")
    assert generate_cohort(model, NATURAL, options=nearest).info["length_method"] == "nearest"  # encodings stored
    state = torch.load(d / "model.pt", weights_only=True)
    del state["generation"]["encodings"]  # a file written before the encodings were stored
    torch.save(state, tmp_path / "older.pt")
    older = ventgen.HTVAE.load(tmp_path / "older.pt", device="cpu")
    with pytest.raises(VentgenValueError, match="nearest' need every training breath's encoding.*--reference"):
        generate_cohort(older, NATURAL, options=nearest)
    assert generate_cohort(older, NATURAL).info["latent"] == ("data" if older.generator_ is not None else "node")
    with pytest.raises(VentgenValueError, match="noise_highpass_hz=2.*4 Hz"):
        generate_cohort(model, NATURAL, options=GenerationOptions(noise="residual", noise_highpass_hz=2.0))
    with pytest.raises(VentgenValueError, match="labels= relabels"):
        generate_cohort(model, NATURAL, options=GenerationOptions(labels=["a"] * model.generation_.n))


def test_an_old_model_file_loads_and_asks_for_the_reference(files, tmp_path):
    d, _ = files
    state = torch.load(d / "model.pt", weights_only=True)
    del state["generation"]
    torch.save(state, tmp_path / "old.pt")
    old = ventgen.HTVAE.load(tmp_path / "old.pt", device="cpu")
    assert old.generation_ is None
    (tmp_path / "spec.json").write_text(json.dumps(NATURAL))
    with pytest.raises(VentgenValueError, match=r"old\.pt: the model file stores no generation data.*--reference"):
        generate_files(tmp_path / "old.pt", tmp_path / "spec.json", None, tmp_path / "cohort")
    assert not (tmp_path / "cohort").exists()
    r = generate_files(tmp_path / "old.pt", tmp_path / "spec.json", d / "cycles.h5", tmp_path / "cohort")
    assert r.n_patients == 2 and len(ventgen.read_cohort(tmp_path / "cohort").recordings) == 2


@pytest.mark.parametrize("edit, field", [
    (lambda g: g.pop("lengths"), "generation/lengths"),
    (lambda g: g.__setitem__("assign", g["assign"] + 100), "generation/assign"),
    (lambda g: g["labels"].__setitem__("codes", g["labels"]["codes"][:3]), "generation/labels/codes"),
    (lambda g: g["moments"]["mean"].fill_(float("nan")), "generation/moments/mean"),
    (lambda g: g.__setitem__("version", 99), "generation/version"),
    (lambda g: g["encodings"].fill_(float("nan")), "generation/encodings"),
    (lambda g: g["noise"].__setitem__("keys", ["x"] * len(g["noise"]["keys"])), "generation/noise/keys"),
])
def test_malformed_stored_data_are_one_line_naming_the_field(files, tmp_path, edit, field):
    d, _ = files
    state = torch.load(d / "model.pt", weights_only=True)
    edit(state["generation"])
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(FileFormatError, match=f"bad.pt.*'generation'.*{field}") as exc:
        ventgen.HTVAE.load(tmp_path / "bad.pt", device="cpu")
    assert "\n" not in str(exc.value)


def test_the_stored_data_are_compact(files, cycles):
    d, model = files
    g = model.generation_
    assert isinstance(g, StoredGeneration) and g.n == len(cycles)
    st = torch.load(d / "model.pt", weights_only=True)["generation"]
    assert st["lengths"].dtype == torch.int16 and st["assign"].dtype == torch.int16
    assert g.nbytes() < 40 * len(cycles) + 20_000  # no cycle is stored (a cycle alone is 1,600 bytes)


@pytest.fixture(scope="module")
def partly(cycles, tmp_path_factory):
    """A model of cycles a third of which lost their label, saved and loaded back, and those cycles."""
    torch.set_num_threads(1)
    some = cycles.subset(np.arange(len(cycles)))
    some.labels = np.asarray(cycles.labels).astype(object).copy()
    some.labels[::3] = ""
    model = ventgen.HTVAE(maps=[(3, 3), (1, 2)], latent_dim=4, epochs=1, random_state=0, device="cpu",
                          progress=False).fit(some)
    d = tmp_path_factory.mktemp("partly")
    model.save(d / "model.pt")
    return ventgen.HTVAE.load(d / "model.pt", device="cpu"), some, d / "model.pt"


def test_natural_proportions_of_partly_labelled_data_keep_the_unlabelled_share(partly):
    model, some, _ = partly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VentgenWarning)  # a one-epoch model: impure nodes
        a = generate_cohort(model, {"patients": 2, "breaths": 60}, some, random_state=1)
        b = generate_cohort(model, {"patients": 2, "breaths": 60}, random_state=1)  # the stored data
    assert _same(a, b)
    labels = np.where(np.asarray(some.labels).astype(str) == "", "unlabelled", np.asarray(some.labels).astype(str))
    names, counts = np.unique(labels, return_counts=True)
    got = b.manifest["label"].value_counts(normalize=True).reindex(names, fill_value=0).to_numpy()
    assert np.abs(got - counts / counts.sum()).max() <= 1 / 120 + 1e-9  # largest remainder over 120 breaths
    # the unlabelled breaths come from the nodes that hold unlabelled reference breaths
    node = model.assign(some.X)[:, 0]
    held = set(node[labels == "unlabelled"].tolist())
    unl = b.manifest[b.manifest["label"] == "unlabelled"]
    assert len(unl) and set(unl["node"]) <= held and set(unl["level"]) == {1}


def test_the_unlabelled_class_is_asked_for_by_name(partly, files):
    model, some, _ = partly
    spec = {"patients": 1, "breaths": 20, "composition": {"unlabelled": 0.5, "normal breathing": 0.5}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VentgenWarning)
        r = generate_cohort(model, spec, random_state=0)
    assert r.manifest["label"].value_counts().to_dict() == {"unlabelled": 10, "normal breathing": 10}
    with pytest.raises(VentgenValueError, match="unknown class 'unlabelled'"):
        generate_cohort(files[1], spec, random_state=0)  # every training breath has a label


def test_a_file_without_the_unlabelled_moments_uses_its_encodings_or_asks_for_the_reference(partly, tmp_path):
    model, some, path = partly
    state = torch.load(path, weights_only=True)
    mom = state["generation"]["moments"]
    keep = [i for i, lab in enumerate(mom["label"]) if lab != "unlabelled"]
    assert len(keep) < len(mom["label"])  # the file stores them
    state["generation"]["moments"] = {"node": mom["node"][keep], "label": [mom["label"][i] for i in keep],
                                      "mean": mom["mean"][keep], "std": mom["std"][keep]}
    torch.save(state, tmp_path / "older.pt")
    spec = {"patients": 1, "breaths": 30}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VentgenWarning)
        want = generate_cohort(model, spec, random_state=2, options=GenerationOptions(latent="data"))
        older = ventgen.HTVAE.load(tmp_path / "older.pt", device="cpu")
        assert _same(generate_cohort(older, spec, random_state=2, options=GenerationOptions(latent="data")), want)
        del state["generation"]["encodings"]
        torch.save(state, tmp_path / "oldest.pt")
        oldest = ventgen.HTVAE.load(tmp_path / "oldest.pt", device="cpu")
        with pytest.raises(VentgenValueError, match="no latent moments of the 'unlabelled' breaths.*--reference"):
            generate_cohort(oldest, spec, random_state=2, options=GenerationOptions(latent="data"))
