"""The fidelity folder: figures by file name, the breaths figure among its targets, new groups read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from ventgen.errors import VentgenValueError
from ventgen.io.fidelity import (
    BREATHS_FIGURE,
    fidelity_targets,
    read_fidelity_folder,
    write_fidelity_folder,
)


def _fig():
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    return fig


def _doc(p):
    Path(p).write_text(json.dumps({"summary": {"cnn_discriminative_score": 0.2}, "ks": [],
                                   "discriminative_cnn": {"score": 0.2, "floor": {"score": 0.01}}}))


def test_targets_hold_the_breaths_figure(tmp_path):
    names = {p.name for p in fidelity_targets(tmp_path, ["rr_bpm"])}
    assert {BREATHS_FIGURE, "ks_rr_bpm.png", "fidelity.json"} <= names


def test_figures_are_written_by_file_name_and_read_back(tmp_path):
    out = tmp_path / "fid"
    write_fidelity_folder(out, [("fidelity.json", _doc)], {"ks_rr_bpm.png": _fig(), BREATHS_FIGURE: _fig()},
                          overwrite=False)
    back = read_fidelity_folder(out)
    assert {p.name for p in back["figures"]} == {"ks_rr_bpm.png", BREATHS_FIGURE}
    assert back["discriminative_cnn"]["floor"]["score"] == 0.01
    assert (out / BREATHS_FIGURE).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("name", ["../escape.png", "sub/x.png", "x.svg"])
def test_figure_names_must_be_plain_png_names(tmp_path, name):
    with pytest.raises(VentgenValueError, match="plain .png file names"):
        write_fidelity_folder(tmp_path / "fid", [("fidelity.json", _doc)], {name: _fig()}, overwrite=False)
    assert not (tmp_path / "fid" / "fidelity.json").exists() and not (tmp_path / "escape.png").exists()
