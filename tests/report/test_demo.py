"""The main job end to end, on a tiny simulated cohort (the real demo is `make demo`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import ventgen
from ventgen import cli
from ventgen.workflows import run_demo

TINY_SPEC = {
    "patients": 2,
    "breaths": 12,
    "composition": {"normal breathing": 1.0},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    res = run_demo(out, n_subjects=2, minutes=4, epochs=3, label_fraction=0.5, spec=TINY_SPEC,
                   random_state=0, verbose=False, progress=False)
    return res


def test_demo_writes_every_stage_in_documented_formats(tiny_run):
    out = tiny_run.out_dir
    recs = sorted((out / "recordings").glob("*.h5"))
    assert len(recs) == 2
    assert ventgen.read_recording(recs[0]).sampling_rate == 50
    train = ventgen.read_cycleset(out / "cycles_train.h5")
    test = ventgen.read_cycleset(out / "cycles_test.h5")
    assert len(train) > 0 and len(test) > 0
    assert set(train.subjects).isdisjoint(set(test.subjects)), "the held-out subject leaked into training"
    model = ventgen.HTVAE.load(out / "model.pt")
    assert model.assign(test).shape == (len(test), 3)
    assert any((out / "checkpoints").iterdir())
    ev = pd.read_csv(out / "evaluation.csv")
    assert {"level", "purity", "nmi", "accuracy"} <= set(ev.columns)
    assert ev["purity"].between(0, 1).all()
    manifest = pd.read_csv(out / "cohort" / "manifest.csv")
    assert len(manifest) == 2 * 12
    assert json.loads((out / "cohort.json").read_text()) == TINY_SPEC


def test_demo_report_and_metrics(tiny_run):
    page = tiny_run.report
    assert page.name == "index.html" and page.exists()
    html = page.read_text()
    assert "<img" in html
    metrics = json.loads((page.parent / "metrics.json").read_text())
    assert "timings_s" in json.dumps(metrics)
    assert set(tiny_run.timings_s) >= {"simulate", "segment", "train", "evaluate", "generate", "fidelity", "report"}


def test_demo_refuses_a_non_empty_folder(tiny_run):
    with pytest.raises(FileExistsError):
        run_demo(tiny_run.out_dir, n_subjects=2, minutes=1, epochs=1, verbose=False)


def test_demo_cli_bad_arguments_are_one_line(capsys, tmp_path):
    assert cli.main(["demo", "-o", str(tmp_path / "x"), "--subjects", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ventgen: error:") and "\n" not in err
