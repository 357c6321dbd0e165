"""Audit cases of the cohort area (issue 13): ``generate -o DIR --overwrite`` never loses a file it did
not write, cohort specs and cohort folders under bad input end in one line.

Loaded by ``audit_bad_inputs.py`` (``.venv/bin/python benchmarks/audit_bad_inputs.py -k cohort:``).
The cases that need a model share one tiny trained HTVAE (a few seconds, trained once per run).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path

from audit_bad_inputs import Case

_CACHE: dict = {}


def _build_project() -> Path:
    """model.pt (1 epoch on 2 simulated minutes), its cycles.h5 and a spec.json naming a class it holds."""
    import ventgen

    d = Path(tempfile.mkdtemp(prefix="audit_cohort_"))
    recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    cycles = ventgen.CycleSet.concatenate([ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs])
    ventgen.write_cycleset(cycles, d / "cycles.h5")
    model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, batch_size=64, random_state=0,
                          device="cpu", progress=False).fit(cycles)
    model.save(d / "model.pt")
    table = ventgen.label_nodes(model, cycles)
    label = table[(table.level == 1) & (table.label != "")].sort_values("n_breaths").label.iloc[-1]
    spec = {"patients": 2, "breaths": 20, "composition": {label: 1.0}, "reference": "cycles.h5"}
    (d / "spec.json").write_text(json.dumps(spec))
    return d


def _project(d: Path) -> None:
    """Copy the shared project (model.pt, cycles.h5, spec.json) into ``d``."""
    if "dir" not in _CACHE:
        _CACHE["dir"] = _build_project()
    for f in _CACHE["dir"].iterdir():
        shutil.copy(f, d / f.name)


def _spec(text: str | bytes):
    def setup(d: Path) -> None:
        _project(d)
        path = d / "bad.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return setup


def _spec_doc(**change) -> str:
    doc = {"patients": 2, "breaths": 20, "composition": {"normal breathing": 1.0}, "reference": "cycles.h5"}
    doc.update(change)
    return json.dumps(doc)


def _data_loss(d: Path) -> None:
    """The issue's reproduction: inputs and a user's notes in proj/."""
    (d / "proj").mkdir()
    _project(d / "proj")
    (d / "proj" / "notes.txt").write_text("my notes")


def _not_a_cohort(d: Path) -> None:
    _project(d)
    (d / "out").mkdir()
    (d / "out" / "manifest.csv").write_text("patient,file\n")
    (d / "out" / "results.csv").write_text("a,b\n1,2\n")


def _own_cohort(d: Path) -> None:
    from ventgen import GenerationOptions
    from ventgen.workflows import generate_files

    _project(d)
    with warnings.catch_warnings():  # a barely trained model: impure nodes, said in the case that runs
        warnings.simplefilter("ignore")
        generate_files(d / "model.pt", d / "spec.json", None, d / "out",
                       options=GenerationOptions(progress=False))


def _cohort_plus(d: Path, name: str, content: str) -> None:
    _own_cohort(d)
    (d / "out" / name).write_text(content)


_GEN = ["generate", "{d}/model.pt", "--spec", "{d}/bad.json", "-o", "{d}/out"]
_EVAL = ["evaluate-cohort", "{d}/out", "--real", "{d}/cycles.h5", "--method", "manifest"]

CASES = [
    Case("cohort: generate -o PROJ --overwrite, PROJ holds the model, spec, cycles and notes.txt", _data_loss,
         ["generate", "{d}/proj/model.pt", "--spec", "{d}/proj/spec.json", "-o", "{d}/proj", "--overwrite"]),
    Case("cohort: generate --overwrite into a folder that is not a ventgen cohort", _not_a_cohort,
         ["generate", "{d}/model.pt", "--spec", "{d}/spec.json", "-o", "{d}/out", "--overwrite"]),
    Case("cohort: generate --overwrite into its own cohort holding a user's notes.txt",
         lambda d: _cohort_plus(d, "notes.txt", "notes"),
         ["generate", "{d}/model.pt", "--spec", "{d}/spec.json", "-o", "{d}/out", "--overwrite"]),
    Case("cohort: generate --overwrite of a cohort ventgen wrote (accepted)", _own_cohort,
         ["generate", "{d}/model.pt", "--spec", "{d}/spec.json", "-o", "{d}/out", "--overwrite"], expect=0),
    Case("cohort: spec with a NaN fraction", _spec('{"patients": 2, "breaths": 20, '
                                                   '"composition": {"normal breathing": NaN}}'), _GEN),
    Case("cohort: spec with minutes Infinity", _spec('{"patients": 2, "minutes": Infinity, '
                                                     '"composition": {"normal breathing": 1}}'), _GEN),
    Case("cohort: spec with minutes -5", _spec(_spec_doc(breaths=None, minutes=-5).replace('"breaths": null, ', "")),
         _GEN),
    Case("cohort: spec nested 100,000 deep", _spec('{"patients": 2, "breaths": 20, "name": '
                                                   + "[" * 100_000 + "]" * 100_000 + "}"), _GEN),
    Case("cohort: spec with 10^9 patients", _spec(_spec_doc(patients=10**9)), _GEN),
    Case("cohort: spec with 1e9 patients", _spec(_spec_doc().replace('"patients": 2', '"patients": 1e9')), _GEN),
    Case("cohort: spec with 20,000 patients x 1,000 breaths", _spec(_spec_doc(patients=20_000, breaths=1000)), _GEN),
    Case("cohort: spec with a duplicate key", _spec(_spec_doc().replace('"breaths": 20', '"breaths": 20, "breaths": 30')),
         _GEN),
    Case("cohort: spec with true as the number of breaths", _spec(_spec_doc(breaths=True)), _GEN),
    Case("cohort: spec with sampling_rate 1e9", _spec(_spec_doc(sampling_rate=1e9)), _GEN),
    Case("cohort: spec with node 10^8", _spec(_spec_doc(composition=[{"level": 1, "node": 10**8, "fraction": 1}])),
         _GEN),
    Case("cohort: spec in Latin-1", _spec(_spec_doc(name="caf\u00e9").replace("\\u00e9", "\u00e9").encode("latin-1")),
         _GEN),
    Case("cohort: spec that is a JSON list", _spec("[1, 2, 3]"), _GEN),
    Case("cohort: spec of 17 MB", _spec(" " * (17 * 2**20) + _spec_doc()), _GEN),
    Case("cohort: spec with a UTF-8 BOM (accepted)",
         lambda d: (_project(d), (d / "bad.json").write_bytes(b"\xef\xbb\xbf" + (d / "spec.json").read_bytes())),
         _GEN, expect=0),
    Case("cohort: evaluate-cohort of a folder with a corrupt cohort.json",
         lambda d: (_own_cohort(d), (d / "out" / "cohort.json").write_text('{"spec": {"patients": ')),
         [*_EVAL, "-o", "{d}/fid"]),
    Case("cohort: evaluate-cohort of a folder whose cohort.json has wrong types",
         lambda d: (_own_cohort(d), (d / "out" / "cohort.json").write_text('{"spec": [1], "info": 7}')),
         [*_EVAL, "-o", "{d}/fid"]),
    Case("cohort: evaluate-cohort of a manifest naming ../../etc/passwd",
         lambda d: (_own_cohort(d), (d / "out" / "manifest.csv").write_text(
             "patient,file,breath_index,start_s,end_s,label,level,node,entry\n"
             "p,../../etc/passwd,0,0,1,a,1,0,a\n")),
         [*_EVAL, "-o", "{d}/fid"]),
    Case("cohort: evaluate-cohort -o FOLDER --overwrite holding a user's ks.csv",
         lambda d: (_own_cohort(d), (d / "fid").mkdir(), (d / "fid" / "ks.csv").write_text("mine")),
         [*_EVAL, "-o", "{d}/fid", "--overwrite"]),
    Case("cohort: evaluate-cohort -o the cohort folder itself", _own_cohort, [*_EVAL, "-o", "{d}/out", "--overwrite"]),
]
