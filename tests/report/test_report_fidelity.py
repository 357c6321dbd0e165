"""The run report's fidelity section: both classifiers' discriminative scores with floor and ceiling, and
the figure of real and generated breaths side by side."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ventgen.evaluate.fidelity import FidelityReport
from ventgen.io.fidelity import BREATHS_FIGURE, read_fidelity_folder
from ventgen.report import write_run_report
from ventgen.viz import plot_breath_examples

FOREST = {"accuracy": 0.83, "score": 0.33, "n_per_side": 120, "folds": 5, "classifier": "random_forest",
          "floor": {"accuracy": 0.51, "score": 0.0125, "n_per_side": 60}}
CNN = {"accuracy": 0.91, "score": 0.41, "n_per_side": 120, "folds": 5, "classifier": "cnn_1d", "epochs": 20,
       "floor": {"accuracy": 0.52, "score": 0.0175, "n_per_side": 60}}
CEILING = {"ks_median": 0.1, "discriminative_score": 0.29, "cnn_discriminative_score": 0.375}


def _breaths_png(path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2, 40))
    y = np.array(["apnea", "snoring"] * 10)
    plot_breath_examples(X, X[:8] + 1, real_labels=y, generated_labels=y[:8], sampling_rate=25.0).savefig(path, dpi=40)
    return path


def _rows(html: str) -> list[str]:
    """The body rows of the discriminative-score table (its caption starts "Discriminative score |")."""
    table = html.split("Discriminative score |", 1)[1].split("</table>", 1)[0]
    return table.split("<tbody>", 1)[1].split("<tr>")[1:]


def test_fidelity_folder_gives_the_score_table_and_the_breaths_figure(tmp_path):
    fid = tmp_path / "fidelity"
    fid.mkdir()
    doc = {"summary": {"discriminative_score": 0.33, "discriminative_score_floor": 0.0125,
                       "cnn_discriminative_score": 0.41, "cnn_discriminative_score_floor": 0.0175},
           "ks": [], "discriminative": FOREST, "discriminative_cnn": CNN, "reconstruction_ceiling": CEILING}
    (fid / "fidelity.json").write_text(json.dumps(doc))
    _breaths_png(fid / BREATHS_FIGURE)
    page = write_run_report(tmp_path / "report", fidelity=read_fidelity_folder(fid), strict=True)
    html = page.read_text()
    assert (page.parent / "figures" / "breaths-real-vs-generated.png").is_file()
    assert 'src="figures/breaths-real-vs-generated.png"' in html
    forest_row, cnn_row = _rows(html)
    assert "random forest" in forest_row and all(v in forest_row for v in ("0.33", "0.0125", "0.29"))
    assert "1-D CNN" in cnn_row and all(v in cnn_row for v in ("0.41", "0.0175", "0.375"))
    assert "Discriminative score floor, 1-D CNN (real vs real)" in html  # a tile with a human label
    m = json.loads((page.parent / "metrics.json").read_text())
    assert m["fidelity"]["discriminative_cnn"]["floor.score"] == 0.0175


def test_fidelity_report_object_without_cnn_or_model(tmp_path):
    """A report of an older evaluation (forest only, no ceiling) still renders its one row."""
    png = _breaths_png(tmp_path / BREATHS_FIGURE)
    fid = FidelityReport(
        composition=pd.DataFrame({"entry": ["apnea"], "requested": [0.5], "achieved": [0.5], "difference": [0.0]}),
        segmentation={"f1": 1.0}, ks=pd.DataFrame({"label": ["apnea"], "column": ["rr_bpm"], "ks": [0.1]}),
        classifier={}, discriminative={"score": 0.2, "accuracy": 0.7, "n_per_side": 30}, memorisation={},
        figures=[png])
    page = write_run_report(tmp_path / "report", fidelity=fid, strict=True, dpi=40)
    html = page.read_text()
    assert 'src="figures/breaths-real-vs-generated.png"' in html
    (row,) = _rows(html)
    assert "random forest" in row and "0.2" in row and row.count("—") == 3  # no floor, no ceiling, no subjects
    assert "also wrote" not in html  # the one figure is shown, not just mentioned
