"""Audit cases of the signals area: recording readers, CycleSet files, simulate, segment, convert, info.

Run with ``.venv/bin/python benchmarks/audit_bad_inputs.py -k signals:``.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from audit_bad_inputs import Case

from ventgen import CycleSet, Recording, write_cycleset, write_recording


def _rec(subject="p1", annotations=None) -> Recording:
    t = np.arange(0, 12, 0.02)
    ph = t % 4
    flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    return Recording(flow=flow, pressure=5 + 10 * (ph < 1.2), sampling_rate=50, subject=subject,
                     annotations=annotations)


def _h5(edit):
    """setup: a valid recording r.h5, then ``edit(group)`` on its recording group."""

    def setup(d: Path):
        write_recording(_rec(), d / "r.h5")
        with h5py.File(d / "r.h5", "r+") as f:
            edit(f["recordings/rec00000"])

    return setup


def _replace(g, name, **kw):
    del g[name]
    g.create_dataset(name, **kw).attrs["unit"] = {"flow_lpm": "L/min", "paw_cmh2o": "cmH2O"}[name]


def _huge(g):
    for name in ("flow_lpm", "paw_cmh2o"):
        _replace(g, name, shape=(10**10,), dtype="f8", chunks=(4096,))


def _regroup(g, name):
    del g[name]
    g.create_group(name)


def _cycles(edit=None, manifest=None):
    def setup(d: Path):
        cs = CycleSet(np.zeros((3, 2, 10), np.float32), [5, 6, 7], 25.0, labels=["apnea", "", "snoring"])
        write_cycleset(cs, d / "c.h5")
        with h5py.File(d / "c.h5", "r+") as h:
            if edit is not None:
                edit(h)
            if manifest is not None:
                m = json.loads(h.attrs["manifest"])
                m.update(manifest)
                h.attrs["manifest"] = json.dumps(m)

    return setup


def _short_labels(h):
    data = h["labels"][()][:2]
    del h["labels"]
    h.create_dataset("labels", data=data, dtype=h5py.string_dtype())


def _text(name: str, text: str | bytes):
    def setup(d: Path):
        (d / name).write_bytes(text if isinstance(text, bytes) else text.encode())

    return setup


def _recording(name="r.h5"):
    def setup(d: Path):
        write_recording(_rec(), d / name)

    return setup


def _mixed_folder(d: Path):
    (d / "recs").mkdir()
    write_recording(_rec("a"), d / "recs" / "a.h5")
    _h5(_huge)(d)
    (d / "r.h5").rename(d / "recs" / "b_huge.h5")
    write_recording(_rec("c"), d / "recs" / "c.csv")


def _flying(d: Path):
    write_recording(_rec(), d / "r.csv")
    (d / "r.annotations.csv").write_text("start_s,end_s,label\n0,1,flying\n2,3,apnea\n4,5,flying\n")


def _existing_breaths_csv(d: Path):
    write_recording(_rec(), d / "r.h5")
    (d / "B.csv").write_text("mine\n")


def _stale_temporary(d: Path):
    write_recording(_rec(), d / "r.h5")
    (d / ".X.h5.vg999999999-abcdefgh.tmp").write_bytes(b"half written by a killed run")


_CSV = "flow_lpm,paw_cmh2o\n1,2\n3,4\n"
_SEG = ["segment", "{d}/r.h5", "-o", "{d}/X.h5"]
_TRAIN = ["train", "{d}/c.h5", "-o", "{d}/m.pt", "--epochs", "1"]

CASES = [
    # 1. PB-840 absurd numbers
    Case("signals: pb840 breath number wider than 64 bits", _text("p.txt", "1.0, 5.0\nBS, S:99999999999999999999999,\n"
                                                                           "2.0, 6.0\nBE\n"),
         ["convert", "{d}/p.txt", "-o", "{d}/p.h5"]),
    Case("signals: pb840 value of 400 digits", _text("p.txt", "BS, S:1,\n1.0, 5.0\n1" + "0" * 400 + ", 6.0\nBE\n"),
         ["convert", "{d}/p.txt", "-o", "{d}/p.h5"]),
    # 2. HDF5 recordings
    Case("signals: hdf5 declaring 10**10 samples (tiny file)", _h5(_huge), ["info", "{d}/r.h5"]),
    Case("signals: hdf5 flow of strings", _h5(lambda g: _replace(g, "flow_lpm", data=np.array(["a"] * 600, dtype=object),
                                                               dtype=h5py.string_dtype())),
         ["convert", "{d}/r.h5", "-o", "{d}/o.csv"]),
    Case("signals: hdf5 flow of rank 2", _h5(lambda g: _replace(g, "flow_lpm", data=np.ones((600, 2)))),
         ["convert", "{d}/r.h5", "-o", "{d}/o.csv"]),
    Case("signals: hdf5 flow and pressure lengths differ", _h5(lambda g: _replace(g, "paw_cmh2o", data=np.ones(10))),
         ["convert", "{d}/r.h5", "-o", "{d}/o.csv"]),
    Case("signals: hdf5 group where the flow dataset belongs", _h5(lambda g: _regroup(g, "flow_lpm")),
         ["convert", "{d}/r.h5", "-o", "{d}/o.csv"]),
    Case("signals: hdf5 without sampling rate", _h5(lambda g: g.attrs.__delitem__("sampling_rate")),
         ["convert", "{d}/r.h5", "-o", "{d}/o.csv"]),
    Case("signals: hdf5 sampling rate 1e-300 Hz", _h5(lambda g: g.attrs.__setitem__("sampling_rate", 1e-300)),
         _SEG),
    Case("signals: hdf5 metadata JSON 100000 deep",
         _h5(lambda g: g.attrs.__setitem__("metadata_json", "[" * 100_000 + "]" * 100_000)), ["info", "{d}/r.h5"]),
    # 3. CycleSet files
    Case("signals: cycleset with a group where X belongs", _cycles(lambda h: _regroup(h, "X")), _TRAIN),
    Case("signals: cycleset labels shorter than the others", _cycles(_short_labels), _TRAIN),
    Case("signals: cycleset declaring 10**10 cycles", _cycles(manifest={"n_cycles": 10**10}), _TRAIN),
    Case("signals: cycleset at 1e9 Hz", _cycles(manifest={"sampling_rate": 1e9}), _TRAIN),
    Case("signals: info on a cycleset (described since issue 15)", _cycles(), ["info", "{d}/c.h5"], expect=0),
    # 4. one rule for rates
    Case("signals: convert --sampling-rate 1e9", _text("a.csv", _CSV),
         ["convert", "{d}/a.csv", "-o", "{d}/b.h5", "--sampling-rate", "1e9"]),
    Case("signals: convert --sampling-rate 1e-300", _text("a.csv", _CSV),
         ["convert", "{d}/a.csv", "-o", "{d}/b.h5", "--sampling-rate", "1e-300"]),
    Case("signals: csv time column at 1e300 Hz", _text("t.csv", "time_s,flow_lpm,paw_cmh2o\n0,1,2\n1e-300,3,4\n"),
         ["convert", "{d}/t.csv", "-o", "{d}/t.h5"]),
    Case("signals: segment --cycle-rate 1e-300", _recording(), [*_SEG, "--cycle-rate", "1e-300"]),
    Case("signals: simulate --rate 1e9", lambda d: None, ["simulate", "-o", "{d}/sim", "--rate", "1e9"]),
    Case("signals: segment of a flat recording (no breath)",
         lambda d: write_recording(Recording(flow=np.zeros(1000), pressure=np.full(1000, 5.0), sampling_rate=50),
                                   d / "r.h5"), _SEG),
    # 5. info FOLDER
    Case("signals: info folder with one hostile file", _mixed_folder, ["info", "{d}/recs"]),
    # 6. absurd arguments
    Case("signals: convert --delimiter ''", _text("a.csv", _CSV),
         ["convert", "{d}/a.csv", "-o", "{d}/b.h5", "--sampling-rate", "50", "--delimiter", ""]),
    Case("signals: convert --delimiter 'ab'", _text("a.csv", _CSV),
         ["convert", "{d}/a.csv", "-o", "{d}/b.h5", "--sampling-rate", "50", "--delimiter", "ab"]),
    Case("signals: convert --delimiter newline", _text("a.csv", _CSV),
         ["convert", "{d}/a.csv", "-o", "{d}/b.h5", "--sampling-rate", "50", "--delimiter", "\n"]),
    Case("signals: simulate --minutes 1e9", lambda d: None, ["simulate", "-o", "{d}/sim", "--minutes", "1e9"]),
    Case("signals: segment --length 1000000000", _recording(), [*_SEG, "--length", "1000000000"]),
    # 7, 8. accepted with a warning / as they are
    Case("signals: unknown annotation label 'flying' (warns, kept)", _flying,
         ["convert", "{d}/r.csv", "-o", "{d}/r.h5"], expect=0),
    Case("signals: csv with a UTF-8 BOM", _text("bom.csv", b"\xef\xbb\xbf" + _CSV.encode()),
         ["convert", "{d}/bom.csv", "-o", "{d}/bom.h5", "--sampling-rate", "50"], expect=0),
    # 9. an option that does not fit the format
    Case("signals: convert a.h5 --flow-unit L/s", _recording("a.h5"),
         ["convert", "{d}/a.h5", "-o", "{d}/b.csv", "--flow-unit", "L/s"]),
    # 10. multi-file outputs
    Case("signals: segment with an existing breaths CSV (nothing written)", _existing_breaths_csv,
         [*_SEG, "--breaths-csv", "{d}/B.csv"]),
    Case("signals: segment re-run after a killed run (stale temporary)", _stale_temporary,
         [*_SEG, "--breaths-csv", "{d}/B.csv"], expect=0),
]

