"""Cohort folders and cohort specs under bad input: nothing lost, one clear line (issue 13)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from _cohort_double import DoubleModel, make_reference

import ventgen
from ventgen.errors import FileFormatError, SchemaError, VentgenError, VentgenValueError
from ventgen.evaluate.fidelity import FidelityReport
from ventgen.generate import GenerationOptions, generate_cohort, read_cohort_spec
from ventgen.io.cohort import read_cohort, write_cohort
from ventgen.workflows import generate_files

SPEC = {"patients": 2, "breaths": 30, "composition": {"normal breathing": 0.6, "snoring": 0.4}}


@pytest.fixture(scope="module")
def ref():
    return make_reference(n_subjects=2, per_subject=150)


@pytest.fixture(scope="module")
def model(ref):
    return DoubleModel(ref)


@pytest.fixture(scope="module")
def result(model, ref):
    return generate_cohort(model, SPEC, ref, random_state=0)


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------ --overwrite: data loss
def test_overwrite_refuses_a_project_folder_before_generating(tmp_path, model, ref):
    """The issue's command: inputs and notes in proj/, generate -o proj --overwrite: nothing is lost."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "spec.json").write_text(json.dumps(SPEC))
    (proj / "notes.txt").write_text("my notes")
    before = _names(proj)
    decoded = model.n_decoded
    with pytest.raises(VentgenValueError, match=r"proj: the output folder holds the input .*spec\.json"):
        generate_files(model, proj / "spec.json", ref, proj, overwrite=True)
    assert _names(proj) == before and (proj / "notes.txt").read_text() == "my notes"
    assert model.n_decoded == decoded  # refused before any generation


