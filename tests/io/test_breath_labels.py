"""Breath-level label tables: read_breath_labels, apply_breath_labels, `ventgen segment --breath-labels`."""

from __future__ import annotations

import collections
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ventgen import (
    VENTILATION_MODES_TREE,
    FileFormatError,
    VentgenValueError,
    VentgenWarning,
    apply_breath_labels,
    read_breath_labels,
    read_cycleset,
    segment_files,
    simulate_recording,
    write_recording,
)
from ventgen.cli import main

VENTMODE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ventmode"
MODES = ["vc", "pc", "prvc", "ps", "simv", "pav", "vs", "cpap_sbt", "aprv", "other"]


@pytest.fixture(scope="module")
def rec():
    r = simulate_recording(minutes=1.0, random_state=3)
    return r.__class__(flow=r.flow, pressure=r.pressure, sampling_rate=r.sampling_rate, subject="p",
                       markers=r.markers.assign(device_breath=r.markers["device_breath"] + 500))


def _onehot(bn, modes):
    d = pd.DataFrame({"BN": np.arange(1, len(bn) + 1), "vent BN": bn})
    for m in MODES:
        d[m] = [int(x == m) for x in modes]
    return d


def test_onehot_table_labels_breaths_and_cycles(rec, tmp_path):
    bn = rec.markers["device_breath"].to_numpy()
    modes = np.where(np.arange(bn.size) < bn.size // 2, "ps", "pav").astype(object)
    modes[3] = ""  # no mode set: stays unlabelled
    _onehot(bn, modes).to_csv(tmp_path / "p.modes.csv", index=False)
    write_recording(rec, tmp_path / "p.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error", VentgenWarning)  # a clean table warns about nothing
        warnings.filterwarnings("ignore", "extract_cycles")
        out = segment_files([tmp_path / "p.h5"], tmp_path / "c.h5", method="markers",
                            breath_labels=[tmp_path / "p.modes.csv"], progress_bar=False)
    cs = read_cycleset(tmp_path / "c.h5")
    assert out["n_labelled"] == int((cs.labels != "").sum()) == out["n_cycles"] - 1
    dev = cs.breaths["start_idx"].to_numpy()
    start_of = dict(zip(rec.markers["start_idx"], modes, strict=True))
    assert [start_of[s] for s in dev] == list(cs.labels)  # each cycle has its breath's mode
    assert set(cs.superclasses[cs.labels != ""]) == {"spontaneous"}


def test_label_column_start_key_and_hierarchy(rec, tmp_path):
    st = rec.markers["start_idx"].to_numpy() / rec.sampling_rate
    lab = np.where(np.arange(st.size) % 2 == 0, "quiet", "loud")
    pd.DataFrame({"start_s": st, "label": lab}).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "h.json").write_text(json.dumps({"calm": ["quiet"], "noisy": ["loud"]}))
    bl = read_breath_labels(tmp_path / "t.csv", hierarchy=tmp_path / "h.json")
    assert bl.key == "start_s" and bl.tree.ancestor("loud", 1) == "noisy"
    lab_rec, counts = apply_breath_labels(rec, bl)
    assert counts["n_matched"] == st.size
    assert list(lab_rec.annotations["superclass"][:2]) == ["calm", "noisy"]


def test_mismatches_are_counted_in_one_warning(rec):
    bn = rec.markers["device_breath"].to_numpy()
    t = _onehot(np.r_[bn[:5], bn[4], 99999], ["ps"] * 7)
    t.loc[0, "pav"] = 1  # two modes at once
    bl = read_breath_labels(t)
    with pytest.warns(VentgenWarning) as w:
        _, counts = apply_breath_labels(rec, bl)
    assert len(w) == 1
    msg = str(w[0].message)
    assert "1 breath number(s) absent" in msg and "1 duplicated" in msg and "1 row(s) with two labels" in msg
    assert counts["n_matched"] == 4


@pytest.mark.parametrize("case, needle", [
    ("empty", "empty"),
    ("nokey", "no key column"),
    ("nolabel", "no label column"),
    ("other", "no row of the label table matches"),
    ("hierarchy", "not in the hierarchy"),
])
def test_unusable_table_is_one_error_and_nothing_written(rec, tmp_path, capsys, case, needle):
    write_recording(rec, tmp_path / "p.h5")
    bn = rec.markers["device_breath"].to_numpy()
    table = tmp_path / "t.csv"
    if case == "empty":
        table.write_text("vent BN,ps,pav\n")
    elif case == "nokey":
        pd.DataFrame({"row": [1, 2], "label": ["ps", "ps"]}).to_csv(table, index=False)
    elif case == "nolabel":
        pd.DataFrame({"vent BN": bn[:2], "x": [1, 2]}).to_csv(table, index=False)
    elif case == "other":
        _onehot(bn + 10**6, ["ps"] * bn.size).to_csv(table, index=False)
    else:
        _onehot(bn, ["simv"] * bn.size).to_csv(table, index=False)
    args = ["segment", str(tmp_path / "p.h5"), "-o", str(tmp_path / "c.h5"), "--breath-labels", str(table)]
    if case == "hierarchy":
        (tmp_path / "h.json").write_text(json.dumps(VENTILATION_MODES_TREE.to_dict()))
        args += ["--label-hierarchy", str(tmp_path / "h.json")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and str(table) in err[0], err
    if case in ("nokey", "nolabel", "hierarchy"):
        assert ("'" in err[0]) or "column" in err[0]  # names the column
    assert not (tmp_path / "c.h5").exists()


def test_errors_name_the_file_and_column(tmp_path):
    pd.DataFrame({"vent BN": [1, "x"], "ps": [1, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(FileFormatError, match=r"t\.csv, line 3, 'vent BN'"):
        read_breath_labels(tmp_path / "t.csv")
    with pytest.raises(VentgenValueError, match="key must be"):
        read_breath_labels(tmp_path / "t.csv", key="row")


def test_real_ventmode_tables(tmp_path):
    tables = sorted(VENTMODE_DIR.glob("*.modes.csv")) if VENTMODE_DIR.is_dir() else []
    if not tables:
        pytest.skip("../shared/data/ventmode is absent")
    recs = [t.with_name(t.name.replace(".modes.csv", ".csv")) for t in tables[:2]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segment_files(recs, tmp_path / "c.h5", method="markers", breath_labels=tables[:2], progress_bar=False)
    cs = read_cycleset(tmp_path / "c.h5")
    want = collections.Counter()
    for t in tables[:2]:
        d = pd.read_csv(t)
        want.update({m: int(d[m].sum()) for m in MODES if d[m].sum()})
    got = collections.Counter(cs.labels[cs.labels != ""].tolist())
    assert (cs.labels != "").mean() > 0.95
    for m, n in want.items():  # breaths dropped as too long lose their label, nothing else
        assert 0.98 * n <= got[m] <= n