def test_overwrite_refuses_foreign_files_and_keeps_the_old_cohort(tmp_path, result):
    out = write_cohort(result, tmp_path / "cohort")
    cohort_files = _names(out)
    (out / "notes.txt").write_text("keep me")
    (out / "extra").mkdir()
    with pytest.raises(VentgenValueError, match=r"cohort: not replaced: it holds extra, notes\.txt, which ventgen"):
        write_cohort(result, out, overwrite=True)
    assert _names(out) == sorted(cohort_files + ["extra", "notes.txt"])
    assert (out / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["cohort"]  # no temporary left beside it


@pytest.mark.parametrize("content", [None, "{not json", '{"files": ["../model.pt"]}', "[1, 2]"])
def test_overwrite_refuses_a_folder_that_is_not_a_ventgen_cohort(tmp_path, result, content):
    out = tmp_path / "cohort"
    out.mkdir()
    (out / "manifest.csv").write_text("patient\n")  # looks like a cohort, but ventgen cannot tell
    if content is not None:
        (out / "cohort.json").write_text(content)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(VentgenValueError, match="not replaced: .*cohort.json.*not a cohort folder written by ventgen"):
        write_cohort(result, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_refuses_an_input_inside_the_cohort(tmp_path, model, ref, result):
    out = write_cohort(result, tmp_path / "cohort")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(VentgenValueError, match=r"holds the input .*virtual_000\.h5"):
        generate_files(model, SPEC, out / "virtual_000.h5", out, overwrite=True)
    (tmp_path / "spec.json").write_text(json.dumps({**SPEC, "reference": "cohort/virtual_001.h5"}))
    with pytest.raises(VentgenValueError, match=r"holds the input .*virtual_001\.h5"):
        generate_files(model, tmp_path / "spec.json", None, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_replaces_a_ventgen_cohort_and_only_its_files(tmp_path, model, ref, result):
    out = write_cohort(result, tmp_path / "cohort", format="csv")
    with pytest.raises(FileExistsError, match="not empty"):
        write_cohort(result, out)
    new = generate_cohort(model, {**SPEC, "patients": 1}, ref, random_state=1)
    write_cohort(new, out, format="hdf5", overwrite=True)
    assert _names(out) == ["cohort.json", "manifest.csv", "node_labels.csv", "virtual_000.h5"]
    assert len(read_cohort(out).recordings) == 1
    # an empty folder is accepted without overwrite
    (tmp_path / "empty").mkdir()
    write_cohort(new, tmp_path / "empty")
    assert (tmp_path / "empty" / "cohort.json").is_file()


def test_a_failed_replacement_leaves_the_old_cohort(tmp_path, result, monkeypatch):
    out = write_cohort(result, tmp_path / "cohort")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ventgen.io.cohort, "write_recording", broken)
    with pytest.raises(OSError, match="No space"):
        write_cohort(result, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["cohort"]


def test_patient_names_cannot_leave_the_folder(tmp_path, model, ref):
    with pytest.raises(VentgenValueError, match="subject_prefix"):
        generate_cohort(model, SPEC, ref, options=GenerationOptions(subject_prefix="../escape_"))


def test_cli_generate_overwrite_of_a_project_folder_is_one_line(tmp_path, capsys):
    from ventgen.cli import main

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "model.pt").write_bytes(b"not read: refused before loading")
    (proj / "spec.json").write_text(json.dumps({**SPEC, "reference": "cycles.h5"}))
    (proj / "cycles.h5").write_bytes(b"")
    (proj / "notes.txt").write_text("notes")
    before = _names(proj)
    rc = main(["generate", str(proj / "model.pt"), "--spec", str(proj / "spec.json"), "-o", str(proj),
               "--overwrite"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("ventgen: error:") and "holds the input" in err[0]
    assert _names(proj) == before


# ------------------------------------------------------------------------------ same seed, same bytes
def test_same_seed_gives_byte_identical_cohort_json_and_manifest(tmp_path, model, ref):
    a = write_cohort(generate_cohort(model, SPEC, ref, random_state=7), tmp_path / "a")
    b = write_cohort(generate_cohort(model, SPEC, ref, random_state=7), tmp_path / "b")
    assert _names(a) == _names(b)
    for name in _names(a):  # cohort.json and manifest.csv above all, and the recordings too
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    info = json.loads((a / "cohort.json").read_text())["info"]
    assert not {"seconds", "breaths_per_s", "duration_s"} & set(info) and info["seed"] == 7


# ------------------------------------------------------------------------------ reading a cohort folder
@pytest.mark.parametrize("content, match", [
    ("{not json", r"cohort\.json, line 1: not valid JSON"),
    ('{"spec": [1, 2]}', r"cohort\.json, 'spec': expected an object, got list"),
    ('{"info": 3}', r"cohort\.json, 'info': expected an object"),
    ("[]", r"cohort\.json: expected a JSON object"),
    ('{"a": 1, "a": 2}', r"cohort\.json: key 'a' is given twice"),
])
def test_corrupt_cohort_json_is_one_line(tmp_path, result, content, match):
    out = write_cohort(result, tmp_path / "cohort")
    (out / "cohort.json").write_text(content)
    with pytest.raises(FileFormatError, match=match) as exc:
        read_cohort(out)
    assert "\n" not in str(exc.value) and str(out / "cohort.json") in str(exc.value)


def test_a_bad_spec_inside_cohort_json_names_the_file_and_field(tmp_path, result):
    out = write_cohort(result, tmp_path / "cohort")
    doc = json.loads((out / "cohort.json").read_text())
    doc["spec"]["patients"] = 10**9
    (out / "cohort.json").write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=r"cohort\.json, 'spec/patients': must be an integer in \[1, 100000\]"):
        read_cohort(out)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.assign(file="../../etc/passwd"), r"manifest\.csv, 'file': .*not recording files"),
    (lambda m: m.assign(start_s="soon"), r"manifest\.csv, 'start_s': expected numbers"),
    (lambda m: m.drop(columns=["label"]), r"manifest\.csv: missing column"),
])
def test_corrupt_manifest_is_one_line(tmp_path, result, edit, match):
    out = write_cohort(result, tmp_path / "cohort")
    edit(pd.read_csv(out / "manifest.csv")).to_csv(out / "manifest.csv", index=False)
    with pytest.raises(FileFormatError, match=match):
        read_cohort(out)


def test_a_binary_manifest_is_one_line(tmp_path, result):
    out = write_cohort(result, tmp_path / "cohort")
    (out / "manifest.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    with pytest.raises(FileFormatError, match=r"manifest\.csv"):
        read_cohort(out)


# ------------------------------------------------------------------------------ the spec parser
GOOD = '{"patients": 2, "breaths": 5, "composition": {"apnea": 1}}'


@pytest.mark.parametrize("text, error, match", [
    ('{"patients": 2, "breaths": 5, "composition": {"apnea": NaN, "snoring": 1}}', FileFormatError,
     r"'composition/apnea': .*\[0, 1\], got nan"),
    ('{"patients": 2, "breaths": 5, "composition": [{"class": "a", "fraction": Infinity}]}', SchemaError,
     r"composition/0/fraction: inf is greater than the maximum of 1"),
    ('{"patients": 2, "minutes": Infinity, "composition": {"apnea": 1}}', FileFormatError,
     r"'minutes': must be a number of minutes in \(0, 100000\], got inf"),
    ('{"patients": 2, "minutes": NaN, "composition": {"apnea": 1}}', FileFormatError, r"'minutes'.* got nan"),
    ('{"patients": 2, "minutes": 1e999, "composition": {"apnea": 1}}', FileFormatError, r"'minutes'.*got inf"),
    ('{"patients": 2, "minutes": -3, "composition": {"apnea": 1}}', SchemaError, r"minutes: -3 is less"),
    ('{"patients": 2, "minutes": 1e300, "composition": {"apnea": 1}}', FileFormatError, r"'minutes'.*1e\+300"),
    ('{"patients": 1000, "minutes": 1000, "composition": {"apnea": 1}}', FileFormatError,
     r"'minutes': 1000 patients x 1000 minutes .* at most 100000"),
    ('{"patients": 1e9, "breaths": 5, "composition": {"apnea": 1}}', FileFormatError,
     r"'patients': must be an integer in \[1, 100000\]"),
    ('{"patients": 1000000000, "breaths": 5, "composition": {"apnea": 1}}', FileFormatError, r"'patients'"),
    ('{"patients": 1' + "0" * 5000 + ', "breaths": 5, "composition": {"apnea": 1}}', FileFormatError,
     r"integer with 5001 digits is out of range"),
    ('{"patients": 1000, "breaths": 100000, "composition": {"apnea": 1}}', FileFormatError,
     r"'breaths': 1000 patients x 100000 breaths .* at most 5000000"),
    ('{"patients": 2, "breaths": 5, "composition": {"apnea": 0.5, "apnea": 0.5}}', FileFormatError,
     r"key 'apnea' is given twice"),
    ('{"patients": 2, "breaths": 5, "patients": 3, "composition": {"apnea": 1}}', FileFormatError,
     r"key 'patients' is given twice"),
    ('{"patients": 2, "breaths": true, "composition": {"apnea": 1}}', SchemaError, r"breaths: True is not of type"),
    ('{"patients": 2, "breaths": 5, "composition": {"apnea": false}}', SchemaError, r"composition/apnea: False"),
    ('{"patients": 2, "breaths": 5, "level": 1000000, "composition": {"apnea": 1}}', FileFormatError,
     r"'level': must be an integer in \[1, 16\]"),
    ('{"patients": 2, "breaths": 5, "composition": [{"level": 1, "node": 99999999, "fraction": 1}]}',
     FileFormatError, r"'composition/0/node': .*\[0, 65535\]"),
    ('{"patients": 2, "breaths": 5, "composition": [{"level": -1, "node": 2, "fraction": 1}]}', SchemaError,
     r"composition/0/level: -1 is less than the minimum of 1"),
    ('{"patients": 2, "breaths": 5, "composition": [{"level": 1, "node": 0.5, "fraction": 1}]}', SchemaError,
     r"composition/0/node: 0.5 is not of type 'integer'"),
    ('{"patients": 2, "breaths": 5, "sampling_rate": 1e9, "composition": {"apnea": 1}}', FileFormatError,
     r"'sampling_rate': must be a number of Hz in \[10, 1000\]"),
    ('{"patients": 2, "breaths": 5, "sampling_rate": 1e-300, "composition": {"apnea": 1}}', FileFormatError,
     r"'sampling_rate'"),
    ('{"patients": 2, "breaths": 5, "node_concentration": 1e308, "composition": {"apnea": 1}}', FileFormatError,
     r"'node_concentration'"),
    ('{"patients": 2, "breaths": 5, "patient_variability": NaN, "composition": {"apnea": 1}}', FileFormatError,
     r"'patient_variability'"),
    ('[1, 2]', FileFormatError, r"expected a JSON object at the top level, got list"),
    ('"spec"', FileFormatError, r"expected a JSON object"),
    ('{"patients": 2, "breaths": 5, "name": ' + "[" * 100_000 + "]" * 100_000 + ', "composition": {"a": 1}}',
     FileFormatError, r"JSON nested 100001 levels deep; a cohort spec is nested at most 32"),
    ('{"patients": 2, "breaths": 5, "composition": {"apnea": 1}', FileFormatError, r"spec\.json, line 1: not valid"),
    ('{"patients": 2, "breaths": 5, "reference": "a\\u0000b", "composition": {"apnea": 1}}', FileFormatError,
     r"'reference': a path cannot hold a NUL"),
])
def test_bad_spec_files_are_one_line_naming_file_and_field(tmp_path, text, error, match):
    path = tmp_path / "spec.json"
    path.write_text(text)
    with pytest.raises(error, match=match) as exc:
        read_cohort_spec(path)
    msg = str(exc.value)
    assert "\n" not in msg and msg.count(str(path)) == 1 and len(msg) < 600


def test_spec_encoding_bom_size_and_folders(tmp_path):
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert read_cohort_spec(bom).patients == 2
    latin = tmp_path / "latin.json"
    latin.write_bytes(GOOD.replace("apnea", "apn\xe9a").encode("latin-1"))
    with pytest.raises(FileFormatError, match=r"latin\.json: not UTF-8 text \(byte 50\)"):
        read_cohort_spec(latin)
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: 16 MiB + 1 of spaces would be slow to write
        fh.truncate(16 * 2**20 + 1)
    with pytest.raises(FileFormatError, match=r"big\.json: 16777217 bytes; a cohort spec holds at most 16777216"):
        read_cohort_spec(big)
    with pytest.raises(IsADirectoryError):
        read_cohort_spec(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_cohort_spec(tmp_path / "missing.json")


def _deep(n):
    doc = 1
    for _ in range(n):
        doc = [doc]
    return doc


@pytest.mark.parametrize("change, error, match", [
    ({"composition": {"apnea": math.nan, "snoring": 1.0}}, VentgenValueError, r"'composition/apnea'.*got nan"),
    ({"breaths": None, "minutes": math.inf}, VentgenValueError, r"'minutes'.*got inf"),
    ({"patients": 10**9}, VentgenValueError, r"cohort spec, 'patients': must be an integer in \[1, 100000\]"),
    ({"patients": True}, SchemaError, r"patients: True is not of type 'integer'"),
    ({"composition": {"apnea": np.float64("nan")}}, VentgenValueError, r"'composition/apnea'"),
    ({"name": _deep(100_000)}, VentgenValueError, r"cohort spec: nested more than 32 levels deep"),
    ({"sampling_rate": 5000}, VentgenValueError, r"'sampling_rate'.*\[10, 1000\]"),
])
def test_bad_spec_dicts_are_one_line(change, error, match):
    doc = {**json.loads(GOOD), **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(error, match=match) as exc:
        read_cohort_spec(doc)
    assert "\n" not in str(exc.value)


def test_a_spec_object_is_held_to_the_same_limits():
    from ventgen.generate import CohortSpec, CompositionEntry

    spec = CohortSpec(patients=10**9, breaths=5, composition=(CompositionEntry(1.0, name="apnea"),))
    with pytest.raises(VentgenValueError, match=r"cohort spec, 'patients': must be an integer in \[1, 100000\]"):
        read_cohort_spec(spec)
    ok = CohortSpec(patients=2, breaths=5, composition=(CompositionEntry(1.0, name="apnea"),))
    assert read_cohort_spec(ok) is ok


def test_minutes_that_make_too_many_breaths_are_refused_before_generating(model, ref):
    """100,000 patient-minutes are allowed, but of 0.4 s breaths they are 15 million breaths."""
    from types import SimpleNamespace

    short = SimpleNamespace(**{**vars(ref), "lengths": np.full(len(ref.lengths), 10)})
    decoded = model.n_decoded
    with pytest.raises(VentgenValueError, match=r"100 patients x 1000 minutes are 15000000 breaths .* at most 5000000"):
        generate_cohort(model, {"patients": 100, "minutes": 1000, "composition": {"normal breathing": 1}}, short)
    assert model.n_decoded == decoded


def test_schema_errors_are_short_and_name_the_closest_alternative():
    with pytest.raises(SchemaError) as exc:
        read_cohort_spec({"patients": 2, "breaths": 5, "composition": {"apnea": "x" * 5000}})
    msg = str(exc.value)
    assert "composition/apnea:" in msg and "is not of type 'number'" in msg and len(msg) < 300
    with pytest.raises(SchemaError, match=r"composition/0: 'fraction' is a required property"):
        read_cohort_spec({"patients": 2, "breaths": 5, "composition": [{"class": "apnea"}]})


# ------------------------------------------------------------------------------ evaluate-cohort -o
def _report():
    comp = pd.DataFrame({"entry": ["a"], "requested": [1.0], "breaths": [3], "achieved": [1.0], "difference": [0.0]})
    ks = pd.DataFrame({"label": ["a"], "column": ["rr_bpm"], "ks": [0.1]})
    return FidelityReport(composition=comp, segmentation={"f1": 1.0}, ks=ks, classifier={}, discriminative={},
                          memorisation={})


def test_report_overwrite_replaces_only_its_own_files(tmp_path):
    out = tmp_path / "fid"
    out.mkdir()
    (out / "ks.csv").write_text("my own table")
    with pytest.raises(FileExistsError, match="a fidelity report is already there"):
        _report().write(out)
    with pytest.raises(VentgenValueError, match=r"fid: not replaced: it holds ks\.csv, but not as part of a fidelity report"):
        _report().write(out, overwrite=True)
    assert _names(out) == ["ks.csv"] and (out / "ks.csv").read_text() == "my own table"
    (out / "ks.csv").unlink()
    (out / "notes.txt").write_text("notes")
    _report().write(out)
    _report().write(out, overwrite=True)  # a report ventgen wrote: replaced, the notes stay
    assert _names(out) == ["composition.csv", "fidelity.json", "ks.csv", "notes.txt"]
    assert (out / "notes.txt").read_text() == "notes"


def test_evaluate_cohort_checks_its_folder_before_reading_anything(tmp_path, result):
    cohort = write_cohort(result, tmp_path / "cohort")
    before = {p.name: p.read_bytes() for p in cohort.iterdir()}
    # the report would go into the cohort folder itself: refused, before the (missing) real cycles are read
    with pytest.raises(VentgenValueError, match=r"cohort: this is the input folder itself"):
        ventgen.evaluate_cohort(cohort, tmp_path / "missing.h5", out_dir=cohort, overwrite=True)
    fid = tmp_path / "fid"
    fid.mkdir()
    (fid / "ks_rr_bpm.png").write_bytes(b"a user's figure")
    with pytest.raises(FileExistsError, match=r"ks_rr_bpm\.png"):
        ventgen.evaluate_cohort(cohort, tmp_path / "missing.h5", out_dir=fid)
    with pytest.raises(VentgenValueError, match="not as part of a fidelity report ventgen wrote"):
        ventgen.evaluate_cohort(cohort, tmp_path / "missing.h5", out_dir=fid, overwrite=True)
    assert (fid / "ks_rr_bpm.png").read_bytes() == b"a user's figure"
    assert {p.name: p.read_bytes() for p in cohort.iterdir()} == before


def test_every_refusal_is_a_ventgen_error_or_an_os_error(tmp_path, result):
    """The errors above reach the CLI's one-line handler (VentgenError or an OSError with a file name)."""
    out = write_cohort(result, tmp_path / "cohort")
    (out / "x").write_text("")
    with pytest.raises(VentgenError):
        write_cohort(result, out, overwrite=True)
    with pytest.raises(FileExistsError) as exc:
        write_cohort(result, out)
    assert exc.value.filename == str(out)
